"""VQToken (Zhang et al., "Extreme Video Compression with Token Quantization", 2025), from the paper.

Adaptive vector quantisation of the un-pooled video tokens: k-means over all S = T * N tokens
(seeded with the means of a uniform space-time partition, then Lloyd iterations) gives K centroids, which become the reduced sequence; the *token hash* maps every (t, y, x)
to its code, so no spatio-temporal position is lost (it is ``Reduction.token_hash()``). K is fixed
(the budget) or chosen by an elbow rule on the k-means inertia curve (``Budget(adaptive=True)``).
The learnable quantisation-attention module (:class:`QuantisationAttention`) refines each
centroid by attending over the tokens its hash entries point to; its output projection starts
at zero, so an untrained module is the identity. TokDense (:func:`tok_dense`) is the paper's
token-information-density metric: accuracy per token.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor, nn

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, reduction_from_slots, source_coords
from tempme.llm.pooling import UniformPooling

log = logging.getLogger(__name__)


def kmeans_pp(x: Tensor, k: int, seed: int = 0) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): each next centre drawn with probability
    proportional to the squared distance to the nearest centre so far (seeded). Returns (k, C)."""
    gen = torch.Generator().manual_seed(seed)
    s = x.shape[0]
    sq = (x * x).sum(1)
    idx = [int(torch.randint(s, (1,), generator=gen))]
    nearest = (sq + sq[idx[0]] - 2 * x @ x[idx[0]]).clamp_min(0)
    for _ in range(1, k):
        w = nearest.cpu()
        j = int(torch.multinomial(w, 1, generator=gen)) if float(w.sum()) > 0 else int(torch.randint(s, (1,), generator=gen))
        idx.append(j)
        nearest = torch.minimum(nearest, (sq + sq[j] - 2 * x @ x[j]).clamp_min(0))
    return x[torch.tensor(idx, device=x.device)].clone()


def kmeans(x: Tensor, k: int, iters: int = 10, seed: int = 0, init: Tensor | None = None) -> tuple[Tensor, Tensor, float]:
    """Lloyd's k-means of ``x`` (S, C) into exactly ``k`` non-empty clusters.

    Initialised by ``init`` (k, C) when given, else k-means++ (seeded); an emptied cluster is re-seeded with
    the point farthest from its centroid. Returns (centroids (k, C), labels (S,), inertia).

    Raises:
        ValueError: k < 1 or k > S.
    """
    s = x.shape[0]
    if not 1 <= k <= s:
        raise ValueError(f"k-means needs 1 <= k <= {s} points, got k={k}")
    xf = x.float()
    cent = kmeans_pp(xf, k, seed) if init is None else init.float().clone()
    sq = (xf * xf).sum(1)
    for it in range(iters + 1):
        d = sq[:, None] - 2 * xf @ cent.T + (cent * cent).sum(1)[None, :]  # (S, k) squared distances
        dist, labels = d.min(1)
        counts = torch.bincount(labels, minlength=k)
        empty = (counts == 0).nonzero().squeeze(1)
        if empty.numel():  # give each empty cluster a worst-fitted point from a cluster that can spare one
            todo = empty.tolist()
            cnt, lab = counts.tolist(), labels.tolist()
            for p in torch.argsort(dist, descending=True).tolist():
                if not todo:
                    break
                if cnt[lab[p]] > 1:
                    cnt[lab[p]] -= 1
                    lab[p] = todo.pop()
                    cnt[lab[p]] += 1
            labels = torch.tensor(lab, device=x.device)
            counts = torch.tensor(cnt, device=x.device)
        cent = torch.zeros_like(cent).index_add_(0, labels, xf) / counts[:, None].float()
        if it == iters:
            break
    inertia = float(((xf - cent[labels]) ** 2).sum())
    return cent, labels, inertia


