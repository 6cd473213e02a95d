"""The library tunes its own index: the smallest nprobe / re-rank depth that reaches a recall,
measured on its own stored vectors, or the best recall within a latency budget.

:func:`tune` is a pure function over a FAISS index and the stored vectors it was built from
(nothing is written): it samples ``n_queries`` stored vectors as queries, computes their exact
top-``k`` among the *other* stored vectors in bounded chunks (:func:`exact_neighbours`: one
chunk and a (Q, k + 1) heap in memory; a query's own id is left out of the truth and of the
results, since a stored vector always finds itself), and measures recall@k at settings
(nprobe, R): R x k candidates re-scored exactly with the stored vectors (R = 0: the index's own
ranking; only lossy indexes are re-ranked).

- ``target_recall``: for each R, nprobe doubles from 1 until recall@k reaches the target (or
  stops improving by :data:`PLATEAU` per doubling: then the codes, not the lists, limit it) and
  a bisection finds the smallest nprobe that reaches it; among the R that reach it, the lowest
  measured p50 wins. None reaching it: the best recall measured (``reached`` False).
- ``max_ms``: for each R, nprobe doubles while the p50 stays within the budget; the best recall
  within it wins (ties: the lower p50). None within it: the fastest setting measured.

Recall is measured with batched searches; latency (p50/p99) with ``timed`` single queries
(batch 1, re-ranking included, as the app searches) in this process, with the OpenMP threads
it has. bench/scale_tune.py runs it on the scale benchmark's libraries; docs/scale.md has the
measurements. The same idea as autofaiss's ``tune_index`` (a latency budget picks the index's
search parameters), here on the library's own vectors and with exact re-ranking in the loop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import faiss
import numpy as np
from tempme.index.reports import SearchTuning
from tempme.index.vectors.policy import is_lossy, ivf_of
from tempme.index.vectors.rerank import rerank as exact_rerank

log = logging.getLogger(__name__)

TARGET_RECALL = 0.95  # what a library asks of its index when nobody said otherwise
RERANKS = (0, 2, 5, 10, 20)  # re-rank factors R tried on lossy indexes
PLATEAU = 0.002  # recall gained by doubling nprobe below which more lists are not tried
PLATEAU_FROM = 8  # ... once nprobe is at least this

Lookup = Callable[[np.ndarray], np.ndarray]  # (n,) ids -> (n, D) float32 stored vectors, same order
Chunks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]  # -> (ids (n,), vectors (n, D)) in order


@dataclass(frozen=True)
class TunePoint:
    """recall@k (and, once timed, p50/p99 ms of one query) at one setting."""

    nprobe: int
    rerank: int
    recall: float
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class TuneResult:
    """The chosen setting, whether it met the request, and every setting measured."""

    tuning: SearchTuning
    reached: bool
    points: tuple[TunePoint, ...]


def check_budget(target_recall: float | None, max_ms: float | None) -> None:
    """One-line ValueError for a request the tuner cannot serve (both or neither given, a recall
    outside (0, 1], a budget that is not a positive number of milliseconds)."""
    if target_recall is not None and max_ms is not None:
        raise ValueError("give a target recall or a latency budget (max ms), not both")
    if target_recall is None and max_ms is None:
        raise ValueError("give a target recall or a latency budget (max ms)")
    if target_recall is not None and not (isinstance(target_recall, (int, float)) and 0.0 < target_recall <= 1.0):
        raise ValueError(f"target recall must be in (0, 1], got {target_recall}")
    if max_ms is not None and not (isinstance(max_ms, (int, float)) and math.isfinite(max_ms) and max_ms > 0):
        raise ValueError(f"latency budget must be a positive number of milliseconds, got {max_ms}")


def exact_neighbours(query_ids: np.ndarray, queries: np.ndarray, chunks: Chunks, k: int) -> np.ndarray:
    """(Q, k) ids of the exact top-k by inner product among all stored vectors but each query's
    own id (-1 where fewer), scanning the stored vectors one chunk at a time."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    heap = faiss.ResultHeap(len(q), k + 1, keep_max=True)
    for ids, vecs in chunks():
        scores = q @ np.ascontiguousarray(vecs, dtype=np.float32).T  # (Q, n)
        idx = np.ascontiguousarray(np.broadcast_to(np.asarray(ids, dtype=np.int64), scores.shape))
        heap.add_result(np.ascontiguousarray(scores), idx)
    heap.finalize()
    out = np.full((len(q), k), -1, np.int64)
    for row, (found, self_id) in enumerate(zip(heap.I, query_ids)):
        found = found[(found != self_id) & (found >= 0)][:k]
        out[row, : len(found)] = found
    return out


