"""Compound, time-ordered queries: the parts' hits joined within a video, ranked by RRF.

A compound query is a list of parts ("a goal", "crowd cheers", ...), each searched on its own,
and a relation between each part and the next:

- ``then``: the next part's moment starts at or after this part's moment ends, at most
  ``within_s`` seconds later: ``0 <= next.start_s - this.end_s <= within_s``;
- ``while``: the two moments overlap in time: ``this.start_s < next.end_s`` and
  ``next.start_s < this.end_s`` (moments that only touch do not overlap).

:func:`join_parts` finds, in each video, the chains of hits (one hit per part, each related to
the previous one) and ranks them by reciprocal rank fusion over the parts' ranks (Cormack,
Clarke and Büttcher, SIGIR 2009; k = 60, :data:`tempme.index.fusion.RRF_K`):

    score(chain) = sum over parts i of 1 / (k + rank_i)

with ``rank_i`` the 1-based rank of the chain's hit in part i's own list. Only ranks count (the
parts may come from different modes: cosine, BM25), as in the library's fusion of modes. Ties
go to the chain whose best rank is better, then to the lower ranks part by part, then by video
and time: deterministic. With ``unique=True`` (the default) a hit takes part in at most one
result, chosen greedily best score first, so that one strong moment does not fill the page
paired with every moment after it. A result's span is the union ``[min start, max end]`` of its
hits; each hit keeps its own item (the caller's hit, with why it matched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

from tempme.index.query.fusion import RRF_K

T = TypeVar("T")
RELATIONS = ("then", "while")
EPS = 1e-6  # seconds


@dataclass(frozen=True)
class Relation:
    """How a part relates to the next one: ``then`` (within ``within_s`` s after) or ``while``."""

    kind: str = "then"
    within_s: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in RELATIONS:
            raise ValueError(f"relation must be one of {', '.join(RELATIONS)}, got {self.kind!r}")
        if self.within_s < 0:
            raise ValueError(f"within must be >= 0 s, got {self.within_s}")

    def holds(self, a: PartHit, b: PartHit) -> bool:
        """Whether ``b`` (the next part's hit) stands in this relation to ``a``."""
        if a.video_id != b.video_id:
            return False
        if self.kind == "then":
            return -EPS <= b.start_s - a.end_s <= self.within_s + EPS
        return a.start_s < b.end_s - EPS and b.start_s < a.end_s - EPS


@dataclass(frozen=True)
class QueryPart:
    """One part of a compound query: its ``text``, its ``mode`` (None: the search's mode) and,
    for every part but the first, its ``relation`` to the part before."""

    text: str
    mode: str | None = None
    relation: Relation | None = None


@dataclass(frozen=True)
class CompoundQuery:
    """Parts searched alone and joined in time (``Library.search`` takes one where it takes a
    string): ``CompoundQuery.of("a goal", then="crowd cheers", within_s=10)``.

    Raises:
        ValueError: fewer than two parts, an empty text, a first part with a relation or a later
            one without.
    """

    parts: tuple[QueryPart, ...]

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError(f"a compound query needs at least 2 parts, got {len(self.parts)}")
        if any(not p.text.strip() for p in self.parts):
            raise ValueError("empty query part")
        if self.parts[0].relation is not None or any(p.relation is None for p in self.parts[1:]):
            raise ValueError("the first part has no relation; every later part has one (then / while)")

    @classmethod
    def of(
        cls,
        first: str,
        *,
        then: str | None = None,
        while_: str | None = None,
        within_s: float = 10.0,
        mode: str | None = None,
        then_mode: str | None = None,
    ) -> CompoundQuery:
        """Two parts: ``first`` and either ``then`` (starting within ``within_s`` s after it ends)
        or ``while_`` (overlapping it); ``mode`` / ``then_mode`` per part (None: the search's).

        Raises:
            ValueError: neither or both of ``then`` and ``while_``.
        """
        if (then is None) == (while_ is None):
            raise ValueError("give one of then / while")
        second = QueryPart(then or while_ or "", then_mode, Relation("then" if then is not None else "while", within_s))
        return cls((QueryPart(first, mode), second))

    @property
    def relations(self) -> tuple[Relation, ...]:
        return tuple(p.relation for p in self.parts[1:] if p.relation is not None)

    @property
    def text(self) -> str:
        """``"a goal" then (within 10 s) "crowd cheers"``: what the query asks, for logs and markers."""
        out = f"“{self.parts[0].text}”"
        for p in self.parts[1:]:
            rel = p.relation
            out += f" then (within {rel.within_s:g} s)" if rel.kind == "then" else " while"
            out += f" “{p.text}”" + (f" [{p.mode}]" if p.mode else "")
        return out


@dataclass(frozen=True)
class PartHit(Generic[T]):
    """One hit of one part: ``[start_s, end_s)`` s of video ``video_id``, 1-based ``rank`` in its
    part's list; ``item`` is whatever the caller carries along (e.g. its ``Hit``)."""

    video_id: int
    start_s: float
    end_s: float
    rank: int
    item: T | None = None


@dataclass(frozen=True)
class JoinedMoment(Generic[T]):
    """A chain of hits, one per part, in one video: its span, RRF score and 1-based rank."""

    video_id: int
    start_s: float
    end_s: float
    score: float
    rank: int
    hits: tuple[PartHit[T], ...]

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(h.rank for h in self.hits)


def rrf_score(ranks: Sequence[int], k: float = RRF_K) -> float:
    """``sum(1 / (k + r))`` over the 1-based ranks."""
    return sum(1.0 / (k + r) for r in ranks)


def join_parts(
    parts: Sequence[Sequence[PartHit[T]]],
    relations: Sequence[Relation],
    k: float = RRF_K,
    unique: bool = True,
    limit: int | None = None,
) -> list[JoinedMoment[T]]:
    """Join the parts' ranked hits (see the module docstring), best first.

    Args:
        parts: P >= 2 lists of hits, each in its own rank order (ranks need not be contiguous:
            a filtered list keeps the ranks its search gave).
        relations: P - 1 relations; ``relations[i]`` links part ``i`` to part ``i + 1``.
        k: the RRF constant (> 0).
        unique: a hit is used in at most one result (greedy, best score first).
        limit: at most this many results.

    Raises:
        ValueError: fewer than two parts, a wrong number of relations, ``k <= 0``, a rank < 1.
    """
    _check(parts, relations, k)
    chains = sorted(_chains(parts, relations), key=lambda chain: _order(chain[1], k))
    used: list[set[int]] = [set() for _ in parts]
    out: list[JoinedMoment[T]] = []
    for pos, hits in chains:
        if unique:
            if any(p in used[i] for i, p in enumerate(pos)):
                continue
            for i, p in enumerate(pos):
                used[i].add(p)
        out.append(
            JoinedMoment(
                video_id=hits[0].video_id,
                start_s=min(h.start_s for h in hits),
                end_s=max(h.end_s for h in hits),
                score=rrf_score([h.rank for h in hits], k),
                rank=len(out) + 1,
                hits=hits,
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def _check(parts: Sequence[Sequence[PartHit]], relations: Sequence[Relation], k: float) -> None:
    if len(parts) < 2:
        raise ValueError(f"a compound query needs at least 2 parts, got {len(parts)}")
    if len(relations) != len(parts) - 1:
        raise ValueError(f"{len(parts)} parts need {len(parts) - 1} relations, got {len(relations)}")
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    for i, part in enumerate(parts):
        bad = [h.rank for h in part if h.rank < 1]
        if bad:
            raise ValueError(f"part {i + 1}: ranks are 1-based, got {bad[:3]}")


def _chains(
    parts: Sequence[Sequence[PartHit[T]]], relations: Sequence[Relation]
) -> list[tuple[tuple[int, ...], tuple[PartHit[T], ...]]]:
    """Every chain (positions in the parts' lists, hits): one hit per part, in one video, each
    hit related to the previous one."""
    by_video: list[dict[int, list[tuple[int, PartHit[T]]]]] = []
    for part in parts:
        groups: dict[int, list[tuple[int, PartHit[T]]]] = {}
        for j, h in enumerate(part):
            groups.setdefault(h.video_id, []).append((j, h))
        by_video.append(groups)
    chains = []

    def extend(i: int, pos: tuple[int, ...], hits: tuple[PartHit[T], ...]) -> None:
        if i == len(parts):
            chains.append((pos, hits))
            return
        for j, h in by_video[i].get(hits[0].video_id, ()):
            if relations[i - 1].holds(hits[-1], h):
                extend(i + 1, pos + (j,), hits + (h,))

    for j, h in enumerate(parts[0]):
        extend(1, (j,), (h,))
    return chains


def _order(hits: tuple[PartHit, ...], k: float) -> tuple:
    """Best first: RRF score, then the best rank, then the ranks part by part, video, start."""
    ranks = tuple(h.rank for h in hits)
    return (-rrf_score(ranks, k), min(ranks), ranks, hits[0].video_id, min(h.start_s for h in hits))
