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
