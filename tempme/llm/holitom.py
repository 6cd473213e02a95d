"""HoliTom's outer-LLM stage (Shao et al., "HoliTom: Holistic Token Merging for Fast Video Large
Language Models", 2025, Sec. 3.2-3.3), written from the paper and checked against the behaviour of
its released code (``holitom/llava_arch.py``: segmentation, budgets, clustering, token order).

1. Global redundancy-aware temporal segmentation. Position p is *static* over a segment of frames
   [i, j] when the cosine similarity of its tokens in every pair of consecutive frames of the
   segment exceeds ``tau``. Averaging a static position over the segment removes (j - i) tokens:
   the segment's redundancy is R(i, j) = |static(i, j)| * (j - i). Dynamic programming over segment
   ends finds the partition with the largest total redundancy; as in the reference, a longer
   segment replaces a shorter one only when it is strictly better (ties go to singletons).
2. The retention ratio is rescaled to what is left after the temporal merge:
   r' = min(1, r / ((S - R_total) / S)), S = T * N.
3. Per segment (all counts are the reference's):
   * static positions, averaged over the segment's frames, are clustered by density-peak clustering
     with k-NN density (DPC-kNN, distances scaled by 1/sqrt(C), k = min(K, clusters)) into
     ``round(n_static * r')`` clusters; each cluster becomes ``beta * centre + (1 - beta) *
     mean(other members)`` (the centre alone when it has no other member);
   * every frame keeps its own ``ceil(n_dyn * r')`` dynamic tokens: ``round(. * (1 - D))`` by
     vision-encoder attention (dominant) and the rest (contextual) as DPC-kNN clusters of the
     frame's other dynamic tokens; with the reference's default D = 0 the other dynamic tokens are
     dropped.
4. Order: per segment, the static clusters (by centre position), then the dynamic tokens frame by
   frame, dominant tokens in raster order followed by contextual ones. LLaVA-OV's single newline
   token follows the whole video (the pipeline appends it), as with ``mm_newline_position =
   "one_token"``.

The token count is the reference's (sums of per-frame ceilings and per-segment roundings), close to
but not exactly ``budget.resolve(S)``: :attr:`HoliTom.exact_budget` is False.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, feature_saliency, reduction_from_slots

log = logging.getLogger(__name__)

TAU_BY_RETAIN = ((0.10, 0.65), (1.0, 0.80))
"""The reference's LLaVA-OV-7B scripts: tau 0.65 at 10 % retained, 0.80 at 15-25 % (and above)."""


def default_tau(retain: float) -> float:
    """tau for a retained fraction, as the reference's LLaVA-OV-7B evaluation scripts set it."""
    for upto, tau in TAU_BY_RETAIN:
        if retain <= upto + 1e-9:
            return tau
    return TAU_BY_RETAIN[-1][1]


def consecutive_similarity(tokens: Tensor) -> Tensor:
    """(T, N, C) -> (T - 1, N) cosine similarity of each position between frames t and t + 1."""
    x = torch.nn.functional.normalize(tokens.float(), dim=-1)
    return (x[:-1] * x[1:]).sum(-1)


def redundancy_table(sim: Tensor, tau: float) -> Tensor:
    """R[i, j] = |{p : min_{i <= t < j} sim[t, p] > tau}| * (j - i) for frames i <= j (else 0).

    Args:
        sim: (T - 1, N) consecutive-frame similarities.
    Returns:
        (T, T) float table.
    """
    t = sim.shape[0] + 1
    table = torch.zeros(t, t)
    for i in range(t - 1):
        running = torch.cummin(sim[i:], dim=0).values  # (T - 1 - i, N): min over pairs i..j-1
        static = (running > tau).sum(1).float()  # (T - 1 - i,) for j = i+1 .. T-1
        table[i, i + 1 :] = static * torch.arange(1, t - i, dtype=torch.float)
    return table


