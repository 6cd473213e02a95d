"""Video features and vision-attention saliency from a Hugging Face LLaVA-OneVision model.

* :func:`video_features` calls the model's own ``get_video_features`` (vision tower, projector,
  LLaVA-OV's 2x2 bilinear pooling) and returns ``(B, T * N + 1, C)``: the frames' tokens and the
  single image-newline token that LLaVA-OV appends to a video. Across transformers versions the
  call differs (4.57 - 5.x: required or optional layer / strategy arguments; a tensor or an output object;
  the newline appended inside ``get_video_features`` from 5.24 on, in ``forward`` before), so
  this is the one place that knows.
* :class:`SaliencyCapture` computes HoliTom's saliency: the attention each patch *receives* in the
  vision layer whose output LLaVA-OV uses (mean over heads and queries), as the reference reads
  ``attentions[-1].mean(1).mean(1)``. It hooks that one attention module and recomputes its
  softmax from its own q/k projections, a few frames at a time, so no attention map of any other
  layer is ever kept (``output_attentions=True`` keeps all of them: for SigLIP-so400m at 32 frames,
  26 x 32 x 16 x 729^2 bf16 values = 14.1 GB) and it works with eager and SDPA attention alike.

Shapes: B videos, T frames, P patches per frame, N pooled tokens per frame, C channels.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import Tensor, nn


def _vision_layers(model) -> nn.ModuleList:
    tower = model.model.vision_tower
    for path in ("vision_model.encoder.layers", "encoder.layers"):
        obj = tower
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise TypeError(f"no encoder layers found in the vision tower {type(tower).__name__}")


def feature_layer_index(model) -> int:
    """Index of the vision encoder layer whose output LLaVA-OV's projector reads.

    ``hidden_states[f]`` is the output of layer ``f - 1`` (``hidden_states[0]`` the embeddings); with
    several feature layers, the deepest one.
    """
    layers = len(_vision_layers(model))
    f = model.config.vision_feature_layer
    f = (
        max((x if x >= 0 else layers + 1 + x) for x in f)
        if isinstance(f, (list, tuple))
        else (f if f >= 0 else layers + 1 + f)
    )
    if not 1 <= f <= layers:
        raise ValueError(
            f"vision_feature_layer {model.config.vision_feature_layer} selects no encoder layer of {layers}"
        )
    return f - 1


def video_features(model, pixel_values_videos: Tensor) -> Tensor:
    """(B, T, 3, S, S) pixels -> (B, T * N + 1, C) projected, pooled tokens plus the newline token."""
    inner = model.model
    cfg = model.config
    b, t = pixel_values_videos.shape[:2]
    kwargs = dict(
        vision_feature_layer=cfg.vision_feature_layer, vision_feature_select_strategy=cfg.vision_feature_select_strategy
    )
    params = inspect.signature(inner.get_video_features).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs["return_dict"] = True
    out = inner.get_video_features(pixel_values_videos, **kwargs)  # the first parameter's name varies
    feats = out if isinstance(out, Tensor) else out.pooler_output
    vcfg = cfg.vision_config
    side = math.ceil(vcfg.image_size // vcfg.patch_size / 2)
    n = side * side
    if feats.shape[1] == t * n:  # transformers < 5.24 appends the newline in forward, not here
        newline = inner.image_newline[None, None, :].expand(b, 1, -1).to(feats.device, feats.dtype)
        feats = torch.cat([feats, newline], dim=1)
    if feats.shape[1] != t * n + 1:
        raise ValueError(f"expected {t}x{n}+1 video features, got {feats.shape[1]}")
    return feats


def unpooled_video_features(model, pixel_values_videos: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """(B, T, 3, S, S) -> ((B, T, P, C) projected tokens *before* LLaVA-OV's 2x2 pooling, (h, w) patch grid).

    The same steps as ``get_video_features`` (feature layer, selection strategy, projector) without
    ``apply_pooling``; VQToken clusters these (729 per frame for SigLIP-so400m at 384 px).
    """
    inner = model.model
    cfg = model.config
    b, t = pixel_values_videos.shape[:2]
    out = inner.vision_tower(pixel_values_videos.flatten(0, 1), output_hidden_states=True, return_dict=True)
    f = cfg.vision_feature_layer
    sel = out.hidden_states[f] if isinstance(f, int) else torch.cat([out.hidden_states[i] for i in f], dim=-1)
    if cfg.vision_feature_select_strategy == "default":
        sel = sel[:, 1:]
    proj = inner.multi_modal_projector(sel)  # (B*T, P, C)
    side = cfg.vision_config.image_size // cfg.vision_config.patch_size
    return proj.view(b, t, proj.shape[1], proj.shape[2]), (side, side)  # (B*T, P, C) -> (B, T, P, C)


class SaliencyCapture:
    """Context manager: while active, the feature layer's attention received per patch is recorded.

    After the block, :attr:`received` is ``(B * T, P)`` float32 (mean over heads and query
    patches of the softmax attention), or ``None`` when the layer did not run.

    Args:
        model: a ``LlavaOnevisionForConditionalGeneration``.
        chunk_bytes: upper bound on the float32 attention block computed at once.
    """

    def __init__(self, model, chunk_bytes: int = 256 * 2**20):
        self.attn = _vision_layers(model)[feature_layer_index(model)].self_attn
        self.chunk_bytes = chunk_bytes
        self.received: Tensor | None = None
        self.peak_bytes = 0  # the largest attention block held at once (for the benchmark)
        self._handle = None

    def __enter__(self) -> SaliencyCapture:
        self.received = None
        self._handle = self.attn.register_forward_pre_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None

    @torch.no_grad()
    def _hook(self, module, args, kwargs):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        bt, p, _ = hidden.shape
        heads = module.num_heads
        hd = module.head_dim
        per_frame = heads * p * p * 4
        step = max(1, self.chunk_bytes // per_frame)
        parts = []
        for i in range(0, bt, step):
            h = hidden[i : i + step]
            q = module.q_proj(h).view(h.shape[0], p, heads, hd).transpose(1, 2)  # (b, heads, P, hd)
            k = module.k_proj(h).view(h.shape[0], p, heads, hd).transpose(1, 2)
            probs = (q.float() @ k.float().transpose(2, 3) * module.scale).softmax(-1)  # (b, heads, P, P)
            self.peak_bytes = max(self.peak_bytes, probs.numel() * probs.element_size())
            parts.append(probs.mean(1).mean(1))  # (b, P): attention received
        self.received = torch.cat(parts)
        return None
