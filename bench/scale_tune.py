"""A tuner prototype: the smallest nprobe / re-rank depth that reaches a recall, measured on the
library's own vectors (or the best recall within a latency budget).

A pure function over a FAISS index and the stored vectors it was built from (nothing is
written): :func:`tune` samples ``n_queries`` stored vectors as queries, computes their exact
top-``k`` neighbours among the *other* stored vectors in bounded chunks (each query's own id is
left out of the truth and of the results: a stored vector always finds itself), and measures
recall@k of the index at settings (nprobe, re-rank factor R: R x k candidates re-scored exactly
with the stored vectors; 0 = the index's own ranking).

- ``target_recall``: for each R, nprobe doubles from 1 until recall@k reaches the target (or
  stops improving: the codes, not the lists, limit it), then a bisection finds the smallest
  nprobe that does; among the R values the one with the lowest
  measured p50 wins (recall ties: the smaller nprobe).
- ``max_ms``: for each R, nprobe doubles while the p50 stays within the budget; the best recall
  within it wins (ties: the lower p50).

Recall is measured with batched searches (cheap); latency with ``timed`` single queries
(batch 1, as the app searches) in this process, with the OpenMP threads it has. In the
library (phase B) this moves into ``index/vectors/`` and its result is recorded in the catalog.

    python bench/scale_tune.py --data /work/scale-data/clip-1e6 \\
        --index /work/scale-data/clip-1e6/indexes/IVF4096_PQ64x4fs-fs.faiss --target-recall 0.95
    python bench/scale_tune.py ... --max-ms 5
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger("scale_tune")

PLATEAU = 0.002  # recall gained by doubling nprobe below which more lists are not tried
PLATEAU_FROM = 8  # ... once nprobe is at least this
Lookup = Callable[[np.ndarray], np.ndarray]  # (n,) ids -> (n, D) float32 stored vectors, same order
Chunks = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]  # -> (ids (n,), vectors (n, D)) in order


@dataclass(frozen=True)
class TunePoint:
    nprobe: int
    rerank: int  # R: R x k candidates re-scored exactly (0: off)
    recall: float  # recall@k on the sampled queries
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class TuneResult:
    chosen: TunePoint
    reached: bool  # the target (or the budget) was met
    target_recall: float | None
    max_ms: float | None
    queries: int
    k: int
    points: tuple[TunePoint, ...]  # every setting measured, in order


def check_budget(target_recall: float | None, max_ms: float | None) -> None:
    """One-line ValueError for a request the tuner cannot serve."""
    if (target_recall is None) == (max_ms is None):
        raise ValueError("give exactly one of a target recall or a latency budget (max ms)")
    if (
        target_recall is not None
        and not (0.0 < target_recall <= 1.0)
        or (target_recall is not None and math.isnan(target_recall))
    ):
        raise ValueError(f"target recall must be in (0, 1], got {target_recall}")
    if max_ms is not None and not (max_ms > 0 and math.isfinite(max_ms)):
        raise ValueError(f"latency budget must be a positive number of milliseconds, got {max_ms}")


def exact_neighbours(query_ids: np.ndarray, queries: np.ndarray, chunks: Chunks, k: int) -> np.ndarray:
    """(Q, k) ids of the exact top-k by inner product among all stored vectors except each
    query's own id, scanning the stored vectors one chunk at a time (memory: one chunk and
    (Q, k + 1) heaps)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    heap = faiss.ResultHeap(len(q), k + 1, keep_max=True)
    for ids, vecs in chunks():
        scores = q @ np.ascontiguousarray(vecs, dtype=np.float32).T  # (Q, n)
        idx = np.broadcast_to(np.asarray(ids, dtype=np.int64), scores.shape)
        heap.add_result(np.ascontiguousarray(scores), np.ascontiguousarray(idx))
    heap.finalize()
    out = np.empty((len(q), k), np.int64)
    for row, (found, self_id) in enumerate(zip(heap.I, query_ids)):
        out[row] = found[found != self_id][:k]
    return out


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    ivf = faiss.try_extract_index_ivf(index)
    return None if ivf is None else faiss.downcast_index(ivf)


def _search(index, queries, query_ids, lookup: Lookup, k: int, rerank: int) -> np.ndarray:
    """(Q, k) ids: the index's top k + 1 (or R x k + 1 re-ranked exactly), own id removed."""
    kk = max(k, rerank * k) + 1
    _, cand = index.search(queries, kk)
    out = np.full((len(queries), k), -1, np.int64)
    for row, (c, self_id) in enumerate(zip(cand, query_ids)):
        c = c[(c >= 0) & (c != self_id)]
        if rerank and len(c):
            s = lookup(c) @ queries[row]
            c = c[np.argsort(-s, kind="stable")]
        out[row, : min(k, len(c))] = c[:k]
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / k for f, t in zip(found, truth)]))


