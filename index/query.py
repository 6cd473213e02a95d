"""Text -> query vector: one implementation for the CLI and the page (micro-batched, cached).

:class:`QueryEncoder` encodes a query with the library's text tower. Concurrent queries share
one forward pass (:class:`index.textbatch.TextBatcher`); the last ``cache_size`` queries are
kept in an LRU cache (``cachetools``), so "load more" and a repeated search do not encode
again. A library has one encoder for life, so cached vectors never go stale.

Threads: the text tower runs on the torch threads the entry point set (``tempme search`` and
``tempme serve`` use one: a 32-token sequence gains nothing from a team of threads).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np
from cachetools import LRUCache
from tempme.index.textbatch import TextBatcher

log = logging.getLogger(__name__)

QUERY_CACHE = 256  # text embeddings kept per library


class QueryEncoder:
    """``encode(text) -> (D,)`` float32 unit vector.

    Args:
        load_encoder: returns the library's ``tempme.encoder.VideoEncoder``; called once, by the
            first query, in the caller's thread (so that its errors reach that caller).
        cache_size: queries kept.
        max_batch: most queries per text-tower forward.
    """

    def __init__(self, load_encoder: Callable[[], object], cache_size: int = QUERY_CACHE, max_batch: int = 32) -> None:
        self._load_encoder = load_encoder
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._batcher: TextBatcher | None = None
        self.max_batch = max_batch

    def _start(self) -> TextBatcher:
        with self._start_lock:
            if self._batcher is None:
                import torch  # here, not at import: `tempme stats` never loads it

                encoder = self._load_encoder()

                def encode_many(texts: Sequence[str]) -> np.ndarray:  # (Q,) -> (Q, D)
                    with torch.inference_mode():
                        return encoder.encode_text(list(texts)).float().cpu().numpy()

                self._batcher = TextBatcher(encode_many, max_batch=self.max_batch)
            return self._batcher

    def encode(self, text: str) -> np.ndarray:
        """(D,) embedding of ``text`` (whitespace-stripped).

        Raises:
            ValueError: empty query. Whatever loading the encoder raises (LibraryError,
            tempme.weights.WeightsUnavailableError).
        """
        if not text or not text.strip():
            raise ValueError("empty query")
        text = text.strip()
        with self._cache_lock:
            vec = self._cache.get(text)
        if vec is None:
            vec = self._start().encode(text)
            with self._cache_lock:
                self._cache[text] = vec
        return vec

    @property
    def batches(self) -> list[int]:
        """Sizes of the last text-tower batches (for logs and tests)."""
        return list(self._batcher.batches) if self._batcher is not None else []
