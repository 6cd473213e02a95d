"""The outer-reducer interface: visual tokens after the projector -> fewer tokens + provenance.

An *outer* reducer runs between the multimodal projector and the language model (HoliTom's
"outer-LLM" stage). It takes one video's tokens ``(T, N, C)`` on an ``H x W`` grid
(``N = H * W``), optional side inputs, and a :class:`Budget`, and returns a :class:`Reduction`:
the reduced tokens ``(M, C)`` in temporal order plus, for every source token, the output slot
it went to (``-1`` when dropped), each output token's size (source tokens it stands for) and its
mean ``(t, y, x)`` coordinate.

Shapes: T frames, N tokens per frame, C channels, M output tokens, S = T * N source tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class Budget:
    """How many visual tokens a reducer may emit.

    Exactly one of ``retain`` (fraction of the source tokens, in (0, 1]) or ``max_tokens``
    (an absolute count >= 1) is given. Non-adaptive reducers emit exactly ``resolve(S)``
    tokens; with ``adaptive=True`` a reducer that supports it (VQToken's elbow rule) chooses
    its own count, at most ``resolve(S)``.

    Raises:
        ValueError: neither or both limits given, or a limit out of range.
    """

    retain: float | None = None
    max_tokens: int | None = None
    adaptive: bool = False

    def __post_init__(self) -> None:
        if (self.retain is None) == (self.max_tokens is None):
            raise ValueError(
                f"give exactly one of retain or max_tokens, got retain={self.retain}, max_tokens={self.max_tokens}"
            )
        if self.retain is not None and not 0.0 < self.retain <= 1.0:
            raise ValueError(f"retain must be in (0, 1], got {self.retain}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def ratio(self, total: int) -> float:
        """The retained fraction for ``total`` source tokens (``max_tokens / total`` when a count is given)."""
        return self.retain if self.retain is not None else min(1.0, self.max_tokens / total)

    def resolve(self, total: int) -> int:
        """Token count for ``total`` source tokens: round-half-up of ``retain * total``, clamped to [1, total]."""
        if self.retain is not None:
            m = math.floor(self.retain * total + 0.5)
        else:
            m = self.max_tokens
        return max(1, min(total, int(m)))


@dataclass
class SideInputs:
    """Optional inputs some reducers use, all per video.

    saliency: (T, N) vision-encoder attention received by each token (HoliTom, FastV-style selection).
    keys: (T, N, Ck) vision-encoder attention keys (a similarity metric, as in ToMe).
    cls: (T, C) per-frame class/pooled tokens.
    question: the question text.
    frame_scores: (T,) text-frame similarity (B-VLLM frame selection), e.g. from
        :func:`tempme.llm.clip_scores.clip_frame_scores`.
    """

    saliency: Tensor | None = None
    keys: Tensor | None = None
    cls: Tensor | None = None
    question: str | None = None
    frame_scores: Tensor | None = None


@dataclass
class Reduction:
    """Reduced tokens and their provenance.

    tokens: (M, C) in the order they enter the LLM (by mean t, then y, then x, unless the method
        defines its own order, as HoliTom does).
    slot: (S,) long, the output slot of each source token in (t, y, x) raster order, -1 = dropped.
    sizes: (M,) float, number of source tokens in each slot (every slot has >= 1).
    coords: (M, 3) float, mean (t, y, x) of each slot's source tokens.
    grid: (T, H, W) of the source.
    extra: method-specific outputs (e.g. VQToken's codebook size, HoliTom's segments).
    """

    tokens: Tensor
    slot: Tensor
    sizes: Tensor
    coords: Tensor
    grid: tuple[int, int, int]
    extra: dict = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def num_source(self) -> int:
        return int(self.slot.shape[0])

    @property
    def retained(self) -> float:
        """Fraction of source tokens that the LLM sees as separate tokens (M / S)."""
        return self.num_tokens / self.num_source

    def token_hash(self) -> Tensor:
        """(T, H, W) map from every source position to its output slot (VQToken's token hash)."""
        return self.slot.view(*self.grid)

    def validate(self) -> None:
        """Check the provenance invariants (asserts; they are internal invariants)."""
        m = self.num_tokens
        assert self.slot.shape == (self.grid[0] * self.grid[1] * self.grid[2],)
        assert int(self.slot.min()) >= -1 and int(self.slot.max()) < m
        counts = torch.bincount(self.slot[self.slot >= 0], minlength=m)
        assert bool((counts > 0).all()), "every output slot needs a source token"
        assert torch.equal(counts.to(self.sizes.dtype), self.sizes)


def source_coords(grid: tuple[int, int, int], device=None) -> Tensor:
    """(S, 3) float (t, y, x) of every source token in raster order."""
    t, h, w = grid
    tt, yy, xx = torch.meshgrid(
        torch.arange(t, device=device), torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    return torch.stack([tt, yy, xx], dim=-1).reshape(-1, 3).float()


def group_mean(x: Tensor, slot: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """Mean of the rows of ``x`` (S, C) per slot in [0, m); rows with slot -1 are ignored.

    Returns (means (m, C), counts (m,) float).
    """
    keep = slot >= 0
    sums = torch.zeros(m, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, slot[keep], x[keep])
    counts = torch.zeros(m, dtype=x.dtype, device=x.device).index_add_(
        0, slot[keep], torch.ones_like(slot[keep], dtype=x.dtype)
    )
    return sums / counts.clamp_min(1)[:, None], counts


def reduction_from_slots(
    x: Tensor,
    slot: Tensor,
    grid: tuple[int, int, int],
    tokens: Tensor | None = None,
    extra: dict | None = None,
    keep_order: bool = False,
) -> Reduction:
    """Build a :class:`Reduction` from a source-to-slot assignment.

    Args:
        x: (S, C) source tokens in raster order.
        slot: (S,) long, any labels in [0, m) or -1; unused labels are removed and the slots are
            renumbered in temporal order (mean t, then y, then x).
        grid: (T, H, W).
        tokens: optional (m, C) output tokens for the labels (default: the mean of each group).
        keep_order: the labels already are the LLM order (0 .. m-1, every one used): no renumbering.
    """
    t, h, w = grid
    if slot.numel() != t * h * w or x.shape[0] != slot.numel():
        raise ValueError(f"slot has {slot.numel()} entries and x {x.shape[0]} rows for a {t}x{h}x{w} grid")
    slot = slot.long()
    m = int(slot.max()) + 1 if bool((slot >= 0).any()) else 0
    if m == 0:
        raise ValueError("a reduction must keep at least one token")
    means, counts = group_mean(x.float(), slot, m)
    coords, _ = group_mean(source_coords(grid, x.device), slot, m)
    out = means.to(x.dtype) if tokens is None else tokens
    used = counts > 0
    if keep_order:
        assert bool(used.all()), "keep_order needs every label 0 .. m-1 used"
        red = Reduction(out, slot, counts, coords, (t, h, w), dict(extra or {}))
        red.validate()
        return red
    key = coords[:, 0] * (h * w) + coords[:, 1] * w + coords[:, 2]
    key = torch.where(used, key, torch.full_like(key, float("inf")))
    order = torch.argsort(key, stable=True)[: int(used.sum())]  # old label of each new slot
    relabel = torch.full((m,), -1, dtype=torch.long, device=x.device)
    relabel[order] = torch.arange(order.numel(), device=x.device)
    new_slot = torch.where(slot >= 0, relabel[slot.clamp_min(0)], slot)
    red = Reduction(out[order], new_slot, counts[order], coords[order], (t, h, w), dict(extra or {}))
    red.validate()
    return red


class OuterReducer:
    """Base class: subclasses implement :meth:`reduce`; ``__call__`` validates the inputs."""

    name = "outer"
    uses_saliency = False
    uses_unpooled = False
    """Works on the projector's tokens before LLaVA-OV's 2x2 pooling (VQToken)."""
    """Reads ``SideInputs.saliency`` (the pipeline computes vision attention only for these)."""
    exact_budget = True
    """Emits exactly ``budget.resolve(S)`` tokens (False: the method's own rounding, e.g. HoliTom's)."""

    def __call__(
        self, tokens: Tensor, grid: tuple[int, int], budget: Budget, side: SideInputs | None = None
    ) -> Reduction:
        """Reduce one video's tokens.

        Args:
            tokens: (T, N, C) projected visual tokens, N = H * W in raster order.
            grid: (H, W).
            budget: how many tokens to keep.
            side: optional side inputs.

        Raises:
            ValueError: wrong rank, or N != H * W, or a side input of the wrong shape.
        """
        if tokens.dim() != 3:
            raise ValueError(f"{self.name}: expected (T, N, C) tokens, got shape {tuple(tokens.shape)}")
        h, w = grid
        if tokens.shape[1] != h * w:
            raise ValueError(f"{self.name}: N={tokens.shape[1]} tokens per frame but grid {h}x{w}={h * w}")
        side = side or SideInputs()
        t, n = tokens.shape[:2]
        if side.saliency is not None and tuple(side.saliency.shape) != (t, n):
            raise ValueError(f"{self.name}: saliency shape {tuple(side.saliency.shape)} != (T, N) = ({t}, {n})")
        if side.frame_scores is not None and tuple(side.frame_scores.shape) != (t,):
            raise ValueError(f"{self.name}: frame_scores shape {tuple(side.frame_scores.shape)} != (T,) = ({t},)")
        red = self.reduce(tokens, (h, w), budget, side)
        if self.exact_budget and not budget.adaptive:
            assert red.num_tokens == budget.resolve(t * n), (self.name, red.num_tokens, budget.resolve(t * n))
        return red

    def reduce(self, tokens: Tensor, grid: tuple[int, int], budget: Budget, side: SideInputs) -> Reduction:
        raise NotImplementedError


class Identity(OuterReducer):
    """No reduction: every source token is its own slot (the reference for all the others)."""

    name = "none"

    def __call__(self, tokens, grid, budget=None, side=None):  # noqa: D102 - budget is ignored
        return super().__call__(tokens, grid, Budget(retain=1.0), side)

    def reduce(self, tokens, grid, budget, side):
        t, n, c = tokens.shape
        x = tokens.reshape(t * n, c)  # (T, N, C) -> (S, C)
        s = torch.arange(t * n, device=tokens.device)
        return Reduction(
            x, s, torch.ones(t * n, device=tokens.device), source_coords((t, *grid), tokens.device), (t, *grid)
        )


def feature_saliency(tokens: Tensor) -> Tensor:
    """(T, N, C) -> (T, N) fallback saliency when no vision attention is given: 1 - cosine to the frame mean.

    Tokens unlike the rest of their frame score high (a distinctiveness proxy for attention).
    """
    x = torch.nn.functional.normalize(tokens.float(), dim=-1)
    mean = torch.nn.functional.normalize(x.mean(1, keepdim=True), dim=-1)
    return 1.0 - (x * mean).sum(-1)