def segment_frames(sim: Tensor, tau: float, max_window: int = 1024) -> tuple[list[tuple[int, int]], float]:
    """Partition of the frames into contiguous segments with the largest total redundancy.

    best[i] = max(best[i - 1], max_{2 <= w <= min(i + 1, max_window)} best[i - w] + R(i - w + 1, i)),
    windows tried from the shortest and replacing the current best only when strictly larger
    (so ties keep singletons, as the reference's ``select_static_windows``).

    Args:
        sim: (T - 1, N) consecutive-frame similarities.
        tau: similarity threshold for a static position.
        max_window: longest segment considered.
    Returns:
        (segments as inclusive (start, end) frame pairs in order, total redundancy).
    """
    t = sim.shape[0] + 1
    table = redundancy_table(sim, tau).tolist()
    best = [0.0] * t
    start = [0] * t
    for i in range(t):
        value, first = (best[i - 1] if i > 0 else 0.0), i
        for w in range(2, min(i + 1, max_window) + 1):
            j = i - w
            cand = (best[j] if j >= 0 else 0.0) + table[j + 1][i]
            if cand > value:
                value, first = cand, j + 1
        best[i], start[i] = value, first
    segments = []
    i = t - 1
    while i >= 0:
        segments.append((start[i], i))
        i = start[i] - 1
    return segments[::-1], best[t - 1]


def dpc_knn(x: Tensor, clusters: int, k: int = 7) -> tuple[Tensor, Tensor]:
    """Density-peak clustering with k-NN density (DPC-kNN) of ``x`` (n, C) into ``clusters`` clusters.

    Distances are Euclidean scaled by 1/sqrt(C). Density rho_i = exp(-mean of the squared distances
    to the ``min(k, n)`` nearest points, the point itself included); delta_i = distance to the
    nearest denser point (the largest distance of the whole matrix for the densest point); the
    ``clusters`` points with the largest rho * delta are the centres. Density ties are broken by
    index (the lower index counts as denser) where the reference adds 1e-6 noise.

    Returns:
        (centre indices (clusters,) in increasing order, labels (n,) in [0, clusters): each centre
        its own cluster, every other point the cluster of its nearest centre).
    """
    n, c = x.shape
    clusters = min(clusters, n)
    d = torch.cdist(x.float(), x.float()) / math.sqrt(c)  # (n, n)
    near = d.topk(min(k, n), dim=1, largest=False).values  # (n, k), includes the point itself
    rho = torch.exp(-(near**2).mean(1))
    idx = torch.arange(n)
    denser = (rho[None, :] > rho[:, None]) | ((rho[None, :] == rho[:, None]) & (idx[None, :] < idx[:, None]))
    delta = torch.where(denser, d, d.max()).min(1).values
    centres = torch.topk(rho * delta, clusters).indices.sort().values
    labels = d[:, centres].argmin(1)
    labels[centres] = torch.arange(clusters)
    return centres, labels


def beta_merge(x: Tensor, centres: Tensor, labels: Tensor, beta: float) -> Tensor:
    """(clusters, C) cluster tokens: ``beta * centre + (1 - beta) * mean(other members)``, or the centre alone."""
    m = centres.numel()
    is_centre = torch.zeros(x.shape[0], dtype=torch.bool)
    is_centre[centres] = True
    others = ~is_centre
    sums = torch.zeros(m, x.shape[1]).index_add_(0, labels[others], x[others].float())
    counts = torch.bincount(labels[others], minlength=m).float()
    centre = x[centres].float()
    merged = beta * centre + (1 - beta) * sums / counts.clamp_min(1)[:, None]
    return torch.where(counts[:, None] > 0, merged, centre)


