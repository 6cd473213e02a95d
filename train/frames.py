"""Frames for training and evaluation: 1 fps then T uniformly, and clip-consistent RandAugment.

Sampling follows the MSR-VTT protocol of CLIP4Clip / TempMe: take one frame per second, then pick
``num_frames`` (12) of them uniformly; a video shorter than ``num_frames`` seconds repeats frames
in order. Only the chosen frames are decoded (``tempme.video.sample_frames`` by timestamp).

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


def frame_times(duration_s: float, num_frames: int = 12, fps: float = 1.0) -> np.ndarray:
    """Timestamps (seconds) of the ``num_frames`` frames to decode: 1 fps, then uniformly.

    The video is cut into ``max(1, round(duration_s * fps))`` one-second bins whose centres are the
    1 fps samples; ``num_frames`` of them are picked at ``round(linspace(0, n - 1, num_frames))``,
    which is uniform when ``n >= num_frames`` and repeats frames in order when shorter.

    Returns (T,) float64, non-decreasing. Raises ValueError for a non-positive duration or
    ``num_frames < 1``.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s={duration_s} must be > 0")
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames} must be >= 1")
    n = max(1, int(round(duration_s * fps)))
    one_fps = uniform_times(0.0, duration_s, n)  # (n,) centres of one-second bins
    idx = np.round(np.linspace(0, n - 1, num_frames)).astype(np.int64)
    return one_fps[idx]


def load_clip(path: Path, num_frames: int = 12, short_side: int | None = None) -> np.ndarray:
    """Decode the ``num_frames`` protocol frames of one video: (T, H, W, 3) uint8.

    ``short_side`` scales frames while decoding (CLIP preprocessing resizes the shorter side to the
    image size anyway). Repeated timestamps are decoded once. Raises
    tempme.video.VideoDecodeError for unreadable files.
    """
    times = frame_times(probe(path).duration_s, num_frames)
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
