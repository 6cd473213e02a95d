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

The text tower is the library's query model (ONNX, no torch) when it is fresh, else the torch
encoder (:mod:`.towers`); threads: the count the entry point set once
(:func:`.towers.set_search_threads`: ``tempme search`` and ``tempme serve`` use one, a 32-token
sequence gains nothing from a team of threads).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from cachetools import LRUCache
from tempme.index.catalog import EncoderInfo
from tempme.index.query.towers import TextTower, open_query_model, open_text_tower
from tempme.index.settings import get_settings

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
            first query, in the caller's thread (so that its errors reach that caller), unless
            ``load_query_model`` gives a tower.
        cache_size: queries kept (default: ``get_settings().query_cache``).
        max_batch: most queries per text-tower forward (default: ``get_settings().query_batch``).
        load_query_model: opens the library's query model (:func:`.towers.open_query_model`),
            raising ``QueryModelError`` when it is missing or stale; None: torch only.

    ``backend`` is None until the first query, then ``"onnx"`` or ``"torch"``.
    """

    def __init__(
        self,
        load_encoder: Callable[[], object],
        cache_size: int | None = None,
        max_batch: int | None = None,
        *,
        load_query_model: Callable[[], TextTower] | None = None,
    ) -> None:
        settings = get_settings()
        cache_size = cache_size or settings.query_cache
        self._load_encoder = load_encoder
        self._load_query_model = load_query_model
        self.backend: str | None = None
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._batcher: TextBatcher | None = None
        self._encode_many: Callable[[Sequence[str]], np.ndarray] | None = None
        self.max_batch = max_batch or settings.query_batch

    def _start(self) -> TextBatcher:
        with self._start_lock:
            if self._batcher is None:
                tower = open_text_tower(self._load_query_model, self._load_encoder)
                self._batcher = TextBatcher(tower.encode_many, max_batch=self.max_batch)
                self._encode_many = tower.encode_many
                self.backend = tower.backend
            return self._batcher

    def encode(self, text: str) -> np.ndarray:
        """(D,) embedding of ``text`` (whitespace-stripped).

        Raises:
            ValueError: empty query. Whatever loading the encoder raises (LibraryError,
            tempme.weights.WeightsUnavailableError) when the query model is not used.
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


class TextQueries:
    """A library's text side: a :class:`QueryEncoder` over its query model in ``folder``
    (or the torch tower of ``load_encoder()``), renewed when the recorded encoder changes.

    Args:
        folder: the library's query-model folder.
        record: the catalog's encoder record now (``Catalog.encoder_info``).
        load_encoder: the library's ``VideoEncoder`` (used only without a fresh query model).
    """

    def __init__(self, folder: Path, record: Callable[[], EncoderInfo | None], load_encoder: Callable[[], object]):
        self.folder, self.record, self.load_encoder = Path(folder), record, load_encoder
        self.query, self.info = self.renew(record())

    def renew(self, info: EncoderInfo | None):
        """A fresh :class:`QueryEncoder` (cache empty, tower loaded on its first query) for ``info``."""
        self.query = QueryEncoder(
            self.load_encoder, load_query_model=lambda: open_query_model(self.folder, self.record())
        )
        self.info = info
        return self.query, info

    def in_use(self) -> EncoderInfo | None:
        """The record the text side serves: the one it was made for (no catalog query), or, made
        before the first video, the record once there is one (read until then). A reindex here or
        in another process renews the side (`renew`, `changed` at the library's refresh)."""
        if self.info is None:
            self.info = self.record()  # its query encoder reads the record when it loads: the same one
        return self.info

    def changed(self, info: EncoderInfo | None) -> bool:
        """Renew when ``info`` (the record now) is not the one this side was made for; True then."""
        if info == self.info:
            return False
        self.renew(info)
        return True

    def encode(self, text: str) -> np.ndarray:
        """(D,) unit vector of ``text`` (:meth:`QueryEncoder.encode`)."""
        return self.query.encode(text)

    @property
    def backend(self) -> str | None:
        """``"onnx"`` or ``"torch"`` once the first query loaded a tower; None before."""
        return self.query.backend

    def state(self, verify: bool = False) -> str:
        """``"fresh"``, or why text queries would load torch (``"missing (...)"``, ``"stale: ..."``,
        ``"no encoder recorded"``); ``verify`` hashes every file. No torch."""
        from tempme.query_model import query_model_state

        info = self.record()
        return "no encoder recorded" if info is None else query_model_state(self.folder, info.query_identity(), verify)

    def ready(self) -> bool:
        """True when a text query needs no torch model loaded first: a tower is loaded, or the
        query model is fresh for the record."""
        return self.backend is not None or self.state() == "fresh"
