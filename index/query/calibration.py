"""The nulls a search judges its hits against (:mod:`tempme.index.nulls`), kept per library.

The catalog stores them (computed at index time by ``tempme.index.ingest.calibrate``);
:class:`NullCache` reads them once and again only when the library has grown or shrunk past
:data:`~tempme.index.nulls.GROWTH`. A library indexed before confidence existed, or changed by a
process that did not calibrate (``remove``), has none or a stale one: then they are computed here,
once per process, in memory (999 text-tower passes: seconds on a CPU for ViT-B/32), and the next
``tempme index`` stores them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tempme.index.nulls import LibraryView, NullDistribution, compute_nulls, fresh, from_records, prompt_vectors

log = logging.getLogger(__name__)


class Searchable(Protocol):
    """What a null is read or computed from (``tempme.index.query.router.Searchable`` has it):
    the library's folder, catalog, vector store and query encoder getter."""

    path: Path
    catalog: object  # Catalog: score_nulls(), encoder_info(), segment_sample, video_ids
    store: object  # VectorStore: ntotal, search
    query: Callable[[], object]  # the QueryEncoder now (renewed on a new encoder)


class NullCache:
    """``get(src, kind)``: the library's null of ``kind`` (``text`` / ``video``), or None while
    it has no vectors. Thread-safe; reads (or computes) again when the library has grown or
    shrunk past GROWTH, or was re-encoded (a new query encoder)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nulls: dict[str, NullDistribution] = {}
        self._encoder: object | None = None  # the QueryEncoder they were read for

    def get(self, src: Searchable, kind: str) -> NullDistribution | None:
        segments = src.store.ntotal
        if not segments:
            return None
        with self._lock:
            if not fresh(self._nulls, segments) or src.query() is not self._encoder:
                self._nulls, self._encoder = self._load(src, segments), src.query()
            return self._nulls.get(kind)

    @staticmethod
    def _load(src: Searchable, segments: int) -> dict[str, NullDistribution]:
        stored = from_records(src.catalog.score_nulls())
        if fresh(stored, segments):
            return stored
        t0 = time.perf_counter()
        info = src.catalog.encoder_info()
        encoder = src.query()
        view = LibraryView(segments, src.store.search, src.catalog.segment_sample, src.catalog.video_ids)
        nulls = compute_nulls(view, prompt_vectors(encoder.encode_many, None if info is None else str(info.identity())))
        log.info(
            "%s: no up-to-date confidence calibration stored; computed it here in %.1f s (the next "
            "`tempme index` stores it)", src.path, time.perf_counter() - t0,
        )  # fmt: skip
        return nulls
