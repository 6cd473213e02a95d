"""From segment hits to moments: group by video, merge touching hits, rank videos.

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
