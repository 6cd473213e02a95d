"""The training loop's parts against references: exact gradient accumulation, schedule, resume,
checkpoints that load back, and missing videos stopping the run before training."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
import torch

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder
from tempme.train import loop
from tempme.train.config import TrainConfig
from tempme.train.loop import _lr_lambda, clip_loss, contrastive_step, train
from tempme.train.msrvtt import MissingVideosError
from tempme.train.synth import SynthConfig, write_synth

TINY = dict(batch_size=8, val_videos=2, epochs=1, randaug="", num_workers=0, weight_decay=0.0, test=False)


def tiny_encoder(seed: int = 0, **config):
    torch.manual_seed(seed)
    return load_encoder("tempme-tiny", "none", device="cpu", config=TempMeConfig.preset("tempme-tiny", **config))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synth(tmp_path_factory.mktemp("synth"), SynthConfig(num_train=12, num_test_twins=2, num_test_single=1))


def test_clip_loss_matches_manual_infonce():
    g = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    logits = 10.0 * t @ v.T
    manual = -(logits.log_softmax(1).diag().mean() + logits.log_softmax(0).diag().mean()) / 2
    assert clip_loss(v, t, 10.0).item() == pytest.approx(manual.item(), rel=1e-6)
    assert clip_loss(v, v, 1000.0).item() < 1e-3


def test_gradient_caching_equals_one_big_batch():
    enc = tiny_encoder()
    for p in enc.model.parameters():
        p.requires_grad_(True)
    enc.model.logit_scale.requires_grad_(False)
    clips = torch.randn(6, 12, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    captions = [f"a {c} circle moves along the top" for c in ("red", "green", "blue", "yellow", "pink", "grey")]
    grads = []
    for micro in (6, 4, 1):
        enc.model.zero_grad(set_to_none=True)
        loss = contrastive_step(enc, clips, captions, micro, contextlib.nullcontext)
        grads.append((loss, {n: p.grad.clone() for n, p in enc.model.named_parameters() if p.grad is not None}))
    (ref_loss, ref), others = grads[0], grads[1:]
    assert len(ref) > 50
    for loss, g in others:
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        assert g.keys() == ref.keys()
        for name in ref:
            torch.testing.assert_close(g[name], ref[name], rtol=1e-3, atol=1e-6, msg=name)


def test_warmup_then_cosine():
    f = _lr_lambda(total_steps=110, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5)
    assert f(110) == pytest.approx(0.0, abs=1e-12)
    assert all(f(s) >= f(s + 1) for s in range(10, 110))
    assert f(35) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))


def test_config_validation_and_json(tmp_path):
    cfg = TrainConfig(batch_size=128, micro_batch_size=48)
    assert cfg.accumulation_steps == 3
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    assert TrainConfig().lr == 6e-4 and TrainConfig().weight_decay == 0.2 and TrainConfig().eps == 1e-6
    with pytest.raises(ValueError, match="micro_batch_size must be in \\[1, batch_size=8\\], got 9"):
        TrainConfig(batch_size=8, micro_batch_size=9)
    with pytest.raises(ValueError, match="warmup_fraction"):
        TrainConfig(warmup_fraction=1.5)
    with pytest.raises(ValueError, match="not a timm RandAugment"):
        TrainConfig(randaug="rand-q5")
    with pytest.raises(ValueError, match="unknown TrainConfig fields: \\['lrr'\\]"):
        TrainConfig.from_dict({"lrr": 1})


def test_missing_videos_stop_before_training(synth, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("MSRVTT_data.json", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv"):
        (data / name).write_bytes((synth / name).read_bytes())
    (data / "videos").mkdir()
    for video in (synth / "videos").iterdir():
        (data / "videos" / video.name).write_bytes(video.read_bytes())
    (data / "videos" / "video3.mp4").unlink()
    (data / "videos" / "video5.mp4").write_bytes(b"garbage")
    with pytest.raises(MissingVideosError, match=r"2 of 12 videos .*video3: missing.*video5: unreadable"):
        train(tiny_encoder(), data, tmp_path / "run", TrainConfig(**TINY), progress=False)
    assert not (tmp_path / "run").exists()
    results = train(tiny_encoder(), data, tmp_path / "run", TrainConfig(**TINY, skip_missing=True, max_steps=1),
                    progress=False)
    assert results["skipped_videos"] == 2


def test_checkpoint_holds_the_adapter_and_loads_back(synth, tmp_path):
    enc = tiny_encoder()
    cfg = TrainConfig(**{**TINY, "test": True}, max_steps=2, lr=1e-2)
    results = train(enc, synth, tmp_path / "run", cfg, progress=False)
    best = tmp_path / "run" / "best"
    names = {p.name for p in best.iterdir()}
    assert {"train_config.json", "metrics.json"} <= names
    assert any(n.endswith(".safetensors") for n in names) and "train_state.pt" not in names
    assert (tmp_path / "run" / "last" / "train_state.pt").is_file()
    assert TrainConfig.load(best / "train_config.json") == cfg
    assert json.loads((best / "metrics.json").read_text())["step"] == 2
    assert results["final"]["step"] == 2 and "test" in results["selected"] and "t2v" in results["final"]["test"]
    clips = torch.randn(2, 12, 3, 64, 64)
    torch.manual_seed(0)
    loaded = load_encoder("tempme-tiny", "none", adapter=best, device="cpu")
    fresh = tiny_encoder()
    with torch.inference_mode():
        trained, reloaded, untrained = enc.encode_video(clips), loaded.encode_video(clips), fresh.encode_video(clips)
    torch.testing.assert_close(reloaded, trained)
    assert not torch.allclose(untrained, trained, atol=1e-4)  # the adapter changed the model


def test_resume_after_a_crash_equals_an_uninterrupted_run(synth, tmp_path, monkeypatch):
    cfg = TrainConfig(**{**TINY, "epochs": 2, "evals_per_epoch": 2, "randaug": "rand-m9-n2"}, lr=1e-2)
    whole = tiny_encoder()
    train(whole, synth, tmp_path / "whole", cfg, progress=False)

    calls = {"n": 0}
    real_step = loop.contrastive_step

    def crashing_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("simulated crash")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "contrastive_step", crashing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_encoder(), synth, tmp_path / "split", cfg, progress=False)
    monkeypatch.setattr(loop, "contrastive_step", real_step)
    assert json.loads((tmp_path / "split" / "last" / "metrics.json").read_text())["step"] == 5
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(tiny_encoder(), synth, tmp_path / "split", cfg, resume=False, progress=False)
    resumed = tiny_encoder()
    train(resumed, synth, tmp_path / "split", cfg, progress=False)

    a = dict(whole.model.named_parameters())
    b = dict(resumed.model.named_parameters())
    trained = [n for n, p in a.items() if p.requires_grad]
    assert trained
    for n in trained:
        torch.testing.assert_close(b[n], a[n], msg=n)
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 5, 7, 10]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast path)")
def test_bf16_autocast_training_on_gpu(synth, tmp_path):
    torch.manual_seed(0)
    enc = load_encoder("tempme-tiny", "none", device="cuda", config=TempMeConfig.preset("tempme-tiny"))
    cfg = TrainConfig(**{**TINY, "test": True}, max_steps=3, micro_batch_size=4, lr=1e-2)
    results = train(enc, synth, tmp_path / "gpu", cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "gpu" / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(log[-1]["train_loss"]) and 0 < log[-1]["train_loss"] < 10
    assert results["final"]["test"]["t2v"]["num_queries"] == 5
