"""Build an open_clip CLIP with weights from the usual places, each with the activation it was trained with.

``pretrained`` is one of:

- an open_clip tag (``openai``, ``laion2b_s34b_b79k``, ...): the activation is the tag's
  (open_clip's pretrained config says ``quick_gelu``: OpenAI's and a few others' weights were
  trained with QuickGELU, the LAION / DataComp ones with GELU);
- ``hf-hub:org/repo``: an open_clip model repository; its ``open_clip_config.json`` gives the
  activation, and its architecture must be the one asked for;
- a local file: OpenAI's own TorchScript archive (``ViT-B-32.pt``: QuickGELU, state dict
  converted as open_clip converts OpenAI weights), or an open_clip state dict (``.bin``, ``.pt``,
  ``.pth``, ``.safetensors``). A state dict does not say which activation it was trained with:
  ``quick_gelu`` decides; without it, a file inside the Hugging Face cache of a known tag takes
  that tag's activation, else the architecture's open_clip config decides (GELU for ``ViT-B-32``,
  QuickGELU for ``ViT-B-32-quickgelu``), and the choice and its reason are logged;
- ``none``: seeded random initialisation (not semantic; tests and cost measurements).

Downloads go through ``huggingface_hub`` (so ``HF_ENDPOINT`` mirrors, ``HF_HOME`` /
``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` apply). Cached files load without any network access;
otherwise one metadata request to the endpoint (no retries) decides, so that offline runs fail
within seconds with a message that says what to do.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import open_clip
import torch
from torch import nn

from tempme.errors import WeightsUnavailableError  # noqa: F401  (raised here; defined torch-free)

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(__file__).with_name("model_configs")
open_clip.add_model_config(_CONFIG_DIR)

SUPPORTED_ARCHS = ("ViT-B-32", "ViT-B-16", "tempme-tiny")
RANDOM_INIT_SEED = 0
HF_HUB_PREFIX = "hf-hub:"
HUB_TIMEOUT_S = 10.0  # one metadata request to the hub endpoint
# open_clip's file names in a model repository, in the order open_clip tries them
HUB_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HUB_CONFIG_FILE = "open_clip_config.json"
# keys of OpenAI's TorchScript state dict that are not parameters (open_clip drops them too)
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


@dataclass(frozen=True)
class WeightSource:
    """Where the weights come from and which activation the model gets.

    Attributes:
        kind: ``random``, ``tag``, ``hf-hub``, ``openai-archive`` or ``state-dict``.
        quick_gelu: True for QuickGELU (``x * sigmoid(1.702 x)``), False for exact GELU.
        reason: why that activation (logged, and shown by ``tempme`` commands).
        path: the checkpoint file (None for random weights).
        preprocess: open_clip preprocess settings of the tag / repository (mean, std, ...).
    """

    kind: str
    quick_gelu: bool
    reason: str
    path: Optional[Path] = None
    preprocess: Optional[dict] = None


def _act(quick_gelu: bool) -> str:
    return "QuickGELU" if quick_gelu else "GELU"


def arch_quick_gelu(arch: str) -> bool:
    """The activation of ``arch``'s open_clip model config (``-quickgelu`` names: True)."""
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ValueError(f"unknown architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHS)}")
    return bool(cfg.get("quick_gelu", False))


def tag_quick_gelu(arch: str, tag: str) -> bool:
    """The activation a pretrained tag was trained with, from open_clip's pretrained config."""
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        raise ValueError(f"{tag!r} is not an open_clip tag for {arch}")
    return bool(cfg.get("quick_gelu", False))


