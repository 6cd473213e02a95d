"""Proof that the loop learns: a tiny open_clip trained from scratch with TempMe on the synthetic
dataset must lower its loss and retrieve held-out test videos far above chance.

The longer version, with the mean-pooling baseline and the temporal-order subset, is
bench/synth_train.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from tempme.train.config import TrainConfig
from tempme.train.loop import train
from tempme.train.synth import SynthConfig, write_synth

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder


@pytest.fixture
def one_thread():
    """Tiny matrices: one thread is as fast and does not fight other processes for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tempme_learns_the_synthetic_dataset(tmp_path, one_thread):
    data = write_synth(tmp_path / "synth", SynthConfig(num_train=120, num_test_twins=0, num_test_single=20, seed=1))
    torch.manual_seed(0)
    enc = load_encoder("tempme-tiny", "none", device="cpu", config=TempMeConfig.preset("tempme-tiny"))
    cfg = TrainConfig(
        val_videos=10,
        epochs=6,
        batch_size=16,
        lr=1e-3,
        weight_decay=0.05,
        warmup_fraction=0.05,
        randaug="",
        trainable="all",
        num_workers=0,
        preload=True,
        evals_per_epoch=1,
        seed=0,
    )
    results = train(enc, data, tmp_path / "run", cfg, progress=False)

    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train_loss"] for r in log]  # mean loss of each epoch; chance level is ln(16) = 2.77
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0] and losses[1] < losses[0], losses
    test = results["final"]["test"]["t2v"]
    chance = 100.0 / test["num_queries"]  # 20 test videos: 5 %
    assert test["num_queries"] == 20
    assert test["r1"] >= 4 * chance, test  # measured: 40 %
    assert test["r5"] >= 60.0, test  # chance 25 %; measured: 100 %
