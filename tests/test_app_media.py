"""Browser-playable remux of AVI / MKV library videos: same frames, same duration."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from tempme.app.media import needs_remux, playable_file

from tempme.video import probe

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link


def _frames(path: Path, every: int = 7) -> list[np.ndarray]:
    """Every `every`-th decoded picture, downscaled to 96 px wide (uint8 RGB)."""
    with av.open(str(path)) as c:
        return [
            f.to_ndarray(format="rgb24", width=96, height=54) for i, f in enumerate(c.decode(video=0)) if i % every == 0
        ]


def test_mp4_and_webm_served_as_is(tmp_path):
    for name in ("mmaction2__demo.mp4", "moviepy__big_buck_bunny_0_30.webm"):
        assert playable_file(VIDEOS / name, tmp_path) == VIDEOS / name
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["mmaction2__S001C001P001R001A001_rgb.avi", "decord__flipping_a_pancake.mkv"])
def test_remux_keeps_frames(tmp_path, name):
    src = VIDEOS / name
    assert needs_remux(src)
    out = playable_file(src, tmp_path)
    assert out.suffix == ".mp4" and out.parent == tmp_path
    a, b = probe(src), probe(out)
    assert (b.width, b.height, b.codec) == (a.width, a.height, a.codec)
    assert b.duration_s == pytest.approx(a.duration_s, abs=0.1)
    # Packets are copied, not re-encoded: the decoded picture sequence is identical.
    fa, fb = _frames(src), _frames(out)
    assert len(fa) == len(fb) > 10
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x, y)
    assert playable_file(src, tmp_path) == out  # cached: made once


def test_unreadable_falls_back(tmp_path):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"RIFF" + b"\0" * 100)
    assert playable_file(bad, tmp_path / "cache") == bad
