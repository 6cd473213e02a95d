"""Calibrated confidence (index/nulls.py, index/query/confidence.py, the levels and verdicts of
index/hits.py) on planted cases whose answers are known
independently: hand-computed p-values, a planted exact match, random vectors (where p-values
must be uniform, the defining property of a valid p-value), FAISS and plain loops as references
for the searches, hand-scored speech lines."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from tempme.index.hits import Confidence, best_confidence, quoted, verdict
from tempme.index.nulls import (
    NEUTRAL,
    NULL_SIZE,
    NULL_VERSION,
    P_CUTS,
    TEXT,
    VIDEO,
    NullDistribution,
    brute_force_search,
    confidence_of_p,
    cross_video_top1,
    null_prompts,
    p_value,
    top1_scores,
)
from tempme.index.query.confidence import shortest_window, text_evidence


def text_null(search, prompt_vectors, segments):
    """The text null as compute_nulls makes it: the top-1 score of each prompt."""
    return NullDistribution(TEXT, top1_scores(search, prompt_vectors), segments)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ---- p-values and levels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "score, expected",
    [(0.35, 2 / 5), (0.30, 3 / 5), (0.5, 1 / 5), (0.4, 2 / 5), (0.0, 5 / 5), (0.1, 5 / 5), (0.15, 4 / 5)],
)
def test_p_value_against_a_hand_computed_null(score, expected):
    # null [0.1, 0.2, 0.3, 0.4], N = 4: p = (1 + #{null >= score}) / 5, a tie counting against the score
    null = NullDistribution(TEXT, [0.4, 0.1, 0.3, 0.2], segments=10)  # unsorted on purpose
    assert null.p_value(score) == pytest.approx(expected)
    assert p_value(score, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(expected)


def test_p_value_of_an_empty_null_is_one():
    assert p_value(0.99, np.zeros(0)) == 1.0


@pytest.mark.parametrize(
    "p, level",
    [
        (0.0005, "high"),
        (0.001, "high"),
        (0.0011, "medium"),
        (0.01, "medium"),
        (0.02, "low"),
        (0.05, "low"),
        (0.0501, "none"),
        (1.0, "none"),
        (None, "none"),
    ],
)
def test_levels_at_the_documented_cut_offs(p, level):
    assert confidence_of_p(p) == Confidence(level)


def test_levels_are_ordered_and_parsed():
    assert Confidence.NONE < Confidence.LOW < Confidence.MEDIUM < Confidence.HIGH
    assert Confidence.LOW < "medium" and Confidence.HIGH >= "high"  # never alphabetical ("high" < "low")
    assert max([Confidence.LOW, Confidence.HIGH, Confidence.NONE]) is Confidence.HIGH
    assert Confidence.parse(" HIGH ") is Confidence.HIGH
    with pytest.raises(ValueError, match="none, low, medium, high"):
        Confidence.parse("sure")


def test_beat_scores_are_where_the_level_starts():
    scores = np.arange(NULL_SIZE, dtype=np.float32) / 1000  # 0.000 .. 0.998
    null = NullDistribution(TEXT, scores, segments=100)
    beat = null.summary()["beat"]
    # by hand: p <= 0.001 needs no null score >= s (beat the max, 0.998); p <= 0.01 allows 9
    # above (beat the 10th largest, 0.989); p <= 0.05, 49 above (beat the 50th largest, 0.949)
    assert beat == pytest.approx({"high": 0.998, "medium": 0.989, "low": 0.949})
    for level, s in beat.items():
        assert confidence_of_p(null.p_value(s + 1e-4)) >= Confidence(level)
        assert confidence_of_p(null.p_value(s)) < Confidence(level)


def test_a_null_too_small_for_high_says_so():
    null = NullDistribution(VIDEO, np.linspace(0, 1, 50), segments=50)
    assert null.summary()["beat"]["high"] is None and null.summary()["beat"]["medium"] is None
    assert null.confidence(5.0) == (pytest.approx(1 / 51), Confidence.LOW)  # the best 50 values can say


def test_null_round_trips_through_bytes_and_knows_when_it_is_stale():
    null = NullDistribution(TEXT, [0.3, 0.1, 0.2], segments=100)
    back = NullDistribution.from_bytes(TEXT, null.to_bytes(), 100, NULL_VERSION)
    assert back.scores.tolist() == pytest.approx([0.1, 0.2, 0.3]) and len(null.to_bytes()) == 12
    assert not null.stale(100) and not null.stale(199) and not null.stale(51)
    assert null.stale(200) and null.stale(50)  # grew or shrank by GROWTH = 2
    assert NullDistribution(TEXT, [0.1], segments=100, version=NULL_VERSION - 1).stale(100)
    assert NullDistribution(TEXT, [], segments=0).stale(1)
    with pytest.raises(ValueError, match="multiple of 4"):
        NullDistribution.from_bytes(TEXT, b"abc", 1, NULL_VERSION)
    with pytest.raises(ValueError, match="null kind"):
        NullDistribution("audio", [0.1], segments=1)


# ---- the null queries and searches -------------------------------------------------------------------


def test_null_prompts_are_fixed_distinct_and_content_free():
    prompts = null_prompts()
    assert len(prompts) == NULL_SIZE == len(set(prompts))
    assert prompts[: len(NEUTRAL)] == list(NEUTRAL)
    assert null_prompts() == prompts  # deterministic
    # stored nulls refer to NULL_VERSION: changing the prompts must bump it (and this digest)
    digest = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:16]
    assert digest == PROMPTS_V1_DIGEST, "the null prompts changed: bump NULL_VERSION and this digest"


PROMPTS_V1_DIGEST = "b5aeb8047be127a9"  # of null_prompts() at NULL_VERSION 1, recorded when it was made


def test_brute_force_search_equals_faiss():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    base, queries = unit(rng.standard_normal((300, 24))), unit(rng.standard_normal((20, 24)))
    index = faiss.IndexFlatIP(24)
    index.add(base)
    ref_scores, ref_ids = index.search(queries, 5)
    scores, ids = brute_force_search(base)(queries, 5)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    np.testing.assert_allclose(top1_scores(brute_force_search(base), queries, batch=7), ref_scores[:, 0], atol=1e-5)
    scores, ids = brute_force_search(base[:3])(queries, 5)  # fewer than k: padded like FAISS
    assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()


def test_cross_video_top1_equals_a_plain_loop():
    rng = np.random.default_rng(1)
    # 6 videos of 5 segments each, each video's segments close to its own centre, so the nearest
    # neighbours of a segment are its own video's: the search must go deeper than depth=2
    centres = unit(rng.standard_normal((6, 16)))
    vecs = unit(np.repeat(centres, 5, axis=0) + 0.05 * rng.standard_normal((30, 16)))
    ids = np.arange(100, 130)
    videos = {int(i): int((i - 100) // 5) for i in ids}

    def video_of(some):
        return {int(i): videos[int(i)] for i in some if int(i) in videos}

    got = cross_video_top1(vecs, ids, video_of, brute_force_search(vecs, ids), depth=2)
    expected = []
    for a in range(30):
        best = max(float(vecs[a] @ vecs[b]) for b in range(30) if videos[100 + b] != videos[100 + a])
        expected.append(best)
    np.testing.assert_allclose(np.sort(got), np.sort(expected), atol=1e-5)
    one_video = cross_video_top1(vecs[:5], ids[:5], video_of, brute_force_search(vecs[:5], ids[:5]))
    assert one_video.size == 0  # no other video: no null value


# ---- planted cases -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_text():
    """The random-weights tiny encoder's text tower: (Q,) texts -> (Q, D) unit vectors."""
    import torch
    from tempme.index.ingest.encoders import load

    enc = load("tempme-tiny", "none")

    def encode(texts):
        with torch.inference_mode():
            return enc.encode_text(list(texts)).float().numpy()

    return encode


