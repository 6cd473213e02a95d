"""Evaluation: embed a split's videos and captions, then the 1k-A retrieval metrics.

The split is one caption per video in row order (the JSFUSION 1k-A test file, or the first
caption of each validation video), so ``sim[i, j] = text_i . video_j`` has its ground truth on
the diagonal.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch
from tempme.train.data import ClipDataset, collate
from tempme.train.metrics import RetrievalMetrics, retrieval_metrics
from tempme.train.msrvtt import Pair
from torch.utils.data import DataLoader
from tqdm import tqdm

from tempme.config import TempMeConfig
from tempme.encoder import VideoEncoder

logger = logging.getLogger(__name__)


def zero_shot_config(arch: str) -> TempMeConfig:
    """Plain CLIP for ``arch``: per-frame ``encode_image``, no merging, no LoRA, no temporal
    embeddings; the video embedding is the mean of the L2-normalised frame embeddings,
    L2-normalised (the mean-pooling zero-shot baseline of CLIP4Clip / TempMe)."""
    return TempMeConfig.preset(arch, merging=False, lora_rank=0, temporal_embed=False)


def one_caption_per_video(pairs: Sequence[Pair]) -> list[Pair]:
    """The first pair of each video, in first-seen order (validation in the 1k-A layout)."""
    seen: dict[str, Pair] = {}
    for p in pairs:
        seen.setdefault(p.video_id, p)
    return list(seen.values())


def make_eval_dataset(enc: VideoEncoder, pairs: Sequence[Pair], paths: dict[str, Path]) -> ClipDataset:
    """A dataset of ``pairs`` (no augmentation) with the encoder's preprocessing.

    Raises ValueError when two pairs share a video (the metrics assume one caption per video).
    """
    videos = [p.video_id for p in pairs]
    if len(set(videos)) != len(videos):
        raise ValueError(f"{len(videos) - len(set(videos))} pairs repeat a video; pass one caption per video")
    return ClipDataset(pairs, paths, enc.preprocess_frames, enc.num_frames, short_side=enc.image_size)


def embed(
    enc: VideoEncoder, dataset: ClipDataset, batch_size: int = 32, num_workers: int = 0, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed every (video, caption) of ``dataset``: returns ``(videos (N, D), texts (N, D))``, float32 CPU."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
    videos, texts = [], []
    was_training = enc.training
    enc.eval()
    try:
        with enc.inference():
            for clips, captions in tqdm(loader, desc="embedding", disable=not progress, leave=False):
                videos.append(enc.encode_video(clips).float().cpu())  # (B, D)
                texts.append(enc.encode_text(captions).float().cpu())  # (B, D)
    finally:
        enc.train(was_training)
    return torch.cat(videos), torch.cat(texts)


def evaluate(
    enc: VideoEncoder, dataset: ClipDataset, batch_size: int = 32, num_workers: int = 0, progress: bool = False
) -> tuple[dict[str, RetrievalMetrics], torch.Tensor]:
    """Text-to-video and video-to-text metrics; returns ``(metrics, sim (Q, Q) text x video)``."""
    v, t = embed(enc, dataset, batch_size, num_workers, progress)
    sim = t @ v.T  # (Q, D) @ (D, Q) -> (Q, Q)
    return retrieval_metrics(sim), sim
