"""Reciprocal rank fusion: several rankings of the same kind of item become one.

Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank
Learning Methods", SIGIR 2009: an item's fused score is

    RRF(d) = sum over rankings r that contain d of  w_r / (k + rank_r(d)),

with 1-based ranks and k = 60 (the paper's constant; it damps the weight of the very first
ranks so that one list cannot decide alone). Items missing from a ranking get nothing from it.
Only ranks are used, never the lists' own scores, which is what lets cosine similarities (TempMe
vectors) and BM25 scores (full-text search) be combined without calibration.

Ties in the fused score are broken by the best rank the item reached in any list, then by the
order in which the rankings were given (earlier lists first), then by position: deterministic.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # Cormack et al. 2009


@dataclass(frozen=True)
class Fused(Generic[K]):
    """One item of the fused ranking: its RRF ``score`` and its 1-based rank in each list it is in."""

    key: K
    score: float
    ranks: Mapping[str, int]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[K]], k: float = RRF_K, weights: Mapping[str, float] | None = None
) -> list[Fused[K]]:
    """Fuse named rankings (best first, each item at most once per list) into one, best first.

    Args:
        rankings: name -> items in rank order (e.g. ``{"visual": [...], "speech": [...]}``).
        k: the RRF constant (> 0).
        weights: name -> weight (default 1 for every list).

    Raises:
        ValueError: ``k <= 0``, a negative weight, a weight for an unknown list, or an item twice in one list.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    weights = dict(weights or {})
    unknown = set(weights) - set(rankings)
    if unknown:
        raise ValueError(f"weights for unknown rankings {sorted(unknown)}; rankings are {sorted(rankings)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0, got {weights}")
    score: dict[K, float] = {}
    ranks: dict[K, dict[str, int]] = {}
    order: dict[K, tuple[int, int]] = {}  # (list index, position) of the first sighting
    for li, (name, items) in enumerate(rankings.items()):
        w = weights.get(name, 1.0)
        seen = set()
        for pos, item in enumerate(items):
            if item in seen:
                raise ValueError(f"{item!r} appears twice in ranking {name!r}")
            seen.add(item)
            score[item] = score.get(item, 0.0) + w / (k + pos + 1)
            ranks.setdefault(item, {})[name] = pos + 1
            order.setdefault(item, (li, pos))
    keys = sorted(score, key=lambda d: (-score[d], min(ranks[d].values()), order[d]))
    return [Fused(d, score[d], dict(ranks[d])) for d in keys]
