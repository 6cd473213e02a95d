"""Moments: grouping of segment hits, checked on hand-made hits with known answers."""

from __future__ import annotations

from tempme.index.query import SegmentHit, group_moments, merge_video_hits


def H(sid, vid, a, b, score):
    return SegmentHit(sid, vid, a, b, score)


def test_adjacent_and_overlapping_hits_merge_into_one_moment() -> None:
    hits = [H(1, 7, 0.0, 5.0, 0.3), H(2, 7, 5.0, 9.0, 0.5), H(3, 7, 20.0, 30.0, 0.4), H(4, 7, 8.0, 12.0, 0.1)]
    moments = merge_video_hits(hits, score_tol=1.0)
    assert [(m.start_s, m.end_s, m.score, m.segment_id, m.segments) for m in moments] == [
        (0.0, 12.0, 0.5, 2, (1, 2, 4)),
        (20.0, 30.0, 0.4, 3, (3,)),
    ]


def test_weak_neighbours_do_not_join_a_strong_moment() -> None:
    # A strong hit between two weak touching ones stays a short moment; the near-equal pair merges.
    hits = [H(1, 7, 0.0, 5.0, 0.10), H(2, 7, 5.0, 9.0, 0.31), H(3, 7, 9.0, 12.0, 0.30), H(4, 7, 12.0, 20.0, 0.05)]
    moments = merge_video_hits(hits, score_tol=0.02)
    assert [(m.start_s, m.end_s, m.segments) for m in moments] == [
        (5.0, 12.0, (2, 3)),
        (0.0, 5.0, (1,)),
        (12.0, 20.0, (4,)),
    ]


def test_videos_ranked_by_best_moment_and_per_video() -> None:
    hits = [H(1, 1, 0, 5, 0.2), H(2, 2, 0, 5, 0.9), H(3, 1, 50, 60, 0.6), H(4, 3, 10, 20, 0.7), H(5, 2, 30, 40, 0.1)]
    moments = group_moments(hits)
    assert [(m.video_id, m.segment_id) for m in moments] == [(2, 2), (3, 4), (1, 3), (1, 1), (2, 5)]
    best = group_moments(hits, per_video=True)
    assert [(m.video_id, m.segment_id, m.score) for m in best] == [(2, 2, 0.9), (3, 4, 0.7), (1, 3, 0.6)]


def test_gap_tolerance() -> None:
    hits = [H(1, 1, 0.0, 5.0, 0.2), H(2, 1, 5.04, 9.0, 0.3), H(3, 1, 9.5, 10.0, 0.1)]
    assert [(m.start_s, m.end_s) for m in merge_video_hits(hits, gap_s=0.05, score_tol=1.0)] == [
        (0.0, 9.0),
        (9.5, 10.0),
    ]


def test_limits_are_inclusive_and_defaults_apply() -> None:
    # a hit starting exactly gap_s after the moment's end joins it; a score exactly score_tol away too
    hits = [H(1, 1, 0.0, 5.0, 0.5), H(2, 1, 5.5, 9.0, 0.25)]
    assert [m.segments for m in merge_video_hits(hits, gap_s=0.5, score_tol=0.25)] == [(1, 2)]
    # the defaults: 0.05 s gap, 0.02 score tolerance (0.5 s apart, equal scores: two moments)
    apart = [H(1, 1, 0.0, 5.0, 0.3), H(2, 1, 5.5, 9.0, 0.3)]
    assert len(merge_video_hits(apart)) == 2 and len(group_moments(apart)) == 2
    assert len(merge_video_hits(apart, gap_s=0.5)) == 1 and len(group_moments(apart, gap_s=0.5)) == 1
    # group_moments passes both limits on: a wide gap with a strict tolerance, and the reverse
    assert len(group_moments(apart, gap_s=1.0, score_tol=0.0)) == 1
    near = [H(1, 1, 0.0, 5.0, 0.9), H(2, 1, 5.0, 9.0, 0.3)]
    assert len(group_moments(near, gap_s=0.05, score_tol=1.0)) == 1 and len(group_moments(near)) == 2


def test_equal_scores_point_at_the_lowest_segment() -> None:
    hits = [H(9, 1, 0.0, 5.0, 0.4), H(3, 1, 5.0, 9.0, 0.4)]
    (moment,) = merge_video_hits(hits)
    assert (moment.segment_id, moment.segments, moment.start_s, moment.end_s) == (3, (3, 9), 0.0, 9.0)