class HoliTom(OuterReducer):
    """HoliTom outer-LLM merging (temporal segmentation, static clustering, per-frame dynamic selection).

    Args:
        tau: cosine threshold for a static position; None = the reference's per-budget value
            (:func:`default_tau`: 0.65 at <= 10 % retained, else 0.80).
        beta: weight of a cluster's centre in its merged token (reference 0.6).
        d: fraction of each frame's dynamic budget given to contextual (clustered) tokens instead
            of attention-selected ones (reference D = 0).
        k: neighbours of the DPC-kNN density (reference K = 7, used as min(K, clusters)).
        max_window: longest temporal segment (reference 1024, i.e. unlimited).

    Raises:
        ValueError: a knob out of range.
    """

    name = "holitom"
    exact_budget = False
    uses_saliency = True

    def __init__(self, tau: float | None = None, beta: float = 0.6, d: float = 0.0, k: int = 7, max_window: int = 1024):
        if tau is not None and not -1.0 <= tau <= 1.0:
            raise ValueError(f"tau is a cosine threshold in [-1, 1], got {tau}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta is a weight in [0, 1], got {beta}")
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"D is a fraction in [0, 1], got {d}")
        if k < 1 or max_window < 1:
            raise ValueError(f"k and max_window must be >= 1, got k={k}, max_window={max_window}")
        self.tau, self.beta, self.d, self.k, self.max_window = tau, beta, d, k, max_window

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        total = t * n
        retain = budget.ratio(total)
        tau = self.tau if self.tau is not None else default_tau(retain)
        x = tokens.detach().float().cpu()  # the decisions are small and sequential: made on the CPU
        sim = consecutive_similarity(x) if t > 1 else torch.zeros(0, n)
        segments, reduced = segment_frames(sim, tau, self.max_window)
        ratio = min(retain / ((total - reduced) / total), 1.0)
        saliency = side.saliency.detach().float().cpu() if side.saliency is not None else feature_saliency(x)
        log.debug("holitom: tau %.2f, %d segments, redundancy %.0f, r' %.4f", tau, len(segments), reduced, ratio)

        slot = torch.full((t, n), -1, dtype=torch.long)
        out: list[Tensor] = []
        for a, b in segments:
            static = (sim[a:b] > tau).all(0) if b > a else torch.zeros(n, dtype=torch.bool)  # (N,)
            static_pos = static.nonzero().squeeze(1)
            if static_pos.numel():
                clusters = round(static_pos.numel() * ratio)
                if clusters > 0:
                    feats = x[a : b + 1, static_pos].mean(0)  # (n_static, C): averaged over the segment
                    centres, labels = dpc_knn(feats, clusters, min(self.k, clusters))
                    slot[a : b + 1, static_pos] = (labels + len(out))[None, :]
                    out.extend(beta_merge(feats, centres, labels, self.beta))
            dyn_pos = (~static).nonzero().squeeze(1)
            if dyn_pos.numel() == 0:
                continue
            keep = math.ceil(dyn_pos.numel() * ratio)
            dominant = round(keep * (1 - self.d))
            contextual = keep - dominant
            for f in range(a, b + 1):
                feats = x[f, dyn_pos]  # (n_dyn, C)
                chosen = torch.zeros(dyn_pos.numel(), dtype=torch.bool)
                if dominant > 0:
                    chosen[torch.topk(saliency[f, dyn_pos], dominant).indices] = True
                    top = chosen.nonzero().squeeze(1)  # raster order
                    slot[f, dyn_pos[top]] = torch.arange(top.numel()) + len(out)
                    out.extend(feats[top])
                rest = (~chosen).nonzero().squeeze(1)
                if contextual > 0 and rest.numel():
                    centres, labels = dpc_knn(feats[rest], contextual, min(self.k, contextual))
                    slot[f, dyn_pos[rest]] = labels + len(out)
                    out.extend(beta_merge(feats[rest], centres, labels, self.beta))
        if not out:
            raise ValueError(
                f"holitom: retaining {retain:.4f} of {total} tokens keeps none (r' = {ratio:.4f}); raise the budget"
            )
        merged = torch.stack(out).to(tokens.dtype).to(tokens.device)
        red = reduction_from_slots(
            tokens.reshape(total, c), slot.view(-1).to(tokens.device), (t, *grid), tokens=merged, keep_order=True
        )
        red.extra.update(segments=segments, tau=tau, ratio=ratio)
        return red
