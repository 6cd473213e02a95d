"""What each hit means: its :class:`~tempme.index.hits.Confidence` from its evidence.

- **Visual evidence** (a cosine): an empirical p-value against the library's null
  (:mod:`tempme.index.nulls`; the text null for text queries, the video null for "more like
  this").
- **Speech and on-screen text** (the words of a line): :func:`text_evidence`. ``coverage`` is
  the fraction of the query's content words (stop words dropped, as the full-text search drops
  them: :func:`tempme.index.catalog.query_terms`) found in the line; ``order`` the fraction of
  neighbouring matched words that appear in the query's order; ``proximity`` the matched words
  over the width (in content words) of the shortest window of the line holding them all. The
  score is

      coverage x (0.75 + 0.25 x (order + proximity) / 2) x KIND_FACTOR[kind]

  (x the phonetic score for a ``phonetic`` match), so coverage decides and the arrangement
  refines: every word, adjacent and in order, is 1.0; four words of five at best 0.8. Levels at
  :data:`TEXT_CUTS` (0.85 / 0.5 / any match). A ``normalised`` match ("$40" for *forty
  dollars*) is worth 0.9 of an exact one, a ``phonetic`` one (a line that only sounds like the
  query) at most 0.8, so never ``high``. Term coverage and proximity as in proximity ranking
  (Tao & Zhai, "An exploration of proximity measures in information retrieval", SIGIR 2007),
  mapped to levels by hand-chosen cut-offs, not calibrated against a null.
- **Fused hits** carry the best level of their evidence (:func:`~tempme.index.hits.best_confidence`)
  and the p-value of their visual evidence (:func:`judge`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tempme.index.catalog import STOP_WORDS, query_terms
from tempme.index.hits import Confidence, Hit, best_confidence
from tempme.index.nulls import NullDistribution
from tempme.index.query.text import stem

MATCH_KINDS = ("exact", "normalised", "phonetic")
KIND_FACTOR = {"exact": 1.0, "normalised": 0.9, "phonetic": 0.8}
TEXT_CUTS = {Confidence.HIGH: 0.85, Confidence.MEDIUM: 0.5}  # score >= cut; any match at all: low
ARRANGEMENT_WEIGHT = 0.25  # how much order and proximity can take off a full coverage


@dataclass(frozen=True)
class TextEvidence:
    """How well a line (utterance or on-screen text) says the query; see the module docstring.

    Attributes:
        terms: the query's content words (in query order).
        matched: which of them the line has.
        coverage: ``len(matched) / len(terms)``, in [0, 1].
        order: neighbouring matched words in the query's order, in [0, 1] (1 for fewer than 2).
        proximity: matched words / width of the shortest window holding them (stop words not
            counted), in (0, 1].
        kind: ``exact``, ``normalised`` or ``phonetic``.
        score: in [0, 1].
    """

    terms: tuple[str, ...]
    matched: tuple[str, ...]
    coverage: float
    order: float
    proximity: float
    kind: str
    score: float

    @property
    def confidence(self) -> Confidence:
        if self.score >= TEXT_CUTS[Confidence.HIGH]:
            return Confidence.HIGH
        if self.score >= TEXT_CUTS[Confidence.MEDIUM]:
            return Confidence.MEDIUM
        return Confidence.LOW if self.score > 0 else Confidence.NONE


def shortest_window(positions: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The shortest ``[first, last]`` range of positions that holds one position of every list
    (each non-empty), leftmost on ties: the classic minimum-window cover by a sweep over the
    merged, sorted positions.

    Raises:
        ValueError: no lists, or an empty one."""
    if not positions or any(len(p) == 0 for p in positions):
        raise ValueError("every term needs at least one position")
    events = sorted((pos, t) for t, ps in enumerate(positions) for pos in ps)
    count: dict[int, int] = {}
    best = (events[0][0], events[-1][0])
    left = 0
    for pos, t in events:
        count[t] = count.get(t, 0) + 1
        while len(count) == len(positions):
            lpos, lt = events[left]
            if pos - lpos < best[1] - best[0]:
                best = (lpos, pos)
            count[lt] -= 1
            if not count[lt]:
                del count[lt]
            left += 1
    return best


def _arrangement(found: list[list[int]]) -> tuple[float, float]:
    """(order, proximity) of the matched terms' positions (query order; one list per term)."""
    if len(found) < 2:
        return 1.0, 1.0
    first, last = shortest_window(found)
    proximity = len(found) / (last - first + 1)
    # the query index of the word at each matched position of the window, in line order
    in_window = sorted((p, qi) for qi, ps in enumerate(found) for p in ps if first <= p <= last)
    seq = list(dict.fromkeys(qi for _, qi in in_window))
    return sum(a < b for a, b in zip(seq, seq[1:])) / (len(seq) - 1), proximity


def text_evidence(
    query: str,
    words: Sequence[str],
    *,
    kind: str = "exact",
    phonetic_score: float | None = None,
    key: Callable[[str], str] | None = None,
) -> TextEvidence:
    """Score how well the line ``words`` (as recognised or read, in order; for a ``normalised``
    match, the line's search form) says ``query``.

    Args:
        key: maps a lower-case word to what is compared (the full-text search's :func:`stem`
            in searches); default: the word itself.
        phonetic_score: for ``kind="phonetic"``, the matcher's score in [0, 1].

    Raises:
        ValueError: an unknown ``kind``, or a phonetic match without a score in [0, 1].
    """
    if kind not in MATCH_KINDS:
        raise ValueError(f"kind must be one of {MATCH_KINDS}, got {kind!r}")
    if kind == "phonetic" and (phonetic_score is None or not 0.0 <= phonetic_score <= 1.0):
        raise ValueError(f"a phonetic match needs a phonetic_score in [0, 1], got {phonetic_score!r}")
    key = key or (lambda w: w)
    terms = tuple(query_terms(query))
    # one position per content word of the line: stop words neither match nor keep words apart
    # (unless the query is made of them only, as query_terms then keeps them)
    tokens = [t for w in words for t in re.findall(r"\w+", w.casefold())]
    line = [key(t) for t in tokens if t not in STOP_WORDS or t in terms]
    spots = [[i for i, t in enumerate(line) if t == key(term)] for term in terms]
    found = [(term, ps) for term, ps in zip(terms, spots) if ps]
    coverage = len(found) / len(terms) if terms else 0.0
    order, proximity = _arrangement([ps for _, ps in found])
    arrangement = (order + proximity) / 2
    score = coverage * (1 - ARRANGEMENT_WEIGHT + ARRANGEMENT_WEIGHT * arrangement) * KIND_FACTOR[kind]
    if kind == "phonetic":
        score *= float(phonetic_score)
    return TextEvidence(terms, tuple(t for t, _ in found), coverage, order, proximity, kind, round(score, 6))


def judge(hits: list[Hit], query: str | None, null: NullDistribution | None) -> list[Hit]:
    """``hits`` with their ``confidence`` and ``p_value``: the visual evidence (``visual_score``)
    against ``null`` (None, none stored or computable: that evidence counts ``none``), each
    spoken or on-screen line against ``query`` (None for "more like this")."""
    out = []
    for h in hits:
        p, levels = None, []
        if h.visual_score is not None and null is not None:
            p, level = null.confidence(h.visual_score)
            levels.append(level)
        for line in (h.transcript, h.ocr_text):
            if line and query:
                levels.append(text_evidence(query, line.split(), key=stem).confidence)
        out.append(replace(h, confidence=best_confidence(levels), p_value=p))
    return out
