"""The QA pipeline on a tiny random LLaVA-OneVision: exactness without reduction, reports, errors."""

from __future__ import annotations

import time

import pytest
import torch
from llm_reference import dropped_mask, last_token_attention, masked_forward

from tempme.llm.inner import FastV
from tempme.llm.outer import Budget, Identity, SideInputs
from tempme.llm.pipeline import VideoQAPipeline
from tempme.llm.registry import build_inner, build_outer

FRAMES, N = 6, 16  # 32x32 frames, 4x4 pooled grid


@pytest.fixture(scope="module")
def model():
    from tiny_llava import tiny_llava_onevision

    return tiny_llava_onevision()


@pytest.fixture(scope="module")
def inputs():
    from tiny_llava import tiny_prompt

    ids = tiny_prompt(FRAMES, N, batch=2)
    pixels = torch.randn(2, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return ids, pixels


def test_no_reduction_logits_equal_the_unmodified_model(model, inputs):
    ids, pixels = inputs
    with torch.no_grad():
        ref = model(input_ids=ids, pixel_values_videos=pixels).logits
        pipe = VideoQAPipeline(model)
        out = pipe.prefill_logits(pipe.prepare(ids, pixels))
    assert torch.equal(out, ref)


def test_outer_reduction_feeds_the_reduced_tokens(model, inputs):
    ids, pixels = inputs
    pipe = VideoQAPipeline(model, build_outer("uniform"), Budget(retain=0.25))
    with torch.no_grad():
        prep = pipe.prepare(ids, pixels)
    start = 5
    m = FRAMES * N // 4
    assert prep.visual_span == (start, m)
    assert prep.inputs_embeds.shape[1] == ids.shape[1] - FRAMES * N + m
    for b in range(2):
        torch.testing.assert_close(prep.inputs_embeds[b, start : start + m], prep.reductions[b].tokens)
        # the newline token follows the visual tokens, the text tokens are unchanged
        torch.testing.assert_close(prep.inputs_embeds[b, start + m], model.model.image_newline)
        torch.testing.assert_close(prep.inputs_embeds[b, -6:], model.get_input_embeddings()(ids[b, -6:]))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_vision_attention_saliency_equals_the_last_layers_attention(model, inputs, attn):
    """The saliency equals the vision tower's own last-layer attention (output_attentions=True,
    mean over heads and queries) pooled bilinearly to the token grid, under eager and SDPA."""
    ids, pixels = inputs
    vision = model.model.vision_tower
    with torch.no_grad():
        out = vision(pixels.flatten(0, 1), output_attentions=True)  # the reference: eager attention maps
        ref = out.attentions[-1].float().mean(1).mean(1).view(-1, 1, 8, 8)
        ref = torch.nn.functional.interpolate(ref, size=(4, 4), mode="bilinear").view(2, FRAMES, N)
        model.config.vision_config._attn_implementation = attn
        try:
            tokens, newline, sal = VideoQAPipeline(model, build_outer("holitom"))._features(pixels)
            _, _, none = VideoQAPipeline(model, build_outer("uniform"))._features(pixels)
        finally:
            model.config.vision_config._attn_implementation = "eager"
    assert tokens.shape[:3] == (2, FRAMES, N) and newline.shape[1] == 1
    torch.testing.assert_close(sal, ref, atol=1e-6, rtol=1e-5)
    assert none is None  # reducers that do not use saliency do not pay for it


def test_unpooled_features_are_the_models_tokens_before_its_pooling(model, inputs):
    """VQToken's input: pooling our un-pooled tokens with the model's own apply_pooling gives the
    tokens its get_video_features returns."""
    from tempme.llm.vision import unpooled_video_features

    ids, pixels = inputs
    with torch.no_grad():
        raw, grid = unpooled_video_features(model, pixels)
        pooled = model.model.apply_pooling(raw.flatten(0, 1)).reshape(2, FRAMES, N, -1)
        tokens, _, _ = VideoQAPipeline(model)._features(pixels)
    assert raw.shape[:3] == (2, FRAMES, 64) and grid == (8, 8)
    torch.testing.assert_close(pooled, tokens)
    # the budget stays relative to the pooled count: 25 % of 6 x 16 = 24 codes from 6 x 64 tokens
    prep = VideoQAPipeline(model, build_outer("vqtoken", fixed_k=True), Budget(retain=0.25)).prepare(ids, pixels)
    assert prep.visual_span[1] == 24 and prep.reductions[0].grid == (FRAMES, 8, 8)


def _paper_flops(tokens_per_layer, d, m):
    """FastV Sec. 4.3's prefill formula, written out: sum over layers of 4nd^2 + 2n^2d + 2ndm."""
    return sum(4 * n * d * d + 2 * n * n * d + 2 * n * d * m for n in tokens_per_layer)


@pytest.mark.parametrize("name", ["uniform", "tome", "holitom", "vqtoken", "bvllm-clip"])
def test_answer_and_report(model, inputs, name):
    ids, pixels = inputs
    inner = build_inner("holitom-inner" if name == "holitom" else "fastv", keep=0.5, layer=2)
    sides = [SideInputs(frame_scores=torch.arange(FRAMES, dtype=torch.float)) for _ in range(2)]
    outer = build_outer(name, fixed_k=True) if name == "vqtoken" else build_outer(name)
    pipe = VideoQAPipeline(model, outer, Budget(retain=0.25), inner)
    result = pipe.answer(ids, pixels, sides, max_new_tokens=3)
    r = result.report
    assert result.sequences.shape == (2, 3)
    # HoliTom: 6 frames without static positions keep ceil(16 * 0.25) = 4 each; its inner merge keeps
    # round(0.5 * 25) = 12 of its span, the 24 visual tokens + the newline token; FastV 12 of 24
    assert (r.visual_tokens_in, r.visual_tokens_out, r.visual_tokens_final) == (96, 24, 12)
    assert r.retained_pct == 25.0
    text = ids.shape[1] - FRAMES * N  # 11 text tokens + newline
    after = text + 12 - (1 if name == "holitom" else 0)  # the newline is among HoliTom's 12
    assert r.tokens_per_layer == [text + 24] * 2 + [after] * 2
    cfg = model.config.text_config
    assert (cfg.hidden_size, cfg.intermediate_size) == (64, 128)
    assert r.formula_tflops == pytest.approx(_paper_flops([text + 24] * 2 + [after] * 2, 64, 128) / 1e12)
    assert r.exact_tflops > 0 and r.ttft_seconds > 0 and r.reducer_seconds > 0


class _SlowIdentity(Identity):
    """No reduction, after ``delay`` seconds of work (a reducer whose cost the TTFT must include)."""

    def __init__(self, delay: float):
        self.delay = delay

    def reduce(self, tokens, grid, budget, side):
        time.sleep(self.delay)
        return super().reduce(tokens, grid, budget, side)


def test_ttft_moves_with_the_work_before_the_first_token(model, inputs):
    """TTFT runs from the pixel values to the first logits: 0.4 s more reducer work per video
    (two videos) adds at least 0.8 s to it, and the reducer seconds say so too."""
    ids, pixels = inputs
    fast = VideoQAPipeline(model).answer(ids, pixels, max_new_tokens=1).report
    slow = VideoQAPipeline(model, _SlowIdentity(0.4)).answer(ids, pixels, max_new_tokens=1).report
    assert 0 < fast.ttft_seconds < slow.ttft_seconds
    assert slow.reducer_seconds >= 0.8 and slow.ttft_seconds >= slow.reducer_seconds  # the work is inside TTFT
    # (no bound on slow - fast: on a loaded machine the fast run's own time varies by more than 0.8 s)


def test_inner_reduction_in_the_pipeline_equals_the_masked_model(model, inputs):
    """The pipeline's prefill with FastV at layer 1 equals the unmodified model on the same inputs
    with the tokens that layer 0's last-token attention ranks lowest masked out from layer 1 on."""
    ids, pixels = inputs
    pipe = VideoQAPipeline(model, inner=FastV(keep=0.5, layer=1))
    with torch.no_grad():
        prep = pipe.prepare(ids, pixels)
        logits = pipe.prefill_logits(prep)
        start, v = prep.visual_span
        attention = last_token_attention(model, prep.inputs_embeds, 0, (start, v))
        keep = torch.topk(attention, round(0.5 * v), dim=1).indices.sort(dim=1).values
        dropped = dropped_mask(keep, start, v, prep.inputs_embeds.shape[1])
        ref = masked_forward(model, prep.inputs_embeds, dropped, 1)
    assert (start, v) == (5, FRAMES * N)
    assert logits.shape[1] == ids.shape[1] - FRAMES * N // 2
    for b in range(2):
        torch.testing.assert_close(logits[b], ref[b][~dropped[b]], atol=1e-5, rtol=0)


def test_pipeline_errors(model, inputs):
    ids, pixels = inputs
    pipe = VideoQAPipeline(model)
    with pytest.raises(ValueError, match="the prompt has 97 video placeholders, the video gives 3x16\\+1 = 49"):
        pipe.prepare(ids, pixels[:, :3])
    with pytest.raises(ValueError, match="no video placeholder"):
        pipe.prepare(torch.ones_like(ids), pixels)
    with pytest.raises(ValueError, match="2 prompts for 1 videos"):
        pipe.prepare(ids, pixels[:1])
    pix = pixels.clone()
    pix[1] = pix[1, :1]  # a still video: HoliTom's temporal merge leaves it fewer tokens than a moving one
    holitom = VideoQAPipeline(model, build_outer("holitom"), Budget(retain=0.5))
    with torch.no_grad():
        tokens, _, sal = holitom._features(pix)
    sizes = [
        holitom.outer(tokens[b], holitom.grid, holitom.budget, SideInputs(saliency=sal[b])).num_tokens for b in range(2)
    ]
    assert sizes[0] > sizes[1]
    with pytest.raises(ValueError, match="different lengths"):
        holitom.prepare(ids, pix)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pipeline_on_cuda_bf16(inputs):
    from tiny_llava import tiny_llava_onevision

    ids, pixels = inputs
    gpu = tiny_llava_onevision().to("cuda", torch.bfloat16)
    for name in ["uniform", "tome", "holitom", "vqtoken", "bvllm-clip"]:
        sides = [SideInputs(frame_scores=torch.arange(FRAMES, dtype=torch.float)) for _ in range(2)]
        outer = build_outer(name, fixed_k=True) if name == "vqtoken" else build_outer(name)
        pipe = VideoQAPipeline(gpu, outer, Budget(retain=0.25), build_inner("holitom-inner", layer=2))
        result = pipe.answer(ids.cuda(), pixels.cuda().to(torch.bfloat16), sides, max_new_tokens=2)
        assert result.sequences.shape == (2, 2) and result.report.visual_tokens_out == 24
