"""Micro-batched text encoding: the same vectors as one-by-one encoding, real batching under
concurrency, errors reach every waiting caller."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from tempme.index.query import TextBatcher


def _slow_embed(texts):
    time.sleep(0.05)  # one "forward pass"
    return np.stack([np.array([len(t), sum(map(ord, t)) % 97, 1.0], np.float32) for t in texts])


def test_concurrent_calls_batched_and_exact():
    b = TextBatcher(_slow_embed, max_batch=8)
    texts = [f"query number {i}" for i in range(24)]
    out: dict[int, np.ndarray] = {}

    def call(i):
        out[i] = b.encode(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(out[i], _slow_embed([text])[0])
    assert sum(b.batches) == 24 and max(b.batches) > 1 and max(b.batches) <= 8


def test_errors_reach_callers_and_worker_survives():
    calls = []

    def flaky(texts):
        calls.append(list(texts))
        if "bad" in texts:
            raise ValueError("encoder exploded")
        return _slow_embed(texts)

    b = TextBatcher(flaky)
    with pytest.raises(ValueError, match="exploded"):
        b.encode("bad")
    np.testing.assert_array_equal(b.encode("good"), _slow_embed(["good"])[0])


def test_real_text_tower_batched_equals_single():
    """With the tiny open_clip text tower: batched rows equal one-by-one encodings."""
    import torch

    from tempme.encoder import load_encoder

    torch.manual_seed(0)
    enc = load_encoder(model="tempme-tiny", pretrained="none")

    def encode_many(texts):
        with torch.inference_mode():
            return enc.encode_text(list(texts)).float().numpy()

    b = TextBatcher(encode_many)
    texts = ["a dog in a red tub", "two men shaking hands", "a cartoon rabbit"]
    results = [None] * 3

    def call(i):
        results[i] = b.encode(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for text, got in zip(texts, results):
        np.testing.assert_allclose(got, encode_many([text])[0], atol=1e-5)