def _offline_message(what: str, reason: str) -> str:
    """What failed and the three real choices, in order (issue 28): a local checkpoint, the tiny
    test model to try the pipeline in seconds, random full-size weights."""
    return (
        f"could not load {what}: {reason}. Three ways on: "
        f"(1) a local checkpoint file: --pretrained /path/to/file (OpenAI's ViT-B-32.pt, or an open_clip "
        f".bin / .safetensors; or download the weights once with internet access: they are cached under "
        f"~/.cache/huggingface, HF_ENDPOINT names a mirror); "
        f"(2) to try the pipeline in seconds: --model tempme-tiny --pretrained none (a tiny random model, "
        f"about 4 s per video-minute; rankings are meaningless); "
        f"(3) --pretrained none: the full-size architecture with random weights (about 27 s per video-minute "
        f"on a CPU, not semantic; a library keeps the encoder it starts with)."
    )


def _hub_file(repo_id: str, filenames: tuple[str, ...], what: str, cache_dir: Optional[str]) -> Path:
    """The first of ``filenames`` in ``repo_id``: from the cache, else downloaded.

    Raises:
        WeightsUnavailableError: offline (``HF_HUB_OFFLINE``, or the endpoint cannot be reached
            in one request) and not cached, or the repository has none of the files.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    for name in filenames:
        hit = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if isinstance(hit, str):
            return Path(hit)
    if constants.is_offline_mode():
        raise WeightsUnavailableError(
            _offline_message(what, "HF_HUB_OFFLINE is set and they are not in the local cache")
        )
    for name in filenames:
        try:  # one request, no retries: huggingface_hub's own download would retry for ~25 s per file
            get_hf_file_metadata(hf_hub_url(repo_id, name), timeout=HUB_TIMEOUT_S)
        except EntryNotFoundError:
            continue
        except Exception as exc:  # connection errors, HTTP errors, gated or missing repositories
            raise WeightsUnavailableError(
                _offline_message(what, f"not cached, and {constants.ENDPOINT} cannot serve {repo_id}/{name}: {exc}")
            ) from exc
        try:
            return Path(hf_hub_download(repo_id, name, cache_dir=cache_dir))
        except Exception as exc:
            raise WeightsUnavailableError(
                _offline_message(what, f"download of {repo_id}/{name} failed: {exc}")
            ) from exc
    raise WeightsUnavailableError(f"could not load {what}: {repo_id} has none of {', '.join(filenames)}")


def _tag_repo(cfg: dict) -> tuple[str, tuple[str, ...]]:
    """(repo id, candidate file names) of a pretrained config's ``hf_hub`` entry."""
    hub = cfg["hf_hub"].strip("/")
    parts = hub.split("/")
    if len(parts) > 2:  # org/repo/file
        return "/".join(parts[:2]), ("/".join(parts[2:]),)
    return hub, HUB_WEIGHT_FILES


def _tag_from_cache_path(arch: str, path: Path) -> Optional[str]:
    """The tag whose Hugging Face cache folder holds ``path`` (``models--org--repo/...``), if any."""
    parts = set(path.resolve().parts) | set(path.absolute().parts)
    for tag in open_clip.list_pretrained_tags_by_model(arch):
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        if cfg.get("hf_hub"):
            repo, _ = _tag_repo(cfg)
            if "models--" + repo.replace("/", "--") in parts:
                return tag
    return None


def cached_tags(arch: str, cache_dir: Optional[str] = None) -> list[str]:
    """The open_clip pretrained tags of ``arch`` whose weights are already in the local Hugging
    Face cache, in open_clip's order: what can be loaded offline, without any network request
    (``huggingface_hub.try_to_load_from_cache`` only reads the cache folder).

    Raises:
        ValueError: unknown architecture.
    """
    from huggingface_hub import try_to_load_from_cache

    if open_clip.get_model_config(arch) is None:
        raise ValueError(f"unknown architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHS)}")
    found = []
    for tag in open_clip.list_pretrained_tags_by_model(arch):
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        if not cfg.get("hf_hub"):
            continue
        repo, files = _tag_repo(cfg)
        if any(isinstance(try_to_load_from_cache(repo, f, cache_dir=cache_dir), str) for f in files):
            found.append(tag)
    return found


