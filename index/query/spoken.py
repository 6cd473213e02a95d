"""One ranking of spoken lines for a query: word matches first, phonetic matches after them.

Three kinds of evidence that a line of a transcript says the query:

- ``exact``: the query's words (stop words aside) are words of the line as recognised;
- ``normalised``: they are words of the line's search form (:func:`tempme.index.words.wordnorm.search_form`,
  the query in the same form): "$40" for *forty dollars*, "St." for *Saint*;
- ``phonetic``: a window of the line's words sounds like the query
  (:class:`tempme.index.words.phonetic.PhoneIndex`): "musket ball coach" for *basketball coach*.

:func:`rank_lines` scores each line in [0, 1] by its best kind: the fraction of the query's terms
found, times :data:`KIND_WEIGHT` (1.0 exact, 0.95 normalised), or the phonetic score times 0.9.
A line that has every query word therefore always ranks above one that only sounds like it
(1.0 > 0.95 > 0.9 x a phonetic score of at most 1), and a line with half of the words (0.5)
below a close phonetic match of the whole phrase (0.9 x 0.85). Ties keep the full-text engine's
order (BM25), then the phonetic order. Each match says what was heard ("heard as: musket ball
coach") and which words of the line carry it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from tempme.index.catalog import STOP_WORDS
from tempme.index.words.phonetic import PhoneticMatch
from tempme.index.words.wordnorm import search_form

KINDS = ("exact", "normalised", "phonetic")
KIND_WEIGHT = {"exact": 1.0, "normalised": 0.95, "phonetic": 0.9}
# phonetic matches below this score are not evidence: on bench/speech.py's clean set 0.2% of the
# lines that do not hold a query's phrase reach 0.6 (the best such line per query: median 0.52,
# 99th percentile 0.76)
# (docs/speech.md has the sweep: recall@5 0.967 at 0.5, 0.95 at 0.6-0.7, 0.942 at 0.75)
MIN_PHONETIC = 0.7


@dataclass(frozen=True)
class SpokenLine:
    """A stored utterance: its words as recognised (with ``[start_s, end_s)``) and search form."""

    key: Hashable
    words: tuple[tuple[str, float, float], ...]
    search_text: str

    @property
    def text(self) -> str:
        return " ".join(w for w, _, _ in self.words)


@dataclass(frozen=True)
class SpeechMatch:
    """One line's evidence for a query.

    Attributes:
        key: the line.
        kind: ``exact``, ``normalised`` or ``phonetic`` (the kind that gave ``score``).
        score: in [0, 1] (see the module docstring).
        first_word, last_word: the words of the line that carry the match (inclusive), in the
            order of ``SpokenLine.words``; for word matches, the first and last matched word.
        heard_as: for phonetic matches, those words as recognised; else None.
    """

    key: Hashable
    kind: str
    score: float
    first_word: int
    last_word: int
    heard_as: str | None = None


def _stem(word: str) -> str:
    """A crude English stem (plural and tense endings), to compare words the way FTS5's
    Porter tokenizer lets them match."""
    w = word.casefold().strip("'’.,!?;:\"")
    return re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w


def terms(text: str) -> set[str]:
    """Stems of the words of ``text`` (``\\w+``, lower case)."""
    return {_stem(w) for w in re.findall(r"\w+", text.casefold())}


def query_units(query: str) -> list[str]:
    """The words of a query as typed (split at spaces, "$40", "St.", "ice-cream" kept whole),
    stop words dropped (all kept if only stop words)."""
    units = [u.strip(',;:!?"()') for u in query.split()]
    units = [u for u in units if re.search(r"\w", u)]
    kept = [u for u in units if u.casefold().strip(".'’") not in STOP_WORDS]
    return kept or units


@lru_cache(maxsize=1 << 16)
def _forms(unit: str) -> frozenset[str]:
    """What a query word may be written as in a line's search form: its own search form's terms
    (cached: the normaliser costs about 1 ms a call, and lines repeat their words)."""
    return frozenset(terms(search_form(unit)) | terms(unit))


def coverage(query: str, words: Sequence[str], search_text: str | None = None) -> tuple[float, float]:
    """(exact, normalised): the fraction of the query's words (:func:`query_units`) found among
    ``words`` as recognised, and among the terms of their search form (``search_text``, computed
    when None). In the normalised count a query word is also found when it makes a compound
    with its neighbour ("book shelf" / "bookshelf") that the line has.

    Examples (hand-checked in tests/test_wordnorm.py): "forty dollars" in "$40" is (0, 1);
    "seven thirty" in "7.30" is (0, 1); "software update" in "soft wear-up date" is (0, 0.5)."""
    units = query_units(query)
    if not units:
        return 0.0, 0.0
    raw = set().union(*(terms(w) for w in words)) if words else set()
    line = terms(search_text if search_text is not None else search_form(" ".join(words)))
    exact = sum(bool(terms(u) and terms(u) <= raw) for u in units) / len(units)
    hit = [bool(_forms(u) & line) for u in units]
    for i in range(len(units) - 1):  # compounds written together in the line
        joined = _stem(re.sub(r"\W", "", units[i] + units[i + 1]))
        if joined in line:
            hit[i] = hit[i + 1] = True
    return exact, sum(hit) / len(units)


def _span(query: str, words: Sequence[str]) -> tuple[int, int]:
    """First and last recognised word that shares a form with a query word (the whole line if
    none does)."""
    units = query_units(query)
    forms = set().union(*(_forms(u) for u in units)) if units else set()
    forms |= {_stem(re.sub(r"\W", "", a + b)) for a, b in zip(units, units[1:])}  # "tooth brush"
    hits = [i for i, w in enumerate(words) if _forms(w) & forms]
    return (hits[0], hits[-1]) if hits else (0, max(len(words) - 1, 0))


def rank_lines(
    query: str,
    lines: dict[Hashable, SpokenLine],
    word_keys: Sequence[Hashable],
    phonetic: Sequence[PhoneticMatch] = (),
    min_phonetic: float = MIN_PHONETIC,
    k: int | None = None,
) -> list[SpeechMatch]:
    """Rank the lines that the full-text index (``word_keys``, its order) or the phonetic index
    (``phonetic``) found for ``query``.

    Args:
        query: as typed.
        lines: every line mentioned in ``word_keys`` / ``phonetic``.
        word_keys: lines the full-text search returned, most relevant first.
        phonetic: phonetic matches (one per line), best first.
        min_phonetic: phonetic matches below this phonetic score are dropped
            (:data:`MIN_PHONETIC`).
        k: at most this many matches.
    """
    best: dict[Hashable, tuple[float, int, SpeechMatch]] = {}  # key -> (score, tie order, match)

    def offer(m: SpeechMatch, order: int) -> None:
        old = best.get(m.key)
        if old is None or (m.score, -order) > (old[0], -old[1]):
            best[m.key] = (m.score, order, m)

    for order, key in enumerate(word_keys):
        line = lines[key]
        raw = [w for w, _, _ in line.words]
        ce, cn = coverage(query, raw, line.search_text)
        a, b = _span(query, raw)
        if ce > 0 and ce * KIND_WEIGHT["exact"] >= cn * KIND_WEIGHT["normalised"]:
            offer(SpeechMatch(key, "exact", round(ce * KIND_WEIGHT["exact"], 4), a, b), order)
        elif cn > 0:
            offer(SpeechMatch(key, "normalised", round(cn * KIND_WEIGHT["normalised"], 4), a, b), order)
    base = len(word_keys)
    for order, m in enumerate(phonetic):
        if m.score < min_phonetic:
            continue
        line = lines[m.key]
        heard = " ".join(w for w, _, _ in line.words[m.first_word : m.last_word + 1])
        score = round(m.score * KIND_WEIGHT["phonetic"], 4)
        offer(SpeechMatch(m.key, "phonetic", score, m.first_word, m.last_word, heard), base + order)
    ranked = sorted(best.values(), key=lambda t: (-t[0], t[1]))
    out = [m for _, _, m in ranked]
    return out[:k] if k is not None else out


__all__ = [
    "KINDS",
    "KIND_WEIGHT",
    "MIN_PHONETIC",
    "SpeechMatch",
    "SpokenLine",
    "coverage",
    "query_units",
    "rank_lines",
    "terms",
]
