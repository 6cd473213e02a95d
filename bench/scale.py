"""Vectors at scale: IVF-PQ built in shards into one on-disk index, against exact search, same run.

N synthetic clustered unit vectors of width D = 512 (ViT-B/32's; bench/search.py's generator),
written to ``.npy`` files that the shard tasks map themselves (as they would read shared storage).
Rows (one table):

- ``exact``: IndexFlatIP in memory (the baseline: its RSS is the whole float32 matrix);
- ``ivfpq on disk``: ``--factory`` trained on a sample, added in ``--shards`` shards (local
  tasks, or Ray tasks with ``--ray``), merged with ``faiss.contrib.ondisk`` and searched
  memory-mapped from a fresh process.

- ``... + re-rank xR``: the same search for ``R * k`` candidates, re-scored exactly with the
  float32 vectors (``vectorscale.rerank``; the library reads them from its catalog, here from
  the memory-mapped ``vectors.npy`` that stands in for it) and cut to the top k.

Columns: build seconds (train + add + merge), bytes on disk, resident memory of the search
process after its queries (VmRSS; a fresh Python process that imports faiss and opens the
index; after the re-ranked queries it includes the pages of ``vectors.npy`` they touched),
p50/p99 ms per single query, recall@10 against exact search on ``--queries`` queries.

    python bench/scale.py [--n 1000000] [--factory IVF1024,PQ64] [--shards 2] [--nprobe 16 64] \
        [--rerank 10] [--ray]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tempme.index.vectors as vs
from search import clustered

SEARCHER = r"""
import json, sys, time, numpy as np, faiss
import tempme.index.vectors as vs
path, qpath, k, mmap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
nprobes = [int(x) for x in sys.argv[5].split(",")]
reranks = [int(x) for x in sys.argv[6].split(",") if int(x)] if len(sys.argv) > 6 else []
faiss.omp_set_num_threads(1)
q = np.load(qpath)
t0 = time.perf_counter()
index = vs.open_index(path, mmap=mmap)
open_s = time.perf_counter() - t0
out = {"open_s": open_s, "runs": []}

def rss():
    lines = [l for l in open("/proc/self/status") if l.startswith(("VmRSS", "VmHWM"))]
    return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in lines}

if reranks:  # the exact vectors, read row by row as a catalog would (pread: page cache, not RSS)
    import os
    header = np.load(sys.argv[7], mmap_mode="r")
    dim, offset = header.shape[1], header.offset
    del header
    fd, all_ids = os.open(sys.argv[7], os.O_RDONLY), np.load(sys.argv[8], mmap_mode="r")
    def lookup(wanted):
        rows = np.searchsorted(all_ids, wanted)
        buf = b"".join(os.pread(fd, 4 * dim, offset + 4 * dim * int(r)) for r in rows)
        return wanted, np.frombuffer(buf, np.float32).reshape(len(rows), dim)
for factor in [0] + reranks:
    for nprobe in nprobes:
        vs.set_nprobe(index, nprobe)
        index.search(q[:1], k)
        times, ids = [], []
        for x in q:
            t = time.perf_counter()
            if factor:
                _, cand = index.search(x[None], factor * k)
                _, i = vs.rerank(x[None], cand, lookup, k)
            else:
                _, i = index.search(x[None], k)
            times.append((time.perf_counter() - t) * 1e3)
            ids.append(i[0])
        out["runs"].append({"nprobe": nprobe, "rerank": factor, "times": times, "ids": np.stack(ids).tolist()})
    out["rss_mb" if not factor else f"rss_mb_rerank{factor}"] = rss()
