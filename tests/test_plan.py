"""The token schedule against the TempMe paper's numbers (DESIGN.md, 'TempMe ... ViT-B/32')."""

import pytest

from tempme.config import TempMeConfig
from tempme.plan import keep_to_r, plan_schedule


def test_vit_b32_schedule_matches_the_paper():
    plan = plan_schedule(TempMeConfig.preset("ViT-B-32"), tokens_per_frame=50, depth=12)
    kinds = [lp.kind for lp in plan.layers]
    assert kinds == ["imgme"] * 8 + ["clipme"] * 3 + ["last"]
    assert plan.layers[7].tokens_out == 34
    clip = [(lp.tokens_in * lp.group, lp.tokens_attn, lp.tokens_out) for lp in plan.layers[8:11]]
    assert clip == [(68, 48, 44), (88, 62, 56), (168, 118, 107)]
    assert plan.layers[11].tokens_out == 97
    assert (plan.tokens_in, plan.tokens_out) == (600, 97)
    assert [lp.seqs_out for lp in plan.layers[8:]] == [6, 3, 1, 1]
    assert [lp.protected for lp in plan.layers[8:]] == [2, 4, 12, 12]
    # clip-temporal embeddings: 12 + 6 + 3 vectors
    assert [lp.temporal_vectors for lp in plan.layers] == [0] * 8 + [12, 6, 3, 0]


def test_vit_b16_schedule_reaches_127_tokens():
    plan = plan_schedule(TempMeConfig.preset("ViT-B-16"), tokens_per_frame=197, depth=12)
    assert (plan.tokens_in, plan.tokens_out) == (2364, 127)


def test_analytic_macs_match_design_figures():
    # DESIGN.md: 4.41 GMACs per 224px image for ViT-B/32, 0.12 G of it the patch embedding.
    full = plan_schedule(TempMeConfig.preset("ViT-B-32", merging=False), 50, 12)
    patch = 12 * 49 * 3 * 32 * 32 * 768
    assert (full.macs(768) + patch) / 1e9 == pytest.approx(52.9, rel=2e-3)
    tempme = plan_schedule(TempMeConfig.preset("ViT-B-32"), 50, 12)
    assert (tempme.macs(768) + patch) / 1e9 == pytest.approx(34.8, rel=0.02)
    full16 = plan_schedule(TempMeConfig.preset("ViT-B-16", merging=False), 197, 12)
    patch16 = 12 * 196 * 3 * 16 * 16 * 768
    assert (full16.macs(768) + patch16) / 1e9 == pytest.approx(211.3, rel=5e-3)
    tempme16 = plan_schedule(TempMeConfig.preset("ViT-B-16"), 197, 12)
    assert (tempme16.macs(768) + patch16) / 1e9 == pytest.approx(121.4, rel=0.02)


def test_merging_off_is_per_frame():
    plan = plan_schedule(TempMeConfig.preset("ViT-B-32", merging=False), 50, 12)
    assert all(lp.kind == "full" and lp.group == 1 and lp.intra_r == 0 for lp in plan.layers)
    assert plan.tokens_out == 600


def test_keep_to_r_floors():
    assert [keep_to_r(n, 0.7) for n in (68, 88, 168)] == [20, 26, 50]
    assert [keep_to_r(n, 0.9) for n in (48, 62, 118, 107)] == [4, 6, 11, 10]


def test_infeasible_plans_raise_clear_errors():
    with pytest.raises(ValueError, match="exceeds set A"):
        plan_schedule(TempMeConfig.preset("ViT-B-32", imgme_r=30), 50, 12)
    # layer 8: keeping 30 % of 68 removes 47, set A holds 33 (2 class tokens protected)
    with pytest.raises(
        ValueError, match="layer 8: cross merge of r=47 exceeds set A \\(33 of 68 tokens, 2 protected\\)"
    ):
        plan_schedule(TempMeConfig.preset("ViT-B-32", cross_keep=0.3), 50, 12)
    # layer 8: 48 tokens after the cross merge, keeping 30 % removes 33, set A holds 23
    with pytest.raises(
        ValueError, match="layer 8: intra merge of r=33 exceeds set A \\(23 of 48 tokens, 2 protected\\)"
    ):
        plan_schedule(TempMeConfig.preset("ViT-B-32", intra_keep=0.3), 50, 12)
    with pytest.raises(ValueError, match="too shallow"):
        plan_schedule(TempMeConfig.preset("ViT-B-32"), 50, 3)
    with pytest.raises(ValueError, match="product of clip_groups"):
        TempMeConfig(num_frames=8)
    with pytest.raises(ValueError, match="cross_keep"):
        TempMeConfig(cross_keep=0.0)


def test_config_json_round_trip(tmp_path):
    cfg = TempMeConfig.preset("ViT-B-16", lora_rank=4)
    cfg.save(tmp_path / "c.json")
    assert TempMeConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="unknown"):
        TempMeConfig.from_dict({"bogus": 1})


def test_the_logged_table_lists_the_papers_counts():
    """The plan's table (logged at debug level) shows the paper's per-layer counts for ViT-B/32."""
    rows = plan_schedule(TempMeConfig.preset("ViT-B-32"), 50, 12).table().splitlines()
    assert rows[0].split() == ["layer", "kind", "group", "seqs", "tok_in", "cross", "attn", "intra", "out", "temb"]
    assert rows[1].split() == ["0", "imgme", "1", "12", "50", "0", "50", "2", "48", "0"]
    assert rows[9].split() == ["8", "clipme", "2", "6", "68", "20", "48", "4", "44", "12"]
    assert rows[11].split() == ["10", "clipme", "3", "1", "168", "50", "118", "11", "107", "3"]
    assert rows[12].split() == ["11", "last", "1", "1", "107", "0", "107", "10", "97", "0"]
    assert rows[13] == "tokens per video: 600 -> 97" and len(rows) == 14
    assert rows[9] == "    8 clipme      2    6     68     20    48     4   44    12"


def test_without_temporal_embeddings_no_vectors_are_planned():
    plan = plan_schedule(TempMeConfig.preset("ViT-B-32", temporal_embed=False), 50, 12)
    assert [lp.temporal_vectors for lp in plan.layers] == [0] * 12
    assert plan.tokens_out == 97  # the token counts do not depend on them
    # per layer: sequences in and out, tokens in per incoming sequence
    assert [(lp.seqs_in, lp.seqs_out, lp.tokens_in) for lp in plan.layers[7:]] == [
        (12, 12, 36),
        (12, 6, 34),
        (6, 3, 44),
        (3, 1, 56),
        (1, 1, 107),
    ]


def test_the_shallowest_tower_has_one_imgme_layer():
    """3 ClipMe layers need depth >= 3 + 2: one ImgMe layer, the ClipMe ones, the last layer."""
    plan = plan_schedule(TempMeConfig.preset("ViT-B-32"), 50, 5)
    assert [lp.kind for lp in plan.layers] == ["imgme", "clipme", "clipme", "clipme", "last"]
    with pytest.raises(ValueError, match="depth 4 is too shallow for 3 ClipMe layers"):
        plan_schedule(TempMeConfig.preset("ViT-B-32"), 50, 4)
