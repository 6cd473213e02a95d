"""Resume state without pickle: a planted pickle never runs, a real optimizer continues exactly
after a save/load round trip, and damaged files give one clear error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tempme.train.config import TrainConfig
from tempme.train.loop import lr_schedule, train
from tempme.train.state import TrainState, TrainStateError, load_train_state, save_train_state
from tempme.train.synth import SynthConfig, write_synth


class RunsCode:
    """Unpickling this creates ``marker``: a stand-in for code planted in a training output folder."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def plant(path: Path, marker: Path) -> None:
    """A train_state.pt as an attacker would leave it: the old layout, one value replaced by code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 3, "best": None, "optimizer": {}, "scheduler": {}, "trainable": {"x": RunsCode(marker)}}, path)


def test_the_planted_pickle_is_live(tmp_path):
    """The payload really runs when unpickled (so the refusals below are tested against a live one)."""
    plant(tmp_path / "train_state.pt", tmp_path / "ran")
    torch.load(tmp_path / "train_state.pt", weights_only=False)
    assert (tmp_path / "ran").is_dir()


def test_resume_refuses_a_planted_pickle_and_runs_nothing(tmp_path):
    marker = tmp_path / "planted-code-ran"
    plant(tmp_path / "run" / "last" / "train_state.pt", marker)
    with pytest.raises(
        TrainStateError,
        match=r"refusing to resume from .*train_state.pt: it is not a file of tensors "
        r"and plain containers only .*GLOBAL posix.mkdir.* Delete it to restart",
    ):
        load_train_state(tmp_path / "run" / "last")
    data = write_synth(tmp_path / "synth", SynthConfig(num_train=12, num_test_twins=2, num_test_single=1))
    from tempme.config import TempMeConfig
    from tempme.encoder import load_encoder

    enc = load_encoder("tempme-tiny", "none", device="cpu", config=TempMeConfig.preset("tempme-tiny"))
    cfg = TrainConfig(batch_size=8, val_videos=2, epochs=1, randaug="", num_workers=0, test=False)
    with pytest.raises(TrainStateError, match="refusing to resume"):
        train(enc, data, tmp_path / "run", cfg, progress=False)
    assert not marker.exists()
    assert sorted(p.name for p in (tmp_path / "run" / "last").iterdir()) == ["train_state.pt"]  # nothing touched


def adamw_run(steps: int, seed: int = 0):
    """A real AdamW + schedule on a tiny regression, ``steps`` steps in."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 4, generator=g), torch.randn(32, 2, generator=g)
    w = torch.nn.Parameter(torch.randn(4, 2, generator=g))
    b = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW(
        [{"params": [w], "weight_decay": 0.2}, {"params": [b], "weight_decay": 0.0}],
        lr=1e-2,
        betas=(0.9, 0.999),
        eps=1e-6,
    )
    sched = lr_schedule(opt, total_steps=20, warmup_fraction=0.1)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(x @ w + b, y).backward()
        opt.step()
        sched.step()

    for _ in range(steps):
        step()
    return {"w": w, "b": b}, opt, sched, step


def test_round_trip_continues_the_optimizer_exactly(tmp_path):
    params, opt, sched, step = adamw_run(7)
    best = {"step": 5, "val": {"t2v": {"r1": 12.5, "rsum": 40.0}}}
    save_train_state(
        tmp_path,
        TrainState(7, best, opt.state_dict(), sched.state_dict(), {n: p.detach().clone() for n, p in params.items()}),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state.json", "train_state.safetensors"]
    lr_at_save = sched.get_last_lr()
    for _ in range(5):  # the uninterrupted reference
        step()

    state = load_train_state(tmp_path)
    assert state.step == 7 and state.best == best
    fresh, opt2, sched2, step2 = adamw_run(0)
    with torch.no_grad():
        for n, p in fresh.items():
            p.copy_(state.trainable[n])
    opt2.load_state_dict(state.optimizer)
    sched2.load_state_dict(state.scheduler)
    assert sched2.last_epoch == 7 and sched2.get_last_lr() == lr_at_save
    for _ in range(5):
        step2()
    for n in params:
        assert torch.equal(fresh[n], params[n]), n
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_an_old_train_state_of_plain_data_still_loads(tmp_path):
    params, opt, sched, _ = adamw_run(3)
    torch.save(
        {
            "step": 3,
            "best": None,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "trainable": {n: p.detach() for n, p in params.items()},
        },
        tmp_path / "train_state.pt",
    )
    state = load_train_state(tmp_path)
    assert state.step == 3 and state.optimizer["param_groups"] == opt.state_dict()["param_groups"]
    assert torch.equal(state.optimizer["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_damaged_state_gives_one_clear_error(tmp_path):
    params, opt, sched, _ = adamw_run(2)
    save_train_state(tmp_path, TrainState(2, None, opt.state_dict(), sched.state_dict(), dict(params)))
    (tmp_path / "train_state.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(TrainStateError, match="cannot read the training state in"):
        load_train_state(tmp_path)
    save_train_state(tmp_path, TrainState(2, None, opt.state_dict(), sched.state_dict(), dict(params)))
    (tmp_path / "train_state.json").write_text('{"format": 1, "step": 2}')
    with pytest.raises(TrainStateError, match="do not match"):
        load_train_state(tmp_path)
    (tmp_path / "train_state.json").unlink()
    (tmp_path / "train_state.pt").write_bytes(b"garbage")
    with pytest.raises(TrainStateError, match="refusing to resume from .*train_state.pt.*Unsupported operand"):
        load_train_state(tmp_path)
    (tmp_path / "train_state.pt").write_bytes(b"")
    with pytest.raises(TrainStateError, match="cannot read the training state .*train_state.pt"):
        load_train_state(tmp_path)
    torch.save([1, 2], tmp_path / "train_state.pt")
    with pytest.raises(TrainStateError, match="not a tempme training state"):
        load_train_state(tmp_path)
    (tmp_path / "train_state.pt").unlink()
    with pytest.raises(TrainStateError, match="holds no training state"):
        load_train_state(tmp_path)
