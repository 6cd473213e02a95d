"""What ``Library`` hands the ingest room: :class:`IngestTarget` (the library a run writes to),
and the library's query model kept fresh (:func:`library_query_model`).

A light module (no PyAV, no engines): opening a library for a search imports this, not
:mod:`.run` (issue 25: a cold search loads only what a text search needs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.ingest import encoders
from tempme.index.ingest.query_model import QUERY_MODEL_DIR, ensure_query_model
from tempme.index.vectors import VectorStore


@dataclass(frozen=True)
class IngestTarget:
    """The library a run writes to. ``cancel``: set to stop a run within a batch (what was
    committed is kept); ``dropped``: told the (N,) segment ids a run deletes (their thumbnails go);
    ``thumbnails``: stores the JPEGs an engine made for a video's new (S,) segment ids."""

    path: Path
    catalog: Catalog
    store: VectorStore
    cancel: threading.Event
    dropped: Callable[[np.ndarray], None]
    thumbnails: Callable[[np.ndarray, Sequence[bytes]], None] | None = None


def library_query_model(target: IngestTarget, encoder: object | None = None, verify: bool = False) -> str:
    """:func:`.query_model.ensure_query_model` for the library: ``encoder`` (its loaded encoder),
    else the recorded one, loaded only when an export is needed. Returns what happened."""

    def load():
        return encoder if encoder is not None else encoders.load_recorded(target.catalog, target.path)

    folder = target.path / QUERY_MODEL_DIR
    return ensure_query_model(folder, target.catalog.encoder_info(), load, verify=verify)
