"""The English search form (index/words/wordnorm.py) and word coverage (index/query/spoken.py) on a
table of hand-written cases: what a recogniser writes against what a person types.

The expected values are written by hand from how English is said and spelled, not computed by
the code under test; Whisper's normaliser (the library we build on) is checked on the cases it is
documented for (whisper/normalizers/english.py: numbers, titles, British spellings)."""

from __future__ import annotations

import pytest
from tempme.index.query.spoken import coverage, query_units
from tempme.index.words.wordnorm import normalize, search_form, spell_number, spoken_words

# (written one way, written the other way): the second must cover every word of the first in the
# normalised count, and the exact count must be below 1 (they differ as written)
SAME = [
    ("forty dollars", "$40"),
    ("$40", "forty dollars"),
    ("seven thirty", "7.30"),
    ("seven thirty", "7:30"),
    ("7.30", "seven thirty"),
    ("nine forty five", "9:45"),
    ("300 bicycles", "three hundred bicycles"),
    ("three hundred bicycles", "300 bicycles"),
    ("three hundred sixty five days", "365 days"),
    ("50,000 fans", "fifty thousand fans"),
    ("1945", "nineteen forty five"),
    ("built in 1889", "built in eighteen eighty nine"),
    ("20 percent off", "twenty percent off"),
    ("20 percent off", "20% off"),
    ("1st place", "first place"),
    ("eight o'clock", "8 o'clock"),
    ("fifteen dollars", "$15"),
    ("St. Petersburg", "Saint Petersburg"),
    ("Saint Petersburg", "St. Petersburg"),
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Jones", "Mister Jones"),
    ("Mt. Everest", "Mount Everest"),
    ("Fifth Ave", "Fifth Avenue"),
    ("Gen. Morrison", "General Morrison"),
    ("color of the sofa", "the colour of the sofa"),
    ("organized a party", "organised a party"),
    ("neighbor's dog", "the neighbour's dog"),
    ("jewelry shop", "the jewellery shop"),
    ("software update", "soft-ware update"),
    ("e-mail inbox", "email inbox"),
    ("wooden see-saw", "wooden seesaw"),
    ("web site was down", "the website was down"),
    ("notebook on the book shelf", "notebook on the bookshelf"),
    ("tooth brush", "the toothbrush"),
    ("skate board park", "the skateboard park"),
    ("we're gonna win", "we are going to win"),
]

# (query, transcript, normalised coverage by hand): near misses must stay partial
PARTIAL = [
    ("forty dollars", "$14", 0.5),  # "dollars" only
    ("seven thirty", "7.13", 0.5),  # "seven" only
    ("software update", "soft wear-up date", 0.5),  # "update" (up + date), not "software"
    ("basketball coach", "musket ball coach", 0.5),  # a job for the phonetic matcher
    ("Lake Geneva", "Lake Janima", 0.5),
    ("Dr. Smith", "Doctor Jones", 0.5),
]


@pytest.mark.parametrize("query,heard", SAME)
def test_either_spelling_covers_the_other(query, heard):
    exact, normalised = coverage(query, heard.split())
    assert normalised == 1.0, (query, heard, search_form(query), search_form(heard))
    assert exact < 1.0 or query.casefold().split() == heard.casefold().split()


@pytest.mark.parametrize("query,heard,expected", PARTIAL)
def test_near_misses_stay_partial(query, heard, expected):
    assert coverage(query, heard.split())[1] == pytest.approx(expected)


def test_exact_words_count_as_exact():
    assert coverage("grocery list", "add milk to the grocery list".split()) == (1.0, 1.0)
    assert coverage("tickets", "two tickets please".split())[0] == 1.0  # plural by stem
    assert coverage("grocery list", "nothing here".split()) == (0.0, 0.0)


def test_query_units_keep_what_was_typed_and_drop_stop_words():
    assert query_units("the $40 ticket for St. Patrick's day") == ["$40", "ticket", "St.", "Patrick's", "day"]
    assert query_units("the who") == ["the", "who"]  # only stop words: all kept


@pytest.mark.parametrize(
    "text,canonical",
    [
        ("Forty dollars", "$40"),  # Whisper's normaliser: number words and currency to digits
        ("three hundred bicycles", "300 bicycles"),
        ("St. Petersburg", "saint petersburg"),  # its titles
        ("Dr. Smith", "doctor smith"),
        ("the colour grey", "the color gray"),  # its British -> American spellings
        ("we're gonna win", "we are going to win"),  # its contractions
        ("Meet at 7:30", "meet at 7 30"),  # ours: clock times
        ("Meet at 7.30", "meet at 7 30"),
        ("four o'clock", "4 oclock"),  # Whisper alone: "40 clock"
        ("the U.S.A. team", "the usa team"),
        ("Mt. Everest", "mount everest"),
        ("Fifth Ave.", "5th avenue"),
        ("the 3.5 kilo bag", "the 3.5 kilo bag"),  # a decimal is not a time
    ],
)
def test_normalize_by_hand(text, canonical):
    assert normalize(text) == canonical


@pytest.mark.parametrize(
    "token,readings",
    [
        ("$40", [["forty", "dollars"]]),
        ("$1", [["one", "dollar"]]),
        ("£5", [["five", "pounds"]]),
        ("$3.50", [["three", "dollars", "fifty"]]),
        ("300", [["three", "hundred"]]),
        ("730", [["seven", "hundred", "thirty"], ["seven", "thirty"]]),
        ("1999", [["nineteen", "ninety", "nine"], ["one", "thousand", "nine", "hundred", "ninety", "nine"]]),
        ("10,000", [["ten", "thousand"]]),
        ("21st", [["twenty", "first"]]),
        ("40%", [["forty", "percent"]]),
        ("3.5", [["three", "point", "five"]]),
        ("1990s", [["nineteen", "nineties"], ["one", "thousand", "nine", "hundred", "nineties"]]),
        ("hello", []),
    ],
)
def test_spell_number_by_hand(token, readings):
    assert spell_number(token) == readings


@pytest.mark.parametrize(
    "text,words",
    [
        ("$40 tickets", ["forty", "dollars", "tickets"]),
        ("at 7.30", ["at", "seven", "thirty"]),
        ("at 7:05", ["at", "seven", "oh", "five"]),
        ("at 7:00", ["at", "seven"]),
        ("Dr. Smith", ["doctor", "smith"]),
        ("St. Petersburg", ["saint", "petersburg"]),
        ("soft-ware", ["soft", "ware"]),
        ("the colour", ["the", "colour"]),  # as written: phones of the word itself
        ("U.S.A.", ["u", "s", "a"]),
        ("in 1999", ["in", "nineteen", "ninety", "nine"]),
    ],
)
def test_spoken_words_by_hand(text, words):
    assert spoken_words(text) == words


def test_search_form_holds_the_canonical_form_and_the_spelled_numbers_and_compounds():
    form = search_form("Soft-ware costs $40")
    assert form.startswith("soft ware costs $40")
    for extra in ("software", "forty", "dollars"):
        assert extra in form.split()
    assert search_form("") == ""
    assert "ofthe" not in search_form("top of the hill").split()  # no joins with stop words
