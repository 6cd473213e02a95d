"""Searching by vector: a query vector -> vector store -> catalog re-fetch in rank order -> moments -> hits.

:func:`search_moments` fetches more segments than needed from the store (4x, growing until
enough moments survive the filters and the grouping, or the store is exhausted); filters are
applied by the catalog's query, grouping by :func:`group_moments`.

From segment hits to moments: group by video, merge touching hits, rank videos.

FAISS returns segments; people want moments. Hits of one video whose spans overlap or touch
(gap <= ``gap_s``) and whose scores are about as high (within ``score_tol`` of the moment's best
hit, cosine) merge into one moment spanning all of them, scored by its best hit (and pointing at
that hit's segment). The score tolerance keeps a moment from swallowing its weak neighbours: in a
small library every segment is among the fetched hits, and without it each video would become
one moment spanning the whole video. Moments are ranked by score, so videos appear in the order of
their best moment; ``per_video`` keeps only each video's best moment (one row per video, ranked
by it). Ranking by the best hit keeps pages stable: fetching deeper only adds lower-scored
moments or widens existing ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.hits import Hit, SearchFilters
from tempme.index.query.timing import stage
from tempme.index.vectors.store import VectorStore


@dataclass(frozen=True)
class SegmentHit:
    segment_id: int
    video_id: int
    start_s: float
    end_s: float
    score: float


@dataclass(frozen=True)
class Moment:
    """``[start_s, end_s)`` seconds of a video; ``segment_id`` is its best-scoring segment."""

    segment_id: int
    video_id: int
    start_s: float
    end_s: float
    score: float
    segments: tuple[int, ...]


SCORE_TOL = 0.02  # cosine: neighbours this close to a moment's best hit join it


def merge_video_hits(hits: list[SegmentHit], gap_s: float = 0.05, score_tol: float = SCORE_TOL) -> list[Moment]:
    """Merge one video's hits into moments, sorted by score (best first)."""
    out: list[Moment] = []
    group: list[SegmentHit] = []
    end = float("-inf")
    best_score = float("-inf")

    def close() -> None:
        best = max(group, key=lambda h: (h.score, -h.segment_id))
        out.append(
            Moment(
                best.segment_id,
                best.video_id,
                min(h.start_s for h in group),
                max(h.end_s for h in group),
                best.score,
                tuple(sorted(h.segment_id for h in group)),
            )
        )

    for h in sorted(hits, key=lambda h: (h.start_s, h.end_s)):
        if group and (h.start_s > end + gap_s or abs(h.score - best_score) > score_tol):
            close()
            group, end, best_score = [], float("-inf"), float("-inf")
        group.append(h)
        end = max(end, h.end_s)
        best_score = max(best_score, h.score)
    if group:
        close()
    return sorted(out, key=lambda m: (-m.score, m.start_s))


def group_moments(
    hits: list[SegmentHit], per_video: bool = False, gap_s: float = 0.05, score_tol: float = SCORE_TOL
) -> list[Moment]:
    """Moments from segment hits of any videos, ranked (see the module docstring)."""
    by_video: dict[int, list[SegmentHit]] = {}
    for h in hits:
        by_video.setdefault(h.video_id, []).append(h)
    videos = [merge_video_hits(v, gap_s, score_tol) for v in by_video.values()]
    moments = [ms[0] for ms in videos] if per_video else [m for ms in videos for m in ms]
    return sorted(moments, key=lambda m: (-m.score, m.video_id, m.start_s))


def search_moments(
    catalog: Catalog,
    store: VectorStore,
    vec: np.ndarray,
    k: int,
    *,
    offset: int = 0,
    per_video: bool = False,
    filters: SearchFilters | None = None,
    exclude_segment: int | None = None,
) -> list[Hit]:
    """Moments nearest to the (D,) unit vector ``vec``, ranked: results ``offset .. offset + k``."""
    total = store.ntotal
    if k <= 0 or total == 0:
        return []
    vec = np.asarray(vec, dtype=np.float32).reshape(1, -1)  # (D,) -> (1, D)
    want = offset + k
    fetch = min(max(4 * want, 32), total)
    while True:
        with stage("vector"):
            scores, ids = store.search(vec, fetch)  # (1, K) each
        found = [(int(i), float(sc)) for i, sc in zip(ids[0], scores[0]) if i >= 0 and i != exclude_segment]
        with stage("catalog"):
            rows = catalog.segment_rows([i for i, _ in found], filters)
        hits = [SegmentHit(i, rows[i].video_id, rows[i].start_s, rows[i].end_s, sc) for i, sc in found if i in rows]
        moments = group_moments(hits, per_video=per_video)
        if len(moments) >= want + 1 or fetch >= total:
            break
        fetch = min(fetch * 4, total)
    return [
        Hit(
            segment_id=m.segment_id,
            video_id=m.video_id,
            path=rows[m.segment_id].path,
            start_s=m.start_s,
            end_s=m.end_s,
            score=m.score,
            rank=rank,
            duration_s=rows[m.segment_id].duration_s,
            visual_score=m.score,
        )
        for rank, m in enumerate(moments[offset:want], start=offset + 1)
    ]
