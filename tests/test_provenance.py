"""Merge provenance (tempme.provenance, traced through tempme.patch).

- Tracking never changes the features: embeddings are bit-identical with it on and off.
- Every stage partitions the video's original tokens (each (frame, position) in exactly one
  token, no empty token), and its token count is the executed plan's (tempme-tiny and the
  full-size ViT-B/32 preset: 600 -> ... -> 97 tokens).
- The groups equal those of the independent plain forward (tests/reference_forward.py), which
  tracks its merges as Python sets, token by token and in the same order.
"""

from __future__ import annotations

import logging

import pytest
import torch
from reference_forward import Schedule, load_weights, reference_encode, video_forward

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder

logging.getLogger("tempme").setLevel(logging.ERROR)


def _encoder(arch: str, **overrides):
    torch.manual_seed(0)
    enc = load_encoder(arch, "none", device="cpu", config=TempMeConfig.preset(arch, **overrides))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # non-zero LoRA and temporal embeddings: they change what merges
        for name, p in enc.model.named_parameters():
            if "tempme_temporal" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif ".lora_A." in name or ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return enc


def _frames(enc, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    S = enc.image_size
    return torch.randn(batch, enc.num_frames, 3, S, S, generator=g)


def _planned_counts(plan) -> list[tuple[int, str, int]]:
    """(layer, step, tokens per video) for every merge step of the plan."""
    out = []
    for lp in plan.layers:
        if lp.kind == "clipme":
            out.append((lp.index, "clipme-cross", lp.seqs_out * lp.tokens_attn))
            out.append((lp.index, "clipme-intra", lp.seqs_out * lp.tokens_out))
        elif lp.kind in ("imgme", "last"):
            out.append((lp.index, lp.kind, lp.seqs_out * lp.tokens_out))
    return out


@pytest.mark.parametrize("arch", ["tempme-tiny", "ViT-B-32"])
def test_tracking_leaves_embeddings_bit_identical(arch):
    enc = _encoder(arch)
    frames = _frames(enc, batch=2)
    with torch.inference_mode():
        plain = enc.model.visual.forward_video(frames)
        traced, traces = enc.model.visual.forward_video_traced(frames)
        video = enc.encode_video(frames)
        video_traced, _ = enc.encode_video_traced(frames)
    assert torch.equal(plain, traced)
    assert torch.equal(video, video_traced)
    assert len(traces) == 2


@pytest.mark.parametrize("arch", ["tempme-tiny", "ViT-B-32"])
def test_stages_partition_the_tokens_and_match_the_plan(arch):
    enc = _encoder(arch)
    frames = _frames(enc, batch=2, seed=3)
    executed: list = []
    with torch.inference_mode():
        enc.model.visual.forward_video(frames, trace=executed)  # (layer, seqs, tokens, size sum)
        _, traces = enc.encode_video_traced(frames)
    plan = enc.plan
    gh, gw = enc.model.visual.grid_size
    T, N0 = enc.num_frames, gh * gw + 1
    executed_out = {layer: seqs * tokens for layer, seqs, tokens, _ in executed}
    for trace in traces:
        assert trace.tokens_in == plan.tokens_in == T * N0
        got = [(s.layer, s.step, s.token_count) for s in trace.stages]
        assert got == _planned_counts(plan)
        print(f"{arch}: " + ", ".join(f"{label} {n}" for label, n in trace.counts()))
        everything = {(t, n) for t in range(T) for n in range(N0)}
        for stage in trace.stages:
            if stage.step != "clipme-cross":  # the layer's output, as the executed forward saw it
                assert stage.token_count == executed_out[stage.layer]
            sources = stage.sources()
            assert len(sources) == stage.token_count
            assert all(sources), f"{stage.label}: an empty token"
            flat = [src for token in sources for src in token]
            assert len(flat) == len(everything) and set(flat) == everything  # no overlap, union = all
            # the encoder's own sizes count the same sources
            assert [len(s) for s in sources] == stage.sizes.round().astype(int).tolist()
            # class tokens stay alone, at the front of their sequence
            per_seq = T // stage.sequences
            for q in range(stage.sequences):
                for c in range(per_seq):
                    assert sources[q * stage.tokens + c] == [(q * per_seq + c, 0)]
            # a token holds patches of its own sequence's frames only
            for i, token in enumerate(sources):
                q = i // stage.tokens
                assert {t for t, _ in token} <= set(range(q * per_seq, (q + 1) * per_seq))
        assert trace.final.token_count == plan.tokens_out
    if arch == "ViT-B-32":
        imgme = [600 - 24 * (i + 1) for i in range(8)]  # 12 frames lose r = 2 tokens per layer: 50 -> 34
        clipme = [6 * 48, 6 * 44, 3 * 62, 3 * 56, 118, 107]  # DESIGN.md: 68->48->44, 88->62->56, 168->118->107
        assert [n for _, n in traces[0].counts()] == [600, *imgme, *clipme, 97]


def _schedule(config: TempMeConfig) -> Schedule:
    return Schedule(
        tome_r=config.imgme_r,
        clip_groups=config.clip_groups,
        cross_keep=config.cross_keep,
        intra_keep=config.intra_keep,
        prop_attn=config.prop_attn,
    )


@pytest.mark.parametrize("overrides", [{}, dict(imgme_r=2, cross_keep=0.8, intra_keep=0.8)])
def test_groups_equal_the_reference_forward(overrides):
    enc = _encoder("tempme-tiny", **overrides)
    frames = _frames(enc, batch=2, seed=5)
    with torch.inference_mode():
        _, traces = enc.encode_video_traced(frames)
    weights = load_weights(enc.model)
    for video, trace in zip(frames, traces):
        merges: list = []
        video_forward(weights, video, _schedule(enc.config), merges=merges)
        assert [(layer, step) for layer, step, _ in merges] == [(s.layer, s.step) for s in trace.stages]
        for (_, _, groups), stage in zip(merges, trace.stages):
            assert [sorted(g) for g in groups] == stage.sources(), stage.label


def test_reference_comparison_can_fail():
    """Two different videos merge differently: the comparison above is not vacuous."""
    enc = _encoder("tempme-tiny")
    with torch.inference_mode():
        _, traces = enc.encode_video_traced(torch.cat([_frames(enc, 1, seed=1), _frames(enc, 1, seed=2)]))
    assert traces[0].final.sources() != traces[1].final.sources()
    weights = load_weights(enc.model)
    merges: list = []
    video_forward(weights, _frames(enc, 1, seed=2)[0], _schedule(enc.config), merges=merges)
    assert [sorted(g) for g in merges[-1][2]] != traces[0].final.sources()
    # and the reference forward with its merge report still gives the reference embeddings
    per_frame, _ = reference_encode(enc.model, _frames(enc, 1, seed=1), _schedule(enc.config))
    with torch.inference_mode():
        assert float((enc.encode_frames(_frames(enc, 1, seed=1)).double() - per_frame).abs().max()) < 1e-5


def test_identical_patches_only_merge_with_each_other():
    """Hand case: with no positional embedding (and LoRA and temporal embeddings at their zero
    init), patches with the same pixels are the same token at every layer, so their cosine
    similarity is 1 and any other pair's is lower. Every A token then merges into a B token of
    its own colour, whatever the ties: every group of every stage holds one colour only, and a
    wrong provenance (sources of another token) would mix them."""
    torch.manual_seed(0)
    enc = load_encoder("tempme-tiny", "none", device="cpu")
    with torch.no_grad():
        enc.model.visual.positional_embedding.zero_()
    S = enc.image_size
    gh, gw = enc.model.visual.grid_size
    ph = S // gh
    frames = torch.full((1, enc.num_frames, 3, S, S), -1.0)
    frames[..., 0, : 2 * ph, :] = 1.0  # the top two patch rows red, the rest dark
    colour = lambda n: 0 if (n - 1) // gw < 2 else 1  # position n >= 1 -> its colour
    with torch.inference_mode():
        _, (trace,) = enc.encode_video_traced(frames)
    merged = 0
    for stage in trace.stages:
        for token in stage.sources():
            patches = [n for _, n in token if n > 0]
            assert len({colour(n) for n in patches}) <= 1, f"{stage.label}: colours mixed in {token}"
            merged += len(patches) > 1
    assert merged > 0
    assert max(len(t) for t in trace.final.sources()) > 2  # groups grow across frames too
