"""LoRA on the fused QKV projections through peft, and adapter files.

TempMe trains rank-8 LoRA updates ``W + B A`` of ``in_proj_weight`` (the fused Q/K/V projection)
in every vision and text attention layer, with no alpha scaling (alpha = r), no dropout and
``B`` zero-initialised, plus the clip-temporal embeddings (TempMe Sec. 3.1 and 4.1). peft's
``target_parameters`` puts the update on the parameter itself, so open_clip's modules keep their
structure. CLIP weights must be loaded before injection (peft renames the base keys).

An adapter directory holds only what was trained:
``adapter.safetensors`` (LoRA A/B and temporal embeddings) and ``tempme_config.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from safetensors.torch import load_file, save_file
from torch import nn

from tempme.config import TempMeConfig

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter.safetensors"
CONFIG_FILE = "tempme_config.json"
META_FILE = "adapter_meta.json"
_ADAPTER_KEYS = (".lora_A.", ".lora_B.", "tempme_temporal")


class AdapterError(ValueError):
    """An adapter directory is missing, malformed, or does not fit the model."""


def qkv_parameter_names(model: nn.Module, text: bool = True) -> list[str]:
    """Full names of the ``in_proj_weight`` parameters to adapt (vision, then text)."""
    names = [f"visual.transformer.resblocks.{i}.attn.in_proj_weight" for i in range(len(model.visual.transformer.resblocks))]
    if text and hasattr(model, "transformer"):
        names += [f"transformer.resblocks.{i}.attn.in_proj_weight" for i in range(len(model.transformer.resblocks))]
    return names


def inject_lora(model: nn.Module, rank: int, text: bool = True) -> nn.Module:
    """Freeze ``model`` and add rank-``rank`` LoRA to its fused QKV weights; temporal embeddings stay trainable.

    Returns the same module (modified in place). With ``rank == 0`` only the freezing happens.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    if rank > 0:
        config = LoraConfig(
            r=rank,
            lora_alpha=rank,  # scaling alpha / r = 1: no alpha scaling
            lora_dropout=0.0,
            target_modules=[],
            target_parameters=qkv_parameter_names(model, text),
            bias="none",
            init_lora_weights=True,  # A Kaiming-uniform, B zeros
        )
        model = inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        p.requires_grad_(any(key in name for key in _ADAPTER_KEYS))
    return model


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trained tensors only: LoRA A/B and temporal embeddings, by parameter name."""
    return {
        name: p.detach().contiguous().cpu()
        for name, p in model.named_parameters()
        if any(key in name for key in _ADAPTER_KEYS)
    }


def save_adapter(model: nn.Module, config: TempMeConfig, directory: Path, meta: dict | None = None) -> str:
    """Write the adapter to ``directory``; returns its hash (sha256 of the weights file, 16 hex)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = adapter_state_dict(model)
    save_file(tensors, str(directory / ADAPTER_FILE))
    config.save(directory / CONFIG_FILE)
    info = {"format": 1, "tensors": len(tensors), "parameters": sum(t.numel() for t in tensors.values())}
    info.update(meta or {})
    (directory / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return adapter_hash(directory)


def adapter_hash(directory: Path) -> str:
    return hashlib.sha256((Path(directory) / ADAPTER_FILE).read_bytes()).hexdigest()[:16]


def read_adapter_config(directory: Path) -> TempMeConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise AdapterError(f"{directory} is not an adapter directory: {CONFIG_FILE} is missing")
    return TempMeConfig.load(path)


def load_adapter(model: nn.Module, directory: Path) -> str:
    """Load adapter weights into an injected model; returns the adapter hash.

    Raises:
        AdapterError: missing files, or tensors that do not match the model's adapter slots.
    """
    path = Path(directory) / ADAPTER_FILE
    if not path.is_file():
        raise AdapterError(f"{directory} is not an adapter directory: {ADAPTER_FILE} is missing")
    tensors = load_file(str(path))
    expected = adapter_state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise AdapterError(
            f"adapter {directory} does not fit this model: {len(missing)} missing tensors "
            f"(e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]})"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            if params[name].shape != value.shape:
                raise AdapterError(f"{name}: adapter shape {tuple(value.shape)} != model {tuple(params[name].shape)}")
            params[name].copy_(value)
    return adapter_hash(directory)


def fold_lora(model: nn.Module) -> int:
    """Merge every LoRA update into its base weight and unwrap peft's layers (inference only).

    Returns the number of folded layers. Afterwards the model has open_clip's original
    structure, so the stock fused attention kernels run for the text tower.
    """
    from peft.tuners.lora.layer import ParamWrapper

    folded = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, ParamWrapper):
                child.merge()
                setattr(parent, child_name, child.get_base_layer())
                folded += 1
    for p in model.parameters():
        p.requires_grad_(False)
    return folded
