"""The patched open_clip model against stock open_clip, and the paper's counts.

Full-size architectures run with random weights (no weights can be downloaded here).
"""

import copy
import logging

import open_clip
import pytest
import torch
from safetensors.torch import load_file

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder
from tempme.flops import analytic_video_macs, video_encoder_macs
from tempme.lora import AdapterError
from tempme.patch import apply_tempme
from tempme.weights import create_clip, shrink_text_context

logging.getLogger("tempme").setLevel(logging.ERROR)


def _randomise_adapters(encoder, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in encoder.trainable_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def test_merging_off_equals_stock_encode_image():
    torch.manual_seed(0)
    stock = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True).eval()
    patched = copy.deepcopy(stock)
    apply_tempme(patched, TempMeConfig.preset("ViT-B-32", merging=False, clip_groups=(1,) * 3))
    frames = torch.randn(1, 12, 3, 224, 224)
    with torch.no_grad():
        ref = stock.encode_image(frames[0])  # (T, D) per-frame features
        got = patched.visual.forward_video(frames)[0]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "arch,tokens_in,tokens_out", [("tempme-tiny", 204, 44), ("ViT-B-32", 600, 97), ("ViT-B-16", 2364, 127)]
)
def test_executed_token_counts_follow_the_plan(arch, tokens_in, tokens_out):
    enc = load_encoder(arch, "none", device="cpu")
    trace: list = []
    size = enc.model.visual.image_size[0]
    with torch.inference_mode():
        enc.model.visual.forward_video(torch.randn(2, 12, 3, size, size), trace=trace)
    per_layer = [seqs * tokens for _, seqs, tokens, _ in trace]
    planned = [lp.seqs_out * lp.tokens_out for lp in enc.plan.layers]
    assert per_layer == planned
    assert per_layer[-1] == tokens_out and enc.plan.tokens_in == tokens_in
    for _, _, _, size_sum in trace:  # every original token is accounted for, per video
        assert size_sum == pytest.approx(tokens_in)
    assert [layer for layer, *_ in trace] == list(range(len(enc.plan.layers)))
    assert [seqs for _, seqs, _, _ in trace] == [lp.seqs_out for lp in enc.plan.layers]
    assert all(isinstance(seqs, int) and isinstance(tokens, int) for _, seqs, tokens, _ in trace)
    with pytest.raises(ValueError, match="expected 12 frames per video, got 3"):
        enc.model.visual.forward_video(torch.randn(1, 3, 3, size, size))


def test_trainable_parameters_are_exactly_lora_and_temporal(tmp_path):
    enc = load_encoder("ViT-B-32", "none", device="cpu")
    named = {n: p for n, p in enc.model.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in named.values()) == 507_648  # 294,912 + 196,608 + 16,128
    assert all(".lora_A." in n or ".lora_B." in n or "tempme_temporal" in n for n in named)
    temporal = [p.shape for n, p in named.items() if "tempme_temporal" in n]
    assert temporal == [(12, 768), (6, 768), (3, 768)]
    lora_b = [p for n, p in named.items() if ".lora_B." in n]
    assert len(lora_b) == 24 and all(float(p.detach().abs().sum()) == 0 for p in lora_b)
    enc.save_adapter(tmp_path / "adapter")  # the adapter folder holds exactly these, nothing frozen
    saved = [
        load_file(str(tmp_path / "adapter" / f)) for f in ("adapter_model.safetensors", "tempme_temporal.safetensors")
    ]
    assert sum(t.numel() for part in saved for t in part.values()) == 507_648


