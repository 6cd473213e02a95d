"""The TempMe encoder against the independent plain forward of ``tests/reference_forward.py``.

Merging on, random non-zero LoRA and clip-temporal embeddings, batch 2, on tempme-tiny and on the
full-size ViT-B/32 and ViT-B/16 architectures (random weights: no weights can be downloaded
here), before and after folding LoRA. Per-frame features and video embeddings agree to 1e-5.
"""

from __future__ import annotations

import logging

import pytest
import torch
from reference_forward import Schedule, reference_encode

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder

logging.getLogger("tempme").setLevel(logging.ERROR)


def _encoder(arch: str, **overrides):
    enc = load_encoder(arch, "none", device="cpu", config=TempMeConfig.preset(arch, **overrides))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # LoRA A/B and temporal embeddings large enough to move every token
        for name, p in enc.model.named_parameters():
            if "tempme_temporal" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif ".lora_A." in name or ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return enc


def _schedule(config: TempMeConfig) -> Schedule:
    return Schedule(
        tome_r=config.imgme_r,
        clip_groups=config.clip_groups,
        cross_keep=config.cross_keep,
        intra_keep=config.intra_keep,
        prop_attn=config.prop_attn,
        merging=config.merging,
    )


def _compare(enc, frames, reference=None, video: bool = True) -> tuple[float, float | None]:
    """Max |encoder - reference| of the per-frame features and (if ``video``) the video embedding."""
    ref_frames, ref_video = reference or reference_encode(enc.model, frames, _schedule(enc.config))
    with torch.inference_mode():
        got_frames = enc.encode_frames(frames).double()
        got_video = enc.encode_video(frames).double() if video else None
    video_diff = float((got_video - ref_video).abs().max()) if video else None
    return float((got_frames - ref_frames).abs().max()), video_diff


def _frames(enc, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    S = enc.image_size
    return torch.randn(batch, enc.num_frames, 3, S, S, generator=g)


def _check(enc, frames):
    # the reference reads W + B A from the unfolded model; folding must not change the answer
    reference = reference_encode(enc.model, frames, _schedule(enc.config))
    frame_diff, video_diff = _compare(enc, frames, reference)
    print(f"{enc.config.arch}: max per-frame difference {frame_diff:.2e}, video {video_diff:.2e}")
    assert frame_diff < 1e-5 and video_diff < 1e-5
    enc.fold_lora()
    frame_diff, _ = _compare(enc, frames, reference, video=False)
    print(f"{enc.config.arch} (LoRA folded): max per-frame difference {frame_diff:.2e}")
    assert frame_diff < 1e-5


def test_tiny_equals_reference_forward():
    enc = _encoder("tempme-tiny")
    _check(enc, _frames(enc, batch=3))


@pytest.mark.parametrize(
    "overrides",
    [dict(prop_attn=False), dict(imgme_r=2, cross_keep=0.8, intra_keep=0.8), dict(imgme_r=0)],
    ids=["no-prop-attn", "other-ratios", "clipme-first-merge"],
)
def test_tiny_variants_equal_reference_forward(overrides):
    enc = _encoder("tempme-tiny", **overrides)
    frame_diff, video_diff = _compare(enc, _frames(enc, seed=1))
    assert frame_diff < 1e-5 and video_diff < 1e-5


def test_tiny_with_attention_biases_equals_reference_forward():
    """open_clip initialises the attention biases to zero; with random ones the encoder still equals
    the reference (the fused QKV bias and the output projection's bias are used)."""
    enc = _encoder("tempme-tiny")
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for name, p in enc.model.visual.named_parameters():
            if name.endswith(("in_proj_bias", "out_proj.bias")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    frame_diff, video_diff = _compare(enc, _frames(enc, seed=2))
    assert frame_diff < 1e-5 and video_diff < 1e-5


def test_provenance_stages_follow_the_plan():
    """One stage per planned merge step, named for it: imgme, clipme-cross, clipme-intra, last."""
    enc = _encoder("tempme-tiny")
    with torch.inference_mode():
        _, traces = enc.model.visual.forward_video_traced(_frames(enc, batch=1))
    steps = [(st.layer, st.step, st.sequences, st.tokens) for st in traces[0].stages]
    expected = []
    for lp in enc.plan.layers:
        if lp.kind == "clipme":
            expected += [(lp.index, "clipme-cross", lp.seqs_out, lp.tokens_attn)]
            expected += [(lp.index, "clipme-intra", lp.seqs_out, lp.tokens_out)]
        else:
            expected += [(lp.index, lp.kind, lp.seqs_out, lp.tokens_out)]
    assert steps == expected
    assert [s for s in steps if s[1] == "clipme-cross"][0][2:] == (6, 21)  # tiny: 2 x 15 tokens -> 21


def test_reference_forward_sees_lora_and_temporal_embeddings():
    """The comparison can fail: zeroing the adapters moves the encoder away from the reference."""
    enc = _encoder("tempme-tiny")
    frames = _frames(enc)
    ref_frames, _ = reference_encode(enc.model, frames, _schedule(enc.config))
    with torch.no_grad():
        for name, p in enc.model.named_parameters():
            if "tempme_temporal" in name or ".lora_B." in name:
                p.zero_()
        got = enc.encode_frames(frames).double()
    assert float((got - ref_frames).abs().max()) > 1e-3


@pytest.mark.parametrize("arch", ["ViT-B-32", pytest.param("ViT-B-16", marks=pytest.mark.slow)])
def test_full_size_equals_reference_forward(arch):
    enc = _encoder(arch)
    _check(enc, _frames(enc, batch=2))
