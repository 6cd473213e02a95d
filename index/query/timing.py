"""Where a search spends its time, by stage: ``encode`` (the text tower), ``vector`` (FAISS)
and ``catalog`` (SQL: segment rows, full text). A caller that wants the split wraps the search
in :func:`search_timings` and reads the seconds per stage afterwards; the stages add to it in
the calling thread (a ``contextvars`` collector, so concurrent searches do not mix). Costs
nothing measurable when nobody collects (two ``perf_counter`` calls per stage)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

STAGES = ("encode", "vector", "catalog")
_collector: ContextVar[dict[str, float] | None] = ContextVar("tempme_search_timings", default=None)


@contextmanager
def search_timings() -> Iterator[dict[str, float]]:
    """Collect the seconds spent per stage (a dict of :data:`STAGES` -> seconds) by the searches
    run inside the ``with`` block, in this thread."""
    spent = dict.fromkeys(STAGES, 0.0)
    token = _collector.set(spent)
    try:
        yield spent
    finally:
        _collector.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the time inside the block to stage ``name`` of the current collector (if any)."""
    spent = _collector.get()
    if spent is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
