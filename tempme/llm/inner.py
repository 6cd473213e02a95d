"""Inner reducers: which visual tokens survive from decoder layer K on (see :mod:`tempme.llm.hooks`).

An inner reducer sees, at the input of layer K during prefill, the hidden states ``(B, L, C)``,
the visual span ``(start, length)`` and, when it asks for them, the attention that the last
prompt token paid to every visual token in layer K - 1 (mean over heads, ``(B, V)``). It returns
the visual tokens to keep (indices into the span, ``(B, V')``, the same V' for every row) and
optionally new hidden states for them. Text tokens are never touched.

* :class:`FastV` (Chen et al., "An Image is Worth 1/2 Tokens After Layer 2", ECCV 2024, Sec. 4):
  keep the visual tokens with the largest attention from the last token; drop the rest.
* :class:`HoliTomInnerMerge` (HoliTom Sec. 3.4): keep the same way, then average every dropped
  token, one after the other, into its most similar kept token (cosine of the hidden states)
  instead of discarding it; its span includes the video's newline token, as the reference's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class InnerSelection:
    """keep: (B, V') sorted indices into the visual span; hidden: (B, V', C) replacement states or None."""

    keep: Tensor
    hidden: Tensor | None = None


class InnerReducer:
    """Base class. ``layer`` None means the method's default for the model's depth.

    Args:
        keep: fraction of the visual tokens kept from layer K on, in (0, 1].
        layer: K, the first decoder layer that sees the reduced sequence (>= 1 when attention is used).
    """

    name = "inner"
    needs_attention = True
    default_layer_fraction = 2 / 28
    span_includes_newline = False
    """Whether the reduced span includes the newline token that follows the video (HoliTom's does)."""

    def __init__(self, keep: float = 0.5, layer: int | None = None):
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"{self.name}: keep must be in (0, 1], got {keep}")
        if layer is not None and layer < 0:
            raise ValueError(f"{self.name}: layer must be >= 0, got {layer}")
        self.keep = keep
        self.layer = layer

    def resolve_layer(self, num_layers: int) -> int:
        """K for a model with ``num_layers`` decoder layers.

        Raises:
            ValueError: K outside [1, num_layers - 1] (attention-based) or [0, num_layers - 1].
        """
        k = self.layer if self.layer is not None else max(1, round(self.default_layer_fraction * num_layers))
        low = 1 if self.needs_attention else 0
        if not low <= k < num_layers:
            raise ValueError(
                f"{self.name}: layer {k} is outside [{low}, {num_layers - 1}] for a {num_layers}-layer model"
            )
        return k

    def kept_count(self, v: int) -> int:
        """Visual tokens kept of ``v``: ``round(keep * v)`` as Python rounds (half to even), clamped to [1, v]."""
        return max(1, min(v, round(self.keep * v)))

    def select(self, hidden: Tensor, span: tuple[int, int], attention: Tensor | None) -> InnerSelection:
        """Choose the visual tokens kept from layer K on.

        Args:
            hidden: (B, L, C) input of layer K.
            span: (start, length) of the visual tokens in the sequence.
            attention: (B, V) attention of the last token over the visual span in layer K - 1.
        """
        raise NotImplementedError


def _top_attention(attention: Tensor, k: int) -> Tensor:
    """(B, V) -> (B, k) indices of the k largest, sorted by position."""
    return torch.topk(attention.float(), k, dim=1).indices.sort(dim=1).values


class FastV(InnerReducer):
    """FastV: at layer K (default 2), drop the visual tokens the last token attends to least.

    The paper's default keeps 50 % of the image tokens after layer 2 (R = 50 %). The kept count is
    the reference's ``round(V * (1 - R))`` with Python's rounding (``pkunlp-icler/FastV``,
    ``fastv_forward`` in ``src/FastV/llava-hf/.../llama/modeling_llama.py``): 312 of 625 at R = 50 %.

    Args:
        round_half_up: round ``keep * V`` half up instead (313 of 625; this project's rule before
            issue 31, kept as an option).
    """

    name = "fastv"

    def __init__(self, keep: float = 0.5, layer: int | None = None, round_half_up: bool = False):
        super().__init__(keep, layer)
        self.round_half_up = round_half_up

    def kept_count(self, v: int) -> int:
        if self.round_half_up:
            return max(1, min(v, math.floor(self.keep * v + 0.5)))
        return super().kept_count(v)

    def select(self, hidden, span, attention):
        return InnerSelection(_top_attention(attention, self.kept_count(span[1])))


class HoliTomInnerMerge(InnerReducer):
    """HoliTom's inner-LLM merge, as the reference's ``Qwen2Model_holitom.forward`` does it: at layer K
    (default 18 of 28) keep the ``round(keep * V)`` visual tokens (Python rounding) that the last
    prompt token attends to most in layer K - 1; every other visual token d, in sequence order, is
    averaged into its most similar kept token k (cosine of the layer-K input states, computed once):
    ``h_k <- (h_k + h_d) / 2``. The span includes LLaVA-OV's trailing newline token.

    The sequential averages are computed in closed form: a kept token that receives d_1 .. d_m (in
    order) becomes ``h_k / 2^m + sum_j h_{d_j} / 2^(m - j + 1)``.
    """

    name = "holitom-inner"
    default_layer_fraction = 18 / 28
    span_includes_newline = True

    def select(self, hidden, span, attention):
        start, v = span
        keep = _top_attention(attention, self.kept_count(v))  # (B, V')
        vis = hidden[:, start : start + v].float()  # (B, V, C)
        b, kv = keep.shape
        c = vis.shape[-1]
        dev = hidden.device
        is_kept = torch.zeros(b, v, dtype=torch.bool, device=dev).scatter_(1, keep, True)
        dropped = (~is_kept).nonzero()[:, 1].view(b, v - kv)  # (B, Vd) span indices in order
        kept = torch.gather(vis, 1, keep[..., None].expand(b, kv, c))  # (B, V', C)
        if v == kv:
            return InnerSelection(keep, kept.to(hidden.dtype))
        drop = torch.gather(vis, 1, dropped[..., None].expand(b, v - kv, c))  # (B, Vd, C)
        sim = torch.nn.functional.normalize(drop, dim=-1) @ torch.nn.functional.normalize(kept, dim=-1).transpose(1, 2)
        target = sim.argmax(-1)  # (B, Vd): kept token (index into keep) each dropped token merges into
        count = torch.zeros(b, kv, device=dev).scatter_add_(1, target, torch.ones_like(target, dtype=torch.float))
        # rank of each dropped token among those with the same target, in sequence order
        order = torch.sort(target, dim=1, stable=True)
        group_start = torch.searchsorted(order.values, order.values, right=False)
        rank_sorted = torch.arange(v - kv, device=dev)[None].expand(b, -1) - group_start
        rank = torch.empty_like(rank_sorted).scatter_(1, order.indices, rank_sorted)
        m = torch.gather(count, 1, target)  # (B, Vd) tokens merged into the same target
        w_drop = torch.exp2(-(m - rank.float()))  # 1 / 2^(m - j + 1) with j = rank + 1
        out = kept * torch.exp2(-count)[..., None]
        out = out.scatter_add(1, target[..., None].expand(b, v - kv, c), drop * w_drop[..., None])
        return InnerSelection(keep, out.to(hidden.dtype))