@pytest.fixture(scope="module")
def tiny_prompts(tiny_text):
    return tiny_text(null_prompts())  # (999, D)


def test_a_segment_whose_vector_is_the_query_embedding_is_high(tiny_text, tiny_prompts):
    query = "a woman flipping a pancake in a kitchen"
    q = tiny_text([query])[0]
    rng = np.random.default_rng(2)
    library = unit(rng.standard_normal((200, q.shape[0])))
    library[137] = q  # planted: the stored vector equals the query's embedding
    search = brute_force_search(library)
    null = text_null(search, tiny_prompts, segments=len(library))
    assert null.size == NULL_SIZE
    scores, ids = search(q[None], 3)
    assert ids[0, 0] == 137
    p, level = null.confidence(float(scores[0, 0]))
    assert p == pytest.approx(1 / (NULL_SIZE + 1)) and level is Confidence.HIGH
    assert verdict(quoted(query), [level] + [null.confidence(float(s))[1] for s in scores[0, 1:]]).found


def test_random_vectors_and_nonsense_queries_on_random_weights_are_no_good_match(tiny_text, tiny_prompts):
    """A random-weights encoder's scores carry nothing, so queries land inside the null (their
    p-values are about uniform: the next test checks that property where it is exact): the
    verdict is "no good match", nothing above low."""
    rng = np.random.default_rng(3)
    library = unit(rng.standard_normal((200, tiny_prompts.shape[1])))
    search = brute_force_search(library)
    null = text_null(search, tiny_prompts, segments=len(library))
    for query in ("zxqv blorp 12345", "qwerty flumph"):
        scores, _ = search(tiny_text([query]), 10)
        levels = [null.confidence(float(s))[1] for s in scores[0]]
        assert max(levels) <= Confidence.LOW, (query, null.p_value(float(scores[0, 0])))
        v = verdict(quoted(query), levels)
        assert not v.found and v.message == f"no good match for “{query}”"
    # a random query vector against random vectors
    scores, _ = search(unit(rng.standard_normal((1, library.shape[1]))), 1)
    assert null.confidence(float(scores[0, 0]))[1] is Confidence.NONE


