"""Inner reducers on a tiny random LLaVA-OneVision: equivalence with masking, generate with a pruned cache."""

from __future__ import annotations

import inspect

import pytest
import torch
from llm_reference import dropped_mask, last_token_attention, layer_input, masked_forward, sequential_merge

from tempme.llm.hooks import attach_inner
from tempme.llm.inner import FastV, HoliTomInnerMerge

START, V, L = 5, 30, 42


@pytest.fixture(scope="module")
def model():
    from tiny_llava import tiny_llava_onevision

    return tiny_llava_onevision(layers=4)


def _reference(model, embeds, dropped, layer, replace=None):
    return masked_forward(model, embeds, dropped, layer, replace)


def _dropped(keep: torch.Tensor, total: int) -> torch.Tensor:
    return dropped_mask(keep, START, V, total)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_fastv_equals_the_model_with_those_tokens_masked(model, attn, layer):
    model.config.text_config._attn_implementation = attn
    try:
        embeds = torch.randn(2, L, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(layer))
        handle = attach_inner(model, FastV(keep=0.4, layer=layer))
        handle.visual_span = (START, V)
        with torch.no_grad():
            out = model(inputs_embeds=embeds).logits
            handle.detach()
            keep = handle.last_keep
            assert keep.shape == (2, 12)
            dropped = _dropped(keep, L)
            ref = _reference(model, embeds, dropped, layer)
        assert handle.tokens_per_layer == [L] * layer + [L - 18] * (4 - layer)
        for b in range(2):
            torch.testing.assert_close(out[b], ref[b][~dropped[b]], atol=1e-6, rtol=0)
    finally:
        model.config.text_config._attn_implementation = "eager"


def test_fastv_keeps_the_most_attended_tokens(model):
    """The scores FastV ranks are the last token's attention in layer K - 1, as eager attention returns it."""
    embeds = torch.randn(1, L, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = model(inputs_embeds=embeds, output_attentions=True)
        attn = out.attentions[1][0, :, -1, START : START + V].mean(0)  # layer K - 1 = 1
        handle = attach_inner(model, FastV(keep=0.5, layer=2))
        handle.visual_span = (START, V)
        model(inputs_embeds=embeds)
        handle.detach()
    expected = torch.topk(attn, 15).indices.sort().values
    assert torch.equal(handle.last_keep[0], expected)


def test_no_reduction_is_exact_and_detach_restores(model):
    embeds = torch.randn(1, L, model.config.text_config.hidden_size)
    with torch.no_grad():
        ref = model(inputs_embeds=embeds).logits
        handle = attach_inner(model, FastV(keep=1.0, layer=2))
        handle.visual_span = (START, V)
        same = model(inputs_embeds=embeds).logits
        handle.detach()
        after = model(inputs_embeds=embeds).logits
    assert torch.equal(ref, after)
    torch.testing.assert_close(same, ref, atol=1e-6, rtol=0)


@pytest.fixture(params=["eager", "sdpa"])
def attn_model(model, request):
    """The tiny model under each attention implementation the inner hooks support."""
    model.config.text_config._attn_implementation = request.param
    yield model
    model.config.text_config._attn_implementation = "eager"


def test_the_layer_cache_is_found_under_every_supported_name():
    """transformers 4.46-4.55 pass ``past_key_value``, 4.56-4.57 ``past_key_values``, 5.x ``cache``."""
    from transformers.cache_utils import DynamicCache

    from tempme.llm.hooks import layer_cache

    cache = DynamicCache()
    for name in ("past_key_value", "past_key_values", "cache"):
        assert layer_cache({name: cache, "use_cache": True}) is cache
    assert layer_cache({"use_cache": False}) is None


def test_generate_with_pruned_cache_matches_masked_recomputation(attn_model):
    """Each generated step's logits equal the unmodified layers run on the whole prefix (no cache)
    with the tokens FastV dropped at prefill masked out from layer K on (eager and SDPA)."""
    model = attn_model
    torch.manual_seed(0)
    embeds = torch.randn(2, L, model.config.text_config.hidden_size)
    steps = 4
    with torch.no_grad():
        handle = attach_inner(model, FastV(keep=0.5, layer=2))
        handle.visual_span = (START, V)
        out = model.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(2, L, dtype=torch.long),
            max_new_tokens=steps,
            do_sample=False,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=0,
        )
        handle.detach()
        assert handle.tokens_per_layer == [L, L, L - 15, L - 15]
        dropped = _dropped(handle.last_keep, L)
        seq = embeds
        for step in range(steps):
            pad = torch.zeros(2, seq.shape[1] - L, dtype=torch.bool)
            logits = _reference(model, seq, torch.cat([dropped, pad], 1), 2)[:, -1]
            torch.testing.assert_close(logits, out.logits[step], atol=1e-5, rtol=0)
            seq = torch.cat([seq, model.get_input_embeddings()(out.sequences[:, step])[:, None]], dim=1)


