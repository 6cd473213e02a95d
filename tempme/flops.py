"""Counting the video encoder's cost in multiply-accumulates (MACs, the paper's "GFLOPs").

``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per MAC for matrix products. It
does not see ``nn.MultiheadAttention``'s fused inference fast path, so counting runs with grad
enabled (the slow path, which decomposes into counted matrix products) and with the math
backend of scaled dot-product attention; results are checked in
the tests against the analytic count of :meth:`tempme.plan.TokenPlan.macs`.
"""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from tempme.encoder import VideoEncoder


def video_encoder_macs(encoder: VideoEncoder, batch: int = 1) -> float:
    """MACs per video of ``encoder.encode_video`` (vision tower, merges, pooling).

    Runs one forward pass with grad enabled on random frames of shape (batch, T, 3, S, S).
    """
    S, T = encoder.image_size, encoder.num_frames
    frames = torch.randn(batch, T, 3, S, S, device=encoder.device)
    counter = FlopCounterMode(display=False)
    # The math SDPA backend decomposes into counted matrix products; the fused CPU kernel is
    # invisible to the counter.
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        encoder.encode_video(frames)
    return counter.get_total_flops() / 2 / batch


def analytic_video_macs(encoder: VideoEncoder) -> int:
    """Analytic MACs per video: patch embedding plus the planned transformer layers."""
    visual = encoder.model.visual
    width = visual.transformer.width
    gh, gw = visual.grid_size
    ph, pw = visual.patch_size
    patch = encoder.num_frames * gh * gw * 3 * ph * pw * width
    mlp_ratio = visual.transformer.resblocks[0].mlp.c_fc.out_features / width
    return patch + encoder.plan.macs(width, mlp_ratio)