def elbow_k(x: Tensor, k_max: int, k_min: int = 1, points: int = 8, iters: int = 5, seed: int = 0) -> int:
    """Choose K by the elbow (knee) of the k-means inertia curve over a geometric grid of K in [k_min, k_max].

    Both axes are scaled to [0, 1]; the knee is the K whose point lies farthest below the chord
    from the first to the last point.
    """
    if k_max <= k_min:
        return k_max
    ks = sorted({int(round(k_min * (k_max / k_min) ** (i / (points - 1)))) for i in range(points)})
    inert = [kmeans(x, k, iters, seed)[2] for k in ks]
    kx = torch.tensor([(k - ks[0]) / (ks[-1] - ks[0]) for k in ks])
    span = (inert[0] - inert[-1]) or 1.0
    iy = torch.tensor([(v - inert[-1]) / span for v in inert])
    gap = (1.0 - kx) - iy  # chord from (0, 1) to (1, 0) minus the curve
    return ks[int(gap.argmax())]


class QuantisationAttention(nn.Module):
    """Trainable refinement of VQ centroids: each centroid attends over the tokens hashed to it.

    Queries are the centroids plus an embedding of their mean (t, y, x); keys and values are the
    source tokens plus the embedding of their own (t, y, x) (coordinates scaled to [0, 1]).
    Attention is restricted to each centroid's members, and the output projection is zero at
    initialisation, so the untrained module returns the centroids unchanged.

    Shapes: centroids (M, C), tokens (S, C), slot (S,), coords (S, 3) / (M, 3).
    """

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.pos = nn.Linear(3, dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, centroids: Tensor, tokens: Tensor, slot: Tensor, src_coords: Tensor, out_coords: Tensor,
                grid: tuple[int, int, int]) -> Tensor:
        scale = torch.tensor([max(1, g - 1) for g in grid], dtype=torch.float, device=tokens.device)
        m, c = centroids.shape
        hd = c // self.heads
        keep = slot >= 0
        src = tokens[keep].float()
        q = self.q(centroids.float() + self.pos(out_coords / scale)).view(m, self.heads, hd).transpose(0, 1)
        k, v = self.kv(src + self.pos(src_coords[keep] / scale)).chunk(2, dim=-1)
        k = k.view(-1, self.heads, hd).transpose(0, 1)  # (heads, S', hd)
        v = v.view(-1, self.heads, hd).transpose(0, 1)
        member = slot[keep][None, :] == torch.arange(m, device=tokens.device)[:, None]  # (M, S')
        logits = (q @ k.transpose(1, 2)) / math.sqrt(hd)  # (heads, M, S')
        logits = logits.masked_fill(~member[None], float("-inf"))
        attn = logits.softmax(-1) @ v  # (heads, M, hd)
        return (centroids.float() + self.out(attn.transpose(0, 1).reshape(m, c))).to(centroids.dtype)


class VQToken(OuterReducer):
    """VQToken: k-means codebook of all tokens as the reduced sequence, with a token hash.

    Args:
        iters: Lloyd iterations.
        min_tokens: smallest K the elbow rule may choose (adaptive budgets).
        refine: an optional (trained) :class:`QuantisationAttention`.
        seed: k-means initialisation seed.
    """

    name = "vqtoken"

    def __init__(self, iters: int = 10, min_tokens: int = 16, refine: QuantisationAttention | None = None, seed: int = 0):
        self.iters = iters
        self.min_tokens = min_tokens
        self.refine = refine
        self.seed = seed

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        x = tokens.reshape(t * n, c)  # (T, N, C) -> (S, C)
        k = budget.resolve(t * n)
        if budget.adaptive:
            k = elbow_k(x, k, min(k, self.min_tokens), seed=self.seed)
            log.debug("vqtoken: elbow chose K=%d", k)
        # seed with the means of a uniform space-time partition: spread out, deterministic, O(S)
        init = UniformPooling()(tokens, grid, Budget(max_tokens=k)).tokens
        _, labels, inertia = kmeans(x, k, self.iters, self.seed, init=init)
        red = reduction_from_slots(x, labels, (t, *grid), extra={"codebook_size": k, "inertia": inertia})
        if self.refine is not None:
            red.tokens = self.refine(red.tokens, x, red.slot, source_coords(red.grid, x.device), red.coords, red.grid)
        return red


def tok_dense(accuracy: float, num_tokens: int) -> float:
    """TokDense (VQToken paper): task accuracy per visual token, ``accuracy / num_tokens``.

    Raises:
        ValueError: num_tokens < 1.
    """
    if num_tokens < 1:
        raise ValueError(f"TokDense needs at least one token, got {num_tokens}")
    return accuracy / num_tokens