def _holitom_reference(model, embeds, layer, keep_fraction=0.5):
    """Kept span indices (B, V') and the replacement (states, where) HoliTom's inner merge puts in at
    layer K, from the unmodified model: layer K - 1's eager attention, layer K's input states and
    the reference's token-by-token merge."""
    attention = last_token_attention(model, embeds, layer - 1, (START, V))
    keep = torch.topk(attention, round(keep_fraction * V), dim=1).indices.sort(dim=1).values
    hidden = layer_input(model, embeds, layer)
    states = hidden.clone()
    where = torch.zeros(embeds.shape[:2], dtype=torch.bool)
    for b in range(embeds.shape[0]):
        merged = sequential_merge(hidden[b, START : START + V], keep[b].tolist())
        states[b, START + keep[b]] = merged
        where[b, START + keep[b]] = True
    return keep, (states, where)


@pytest.mark.parametrize("layer", [1, 3])
def test_holitom_inner_merged_states_reach_the_later_layers(attn_model, layer):
    """Prefill logits with the merge attached equal the unmodified layers run with the merged states
    put in at layer K and the dropped tokens masked out as keys from layer K on."""
    model = attn_model
    embeds = torch.randn(2, L, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        keep, replace = _holitom_reference(model, embeds, layer)
        dropped = _dropped(keep, L)
        ref = _reference(model, embeds, dropped, layer, replace)
        handle = attach_inner(model, HoliTomInnerMerge(keep=0.5, layer=layer))
        handle.visual_span = (START, V)
        try:
            out = model(inputs_embeds=embeds).logits
        finally:
            handle.detach()
    assert torch.equal(handle.last_keep, keep)
    assert out.shape[1] == L - (V - 15)
    for b in range(2):
        torch.testing.assert_close(out[b], ref[b][~dropped[b]], atol=1e-5, rtol=0)
    # the merge changed something: the plain masked model (FastV's tokens, unmerged) differs
    plain = _reference(model, embeds, dropped, layer)
    assert (out[0] - plain[0][~dropped[0]]).abs().max() > 1e-3


def test_generate_with_holitom_inner_merge(attn_model):
    """Every generated step's logits equal the masked recomputation with HoliTom's merged states put
    in at layer K (whole prefix, no cache): decoding runs on the merged cache."""
    model = attn_model
    embeds = torch.randn(2, L, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(1))
    steps = 3
    with torch.no_grad():
        keep, (states, where) = _holitom_reference(model, embeds, 2)
        handle = attach_inner(model, HoliTomInnerMerge(keep=0.5, layer=2))
        handle.visual_span = (START, V)
        out = model.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(2, L, dtype=torch.long),
            max_new_tokens=steps,
            do_sample=False,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=0,
        )
        handle.detach()
        assert handle.tokens_per_layer == [L, L, L - 15, L - 15]
        dropped = _dropped(keep, L)
        seq = embeds
        for step in range(steps):
            extra = seq.shape[1] - L
            pad = torch.zeros(2, extra, dtype=torch.bool)
            replace = (torch.cat([states, seq[:, L:]], 1), torch.cat([where, pad], 1))
            logits = _reference(model, seq, torch.cat([dropped, pad], 1), 2, replace)[:, -1]
            torch.testing.assert_close(logits, out.logits[step], atol=1e-5, rtol=0)
            seq = torch.cat([seq, model.get_input_embeddings()(out.sequences[:, step])[:, None]], dim=1)


