"""Reciprocal rank fusion against rankings computed by hand (Cormack et al. 2009, k = 60)."""

import functools
from pathlib import Path

import pytest
from tempme.index.query import RRF_K, reciprocal_rank_fusion


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
    with pytest.raises(ValueError, match="weights must be >= 0, got \\{'visual': -1.0\\}"):
        reciprocal_rank_fusion({"visual": ["a"]}, weights={"visual": -1.0})
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"visual": []}) == []


def _hit(seg, vid, a, b, *, duration_s, **kw):
    """A hand-built hit of video ``vid`` (``/v/<vid>.mp4``) from ``a`` to ``b`` seconds."""
    from tempme.index import Hit

    return Hit(
        segment_id=seg, video_id=vid, path=Path(f"/v/{vid}.mp4"), start_s=a, end_s=b, score=0.0, rank=0,
        duration_s=duration_s, **kw,
    )  # fmt: skip


def test_fuse_hits_merges_evidence_per_moment_by_hand():

    from tempme.index import MatchedWord
    from tempme.index.query import fuse_hits

    hit = functools.partial(_hit, duration_s=20.0)

    visual = [
        hit(10, 1, 0, 5, visual_score=0.3),
        hit(12, 2, 5, 15, visual_score=0.2),
        hit(11, 1, 5, 9, visual_score=0.1),
    ]
    # a spoken line at 7 s of video 2 lies in visual moment 12 (which spans segments 12-13)
    speech = [
        hit(
            13, 2, 7.0, 8.5, words=(MatchedWord("coffee", 7.5, 8.0),), transcript="a cup of coffee", matched=("speech",)
        ),
        hit(30, 3, 1.0, 2.0, words=(MatchedWord("coffee", 1.2, 1.5),), transcript="coffee", matched=("speech",)),
    ]
    text = [hit(10, 1, 1.0, 2.0, ocr_text="COFFEE", matched=("text",))]
    fused = fuse_hits({"visual": visual, "speech": speech, "text": text}, k=10)
    # by hand, k = 60: moment 12 = 1/62 (visual 2) + 1/61 (speech 1) = 0.032523;
    # moment 10 = 1/61 (visual 1) + 1/61 (text 1) = 0.032787; segment 30 = 1/62; moment 11 = 1/63
    assert [(h.segment_id, round(h.score, 6)) for h in fused] == [
        (10, round(2 / 61, 6)),
        (12, round(1 / 62 + 1 / 61, 6)),
        (30, round(1 / 62, 6)),
        (11, round(1 / 63, 6)),
    ]
    top, second = fused[0], fused[1]
    assert top.matched == ("visual", "text") and top.ocr_text == "COFFEE" and top.visual_score == 0.3
    assert (top.start_s, top.end_s) == (1.0, 2.0)  # the on-screen line's time
    assert second.matched == ("visual", "speech") and second.visual_score == 0.2
    assert second.seek_s == 7.5 and (second.start_s, second.end_s) == (7.0, 8.5)
    assert fused[2].visual_score is None and fused[2].matched == ("speech",)
    assert [h.rank for h in fused] == [1, 2, 3, 4]
    assert [h.segment_id for h in fuse_hits({"visual": visual, "speech": speech, "text": text}, k=2, offset=1)] == [
        12,
        30,
    ]
    assert [
        h.video_id for h in fuse_hits({"visual": visual, "speech": speech, "text": text}, k=10, per_video=True)
    ] == [1, 2, 3]


def test_fuse_hits_one_moment_found_three_ways_and_the_boundaries():
    """Moment 20 (video 5, 10-20 s) is seen by all three lists: its hit carries the speech line's
    words and transcript, the on-screen line's text and box, the visual score. A line starting
    exactly at a moment's end belongs to the next one (spans are [start, end)); a line outside
    every visual moment stays its own item; equal scores go to speech, then text, then visual."""

    from tempme.index import MatchedWord
    from tempme.index.query import fuse_hits

    hit = functools.partial(_hit, duration_s=30.0)

    visual = [hit(20, 5, 10.0, 20.0, visual_score=0.4), hit(21, 5, 20.0, 30.0, visual_score=0.2)]
    speech = [
        hit(22, 5, 10.0, 12.0, words=(MatchedWord("tea", 10.5, 11.0),), transcript="green tea", matched=("speech",))
    ]
    text = [
        hit(23, 5, 20.0, 21.0, ocr_text="TEA", ocr_box=(0.1, 0.2, 0.3, 0.4), matched=("text",)),  # in moment 21
        hit(24, 5, 12.0, 13.0, ocr_text="TEA ROOM", ocr_box=(0.5, 0.5, 0.2, 0.1), matched=("text",)),  # in 20
        hit(40, 9, 0.0, 1.0, ocr_text="tea", matched=("text",)),  # no visual moment of video 9
    ]
    fused = fuse_hits({"visual": visual, "speech": speech, "text": text}, k=10)
    # k = 60: moment 20 = 1/61 (visual) + 1/61 (speech) + 1/62 (text, 2nd); moment 21 = 1/62 + 1/61;
    # segment 40 = 1/63 (text, 3rd)
    assert [(h.segment_id, round(h.score, 6)) for h in fused] == [
        (20, round(2 / 61 + 1 / 62, 6)),
        (21, round(1 / 62 + 1 / 61, 6)),
        (40, round(1 / 63, 6)),
    ]
    top = fused[0]
    assert top.matched == ("visual", "speech", "text") and top.visual_score == 0.4
    assert (top.transcript, top.words[0].word) == ("green tea", "tea")
    assert (top.ocr_text, top.ocr_box) == ("TEA ROOM", (0.5, 0.5, 0.2, 0.1))
    assert (top.start_s, top.end_s) == (10.0, 12.0)  # the spoken line's time
    assert fused[1].ocr_box == (0.1, 0.2, 0.3, 0.4) and fused[1].transcript is None and fused[1].words == ()
    assert fused[2].segment_id == 40 and fused[2].matched == ("text",) and fused[2].visual_score is None
    # k = 1 (the RRF constant passed on): moment 20 = 1/2 + 1/2 + 1/3
    assert fuse_hits({"visual": visual, "speech": speech, "text": text}, k=1, rrf_k=1)[0].score == 1 + 1 / 3
    # one row per video: video 5's second moment is skipped, video 9's line still comes
    best = fuse_hits({"visual": visual, "speech": speech, "text": text}, k=10, per_video=True)
    assert [h.segment_id for h in best] == [20, 40]
    # exactly k results, ranked from offset + 1
    two = fuse_hits({"visual": visual, "speech": speech, "text": text}, k=2)
    assert [h.rank for h in two] == [1, 2] and len(two) == 2
    # ties: one line in speech and one in text, each first in its list, no visual list: speech first
    tie = fuse_hits({"text": [hit(50, 6, 0.0, 1.0, matched=("text",))], "speech": [speech[0]]}, k=5)
    assert [h.segment_id for h in tie] == [22, 50] and tie[0].score == tie[1].score
    # a list counts an item once, at its best rank: a second line in the same moment adds nothing
    again = fuse_hits({"visual": visual, "text": [text[1], hit(25, 5, 15.0, 16.0, matched=("text",))]}, k=5)
    assert [(h.segment_id, round(h.score, 6)) for h in again][0] == (20, round(1 / 61 + 1 / 61, 6))
