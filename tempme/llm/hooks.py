"""Attach an inner reducer to decoder layer K of one Hugging Face Qwen2 language model instance.

Nothing is patched globally: forward (pre-)hooks are registered on that instance's modules and
removed by :meth:`AttachedInner.detach`. During a prefill that contains the visual span:

* layer K - 1's attention module is hooked to compute the last token's attention over the visual
  span (from its own q/k projections and RoPE, so it works with eager and SDPA attention);
* layer K's pre-hook asks the reducer which visual tokens to keep, gathers the hidden states
  and the *original* position ids of the kept tokens (RoPE positions are not renumbered, as in
  FastV), recomputes the rotary embeddings for them and builds a causal additive mask for the
  shorter sequence; layers K + 1 .. L - 1 get the same.

Layers < K therefore cache keys/values for the full sequence and layers >= K for the reduced one.
The cache's length (layer 0) is still the full prompt length, so ``generate`` numbers new tokens
correctly; during decoding (one new token per step, no padding) layers >= K attend to their whole,
shorter cache with no mask.

Supported: eager and SDPA attention, batches of any size whose rows are unpadded (2-D attention
mask of ones or none) and share the visual span (the pipeline guarantees both). Anything else
raises ``ValueError``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb, repeat_kv

from tempme.llm.inner import InnerReducer

log = logging.getLogger(__name__)


# The decoder layer's keyword for the KV cache, by transformers version: ``past_key_value`` up to
# 4.55, ``past_key_values`` in 4.56 - 4.57, ``cache`` from 5.0 (``Qwen2DecoderLayer.forward``).
CACHE_KWARGS = ("cache", "past_key_values", "past_key_value")


def layer_cache(kwargs: dict):
    """The KV cache a decoder layer was called with, under whichever name this transformers uses.

    Returns ``None`` when the layer got no cache (``use_cache=False``).
    """
    for name in CACHE_KWARGS:
        cache = kwargs.get(name)
        if cache is not None:
            return cache
    return None


def language_model(model: nn.Module) -> nn.Module:
    """The decoder stack (``Qwen2Model``-like, with ``.layers`` and ``.rotary_emb``) inside ``model``."""
    for path in ("model.language_model", "language_model", "model"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "layers") and hasattr(obj, "rotary_emb"):
            return obj
    if hasattr(model, "layers") and hasattr(model, "rotary_emb"):
        return model
    raise TypeError(f"no Qwen2-style decoder stack (.layers, .rotary_emb) found in {type(model).__name__}")


@dataclass
class _State:
    active: bool = False  # this forward pass was pruned at layer K
    replaced: dict = field(default_factory=dict)  # kwargs for layers >= K during this prefill
    pruned_cache: int | None = None  # id() of the cache whose layers >= K hold the reduced sequence
    attention: torch.Tensor | None = None  # (B, V) from layer K - 1


class AttachedInner:
    """Handle for an inner reducer attached to one model instance.

    Set ``visual_span = (start, length)`` before a prefill; after it, ``tokens_per_layer`` lists
    the sequence length each decoder layer processed and ``last_keep`` the kept span indices (B, V').
    """

    def __init__(self, model: nn.Module, reducer: InnerReducer):
        self.lm = language_model(model)
        self.reducer = reducer
        cfg = self.lm.config
        impl = getattr(cfg, "_attn_implementation", "eager") or "eager"
        if impl not in ("eager", "sdpa"):
            raise ValueError(f"inner reducers support eager and sdpa attention, the model uses {impl!r}")
        self.num_layers = cfg.num_hidden_layers
        self.layer = reducer.resolve_layer(self.num_layers)
        self.visual_span: tuple[int, int] | None = None
        self.tokens_per_layer: list[int] = []
        self.last_keep: torch.Tensor | None = None
        self._state = _State()
        self._handles = [self.lm.register_forward_pre_hook(self._on_lm, with_kwargs=True)]
        if reducer.needs_attention:
            attn = self.lm.layers[self.layer - 1].self_attn
            self._handles.append(attn.register_forward_hook(self._on_attention, with_kwargs=True))
        for i in range(self.layer, self.num_layers):
            self._handles.append(
                self.lm.layers[i].register_forward_pre_hook(self._make_layer_hook(i), with_kwargs=True)
            )
        log.info(
            "%s attached at layer %d of %d (keep %.0f%%)", reducer.name, self.layer, self.num_layers, 100 * reducer.keep
        )

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    # -- hooks -------------------------------------------------------------------------------
    def _on_lm(self, module, args, kwargs):
        self._state.active = False
        self._state.replaced = {}
        self._state.attention = None
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.dim() == 2 and not bool(mask.bool().all()):
            raise ValueError("inner reducers need unpadded rows: the 2-D attention mask has zeros")
        embeds = kwargs.get("inputs_embeds")
        if embeds is None and args:
            embeds = args[0]
        length = embeds.shape[1] if isinstance(embeds, torch.Tensor) and embeds.dim() == 3 else None
        if length is not None and length > 1:
            self.tokens_per_layer = [length] * self.num_layers
        return None

    def _is_prefill(self, hidden: torch.Tensor, cache, layer: int) -> bool:
        if cache is None:
            return hidden.shape[1] > 1
        return cache.get_seq_length(layer) == 0 and hidden.shape[1] > 1

    def _on_attention(self, module, args, kwargs, output):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        span = self.visual_span
        if span is None or not self._is_prefill(hidden, None, 0):
            return None
        start, v = span
        b, n, _ = hidden.shape
        hd = module.head_dim
        cos, sin = kwargs["position_embeddings"]
        q = module.q_proj(hidden[:, -1:]).view(b, 1, -1, hd).transpose(1, 2)  # (B, H, 1, hd)
        k = module.k_proj(hidden).view(b, n, -1, hd).transpose(1, 2)  # (B, Hkv, L, hd)
        q, _ = apply_rotary_pos_emb(q, q, cos[:, -1:], sin[:, -1:])
        _, k = apply_rotary_pos_emb(k, k, cos, sin)
        k = repeat_kv(k, module.num_key_value_groups)
        probs = ((q @ k.transpose(2, 3)) * module.scaling).float().softmax(-1)  # (B, H, 1, L): last row sees all
        self._state.attention = probs.mean(1)[:, 0, start : start + v]  # (B, V)
        return None

    def _make_layer_hook(self, index: int):
        def hook(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            cache = layer_cache(kwargs)
            if index == self.layer and self.visual_span is not None and self._is_prefill(hidden, cache, index):
                hidden = self._prune(hidden, kwargs, cache)
            elif self._state.active:
                kwargs.update(self._state.replaced)
            elif cache is not None and self._state.pruned_cache == id(cache) and cache.get_seq_length(index) > 0:
                if hidden.shape[1] != 1:
                    raise ValueError(f"after an inner reduction, decode one token per step (got {hidden.shape[1]})")
                kwargs["attention_mask"] = None  # one query, no padding: it sees its whole (shorter) cache
            if args:
                args = (hidden,) + tuple(args[1:])
            else:
                kwargs["hidden_states"] = hidden
            return args, kwargs

        return hook

    def _prune(self, hidden: torch.Tensor, kwargs: dict, cache) -> torch.Tensor:
        start, v = self.visual_span
        b, n, c = hidden.shape
        if start < 0 or start + v > n - 1:
            raise ValueError(f"visual span ({start}, {v}) does not fit a prompt of {n} tokens with text after it")
        attention = self._state.attention
        if self.reducer.needs_attention and attention is None:
            raise RuntimeError("no attention scores were captured in layer K - 1")
        sel = self.reducer.select(hidden, (start, v), attention)
        keep_vis = sel.keep.to(hidden.device)  # (B, V')
        vis = hidden[:, start : start + v]
        if sel.hidden is not None:
            new_vis = sel.hidden
        else:
            new_vis = torch.gather(vis, 1, keep_vis[..., None].expand(-1, -1, c))
        hidden = torch.cat([hidden[:, :start], new_vis, hidden[:, start + v :]], dim=1)  # (B, L', C)
        pos = kwargs.get("position_ids")
        if pos is None:
            pos = torch.arange(n, device=hidden.device)[None]
        pos = pos.expand(b, n)
        pos = torch.cat([pos[:, :start], torch.gather(pos[:, start : start + v], 1, keep_vis), pos[:, start + v :]], 1)
        m = hidden.shape[1]
        neg = torch.finfo(hidden.dtype).min
        causal = torch.full((m, m), neg, dtype=hidden.dtype, device=hidden.device).triu(1)
        self._state.replaced = {
            "attention_mask": causal[None, None].expand(b, 1, m, m),
            "position_ids": pos,
            "position_embeddings": self.lm.rotary_emb(hidden, pos),
        }
        kwargs.update(self._state.replaced)
        self._state.active = True
        self._state.pruned_cache = id(cache) if cache is not None else None
        self.last_keep = keep_vis
        self.tokens_per_layer[self.layer :] = [m] * (self.num_layers - self.layer)
        return hidden


def attach_inner(model: nn.Module, reducer: InnerReducer) -> AttachedInner:
    """Attach ``reducer`` to ``model`` (a LlavaOnevisionForConditionalGeneration or its Qwen2 stack)."""
    return AttachedInner(model, reducer)
