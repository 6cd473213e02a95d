"""Torch datasets over MSR-VTT pairs: decoded, (augmented,) CLIP-preprocessed clips.

``resolve_videos`` checks every video of a split before any training starts: a missing or
unreadable file stops the run with a count and the first few names, unless ``skip_missing``, in
which case those videos (and their pairs) are dropped and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tempme.train.frames import ClipRandAugment, load_clip
from tempme.train.msrvtt import MissingVideosError, Pair, find_video
from torch.utils.data import Dataset
from tqdm import tqdm

from tempme.video import VideoDecodeError, probe

logger = logging.getLogger(__name__)

Preprocess = Callable[[np.ndarray], torch.Tensor]
"""(T, H, W, 3) uint8 -> (T, 3, S, S) float, e.g. ``VideoEncoder.preprocess_frames``."""


def resolve_videos(
    video_dir: Path, video_ids: Sequence[str], skip_missing: bool = False, progress: bool = False
) -> tuple[dict[str, Path], dict[str, str]]:
    """Find and probe every video; returns ``(paths, problems)``.

    ``paths`` maps each readable video id to its file; ``problems`` maps the others to the reason.
    Raises MissingVideosError (count + first names) when any is missing or unreadable and
    ``skip_missing`` is False.
    """
    paths: dict[str, Path] = {}
    problems: dict[str, str] = {}
    for vid in tqdm(list(dict.fromkeys(video_ids)), desc=f"checking videos in {video_dir}", disable=not progress):
        path = find_video(video_dir, vid)
        if path is None:
            problems[vid] = "missing (no .mp4 or .webm)"
            continue
        try:
            meta = probe(path)
        except VideoDecodeError as e:
            problems[vid] = f"unreadable ({e.reason})"
            continue
        if meta.duration_s <= 0:
            problems[vid] = f"unreadable (duration {meta.duration_s} s)"
            continue
        paths[vid] = path
    if problems and not skip_missing:
        raise MissingVideosError(problems, total=len(paths) + len(problems))
    if problems:
        logger.warning(
            "skipping %d of %d videos that are missing or unreadable (first: %s)",
            len(problems),
            len(paths) + len(problems),
            ", ".join(list(problems)[:5]),
        )
    return paths, problems


class ClipDataset(Dataset):
    """Clips of pairs: item i is ``(clip (T, 3, S, S) float, caption str)`` of ``pairs[i]``.

    Args:
        pairs: (video, caption) pairs; several may share a video.
        paths: video id -> file (from :func:`resolve_videos`); pairs whose video is absent raise KeyError.
        preprocess: CLIP preprocessing (the encoder's, so training sees what indexing sees).
        num_frames: T.
        short_side: decode straight to this shorter side (the encoder's image size).
        augment: clip-consistent RandAugment applied before preprocessing, or None.
        seed: base seed of the augmentation; item i in epoch e always gets the same draw, so a
            resumed run sees the same data as an uninterrupted one, whatever the worker count.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        paths: dict[str, Path],
        preprocess: Preprocess,
        num_frames: int,
        short_side: int | None = None,
        augment: ClipRandAugment | None = None,
        seed: int = 0,
    ):
        missing = sorted({p.video_id for p in pairs} - set(paths))
        if missing:
            raise KeyError(f"{len(missing)} videos of these pairs have no file (first: {missing[:5]})")
        self.pairs = list(pairs)
        self.paths = paths
        self.preprocess = preprocess
        self.num_frames = num_frames
        self.short_side = short_side
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self._cache: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def preload(self, progress: bool = False) -> None:
        """Decode every video once and keep the uint8 frames in memory (small datasets only)."""
        self._cache = {} if self._cache is None else self._cache
        for vid in tqdm(list(dict.fromkeys(p.video_id for p in self.pairs)), desc="decoding", disable=not progress):
            self._frames(vid)

    def _frames(self, vid: str) -> np.ndarray:
        if self._cache is not None and vid in self._cache:
            return self._cache[vid]
        frames = load_clip(self.paths[vid], self.num_frames, short_side=self.short_side)  # (T, H, W, 3)
        if self._cache is not None:
            self._cache[vid] = frames
        return frames

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        pair = self.pairs[i]
        frames = self._frames(pair.video_id)  # (T, H, W, 3) uint8
        if self.augment is not None:
            seed = int(np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(1)[0])
            frames = self.augment(frames, seed=seed)
        return self.preprocess(frames), pair.caption  # (T, 3, S, S)


def collate(batch: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, list[str]]:
    """-> ``(clips (B, T, 3, S, S), captions [B])``."""
    clips, captions = zip(*batch)
    return torch.stack(clips), list(captions)
