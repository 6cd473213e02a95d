"""B-VLLM, training-free adaptation (ours) of Lu et al., "B-VLLM: A Vision Large Language Model with
Balanced Spatio-Temporal Tokens", 2024/2025. Registered only as ``bvllm-clip``: it is not the paper's
method, which trains its selectors.

Ours: frames are scored by the cosine similarity between the question's CLIP text embedding and each
frame's CLIP image embedding (tempme's own CLIP towers, :mod:`tempme.llm.clip_scores`, passed in as
``SideInputs.frame_scores``); the top F frames are kept, with F = round(T * sqrt(M / (T * N))) so the
reduction is split evenly (in log scale) between time and space; consecutive selected frames with
mean token cosine above 0.95 are averaged into one; each kept frame's share of the budget is sampled
at the centres of a uniform partition of its grid, and (optionally) every other token of the frame
is averaged into its most similar sampled token. The output has exactly M tokens.

Differences from the paper (every one changes which tokens the LLM sees):

* frame selection: the paper's is a learned, text-conditioned Q-Former whose 16 queries pick frames
  by Gumbel-softmax; ours ranks frames by CLIP text-frame cosine, without training;
* de-duplication: the paper compares each selected frame with *all* earlier selections at a cosine
  threshold of 0.75; ours compares consecutive selected frames at 0.95 and averages duplicates;
* spatial tokens: the paper samples them with a second, text-conditioned Q-Former; ours samples a
  uniform grid (then optional similarity merging);
* budget: the paper caps the visual sequence at 512 tokens; ours meets any ``Budget`` exactly.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, reduction_from_slots
from tempme.llm.pooling import cell_labels, largest_remainder

log = logging.getLogger(__name__)


def _cell_centres(h: int, w: int, m: int) -> Tensor:
    """(m,) raster positions nearest to the centre of each of the ``m`` uniform cells (uniform spatial sampling)."""
    labels = torch.tensor(cell_labels(h, w, m))
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([yy.reshape(-1), xx.reshape(-1)], 1).float()
    centre = torch.zeros(m, 2).index_add_(0, labels, pos) / torch.bincount(labels, minlength=m)[:, None].float()
    d = ((pos[None] - centre[:, None]) ** 2).sum(-1)  # (m, N)
    d = torch.where(labels[None, :] == torch.arange(m)[:, None], d, torch.full_like(d, float("inf")))
    return d.argmin(1)


class BVLLMAdapted(OuterReducer):
    """B-VLLM, our training-free adaptation: CLIP text-frame scores -> frame selection -> de-duplication
    -> uniform spatial sampling -> optional similarity-based spatial merging.

    Args:
        dedup_threshold: mean token cosine above which consecutive selected frames are averaged into one.
        spatial_merge: merge each unsampled token into its most similar sampled token of the same
            frame group (else unsampled tokens are dropped).

    Raises (on call):
        ValueError: ``side.frame_scores`` missing.
    """

    name = "bvllm-clip"

    def __init__(self, dedup_threshold: float = 0.95, spatial_merge: bool = True):
        self.dedup_threshold = dedup_threshold
        self.spatial_merge = spatial_merge

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        if side.frame_scores is None:
            raise ValueError(
                "bvllm-clip needs SideInputs.frame_scores (T,): text-frame similarities, e.g. from "
                "tempme.llm.clip_scores.clip_frame_scores"
            )
        t, n, c = tokens.shape
        h, w = grid
        m = budget.resolve(t * n)
        f = max(1, min(t, m, round(t * math.sqrt(m / (t * n)))))
        f = max(f, math.ceil(m / n))
        order = torch.argsort(side.frame_scores.detach().float().cpu(), descending=True).tolist()
        chosen = sorted(order[:f])
        x = tokens.detach().float().cpu()  # decisions on the CPU; the output keeps the input's device
        xn = torch.nn.functional.normalize(x, dim=-1)
        # temporal de-duplication of consecutive selected frames
        groups: list[list[int]] = [[chosen[0]]]
        for fr in chosen[1:]:
            same = float((xn[groups[-1][0]] * xn[fr]).sum(-1).mean())
            if same > self.dedup_threshold:
                groups[-1].append(fr)
            else:
                groups.append([fr])
        spare = [fr for fr in order[f:]]
        while len(groups) * n < m:  # de-duplication left too few frames: add the next-best ones
            groups.append([spare.pop(0)])
            groups.sort(key=lambda g: g[0])
        per = largest_remainder(m, [1.0] * len(groups), [n] * len(groups))
        slot = torch.full((t, n), -1, dtype=torch.long)
        base = 0
        for g, k in zip(groups, per):
            if k == 0:
                continue
            centres = _cell_centres(h, w, k)
            lab = torch.full((n,), -1, dtype=torch.long)
            lab[centres] = torch.arange(k) + base
            if self.spatial_merge:
                mean = torch.nn.functional.normalize(x[g].mean(0), dim=-1)  # (N, C)
                rest = (lab < 0).nonzero().squeeze(1)
                lab[rest] = (mean[rest] @ mean[centres].T).argmax(1) + base
            slot[g] = lab[None, :]
            base += k
        log.debug("bvllm-clip: %d frames selected, %d groups after de-duplication", f, len(groups))
        red = reduction_from_slots(tokens.reshape(t * n, c), slot.view(-1).to(tokens.device), (t, h, w))
        red.extra["frame_groups"] = groups
        return red
