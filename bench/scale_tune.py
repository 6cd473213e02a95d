"""The library's tuner (``tempme.index.vectors.tune``) on a scale-benchmark library: the smallest
nprobe / re-rank depth reaching a recall@10 measured on the library's own vectors, or the best
recall within a latency budget; compared with the benchmark's held-out queries at that setting.

The tuner samples stored vectors as queries (their exact neighbours among the other stored
vectors, computed in chunks); ``bench/scale_data.py``'s held-out queries are new videos, whose
neighbours are farther: the last line says how the tuned setting does on them.

    python bench/scale_tune.py --data /work/scale-data/clip-1e6 \\
        --index /work/scale-data/clip-1e6/indexes/IVF4096_PQ128x4fs-fs.faiss --target-recall 0.95
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

    t0 = time.perf_counter()
    res = tune(index, chunks, lookup, n_stored=len(vecs), target_recall=args.target_recall, max_ms=args.max_ms,
               n_queries=args.queries, reranks=tuple(args.reranks))  # fmt: skip
    tune_s = time.perf_counter() - t0
    t = res.tuning
    # the tuned setting on the benchmark's held-out queries (new videos), against the cached truth
    q = ds.queries()
    _, gt = ds.gt()
    _, cand = index.search(q, max(10, t.rerank * 10))
    found = []
    for x, c in zip(q, cand):
        c = c[c >= 0]
        if t.rerank:
            c = c[np.argsort(-(lookup(c) @ x), kind="stable")]
        found.append(set(c[:10].tolist()))
    heldout = float(np.mean([len(f & set(g[:10].tolist())) / 10 for f, g in zip(found, gt)]))
    out = {"tuning": asdict(t), "reached": res.reached, "tune_s": tune_s, "heldout_recall_at_10": heldout,
           "points": [asdict(p) for p in res.points], "index": path, "load1": os.getloadavg()[0]}  # fmt: skip
    print(json.dumps(out))
    print(f"{t.describe()}; reached: {res.reached}; held-out queries: recall@10 {heldout:.3f}; tuned in {tune_s:.0f} s")


if __name__ == "__main__":
    main()
