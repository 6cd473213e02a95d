"""On-screen text: RapidOCR (models from its wheel) on words drawn onto a real clip, on a title
card of a real trailer, and the merging of readings across neighbouring frames."""

from importlib.metadata import PackageNotFoundError, distribution

import numpy as np
import pytest
from tempme.index.enrich import OcrConfig, ScreenLine, TextReader, merge_readings, normalise, pick_frames

from tempme.video import sample_frames, uniform_times


@pytest.fixture(scope="module")
def reader():
    return TextReader()


def test_one_opencv_distribution():
    """rapidocr and scenedetect-headless both depend on opencv-python-headless: one cv2."""
    names = ["opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"]
    present = []
    for n in names:
        try:
            distribution(n)
            present.append(n)
        except PackageNotFoundError:
            pass
    assert present == ["opencv-python-headless"]
    import cv2  # noqa: F401  (both rapidocr and scenedetect import it)


def test_reads_drawn_title_and_corner_sign_at_encoder_resolution(text_clip, reader):
    path, (title, sign) = text_clip
    times = uniform_times(0.0, 8.0, 12)
    frames = sample_frames(path, times, short_side=224)  # what the TempMe encoder is given
    lines = reader.read(frames, times)
    by_text = {normalise(ln.text): ln for ln in lines}
    assert set(by_text) == {"summer holiday", "open daily"}, lines
    t, s = by_text["summer holiday"], by_text["open daily"]
    assert title.start_s <= t.start_s and t.end_s < title.end_s
    assert sign.start_s <= s.start_s and s.end_s < sign.end_s
    assert t.end_s - t.start_s > 1.5 and s.end_s - s.start_s > 3  # one line per caption, not per frame
    x0, y0, x1, y1 = t.box  # centred on the card
    assert x0 < 0.5 < x1 and y0 < 0.5 < y1
    x0, y0, x1, y1 = s.box  # the top-right corner
    assert x0 > 0.5 and x1 > 0.9 and y1 < 0.25
    assert min(t.score, s.score) > 0.9


def test_read_segment_reads_a_few_frames(text_clip, reader):
    path, _ = text_clip
    times = uniform_times(3.0, 8.0, 12)
    frames = sample_frames(path, times, short_side=224)
    lines = reader.read_segment(frames, times)
    assert [ln.text for ln in lines] == ["OPEN DAILY"]
    picked = times[pick_frames(12, 3)]
    assert lines[0].start_s == picked[0] and lines[0].end_s == picked[-1]


def test_real_trailer_title_card(videos_dir, reader):
    path = videos_dir / "moviepy-sdist__trailer_bbb.mp4"
    times = np.array([18.0, 20.0, 22.0])  # 'A (slightly overweight) bunny'
    lines = reader.read(sample_frames(path, times, short_side=224), times)
    assert [(ln.text, ln.start_s, ln.end_s) for ln in lines] == [("A (slightly overweight) bunny", 18.0, 22.0)]


def test_no_text_on_a_plain_frame(reader):
    assert reader.read_frame(np.full((224, 320, 3), 128, np.uint8), 0.0) == []
    with pytest.raises(ValueError, match="uint8"):
        reader.read_frame(np.zeros((224, 320, 3), np.float32), 0.0)


def test_pick_frames():
    assert pick_frames(12, 3).tolist() == [2, 6, 10]
    assert pick_frames(12, 1).tolist() == [6]
    assert pick_frames(2, 3).tolist() == [0, 1]


def test_merge_readings_by_hand():
    box, other = (0.1, 0.4, 0.9, 0.6), (0.7, 0.0, 0.95, 0.1)
    f0 = [ScreenLine("Peach Project presen", 0.0, 0.0, 0.90, box)]
    f1 = [ScreenLine("Peach Project presents", 1.0, 1.0, 0.99, box), ScreenLine("OPEN", 1.0, 1.0, 0.8, other)]
    f2 = [ScreenLine("open", 2.0, 2.0, 0.95, (0.0, 0.0, 0.1, 0.1))]  # same text elsewhere: still one line
    f3 = []
    f4 = [ScreenLine("Peach Project presents", 4.0, 4.0, 0.99, box)]  # after a gap: a new sighting
    merged = merge_readings([f0, f1, f2, f3, f4])
    assert [(ln.text, ln.start_s, ln.end_s, ln.score) for ln in merged] == [
        ("Peach Project presents", 0.0, 1.0, 0.99),
        ("open", 1.0, 2.0, 0.95),
        ("Peach Project presents", 4.0, 4.0, 0.99),
    ]
    # nearly the same text at another place is another line
    far = merge_readings(
        [[ScreenLine("Revenge is coming", 0, 0, 0.9, box)], [ScreenLine("Revenge is coming...", 1, 1, 0.9, other)]]
    )
    assert len(far) == 2


def test_config_validates():
    with pytest.raises(ValueError, match="frames_per_segment"):
        OcrConfig(frames_per_segment=0)
    with pytest.raises(ValueError, match="min_score"):
        OcrConfig(min_score=2)
    assert OcrConfig.from_dict(OcrConfig(threads=1).to_dict()) == OcrConfig(threads=1)
