"""Frames for training and evaluation: 1 fps then T uniformly, and clip-consistent RandAugment.

Sampling follows the MSR-VTT protocol of CLIP4Clip / TempMe's loader: take one frame per second, then
pick ``num_frames`` (12) of them uniformly (indices floored); a video shorter than ``num_frames``
seconds takes ``num_frames`` frames spread over all of its frames. Only the chosen frames are decoded (``tempme.video.sample_frames`` by timestamp).

Augmentation is timm's RandAugment (``rand_augment_transform``), made clip-consistent: every frame
of a clip gets the same ops with the same magnitudes, signs and probabilities, so the clip stays a
coherent video (TempMe, Sec. 4.1, "clip-consistent RandAugment").
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from tempme.video import probe, sample_frames, uniform_times

DEFAULT_RANDAUG = "rand-m7-n4-mstd0.5-inc1"
"""timm RandAugment config string: magnitude 7, 4 ops, magnitude std 0.5, increasing-severity ops."""


def frame_times(
    duration_s: float, num_frames: int = 12, fps: float = 1.0, video_fps: float | None = None
) -> np.ndarray:
    """Timestamps (seconds) of the ``num_frames`` frames to decode: ``fps`` per second, then uniformly.

    With the video's frame rate ``video_fps`` this picks the frames the TempMe / CLIP4Clip loader
    picks (``_get_rawvideo_dec`` of LunarShen/TempMe, decord frame indices): of the
    ``n = round(duration_s * video_fps)`` frames take every ``round(video_fps / fps)``-th from
    frame 0; if more than ``num_frames`` remain, keep those at ``floor(linspace(0, len - 1,
    num_frames))``; if fewer, take frames ``floor(linspace(0, n - 1, num_frames))`` instead.
    Frame ``i`` is asked for at ``(i + 0.5) / video_fps``, the middle of its display time.

    Without ``video_fps`` (unknown rate) the samples are the centres of one-second bins, picked at
    ``floor(linspace(0, n - 1, num_frames))`` the same way.

    Returns (T,) float64, non-decreasing. Raises ValueError for a non-positive duration or
    ``num_frames < 1``.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s={duration_s} must be > 0")
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames} must be >= 1")
    if video_fps and video_fps > 0:
        n = max(1, int(round(duration_s * video_fps)))
        stride = max(1, int(round(video_fps / fps)))
        every = np.arange(0, n, stride)  # frame indices, one per 1/fps seconds
        if len(every) > num_frames:
            pos = every[np.linspace(0, len(every) - 1, num_frames).astype(np.int64)]  # floor
        elif len(every) == num_frames:
            pos = every
        else:
            pos = np.linspace(0, n - 1, num_frames).astype(np.int64)
        return (pos + 0.5) / video_fps
    n = max(1, int(round(duration_s * fps)))
    one_fps = uniform_times(0.0, duration_s, n)  # (n,) centres of one-second bins
    idx = np.linspace(0, n - 1, num_frames).astype(np.int64)  # floor, as the reference
    return one_fps[idx]


def load_clip(path: Path, num_frames: int = 12, short_side: int | None = None) -> np.ndarray:
    """Decode the ``num_frames`` protocol frames of one video: (T, H, W, 3) uint8.

    ``short_side`` scales frames while decoding (CLIP preprocessing resizes the shorter side to the
    image size anyway). Repeated timestamps are decoded once. Raises
    tempme.video.VideoDecodeError for unreadable files.
    """
    meta = probe(path)
    times = frame_times(meta.duration_s, num_frames, video_fps=meta.fps)
    unique, inverse = np.unique(times, return_inverse=True)
    frames = sample_frames(path, unique, short_side=short_side)  # (U, H, W, 3)
    return frames[inverse]  # (T, H, W, 3)


@contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed Python's and NumPy's global RNGs (which timm's RandAugment draws from), then restore them."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class ClipRandAugment:
    """timm RandAugment applied identically to every frame of a clip.

    Each call draws one seed from its own ``random.Random`` and replays timm's random draws (op
    choice, apply-probability, magnitude noise, sign, interpolation) from that seed for every frame,
    so all frames get the same ops with the same parameters. The global RNG states are restored.

    Args:
        config: timm config string, e.g. ``"rand-m7-n4-mstd0.5-inc1"``.
        fill: RGB fill (0..255) for geometric ops (the CLIP mean is a good choice).
        seed: seed of this augmenter's own RNG (per DataLoader worker, pass a worker-specific one).
    """

    def __init__(self, config: str = DEFAULT_RANDAUG, fill: tuple[int, int, int] = (122, 116, 104), seed: int = 0):
        from timm.data.auto_augment import rand_augment_transform

        self.config = config
        self.transform = rand_augment_transform(config, {"img_mean": tuple(int(c) for c in fill)})
        self.rng = random.Random(seed)

    def __call__(self, frames: np.ndarray, seed: int | None = None) -> np.ndarray:
        """(T, H, W, 3) uint8 -> (T, H, W, 3) uint8, the same augmentation on every frame.

        ``seed`` fixes the draw (default: the next draw of this augmenter's own RNG).
        """
        from PIL import Image

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
        seed = self.rng.getrandbits(63) if seed is None else int(seed)
        out = []
        for frame in frames:
            with _seeded_global_rngs(seed):
                out.append(np.asarray(self.transform(Image.fromarray(frame)), dtype=np.uint8))
        return np.stack(out)  # (T, H, W, 3)

    def __repr__(self) -> str:
        return f"ClipRandAugment({self.config!r})"
