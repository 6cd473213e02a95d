"""FAISS index types at 10^5-10^7 on a generated library: recall@10, p50/p99, RSS, disk, build time.

For one library made by ``bench/scale_data.py`` (vectors memory-mapped, exact top-100 cached)
and one number of inverted lists, every variant shares one coarse quantizer and one assignment
of the vectors to lists (FAISS's ``bench_all_ivf`` does the same), so a variant's build time is
its own codebook training, adding and merging, and the shared parts are reported once:

- ``coarse``: k-means of ``nlist`` centroids on a sample (``--train``, default 64 a list),
  inner product, as ``IVF{nlist}`` trains in ``index_factory``;
- ``assign``: every vector's nearest centroid (exact, in chunks);
- per variant (``--variants``, each an encoding after ``IVF{nlist},``):
  ``PQ64x4fs`` (4-bit PQ, fast-scan), ``OPQ64,PQ64x4fs`` (the same after an OPQ rotation),
  ``PQ64`` (8-bit PQ), ``SQ8``, ``Flat``: codebooks trained on the sample's residuals, vectors
  added in ``--shards`` contiguous shards with the precomputed assignment (``add_core``) and
  merged into one on-disk inverted-list file (``faiss.contrib.ondisk.merge_ondisk``), as the
  library's ``tempme rebuild`` does. FAISS cannot merge fast-scan lists on disk (their codes are
  packed in blocks of 32: ``OnDiskInvertedLists::merge_from_multiple`` refuses them), so a
  fast-scan variant is built as 4-bit PQ on disk (``PQ64x4``) and converted once
  (``IndexIVFPQFastScan(ivfpq)``: the same codes, repacked) into an ordinary file that the
  search process reads whole (10^7 x 32-byte codes + ids: 0.4 GB).
- ``..._HNSW32`` rows: the same lists behind an HNSW graph over the centroids
  (``IVF{nlist}_HNSW32``'s quantizer; efSearch = max(64, 2 nprobe)), instead of a flat scan of
  all centroids.

Search: a fresh process per variant, 1 OpenMP thread, ``--queries`` single queries (batch 1);
for each ``--nprobe`` and each ``--rerank`` R (0: the codes' own ranking), R x 10 candidates
re-scored exactly from the stored vectors (read with ``pread`` from ``vectors.npy``, as a
catalog read goes through the page cache, not the process) and cut to 10. RSS: VmRSS of the
search process after its queries (memory-mapped lists it touched count). Recall@10 against the
cached exact top-10.

    python bench/scale_faiss.py --data /work/scale-data/clip-1e6 --nlist 4096 \\
        --variants PQ32x4fs PQ64x4fs OPQ64,PQ64x4fs PQ64 SQ8 Flat --hnsw \\
        --nprobe 8 16 32 64 128 --rerank 0 2 5 10 --out bench/results/clip-1e6.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_data as sd

log = logging.getLogger("scale_faiss")
ADD_CHUNK = 65_536


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def sample_rows(ds: sd.Dataset, size: int, seed: int = 0) -> np.ndarray:
    vecs = ds.vectors()
    rows = np.sort(np.random.default_rng(seed).choice(len(vecs), min(size, len(vecs)), replace=False))
    return np.ascontiguousarray(vecs[rows], dtype=np.float32)


def coarse(ds: sd.Dataset, nlist: int, train: int, work: Path, niter: int = 10) -> tuple[np.ndarray, dict]:
    """(nlist, D) centroids (cached) and the seconds spent."""
    path = work / f"coarse-{nlist}.npy"
    info = work / f"coarse-{nlist}.json"
    if path.is_file():
        return np.load(path), json.loads(info.read_text())
    sample = sample_rows(ds, train)
    ivf = faiss.index_factory(ds.spec.dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(ivf).cp.seed = 0
    faiss.extract_index_ivf(ivf).cp.niter = niter  # FAISS's IVF default: 10
    _, secs = timed(ivf.train, sample)
    q = faiss.downcast_index(faiss.extract_index_ivf(ivf).quantizer)
    cents = faiss.rev_swig_ptr(q.get_xb(), nlist * ds.spec.dim).reshape(nlist, ds.spec.dim).copy()
    np.save(path, cents)
    meta = {"train_coarse_s": secs, "train_vectors": len(sample), "niter": niter}
    info.write_text(json.dumps(meta))
    return cents, meta


def assign(ds: sd.Dataset, cents: np.ndarray, work: Path) -> tuple[np.ndarray, float]:
    """(N,) int64 list of every vector (cached) and the seconds spent."""
    path = work / f"assign-{len(cents)}.npy"
    info = work / f"assign-{len(cents)}.json"
    if path.is_file():
        return np.load(path), json.loads(info.read_text())["assign_s"]
    q = faiss.IndexFlatIP(cents.shape[1])
    q.add(cents)
    out = np.empty(ds.spec.n, np.int64)
    t0 = time.perf_counter()
    for a, x in ds.chunks(ADD_CHUNK):
        out[a : a + len(x)] = q.search(x, 1)[1][:, 0]
    secs = time.perf_counter() - t0
    np.save(path, out)
    info.write_text(json.dumps({"assign_s": secs}))
    return out, secs


def parse_variant(v: str) -> tuple[int | None, str, bool]:
    """'OPQ64,PQ64x4fs' -> (64, 'PQ64x4', True): OPQ subquantizers, the encoding FAISS stores
    on disk, whether it is served as fast-scan."""
    m = re.fullmatch(r"(?:OPQ(\d+),)?(.+?)(fsr?)?", v)
    opq, enc, fs = m.group(1), m.group(2), bool(m.group(3))
    return (int(opq) if opq else None), enc, fs


def build_variant(ds, cents, assignment, variant: str, work: Path, shards: int) -> dict:
    """Train the encoding, add in shards with the precomputed assignment, merge on disk (and
    convert to fast-scan). Returns the file to search and the times."""
    d, nlist = ds.spec.dim, len(cents)
    name = f"IVF{nlist},{variant}".replace(",", "_")
    out = work / f"{name}.faiss"
    meta_path = work / f"{name}.json"
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    if variant == "Exact":  # the baseline: IndexFlatIP over every vector, read into memory
        t0 = time.perf_counter()
        flat = faiss.IndexFlatIP(d)
        for _, x in ds.chunks(ADD_CHUNK):
            flat.add(x)
        faiss.write_index(flat, str(out))
        meta = {"variant": variant, "factory": "Flat (exact)", "train_codes_s": 0.0, "add_s": time.perf_counter() - t0}
        meta.update(merge_s=0.0, search_file=str(out), disk_bytes=out.stat().st_size, exact=True)
        meta_path.write_text(json.dumps(meta))
        return meta
    opq_m, enc, fast = parse_variant(variant)
    sample = sample_rows(ds, 100_000 if enc != "Flat" else 1000, seed=1)  # codebooks: FAISS samples 256 a centroid
    t0 = time.perf_counter()
    opq = None
    if opq_m:
        opq = faiss.OPQMatrix(d, opq_m)
        opq.niter = 10  # FAISS's default 50 takes tens of minutes here at D = 512
        opq.max_train_points = 32_768
        if enc.endswith("x4"):  # rotate for the 4-bit codes that will be used (16 centroids a subspace)
            opq.pq = faiss.ProductQuantizer(d, opq_m, 4)
            opq.pq.this.disown()
        opq.train(sample)
        sample = opq.apply_py(sample)
        cents_r = opq.apply_py(cents)
    else:
        cents_r = cents
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(np.ascontiguousarray(cents_r))
    index = faiss.index_factory(d, f"IVF{nlist},{enc}", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.quantizer = quantizer  # trained: IndexIVF.train skips the coarse k-means
    quantizer.this.disown()
    ivf.own_fields = True
    if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFPQ):
        faiss.downcast_index(ivf).do_polysemous_training = False
    index.train(sample)
    train_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    bounds = np.linspace(0, ds.spec.n, shards + 1).round().astype(np.int64)
    blob = faiss.serialize_index(index)
    shard_paths = []
    vecs = ds.vectors()
    for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        shard = faiss.deserialize_index(blob)
        for c in range(a, b, ADD_CHUNK):
            x = np.ascontiguousarray(vecs[c : min(b, c + ADD_CHUNK)], dtype=np.float32)
            if opq is not None:
                x = opq.apply_py(x)
            ids = np.arange(c, c + len(x), dtype=np.int64)
            pre = np.ascontiguousarray(assignment[c : c + len(x)])
            shard.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(pre))
        p = work / f".{name}.shard{s}.faiss"
        faiss.write_index(shard, str(p))
        shard_paths.append(str(p))
        del shard
    add_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    merged = faiss.deserialize_index(blob)
    ivfdata = out.with_suffix(".ivfdata")
    ivfdata.unlink(missing_ok=True)
    merge_ondisk(merged, shard_paths, str(ivfdata))
    if opq is not None:
        opq_index = faiss.IndexPreTransform(opq, faiss.downcast_index(faiss.extract_index_ivf(merged)))
        faiss.write_index(opq_index, str(out))
    else:
        faiss.write_index(merged, str(out))
    for p in shard_paths:
        os.unlink(p)
    merge_s = time.perf_counter() - t0
    meta = {
        "variant": variant,
        "factory": f"{f'OPQ{opq_m},' if opq_m else ''}IVF{nlist},{enc}{'fsr' if fast else ''}",
        "train_codes_s": train_s,
        "add_s": add_s,
        "merge_s": merge_s,
        "ondisk": str(out),
        "disk_bytes_ondisk": out.stat().st_size + ivfdata.stat().st_size,
    }
    if fast:  # repack the 4-bit codes for fast-scan: an ordinary file, read whole
        t0 = time.perf_counter()
        disk = faiss.read_index(str(out), faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
        ivfpq = faiss.downcast_index(faiss.extract_index_ivf(disk))
        fs = faiss.IndexIVFPQFastScan(ivfpq)
        fs_path = work / f"{name}-fs.faiss"
        if opq is not None:
            faiss.write_index(faiss.IndexPreTransform(opq, fs), str(fs_path))
        else:
            faiss.write_index(fs, str(fs_path))
        meta["convert_s"] = time.perf_counter() - t0
        meta["search_file"] = str(fs_path)
        meta["disk_bytes"] = fs_path.stat().st_size
        del fs, disk, ivfpq
    else:
        meta["search_file"] = str(out)
        meta["disk_bytes"] = meta["disk_bytes_ondisk"]
    meta_path.write_text(json.dumps(meta))
    return meta


SEARCHER = r"""
import json, os, sys, time, numpy as np, faiss
cfg = json.loads(sys.argv[1])
faiss.omp_set_num_threads(1)
q = np.load(cfg["queries"])[: cfg["nq"]]
path = cfg["file"]
if os.path.exists(path[: -len(".faiss")] + ".ivfdata"):
    index = faiss.read_index(path, faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
else:
    index = faiss.read_index(path, faiss.IO_FLAG_MMAP if cfg.get("mmap") else 0)
ivf = faiss.try_extract_index_ivf(index)
hnsw = None
if cfg["hnsw"] and ivf is not None:
    flat = faiss.downcast_index(ivf.quantizer)
    cents = faiss.rev_swig_ptr(flat.get_xb(), ivf.nlist * ivf.d).reshape(ivf.nlist, ivf.d).copy()
    hnsw = faiss.IndexHNSWFlat(ivf.d, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(cents)
    ivf.quantizer = hnsw
    hnsw.this.disown()
vecs_hdr = np.load(cfg["vectors"], mmap_mode="r")
dim, offset, item = vecs_hdr.shape[1], vecs_hdr.offset, vecs_hdr.dtype.itemsize
dtype = vecs_hdr.dtype
del vecs_hdr
fd = os.open(cfg["vectors"], os.O_RDONLY)
row_bytes = dim * item
pool = None
if cfg.get("io_threads", 1) > 1:  # concurrent preads: the disk serves a queue, not one read at a time
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(cfg["io_threads"])
def read_row(r):
    return os.pread(fd, row_bytes, offset + row_bytes * int(r))
def rerank(x, cand, k):
    cand = cand[cand >= 0]
    buf = b"".join(pool.map(read_row, cand) if pool is not None else map(read_row, cand))
    v = np.frombuffer(buf, dtype).reshape(len(cand), dim).astype(np.float32)
    s = v @ x
    top = np.argsort(-s, kind="stable")[:k]
    return cand[top]
def rss():
    return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM"))}
out = {"runs": [], "rss_open": rss()}
k = 10
for nprobe in cfg["nprobe"] if ivf is not None else [0]:
    if ivf is not None:
        ivf.nprobe = nprobe
    if hnsw is not None:
        hnsw.hnsw.efSearch = max(64, 2 * nprobe)
    for factor in cfg["rerank"]:
        kk = max(k, factor * k)
        if cfg.get("cold"):  # drop the stored vectors from the page cache: every re-rank read goes to disk
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        index.search(q[:1], kk)
        times, ids = [], []
        for x in q:
            t = time.perf_counter()
            _, i = index.search(x[None], kk)
            i = rerank(x, i[0], k) if factor else i[0, :k]
            times.append((time.perf_counter() - t) * 1e3)
            ids.append(np.pad(i, (0, k - len(i)), constant_values=-1))
        out["runs"].append({"nprobe": nprobe, "rerank": factor, "times": times, "ids": np.stack(ids).tolist()})
out["rss"] = rss()
print(json.dumps(out))
"""


def _unnice() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except PermissionError:  # not allowed to raise priority: measure as we are
        pass


def search(meta: dict, ds: sd.Dataset, args, hnsw: bool) -> dict:
    cfg = {
        "file": meta["search_file"],
        "queries": str(ds.folder / "queries.npy"),
        "vectors": str(ds.vectors_path),
        "nq": args.queries,
        "nprobe": args.nprobe,
        "rerank": args.rerank if meta["lossy"] else [0],
        "hnsw": hnsw,
        "cold": args.cold,
        "io_threads": args.io_threads,
    }
    res = subprocess.run(  # timed at the default priority (builds run niced; a niced search measures the queue)
        [sys.executable, "-c", SEARCHER, json.dumps(cfg)], capture_output=True, text=True, preexec_fn=_unnice
    )
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--nlist", type=int, required=True)
    ap.add_argument("--train", type=int, default=None, help="coarse k-means sample (default 64 a list)")
    ap.add_argument("--niter", type=int, default=10, help="coarse k-means iterations")
    ap.add_argument(
        "--variants", nargs="*", default=["PQ64x4fs"], help="none: only the coarse quantizer and assignment"
    )
    ap.add_argument("--hnsw", action="store_true", help="also search every variant behind an HNSW32 quantizer")
    ap.add_argument("--hnsw-only", action="store_true", help="only the HNSW32 quantizer rows")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--rerank", type=int, nargs="+", default=[0, 5, 10])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--cold", action="store_true", help="evict vectors.npy from the page cache before each setting")
    ap.add_argument("--io-threads", type=int, default=1, help="threads reading re-rank rows (1: one read at a time)")
    ap.add_argument("--threads", type=int, default=2, help="OpenMP threads for building")
    ap.add_argument("--work", type=Path, default=None, help="index files (default DATA/indexes)")
    ap.add_argument("--out", type=Path, default=None, help="append results as JSON lines here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    faiss.omp_set_num_threads(args.threads)
    ds = sd.load(args.data)
    work = args.work or (ds.folder / "indexes")
    work.mkdir(parents=True, exist_ok=True)
    cents, cmeta = coarse(ds, args.nlist, args.train or 64 * args.nlist, work, args.niter)
    log.info("coarse %s", cmeta)
    assignment, assign_s = assign(ds, cents, work)
    log.info("assign %.1f s", assign_s)
    _, gt_ids = ds.gt()
    truth = [set(r[:10]) for r in gt_ids[: args.queries]]
    for variant in args.variants:
        meta = build_variant(ds, cents, assignment, variant, work, args.shards)
        meta["lossy"] = not variant.endswith(("Flat", "Exact"))
        log.info("built %s", meta)
        hnsws = [True] if args.hnsw_only else [False, True] if args.hnsw else [False]
        for hnsw in hnsws if variant != "Exact" else [False]:
            res = search(meta, ds, args, hnsw)
            load = os.getloadavg()[0]
            for run in res["runs"]:
                recall = float(np.mean([len(truth[i] & set(r)) / 10 for i, r in enumerate(run["ids"])]))
                row = {
                    "n": ds.spec.n,
                    "gen": ds.spec.gen,
                    "dtype": ds.spec.dtype,
                    "factory": meta["factory"].replace(f"IVF{args.nlist},", f"IVF{args.nlist}_HNSW32,")
                    if hnsw
                    else meta["factory"],
                    "nprobe": run["nprobe"],
                    "rerank": run["rerank"],
                    "recall_at_10": recall,
                    "p50_ms": float(np.percentile(run["times"], 50)),
                    "p99_ms": float(np.percentile(run["times"], 99)),
                    "rss_mb": res["rss"]["VmRSS"],
                    "disk_mb": meta["disk_bytes"] / 2**20,
                    "train_coarse_s": cmeta["train_coarse_s"],
                    "assign_s": assign_s,
                    "train_codes_s": meta["train_codes_s"],
                    "add_s": meta["add_s"],
                    "merge_s": meta["merge_s"],
                    "convert_s": meta.get("convert_s", 0.0),
                    "queries": args.queries,
                    "cache": "cold" if args.cold else "warm",
                    "io_threads": args.io_threads,
                    "load1": load,
                }
                print(
                    f"{row['cache']}/{args.io_threads} "
                    f"{row['factory']:<34} nprobe={row['nprobe']:<4} rerank={row['rerank']:<3} "
                    f"R@10={recall:.3f} p50={row['p50_ms']:7.2f} p99={row['p99_ms']:7.2f} "
                    f"RSS={row['rss_mb']:7.0f}MB disk={row['disk_mb']:7.0f}MB load={load:.1f}",
                    flush=True,
                )
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
