"""The library's tuner (``tempme.index.vectors.tune``) on a scale-benchmark library: the smallest
nprobe / re-rank depth reaching a recall@10 measured on the library's own vectors, or the best
recall within a latency budget; compared with the benchmark's held-out queries at that setting.

The tuner samples stored vectors as queries (their exact neighbours computed in chunks);
``bench/scale_data.py``'s held-out queries are new videos: the last line says how the tuned
setting does on them (recall@10 against the cached exact truth, and p50 / p99 of one query at a
time, re-ranking included). ``--leave-out video`` (the library's rule) makes each sampled query
leave its own video out of its truth and its result (the ``clip`` generator's videos are
``per_video`` consecutive rows); ``--leave-out self`` is the rule before it (only the query
itself), kept to measure the difference. ``--out FILE`` appends the JSON line to FILE.

    python bench/scale_tune.py --data /work/scale-data/clip-1e6 \\
        --index /work/scale-data/clip-1e6/indexes/IVF2048_PQ128x4fs-fs.faiss --target-recall 0.95
    python bench/scale_tune.py ... --max-ms 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_data as sd
from tempme.index.vectors import check_budget, tune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--target-recall", type=float, default=None)
    ap.add_argument("--max-ms", type=float, default=None)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--reranks", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20])
    ap.add_argument("--leave-out", choices=("video", "self"), default="video")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0, help="which stored vectors the tuner samples")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        check_budget(args.target_recall, args.max_ms)
    except ValueError as e:
        sys.exit(f"error: {e}")
    faiss.omp_set_num_threads(1)
    ds = sd.load(args.data)
    vecs = ds.vectors()
    path = str(args.index)
    if os.path.exists(path[: -len(".faiss")] + ".ivfdata"):
        index = faiss.read_index(path, faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
    else:
        index = faiss.read_index(path)

    def chunks():
        for a, x in ds.chunks():
            yield np.arange(a, a + len(x), dtype=np.int64), x

    def lookup(ids):  # row numbers are the ids here
        return np.asarray(vecs[np.asarray(ids)], dtype=np.float32)

    pv, n = ds.spec.per_video, len(vecs)

    def videos(ids):  # the generator's videos: rows [v * per_video, (v + 1) * per_video)
        seg = (np.unique(np.asarray(ids) // pv)[:, None] * pv + np.arange(pv)).ravel()
        seg = seg[seg < n]
        return seg, seg // pv

    if args.leave_out == "video" and ds.spec.gen != "clip":
        sys.exit(f"error: the {ds.spec.gen} generator has no videos; use --leave-out self")
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    res = tune(index, chunks, lookup, n_stored=n, videos=videos if args.leave_out == "video" else None,
               target_recall=args.target_recall, max_ms=args.max_ms, n_queries=args.queries,
               reranks=tuple(args.reranks), seed=args.seed)  # fmt: skip
    tune_s = time.perf_counter() - t0
    t = res.tuning
    recall, p50, p99 = heldout(index, ds, lookup, t.rerank)
    out = {"tuning": asdict(t), "reached": res.reached, "leave_out": args.leave_out, "seed": args.seed, "tune_s": tune_s,
           "heldout_recall_at_10": recall, "heldout_p50_ms": p50, "heldout_p99_ms": p99,
           "points": [asdict(p) for p in res.points], "index": path, "load1": [load0, os.getloadavg()[0]]}  # fmt: skip
    print(json.dumps(out))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(out) + "\n")
    print(f"{t.describe()}; leave out: {args.leave_out}; reached: {res.reached}; held-out queries: recall@10 "
          f"{recall:.3f}, p50 {p50:.2f} ms, p99 {p99:.2f} ms; tuned in {tune_s:.0f} s")  # fmt: skip


def heldout(index, ds, lookup, rerank: int) -> tuple[float, float, float]:
    """The index at its tuned setting on the benchmark's held-out queries (new videos), one query
    at a time as the app searches (top 10, or R x 10 re-ranked exactly): recall@10 against the
    cached exact truth, p50 and p99 ms."""
    q = ds.queries()
    _, gt = ds.gt()
    found, times = [], []
    for x in q:
        t0 = time.perf_counter()
        _, c = index.search(x[None], max(10, rerank * 10))
        c = c[0][c[0] >= 0]
        if rerank:
            c = c[np.argsort(-(lookup(c) @ x), kind="stable")]
        times.append((time.perf_counter() - t0) * 1e3)
        found.append(set(c[:10].tolist()))
    recall = float(np.mean([len(f & set(g[:10].tolist())) / 10 for f, g in zip(found, gt)]))
    return recall, float(np.percentile(times, 50)), float(np.percentile(times, 99))


if __name__ == "__main__":
    main()
