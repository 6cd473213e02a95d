"""HoliTom's outer-LLM stage (Shao et al., "HoliTom: Holistic Token Merging for Fast Video Large
Language Models", 2025, Sec. 3.2-3.3), written from the paper's description.

1. Global redundancy-aware temporal segmentation. A position p is *static* across a segment of
   frames [i, j] when the cosine similarity of its tokens in every pair of consecutive frames of the
   segment exceeds ``tau``. Averaging a static position over the segment removes (j - i) tokens, so
   the segment's redundancy is R(i, j) = |static(i, j)| * (j - i). The partition of the T frames
   into contiguous segments that maximises the total redundancy is found exactly by dynamic
   programming over segment ends, O(T^2 N).
2. Temporal merge: in each segment, static positions are averaged over time (one token of size
   j - i + 1 each); the other (dynamic) tokens stay per frame.
3. Spatial merge to the budget, which is held over the whole video: the budget is shared among
   segments in proportion to their token counts and, inside a segment, between static and dynamic
   tokens likewise. Static tokens are clustered with density-peak clustering (DPC-KNN) and each
   cluster averaged; dynamic tokens are kept by saliency (vision-encoder attention when given) and
   every other dynamic token is averaged into its most similar kept one.

If the temporal merge alone falls below the budget, the static positions with the weakest
similarity are split back into per-frame tokens until the budget can be met exactly.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, feature_saliency, reduction_from_slots
from tempme.llm.pooling import _largest_remainder

log = logging.getLogger(__name__)


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


def segment_frames(sim: Tensor, tau: float) -> tuple[list[tuple[int, int]], float]:
    """Optimal partition of frames into contiguous segments maximising total redundancy.

    Dynamic programming: best[j] = max_{i <= j} best[i - 1] + R(i, j), ties broken toward
    longer segments.

    Args:
        sim: (T - 1, N) consecutive-frame similarities.
        tau: similarity threshold for a static position.
    Returns:
        (segments as inclusive (start, end) frame pairs in order, total redundancy).
    """
    t = sim.shape[0] + 1
    table = redundancy_table(sim, tau).tolist()
    best = [0.0] * (t + 1)  # best[j]: frames 0..j-1 segmented
    start = [0] * (t + 1)
    for j in range(1, t + 1):
        cands = [(best[i] + table[i][j - 1], -i) for i in range(j)]
        value, neg_i = max(cands)
        best[j], start[j] = value, -neg_i
    segments = []
    j = t
    while j > 0:
        segments.append((start[j], j - 1))
        j = start[j]
    return segments[::-1], best[t]


def dpc_knn(x: Tensor, k: int, knn: int = 5) -> Tensor:
    """Density-peak clustering with k-nearest-neighbour density (DPC-KNN) of ``x`` (n, C) into ``k`` clusters.

    Density rho_i = exp(-mean squared distance to the knn nearest neighbours); delta_i = distance
    to the nearest point of higher density (the densest point: its largest distance); the k points
    with the largest rho * delta are centres and every point joins its nearest centre.
    Returns (n,) cluster labels in [0, k).
    """
    n = x.shape[0]
    if k >= n:
        return torch.arange(n, device=x.device)
    d = torch.cdist(x.float(), x.float())  # (n, n)
    kk = min(knn, n - 1)
    near = d.topk(kk + 1, dim=1, largest=False).values[:, 1:]
    rho = torch.exp(-(near**2).mean(1))
    rho = rho + torch.arange(n, device=x.device) * 1e-12 * rho.abs().max().clamp_min(1e-30)  # strict order on ties
    higher = rho[None, :] > rho[:, None]
    delta = torch.where(higher, d, torch.full_like(d, float("inf"))).min(1).values
    top = rho.argmax()
    delta[top] = d[top].max()
    centres = torch.topk(rho * delta, k).indices
    labels = d[:, centres].argmin(1)
    labels[centres] = torch.arange(k, device=x.device)
    return labels


class HoliTom(OuterReducer):
    """HoliTom outer-LLM merging (temporal segmentation + static clustering + dynamic selection).

    Args:
        tau: cosine threshold for a static position (our default 0.8; the paper tunes it per model).
        knn: neighbours for the DPC-KNN density.
    """

    name = "holitom"

    def __init__(self, tau: float = 0.8, knn: int = 5):
        if not -1.0 <= tau <= 1.0:
            raise ValueError(f"tau is a cosine threshold in [-1, 1], got {tau}")
        self.tau = tau
        self.knn = knn

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        m = budget.resolve(t * n)
        x = tokens.detach().float().cpu()  # the decisions are small and sequential: made on the CPU
        sim = consecutive_similarity(x) if t > 1 else torch.zeros(0, n)
        segments, total_red = segment_frames(sim, self.tau)
        saliency = side.saliency.detach().float().cpu() if side.saliency is not None else feature_saliency(x)

        # static positions per segment, with their weakest similarity (the split-back order)
        static: list[Tensor] = []
        strength: list[Tensor] = []
        for a, b in segments:
            if b > a:
                weakest = sim[a:b].min(0).values  # (N,)
                static.append(weakest > self.tau)
                strength.append(weakest)
            else:
                static.append(torch.zeros(n, dtype=torch.bool))
                strength.append(torch.zeros(n))
        count = sum(int(s.sum()) + (b - a + 1) * int((~s).sum()) for s, (a, b) in zip(static, segments))
        if count < m:  # split the weakest static positions back into per-frame tokens
            seg_of = torch.cat([torch.full((int(s.sum()),), g) for g, s in enumerate(static)])
            pos_of = torch.cat([s.nonzero().squeeze(1) for s in static])
            weak = torch.cat([strength[g][s] for g, s in enumerate(static)])
            gain = torch.tensor([b - a for a, b in segments])[seg_of]  # tokens added by splitting
            order = torch.argsort(weak, stable=True)
            need = int(torch.searchsorted(torch.cumsum(gain[order], 0), m - count)) + 1
            for g, p in zip(seg_of[order[:need]].tolist(), pos_of[order[:need]].tolist()):
                static[g][p] = False
            count += int(gain[order[:need]].sum())
        log.debug("holitom: %d segments, redundancy %.0f, %d tokens after temporal merge, budget %d",
                  len(segments), total_red, count, m)

        seg_counts = [int(s.sum()) + (b - a + 1) * int((~s).sum()) for s, (a, b) in zip(static, segments)]
        seg_budget = _largest_remainder(m, [float(v) for v in seg_counts], seg_counts)
        slot = torch.full((t, n), -1, dtype=torch.long)
        next_label = 0
        for (a, b), s_mask, bud in zip(segments, static, seg_budget):
            length = b - a + 1
            n_static = int(s_mask.sum())
            n_dyn = length * (n - n_static)
            b_s = min(n_static, round(bud * n_static / max(1, n_static + n_dyn)))
            b_d = bud - b_s
            if b_d > n_dyn:
                b_s, b_d = b_s + b_d - n_dyn, n_dyn
            labels, next_label = self._segment_slots(x[a : b + 1], saliency[a : b + 1], s_mask, b_s, b_d, next_label)
            slot[a : b + 1] = labels
        red = reduction_from_slots(tokens.reshape(t * n, c), slot.view(-1).to(tokens.device), (t, *grid))
        red.extra["segments"] = segments
        return red

    def _segment_slots(
        self, x: Tensor, sal: Tensor, s_mask: Tensor, b_s: int, b_d: int, base: int
    ) -> tuple[Tensor, int]:
        """Labels (L, N) for one segment's tokens x (L, N, C); returns them and the next free label."""
        length, n, _ = x.shape
        labels = torch.full((length, n), -1, dtype=torch.long)
        static_pos = s_mask.nonzero().squeeze(1)
        dyn = (~s_mask)[None, :].expand(length, n).nonzero()  # (n_dyn, 2): (frame, position)
        kept_feats, kept_labels = [], []
        if static_pos.numel() and b_s > 0:
            feats = x[:, static_pos].mean(0)  # (n_static, C): averaged over time
            cl = dpc_knn(feats, b_s, self.knn)
            labels[:, static_pos] = (cl + base)[None, :]
            centre_feats = torch.zeros(b_s, x.shape[-1]).index_add_(0, cl, feats)
            centre_feats /= torch.bincount(cl, minlength=b_s).clamp_min(1)[:, None].float()
            kept_feats.append(centre_feats)
            kept_labels.append(torch.arange(b_s) + base)
            base += b_s
        if dyn.numel() and b_d > 0:
            scores = sal[dyn[:, 0], dyn[:, 1]]
            keep = torch.topk(scores, b_d).indices
            kept = dyn[keep]
            labels[kept[:, 0], kept[:, 1]] = torch.arange(b_d) + base
            kept_feats.insert(0, x[kept[:, 0], kept[:, 1]])
            kept_labels.insert(0, torch.arange(b_d) + base)
            base += b_d
        if kept_feats:
            # every unlabeled token of the segment is averaged into its most similar kept token
            rest = (labels < 0).nonzero()
            if rest.numel():
                pool = torch.nn.functional.normalize(torch.cat(kept_feats), dim=-1)
                pool_labels = torch.cat(kept_labels)
                q = torch.nn.functional.normalize(x[rest[:, 0], rest[:, 1]], dim=-1)
                labels[rest[:, 0], rest[:, 1]] = pool_labels[(q @ pool.T).argmax(1)]
        return labels, base
