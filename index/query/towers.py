"""Which text tower answers a library's text queries: its query model, or torch's.

- ``onnx``: the library's query model (``<library>/query_model/``, written at index time by
  :mod:`tempme.index.ingest.query_model`), when it is complete and *fresh* (its identity is the
  one of the encoder the catalog records: :meth:`EncoderInfo.query_identity`). Run by
  :class:`tempme.query_model.QueryModel` with numpy, onnxruntime and the tokenizers library: a
  cold process never imports torch, open_clip or transformers (docs/query.md).
- ``torch``: the library's encoder (``VideoEncoder.encode_text``), loaded from the record. Used
  when the query model is missing, stale or unreadable, with one warning that says why and how
  to make it (``tempme rebuild --query-model``); the vectors are the same within float rounding
  (cosine >= 1 - 1e-6, tests/test_query_model.py), so results do not depend on the path.

Threads: one count for both (:func:`set_search_threads`, set once by a search entry point).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.catalog import EncoderInfo
from tempme.index.settings import get_settings
from tempme.index.vectors import set_faiss_threads

log = logging.getLogger(__name__)

TextFn = Callable[[Sequence[str]], np.ndarray]  # texts (Q,) -> (Q, D) float32 unit rows
_threads: dict[str, int] = {}  # "text": the count set_search_threads chose (none: leave torch's own)


@dataclass(frozen=True)
class TextTower:
    """A loaded text tower: ``encode_many`` (texts (Q,) -> (Q, D)) and which ``backend`` runs it."""

    backend: str  # "onnx" or "torch"
    encode_many: TextFn


def open_query_model(folder: Path, info: EncoderInfo | None) -> TextTower:
    """The query model in ``folder`` for the encoder record ``info``, opened (no torch).

    Raises:
        tempme.query_model.QueryModelError: missing, stale, incomplete, corrupt or unreadable
            (``reason`` says which); also when the library has no encoder recorded.
    """
    from tempme.query_model import QueryModel, QueryModelError

    if info is None:
        raise QueryModelError(folder, "no encoder recorded (an empty library)")
    model = QueryModel(folder, info.query_identity(), threads=_threads.get("text", 1))
    log.debug("text queries: query model %s (%s)", folder, model.identity.arch)
    return TextTower("onnx", model.encode)


def torch_tower(encoder) -> TextTower:
    """``encoder.encode_text`` (a ``tempme.encoder.VideoEncoder``) under ``torch.inference_mode``."""
    import torch

    apply_search_threads()

    def encode_many(texts: Sequence[str]) -> np.ndarray:  # (Q,) -> (Q, D)
        with torch.inference_mode():
            return encoder.encode_text(list(texts)).float().cpu().numpy()

    return TextTower("torch", encode_many)


def open_text_tower(load_query_model: Callable[[], TextTower] | None, load_encoder: Callable[[], object]) -> TextTower:
    """The query model when ``load_query_model`` gives one, else the torch tower of
    ``load_encoder()`` (with a warning that says why, unless ``TEMPME_QUERY_MODEL=0``).

    Raises:
        Whatever ``load_encoder`` raises (LibraryError, tempme.weights.WeightsUnavailableError).
    """
    from tempme.query_model import QueryModelError

    if load_query_model is not None:
        try:
            return load_query_model()
        except QueryModelError as exc:
            level = logging.WARNING if get_settings().query_model else logging.DEBUG
            log.log(level, "%s: text queries load torch (`tempme rebuild --query-model` makes it)", exc)
    return torch_tower(load_encoder())


def set_search_threads(torch_threads: int | None = None, faiss_threads: int | None = None) -> None:
    """The thread counts of a search process, set once by its entry point (``tempme search``,
    ``tempme serve``): the text tower's (onnxruntime's, or torch's once torch is loaded: not
    imported here) and FAISS's (OpenMP); default the settings' (1 and 1). One query gains nothing
    from a team of threads: the text tower takes 57 ms on one thread against 1.2 s on two busy
    cores, FAISS 1.8 against 8 ms p50 for IVF at 1e5 vectors, a whole search 23 against 44 ms on
    2 shared cores."""
    settings = get_settings()
    _threads["text"] = max(1, torch_threads or settings.torch_threads)
    apply_search_threads()
    set_faiss_threads(faiss_threads or settings.faiss_threads)


def apply_search_threads() -> None:
    """Give torch the count :func:`set_search_threads` chose, if it chose one and torch is
    loaded (called where a search process loads a torch model)."""
    torch = sys.modules.get("torch")
    if torch is not None and "text" in _threads:
        torch.set_num_threads(_threads["text"])
