"""From a video file and a question to model inputs, for `tempme qa`.

Weights load through transformers as usual (a local directory or a Hugging Face name, cached
by transformers). With a full LLaVA-OneVision processor in the model directory, its chat
template and video processor are used; a directory with only a tokenizer gets our fallback:
frames resized (shorter side) and centre-cropped to the vision tower's size, normalised with
the image processor's mean/std (SigLIP's 0.5/0.5 by default), and a plain chat prompt.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def load_model(name: str, device: str | None = None):
    """(model, processor or None, tokenizer) for ``name`` (a directory or a hub id).

    Both towers use SDPA attention: HoliTom's saliency is recomputed from the vision layer's own
    projections (:class:`tempme.llm.vision.SaliencyCapture`), so it needs no eager attention maps.
    """
    from transformers import AutoProcessor, AutoTokenizer, LlavaOnevisionForConditionalGeneration

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    from packaging.version import Version
    from transformers import __version__ as tf_version

    key = "dtype" if Version(tf_version) >= Version("4.56") else "torch_dtype"  # renamed in 4.56
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(name, attn_implementation="sdpa", **{key: dtype})
    model = model.to(device).eval()
    processor = None
    try:
        processor = AutoProcessor.from_pretrained(name)
        if not hasattr(processor, "video_processor"):
            processor = None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.info("no LLaVA-OneVision processor with %s (%s); using the tokenizer and our preprocessing", name, exc)
    tokenizer = processor.tokenizer if processor is not None else AutoTokenizer.from_pretrained(name)
    return model, processor, tokenizer


def read_frames(path: Path, frames: int) -> np.ndarray:
    """(T, H, W, 3) uint8: ``frames`` frames at the centres of equal bins over the whole video."""
    from tempme.video import probe, sample_frames, uniform_times

    meta = probe(path)
    return sample_frames(path, uniform_times(0.0, meta.duration_s, frames))


def preprocess(frames: np.ndarray, size: int, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (1, T, 3, S, S) float: shorter side to S, centre crop, normalise."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    x = torch.as_tensor(frames).permute(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W)
    x = TF.center_crop(TF.resize(x, [size], interpolation=InterpolationMode.BICUBIC, antialias=True), [size, size])
    x = TF.normalize(x.float() / 255.0, list(mean), list(std))
    return x[None]


def build_inputs(model, processor, tokenizer, frames: np.ndarray, question: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids (1, L), pixel_values_videos (1, T, 3, S, S)) with T * N + 1 video placeholders."""
    cfg = model.config
    if processor is not None:
        conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
        prompt = processor.apply_chat_template(conversation, add_generation_prompt=True)
        inputs = processor(text=prompt, videos=[frames], return_tensors="pt")
        return inputs["input_ids"], inputs["pixel_values_videos"]
    vcfg = cfg.vision_config
    pixels = preprocess(frames, vcfg.image_size)
    side = math.ceil(vcfg.image_size // vcfg.patch_size / 2)
    n_video = frames.shape[0] * side * side + 1
    before, after = "USER: ", f"\n{question} ASSISTANT:"
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "<<VIDEO>>\n" + question}], tokenize=False, add_generation_prompt=True
        )
        before, after = text.split("<<VIDEO>>", 1)
    ids_before = tokenizer(before, add_special_tokens=False)["input_ids"]
    ids_after = tokenizer(after, add_special_tokens=False)["input_ids"]
    ids = ids_before + [cfg.video_token_id] * n_video + ids_after
    return torch.tensor([ids]), pixels
