"""Segmentation: the planner's rule on known cut lists (cuts against PySceneDetect: tests/test_cuts.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tempme.index.media import SegmentParams, SegmentPlanner, plan_segments


def _assert_tiles(spans, duration: float) -> None:
    """Contiguous from 0 to the duration: every second lies in exactly one segment."""
    assert spans[0].start_s == 0.0
    assert spans[-1].end_s == pytest.approx(duration)
    for a, b in zip(spans, spans[1:]):
        assert a.end_s == b.start_s
    assert all(s.length > 0 for s in spans)


def test_no_cuts_gives_fixed_windows() -> None:
    spans = plan_segments(95.0, [], window_s=30.0, min_shot_s=1.0)
    assert [(s.start_s, s.end_s, s.kind) for s in spans] == [
        (0.0, 30.0, "window"),
        (30.0, 60.0, "window"),
        (60.0, 90.0, "window"),
        (90.0, 95.0, "shot"),
    ]


def test_cuts_make_shots_long_shots_split_short_pieces_merge() -> None:
    cuts = [0.4, 5.0, 5.5, 12.0, 80.0, 80.3]
    spans = plan_segments(100.0, cuts, window_s=30.0, min_shot_s=1.0)
    got = [(s.start_s, s.end_s) for s in spans]
    # 0-0.4 joins 0.4-5; 5-5.5 joins the previous; 12-80 splits at 42 and 72 (72-80 stays, 8 s);
    # 80-80.3 joins 72-80; 80.3-100 is a shot
    assert got == [(0.0, 5.5), (5.5, 12.0), (12.0, 42.0), (42.0, 72.0), (72.0, 80.3), (80.3, 100.0)]
    _assert_tiles(spans, 100.0)
    assert spans[1].kind == "shot" and spans[2].kind == "window"


@pytest.mark.parametrize("seed", range(5))
def test_random_cut_lists_tile_the_video(seed: int) -> None:
    rng = np.random.default_rng(seed)
    duration = float(rng.uniform(5, 400))
    cuts = sorted(rng.uniform(0, duration, rng.integers(0, 60)).tolist())
    spans = plan_segments(duration, cuts, window_s=20.0, min_shot_s=1.5)
    _assert_tiles(spans, duration)
    if duration >= 1.5:  # only the last piece can stay short (after a full window)
        assert all(s.length >= 1.5 - 1e-9 for s in spans[:-1])
    assert all(s.length <= 20.0 + 1.5 for s in spans)
    boundaries = {s.start_s for s in spans[1:]}
    window_starts = {round(s.end_s, 9) for s in spans if s.kind == "window"}
    for b in boundaries:  # every boundary is a real cut or a window edge
        assert b in cuts or round(b, 9) in window_starts or any(abs(b - s.start_s - 20.0) < 1e-9 for s in spans)


def test_planner_streaming_equals_offline() -> None:
    cuts = [3.0, 3.2, 50.0, 51.0, 120.0]
    planner = SegmentPlanner(30.0, 1.0)
    out = []
    for t in np.arange(0, 150, 0.5):  # frames every 0.5 s, cuts when reached
        out += planner.advance(float(t))
        for c in cuts:
            if t - 0.5 < c <= t:
                out += planner.cut(c)
    out += planner.finish(150.0)
    offline = plan_segments(150.0, cuts, 30.0, 1.0)
    assert [(s.start_s, s.end_s) for s in out] == [(s.start_s, s.end_s) for s in offline]


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="min_shot_s"):
        SegmentParams(window_s=1.0, min_shot_s=2.0)
