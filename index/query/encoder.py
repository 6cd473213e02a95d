"""Text -> query vector: one implementation for the CLI and the page (micro-batched, cached).

:class:`QueryEncoder` encodes a query with the library's text tower. Concurrent queries share
one forward pass (:class:`TextBatcher`); the last ``cache_size`` queries are
kept in an LRU cache (``cachetools``), so "load more" and a repeated search do not encode
again. A library has one encoder for life, so cached vectors never go stale.

Micro-batching (:class:`TextBatcher`): while one batch is being encoded, new queries wait in a
queue; the worker then takes all of them (up to ``max_batch``) in the next forward. No timer: a
lone query is encoded at once, and under load the batch grows by itself. On CPU one forward over
Q queries costs much less than Q forwards of one (the weights are read once), so throughput
rises with concurrency.

Threads: the text tower runs on the torch threads the entry point set once
(:func:`set_search_threads`: ``tempme search`` and ``tempme serve`` use one, a 32-token sequence
gains nothing from a team of threads).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np
from cachetools import LRUCache
from tempme.index.settings import get_settings
from tempme.index.vectors import set_faiss_threads

log = logging.getLogger(__name__)


class TextBatcher:
    """Encode texts one call at a time from many threads, batched behind the scenes.

    Args:
        encode_many: texts (Q,) -> (Q, D) float32 array; called from one worker thread only.
        max_batch: most texts per forward pass (default: ``get_settings().query_batch``).
    """

    def __init__(self, encode_many: Callable[[Sequence[str]], np.ndarray], max_batch: int | None = None) -> None:
        max_batch = get_settings().query_batch if max_batch is None else max_batch
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._encode_many = encode_many
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[str, Future]] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="tempme-text-batcher", daemon=True)
        self._worker.start()
        self.batches: list[int] = []  # sizes of the last batches (for tests and logs)

    def encode(self, text: str) -> np.ndarray:
        """(D,) embedding of `text`. Raises whatever `encode_many` raised for its batch."""
        fut: Future = Future()
        self._queue.put((text, fut))
        return fut.result()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self.max_batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            texts = [t for t, _ in items]
            try:
                vecs = np.asarray(self._encode_many(texts), dtype=np.float32)
                if vecs.shape[0] != len(texts):
                    raise RuntimeError(f"encoder returned {vecs.shape[0]} vectors for {len(texts)} texts")
            except BaseException as e:  # every waiting caller gets the error, the worker lives on
                for _, fut in items:
                    fut.set_exception(e)
                continue
            self.batches = (self.batches + [len(texts)])[-100:]
            for i, (_, fut) in enumerate(items):
                fut.set_result(vecs[i])


class QueryEncoder:
    """``encode(text) -> (D,)`` float32 unit vector.

    Args:
        load_encoder: returns the library's ``tempme.encoder.VideoEncoder``; called once, by the
            first query, in the caller's thread (so that its errors reach that caller).
        cache_size: queries kept (default: ``get_settings().query_cache``).
        max_batch: most queries per text-tower forward (default: ``get_settings().query_batch``).
    """

    def __init__(
        self, load_encoder: Callable[[], object], cache_size: int | None = None, max_batch: int | None = None
    ) -> None:
        settings = get_settings()
        cache_size = cache_size or settings.query_cache
        self._load_encoder = load_encoder
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._batcher: TextBatcher | None = None
        self._encode_many: Callable[[Sequence[str]], np.ndarray] | None = None
        self.max_batch = max_batch or settings.query_batch

    def _start(self) -> TextBatcher:
        with self._start_lock:
            if self._batcher is None:
                import torch  # here, not at import: `tempme stats` never loads it

                encoder = self._load_encoder()

                def encode_many(texts: Sequence[str]) -> np.ndarray:  # (Q,) -> (Q, D)
                    with torch.inference_mode():
                        return encoder.encode_text(list(texts)).float().cpu().numpy()

                self._batcher = TextBatcher(encode_many, max_batch=self.max_batch)
                self._encode_many = encode_many
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

    def encode_many(self, texts: Sequence[str]) -> np.ndarray:
        """(Q, D) embeddings of ``texts`` in one forward pass, in the caller's thread, not cached
        (e.g. the 999 prompts of the confidence null, :mod:`tempme.index.nulls`)."""
        self._start()
        return np.asarray(self._encode_many(list(texts)), dtype=np.float32)

    @property
    def batches(self) -> list[int]:
        """Sizes of the last text-tower batches (for logs and tests)."""
        return list(self._batcher.batches) if self._batcher is not None else []


def set_search_threads(torch_threads: int | None = None, faiss_threads: int | None = None) -> None:
    """The thread counts of a search process, set once by its entry point (``tempme search``,
    ``tempme serve``): torch's (the text tower) and FAISS's (OpenMP); default the settings' (1
    and 1). One query gains nothing from a team of threads: the text tower takes 57 ms on one
    thread against 1.2 s on two busy cores, FAISS 1.8 against 8 ms p50 for IVF at 1e5 vectors,
    a whole search 23 against 44 ms on 2 shared cores."""
    import torch  # here, not at import: `tempme stats` never loads it

    settings = get_settings()
    torch.set_num_threads(max(1, torch_threads or settings.torch_threads))
    set_faiss_threads(faiss_threads or settings.faiss_threads)