def tune(
    index: faiss.Index,
    chunks: Chunks,
    lookup: Lookup,
    *,
    n_stored: int,
    target_recall: float | None = None,
    max_ms: float | None = None,
    k: int = 10,
    n_queries: int = 400,
    reranks: tuple[int, ...] = (0, 1, 2, 5, 10),
    timed: int = 100,
    seed: int = 0,
) -> TuneResult:
    """See the module docstring. ``chunks()`` yields the stored (ids, vectors) in order (row
    ``i`` of the sample is the ``i``-th stored vector overall); ``lookup(ids)`` returns their
    vectors. A non-IVF index has one setting (nprobe 0). Raises ValueError (one line) for a bad
    budget or an empty library."""
    check_budget(target_recall, max_ms)
    if n_stored < 2:
        raise ValueError(f"need at least 2 stored vectors to measure recall, got {n_stored}")
    k = min(k, n_stored - 1)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_stored, min(n_queries, n_stored), replace=False))
    query_ids, queries, seen = [], [], 0
    for ids, vecs in chunks():  # pick the sampled rows out of the chunks
        sel = rows[(rows >= seen) & (rows < seen + len(ids))] - seen
        query_ids.append(np.asarray(ids)[sel])
        queries.append(np.asarray(vecs, dtype=np.float32)[sel])
        seen += len(ids)
    query_ids, queries = np.concatenate(query_ids), np.ascontiguousarray(np.concatenate(queries))
    t0 = time.perf_counter()
    truth = exact_neighbours(query_ids, queries, chunks, k)
    log.info("exact neighbours of %d sampled vectors: %.1f s", len(queries), time.perf_counter() - t0)

    ivf = _ivf(index)
    nlist = ivf.nlist if ivf is not None else 1
    lossy = ivf is None or not isinstance(ivf, faiss.IndexIVFFlat)
    reranks = tuple(sorted(set(reranks))) if lossy else (0,)
    cache: dict[tuple[int, int], TunePoint] = {}

    def point(nprobe: int, rerank: int, with_time: bool) -> TunePoint:
        key = (nprobe, rerank)
        if key in cache and (cache[key].p50_ms is not None or not with_time):
            return cache[key]
        if ivf is not None:
            ivf.nprobe = nprobe
        found = _search(index, queries, query_ids, lookup, k, rerank)
        p50 = p99 = None
        if with_time:
            times = []
            for i in range(min(timed, len(queries))):
                t = time.perf_counter()
                _search(index, queries[i : i + 1], query_ids[i : i + 1], lookup, k, rerank)
                times.append((time.perf_counter() - t) * 1e3)
            p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        cache[key] = TunePoint(nprobe if ivf is not None else 0, rerank, _recall(found, truth), p50, p99)
        return cache[key]

    candidates: list[TunePoint] = []
    for r in reranks:
        if target_recall is not None:
            lo, hi = 0, 1  # recall(lo) < target (lo = 0: none tried), recall(hi) to test
            while point(hi, r, False).recall < target_recall and hi < nlist:
                if lo >= PLATEAU_FROM and point(hi, r, False).recall - point(lo, r, False).recall < PLATEAU:
                    break  # more lists no longer help: this R's codes are what limit recall
                lo, hi = hi, min(hi * 2, nlist)
            if point(hi, r, False).recall < target_recall:
                candidates.append(point(hi, r, True))  # the best this R can do
                continue
            while hi - lo > 1:  # smallest nprobe in (lo, hi] that reaches the target
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if point(mid, r, False).recall >= target_recall else (mid, hi)
            candidates.append(point(hi, r, True))
        else:
            nprobe, best = 1, None
            while True:
                p = point(nprobe, r, True)
                if p.p50_ms > max_ms:
                    break
                best = p
                if nprobe >= nlist:
                    break
                nprobe = min(nprobe * 2, nlist)
            candidates.append(best or point(1, r, True))
    if target_recall is not None:
        ok = [c for c in candidates if c.recall >= target_recall]
        chosen = min(ok, key=lambda c: (c.p50_ms, c.nprobe)) if ok else max(candidates, key=lambda c: c.recall)
        reached = bool(ok)
    else:
        ok = [c for c in candidates if c.p50_ms <= max_ms]
        chosen = max(ok, key=lambda c: (c.recall, -c.p50_ms)) if ok else min(candidates, key=lambda c: c.p50_ms)
        reached = bool(ok)
    if ivf is not None:
        ivf.nprobe = chosen.nprobe
    return TuneResult(chosen, reached, target_recall, max_ms, len(queries), k, tuple(cache.values()))


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import os

    import scale_data as sd

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--target-recall", type=float, default=None)
    ap.add_argument("--max-ms", type=float, default=None)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--reranks", type=int, nargs="+", default=[0, 1, 2, 5, 10])
    ap.add_argument("--hnsw", action="store_true", help="put an HNSW32 graph over the centroids first")
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
    if args.hnsw:
        ivf = faiss.extract_index_ivf(index)
        flat = faiss.downcast_index(ivf.quantizer)
        cents = faiss.rev_swig_ptr(flat.get_xb(), ivf.nlist * ivf.d).reshape(ivf.nlist, ivf.d).copy()
        hnsw = faiss.IndexHNSWFlat(ivf.d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.add(cents)
        hnsw.hnsw.efSearch = 256
        ivf.quantizer = hnsw
        hnsw.this.disown()

    def chunks():
        for a, x in ds.chunks():
            yield np.arange(a, a + len(x), dtype=np.int64), x

    def lookup(ids):
        return np.asarray(vecs[np.asarray(ids)], dtype=np.float32)

    t0 = time.perf_counter()
    res = tune(
        index,
        chunks,
        lookup,
        n_stored=len(vecs),
        target_recall=args.target_recall,
        max_ms=args.max_ms,
        n_queries=args.queries,
        reranks=tuple(args.reranks),
    )
    out = asdict(res)
    out["tune_s"] = time.perf_counter() - t0
    out["index"] = path
    print(json.dumps(out))


if __name__ == "__main__":
    main()
