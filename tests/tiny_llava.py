"""Test helper (not shipped in the wheel): a tiny random-config LLaVA-OneVision (SigLIP vision tower +
Qwen2 LM) for tests and bench/ (which puts tests/ on sys.path).

No weights are downloaded: the model is built from configs and randomly initialised (seeded).
With the defaults, a 32x32 frame gives 8x8 patches, pooled 2x2 by LLaVA-OV to a 4x4 grid of 16
tokens per frame; the whole model has about 0.2 M parameters.
"""

from __future__ import annotations

import torch

VIDEO_TOKEN_ID = 121
IMAGE_TOKEN_ID = 120


def tiny_llava_onevision(
    seed: int = 0,
    image_size: int = 32,
    patch_size: int = 4,
    layers: int = 4,
    hidden: int = 64,
    vocab: int = 128,
    attn: str = "eager",
):
    """A ``LlavaOnevisionForConditionalGeneration`` in eval mode with random weights.

    Args:
        seed: torch seed for the initialisation.
        image_size, patch_size: vision geometry (tokens per frame = ceil(image_size / patch_size / 2) ** 2).
        layers, hidden: Qwen2 depth and width (4 heads, 2 key/value heads, MLP 2 x hidden).
        vocab: vocabulary size (the video placeholder id is 121, the image one 120).
        attn: "eager" or "sdpa" for both towers.
    """
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    vision = SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        vision_use_head=False,
    )
    text = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        eos_token_id=0,
    )
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN_ID,
        video_token_index=VIDEO_TOKEN_ID,
        vision_feature_layer=-1,
    )
    config._attn_implementation = attn
    torch.manual_seed(seed)
    return LlavaOnevisionForConditionalGeneration(config).eval()


def tiny_prompt(frames: int, tokens_per_frame: int, prefix: int = 5, suffix: int = 6, batch: int = 1, seed: int = 0):
    """(B, L) input ids: ``prefix`` random text ids, the video placeholders (T * N + 1), ``suffix`` text ids."""
    gen = torch.Generator().manual_seed(seed)
    pre = torch.randint(1, 100, (batch, prefix), generator=gen)
    suf = torch.randint(1, 100, (batch, suffix), generator=gen)
    vid = torch.full((batch, frames * tokens_per_frame + 1), VIDEO_TOKEN_ID)
    return torch.cat([pre, vid, suf], dim=1)
