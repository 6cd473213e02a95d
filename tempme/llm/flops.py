"""Prefill cost of the language model: the papers' formula and an exact count.

Formula (FastV Sec. 4.3, used by HoliTom Sec. 4): per decoder layer with n tokens, hidden size d
and MLP size m, ``4 n d^2 + 2 n^2 d + 2 n d m`` (Q, K, V, O projections; QK^T and AV; a
two-matrix MLP), summed over layers. The unit the papers call "FLOPs" is really multiply-adds of
that idealised layer; we keep it as published so the numbers compare.

HoliTom's LLaVA-OneVision-7B figures (Qwen2-7B: 28 layers, d = 3584, m = 18944; 32 frames x 196
tokens = 6272 visual tokens) are reproduced when n counts the visual tokens only (no text, no
newline token), the budget is rounded half up, and the inner merge runs at layer 18 keeping 50 %:
40.8 T full, 8.7 T at 25 %, 7.1 T at 25 % + inner merge, 2.8 T at 10 % + inner merge (10 % without
the inner merge is 3.4 T). See :func:`holitom_published_settings`.

Exact count: ``torch.utils.flop_counter.FlopCounterMode`` over one real ``Qwen2DecoderLayer``
built on the meta device (no weights, eager attention, grouped-query K/V, SwiGLU MLP with three
matrices), once per distinct sequence length; FLOPs there are 2 x multiply-adds.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

LLAVA_OV_7B = dict(
    num_hidden_layers=28,
    hidden_size=3584,
    intermediate_size=18944,
    num_attention_heads=28,
    num_key_value_heads=4,
    vocab_size=152064,
)
"""Qwen2-7B geometry of LLaVA-OneVision-7B's language model."""


def formula_layer_flops(n: int, d: int, m: int) -> float:
    """``4 n d^2 + 2 n^2 d + 2 n d m`` for one layer with n tokens."""
    return 4.0 * n * d * d + 2.0 * n * n * d + 2.0 * n * d * m


def formula_flops(tokens_per_layer: list[int], d: int, m: int) -> float:
    """Sum of :func:`formula_layer_flops` over the layers (the papers' prefill "FLOPs")."""
    return sum(formula_layer_flops(n, d, m) for n in tokens_per_layer)


def schedule(
    n: int, layers: int, inner_layer: int | None = None, inner_keep: float | None = None, fixed: int = 0
) -> list[int]:
    """Tokens per layer: ``n`` visual (+ ``fixed`` text) tokens; from ``inner_layer`` on,
    ``round_half_up(inner_keep * n)`` visual tokens."""
    out = [n + fixed] * layers
    if inner_layer is not None and inner_keep is not None:
        kept = max(1, math.floor(inner_keep * n + 0.5))
        out[inner_layer:] = [kept + fixed] * (layers - inner_layer)
    return out


def holitom_published_settings() -> dict[str, tuple[list[int], float]]:
    """The four HoliTom LLaVA-OV-7B settings -> (tokens per layer, published TFLOPs)."""
    v = 32 * 196
    r25 = math.floor(0.25 * v + 0.5)
    r10 = math.floor(0.10 * v + 0.5)
    layers = LLAVA_OV_7B["num_hidden_layers"]
    return {
        "full": (schedule(v, layers), 40.8),
        "25%": (schedule(r25, layers), 8.7),
        "25% + inner merge": (schedule(r25, layers, 18, 0.5), 7.1),
        "10% + inner merge": (schedule(r10, layers, 18, 0.5), 2.8),
    }


def qwen2_config(**overrides):
    """A ``Qwen2Config`` with eager attention (default: the LLaVA-OV-7B geometry)."""
    from transformers import Qwen2Config

    cfg = Qwen2Config(**{**LLAVA_OV_7B, **overrides})
    cfg._attn_implementation = "eager"
    return cfg


@lru_cache(maxsize=512)
def _layer_flops_cached(key: tuple, n: int) -> int:
    from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2RotaryEmbedding

    cfg = qwen2_config(**dict(key))
    with torch.device("meta"):
        layer = Qwen2DecoderLayer(cfg, 0)
        hidden = torch.empty(1, n, cfg.hidden_size)
    pos = torch.arange(n)[None]
    with torch.no_grad():
        # RoPE tables on the CPU (small; transformers 5.0's rotary forward rejects meta tensors), then meta
        cos_sin = tuple(t.to("meta") for t in Qwen2RotaryEmbedding(cfg)(torch.zeros(1, 1, 1), pos))
        pos = pos.to("meta")
        with FlopCounterMode(display=False) as counter:
            layer(hidden, attention_mask=None, position_embeddings=cos_sin, position_ids=pos)
    return int(counter.get_total_flops())


def _config_key(config) -> tuple:
    names = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads")
    return tuple((k, int(getattr(config, k))) for k in names)


def exact_layer_flops(config, n: int) -> int:
    """FLOPs (2 x MACs) of one decoder layer of ``config``'s geometry on ``n`` tokens, counted on meta tensors."""
    return _layer_flops_cached(_config_key(config), int(n))


def exact_flops(config, tokens_per_layer: list[int]) -> int:
    """Exact prefill FLOPs of the decoder layers for the given tokens per layer (norms/head excluded)."""
    if len(tokens_per_layer) != config.num_hidden_layers:
        raise ValueError(f"{len(tokens_per_layer)} layer counts for a {config.num_hidden_layers}-layer model")
    return sum(exact_layer_flops(config, n) for n in tokens_per_layer)
