"""Test helper: independent references for the inner reducers (tempme.llm.hooks / inner).

Written from the papers and the reference code's behaviour, sharing nothing with tempme.llm:

* :func:`masked_forward` runs the *unmodified* decoder layers over the whole sequence, with the
  dropped tokens masked out as keys from layer K on (FastV's README: "mask out the discarded
  tokens in deep layers"), and optionally other hidden states put in at layer K's input;
* :func:`last_token_attention` reads layer K - 1's attention maps as eager attention returns them;
* :func:`sequential_merge` is HoliTom's inner merge as the reference's ``Qwen2Model_holitom.forward``
  runs it: one dropped token after the other, ``h_k <- (h_k + h_d) / 2``, similarities computed once.
"""

from __future__ import annotations

import torch


def masked_forward(model, embeds: torch.Tensor, dropped: torch.Tensor, layer: int, replace=None) -> torch.Tensor:
    """Logits (B, L, vocab) of the unmodified layers, dropped tokens masked as keys from ``layer`` on.

    Args:
        embeds: (B, L, C) input embeddings; dropped: (B, L) bool.
        replace: optional (B, L, C) states and (B, L) bool mask: at the input of ``layer`` the
            masked positions take those states (HoliTom's merged tokens).
    """
    lm = model.model.language_model
    b, n, _ = embeds.shape
    pos = torch.arange(n)[None]
    pe = lm.rotary_emb(embeds, pos)
    neg = torch.finfo(embeds.dtype).min
    causal = torch.full((n, n), neg).triu(1)[None, None].expand(b, 1, n, n)
    masked = causal.masked_fill(dropped[:, None, None, :], neg)
    x = embeds
    for i, block in enumerate(lm.layers):
        if i == layer and replace is not None:
            states, where = replace
            x = torch.where(where[..., None], states, x)
        x = block(x, attention_mask=causal if i < layer else masked, position_embeddings=pe, position_ids=pos)
        x = x[0] if isinstance(x, tuple) else x  # transformers < 4.54 returns (hidden,)
    return model.lm_head(lm.norm(x))


def last_token_attention(model, embeds: torch.Tensor, layer: int, span: tuple[int, int]) -> torch.Tensor:
    """(B, V): the last token's attention over the span in decoder layer ``layer``, mean over heads
    (the model's own eager attention maps, ``output_attentions=True``)."""
    start, v = span
    impl = model.config.text_config._attn_implementation
    model.config.text_config._attn_implementation = "eager"
    try:
        out = model(inputs_embeds=embeds, output_attentions=True)
    finally:
        model.config.text_config._attn_implementation = impl
    return out.attentions[layer][:, :, -1, start : start + v].mean(1)


def layer_input(model, embeds: torch.Tensor, layer: int) -> torch.Tensor:
    """(B, L, C): the unmodified model's hidden states entering decoder layer ``layer``."""
    return model(inputs_embeds=embeds, output_hidden_states=True).hidden_states[layer]


def dropped_mask(keep: torch.Tensor, start: int, v: int, total: int) -> torch.Tensor:
    """(B, total) bool: the span positions not in ``keep`` (B, V') span indices."""
    b = keep.shape[0]
    dropped = torch.zeros(b, total, dtype=torch.bool)
    dropped[:, start : start + v] = True
    dropped[torch.arange(b)[:, None], start + keep] = False
    return dropped


def sequential_merge(vis: torch.Tensor, keep: list[int]) -> torch.Tensor:
    """HoliTom's inner merge of one row, token by token: (V, C) span states -> (V', C) kept states."""
    kept = [vis[k].clone() for k in keep]
    originals = [vis[k] for k in keep]
    for d in range(vis.shape[0]):
        if d in keep:
            continue
        cos = [float(torch.nn.functional.cosine_similarity(vis[d], o, dim=0)) for o in originals]
        j = max(range(len(cos)), key=lambda i: cos[i])  # first maximum, as argmax
        kept[j] = (kept[j] + vis[d]) / 2
    return torch.stack(kept)
