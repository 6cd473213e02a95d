"""Words to phones (index/words/g2p.py), the phonetic word-window matcher (index/words/phonetic.py) and the
ranking of word and phonetic evidence (index/query/spoken.py).

References: the CMU dictionary file itself (read here with a plain split), hand-computed edit
costs from the documented cost table, and a brute-force loop over every word window with the
plain Wagner-Fischer distance (the vectorised search must equal it)."""

from __future__ import annotations

import random
import shutil

import pytest
from tempme.index.query.spoken import SpokenLine, rank_lines
from tempme.index.words.g2p import PHONES, Pronouncer, cmudict_path, espeak_phones, ipa_to_arpabet, load_cmudict
from tempme.index.words.phonetic import (
    CostModel,
    PhoneIndex,
    decode_phones,
    encode_phones,
    phone_distance,
    query_variants,
    utterance_phones,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def P(s: str) -> tuple[str, ...]:
    return tuple(s.split())


@pytest.fixture(scope="module")
def lexicon():
    return load_cmudict()


@pytest.fixture(scope="module")
def pronouncer(lexicon):
    return Pronouncer(lexicon)


# --- the dictionary and the fallback --------------------------------------------------------


def test_dictionary_phones_are_the_dictionarys_entries(pronouncer):
    plain: dict[str, list[str]] = {}
    with open(cmudict_path(), encoding="utf-8") as f:
        for line in f:
            word, *phones = line.split()
            if "(" not in word:
                plain.setdefault(word, phones)
    words = random.Random(0).sample(sorted(plain), 300) + ["basketball", "coach", "geneva", "musket"]
    assert pronouncer.pronounce(words) == [tuple(plain[w]) for w in words]
    # written out by hand from cmudict-en-us.dict
    assert pronouncer.pronounce(["Basketball", "coach,"]) == [P("B AE S K AH T B AO L"), P("K OW CH")]
    assert pronouncer.variants("read") == (P("R EH D"), P("R IY D"))
    assert {p for entry in list(pronouncer.lexicon.values())[:5000] for v in entry for p in v} <= set(PHONES)


@pytest.mark.parametrize(
    "ipa,arpabet",
    [
        ("bˈæskɪtbˌɔːl", "B AE S K IH T B AO L"),
        ("kˈoʊtʃ", "K OW CH"),
        ("dʒənˈiːvə", "JH AH N IY V AH"),
        ("ʃˈoʊldɚɹ", "SH OW L D ER"),  # ER's linking r is ER's own
        ("wˈɔːɾɚ", "W AO T ER"),  # the flap is T
        ("bˈɑːɹdʒᵻz", "B AA R JH IH Z"),
        ("bɹˈɪʔn̩", "B R IH T AH N"),
        ("θˈɪŋ ðə", "TH IH NG DH AH"),
    ],
)
def test_ipa_to_arpabet_by_hand(ipa, arpabet):
    assert ipa_to_arpabet(ipa) == P(arpabet)


@needs_espeak
def test_espeak_fallback_agrees_with_the_dictionary_on_held_out_words(lexicon):
    """The fallback is never told the dictionary: measured on 2,000 words (bench/g2p_agreement.py)
    its word accuracy is 0.61 and its phone error rate 0.10; here 150 words must stay near that."""
    words = random.Random(1).sample(sorted(w for w in lexicon if w.isalpha()), 150)
    guessed = espeak_phones(words)
    assert len(guessed) == len(words)
    exact = sum(g in lexicon[w] for w, g in zip(words, guessed))
    costs = CostModel()
    close = [
        min(phone_distance(ref, g, costs) / costs.deletion_total(ref) for ref in lexicon[w])
        for w, g in zip(words, guessed)
    ]
    assert exact / len(words) >= 0.45, exact
    assert sum(close) / len(close) <= 0.12


@needs_espeak
def test_words_outside_the_dictionary_get_phones_from_espeak(lexicon):
    pr = Pronouncer(lexicon)
    assert not pr.known("janima")
    (ph,) = pr.pronounce(["Janima"])
    assert ph[:2] == P("JH AE") and "N" in ph and "M" in ph
    assert Pronouncer(lexicon, fallback=None).pronounce(["janima", "coach"]) == [(), P("K OW CH")]


# --- the cost table and the matcher ----------------------------------------------------------


@pytest.mark.parametrize(
    "a,b,cost",
    [
        ("P", "P", 0.0),
        ("P", "B", 0.4),  # voicing pair
        ("S", "SH", 0.4),  # neighbouring places
        ("IH", "IY", 0.4),  # neighbouring vowels
        ("CH", "T", 0.4),
        ("P", "K", 0.7),  # two stops
        ("CH", "K", 0.7),  # an affricate with a stop
        ("AE", "AH", 0.7),  # two vowels
        ("L", "R", 0.7),  # two liquids
        ("M", "B", 1.0),  # nasal for stop
        ("S", "AA", 1.0),
    ],
)
def test_substitution_costs_follow_the_documented_table(a, b, cost):
    c = CostModel()
    assert c.substitution(a, b) == c.substitution(b, a) == cost


def test_phone_distance_by_hand():
    c = CostModel()
    query = P("B AE S K AH T B AO L K OW CH")  # basketball coach
    assert c.deletion_total(query) == pytest.approx(11 * 1.0 + 0.6)
    # musket ball coach: B->M 1.0 + AE->AH 0.7
    assert phone_distance(query, P("M AH S K AH T B AO L K OW CH"), c) == pytest.approx(1.7)
    # basket the ball coach: DH inserted 1.0, AH inserted 0.6
    assert phone_distance(query, P("B AE S K AH T DH AH B AO L K OW CH"), c) == pytest.approx(1.6)
    assert phone_distance(P("K OW CH"), P(""), c) == pytest.approx(3.0)
    assert phone_distance(P(""), P("AH HH"), c) == pytest.approx(1.2)


def test_phone_index_by_hand():
    lines = {
        "exact": (P("DH AH"), P("B AE S K AH T B AO L"), P("K OW CH")),
        "musket": (P("DH AH"), P("M AH S K AH T"), P("B AO L"), P("K OW CH"), P("M EY D")),
        "inserted": (P("B AE S K AH T"), P("DH AH"), P("B AO L"), P("K OW CH")),
        "other": (P("W IY"), P("G OW"), P("HH OW M")),
    }
    index = PhoneIndex(lines.items())
    found = {m.key: m for m in index.search(P("B AE S K AH T B AO L K OW CH"))}
    assert (found["exact"].score, found["exact"].first_word, found["exact"].last_word) == (1.0, 1, 2)
    assert found["musket"].cost == pytest.approx(1.7) and (found["musket"].first_word, found["musket"].last_word) == (
        1,
        3,
    )
    assert found["musket"].score == pytest.approx(1 - 1.7 / 11.6, abs=1e-4)
    assert found["inserted"].score == pytest.approx(1 - 1.6 / 11.6, abs=1e-4)
    ranked = [m.key for m in index.search(P("B AE S K AH T B AO L K OW CH"))]
    assert ranked[:3] == ["exact", "inserted", "musket"]
    assert [m.key for m in index.search(P("B AE S K AH T B AO L K OW CH"), min_score=0.9)] == ["exact"]
    assert len(index.search(P("B AE S K AH T B AO L K OW CH"), k=2)) == 2


def test_windows_never_cross_utterances():
    index = PhoneIndex([("a", (P("W IY"), P("B AE S K AH T"))), ("b", (P("B AO L"), P("G OW")))])
    best = {m.key: m for m in index.search(P("B AE S K AH T B AO L"))}
    assert best["a"].score == pytest.approx(1 - 3.0 / 8.6, abs=1e-4)  # ball (3 phones) missing
    assert best["b"].score < 0.5


def brute_force(query, words, costs):
    """Plain loop: the cheapest window of whole consecutive words."""
    best = None
    for i in range(len(words)):
        for j in range(i, len(words)):
            heard = tuple(p for w in words[i : j + 1] for p in w)
            if not heard:
                continue
            d = phone_distance(query, heard, costs)
            if best is None or d < best[0] - 1e-9:
                best = (d, i, j)
    return best


def test_phone_index_equals_the_brute_force_loop_on_random_phones():
    rng = random.Random(3)
    common = ["AH", "T", "S", "N", "IH", "K", "AE", "L", "R", "B", "M", "IY"]
    costs = CostModel()
    utts = [
        (u, tuple(tuple(rng.choice(common) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 7))))
        for u in range(40)
    ]
    index = PhoneIndex(utts, costs)
    for _ in range(10):
        query = tuple(rng.choice(common) for _ in range(rng.randint(2, 8)))
        got = {m.key: m for m in index.search(query)}
        for key, words in utts:
            d, _, _ = brute_force(query, words, costs)
            assert got[key].cost == pytest.approx(d, abs=1e-6), (query, words)
            window = tuple(p for w in words[got[key].first_word : got[key].last_word + 1] for p in w)
            assert phone_distance(query, window, costs) == pytest.approx(d, abs=1e-6)


