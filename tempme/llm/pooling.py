"""Baseline outer reducers: uniform spatial pooling and ToMe-style bipartite merging.

* :class:`UniformPooling` averages each frame over a regular partition of its grid into
  rectangular cells (LLaVA-OneVision's own 2x2 bilinear pooling is the fixed-ratio special case).
* :class:`ToMeMerge` applies the project's one bipartite soft matching
  (:func:`tempme.merge.bipartite_soft_matching`, Bolya et al., "Token Merging: Your ViT but
  Faster", ICLR 2023, Sec. 3) to all S = T * N tokens of a video at once, round after round, with
  size-weighted averages (:func:`tempme.merge.merge_wavg`), until exactly the budget is left.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, reduction_from_slots
from tempme.merge import bipartite_soft_matching, merge_wavg


def _split(total: int, parts: int) -> list[int]:
    """``total`` items into ``parts`` near-equal contiguous chunk sizes (larger chunks first)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def largest_remainder(total: int, weights: list[float], caps: list[int]) -> list[int]:
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
    per_band = [1 + k for k in largest_remainder(m - bands, [float(x) for x in heights], [w - 1] * bands)]
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


def merge_destinations(merge, n: int, device=None, chunk: int = 1024) -> Tensor:
    """(n,) output index of every input token of a merge from :func:`tempme.merge.bipartite_soft_matching`.

    A merge is linear and sums each input token into exactly one output token, so applying it to
    the identity (in column chunks) shows where every token went, whatever the A/B split and the
    output order.
    """
    dest = torch.empty(n, dtype=torch.long, device=device)
    for c0 in range(0, n, chunk):
        eye = torch.zeros(1, n, min(chunk, n - c0), device=device)
        eye[0, torch.arange(c0, c0 + eye.shape[2], device=device), torch.arange(eye.shape[2], device=device)] = 1.0
        dest[c0 : c0 + eye.shape[2]] = merge(eye)[0].argmax(0)  # (n - r, chunk) -> (chunk,)
    return dest


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
        cur = x.float()[None]  # (S, C) -> (1, S, C): one sequence of all the video's tokens
        size = size[None, :, None]  # (1, S, 1)
        keys = metric.float()[None] if metric is not None else None  # (1, S, Ck)
        while cur.shape[1] > m:
            n = cur.shape[1]
            merge = bipartite_soft_matching(keys if keys is not None else cur, min(n - m, n // 2), protected=0)
            slot = merge_destinations(merge, n, x.device)[slot]
            if keys is not None:
                keys, _ = merge_wavg(merge, keys, size)
            cur, size = merge_wavg(merge, cur, size)
        return reduction_from_slots(x, slot, (t, *grid))
