"""The library tunes its own index: the smallest nprobe / re-rank depth that reaches a recall,
measured on its own stored vectors, or the best recall within a latency budget.

:func:`tune` is a pure function over a FAISS index and the stored vectors it was built from
(nothing is written): it samples ``n_queries`` stored vectors as queries and measures recall@k
at settings (nprobe, R): R x k candidates re-scored exactly with the stored vectors (R = 0: the
index's own ranking; only lossy indexes are re-ranked).

What a query leaves out (:func:`own_video_ids`): a stored vector used as a query stands for a *new*
query (a text, an image, a clip from elsewhere), whose neighbours are other videos. Its own
video's segments are near-duplicates of it, in its own IVF list: counted, they let a small
nprobe look good (the 10^5 benchmark's tuned nprobe 8 reached 0.958 on stored vectors and 0.871
on new videos; docs/scale.md). So, given ``videos`` (the catalog's segment -> video mapping),
every segment of the query's own video is left out of both its exact truth and its approximate
result, as if that video were not in the library: the approximate search asks for k (or R x k)
more results per left-out segment and drops them, which for an IVF index is exactly the search of
the index without them (the same lists are probed; the rest keep their order). Without
``videos``, or for a video holding all but fewer than k of the library's segments, a query
leaves out only itself. The exact top-k over what is left comes from bounded chunks
(:func:`exact_neighbours`: one chunk and a (Q, k) heap in memory).

- ``target_recall``: for each R, nprobe doubles from 1 until recall@k reaches the target (or
  stops improving by :data:`PLATEAU` per doubling: then the codes, not the lists, limit it) and
  a bisection finds the smallest nprobe that reaches it; among the R that reach it, the lowest
  measured p50 wins. None reaching it: the best recall measured (``reached`` False).
- ``max_ms``: for each R, nprobe doubles while the p50 stays within the budget; the best recall
  within it wins (ties: the lower p50). None within it: the fastest setting measured.

Recall is measured with batched searches; latency (p50/p99) with ``timed`` single queries
searched as the app searches (batch 1, top k or R x k re-ranked, nothing left out) in this
process, with the OpenMP threads it has. bench/scale_tune.py runs it on the scale benchmark's
libraries; docs/scale.md has the measurements. The same idea as autofaiss's ``tune_index`` (a
latency budget picks the index's search parameters), here on the library's own vectors and with
exact re-ranking in the loop.
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
# (Q,) segment ids -> every segment of the videos holding them: ((M,) segment ids, (M,) their video ids)
Videos = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


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


def own_video_ids(query_ids: np.ndarray, videos: Videos | None, n_stored: int, k: int) -> list[np.ndarray]:
    """Per query, the (m,) ids left out of its truth and its result (module docstring): every
    segment of its own video (``videos`` given and at least ``k`` segments outside that video),
    else only the query itself."""
    query_ids = np.asarray(query_ids, dtype=np.int64)
    own = [query_ids[i : i + 1] for i in range(len(query_ids))]
    if videos is None or not len(query_ids):
        return own
    seg, vid = (np.asarray(a, dtype=np.int64) for a in videos(query_ids))
    by_video = np.argsort(vid, kind="stable")
    seg_sorted, vid_sorted = seg[by_video], vid[by_video]
    order = np.argsort(seg, kind="stable")
    pos = np.minimum(np.searchsorted(seg, query_ids, sorter=order), max(len(seg) - 1, 0))
    for i, qid in enumerate(query_ids):
        if not len(seg) or seg[order[pos[i]]] != qid:
            continue  # the mapping does not know it: only itself
        v = vid[order[pos[i]]]
        mates = seg_sorted[np.searchsorted(vid_sorted, v) : np.searchsorted(vid_sorted, v, side="right")]
        if n_stored - len(mates) >= k:
            own[i] = np.sort(mates)
    return own


def exact_neighbours(
    query_ids: np.ndarray, queries: np.ndarray, chunks: Chunks, k: int, leave_out: list[np.ndarray] | None = None
) -> np.ndarray:
    """(Q, k) ids of the exact top-k by inner product among all stored vectors but those each
    query leaves out (``leave_out[i]``, default its own id; -1 where fewer), scanning the stored
    vectors one chunk at a time."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if leave_out is None:
        leave_out = [np.asarray(query_ids, dtype=np.int64)[i : i + 1] for i in range(len(q))]
    out_rows = np.repeat(np.arange(len(q)), [len(o) for o in leave_out])  # (E,) query row of each left-out id
    out_ids = np.concatenate(leave_out).astype(np.int64) if len(leave_out) else np.zeros(0, np.int64)
    heap = faiss.ResultHeap(len(q), k, keep_max=True)
    for ids, vecs in chunks():
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            continue
        scores = q @ np.ascontiguousarray(vecs, dtype=np.float32).T  # (Q, n)
        order = np.argsort(ids, kind="stable")
        pos = order[np.minimum(np.searchsorted(ids, out_ids, sorter=order), len(ids) - 1)]
        hit = ids[pos] == out_ids
        scores[out_rows[hit], pos[hit]] = -np.inf  # left out: never above a stored vector
        heap.add_result(np.ascontiguousarray(scores), np.ascontiguousarray(np.broadcast_to(ids, scores.shape)))
    heap.finalize()
    return np.where(np.isneginf(heap.D) | (heap.I < 0), -1, heap.I).astype(np.int64)


