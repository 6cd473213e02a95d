"""Text-frame relevance from tempme's own CLIP towers (the frame selector of our B-VLLM adaptation).

The encoder is built without TempMe merging (``TempMeConfig(merging=False)``), so each frame's
embedding is plain per-frame CLIP and independent of its neighbours; frames are encoded in chunks
of the encoder's ``num_frames`` (the last chunk padded by repeating its last frame).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def load_frame_scorer(model: str = "ViT-B-32", pretrained: str = "openai", device: str | None = None):
    """A :class:`tempme.encoder.VideoEncoder` without merging, for :func:`clip_frame_scores`.

    Raises:
        tempme.weights.WeightsUnavailableError: CLIP weights cannot be obtained.
    """
    from tempme.config import TempMeConfig
    from tempme.encoder import load_encoder

    config = TempMeConfig.preset(model).replace(merging=False, lora_rank=0)
    return load_encoder(model=model, pretrained=pretrained, device=device, config=config)


def clip_frame_scores(encoder, frames: np.ndarray | Tensor, question: str) -> Tensor:
    """Cosine similarity between the question and every frame.

    Args:
        encoder: a :class:`tempme.encoder.VideoEncoder` (see :func:`load_frame_scorer`).
        frames: (T, H, W, 3) uint8 RGB frames.
        question: the text.

    Returns:
        (T,) float32 cosine similarities on the CPU.

    Raises:
        ValueError: frames not (T, H, W, 3) uint8, or an empty question.
    """
    if not question.strip():
        raise ValueError("B-VLLM frame selection needs a non-empty question")
    x = encoder.preprocess_frames(frames)  # (T, 3, S, S)
    t = x.shape[0]
    k = encoder.num_frames
    pad = (-t) % k
    if pad:
        x = torch.cat([x, x[-1:].expand(pad, *x.shape[1:])])  # repeat the last frame
    with torch.inference_mode():
        per_frame = encoder.encode_frames(x.view(-1, k, *x.shape[1:]))  # (T'/k, k, D)
        per_frame = per_frame.reshape(-1, per_frame.shape[-1])[:t].float()
        text = encoder.encode_text([question]).float()  # (1, D)
    return (torch.nn.functional.normalize(per_frame, dim=-1) @ text[0]).cpu()
