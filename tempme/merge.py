"""Token merging as pure functions on ``(B, N, C)`` tensors.

Bipartite soft matching (Bolya et al., "Token Merging: Your ViT But Faster", ICLR 2023,
Sec. 3): split the tokens alternately into sets A and B, connect every A token to its most
similar B token (cosine similarity of the metric), and merge the ``r`` A tokens with the
strongest edges into their B partners. Merged features are size-weighted averages (ToMe Sec. 3,
"Tracking token size"), so the sizes always sum to the number of original tokens.

The alternation runs over the whole sequence with the protected (class) tokens counted, as in
ToMe and the TempMe reference (``LunarShen/TempMe``, ``module_tome_merge.py``): token ``i`` is in
A when ``i`` is even. Protected tokens never take part, so with one class token set A is the
patches 1, 3, 5, ... (tokens 2, 4, 6, ...) and B the patches 0, 2, 4, ...; with an even number
of class tokens (ClipMe and the last layer) A is the patches 0, 2, 4, .... Protected tokens
(``protected`` of them at the front) are never merged and stay at the front, in order. Written
for tempme; no code from ToMe's or TempMe's repositories.
"""

from __future__ import annotations

from typing import Callable

import torch

MergeFn = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def set_a_size(n_tokens: int, protected: int) -> int:
    """How many tokens set A holds: the unprotected tokens at even positions of the sequence.

    With ``M = n_tokens - protected`` patches that is ``ceil(M / 2)`` for an even number of
    protected tokens and ``floor(M / 2)`` for an odd number.
    """
    m = n_tokens - protected
    return (m + 1) // 2 if protected % 2 == 0 else m // 2


def bipartite_soft_matching(metric: torch.Tensor, r: int, protected: int = 1) -> MergeFn:
    """Plan one merge of ``r`` tokens per sequence.

    Args:
        metric: (B, N, Cm) similarity features (e.g. attention keys averaged over heads).
        r: tokens to remove per sequence; at most the size of set A (:func:`set_a_size`).
        protected: leading tokens that are never merged (class tokens); they count in the
            alternation (token ``i`` is in A when ``i`` is even).

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
    n_a = set_a_size(N, protected)
    if r > n_a:
        raise ValueError(f"cannot merge r={r} tokens: N={N}, protected={protected}, set A has {n_a}")

    # first A and first B token among the unprotected ones: even positions are A
    a0, b0 = (protected, protected + 1) if protected % 2 == 0 else (protected + 1, protected)
    with torch.no_grad():
        m = metric.float()
        m = m / m.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        a, b = m[:, a0::2], m[:, b0::2]  # (B, Na, Cm), (B, Nb, Cm)
        scores = a @ b.transpose(1, 2)  # (B, Na, Nb) cosine similarities
        best, best_b = scores.max(dim=-1)  # (B, Na) strongest edge of each A token
        order = best.argsort(dim=-1, descending=True)  # (B, Na)
        src_idx = order[:, :r]  # (B, r) A tokens that get merged
        unm_idx = order[:, r:].sort(dim=-1).values  # (B, Na - r) kept, in input order
        dst_idx = best_b.gather(1, src_idx)  # (B, r) their B partners

    def merge(x: torch.Tensor) -> torch.Tensor:
        C = x.shape[-1]
        head, xa, xb = x[:, :protected], x[:, a0::2], x[:, b0::2]
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
