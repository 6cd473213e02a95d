"""FAISS's OpenMP thread count: chosen once per process by its entry point, applied in every
thread that searches.

OpenMP keeps the count per thread: ``omp_set_num_threads`` in the main thread leaves every other
thread at OpenMP's default (all cores). `tempme serve` searches in a thread pool (its route
functions run in AnyIO's worker threads), so its searches ran FAISS with a team of threads that
each query paid for (measured, flat index of 3 vectors on 2 busy cores: the vector stage 0.09 ms
in the main thread, 5.7 ms in a pool thread, 2.4x the CPU per search). :func:`set_faiss_threads`
records the count; :func:`faiss_threads_here` (called by ``VectorIndex.search``) applies it in
the calling thread once.
"""

from __future__ import annotations

import threading

import faiss

_chosen: list[int] = []  # the count the entry point chose (empty: none, OpenMP's own)
_applied = threading.local()


def set_faiss_threads(threads: int) -> None:
    """FAISS's OpenMP threads for this process, in this thread now and in any other thread at its
    next search (a search process sets 1: one query vector at a time gains nothing from a team)."""
    _chosen[:] = [max(1, int(threads))]
    faiss_threads_here()


def faiss_threads_here() -> None:
    """Apply the count :func:`set_faiss_threads` chose in the calling thread (once per thread; a
    no-op when none was chosen)."""
    if _chosen and getattr(_applied, "threads", None) != _chosen[0]:
        faiss.omp_set_num_threads(_chosen[0])
        _applied.threads = _chosen[0]