print(json.dumps(out))
"""


def search_process(
    path: Path, queries: Path, k: int, mmap: bool, nprobes: list[int], reranks: tuple = (), exact: tuple = ()
) -> dict:
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            SEARCHER,
            str(path),
            str(queries),
            str(k),
            "1" if mmap else "0",
            ",".join(map(str, nprobes or [1])),
            ",".join(map(str, reranks or [0])),
            *map(str, exact),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def disk_bytes(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def build(args, work: Path, n: int, dim: int, k: int, factory: str):
    """Write the vectors, build and search the exact baseline, train and build the on-disk index."""
    rng = np.random.default_rng(0)
    centres = np.random.default_rng(1).standard_normal((max(n // args.per_cluster, 1), dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = np.lib.format.open_memmap(work / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    for a in range(0, n, 200_000):
        vecs[a : a + 200_000] = clustered(min(200_000, n - a), dim, centres, rng, 1.0)
    vecs.flush()
    np.save(work / "ids.npy", np.arange(n, dtype=np.int64) * 3 + 1)
    queries = clustered(args.queries, dim, centres, rng, 1.0)
    np.save(work / "queries.npy", queries)
    source = vs.NpySource(work / "vectors.npy", work / "ids.npy")

    # exact baseline, in memory, in a fresh process
    t0 = time.perf_counter()
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    vs.add_rows(flat, source, 0, n)
    exact_build = time.perf_counter() - t0
    faiss.write_index(flat, str(work / "exact.faiss"))
    del flat
    exact = search_process(work / "exact.faiss", work / "queries.npy", k, False, [1])

    t0 = time.perf_counter()
    sample = vs.training_sample(source, args.train or vs.training_size(factory, n))
    trained = vs.train_empty(factory, sample)
    train_s = time.perf_counter() - t0
    runner = vs.RayRunner() if args.ray else vs.LocalRunner()
    t0 = time.perf_counter()
    built = vs.build_ondisk(trained, source, work / "ivfpq.faiss", factory=factory, n_shards=args.shards, runner=runner)
    add_s = time.perf_counter() - t0
    return exact, exact_build, train_s, add_s, built, len(sample), type(runner).__name__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--factory", default=None, help="default: IVF{nlist_for(N)},PQ{D/8}")
    ap.add_argument("--train", type=int, default=None, help="training sample (default: vectorscale.training_size)")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="shard tasks on a local Ray (2 CPUs)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--rerank", type=int, nargs="*", default=[10], help="re-rank R*k candidates exactly (rows per R)")
    ap.add_argument("--reuse", action="store_true", help="reuse --dir's data, builds and exact results")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--per-cluster", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads in the driver")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    faiss.omp_set_num_threads(args.threads)
    n, dim, k = args.n, args.dim, args.k
    factory = args.factory or f"IVF{vs.nlist_for(n)},PQ{dim // 8}"
    work = Path(args.dir or tempfile.mkdtemp(prefix="tempme-scale-"))
    work.mkdir(parents=True, exist_ok=True)

    saved = work / "build.json"
    if args.reuse and saved.is_file():  # the data, builds and exact search of an earlier run
        b = json.loads(saved.read_text())
        assert (b["n"], b["dim"], b["factory"]) == (n, dim, factory), b
        exact_build, train_s, add_s = b["exact_build"], b["train_s"], b["add_s"]
        if "exact" not in b:
            b["exact"] = search_process(work / "exact.faiss", work / "queries.npy", k, False, [1])
            saved.write_text(json.dumps(b))
        exact = b["exact"]
        n_train, runner_name = b["train_vectors"], b["runner"]
        built = vs.OnDiskIndex(work / "ivfpq.faiss", work / "ivfpq.ivfdata", factory, n)
    else:
        exact, exact_build, train_s, add_s, built, n_train, runner_name = build(args, work, n, dim, k, factory)
        saved.write_text(
            json.dumps(
                dict(
                    n=n,
                    dim=dim,
                    factory=factory,
                    exact=exact,
                    exact_build=exact_build,
                    train_s=train_s,
                    add_s=add_s,
                    train_vectors=n_train,
                    runner=runner_name,
                )
            )
        )
    truth = [set(r) for r in exact["runs"][0]["ids"]]
    ivf = search_process(
        built.path, work / "queries.npy", k, True, args.nprobe, args.rerank, (work / "vectors.npy", work / "ids.npy")
    )

    rows = [
        {
            "index": "exact (Flat, in memory)",
            "build_s": exact_build,
            "disk_mb": disk_bytes(work / "exact.faiss") / 2**20,
            "rss_mb": exact["rss_mb"]["VmRSS"],
            "p50_ms": float(np.percentile(exact["runs"][0]["times"], 50)),
            "p99_ms": float(np.percentile(exact["runs"][0]["times"], 99)),
            "recall_at_10": 1.0,
        }
    ]
    for run in ivf["runs"]:
        recall = float(np.mean([len(truth[i] & set(r)) / k for i, r in enumerate(run["ids"])]))
        rr = f" + re-rank x{run['rerank']}" if run["rerank"] else ""
        rows.append(
            {
                "index": f"{factory} on disk, nprobe={run['nprobe']}{rr}",
                "build_s": train_s + add_s,
                "disk_mb": disk_bytes(built.path, built.ivfdata) / 2**20,
                "rss_mb": ivf[f"rss_mb_rerank{run['rerank']}" if run["rerank"] else "rss_mb"]["VmRSS"],
                "p50_ms": float(np.percentile(run["times"], 50)),
                "p99_ms": float(np.percentile(run["times"], 99)),
                "recall_at_10": recall,
            }
        )
    base = rows[0]
    for r in rows:
        r["disk_ratio"] = r["disk_mb"] / base["disk_mb"]
        r["rss_ratio"] = r["rss_mb"] / base["rss_mb"]
        r["p50_speedup"] = base["p50_ms"] / r["p50_ms"]
    meta = {
        "n": n,
        "dim": dim,
        "factory": factory,
        "shards": args.shards,
        "runner": runner_name,
        "train_s": train_s,
        "add_merge_s": add_s,
        "train_vectors": n_train,
        "queries": args.queries,
    }
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}))
        return
    print(
        f"N={n} D={dim}; {factory}: train {train_s:.1f} s on {n_train} vectors, add+merge {add_s:.1f} s "
        f"in {args.shards} shards ({meta['runner']}); {args.queries} single queries, k={k}, 1 thread"
    )
    print(
        f"{'index':<50} {'build s':>8} {'disk MB':>9} {'RSS MB':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'recall@10':>9} {'disk x':>7} {'RSS x':>6} {'p50 speed-up':>12}"
    )
    for r in rows:
        print(
            f"{r['index']:<50} {r['build_s']:8.1f} {r['disk_mb']:9.1f} {r['rss_mb']:8.1f} {r['p50_ms']:8.2f} "
            f"{r['p99_ms']:8.2f} {r['recall_at_10']:9.3f} {r['disk_ratio']:7.3f} {r['rss_ratio']:6.3f} "
            f"{r['p50_speedup']:11.1f}x"
        )


if __name__ == "__main__":
    main()
