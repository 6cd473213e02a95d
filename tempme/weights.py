"""Build an open_clip CLIP with weights from the usual places, failing fast and clearly offline.

``pretrained`` is ``"openai"`` (open_clip downloads once and caches), a path to a local
checkpoint file (an open_clip/OpenAI CLIP state dict for the same architecture), or ``"none"``
(random initialisation: embeddings are not semantic, for tests and cost measurements).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import open_clip
import torch
from torch import nn

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(__file__).with_name("model_configs")
open_clip.add_model_config(_CONFIG_DIR)

SUPPORTED_ARCHS = ("ViT-B-32", "ViT-B-16", "tempme-tiny")
RANDOM_INIT_SEED = 0


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained (offline, or a bad local file)."""


def _hub_reachable(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _is_cached(arch: str, tag: str) -> bool:
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    hub = cfg.get("hf_hub", "") if cfg else ""
    if not hub:
        return False
    from huggingface_hub import try_to_load_from_cache

    repo_id = hub.rstrip("/")
    filename = None
    if "/" in repo_id and repo_id.count("/") > 1:
        repo_id, filename = repo_id.rsplit("/", 1)
    for name in (filename, "open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if name and isinstance(try_to_load_from_cache(repo_id, name), str):
            return True
    return False


def _offline_message(arch: str, tag: str, reason: str) -> str:
    return (
        f"could not load the '{tag}' weights for {arch}: {reason}. "
        f"Download them once on a machine with internet access (open_clip caches them under "
        f"~/.cache/huggingface), or pass a local checkpoint file with --pretrained /path/to/{arch}.bin "
        f"(an open_clip or OpenAI CLIP state dict for {arch}), or --pretrained none for random "
        f"weights (not semantic)."
    )


def create_clip(arch: str, pretrained: str = "openai", device: str | torch.device = "cpu") -> nn.Module:
    """Create ``arch`` with ``pretrained`` weights, in eval mode on ``device``.

    Raises:
        ValueError: unknown architecture.
        WeightsUnavailableError: weights cannot be downloaded or the local file cannot be read;
            the message says how to pass a local file.
    """
    if arch not in open_clip.list_models():
        raise ValueError(f"unknown architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHS)}")
    kwargs = dict(device=device, force_quick_gelu=True)
    if pretrained in ("none", "", None):
        log.warning(
            "!!! %s with RANDOM weights (--pretrained none): embeddings are NOT semantic; "
            "search results will be meaningless. Use --pretrained openai or a local checkpoint. !!!",
            arch,
        )
        # Seeded, so that every process builds the same random model: a library indexed with
        # random weights stays searchable (query and video towers agree) across runs.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = open_clip.create_model(arch, pretrained=None, **kwargs)
    elif Path(pretrained).expanduser().is_file():
        try:
            model = open_clip.create_model(arch, pretrained=str(Path(pretrained).expanduser()), **kwargs)
        except Exception as exc:  # open_clip raises many kinds for bad files
            raise WeightsUnavailableError(f"could not load {pretrained} as {arch} weights: {exc}") from exc
    elif pretrained in open_clip.list_pretrained_tags_by_model(arch):
        if not _is_cached(arch, pretrained) and not _hub_reachable():
            raise WeightsUnavailableError(_offline_message(arch, pretrained, "no network and not cached"))
        try:
            model = open_clip.create_model(arch, pretrained=pretrained, **kwargs)
        except Exception as exc:
            raise WeightsUnavailableError(_offline_message(arch, pretrained, str(exc))) from exc
    else:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise WeightsUnavailableError(
            f"--pretrained {pretrained!r} is neither a file nor a known tag for {arch} (tags: {tags})"
        )
    return model.eval()


def shrink_text_context(model: nn.Module, context: int) -> None:
    """Cut the text tower to ``context`` tokens (TempMe uses 32).

    Exact for captions of at most ``context`` tokens: CLIP's text attention is causal and pools
    the end-of-text token, so later positions never influence it.
    """
    pe = model.positional_embedding
    if context >= pe.shape[0]:
        return
    model.positional_embedding = nn.Parameter(pe.detach()[:context].clone(), requires_grad=False)
    if getattr(model, "attn_mask", None) is not None:
        model.attn_mask = model.attn_mask[:context, :context].clone()
    model.context_length = context