def test_holitom_inner_merge_is_the_references_sequential_average():
    """Kept: span positions 1, 2, 5 (top attention). Dropped 0 and 3 go to 1, 4 to 2. Sequentially,
    h1 <- (e0 + 3 e0) / 2 = 2 e0, then h1 <- (2 e0 + (e0 + 0.1 e1)) / 2; h2 <- (e1 + 0.5 e1) / 2."""
    e = torch.eye(8)
    hidden = torch.randn(1, 10, 8)
    vis = torch.stack([3 * e[0], e[0], e[1], e[0] + 0.1 * e[1], 0.5 * e[1], e[2]])  # span positions 0..5
    hidden[0, 2:8] = vis
    attention = torch.tensor([[0.0, 0.9, 0.8, 0.1, 0.0, 0.7]])
    sel = HoliTomInnerMerge(keep=0.5).select(hidden, (2, 6), attention)
    assert sel.keep.tolist() == [[1, 2, 5]]
    expected = torch.stack([1.5 * e[0] + 0.05 * e[1], 0.75 * e[1], e[2]])
    torch.testing.assert_close(sel.hidden[0], expected)
    # a batch of two rows, each with its own choice, gives each row's answer
    hidden2 = torch.cat([hidden, hidden.flip(1)])
    sel2 = HoliTomInnerMerge(keep=0.5).select(hidden2, (2, 6), torch.cat([attention, attention.flip(1)]))
    torch.testing.assert_close(sel2.hidden[0], expected)
    assert sel2.keep[1].tolist() == [0, 3, 4]


def test_holitom_inner_counts_and_span():
    """round(keep * V) as Python rounds (half to even), over a span that includes the newline token."""
    merge = HoliTomInnerMerge(keep=0.5)
    assert [merge.kept_count(v) for v in (5, 7, 628)] == [2, 4, 314]
    assert merge.span_includes_newline and not FastV().span_includes_newline


def test_fastv_keeps_the_references_round():
    """The reference keeps ``round(V * (1 - R))`` (Python: half to even): 312 of 625 at R = 50 %,
    2 of 5, 314 of 627 (313.5 -> 314); ``round_half_up`` gives the old 313 and 3."""
    assert [FastV(keep=0.5).kept_count(v) for v in (625, 5, 627, 1)] == [312, 2, 314, 1]
    assert [FastV(keep=0.5, round_half_up=True).kept_count(v) for v in (625, 5, 627)] == [313, 3, 314]
    assert FastV(keep=0.25).kept_count(6) == 2  # 1.5 -> 2


def test_bad_settings_raise_clear_errors(model):
    with pytest.raises(ValueError, match="layer 9 is outside"):
        attach_inner(model, FastV(layer=9))
    with pytest.raises(ValueError, match="keep must be in"):
        FastV(keep=0.0)
    handle = attach_inner(model, FastV(layer=2))
    handle.visual_span = (START, V)
    try:
        mask = torch.ones(1, L, dtype=torch.long)
        mask[0, 0] = 0
        with pytest.raises(ValueError, match="unpadded"):
            model(inputs_embeds=torch.randn(1, L, model.config.text_config.hidden_size), attention_mask=mask)
        handle.visual_span = (START, L)
        with pytest.raises(ValueError, match="does not fit"):
            model(inputs_embeds=torch.randn(1, L, model.config.text_config.hidden_size))
    finally:
        handle.detach()


def test_the_decoder_stack_is_found_on_every_layout(model):
    """LLaVA-OV's model.model.language_model, the Qwen2 stack itself; a model without one is a TypeError."""
    from tempme.llm.hooks import language_model

    stack = model.model.language_model
    assert language_model(model) is stack and language_model(model.model) is stack
    assert language_model(stack) is stack
    with pytest.raises(TypeError, match="no Qwen2-style decoder stack .* in Linear"):
        language_model(torch.nn.Linear(2, 2))


def test_flash_attention_and_multi_token_decoding_are_refused(model):
    from tempme.llm.hooks import language_model

    # the decoder stack's own config: older transformers (4.52) give it a copy of text_config
    config = language_model(model).config
    config._attn_implementation = "flash_attention_2"
    try:
        with pytest.raises(ValueError, match="support eager and sdpa attention, the model uses 'flash_attention_2'"):
            attach_inner(model, FastV(layer=2))
    finally:
        config._attn_implementation = "eager"
    handle = attach_inner(model, FastV(layer=2))
    handle.visual_span = (START, V)
    try:
        with torch.no_grad():
            embeds = torch.randn(1, L, model.config.text_config.hidden_size)
            out = model(inputs_embeds=embeds, use_cache=True)
            assert handle.tokens_per_layer == [L, L, L - 15, L - 15]
            more = torch.randn(1, 2, model.config.text_config.hidden_size)
            cache = getattr(out, "cache", None) or out.past_key_values
            name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
            with pytest.raises(ValueError, match="decode one token per step \\(got 2\\)"):
                model(inputs_embeds=more, use_cache=True, **{name: cache})
    finally:
        handle.detach()
    # detached: the same prompt runs at full length again
    with torch.no_grad():
        full = model(inputs_embeds=embeds).logits
    assert full.shape[1] == L


