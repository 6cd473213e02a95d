"""Retrieval metrics of the MSR-VTT 1k-A protocol: R@1, R@5, R@10, MdR, MnR and R-Sum.

For a (Q, K) similarity matrix whose row i has its ground truth in column ``gt[i]``, the rank of
query i is ``1 + #{j != gt[i] : sim[i, j] >= sim[i, gt[i]]}``: a candidate that ties with the ground
truth is counted as ranked above it, so ties never count as hits (a constant matrix gives rank K,
not 1). R@k is the percentage of queries with rank <= k; MdR / MnR are the median / mean rank;
R-Sum = R@1 + R@5 + R@10 (text-to-video and video-to-text are reported separately).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class RetrievalMetrics:
    """Metrics of one direction. R@k in percent; ranks are 1-based."""

    r1: float
    r5: float
    r10: float
    mdr: float
    mnr: float
    num_queries: int

    @property
    def rsum(self) -> float:
        return self.r1 + self.r5 + self.r10

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "rsum": self.rsum}


def ranks(sim: torch.Tensor | np.ndarray, gt: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """1-based rank of each query's ground truth, ties counted against it.

    Args:
        sim: (Q, K) similarities, larger is better.
        gt: (Q,) ground-truth column of each row; default ``arange(Q)`` (needs Q <= K).

    Returns (Q,) int64. Raises ValueError on a non-2D matrix, a ``gt`` of the wrong length or out
    of range, or non-finite similarities.
    """
    s = torch.as_tensor(sim).detach().to("cpu", torch.float64)
    if s.ndim != 2:
        raise ValueError(f"similarity matrix must be 2D (Q, K), got shape {tuple(s.shape)}")
    q, k = s.shape
    g = torch.arange(q) if gt is None else torch.as_tensor(gt, dtype=torch.int64).reshape(-1)
    if g.numel() != q:
        raise ValueError(f"gt has {g.numel()} entries for {q} queries")
    if q and (int(g.min()) < 0 or int(g.max()) >= k):
        raise ValueError(f"gt must index the {k} candidates, got range [{int(g.min())}, {int(g.max())}]")
    if not torch.isfinite(s).all():
        raise ValueError("similarity matrix has NaN or infinite entries")
    target = s.gather(1, g[:, None])  # (Q, 1)
    at_least = (s >= target).sum(dim=1)  # (Q,) counts the ground truth itself once
    return at_least.numpy().astype(np.int64)


def metrics_from_ranks(r: np.ndarray) -> RetrievalMetrics:
    """R@1/5/10 (%), MdR, MnR from 1-based ranks. Raises ValueError for an empty array."""
    r = np.asarray(r)
    if r.size == 0:
        raise ValueError("no queries: cannot compute retrieval metrics")
    return RetrievalMetrics(
        r1=100.0 * float(np.mean(r <= 1)),
        r5=100.0 * float(np.mean(r <= 5)),
        r10=100.0 * float(np.mean(r <= 10)),
        mdr=float(np.median(r)),
        mnr=float(np.mean(r)),
        num_queries=int(r.size),
    )


def retrieval_metrics(sim: torch.Tensor | np.ndarray) -> dict[str, RetrievalMetrics]:
    """Both directions for a square (Q, Q) text-by-video matrix with ground truth on the diagonal.

    ``sim[i, j]`` is the similarity of caption i and video j (the 1k-A layout: one caption per
    video). Returns ``{"t2v": ..., "v2t": ...}``. Raises ValueError for a non-square matrix.
    """
    s = torch.as_tensor(sim)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"expected a square (Q, Q) text-by-video matrix, got {tuple(s.shape)}")
    return {"t2v": metrics_from_ranks(ranks(s)), "v2t": metrics_from_ranks(ranks(s.T))}


def format_table(results: dict[str, RetrievalMetrics], title: str = "") -> str:
    """A plain-text table: one row per direction, columns R@1 R@5 R@10 MdR MnR R-Sum."""
    lines = [title] if title else []
    lines.append(f"{'':<6}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MdR':>7}{'MnR':>8}{'R-Sum':>8}")
    for name, m in results.items():
        lines.append(f"{name:<6}{m.r1:7.1f}{m.r5:7.1f}{m.r10:7.1f}{m.mdr:7.1f}{m.mnr:8.1f}{m.rsum:8.1f}")
    return "\n".join(lines)