def test_p_values_are_uniform_when_nothing_is_there():
    """Queries exchangeable with the null queries (random vectors on random vectors): a valid
    p-value has P(p <= a) <= a, and is not stuck at 1 either."""
    rng = np.random.default_rng(4)
    library = unit(rng.standard_normal((300, 32)))
    search = brute_force_search(library)
    null = text_null(search, unit(rng.standard_normal((NULL_SIZE, 32))), segments=300)
    top = top1_scores(search, unit(rng.standard_normal((2000, 32))))
    p = np.array(null.p_values(top))
    for a in (0.01, 0.05, 0.2, 0.5):
        sd = np.sqrt(a * (1 - a) / len(p))
        assert abs((p <= a).mean() - a) < 4 * sd + 1e-3, (a, (p <= a).mean())
    assert (p <= P_CUTS[Confidence.HIGH]).mean() < 0.005


# ---- speech and on-screen text ------------------------------------------------------------------------


def test_a_speech_query_whose_words_are_all_in_one_utterance_is_high():
    words = "we are going to the beach tomorrow morning".split()
    ev = text_evidence("going to the beach tomorrow", words)
    # terms going, beach, tomorrow: all found, in order, adjacent once "to the" is dropped
    assert (ev.terms, ev.coverage, ev.order, ev.proximity, ev.score) == (("going", "beach", "tomorrow"), 1, 1, 1, 1)
    assert ev.confidence is Confidence.HIGH
    ev = text_evidence("coffee cup", "i would like a cup of coffee".split())
    # both words (coverage 1), reversed (order 0), adjacent (proximity 1): 0.75 + 0.25 * 0.5 = 0.875
    assert ev.score == pytest.approx(0.875) and ev.confidence is Confidence.HIGH


def test_one_word_of_five_is_low():
    ev = text_evidence("red car parked near bridge", "the car was very fast".split())
    assert ev.matched == ("car",) and ev.coverage == pytest.approx(0.2)
    assert ev.score == pytest.approx(0.2) and ev.confidence is Confidence.LOW
    assert text_evidence("red car parked near bridge", "nothing here".split()).confidence is Confidence.NONE


def test_scattered_and_reversed_words_are_medium():
    words = "tomorrow is far but the beach is where we keep going".split()
    # content tokens: tomorrow(0) far(1) but(2) beach(3) keep(4) going(5): the window 0..5 holds
    # the three terms, width 6 -> proximity 3/6; line order tomorrow, beach, going = query
    # indices 2, 1, 0 -> no ascending neighbour: order 0; score 0.75 + 0.25 * 0.25 = 0.8125
    ev = text_evidence("going to the beach tomorrow", words)
    assert (ev.coverage, ev.order, ev.proximity) == (1, 0, 0.5)
    assert ev.score == pytest.approx(0.8125) and ev.confidence is Confidence.MEDIUM


def test_match_kinds_lower_confidence():
    words = "forty dollars for the tickets".split()
    assert text_evidence("forty dollars", words, kind="normalised").score == pytest.approx(0.9)
    assert text_evidence("forty dollars", words, kind="normalised").confidence is Confidence.HIGH
    best_phonetic = text_evidence("forty dollars", words, kind="phonetic", phonetic_score=1.0)
    assert best_phonetic.score == pytest.approx(0.8) and best_phonetic.confidence is Confidence.MEDIUM
    assert text_evidence("forty dollars", words, kind="phonetic", phonetic_score=0.5).confidence is Confidence.LOW
    with pytest.raises(ValueError, match="phonetic_score"):
        text_evidence("forty dollars", words, kind="phonetic")
    with pytest.raises(ValueError, match="kind must be"):
        text_evidence("forty dollars", words, kind="fuzzy")


def test_key_and_punctuation_and_stop_word_queries():
    assert text_evidence("dogs", ["the", "dog,"]).coverage == 0  # no stemming unless asked
    assert text_evidence("dogs", ["the", "dog,"], key=lambda w: w.rstrip("s")).coverage == 1
    ev = text_evidence("the who", "who was at the door".split())  # only stop words: they count
    assert ev.terms == ("the", "who") and ev.coverage == 1