def _search(index: faiss.Index, queries: np.ndarray, query_ids: np.ndarray, lookup: Lookup, k: int, rerank: int):
    """(Q, k) ids: the index's top k + 1 (or R x k + 1, re-ranked exactly with one ``lookup``
    of every candidate), each query's own id removed."""
    n = max(k, rerank * k) + 1
    _, cand = index.search(queries, min(n, max(index.ntotal, 1)))
    cand = np.where(cand == np.asarray(query_ids)[:, None], -1, cand)
    if rerank:
        wanted = np.unique(cand[cand >= 0])
        vecs = lookup(wanted) if len(wanted) else np.zeros((0, queries.shape[1]), np.float32)
        _, top = exact_rerank(queries, cand, lambda ids: (wanted, vecs), k)
        return top
    out = np.full((len(queries), k), -1, np.int64)
    for row, c in enumerate(cand):
        c = c[c >= 0][:k]
        out[row, : len(c)] = c
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / max(int((t >= 0).sum()), 1)
        for f, t in zip(found, truth)
    ]
    return float(np.mean(hits))


def sample_queries(chunks: Chunks, n_stored: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q,) ids and (Q, D) vectors of ``n_queries`` stored vectors drawn uniformly (one pass)."""
    rows = np.sort(np.random.default_rng(seed).choice(n_stored, min(n_queries, n_stored), replace=False))
    ids_out, vecs_out, seen = [], [], 0
    for ids, vecs in chunks():
        sel = rows[(rows >= seen) & (rows < seen + len(ids))] - seen
        ids_out.append(np.asarray(ids, dtype=np.int64)[sel])
        vecs_out.append(np.asarray(vecs, dtype=np.float32)[sel])
        seen += len(ids)
    return np.concatenate(ids_out), np.ascontiguousarray(np.concatenate(vecs_out))


class _Probe:
    """Measures (and caches) recall@k, and on request p50/p99, at (nprobe, R) settings."""

    def __init__(self, index, queries, query_ids, truth, lookup: Lookup, k: int, timed: int) -> None:
        self.index, self.queries, self.query_ids, self.truth = index, queries, query_ids, truth
        self.lookup, self.k, self.timed = lookup, k, timed
        self.ivf = ivf_of(index)
        self.nlist = self.ivf.nlist if self.ivf is not None else 1
        self.cache: dict[tuple[int, int], TunePoint] = {}

    def __call__(self, nprobe: int, rerank: int, timed_too: bool = False) -> TunePoint:
        key = (nprobe, rerank)
        if key in self.cache and (self.cache[key].p50_ms is not None or not timed_too):
            return self.cache[key]
        if self.ivf is not None:
            self.ivf.nprobe = nprobe
        q, qid = self.queries, self.query_ids
        recall = _recall(_search(self.index, q, qid, self.lookup, self.k, rerank), self.truth)
        p50 = p99 = None
        if timed_too:
            times = []
            for i in range(min(self.timed, len(q))):
                t = time.perf_counter()
                _search(self.index, q[i : i + 1], qid[i : i + 1], self.lookup, self.k, rerank)
                times.append((time.perf_counter() - t) * 1e3)
            p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        self.cache[key] = TunePoint(nprobe, rerank, recall, p50, p99)
        return self.cache[key]


def _for_recall(point: _Probe, r: int, target: float) -> TunePoint:
    """The smallest nprobe reaching ``target`` at re-rank R (doubling, then bisection), timed."""
    lo, hi = 0, 1  # recall(lo) < target (0: none tried); hi: next to try
    while point(hi, r).recall < target and hi < point.nlist:
        if lo >= PLATEAU_FROM and point(hi, r).recall - point(lo, r).recall < PLATEAU:
            break  # more lists no longer help at this R
        lo, hi = hi, min(hi * 2, point.nlist)
    if point(hi, r).recall >= target:
        while hi - lo > 1:  # the smallest nprobe in (lo, hi] that reaches the target
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if point(mid, r).recall >= target else (mid, hi)
    return point(hi, r, True)


def _within(point: _Probe, r: int, max_ms: float) -> TunePoint:
    """The largest doubled nprobe whose p50 stays within ``max_ms`` at re-rank R (else nprobe 1)."""
    nprobe, best = 1, None
    while True:
        p = point(nprobe, r, True)
        if p.p50_ms > max_ms:
            break
        best = p
        if nprobe >= point.nlist:
            break
        nprobe = min(nprobe * 2, point.nlist)
    return best if best is not None else point(1, r, True)


def _choose(candidates: list[TunePoint], target_recall: float | None, max_ms: float | None) -> tuple[TunePoint, bool]:
    if target_recall is not None:
        ok = [c for c in candidates if c.recall >= target_recall]
        if ok:
            return min(ok, key=lambda c: (c.p50_ms, c.nprobe, c.rerank)), True
        return max(candidates, key=lambda c: c.recall), False
    ok = [c for c in candidates if c.p50_ms <= max_ms]
    if ok:
        return max(ok, key=lambda c: (c.recall, -c.p50_ms)), True
    return min(candidates, key=lambda c: c.p50_ms), False


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
    reranks: tuple[int, ...] = RERANKS,
    timed: int = 100,
    seed: int = 0,
) -> TuneResult:
    """Tune ``index`` (any FAISS index over the stored vectors; IVF: nprobe, lossy: re-rank);
    see the module docstring. ``chunks()`` yields the stored (ids, vectors) in a fixed order,
    ``n_stored`` of them; ``lookup(ids)`` returns their (n, D) vectors in the order asked.
    Leaves the index's nprobe at the chosen value.

    Raises:
        ValueError: a bad budget (:func:`check_budget`) or fewer than 2 stored vectors.
    """
    check_budget(target_recall, max_ms)
    if n_stored < 2:
        raise ValueError(f"need at least 2 stored vectors to measure recall, got {n_stored}")
    k = max(1, min(k, n_stored - 1))
    query_ids, queries = sample_queries(chunks, n_stored, n_queries, seed)
    t0 = time.perf_counter()
    truth = exact_neighbours(query_ids, queries, chunks, k)
    log.info("exact neighbours of %d sampled vectors: %.1f s", len(queries), time.perf_counter() - t0)

    point = _Probe(index, queries, query_ids, truth, lookup, k, timed)
    reranks = tuple(sorted(set(reranks))) if is_lossy(index) else (0,)
    if target_recall is not None:
        candidates = [_for_recall(point, r, target_recall) for r in reranks]
    else:
        candidates = [_within(point, r, max_ms) for r in reranks]
    chosen, ok = _choose(candidates, target_recall, max_ms)
    if point.ivf is not None:
        point.ivf.nprobe = chosen.nprobe
    tuning = SearchTuning(
        nprobe=chosen.nprobe if point.ivf is not None else 0,
        rerank=chosen.rerank,
        recall=chosen.recall,
        p50_ms=chosen.p50_ms,
        queries=len(queries),
        target_recall=target_recall,
        max_ms=max_ms,
    )
    log.info("tuned: %s%s", tuning.describe(), "" if ok else " (not reached)")
    return TuneResult(tuning, ok, tuple(point.cache.values()))
