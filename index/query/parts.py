"""A compound query's parts searched alone, deep enough, and joined in time (``Library.search``).

Each part is searched with its own mode (the search's mode when it names none), ``depth``
results deep: at first ``max(MIN_DEPTH, OVERFETCH x (offset + k))``. The lists are joined within
each video under the parts' relations and ranked by reciprocal rank fusion over the parts' ranks
(:func:`.compound.join_parts`). When the join yields fewer than ``offset + k`` results while some
part's list came back full (more of it may exist), every part is searched again four times as
deep, up to :data:`MAX_DEPTH`: a page is complete whenever the parts' first ``MAX_DEPTH``
results hold its pairs. A result is one :class:`~tempme.index.hits.Hit` spanning its parts
(``Hit.parts``: the parts' own hits, with why each matched); it is as confident as its weakest
part (every part must match: docs/confidence.md), its ``p_value`` the largest of the parts'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tempme.index.hits import Confidence, Hit
from tempme.index.query.compound import CompoundQuery, JoinedMoment, PartHit, join_parts

log = logging.getLogger(__name__)

MIN_DEPTH = 50  # results read per part at first
MAX_DEPTH = 3200  # and at most (4 x 4 x 4 x 50)
GROWTH = 4

# (text, mode or None, k) -> that part's hits, best first, ranks 1..k
SearchPart = Callable[[str, "str | None", int], list[Hit]]


def _first(values):
    return next((v for v in values if v is not None), None)


def _weakest(items: list[Hit]) -> tuple[Confidence | None, float | None]:
    """The least confident part's level and the largest p-value (None when a part was not judged)."""
    levels = [i.confidence for i in items]
    level = None if any(c is None for c in levels) else min(levels)
    p_values = [i.p_value for i in items if i.p_value is not None]
    return level, max(p_values, default=None)


def joined_hit(j: JoinedMoment[Hit], rank: int, query: CompoundQuery) -> Hit:
    """One result: the joined span, the first part's segment and video, the parts' evidence."""
    items = [h.item for h in j.hits]
    first = items[0]
    kinds = {r.kind for r in query.relations}
    confidence, p_value = _weakest(items)
    return Hit(
        segment_id=first.segment_id,
        video_id=first.video_id,
        path=first.path,
        start_s=j.start_s,
        end_s=j.end_s,
        score=j.score,
        rank=rank,
        duration_s=first.duration_s,
        visual_score=_first(i.visual_score for i in items),
        words=tuple(w for i in items for w in i.words),
        transcript=_first(i.transcript for i in items),
        ocr_text=_first(i.ocr_text for i in items),
        ocr_box=_first(i.ocr_box for i in items),
        matched=tuple(dict.fromkeys(m for i in items for m in i.matched)),
        parts=tuple(items),
        relation=kinds.pop() if len(kinds) == 1 else "/".join(r.kind for r in query.relations),
        confidence=confidence,
        p_value=p_value,
    )


def search_compound(
    query: CompoundQuery,
    search_part: SearchPart,
    k: int,
    *,
    offset: int = 0,
    per_video: bool = False,
    overfetch: int = 4,
) -> list[Hit]:
    """Results ``offset`` to ``offset + k`` of ``query`` (see the module docstring).

    Raises:
        ValueError: ``k < 1`` or ``offset < 0``; what ``search_part`` raises (an unknown mode, a
        ``speech`` part on a library without transcripts).
    """
    if k < 1 or offset < 0:
        raise ValueError(f"need k >= 1 and offset >= 0, got k={k}, offset={offset}")
    want = offset + k
    depth = min(max(MIN_DEPTH, overfetch * want), MAX_DEPTH)
    while True:
        lists = [search_part(p.text, p.mode, depth) for p in query.parts]
        parts = [[PartHit(h.video_id, h.start_s, h.end_s, h.rank, h) for h in hits] for hits in lists]
        joined = join_parts(parts, query.relations)
        if per_video:
            seen: set[int] = set()
            joined = [j for j in joined if not (j.video_id in seen or seen.add(j.video_id))]
        full = any(len(hits) >= depth for hits in lists)
        if len(joined) >= want or not full or depth >= MAX_DEPTH:
            break
        depth = min(depth * GROWTH, MAX_DEPTH)
    log.debug("%s: %d joined from parts %d deep", query.text, len(joined), depth)
    return [joined_hit(j, rank, query) for rank, j in enumerate(joined[offset:want], start=offset + 1)]
