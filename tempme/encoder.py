"""The TempMe video/text encoder: the object every other part of tempme uses.

``load_encoder`` builds an open_clip CLIP (weights as in :mod:`tempme.weights`), patches it with
TempMe (:mod:`tempme.patch`), injects LoRA (:mod:`tempme.lora`) and optionally loads an adapter.
Video embedding (TempMe Sec. 3.1): the T class tokens -> ln_post -> proj -> L2-normalise -> mean
-> L2-normalise. Text: the CLIP text tower at 32 tokens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from tempme.config import TempMeConfig
from tempme.lora import fold_lora, inject_lora, load_adapter, read_adapter_config, save_adapter
from tempme.patch import apply_tempme
from tempme.plan import TokenPlan
from tempme.provenance import MergeTrace
from tempme.video import resize_short_side
from tempme.weights import create_clip, shrink_text_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderInfo:
    """What produced a set of embeddings; stored beside them (e.g. in the index database)."""

    arch: str
    pretrained: str
    adapter_hash: Optional[str]
    embed_dim: int
    num_frames: int
    image_size: int
    merging: bool
    config: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderInfo:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def describe(self) -> str:
        adapter = self.adapter_hash or "no adapter"
        mode = "TempMe" if self.merging else "mean pooling"
        qg = (self.config or {}).get("quick_gelu")
        act = "activation not recorded" if qg is None else ("QuickGELU" if qg else "GELU")
        return f"{self.arch} ({self.pretrained}, {adapter}, {mode}, {self.num_frames} frames, {act})"


class VideoEncoder(nn.Module):
    """TempMe video encoder plus CLIP text encoder (use :func:`load_encoder`)."""

    def __init__(self, model: nn.Module, config: TempMeConfig, plan: TokenPlan, info: EncoderInfo):
        super().__init__()
        self.model = model
        self.config = config
        self.plan = plan
        self.info = info
        self.tokenizer = open_clip.get_tokenizer(config.arch)
        pre = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
        self.image_mean = tuple(pre.get("mean", open_clip.OPENAI_DATASET_MEAN))
        self.image_std = tuple(pre.get("std", open_clip.OPENAI_DATASET_STD))

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def image_size(self) -> int:
        return self.info.image_size

    @property
    def embed_dim(self) -> int:
        return self.info.embed_dim

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def logit_scale(self) -> float:
        """The frozen CLIP temperature exp(t) (100 for OpenAI CLIP)."""
        return float(self.model.logit_scale.detach().exp())

    def preprocess_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """CLIP preprocessing of decoded frames.

        Args:
            frames: (T, H, W, 3) uint8 RGB.

        Returns:
            (T, 3, S, S) float32: open_clip's image transform for the model: shorter side
            resized to S (bicubic, antialiased: :func:`tempme.video.resize_short_side`), centre
            crop, the model's mean/std normalisation.

        Raises:
            ValueError: wrong shape or dtype.
        """
        x = torch.as_tensor(frames)
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {tuple(x.shape)} {x.dtype}")
        S = self.image_size
        x = resize_short_side(x, S)  # (T, H, W, 3) -> (T, 3, H', W'), bicubic as open_clip
        x = TF.center_crop(x, [S, S])
        x = x.float().div_(255.0)
        return TF.normalize(x, list(self.image_mean), list(self.image_std))

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, S, S) -> (B, T, D) L2-normalised per-frame embeddings (before the mean)."""
        x = self._check_frames(frames)
        return F.normalize(self.model.visual.forward_video(x), dim=-1)

    def _check_frames(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 5:
            raise ValueError(f"expected (B, T, 3, H, W) frames, got shape {tuple(frames.shape)}")
        if frames.shape[1] != self.num_frames:
            raise ValueError(f"expected T={self.num_frames} frames per video, got {frames.shape[1]}")
        return frames.to(self.device, non_blocking=True)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode videos.

        Args:
            frames: (B, T, 3, S, S) preprocessed frames (see :meth:`preprocess_frames`).

        Returns:
            (B, D) L2-normalised float32 video embeddings.

        Raises:
            ValueError: if the shape is not (B, T, 3, H, W) with T = ``num_frames``.
        """
        per_frame = self.encode_frames(frames)  # (B, T, D)
        return F.normalize(per_frame.float().mean(dim=1), dim=-1)

    def encode_still(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images as still videos: each image as T identical frames.

        Args:
            images: (Q, 3, S, S) preprocessed images (:meth:`preprocess_frames`).

        Returns:
            (Q, D) L2-normalised float32 embeddings: :meth:`encode_video` on T copies of each
            image, with the per-frame layers run once (``TempMeVisionTransformer.forward_still``;
            equal with merging off, to the tie-breaking among identical tokens with merging on).

        Raises:
            ValueError: if the shape is not (Q, 3, H, W).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (Q, 3, H, W) images, got shape {tuple(images.shape)}")
        per_frame = F.normalize(self.model.visual.forward_still(images.to(self.device)), dim=-1)  # (Q, T, D)
        return F.normalize(per_frame.float().mean(dim=1), dim=-1)

    def encode_video_traced(self, frames: torch.Tensor) -> tuple[torch.Tensor, list[MergeTrace]]:
        """:meth:`encode_video` with merge provenance (the same embeddings, bit for bit).

        Args:
            frames: (B, T, 3, S, S) preprocessed frames.

        Returns:
            (B, D) L2-normalised video embeddings and one :class:`tempme.provenance.MergeTrace`
            per video: for every merge step, which original (frame, position) tokens each
            token holds.

        Raises:
            ValueError: as :meth:`encode_video`.
        """
        x = self._check_frames(frames)
        per_frame, traces = self.model.visual.forward_video_traced(x)  # (B, T, D), B traces
        return F.normalize(F.normalize(per_frame, dim=-1).float().mean(dim=1), dim=-1), traces

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """(Q,) strings -> (Q, L) token ids, L = ``config.text_context`` (longer texts truncated)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_text expects a list of strings")
        return self.tokenizer(list(texts), context_length=self.config.text_context)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(Q,) strings -> (Q, D) L2-normalised float32 text embeddings."""
        tokens = self.tokenize(texts).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save_adapter(self, directory: Path, meta: dict | None = None) -> str:
        """Save LoRA + temporal embeddings (never the frozen CLIP weights); returns the hash."""
        return save_adapter(self.model, self.config, directory, meta)

    def fold_lora(self) -> int:
        """Fold LoRA into the weights for inference; the encoder cannot be trained afterwards."""
        return fold_lora(self.model)

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """``torch.inference_mode`` plus bf16 autocast on CUDA (fp32 on CPU)."""
        with torch.inference_mode():
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    yield
            else:
                yield


def load_encoder(
    model: str = "ViT-B-32",
    pretrained: str = "openai",
    adapter: Optional[Path] = None,
    device: Optional[str | torch.device] = None,
    config: Optional[TempMeConfig] = None,
    quick_gelu: Optional[bool] = None,
) -> VideoEncoder:
    """Build a TempMe encoder.

    Args:
        model: open_clip architecture (``ViT-B-32``, ``ViT-B-16``, ``tempme-tiny``).
        pretrained: an open_clip tag (``openai``, ...), ``hf-hub:org/repo``, a local checkpoint
            file (OpenAI's TorchScript ``.pt`` or an open_clip state dict), or ``none`` (random,
            with a warning); see :mod:`tempme.weights`.
        adapter: directory written by :meth:`VideoEncoder.save_adapter`; its TempMe config is
            used unless ``config`` is given.
        device: default ``cuda`` when available, else ``cpu``.
        config: TempMe settings; default the preset for ``model``.
        quick_gelu: the activation where the weights cannot tell (a plain state dict, random
            weights); default ``config.quick_gelu``. The resolved activation is recorded in
            ``encoder.config.quick_gelu``.

    Raises:
        ValueError: unknown architecture, no TempMe preset, inconsistent config, or a
            ``quick_gelu`` that contradicts the weights.
        tempme.weights.WeightsUnavailableError: weights cannot be obtained.
        tempme.lora.AdapterError: the adapter does not fit.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if config is None:
        config = read_adapter_config(adapter) if adapter else TempMeConfig.preset(model)
    if config.arch != model:
        config = config.replace(arch=model)
    if quick_gelu is None:
        quick_gelu = config.quick_gelu
    clip = create_clip(model, pretrained, device="cpu", quick_gelu=quick_gelu)
    config = config.replace(quick_gelu=clip.tempme_weights.quick_gelu)
    shrink_text_context(clip, config.text_context)
    plan = apply_tempme(clip, config)  # after the weights: state dicts load unchanged
    clip = inject_lora(clip, config.lora_rank, text=config.lora_text)  # after the weights
    digest = None
    if adapter is not None:
        digest = load_adapter(clip, Path(adapter))
    clip = clip.to(device).eval()
    visual = clip.visual
    info = EncoderInfo(
        arch=model,
        pretrained=str(pretrained),
        adapter_hash=digest,
        embed_dim=int(visual.output_dim),
        num_frames=config.num_frames,
        image_size=int(visual.image_size[0]),
        merging=config.merging,
        config=config.to_dict(),
    )
    log.info("encoder: %s; tokens per video %d -> %d", info.describe(), plan.tokens_in, plan.tokens_out)
    return VideoEncoder(clip, config, plan, info)
