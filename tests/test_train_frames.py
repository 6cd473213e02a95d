"""Frame sampling (1 fps then 12 uniformly) and clip-consistent RandAugment."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from tempme.train.frames import ClipRandAugment, frame_times, load_clip

from tempme.video import VideoDecodeError, probe, sample_frames

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link


def test_long_video_takes_12_of_the_1fps_frames_uniformly():
    t = frame_times(30.0, 12)
    one_fps = np.arange(30) + 0.5
    assert t.shape == (12,)
    assert set(t.tolist()) <= set(one_fps.tolist())
    assert t[0] == 0.5 and t[-1] == 29.5
    gaps = np.diff(t)
    assert gaps.min() >= 2.0 and gaps.max() <= 3.0  # 29 s over 11 gaps


def test_short_video_repeats_frames_in_order():
    t = frame_times(5.0, 12)
    assert t.shape == (12,)
    assert sorted(set(t.tolist())) == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert np.all(np.diff(t) >= 0)
    assert frame_times(0.3, 12).tolist() == [0.15] * 12


def test_frame_picking_equals_the_reference_loader_hand_computed():
    # TempMe's _get_rawvideo_dec: 10 s at 30 fps = 300 frames; every 30th gives only 10 (< 12),
    # so the 12 frames are floor(linspace(0, 299, 12))
    pos = np.array([0, 27, 54, 81, 108, 135, 163, 190, 217, 244, 271, 299])
    np.testing.assert_allclose(frame_times(10.0, 12, video_fps=30.0), (pos + 0.5) / 30)
    # 20 s at 25 fps: every 25th frame gives 20; keep floor(linspace(0, 19, 12)) of them
    keep = np.array([0, 1, 3, 5, 6, 8, 10, 12, 13, 15, 17, 19])
    np.testing.assert_allclose(frame_times(20.0, 12, video_fps=25.0), (keep * 25 + 0.5) / 25)
    # exactly 12 one-per-second frames: all of them
    np.testing.assert_allclose(frame_times(12.0, 12, video_fps=24.0), (np.arange(12) * 24 + 0.5) / 24)


def test_bad_arguments():
    with pytest.raises(ValueError, match="duration_s=0"):
        frame_times(0.0)
    with pytest.raises(ValueError, match="num_frames=0"):
        frame_times(3.0, 0)


def test_load_clip_matches_per_timestamp_decoding():
    path = VIDEOS / "opencv-doc__cup.mp4"
    clip = load_clip(path, 12)
    meta = probe(path)
    times = frame_times(meta.duration_s, 12, video_fps=meta.fps)
    ref = sample_frames(path, times)
    assert clip.shape == ref.shape and clip.shape[0] == 12 and clip.dtype == np.uint8
    assert np.array_equal(clip, ref)


def test_load_clip_unreadable(tmp_path):
    bad = tmp_path / "video1.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoDecodeError):
        load_clip(bad)


def test_randaugment_is_the_same_on_every_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    clip = np.stack([frame] * 5)
    aug = ClipRandAugment("rand-m9-n3-mstd0.5", seed=1)
    changed = 0
    for _ in range(8):
        out = aug(clip)
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], out[i]) for i in range(1, 5))
        changed += not np.array_equal(out[0], frame)
    assert changed >= 4  # it does augment
    # identical frames get identical ops; distinct frames get the same ops as when alone
    other = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    a, b = ClipRandAugment("rand-m9-n3", seed=7), ClipRandAugment("rand-m9-n3", seed=7)
    pair = a(np.stack([frame, other]))
    assert np.array_equal(pair[1], b(np.stack([other, frame]))[0])


def test_randaugment_leaves_global_rngs_alone():
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    ClipRandAugment(seed=0)(np.zeros((2, 32, 32, 3), np.uint8))
    assert (random.random(), np.random.rand()) == expected
    with pytest.raises(ValueError, match="uint8"):
        ClipRandAugment()(np.zeros((2, 32, 32, 3), np.float32))
