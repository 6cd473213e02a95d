"""Micro-batching of text queries: concurrent searches share one text-encoder forward pass.

While one batch is being encoded, new queries wait in a queue; the worker then takes all of
them (up to `max_batch`) in the next forward. No timer: a lone query is encoded at once, and
under load the batch grows by itself. On CPU one forward over Q queries costs much less than Q
forwards of one (the weights are read once), so throughput rises with concurrency.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

logger = logging.getLogger(__name__)


class TextBatcher:
    """Encode texts one call at a time from many threads, batched behind the scenes.

    Args:
        encode_many: texts (Q,) -> (Q, D) float32 array; called from one worker thread only.
        max_batch: most texts per forward pass.
    """

    def __init__(self, encode_many: Callable[[Sequence[str]], np.ndarray], max_batch: int = 32) -> None:
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