def test_encoder_macs_counted_match_analytic_and_paper():
    for merging, paper in ((True, 34.8), (False, 52.9)):
        enc = load_encoder("ViT-B-32", "none", device="cpu", config=TempMeConfig.preset("ViT-B-32", merging=merging))
        enc.fold_lora()
        counted = video_encoder_macs(enc)
        assert counted == pytest.approx(analytic_video_macs(enc), rel=0.01)
        assert counted / 1e9 == pytest.approx(paper, rel=0.02)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A local checkpoint file of random tiny CLIP weights (the --pretrained PATH route)."""
    torch.manual_seed(1)
    model = open_clip.create_model("tempme-tiny", pretrained=None)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def test_adapter_round_trip_is_bit_exact(tiny_checkpoint, tmp_path):
    enc = load_encoder("tempme-tiny", str(tiny_checkpoint), device="cpu")
    _randomise_adapters(enc)
    digest = enc.save_adapter(tmp_path / "adapter")
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == [  # peft's layout + TempMe's parts
        "adapter_config.json",
        "adapter_meta.json",
        "adapter_model.safetensors",
        "tempme_config.json",
        "tempme_temporal.safetensors",
    ]
    again = load_encoder("tempme-tiny", str(tiny_checkpoint), adapter=tmp_path / "adapter", device="cpu")
    assert again.info.adapter_hash == digest
    frames = torch.randn(2, 12, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(enc.encode_video(frames), again.encode_video(frames))
        assert torch.equal(enc.encode_text(["a red circle", "x"]), again.encode_text(["a red circle", "x"]))


def test_adapter_that_does_not_fit_is_rejected(tiny_checkpoint, tmp_path):
    enc = load_encoder(
        "tempme-tiny", str(tiny_checkpoint), device="cpu", config=TempMeConfig.preset("tempme-tiny", lora_rank=4)
    )
    enc.save_adapter(tmp_path / "r4")
    with pytest.raises(AdapterError):
        load_encoder(
            "tempme-tiny",
            str(tiny_checkpoint),
            adapter=tmp_path / "r4",
            device="cpu",
            config=TempMeConfig.preset("tempme-tiny"),
        )
    with pytest.raises(AdapterError, match="missing"):
        load_encoder("tempme-tiny", "none", adapter=tmp_path / "nothing-here", device="cpu")


def test_folding_lora_keeps_outputs(tiny_checkpoint):
    enc = load_encoder("tempme-tiny", str(tiny_checkpoint), device="cpu")
    _randomise_adapters(enc, seed=3)
    frames = torch.randn(2, 12, 3, 64, 64)
    with torch.inference_mode():
        before_v, before_t = enc.encode_video(frames), enc.encode_text(["a dog runs"])
        assert enc.fold_lora() == 9  # 6 vision + 3 text attention layers
        torch.testing.assert_close(enc.encode_video(frames), before_v, atol=1e-5, rtol=0)
        torch.testing.assert_close(enc.encode_text(["a dog runs"]), before_t, atol=1e-5, rtol=0)


def test_text_context_32_equals_stock_77(tiny_checkpoint):
    stock = create_clip("tempme-tiny", str(tiny_checkpoint))
    short = copy.deepcopy(stock)
    shrink_text_context(short, 32)
    texts = ["a woman flipping a pancake in a kitchen", "two people arm wrestling"]
    with torch.no_grad():
        ref = stock.encode_text(open_clip.tokenize(texts, context_length=77))
        got = short.encode_text(open_clip.tokenize(texts, context_length=32))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_encode_video_validates_shapes_and_normalises(tiny_checkpoint):
    enc = load_encoder("tempme-tiny", str(tiny_checkpoint), device="cpu")
    with torch.inference_mode():
        out = enc.encode_video(torch.randn(3, 12, 3, 64, 64))
        assert out.shape == (3, enc.embed_dim)
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))
        with pytest.raises(ValueError, match="T=12"):
            enc.encode_video(torch.randn(1, 8, 3, 64, 64))
        with pytest.raises(TypeError):
            enc.encode_text("not a list")


def test_random_weights_are_the_same_in_every_process():
    a = create_clip("tempme-tiny", "none")
    torch.manual_seed(1234)  # the caller's RNG state must not matter
    b = create_clip("tempme-tiny", "none")
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