def test_stored_phones_round_trip():
    words = (P("M AH"), (), P("K OW CH"))
    assert encode_phones(words) == "M AH||K OW CH"
    assert decode_phones(encode_phones(words)) == words
    assert decode_phones("") == decode_phones(None) == ()
    with pytest.raises(ValueError, match="not ARPAbet"):
        decode_phones("M AH|XX")


def test_utterance_phones_say_numbers_and_abbreviations(pronouncer):
    phones = utterance_phones(["$40", "Dr.", "coach"], pronouncer)
    assert phones == (P("F AO R T IY D AA L ER Z"), P("D AA K T ER"), P("K OW CH"))
    assert query_variants("basketball coach", pronouncer) == [P("B AE S K AH T B AO L K OW CH")]
    assert P("R EH D") in query_variants("read", pronouncer) and P("R IY D") in query_variants("read", pronouncer)


# --- ranking --------------------------------------------------------------------------------


def _line(key, text):
    return SpokenLine(key, tuple((w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(text.split())), "")


def test_rank_lines_puts_words_first_then_phonetic_with_evidence(pronouncer):
    from tempme.index.words.wordnorm import search_form

    texts = {
        "exact": "the basketball coach shouted",
        "half": "the coach was late",
        "heard": "the musket ball coach shouted",
        "far": "we went home early",
    }
    lines = {k: SpokenLine(k, _line(k, t).words, search_form(t)) for k, t in texts.items()}
    index = PhoneIndex((k, utterance_phones(t.split(), pronouncer)) for k, t in texts.items())
    (q,) = query_variants("basketball coach", pronouncer)
    ranked = rank_lines("basketball coach", lines, ["exact", "half"], index.search(q), min_phonetic=0.7)
    assert [m.key for m in ranked] == ["exact", "heard", "half"]
    exact, heard, half = ranked
    assert (exact.kind, exact.score, exact.first_word, exact.last_word) == ("exact", 1.0, 1, 2)
    assert heard.kind == "phonetic" and heard.heard_as == "musket ball coach"
    assert heard.score == pytest.approx(0.9 * (1 - 1.7 / 11.6), abs=1e-3)
    assert (half.kind, half.score) == ("exact", 0.5)


def test_rank_lines_normalised_match_scores_below_an_exact_one():
    from tempme.index.words.wordnorm import search_form

    texts = {"digits": "tickets cost $40 each", "words": "tickets cost forty dollars each"}
    lines = {k: SpokenLine(k, _line(k, t).words, search_form(t)) for k, t in texts.items()}
    ranked = rank_lines("forty dollars", lines, ["digits", "words"])
    assert [(m.key, m.kind, m.score) for m in ranked] == [("words", "exact", 1.0), ("digits", "normalised", 0.95)]
    assert (ranked[1].first_word, ranked[1].last_word) == (2, 2)  # "$40"
    lines = {
        "joined": SpokenLine("joined", _line("joined", "the toothbrush is here").words, search_form("the toothbrush"))
    }
    (m,) = rank_lines("tooth brush", lines, ["joined"])
    assert (m.kind, m.score, m.first_word, m.last_word) == ("normalised", 0.95, 1, 1)
