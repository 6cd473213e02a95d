"""Token merging as pure functions on ``(B, N, C)`` tensors.

Bipartite soft matching (Bolya et al., "Token Merging: Your ViT But Faster", ICLR 2023,
Sec. 3): split the unprotected tokens alternately into sets A and B, connect every A token to
its most similar B token (cosine similarity of the metric), and merge the ``r`` A tokens with the
strongest edges into their B partners. Merged features are size-weighted averages (ToMe Sec. 3,
"Tracking token size"), so the sizes always sum to the number of original tokens.

Protected tokens (the class tokens, ``protected`` of them at the front) are never merged and stay
at the front, in order. Written for tempme; no code from ToMe's repository.
"""

from __future__ import annotations

from typing import Callable

import torch

MergeFn = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def bipartite_soft_matching(metric: torch.Tensor, r: int, protected: int = 1) -> MergeFn:
    """Plan one merge of ``r`` tokens per sequence.

    Args:
        metric: (B, N, Cm) similarity features (e.g. attention keys averaged over heads).
        r: tokens to remove per sequence; at most the size of set A, ``ceil((N - protected) / 2)``.
        protected: leading tokens that are never merged (class tokens).

    Returns:
        ``merge(x)`` mapping (B, N, C) to (B, N - r, C) by summing each merged A token into its
        B partner. Output order: protected tokens, unmerged A tokens (in input order), B tokens.

    Raises:
        ValueError: if ``r`` exceeds the size of set A or ``protected`` exceeds N.
    """
    B, N, _ = metric.shape
    if r <= 0:
        return _identity
    if not 0 <= protected <= N:
        raise ValueError(f"protected={protected} tokens but the sequence has N={N}")
    n_a = (N - protected + 1) // 2
    if r > n_a:
        raise ValueError(f"cannot merge r={r} tokens: N={N}, protected={protected}, set A has {n_a}")

    with torch.no_grad():
        m = metric[:, protected:].float()
        m = m / m.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        a, b = m[:, ::2], m[:, 1::2]  # (B, Na, Cm), (B, Nb, Cm)
        scores = a @ b.transpose(1, 2)  # (B, Na, Nb) cosine similarities
        best, best_b = scores.max(dim=-1)  # (B, Na) strongest edge of each A token
        order = best.argsort(dim=-1, descending=True)  # (B, Na)
        src_idx = order[:, :r]  # (B, r) A tokens that get merged
        unm_idx = order[:, r:].sort(dim=-1).values  # (B, Na - r) kept, in input order
        dst_idx = best_b.gather(1, src_idx)  # (B, r) their B partners

    def merge(x: torch.Tensor) -> torch.Tensor:
        C = x.shape[-1]
        head, xa, xb = x[:, :protected], x[:, protected::2], x[:, protected + 1 :: 2]
        unm = xa.gather(1, unm_idx[..., None].expand(-1, -1, C))  # (B, Na - r, C)
        src = xa.gather(1, src_idx[..., None].expand(-1, -1, C))  # (B, r, C)
        xb = xb.scatter_add(1, dst_idx[..., None].expand(-1, -1, C), src)  # (B, Nb, C)
        return torch.cat([head, unm, xb], dim=1)  # (B, N - r, C)

    return merge


def merge_wavg(merge: MergeFn, x: torch.Tensor, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``merge`` as a size-weighted average.

    Args:
        merge: from :func:`bipartite_soft_matching`.
        x: (B, N, C) token features.
        size: (B, N, 1) how many original tokens each token stands for.

    Returns:
        ``(x, size)`` of shapes (B, N - r, C) and (B, N - r, 1); ``size.sum(1)`` is unchanged.
    """
    if merge is _identity:
        return x, size
    size = size.to(x.dtype)
    total = merge(size)  # (B, N - r, 1)
    x = merge(x * size) / total
    return x, total