def test_hooks_edge_cases(model):
    """A causal LM (Qwen2ForCausalLM: its stack under .model) is found; without a visual span the
    attached model is the unmodified one; a span with a single token after it fits; a prefill of 2
    tokens is a prefill."""
    from transformers import Qwen2ForCausalLM

    from tempme.llm.hooks import language_model

    lm = Qwen2ForCausalLM(model.config.text_config)
    assert language_model(lm) is lm.model
    c = model.config.text_config.hidden_size
    embeds = torch.randn(1, L, c, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = model(inputs_embeds=embeds).logits
        handle = attach_inner(model, FastV(keep=0.5, layer=2))
        try:
            torch.testing.assert_close(model(inputs_embeds=embeds).logits, ref, atol=1e-6, rtol=0)  # no span
            handle.visual_span = (START, L - START - 1)  # up to the last token but one
            assert model(inputs_embeds=embeds).logits.shape[1] == L - 18
            handle.visual_span = (0, 1)
            model(inputs_embeds=embeds[:, :2], use_cache=True)
            assert handle.last_keep.tolist() == [[0]] and handle.tokens_per_layer == [2] * 4
            # a one-token forward is a decoding step, not a prefill of the span: nothing to prune
            handle.visual_span = (START, V)
            assert model(inputs_embeds=embeds[:, :1], use_cache=True).logits.shape[1] == 1
            handle.visual_span = (START, L - START)  # no text token after the span
            with pytest.raises(ValueError, match=f"visual span \\({START}, {L - START}\\) does not fit"):
                model(inputs_embeds=embeds)
        finally:
            handle.detach()


def test_default_layers_and_limits():
    """K = 2 of 28 for FastV and 18 of 28 for HoliTom's merge (the papers'), scaled to the depth and
    at least 1; layer 0 is a valid setting that attention-based reducers then refuse."""
    assert (FastV().resolve_layer(28), HoliTomInnerMerge().resolve_layer(28)) == (2, 18)
    assert (FastV().resolve_layer(4), HoliTomInnerMerge().resolve_layer(4)) == (1, 3)  # max(1, 0.29), 2.57
    assert FastV(layer=3).resolve_layer(4) == 3
    with pytest.raises(ValueError, match="fastv: layer 0 is outside \\[1, 3\\] for a 4-layer model"):
        FastV(layer=0).resolve_layer(4)
    with pytest.raises(ValueError, match="fastv: layer must be >= 0, got -1"):
        FastV(layer=-1)
    with pytest.raises(ValueError, match="holitom-inner: keep must be in \\(0, 1\\], got 1.5"):
        HoliTomInnerMerge(keep=1.5)


def test_holitom_inner_merge_of_many_tokens_into_one_and_dtype():
    """63 dropped tokens all merge into the one kept token, in sequence order (the reference's loop);
    with nothing dropped the kept states come back in the input's dtype."""
    g = torch.Generator().manual_seed(6)
    hidden = torch.randn(2, 70, 8, generator=g)
    hidden[:, 3:67] += 3 * torch.ones(8)  # every token closest to the one kept: a single target
    attention = torch.rand(2, 64, generator=g)
    sel = HoliTomInnerMerge(keep=1 / 64).select(hidden, (3, 64), attention)
    for b in range(2):
        keep = sel.keep[b].tolist()
        assert keep == [int(attention[b].argmax())]
        torch.testing.assert_close(sel.hidden[b], sequential_merge(hidden[b, 3:67], keep), atol=1e-6, rtol=0)
    half = HoliTomInnerMerge(keep=1.0).select(hidden.bfloat16(), (3, 64), attention)
    assert half.hidden.dtype == torch.bfloat16 and half.keep.shape == (2, 64)
