"""TempMe configuration: one frozen dataclass, validated on construction, saved as JSON.

Presets follow the TempMe paper (Shen et al., ICLR 2025, Sec. 4.1 and Tab. 1) and the reference
code: ViT-B/32 merges r = 2 tokens per ImgMe layer and keeps 70 % / 90 % of the tokens in the
cross-clip / intra-clip merges of ClipMe; ViT-B/16 uses r = 10 and 60 % / 80 %.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


class JsonConfig:
    """JSON round trip for frozen config dataclasses (tuples become lists in JSON and are turned
    back into tuples by each class's ``__post_init__``)."""

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**d)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path):
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class TempMeConfig(JsonConfig):
    """How a CLIP vision tower becomes a TempMe video encoder.

    Attributes:
        arch: open_clip architecture name (``ViT-B-32``, ``ViT-B-16``, ``tempme-tiny``).
        num_frames: T, frames per video (or per indexed segment).
        merging: False gives the baseline: per-frame CLIP, no merging, mean pooling of the T
            frame embeddings (also the zero-shot setting).
        imgme_r: tokens merged per ImgMe layer and frame (ToMe's r).
        clip_groups: how many neighbouring sequences each ClipMe layer concatenates; their
            product must equal ``num_frames`` (12 -> 6 -> 3 -> 1 for (2, 2, 3)).
        cross_keep: fraction of tokens kept by the cross-clip merge before attention.
        intra_keep: fraction kept by the intra-clip merge after attention (ClipMe and last layer).
        prop_attn: proportional attention (add log(size) of each key to the logits).
        lora_rank: rank of the LoRA update of every fused QKV projection (0 disables LoRA).
        lora_text: also adapt the text tower's attention layers.
        temporal_embed: zero-initialised clip-temporal embeddings in the ClipMe layers.
        text_context: text tokens (TempMe uses 32; CLIP's causal mask makes this exact for
            captions that fit).
        quick_gelu: the towers' activation, QuickGELU (True) or GELU (False); None lets the
            weights decide (:func:`tempme.weights.resolve_weights`). Encoders record the value
            they were built with, so adapters and libraries reload with the same activation.
    """

    arch: str = "ViT-B-32"
    num_frames: int = 12
    merging: bool = True
    imgme_r: int = 2
    clip_groups: tuple[int, ...] = (2, 2, 3)
    cross_keep: float = 0.7
    intra_keep: float = 0.9
    prop_attn: bool = True
    lora_rank: int = 8
    lora_text: bool = True
    temporal_embed: bool = True
    text_context: int = 32
    quick_gelu: Optional[bool] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "clip_groups", tuple(int(g) for g in self.clip_groups))
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.imgme_r < 0:
            raise ValueError(f"imgme_r must be >= 0, got {self.imgme_r}")
        if any(g < 1 for g in self.clip_groups):
            raise ValueError(f"clip_groups must be positive, got {self.clip_groups}")
        if self.merging and math.prod(self.clip_groups) != self.num_frames:
            raise ValueError(
                f"the product of clip_groups {self.clip_groups} is {math.prod(self.clip_groups)}, "
                f"but num_frames is {self.num_frames}: ClipMe must end with one sequence per video"
            )
        for name in ("cross_keep", "intra_keep"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if not 1 <= self.text_context <= 77:
            raise ValueError(f"text_context must be in [1, 77], got {self.text_context}")

    @classmethod
    def preset(cls, arch: str, **overrides: Any) -> TempMeConfig:
        """The paper's setting for ``arch``'s family (see :func:`preset_family`).

        Raises:
            ValueError: ``arch`` has no TempMe preset (pass the merge settings explicitly).
        """
        base: dict[str, Any] = dict(PRESETS[preset_family(arch)])
        base["arch"] = arch
        base.update(overrides)
        return cls(**base)


PRESETS: dict[str, dict[str, Any]] = {
    "ViT-B-32": dict(imgme_r=2, cross_keep=0.7, intra_keep=0.9),
    "ViT-B-16": dict(imgme_r=10, cross_keep=0.6, intra_keep=0.8),
    # A 6-layer, 64x64, 16x16-patch test architecture: 2 ImgMe layers, 3 ClipMe layers, 1 final.
    "tempme-tiny": dict(imgme_r=1, cross_keep=0.7, intra_keep=0.9),
}


def preset_family(arch: str) -> str:
    """The preset an open_clip architecture name uses: its family, ``ViT-B-32*`` or ``ViT-B-16*``.

    ``ViT-B-32-quickgelu`` and other variants of one geometry share its preset (the merge
    schedule depends on the patch grid and depth only). Raises ValueError for architectures
    without a TempMe preset (e.g. ``ViT-L-14``, ``ViT-B-32-256``).
    """
    for family in PRESETS:
        if arch == family or arch.startswith(family + "-") and arch[len(family) + 1 :] in _VARIANTS:
            return family
    raise ValueError(
        f"no TempMe preset for architecture {arch!r}: presets exist for {', '.join(PRESETS)} "
        f"and their {', '.join('-' + v for v in _VARIANTS)} variants"
    )


# name suffixes of open_clip architectures with the family's geometry (224 px, same depth)
_VARIANTS = ("quickgelu",)
