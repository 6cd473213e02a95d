"""Prefill FLOPs: HoliTom's published LLaVA-OV-7B figures and the exact meta-tensor count."""

from __future__ import annotations

import pytest

from tempme.llm.flops import (
    LLAVA_OV_7B,
    exact_flops,
    exact_layer_flops,
    formula_flops,
    holitom_published_settings,
    qwen2_config,
    schedule,
)

D, M = LLAVA_OV_7B["hidden_size"], LLAVA_OV_7B["intermediate_size"]


@pytest.mark.parametrize("setting", ["full", "25%", "25% + inner merge", "10% + inner merge"])
def test_formula_reproduces_holitom_published_llava_ov_7b_tflops(setting):
    tokens, published = holitom_published_settings()[setting]
    assert round(formula_flops(tokens, D, M) / 1e12, 1) == published


def test_published_settings_token_counts():
    """docs/llm_reducers.md's table: 25 % of 6272 = 1568, 10 % = 627 (half up), the inner merge at
    layer 18 keeping 784 and 314."""
    settings = holitom_published_settings()
    assert settings["full"][0] == [6272] * 28
    assert settings["25%"][0] == [1568] * 28
    assert settings["25% + inner merge"][0] == [1568] * 18 + [784] * 10
    assert settings["10% + inner merge"][0] == [627] * 18 + [314] * 10


def test_schedule_conventions():
    assert schedule(6272, 28) == [6272] * 28
    assert schedule(627, 28, 18, 0.5) == [627] * 18 + [314] * 10  # 313.5 rounds half up
    # without the inner merge 10 % would be 3.4 TFLOPs, not the published 2.8
    assert round(formula_flops(schedule(627, 28), D, M) / 1e12, 1) == 3.4
    # a typical 20-token prompt moves the full figure off the published 40.8
    assert round(formula_flops(schedule(6272, 28, fixed=20), D, M) / 1e12, 1) == 40.9
    # the fixed tokens count in every layer; the inner merge needs both its layer and its share;
    # it keeps at least one visual token
    assert schedule(10, 4, 2, 0.25, fixed=3) == [13, 13, 6, 6]  # 2.5 -> 3 visual tokens
    assert schedule(10, 4, inner_layer=2) == [10] * 4 and schedule(10, 4, inner_keep=0.5) == [10] * 4
    assert schedule(3, 3, 1, 0.1) == [3, 1, 1]


def test_formula_layer_by_hand():
    """4 n d^2 + 2 n^2 d + 2 n d m with n = 2, d = 3, m = 5: 72 + 24 + 60 = 156 per layer."""
    from tempme.llm.flops import formula_layer_flops

    assert formula_layer_flops(2, 3, 5) == 156.0
    assert formula_flops([2, 2, 1], 3, 5) == 156.0 * 2 + (36 + 6 + 30)


def _analytic_layer_flops(n: int, d: int, m: int, heads: int, kv_heads: int) -> int:
    """2 x MACs of a Qwen2 layer: q/o (d x d), k/v (d x kv*hd), QK^T and AV, SwiGLU (3 matrices)."""
    hd = d // heads
    proj = n * d * (2 * d + 2 * kv_heads * hd)
    attn = 2 * n * n * d
    mlp = 3 * n * d * m
    return 2 * (proj + attn + mlp)


@pytest.mark.parametrize("n", [1, 100, 627])
def test_exact_count_matches_the_analytic_qwen2_7b_layer(n):
    cfg = qwen2_config()
    assert exact_layer_flops(cfg, n) == _analytic_layer_flops(n, D, M, 28, 4)


def test_exact_total_sums_the_layers_and_checks_depth():
    cfg = qwen2_config(
        num_hidden_layers=3, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2
    )
    tokens = [10, 10, 4]
    assert exact_flops(cfg, tokens) == 2 * exact_layer_flops(cfg, 10) + exact_layer_flops(cfg, 4)
    assert exact_layer_flops(cfg, 10) == _analytic_layer_flops(10, 64, 128, 4, 2)
    with pytest.raises(ValueError, match="2 layer counts for a 3-layer model"):
        exact_flops(cfg, [1, 2])
