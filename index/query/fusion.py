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

:func:`fuse_hits` fuses the library's visual, speech and text hits over moments: a moment found
by several lists gathers the evidence of each (visual score, matched words, OCR line) in one
hit, whose span is the spoken line's if there is one, else the on-screen line's, else the
visual moment's.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from tempme.index.hits import Hit, SearchMode

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


def fuse_hits(
    lists: dict[str, list[Hit]], k: int, *, offset: int = 0, per_video: bool = False, rrf_k: float = RRF_K
) -> list[Hit]:
    """Fuse ranked hit lists (``visual``, ``speech``, ``text``) by RRF; results ``offset ..
    offset + k``, ``score`` = the RRF score, ``matched`` = the lists that found it.

    The items fused are moments: a visual hit is keyed by its segment; a spoken or on-screen
    line by the visual moment of the same video whose span holds the line's start (a visual
    moment may span several segments), else by its own segment. Each list counts an item once,
    at its best rank. Equal RRF scores go to the item seen first in speech, then text, then
    visual (a word match over a look-alike).
    """
    visual = lists.get("visual", [])

    def key(h: Hit, name: str) -> int:
        if name != "visual":
            for v in visual:
                if v.video_id == h.video_id and v.start_s <= h.start_s < v.end_s:
                    return v.segment_id
        return h.segment_id

    preferred = (SearchMode.SPEECH, SearchMode.TEXT, SearchMode.VISUAL)  # ties: a word match over a look-alike
    order = [n for n in preferred if n in lists] + [n for n in lists if n not in preferred]
    best: dict[str, dict[int, Hit]] = {}
    rankings: dict[str, list[int]] = {}
    for name in order:
        first: dict[int, Hit] = {}
        for h in lists[name]:
            first.setdefault(key(h, name), h)
        best[name], rankings[name] = first, list(first)
    fused = reciprocal_rank_fusion(rankings, k=rrf_k)
    out: list[Hit] = []
    seen_videos: set[int] = set()
    for f in fused:
        found = {name: best[name][f.key] for name in f.ranks}
        base = found.get("speech") or found.get("text") or found["visual"]
        if per_video and base.video_id in seen_videos:
            continue
        seen_videos.add(base.video_id)
        v, sp, tx = found.get("visual"), found.get("speech"), found.get("text")
        out.append(
            replace(
                base,
                segment_id=f.key if v is not None else base.segment_id,
                score=f.score,
                rank=len(out) + 1,
                visual_score=v.visual_score if v else None,
                words=sp.words if sp else (),
                transcript=sp.transcript if sp else None,
                match_kind=sp.match_kind if sp else None,
                match_score=sp.match_score if sp else None,
                heard_as=sp.heard_as if sp else None,
                ocr_text=tx.ocr_text if tx else None,
                ocr_box=tx.ocr_box if tx else None,
                matched=tuple(m.value for m in (SearchMode.VISUAL, SearchMode.SPEECH, SearchMode.TEXT) if m in found),
            )
        )
        if len(out) >= offset + k:
            break
    return [replace(h, rank=i) for i, h in enumerate(out[offset : offset + k], start=offset + 1)]
