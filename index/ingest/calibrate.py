"""Calibrate a library's confidence at index time: compute its nulls (:mod:`tempme.index.nulls`)
and store them in the catalog, when it has none yet, when they are stale (the library grew or
shrank by :data:`~tempme.index.nulls.GROWTH` since) or after a re-encode.

Called by ``add`` (after the run, with the encoder it used) and ``reindex`` (with the new
encoder). It costs 999 text-tower passes (cached per encoder for the process) and 999 + 999
vector searches; a failure is logged and never loses the run (searches then compute the nulls
themselves, :mod:`tempme.index.query.calibration`).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tempme.index.catalog import Catalog, EncoderInfo, NullRecord
from tempme.index.errors import StorageError
from tempme.index.nulls import LibraryView, compute_nulls, fresh, from_records, prompt_vectors
from tempme.index.vectors import VectorStore

log = logging.getLogger(__name__)


def encode_texts(encoder, texts: list[str]) -> np.ndarray:
    """(Q, D) text embeddings by a loaded ``tempme.encoder.VideoEncoder``."""
    import torch

    with torch.inference_mode():
        return encoder.encode_text(list(texts)).float().cpu().numpy()


def calibrate(catalog: Catalog, store: VectorStore, encoder, force: bool = False) -> bool:
    """Compute and store the nulls of the library of ``catalog`` and ``store`` (encoded by
    ``encoder``) when missing or stale (always with ``force``). Returns True when it stored them."""
    segments = store.ntotal
    if not segments or (not force and fresh(from_records(catalog.score_nulls()), segments)):
        return False
    t0 = time.perf_counter()
    try:
        vecs = prompt_vectors(lambda texts: encode_texts(encoder, texts), str(EncoderInfo.of(encoder).identity()))
        view = LibraryView(segments, store.search, catalog.segment_sample, catalog.video_ids)
        nulls = compute_nulls(view, vecs)
        catalog.record_score_nulls([NullRecord(n.kind, n.to_bytes(), n.segments, n.version) for n in nulls.values()])
    except (StorageError, RuntimeError, ValueError) as exc:
        log.warning("could not calibrate confidence (%s); searches will compute it", exc)
        return False
    log.info("calibrated confidence for %d segments in %.1f s", segments, time.perf_counter() - t0)
    return True
