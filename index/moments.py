"""From segment hits to moments: group by video, merge touching hits, rank videos.

FAISS returns segments; people want moments. Hits of one video whose spans overlap or touch
(gap <= ``gap_s``) merge into one moment spanning all of them, scored by its best hit (and
pointing at that hit's segment). Moments are ranked by score, so videos appear in the order of
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


def merge_video_hits(hits: list[SegmentHit], gap_s: float = 0.05) -> list[Moment]:
    """Merge one video's hits into moments, sorted by score (best first)."""
    out: list[Moment] = []
    group: list[SegmentHit] = []
    end = float("-inf")

    def close() -> None:
        best = max(group, key=lambda h: (h.score, -h.segment_id))
        out.append(Moment(best.segment_id, best.video_id, min(h.start_s for h in group),
                          max(h.end_s for h in group), best.score,
                          tuple(sorted(h.segment_id for h in group))))

    for h in sorted(hits, key=lambda h: (h.start_s, h.end_s)):
        if group and h.start_s > end + gap_s:
            close()
            group, end = [], float("-inf")
        group.append(h)
        end = max(end, h.end_s)
    if group:
        close()
    return sorted(out, key=lambda m: (-m.score, m.start_s))


def group_moments(hits: list[SegmentHit], per_video: bool = False, gap_s: float = 0.05) -> list[Moment]:
    """Moments from segment hits of any videos, ranked (see the module docstring)."""
    by_video: dict[int, list[SegmentHit]] = {}
    for h in hits:
        by_video.setdefault(h.video_id, []).append(h)
    videos = [merge_video_hits(v, gap_s) for v in by_video.values()]
    moments = [ms[0] for ms in videos] if per_video else [m for ms in videos for m in ms]
    return sorted(moments, key=lambda m: (-m.score, m.video_id, m.start_s))
