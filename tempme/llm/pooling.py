"""Baseline outer reducers: uniform spatial pooling and ToMe-style bipartite merging.

* :class:`UniformPooling` averages each frame over a regular partition of its grid into
  rectangular cells (LLaVA-OneVision's own 2x2 bilinear pooling is the fixed-ratio special case).
* :class:`ToMeMerge` applies bipartite soft matching (Bolya et al., "Token Merging: Your ViT but
  Faster", ICLR 2023, Sec. 3) to all S = T * N tokens of a video at once, round after round, with
  size-weighted averages, until exactly the budget is left.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, reduction_from_slots


def _split(total: int, parts: int) -> list[int]:
    """``total`` items into ``parts`` near-equal contiguous chunk sizes (larger chunks first)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _largest_remainder(total: int, weights: list[float], caps: list[int]) -> list[int]:
    """Integers proportional to ``weights`` summing to ``total``, each <= its cap."""
    assert total <= sum(caps), (total, caps)
    wsum = sum(weights) or 1.0
    raw = [total * w / wsum for w in weights]
    out = [min(c, math.floor(r)) for r, c in zip(raw, caps)]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    while sum(out) < total:
        progressed = False
        for i in order:
            if sum(out) == total:
                break
            if out[i] < caps[i]:
                out[i] += 1
                progressed = True
        assert progressed
    return out


@lru_cache(maxsize=256)
def cell_labels(h: int, w: int, m: int) -> tuple[int, ...]:
    """Partition an ``h x w`` grid into exactly ``m`` rectangular cells (1 <= m <= h * w).

    Rows are split into horizontal bands with aspect-balanced cells, then each band's columns
    into its share of cells. Returns the cell label of each position in raster order.
    """
    if not 1 <= m <= h * w:
        raise ValueError(f"cannot split a {h}x{w} grid into {m} cells")
    bands = max(1, min(h, m, round(math.sqrt(m * h / w))), math.ceil(m / w))
    heights = _split(h, bands)
    # every band gets one cell, the rest proportionally to band height
    per_band = [1 + k for k in _largest_remainder(m - bands, [float(x) for x in heights], [w - 1] * bands)]
    labels: list[int] = []
    base = 0
    for bh, k in zip(heights, per_band):
        widths = _split(w, k)
        row = [base + j for j, cw in enumerate(widths) for _ in range(cw)]
        labels += row * bh
        base += k
    assert len(labels) == h * w and base == m
    return tuple(labels)


def frame_budgets(t: int, m: int) -> list[int]:
    """Split ``m`` tokens over ``t`` frames; frames given one extra token are spread evenly."""
    base, extra = divmod(m, t)
    out = [base] * t
    for i in range(extra):
        out[(i * t) // extra] += 1
    return out


class UniformPooling(OuterReducer):
    """Average pooling of every frame over a regular grid of cells, the budget split evenly over frames.

    When the budget is smaller than T, frames with a zero share are dropped (slot -1).
    """

    name = "uniform"

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        h, w = grid
        m = budget.resolve(t * n)
        slot = torch.full((t, n), -1, dtype=torch.long)
        base = 0
        for f, k in enumerate(frame_budgets(t, m)):
            if k == 0:
                continue
            slot[f] = torch.tensor(cell_labels(h, w, k)) + base
            base += k
        return reduction_from_slots(tokens.reshape(t * n, c), slot.view(-1).to(tokens.device), (t, h, w))


def bipartite_round(x: Tensor, size: Tensor, r: int, metric: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One round of bipartite soft matching on ``x`` (n, C) with sizes (n,), merging ``r`` tokens.

    Tokens alternate between sets A (even positions) and B (odd); each A token proposes its most
    similar B token (cosine of ``metric`` (n, Ck), default ``x``); the ``r`` best-scoring A tokens
    are averaged (size-weighted) into their B partners, and so is the metric. Order is kept.
    Returns (x (n - r, C), size (n - r,), new_index (n,), metric (n - r, Ck)).
    """
    metric = x if metric is None else metric
    n = x.shape[0]
    a_idx = torch.arange(0, n, 2, device=x.device)
    b_idx = torch.arange(1, n, 2, device=x.device)
    r = min(r, a_idx.numel())
    xn = torch.nn.functional.normalize(metric.float(), dim=-1)
    best, partner = (xn[a_idx] @ xn[b_idx].T).max(dim=1)  # (nA,)
    merged = torch.zeros(n, dtype=torch.bool, device=x.device)
    merged[a_idx[torch.argsort(best, descending=True)[:r]]] = True
    survivors = (~merged).nonzero().squeeze(1)
    new_index = torch.full((n,), -1, dtype=torch.long, device=x.device)
    new_index[survivors] = torch.arange(survivors.numel(), device=x.device)
    new_index[a_idx] = torch.where(merged[a_idx], new_index[b_idx[partner]], new_index[a_idx])
    k = survivors.numel()
    w = size.float()[:, None]
    sums = torch.zeros(k, x.shape[1], device=x.device).index_add_(0, new_index, x.float() * w)
    sizes = torch.zeros(k, device=x.device).index_add_(0, new_index, size.float())
    msum = torch.zeros(k, metric.shape[1], device=x.device).index_add_(0, new_index, metric.float() * w)
    return (sums / sizes[:, None]).to(x.dtype), sizes, new_index, msum / sizes[:, None]


class ToMeMerge(OuterReducer):
    """ToMe bipartite soft matching over the whole video (space and time together) down to the budget.

    The matching metric is ``side.keys`` (vision-encoder attention keys, as in ToMe) when given,
    else the tokens themselves.
    """

    name = "tome"

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        m = budget.resolve(t * n)
        x = tokens.reshape(t * n, c)  # (T, N, C) -> (S, C)
        size = torch.ones(t * n, device=x.device)
        slot = torch.arange(t * n, device=x.device)
        if side.keys is not None and side.keys.shape[:2] != (t, n):
            raise ValueError(f"tome: keys shape {tuple(side.keys.shape)} does not start with (T, N) = ({t}, {n})")
        metric = side.keys.reshape(t * n, -1) if side.keys is not None else None  # (T, N, Ck) -> (S, Ck)
        cur = x
        while cur.shape[0] > m:
            cur, size, new_index, metric = bipartite_round(cur, size, cur.shape[0] - m, metric)
            slot = new_index[slot]
        return reduction_from_slots(x, slot, (t, *grid))