def is_torchscript_archive(path: Path) -> bool:
    """True for a TorchScript archive (OpenAI's CLIP ``.pt`` files), False for a state dict."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("/constants.pkl") or name == "constants.pkl" for name in zf.namelist())


def _check_explicit(quick_gelu: Optional[bool], known: bool, reason: str, what: str) -> None:
    if quick_gelu is not None and quick_gelu != known:
        raise ValueError(f"--{'' if quick_gelu else 'no-'}quick-gelu contradicts {what}: {reason}; drop the option")


def resolve_weights(
    arch: str, pretrained: Optional[str], quick_gelu: Optional[bool] = None, cache_dir: Optional[str] = None
) -> WeightSource:
    """Decide where the weights of ``arch`` come from and which activation they need.

    Args:
        arch: open_clip architecture name.
        pretrained: tag, ``hf-hub:org/repo``, local file, or ``none``.
        quick_gelu: the activation when it cannot be known (random weights, a plain state dict);
            None for the default. Contradicting a known activation is an error.
        cache_dir: Hugging Face cache folder (default: huggingface_hub's).

    Raises:
        ValueError: unknown architecture, or ``quick_gelu`` contradicts the weights.
        WeightsUnavailableError: not a tag / file / hub id, or the files cannot be obtained.
    """
    default = arch_quick_gelu(arch)
    if pretrained in ("none", "", None):
        qg = default if quick_gelu is None else quick_gelu
        why = f"{arch}'s open_clip config" if quick_gelu is None else "--quick-gelu option"
        return WeightSource("random", qg, f"random weights; {_act(qg)} from the {why}")
    if pretrained.startswith(HF_HUB_PREFIX):
        repo = pretrained[len(HF_HUB_PREFIX) :].strip("/")
        if not repo:
            raise WeightsUnavailableError("empty model id after 'hf-hub:'")
        what = f"{pretrained} for {arch}"
        cfg_path = _hub_file(repo, (HUB_CONFIG_FILE,), what, cache_dir)
        try:
            hub_cfg = json.loads(cfg_path.read_text())
            model_cfg = hub_cfg["model_cfg"]
        except (OSError, ValueError, KeyError) as exc:
            raise WeightsUnavailableError(
                f"{pretrained}: {HUB_CONFIG_FILE} is not an open_clip config ({exc})"
            ) from exc
        _check_same_arch(arch, model_cfg, pretrained)
        qg = bool(model_cfg.get("quick_gelu", False))
        reason = f"{_act(qg)} from {repo}/{HUB_CONFIG_FILE}"
        _check_explicit(quick_gelu, qg, reason, pretrained)
        path = _hub_file(repo, HUB_WEIGHT_FILES, what, cache_dir)
        return WeightSource("hf-hub", qg, reason, path, hub_cfg.get("preprocess_cfg") or None)
    path = Path(os.path.expanduser(pretrained))
    if path.is_file():
        if is_torchscript_archive(path):
            reason = "OpenAI TorchScript archive (OpenAI's CLIP was trained with QuickGELU)"
            _check_explicit(quick_gelu, True, reason, str(path))
            return WeightSource("openai-archive", True, reason, path)
        if quick_gelu is not None:
            return WeightSource("state-dict", quick_gelu, f"{_act(quick_gelu)} from the --quick-gelu option", path)
        tag = _tag_from_cache_path(arch, path)
        if tag is not None:
            qg = tag_quick_gelu(arch, tag)
            return WeightSource("state-dict", qg, f"{_act(qg)}: the file is the cached '{tag}' tag of {arch}", path)
        reason = (
            f"{_act(default)} from {arch}'s open_clip config: a state dict does not record its activation; "
            f"pass --quick-gelu for weights trained with QuickGELU (OpenAI's, open_clip's laion400m / "
            f"metaclip tags), --no-quick-gelu for GELU"
        )
        log.warning("%s: %s", path, reason)
        return WeightSource("state-dict", default, reason, path)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained in tags:
        cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        qg = bool(cfg.get("quick_gelu", False))
        reason = f"{_act(qg)}: open_clip's pretrained config of the '{pretrained}' tag"
        _check_explicit(quick_gelu, qg, reason, f"the '{pretrained}' tag")
        if not cfg.get("hf_hub"):
            raise WeightsUnavailableError(f"the '{pretrained}' tag of {arch} has no Hugging Face repository")
        repo, files = _tag_repo(cfg)
        path = _hub_file(repo, files, f"the '{pretrained}' weights for {arch}", cache_dir)
        return WeightSource("tag", qg, reason, path, cfg)
    raise WeightsUnavailableError(
        f"--pretrained {pretrained!r} is neither a file, an hf-hub: id nor a known tag for {arch} "
        f"(tags: {', '.join(tags) or 'none'})"
    )


def _check_same_arch(arch: str, model_cfg: dict, source: str) -> None:
    want = open_clip.get_model_config(arch)["vision_cfg"]
    got = model_cfg.get("vision_cfg", {})
    keys = ("image_size", "patch_size", "width", "layers")
    if any(want.get(k) != got.get(k) for k in keys) or "timm_model_name" in got:
        raise WeightsUnavailableError(
            f"{source} is not a {arch} model: vision tower {[got.get(k) for k in keys]} "
            f"(image size, patch, width, layers), expected {[want.get(k) for k in keys]}"
        )


def _load_openai_archive(model: nn.Module, path: Path) -> None:
    """Load OpenAI's TorchScript CLIP archive into an open_clip CLIP of the same architecture.

    As open_clip's ``load_openai_model`` / ``build_model_from_openai_state_dict``: take the
    archive's state dict, drop its non-parameter entries, cast (OpenAI ships fp16) to the model's
    dtype; the key names are open_clip's.
    """
    archive = torch.jit.load(str(path), map_location="cpu")
    state = {k: v for k, v in archive.state_dict().items() if k not in _OPENAI_EXTRA_KEYS}
    dtype = next(model.parameters()).dtype
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)


def create_clip(
    arch: str,
    pretrained: str = "openai",
    device: str | torch.device = "cpu",
    quick_gelu: Optional[bool] = None,
    cache_dir: Optional[str] = None,
) -> nn.Module:
    """Create ``arch`` with ``pretrained`` weights and their activation, in eval mode on ``device``.

    The chosen :class:`WeightSource` is attached as ``model.tempme_weights``.

    Raises:
        ValueError: unknown architecture, or ``quick_gelu`` contradicts the weights.
        WeightsUnavailableError: weights cannot be downloaded or the local file cannot be read;
            the message says how to pass a local file.
    """
    if arch not in open_clip.list_models():
        raise ValueError(f"unknown architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHS)}")
    source = resolve_weights(arch, pretrained, quick_gelu, cache_dir)
    qg = source.quick_gelu
    # force_quick_gelu sets the config value open_clip checks; quick_gelu= (a CLIP argument)
    # also turns it off for -quickgelu configs
    kwargs = dict(device=device, force_quick_gelu=qg, quick_gelu=qg)
    if source.kind == "random":
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
    else:
        try:
            if source.kind == "openai-archive":
                model = open_clip.create_model(arch, pretrained=None, **kwargs)
                _load_openai_archive(model, source.path)
            else:
                model = open_clip.create_model(arch, pretrained=str(source.path), **kwargs)
        except Exception as exc:  # open_clip and torch raise many kinds for bad files
            raise WeightsUnavailableError(f"could not load {source.path} as {arch} weights: {exc}") from exc
        if source.preprocess:
            from open_clip.factory import merge_preprocess_dict

            pre = merge_preprocess_dict(open_clip.get_model_preprocess_cfg(model), source.preprocess)
            open_clip.set_model_preprocess_cfg(model, pre)
    log.info("%s weights (%s): %s", arch, source.kind, source.reason)
    model.tempme_weights = source
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