def _search(index: faiss.Index, queries: np.ndarray, lookup: Lookup, k: int, rerank: int, leave_out=None):
    """(Q, k) ids: the index's top k (or R x k, re-ranked exactly with one ``lookup`` of every
    candidate). ``leave_out[i]``: ids dropped from query i's candidates, which asks for as many
    more (rounded up to a power of two, one batch per size), so they are the index's next ones."""
    depth = max(k, rerank * k)
    extra = np.array([len(o) for o in leave_out]) if leave_out is not None else np.zeros(len(queries), int)
    size = np.array([0 if e == 0 else 1 << int(e - 1).bit_length() for e in extra])  # 1, 2, 4, 8, ...
    cand = np.full((len(queries), depth), -1, np.int64)
    for s in np.unique(size):
        rows = np.flatnonzero(size == s)
        _, found = index.search(queries[rows], min(depth + int(s), max(index.ntotal, 1)))
        for row, c in zip(rows, found):
            c = c[c >= 0]
            if leave_out is not None:
                c = c[~np.isin(c, leave_out[row])]
            cand[row, : min(len(c), depth)] = c[:depth]
    if rerank:
        wanted = np.unique(cand[cand >= 0])
        vecs = lookup(wanted) if len(wanted) else np.zeros((0, queries.shape[1]), np.float32)
        _, top = exact_rerank(queries, cand, lambda ids: (wanted, vecs), k)
        return top
    return cand[:, :k]


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

    def __init__(self, index, queries, leave_out, truth, lookup: Lookup, k: int, timed: int) -> None:
        self.index, self.queries, self.leave_out, self.truth = index, queries, leave_out, truth
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
        q = self.queries
        recall = _recall(_search(self.index, q, self.lookup, self.k, rerank, self.leave_out), self.truth)
        p50 = p99 = None
        if timed_too:
            times = []
            for i in range(min(self.timed, len(q))):
                t = time.perf_counter()
                _search(self.index, q[i : i + 1], self.lookup, self.k, rerank)  # as the app searches
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
    videos: Videos | None = None,
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
    ``n_stored`` of them; ``lookup(ids)`` returns their (n, D) vectors in the order asked;
    ``videos`` (:data:`Videos`) maps segments to videos, so that each query leaves its own video
    out (:func:`own_video_ids`; None: only itself). Leaves the index's nprobe at the chosen value.

    Raises:
        ValueError: a bad budget (:func:`check_budget`) or fewer than 2 stored vectors.
    """
    check_budget(target_recall, max_ms)
    if n_stored < 2:
        raise ValueError(f"need at least 2 stored vectors to measure recall, got {n_stored}")
    k = max(1, min(k, n_stored - 1))
    query_ids, queries = sample_queries(chunks, n_stored, n_queries, seed)
    leave_out = own_video_ids(query_ids, videos, n_stored, k)
    log.info("%d sampled vectors as queries, leaving out %d stored vectors (%s)", len(queries),
             sum(len(o) for o in leave_out), "their own videos" if videos is not None else "themselves")  # fmt: skip
    t0 = time.perf_counter()
    truth = exact_neighbours(query_ids, queries, chunks, k, leave_out)
    log.info("exact neighbours of %d sampled vectors: %.1f s", len(queries), time.perf_counter() - t0)

    point = _Probe(index, queries, leave_out, truth, lookup, k, timed)
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
