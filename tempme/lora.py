"""LoRA on the fused QKV projections through peft, and adapter folders in peft's layout.

TempMe trains rank-8 LoRA updates ``W + B A`` of ``in_proj_weight`` (the fused Q/K/V projection)
in every vision and text attention layer, with no alpha scaling (alpha = r), no dropout and
``B`` zero-initialised, plus the clip-temporal embeddings (TempMe Sec. 3.1 and 4.1). peft's
``target_parameters`` puts the update on the parameter itself, so open_clip's modules keep their
structure. CLIP weights must be loaded before injection (peft renames the base keys).

An adapter folder holds only what was trained, in peft's standard layout plus TempMe's parts::

    adapter_config.json          peft's LoraConfig (LoraConfig.save_pretrained)
    adapter_model.safetensors    the LoRA A/B tensors under peft's saved names
                                 ("base_model.model.<module>.lora_A.weight"), as
                                 PeftModel.save_pretrained writes them; stock
                                 ``PeftModel.from_pretrained(open_clip_model, folder)`` loads it
    tempme_temporal.safetensors  the clip-temporal embeddings ("visual.transformer.resblocks.8.tempme_temporal")
    tempme_config.json           the TempMeConfig that built the encoder
    adapter_meta.json            format version, tensor and parameter counts, training metadata

Folders written before this layout (``adapter.safetensors`` with every tensor under the model's
parameter names, and ``tempme_config.json``) still load. The adapter hash is a function of the
weights alone: the sha256 of the safetensors serialisation of the adapter tensors under the
model's parameter names (16 hex digits), which is the sha256 of the old ``adapter.safetensors``,
so the same weights have the same hash in either layout.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from safetensors import SafetensorError
from safetensors.torch import load_file, save, save_file
from torch import nn

from tempme.config import TempMeConfig
from tempme.errors import AdapterError  # noqa: F401  (raised here; defined torch-free)

log = logging.getLogger(__name__)

PEFT_CONFIG_FILE = "adapter_config.json"  # peft's CONFIG_NAME
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"  # peft's SAFETENSORS_WEIGHTS_NAME
TEMPORAL_FILE = "tempme_temporal.safetensors"
CONFIG_FILE = "tempme_config.json"
META_FILE = "adapter_meta.json"
LEGACY_ADAPTER_FILE = "adapter.safetensors"  # format 1: every adapter tensor in one file
FORMAT = 2

PEFT_ADAPTER_NAME = "default"  # the adapter name inject_adapter_in_model uses
PEFT_KEY_PREFIX = "base_model.model."  # PeftModel -> LoraModel -> the wrapped model, in saved keys
_LORA_PARTS = (".lora_A.", ".lora_B.")
_TEMPORAL_KEY = "tempme_temporal"
_ADAPTER_KEYS = (*_LORA_PARTS, _TEMPORAL_KEY)


def qkv_parameter_names(model: nn.Module, text: bool = True) -> list[str]:
    """Full names of the ``in_proj_weight`` parameters to adapt (vision, then text)."""
    names = [
        f"visual.transformer.resblocks.{i}.attn.in_proj_weight" for i in range(len(model.visual.transformer.resblocks))
    ]
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
        model = inject_adapter_in_model(config, model, adapter_name=PEFT_ADAPTER_NAME)
    for name, p in model.named_parameters():
        p.requires_grad_(any(key in name for key in _ADAPTER_KEYS))
    return model


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trained tensors only: LoRA A/B and temporal embeddings, by the model's parameter names."""
    return {
        name: p.detach().contiguous().cpu()
        for name, p in model.named_parameters()
        if any(key in name for key in _ADAPTER_KEYS)
    }


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 (16 hex) of the safetensors serialisation of ``tensors`` (the format-1 file's bytes)."""
    return hashlib.sha256(save(tensors)).hexdigest()[:16]


def _model_name(peft_key: str) -> str:
    """peft's saved key -> the injected model's parameter name.

    ``base_model.model.visual.transformer.resblocks.0.attn.lora_A.weight`` ->
    ``visual.transformer.resblocks.0.attn.lora_A.default.weight`` (peft drops the prefix of its
    wrappers and the adapter name when it saves; the injected model has no wrappers).
    """
    name = peft_key.removeprefix(PEFT_KEY_PREFIX)
    for part in _LORA_PARTS:
        name = name.replace(part, f"{part}{PEFT_ADAPTER_NAME}.")
    return name


def save_adapter(model: nn.Module, config: TempMeConfig, directory: Path, meta: dict | None = None) -> str:
    """Write the adapter of ``model`` to ``directory`` in peft's layout; returns its hash.

    ``meta`` (JSON-serialisable) is added to ``adapter_meta.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (LEGACY_ADAPTER_FILE, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, TEMPORAL_FILE):
        (directory / stale).unlink(missing_ok=True)  # an earlier adapter here must not shadow this one
    tensors = adapter_state_dict(model)
    peft_configs = getattr(model, "peft_config", {})
    if PEFT_ADAPTER_NAME in peft_configs:
        lora_config = copy.copy(peft_configs[PEFT_ADAPTER_NAME])
        lora_config.base_model_name_or_path = config.arch
        lora_config.save_pretrained(str(directory))
        lora = get_peft_model_state_dict(model, adapter_name=PEFT_ADAPTER_NAME)  # no adapter name in keys
        lora = {PEFT_KEY_PREFIX + k: v.detach().contiguous().cpu() for k, v in lora.items()}
        save_file(lora, str(directory / PEFT_WEIGHTS_FILE), metadata={"format": "pt"})  # as PeftModel does
    temporal = {n: t for n, t in tensors.items() if _TEMPORAL_KEY in n}
    if temporal:
        save_file(temporal, str(directory / TEMPORAL_FILE))
    config.save(directory / CONFIG_FILE)
    info = {"format": FORMAT, "tensors": len(tensors), "parameters": sum(t.numel() for t in tensors.values())}
    info.update(meta or {})
    (directory / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return _digest(tensors)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise AdapterError(f"{path} is not a readable safetensors file: {e}") from None


def _is_format1(directory: Path) -> bool:
    """True for a folder of the single-file layout; AdapterError if it also holds peft-layout weights."""
    if not (directory / LEGACY_ADAPTER_FILE).is_file():
        return False
    newer = [f for f in (PEFT_WEIGHTS_FILE, TEMPORAL_FILE) if (directory / f).is_file()]
    if newer:
        raise AdapterError(
            f"{directory} holds two adapters: {LEGACY_ADAPTER_FILE} (format 1) and {', '.join(newer)} (format 2); "
            f"remove the one that is not meant"
        )
    return True


def _read_folder(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(lora, by_name)``: peft-layout LoRA tensors under peft's saved names, and every other
    tensor (the temporal embeddings, or all of a format-1 folder) under the model's parameter names."""
    if _is_format1(directory):
        return {}, _read_safetensors(directory / LEGACY_ADAPTER_FILE)
    if not (directory / CONFIG_FILE).is_file():
        raise AdapterError(f"{directory} is not an adapter directory: {CONFIG_FILE} is missing")
    lora = _read_safetensors(directory / PEFT_WEIGHTS_FILE) if (directory / PEFT_WEIGHTS_FILE).is_file() else {}
    temporal = _read_safetensors(directory / TEMPORAL_FILE) if (directory / TEMPORAL_FILE).is_file() else {}
    return lora, temporal


def read_adapter_tensors(directory: Path) -> dict[str, torch.Tensor]:
    """Every adapter tensor of a folder (either layout), by the injected model's parameter names.

    Raises:
        AdapterError: ``directory`` is not an adapter folder, or a weights file is unreadable.
    """
    lora, by_name = _read_folder(Path(directory))
    return {**{_model_name(k): v for k, v in lora.items()}, **by_name}


def adapter_hash(directory: Path) -> str:
    """The hash of an adapter folder's weights (either layout); see the module docstring.

    Raises:
        AdapterError: not an adapter folder, or a weights file is unreadable.
    """
    directory = Path(directory)
    if _is_format1(directory):  # its bytes are the canonical serialisation
        return hashlib.sha256((directory / LEGACY_ADAPTER_FILE).read_bytes()).hexdigest()[:16]
    return _digest(read_adapter_tensors(directory))


def read_adapter_config(directory: Path) -> TempMeConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise AdapterError(f"{directory} is not an adapter directory: {CONFIG_FILE} is missing")
    return TempMeConfig.load(path)


def load_adapter(model: nn.Module, directory: Path) -> str:
    """Load adapter weights (either layout) into an injected model; returns the adapter hash.

    LoRA tensors of a peft-layout folder go in through peft's ``set_peft_model_state_dict``; the
    temporal embeddings (and every tensor of a format-1 folder) are copied by parameter name.

    Raises:
        AdapterError: missing or unreadable files, or tensors that do not match the model's
            adapter slots (names or shapes).
    """
    directory = Path(directory)
    lora, by_name = _read_folder(directory)
    tensors = {**{_model_name(k): v for k, v in lora.items()}, **by_name}
    expected = adapter_state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise AdapterError(
            f"adapter {directory} does not fit this model: {len(missing)} missing tensors "
            f"(e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]})"
        )
    for name, value in tensors.items():
        if expected[name].shape != value.shape:
            raise AdapterError(f"{name}: adapter shape {tuple(value.shape)} != model {tuple(expected[name].shape)}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        if lora:
            # peft inserts the adapter name itself; its keys are relative to the injected model
            result = set_peft_model_state_dict(
                model, {k.removeprefix(PEFT_KEY_PREFIX): v for k, v in lora.items()}, adapter_name=PEFT_ADAPTER_NAME
            )
            assert not result.unexpected_keys, f"peft left {result.unexpected_keys[:3]} unloaded"
        for name, value in by_name.items():
            params[name].copy_(value)
    loaded = adapter_state_dict(model)
    assert all(torch.equal(loaded[n], tensors[n].to(loaded[n].dtype)) for n in tensors), f"{directory} did not load"
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
