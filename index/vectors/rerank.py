"""Exact re-ranking of a lossy index's candidates with exact vectors (the catalog's float32 copies)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rerank(
    queries: np.ndarray,
    candidates: np.ndarray,
    lookup: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact re-ranking: (Q, D) queries and (Q, K') candidate ids (-1: none) from a lossy index
    -> scores (Q, k) float32 (exact inner products), ids (Q, k) int64 (-1 / -inf where fewer).

    ``lookup(ids)`` returns ``(ids', vectors)`` for the unique ids asked (any order; ids it does
    not know are left out, e.g. removed meanwhile): the catalog's stored float32 vectors, or any
    other exact copy. Ties keep the candidates' order (stable sort).
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    candidates = np.asarray(candidates, dtype=np.int64)
    q = len(queries)
    out_s = np.full((q, k), -np.inf, np.float32)
    out_i = np.full((q, k), -1, np.int64)
    wanted = np.unique(candidates[candidates >= 0])
    if not len(wanted):
        return out_s, out_i
    known, vecs = lookup(wanted)
    known = np.asarray(known, dtype=np.int64)
    order = np.argsort(known, kind="stable")
    known, vecs = known[order], np.asarray(vecs, dtype=np.float32)[order]
    for row in range(q):
        cand = candidates[row][candidates[row] >= 0]
        pos = np.searchsorted(known, cand)
        pos = np.minimum(pos, len(known) - 1)
        ok = known[pos] == cand
        cand, pos = cand[ok], pos[ok]
        exact = vecs[pos] @ queries[row]  # (K',)
        top = np.argsort(-exact, kind="stable")[:k]
        out_s[row, : len(top)] = exact[top]
        out_i[row, : len(top)] = cand[top]
    return out_s, out_i
