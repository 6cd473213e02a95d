"""Training state to resume from, saved and loaded without pickle.

A checkpoint's resume state is two files::

    train_state.safetensors  every tensor: the trained weights ("trainable.<parameter name>") and
                             the optimizer's per-parameter state ("optimizer.state.<i>.<key>",
                             e.g. AdamW's step, exp_avg, exp_avg_sq)
    train_state.json         everything else: step, the selected checkpoint's record, the
                             optimizer's param groups, the scheduler's state_dict, and where each
                             optimizer tensor went

Neither format can run code when read. ``train_state.pt`` files of earlier tempme versions (a
pickled dict of the same parts) are read with ``torch.load(weights_only=True)``, which accepts
tensors and plain containers only; a file holding anything else is refused with
:class:`TrainStateError`, never unpickled. No global RNG state is kept: data order and
augmentation are seeded per epoch and item (see :mod:`tempme.train.loop`).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

TENSORS_FILE = "train_state.safetensors"
JSON_FILE = "train_state.json"
LEGACY_FILE = "train_state.pt"  # pickled by tempme before format 1; read with weights_only=True
FORMAT = 1
_TRAINABLE = "trainable."
_OPTIMIZER = "optimizer.state."


class TrainStateError(ValueError):
    """A resume state is unreadable, unsafe to read, or does not fit the run being resumed."""


@dataclass(frozen=True)
class TrainState:
    """What resuming needs, besides the data order (which is a function of the step).

    Attributes:
        step: optimizer steps done.
        best: the metrics record of the selected checkpoint so far (None before the first validation).
        optimizer: ``torch.optim.Optimizer.state_dict()``.
        scheduler: ``torch.optim.lr_scheduler.LRScheduler.state_dict()`` (plain numbers and lists).
        trainable: the trained parameters by name (CPU tensors).
    """

    step: int
    best: dict | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    trainable: dict[str, torch.Tensor]


def has_train_state(directory: Path) -> bool:
    """True when ``directory`` holds a resume state in either format."""
    directory = Path(directory)
    return (directory / JSON_FILE).is_file() or (directory / LEGACY_FILE).is_file()


def save_train_state(directory: Path, state: TrainState) -> None:
    """Write ``state`` as ``train_state.safetensors`` + ``train_state.json`` in ``directory``."""
    directory = Path(directory)
    tensors = {_TRAINABLE + n: t.detach().cpu().contiguous() for n, t in state.trainable.items()}
    opt_state: dict[str, dict[str, Any]] = {}
    for index, slots in state.optimizer["state"].items():
        encoded: dict[str, Any] = {}
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                name = f"{_OPTIMIZER}{int(index)}.{key}"
                tensors[name] = value.detach().cpu().contiguous()
                encoded[key] = {"tensor": name}
            else:
                assert value is None or isinstance(value, (bool, int, float, str)), (
                    f"optimizer state {key}: {type(value)}"
                )
                encoded[key] = value
        opt_state[str(int(index))] = encoded
    doc = {
        "format": FORMAT,
        "step": int(state.step),
        "best": state.best,
        "optimizer": {"state": opt_state, "param_groups": state.optimizer["param_groups"]},
        "scheduler": state.scheduler,
        "trainable": list(state.trainable),
    }
    text = json.dumps(doc, indent=1)  # raises TypeError for anything that is not plain data
    save_file(tensors, str(directory / TENSORS_FILE), metadata={"format": str(FORMAT)})
    (directory / JSON_FILE).write_text(text + "\n")


def load_train_state(directory: Path) -> TrainState:
    """Read the resume state of ``directory`` (either format) without unpickling anything.

    Raises:
        TrainStateError: no state, unreadable or inconsistent files, or a ``train_state.pt``
            that holds objects other than tensors and plain containers.
    """
    directory = Path(directory)
    if (directory / JSON_FILE).is_file():
        return _load_files(directory)
    if (directory / LEGACY_FILE).is_file():
        return _load_legacy(directory / LEGACY_FILE)
    raise TrainStateError(f"{directory} holds no training state ({JSON_FILE} is missing)")


def _load_files(directory: Path) -> TrainState:
    try:
        doc = json.loads((directory / JSON_FILE).read_text())
        tensors = load_file(str(directory / TENSORS_FILE))
    except (OSError, ValueError, SafetensorError) as e:
        raise TrainStateError(f"cannot read the training state in {directory}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TrainStateError(f"{directory / JSON_FILE}: not a format-{FORMAT} training state")
    try:
        trainable = {n: tensors[_TRAINABLE + n] for n in doc["trainable"]}
        opt_state = {
            int(index): {
                key: tensors[value["tensor"]] if isinstance(value, dict) else value for key, value in slots.items()
            }
            for index, slots in doc["optimizer"]["state"].items()
        }
        state = TrainState(
            step=doc["step"],
            best=doc["best"],
            trainable=trainable,
            scheduler=doc["scheduler"],
            optimizer={"state": opt_state, "param_groups": doc["optimizer"]["param_groups"]},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise TrainStateError(
            f"{directory}: {JSON_FILE} and {TENSORS_FILE} do not match ({type(e).__name__}: {e})"
        ) from None
    return _checked(state, directory / JSON_FILE)


def _load_legacy(path: Path) -> TrainState:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise TrainStateError(
            f"refusing to resume from {path}: it is not a file of tensors and plain containers only "
            f"(torch's weights-only reader stopped at: {_unpickler_reason(e)}), and it is never unpickled "
            f"because that could run code planted in the folder. Delete it to restart the run from step 0, "
            f"or train into a new --out."
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise TrainStateError(f"cannot read the training state {path}: {type(e).__name__}: {e}") from None
    keys = {"step", "best", "optimizer", "scheduler", "trainable"}
    if not isinstance(raw, dict) or not keys <= set(raw):
        raise TrainStateError(f"{path} is not a tempme training state (keys {sorted(keys)} expected)")
    return _checked(TrainState(**{k: raw[k] for k in keys}), path)


def _unpickler_reason(e: pickle.UnpicklingError) -> str:
    """The specific part of torch's weights-only error (without its advice to load unsafely)."""
    boilerplate = (
        "Weights only load failed",
        "Please file an issue",
        "Check the documentation",
        "WeightsUnpickler error",
    )
    lines = [line.strip() for line in str(e).splitlines()]
    reason = " ".join(line for line in lines if line and not line.startswith(boilerplate))
    return reason or type(e).__name__


def _checked(state: TrainState, source: Path) -> TrainState:
    if not isinstance(state.step, int) or state.step < 0:
        raise TrainStateError(f"{source}: step must be a non-negative integer, got {state.step!r}")
    if not all(isinstance(t, torch.Tensor) for t in state.trainable.values()):
        raise TrainStateError(f"{source}: trainable weights must be tensors")
    return state
