"""Reciprocal rank fusion against rankings computed by hand (Cormack et al. 2009, k = 60)."""

import pytest

from tempme.index.fusion import RRF_K, reciprocal_rank_fusion


def test_rrf_matches_hand_computed_ranking():
    rankings = {"visual": ["a", "b", "c", "d"], "speech": ["c", "a"], "text": ["e", "c"]}
    # by hand, k = 60: a = 1/61 + 1/62, b = 1/62, c = 1/63 + 1/61 + 1/62, d = 1/64, e = 1/61
    expected = {"a": 0.0325224, "b": 0.0161290, "c": 0.0483955, "d": 0.015625, "e": 0.0163934}
    fused = reciprocal_rank_fusion(rankings)
    assert RRF_K == 60
    assert [f.key for f in fused] == ["c", "a", "e", "b", "d"]
    for f in fused:
        assert f.score == pytest.approx(expected[f.key], abs=1e-7)
    assert fused[0].ranks == {"visual": 3, "speech": 1, "text": 2}
    assert fused[2].ranks == {"text": 1}


def test_rrf_k_and_weights_change_the_order_as_computed():
    rankings = {"visual": ["x", "y", "z"], "speech": ["z"]}
    # k = 60: x = 1/61 > z = 1/63 + 1/61 ... z wins (two lists)
    assert [f.key for f in reciprocal_rank_fusion(rankings)] == ["z", "x", "y"]
    # weight 0 for speech: only the visual order is left
    assert [f.key for f in reciprocal_rank_fusion(rankings, weights={"speech": 0.0})] == ["x", "y", "z"]
    # k = 1: x = 1/2 = 0.5, z = 1/4 + 1/2 = 0.75, y = 1/3
    fused = reciprocal_rank_fusion(rankings, k=1)
    assert [(f.key, round(f.score, 4)) for f in fused] == [("z", 0.75), ("x", 0.5), ("y", 0.3333)]


def test_rrf_ties_break_by_best_rank_then_list_order():
    fused = reciprocal_rank_fusion({"visual": ["x", "y"], "speech": ["y", "x"]})
    assert fused[0].score == fused[1].score  # 1/61 + 1/62 each
    assert [f.key for f in fused] == ["x", "y"]  # both reach rank 1: the first list's first item wins
    fused = reciprocal_rank_fusion({"a": ["p", "q", "r"], "b": ["s", "q"]}, k=60)
    # q = 1/62 + 1/62 = 0.032258; p = 1/61; s = 1/61 (tie with p: both rank 1, p's list comes first)
    assert [f.key for f in fused] == ["q", "p", "s", "r"]


def test_rrf_rejects_bad_input():
    with pytest.raises(ValueError, match="twice"):
        reciprocal_rank_fusion({"visual": ["a", "a"]})
    with pytest.raises(ValueError, match="k must be > 0"):
        reciprocal_rank_fusion({"visual": ["a"]}, k=0)
    with pytest.raises(ValueError, match="unknown rankings"):
        reciprocal_rank_fusion({"visual": ["a"]}, weights={"speech": 1.0})
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"visual": []}) == []
