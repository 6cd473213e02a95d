"""The training loop's parts against references: exact gradient accumulation, schedule, resume,
checkpoints that load back, and missing videos stopping the run before training."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from tempme.train import loop
from tempme.train.config import TrainConfig
from tempme.train.loop import clip_loss, contrastive_step, lr_schedule, train
from tempme.train.msrvtt import MissingVideosError
from tempme.train.state import load_train_state
from tempme.train.synth import SynthConfig, write_synth

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder

TINY = dict(batch_size=8, val_videos=2, epochs=1, randaug="", num_workers=0, weight_decay=0.0, test=False)


class RunsCode:
    """Unpickling this creates ``marker`` (a stand-in for code planted in an output folder)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


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
    # by hand: orthonormal pairs give each row the logits (s, 0), so both directions lose log(1 + e^-s)
    eye = torch.eye(2)
    assert clip_loss(eye, eye, 1.0).item() == pytest.approx(0.31326169, rel=1e-6)
    # video 0 = text 0 = e1, video 1 = e2, text 1 = (e1 + e2) / sqrt 2, s = 2: logits text x video
    # [[2, 0], [a, a]] with a = sqrt 2; text->video: log(1 + e^-2) and log 2; video->text (columns):
    # log(1 + e^(a - 2)) and log(1 + e^-a); the loss is the mean of the four / 2 each direction.
    a = math.sqrt(2)
    hand = (math.log(1 + math.exp(-2)) + math.log(2)) / 4 + (
        math.log(1 + math.exp(a - 2)) + math.log(1 + math.exp(-a))
    ) / 4
    t2 = torch.tensor([[1.0, 0.0], [1 / a, 1 / a]])
    assert clip_loss(eye, t2, 2.0).item() == pytest.approx(hand, rel=1e-6)


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
    """transformers' schedule, as the loop builds it, is the documented 10 % linear warmup then cosine
    decay to 0. By hand for 110 steps at lr 2: W = 11 warmup steps, step s < 11 runs at 2 s / 11,
    step s >= 11 at 1 + cos(pi (s - 11) / 99): s = 35 -> 1 + cos(0.2424 pi) = 1.723734,
    s = 60 -> 1 + cos(0.4949 pi) = 1.015866, s = 100 -> 1 + cos(0.8990 pi) = 0.049929."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = lr_schedule(optimizer, total_steps=110, warmup_fraction=0.1)
    lrs = []
    for _ in range(111):
        lrs.append(optimizer.param_groups[0]["lr"])  # the lr that optimizer step s runs at
        optimizer.step()
        scheduler.step()
    hand = {
        0: 0.0,
        1: 0.181818182,
        5: 0.909090909,
        10: 1.818181818,
        11: 2.0,
        35: 1.723734038,
        60: 1.015865964,
        100: 0.049928882,
        110: 0.0,
    }
    for s, lr in hand.items():
        assert lrs[s] == pytest.approx(lr, abs=1e-8), s
    assert all(lrs[s] < lrs[s + 1] for s in range(11)) and all(lrs[s] > lrs[s + 1] for s in range(11, 110))


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
    results = train(
        tiny_encoder(), data, tmp_path / "run", TrainConfig(**TINY, skip_missing=True, max_steps=1), progress=False
    )
    assert results["skipped_videos"] == 2


def test_checkpoint_holds_the_adapter_and_loads_back(synth, tmp_path):
    enc = tiny_encoder()
    cfg = TrainConfig(**{**TINY, "test": True}, max_steps=2, lr=1e-2)
    results = train(enc, synth, tmp_path / "run", cfg, progress=False)
    best = tmp_path / "run" / "best"
    names = {p.name for p in best.iterdir()}
    assert {"train_config.json", "metrics.json"} <= names
    assert "adapter_model.safetensors" in names and not any(n.startswith("train_state") for n in names)
    last = {p.name for p in (tmp_path / "run" / "last").iterdir()}
    assert {"train_state.json", "train_state.safetensors"} <= last and "train_state.pt" not in last
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


def write_legacy_train_state(last: Path) -> None:
    """Replace a checkpoint's resume state by the pickled ``train_state.pt`` earlier tempme versions
    wrote (a torch.save'd dict of tensors and plain containers)."""
    state = load_train_state(last)
    torch.save(
        {
            "step": state.step,
            "best": state.best,
            "optimizer": state.optimizer,
            "scheduler": state.scheduler,
            "trainable": state.trainable,
        },
        last / "train_state.pt",
    )
    (last / "train_state.json").unlink()
    (last / "train_state.safetensors").unlink()


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
    shutil.copytree(tmp_path / "split", tmp_path / "legacy")
    write_legacy_train_state(tmp_path / "legacy" / "last")
    # a planted pickle beside a real state is never read
    marker = tmp_path / "planted-code-ran"
    torch.save({"step": RunsCode(marker)}, tmp_path / "split" / "last" / "train_state.pt")

    def curve(run):
        return [
            (r["step"], r["train_loss"], r["val"])
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        ]

    a = dict(whole.model.named_parameters())
    trained = [n for n, p in a.items() if p.requires_grad]
    assert trained
    for run in ("split", "legacy"):
        resumed = tiny_encoder()
        train(resumed, synth, tmp_path / run, cfg, progress=False)
        b = dict(resumed.model.named_parameters())
        for n in trained:
            assert torch.equal(b[n], a[n]), (run, n)
        assert [s for s, _, _ in curve(tmp_path / run)] == [2, 5, 7, 10]
        assert curve(tmp_path / run) == curve(tmp_path / "whole"), run  # the same loss curve, bit for bit
    assert not marker.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast path)")
def test_bf16_autocast_training_on_gpu(synth, tmp_path):
    torch.manual_seed(0)
    enc = load_encoder("tempme-tiny", "none", device="cuda", config=TempMeConfig.preset("tempme-tiny"))
    cfg = TrainConfig(**{**TINY, "test": True}, max_steps=3, micro_batch_size=4, lr=1e-2)
    results = train(enc, synth, tmp_path / "gpu", cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "gpu" / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(log[-1]["train_loss"]) and 0 < log[-1]["train_loss"] < 10
    assert results["final"]["test"]["t2v"]["num_queries"] == 5
