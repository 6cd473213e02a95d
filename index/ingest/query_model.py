"""The library's query model: its encoder's text tower exported for queries without torch.

A library keeps, beside its vectors, the text tower of the encoder recorded in its catalog as
an ONNX *query model* (:func:`tempme.query_export.export_query_model`; layout, identity and
staleness rule in docs/query.md). :func:`ensure_query_model` writes it where torch is loaded
anyway: after ``Library.add`` encoded videos (or on an existing library whose model is
missing or stale), after a reindex switched encoders, and for ``tempme rebuild --query-model``.
A reindex exports the new encoder's into its staging folder and moves it in with the switch.
Searches read it with :mod:`tempme.index.query.towers`; without a fresh one they use the torch
text tower, so a failed export costs speed, never results: it is logged and reported, not raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from tempme.index.catalog import EncoderInfo

log = logging.getLogger(__name__)

QUERY_MODEL_DIR = "query_model"  # <library>/query_model/: the one place the folder is named


def library_state(folder: Path, info: EncoderInfo | None, verify: bool = False) -> str:
    """``"fresh"`` when ``folder`` holds the text tower of the encoder ``info`` records, else why
    not (:func:`tempme.query_model.query_model_state`; ``"no encoder recorded"``). No torch."""
    from tempme.query_model import query_model_state

    return "no encoder recorded" if info is None else query_model_state(folder, info.query_identity(), verify)


def ensure_query_model(
    folder: Path, info: EncoderInfo | None, load_encoder: Callable[[], object], *, verify: bool = False
) -> str:
    """Export the text tower of ``encoder`` to ``folder`` unless the query model there is fresh
    for the record ``info``; returns what happened, for reports: ``"fresh"``, ``"exported in
    12.3 s"``, ``"failed: <why>"`` or ``"no encoder recorded"``.

    Args:
        folder: the library's query-model folder (``Library.query_model_dir``).
        info: the library's encoder record (the catalog's, after ``bind``).
        load_encoder: returns the library's ``tempme.encoder.VideoEncoder`` (the one in memory,
            or loaded from the record); called only when an export is needed.
        verify: check the sha256 of an existing model's files before calling it fresh.

    Never raises for an export that fails (the torch path still answers queries): the reason is
    logged as a warning and returned.
    """
    state = library_state(folder, info, verify=verify)
    if state in ("fresh", "no encoder recorded"):
        return state
    log.info("query model of %s: %s; exporting the text tower", folder.parent, state)
    t0 = time.perf_counter()
    try:
        from tempme.query_export import export_query_model

        model = load_encoder()
        if EncoderInfo.of(model) != info:
            return _failed(folder, f"the encoder given is {EncoderInfo.of(model).describe()}, not {info.describe()}")
        export_query_model(model, folder)
        state = library_state(folder, info)
        if state != "fresh":  # the export's own identity differs from the record's: never use it
            return _failed(folder, f"the exported model is {state}")
    except Exception as exc:  # export is an optimisation: any failure leaves the torch path
        return _failed(folder, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - t0
    log.info("query model of %s exported in %.1f s", folder.parent, seconds)
    return f"exported in {seconds:.1f} s"


def _failed(folder: Path, why: str) -> str:
    log.warning(
        "could not export the query model to %s (%s): text queries load torch instead; "
        "`tempme rebuild --query-model` tries again",
        folder,
        why,
    )
    return f"failed: {why}"