def test_shortest_window_equals_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n_terms = int(rng.integers(1, 4))
        positions = [sorted(set(rng.integers(0, 12, int(rng.integers(1, 4))).tolist())) for _ in range(n_terms)]
        best = None
        for a, b in itertools.combinations_with_replacement(range(12), 2):
            if all(any(a <= p <= b for p in ps) for ps in positions) and (best is None or b - a < best[1] - best[0]):
                best = (a, b)
        assert shortest_window(positions) == best, positions
    with pytest.raises(ValueError):
        shortest_window([[1], []])


# ---- fusion and verdicts -------------------------------------------------------------------------------


def test_fused_hits_carry_their_best_evidence_and_verdicts_count_good_hits():
    assert best_confidence([Confidence.LOW, None, Confidence.MEDIUM]) is Confidence.MEDIUM
    assert best_confidence([]) is Confidence.NONE
    v = verdict(quoted("dog"), [Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW])
    assert v.found and v.good == 2 and v.message == "2 good matches for “dog”"
    assert verdict(quoted("dog"), [Confidence.HIGH]).message == "1 good match for “dog”"
    v = verdict(quoted(" zxqv  blorp "), [Confidence.LOW, Confidence.NONE, None])
    assert not v.found and v.best is Confidence.LOW and v.message == "no good match for “zxqv blorp”"
    assert v.to_dict()["verdict"] == "no good match" and v.to_dict()["best_confidence"] == "low"
    assert verdict("x", [Confidence.LOW], min_good=Confidence.LOW).found
    assert verdict("moments like a.mp4 at 0:41", []).to_dict() == {
        "verdict": "no good match",
        "best_confidence": "none",
        "good": 0,
        "hits": 0,
        "min_confidence": "medium",
        "message": "no good match for moments like a.mp4 at 0:41",
    }
    assert Confidence.HIGH.dots == "●●●" and Confidence.LOW.dots == "●○○" and Confidence.NONE.dots == "○○○"


def test_a_compound_result_is_as_confident_as_its_weakest_part():
    from pathlib import Path

    from tempme.index.hits import Hit
    from tempme.index.query.compound import CompoundQuery, JoinedMoment, PartHit
    from tempme.index.query.parts import joined_hit

    def part(seg, start, level, p):
        return Hit(seg, 1, Path("/v/a.mp4"), start, start + 2, 0.3, 1, 60.0, confidence=level, p_value=p)

    a, b = part(1, 0.0, Confidence.HIGH, 0.001), part(2, 5.0, Confidence.LOW, 0.04)
    query = CompoundQuery.of("a", then="b")
    j = JoinedMoment(1, 0.0, 7.0, 0.03, 1, (PartHit(1, 0.0, 2.0, 1, a), PartHit(1, 5.0, 7.0, 1, b)))
    h = joined_hit(j, 1, query)
    assert (h.confidence, h.p_value) == (Confidence.LOW, 0.04)
    unjudged = part(3, 5.0, None, None)
    j = JoinedMoment(1, 0.0, 7.0, 0.03, 1, (PartHit(1, 0.0, 2.0, 1, a), PartHit(1, 5.0, 7.0, 1, unjudged)))
    assert joined_hit(j, 1, query).confidence is None  # one part not judged: the whole is not either
    assert Hit.from_dict(h.to_dict()).confidence is Confidence.LOW


def test_judge_levels_each_hit_from_its_visual_and_text_evidence():
    from pathlib import Path

    from tempme.index.hits import Hit
    from tempme.index.query.confidence import judge

    def hit(seg, visual=None, transcript=None, ocr=None):
        return Hit(seg, 1, Path("/v/a.mp4"), 0.0, 2.0, 0.5, seg, 60.0, visual_score=visual, transcript=transcript,
                   ocr_text=ocr)  # fmt: skip

    null = NullDistribution(TEXT, np.linspace(0.0, 0.5, 999), segments=50)  # p = (1 + #{null >= s}) / 1000
    hits = [
        hit(1, visual=0.9),  # above every null score: p = 1/1000
        hit(2, visual=-0.1, transcript="we spent the summer holidays there"),  # "holiday" by stem
        hit(3, visual=-0.1, ocr="nothing to see"),
        hit(4),
    ]
    judged = judge(hits, "holiday", null)
    assert [(h.segment_id, h.confidence, h.p_value) for h in judged] == [
        (1, Confidence.HIGH, pytest.approx(0.001)),
        (2, Confidence.HIGH, 1.0),  # the visual evidence is none, the spoken line's word is all of the query
        (3, Confidence.NONE, 1.0),
        (4, Confidence.NONE, None),  # no evidence at all
    ]
    assert hits[0].confidence is None  # judged copies; the hits passed in are left alone
    no_null = judge(hits[:1], "holiday", None)  # no null: the visual evidence cannot count
    assert (no_null[0].confidence, no_null[0].p_value) == (Confidence.NONE, None)
    like_this = judge(hits[1:2], None, null)  # "more like this": no query, no text evidence
    assert like_this[0].confidence is Confidence.NONE
