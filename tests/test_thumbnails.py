"""Thumbnails show the moment: never a near-black or flat frame when the segment has a real one."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from tempme.index.catalog import Catalog, NewVideo, db
from tempme.index.media import is_blank, luma_stats, pick_frame, thumbnail

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()


def test_luma_stats_hand_computed():
    grey = np.full((4, 4, 3), 100, np.uint8)
    assert luma_stats(grey) == pytest.approx((100.0, 0.0), abs=1e-3)
    half = np.zeros((2, 2, 3), np.uint8)
    half[0] = 255  # luma 255 and 0: mean 127.5, std 127.5
    assert luma_stats(half) == pytest.approx((127.5, 127.5), abs=1e-2)
    assert is_blank(np.zeros((8, 8, 3), np.uint8)) and is_blank(grey) and not is_blank(half)
    assert pick_frame([np.zeros((2, 2, 3), np.uint8), grey, half]) == 2
    assert (
        pick_frame([np.zeros((2, 2, 3), np.uint8), grey]) == 0
    )  # all blank: the one with most spread (a tie: the first)


def _fade_in_video(path: Path, seconds: int = 4, fps: int = 10) -> None:
    """Black for the first half, then a checkerboard (what a fade-in or a title card does to a
    thumbnail taken at the start)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=fps)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * fps):
            img = np.zeros((48, 64, 3), np.uint8)
            if i >= seconds * fps // 2:
                img[:] = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


def test_thumbnail_skips_the_black_start(tmp_path):
    from PIL import Image

    video = tmp_path / "fade.mp4"
    _fade_in_video(video)
    cat = Catalog(db.sqlite_url(tmp_path))
    # one segment 0-2.5 s: its start and its middle are black, 75 % and 90 % are not
    st = video.stat()
    [seg] = cat.add_video(
        NewVideo(
            path=video,
            content_hash="x",
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            duration_s=4.0,
            fps=10.0,
            width=64,
            height=48,
            codec="mpeg4",
            spans=[(0.0, 2.5, "shot")],
            embeddings=np.ones((1, 4), np.float32) / 2,
        )
    )
    row = cat.segment_row(int(seg))
    out = thumbnail(tmp_path / "thumbs", b"k" * 32, row.segment_id, row.path, row.start_s, row.end_s)
    frame = np.asarray(Image.open(out).convert("RGB"))
    assert not is_blank(frame), luma_stats(frame)


def test_an_index_time_thumbnail_picks_as_the_on_demand_one_from_frames_already_decoded():
    """Hand-built segment 10-20 s sampled at 12 uniform times: the frames nearest 50 % and 25 %
    are black, the one nearest 75 % is a pattern, so the pattern is kept; scaled to 320 px."""
    from io import BytesIO

    from PIL import Image
    from tempme.index.media import thumbnail_jpeg

    times = 10.0 + (np.arange(12) + 0.5) * (10.0 / 12)  # (T,) uniform sample times
    frames = np.zeros((12, 360, 640, 3), np.uint8)  # (T, H, W, 3)
    pattern = (np.indices((360, 640)).sum(0) % 64 * 4).astype(np.uint8)
    late = times >= 16.5  # the frames nearest 75 % and 90 % (17.5 s, 19.0 s), not 50 % / 25 % / 10 %
    frames[late] = pattern[..., None]
    picture = np.asarray(Image.open(BytesIO(thumbnail_jpeg(frames, times, 10.0, 20.0))).convert("RGB"))
    assert picture.shape == (180, 320, 3)  # longer side 320, aspect kept
    assert not is_blank(picture) and luma_stats(picture)[1] > 20
    small = np.asarray(Image.open(BytesIO(thumbnail_jpeg(frames[:, :64, :113], times, 10.0, 20.0))))
    assert small.shape == (64, 113, 3)  # never scaled up
    frames[:] = 0  # every frame blank: the one with the most spread (the first, a tie)
    assert is_blank(np.asarray(Image.open(BytesIO(thumbnail_jpeg(frames, times, 10.0, 20.0)))))
