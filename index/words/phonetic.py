"""Spoken-term detection on phones: finding "basketball coach" where the recogniser wrote
"musket ball coach".

A transcript's words become phones when it is indexed (:func:`utterance_phones`: each
recognised word as it is said, :func:`tempme.index.words.wordnorm.spoken_words`, through
:class:`tempme.index.words.g2p.Pronouncer`), stored per utterance as text (:func:`encode_phones`,
one ``|``-separated group per recognised word, so phones keep the words' times). A query's words
become phones the same way. :class:`PhoneIndex` then finds, in every utterance, the window of
whole consecutive words whose phones are closest to the query's, by a weighted edit distance
(:class:`CostModel`): substitutions between acoustically close phones cost less than others.

Cost table (:class:`CostModel`, by phone class; the classes and pairs are the IPA's manner and
place of articulation for General American, as in CMUdict's phone set):

============================================  =====
same phone                                     0
close pair (:data:`CLOSE_PAIRS`: voicing        0.4
pairs P/B, T/D, K/G, F/V, TH/DH, S/Z, SH/ZH,
CH/JH; neighbouring places F/TH, S/SH, ...;
nasals M/N, N/NG; neighbouring vowels IH/IY,
AH/AA, AA/AO, EH/AE, ...; ER/R)
same class (vowels; stops; affricates with     0.7
stops or fricatives; fricatives with HH;
nasals; liquids and glides)
anything else                                   1.0
deleting / inserting a phone                    1.0
... a reduced vowel (AH, IH) or HH              0.6
============================================  =====

The score of a window is ``1 - cost / D`` (clipped at 0), ``D`` the cost of deleting every query
phone: 1.0 for identical phones, and a fraction of the query's phones got wrong below that.
"musket ball coach" against *basketball coach* costs B->M (1.0, stop for nasal) + AE->AH (0.7,
two vowels) = 1.7 against ``D`` = 11.6 (eleven phones at 1.0, one AH at 0.6): 0.853.

The search is one dynamic programme over all utterances at once (numpy; query phones x all
stored phones): the insertion recurrence along a row, ``D[i][j] = min_k (E[k] + ins(k..j))``,
is a running minimum (``np.minimum.accumulate``), with the windows starting and ending only at
word boundaries and an impassable separator between utterances.

Sources: spoken-term detection as NIST's 2006 STD evaluation posed it (Fiscus et al., "Results
of the 2006 Spoken Term Detection Evaluation", SIGIR 2007 workshop), phone-lattice / 1-best
phone matching with a phone confusion cost (e.g. Mamou, Ramabhadran & Siohan, "Vocabulary
independent spoken term detection", SIGIR 2007); weighted edit distance (Wagner & Fischer 1974).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from tempme.index.words.g2p import PHONES, VOWELS, Phones, Pronouncer
from tempme.index.words.wordnorm import spoken_words

STOPS = ("P", "B", "T", "D", "K", "G")
AFFRICATES = ("CH", "JH")
FRICATIVES = ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH")
NASALS = ("M", "N", "NG")
APPROXIMANTS = ("L", "R", "W", "Y")
CLASSES = (VOWELS, STOPS, AFFRICATES, FRICATIVES, NASALS, APPROXIMANTS)
# phone pairs that are easily heard one for the other: voicing pairs, neighbouring places of
# articulation, neighbouring vowels (General American)
CLOSE_PAIRS = frozenset(
    frozenset(p)
    for p in (
        ("P", "B"), ("T", "D"), ("K", "G"), ("F", "V"), ("TH", "DH"), ("S", "Z"), ("SH", "ZH"), ("CH", "JH"),
        ("F", "TH"), ("V", "DH"), ("S", "SH"), ("Z", "ZH"), ("CH", "SH"), ("JH", "ZH"), ("T", "CH"), ("D", "JH"),
        ("M", "N"), ("N", "NG"),
        ("IH", "IY"), ("UH", "UW"), ("EH", "AE"), ("AH", "AA"), ("AA", "AO"), ("AH", "IH"), ("AH", "UH"),
        ("AH", "EH"), ("EH", "EY"), ("OW", "AO"), ("AY", "AA"), ("AW", "AA"), ("OY", "AO"), ("AH", "ER"),
        ("ER", "R"), ("L", "W"), ("W", "UW"), ("Y", "IY"),
    )
)  # fmt: skip
REDUCED = ("AH", "IH", "HH")  # cheap to drop or add: the recogniser often does
_SEP = len(PHONES)  # the separator between utterances: never matched, never skipped
_INDEX = {p: i for i, p in enumerate(PHONES)}
_BLOCK = 1e4  # a cost no real alignment reaches: the separator's


@dataclass(frozen=True)
class CostModel:
    """Edit costs between ARPAbet phones (see the module docstring's table)."""

    close: float = 0.4
    same_class: float = 0.7
    other: float = 1.0
    indel: float = 1.0
    reduced_indel: float = 0.6

    def __post_init__(self) -> None:
        if not 0 <= self.close <= self.same_class <= self.other:
            raise ValueError(f"costs must grow close <= same_class <= other: {self}")
        if not 0 < self.reduced_indel <= self.indel:
            raise ValueError(f"reduced_indel must be in (0, indel]: {self}")

    def substitution(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        if frozenset((a, b)) in CLOSE_PAIRS:
            return self.close
        ca, cb = _class(a), _class(b)
        if ca == cb or {ca, cb} in ({2, 1}, {2, 3}):  # affricates go with stops and fricatives
            return self.same_class
        return self.other

    def indel_cost(self, p: str) -> float:
        """Deleting a query phone or inserting a heard one."""
        return self.reduced_indel if p in REDUCED else self.indel

    def deletion_total(self, phones: Sequence[str]) -> float:
        """The cost of matching nothing: the score's denominator."""
        return float(sum(self.indel_cost(p) for p in phones))

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(substitution (P+1, P+1), indel (P+1,)) over :data:`PHONES` plus the separator."""
        n = len(PHONES)
        sub = np.full((n + 1, n + 1), _BLOCK)
        for i, a in enumerate(PHONES):
            for j, b in enumerate(PHONES):
                sub[i, j] = self.substitution(a, b)
        indel = np.array([self.indel_cost(p) for p in PHONES] + [_BLOCK])
        return sub, indel


def _class(p: str) -> int:
    for i, members in enumerate(CLASSES):
        if p in members:
            return i
    raise KeyError(f"{p!r} is not an ARPAbet phone")


def phone_distance(query: Sequence[str], heard: Sequence[str], costs: CostModel = CostModel()) -> float:
    """Weighted edit distance (Wagner-Fischer) from ``query`` to ``heard``: the plain
    reference for :class:`PhoneIndex`, whole sequence against whole sequence."""
    prev = [0.0]
    for h in heard:
        prev.append(prev[-1] + costs.indel_cost(h))
    for q in query:
        cur = [prev[0] + costs.indel_cost(q)]
        for j, h in enumerate(heard, 1):
            cur.append(
                min(
                    prev[j] + costs.indel_cost(q),
                    prev[j - 1] + costs.substitution(q, h),
                    cur[j - 1] + costs.indel_cost(h),
                )
            )
        prev = cur
    return prev[-1]


# --- what is stored -------------------------------------------------------------------------

WordPhones = tuple[Phones, ...]  # one group of phones per recognised word


def encode_phones(words: WordPhones) -> str:
    """``(("M","AH"), (), ("K","OW","CH"))`` -> ``"M AH||K OW CH"`` (a word without phones is
    an empty group)."""
    return "|".join(" ".join(p) for p in words)


def decode_phones(text: str | None) -> WordPhones:
    """Inverse of :func:`encode_phones`; None or "" -> ``()``.

    Raises:
        ValueError: a symbol that is not an ARPAbet phone.
    """
    if not text:
        return ()
    out = tuple(tuple(g.split()) for g in text.split("|"))
    bad = {p for g in out for p in g if p not in _INDEX}
    if bad:
        raise ValueError(f"not ARPAbet phones: {sorted(bad)}")
    return out


def utterance_phones(words: Iterable[str], pronouncer: Pronouncer) -> WordPhones:
    """Phones of each recognised word as it is said (numbers spelled, abbreviations expanded;
    a word that spells as several, "$40", gets all their phones)."""
    spoken = [spoken_words(w) for w in words]
    flat = pronouncer.pronounce(itertools.chain.from_iterable(spoken))
    out, at = [], 0
    for parts in spoken:
        out.append(tuple(itertools.chain.from_iterable(flat[at : at + len(parts)])))
        at += len(parts)
    return tuple(out)


def query_variants(query: str, pronouncer: Pronouncer, limit: int = 8) -> list[Phones]:
    """The query's phone strings: each spoken word's dictionary pronunciations combined, at most
    ``limit`` (the first pronunciations first)."""
    words = spoken_words(query)
    options = [pronouncer.variants(w) or ((),) for w in words]
    out = []
    for combo in itertools.islice(itertools.product(*options), limit):
        phones = tuple(itertools.chain.from_iterable(combo))
        if phones and phones not in out:
            out.append(phones)
    return out


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneticMatch:
    """The best window of one utterance: words ``first_word .. last_word`` (inclusive, indices
    into the utterance's words), ``score`` in [0, 1], ``cost`` the weighted edit distance."""

    key: Hashable
    first_word: int
    last_word: int
    score: float
    cost: float


class PhoneIndex:
    """All utterances' phones in one array, searched by one dynamic programme per query.

    Args:
        utterances: ``(key, word phones)`` per utterance (keys are returned with matches).
        costs: the edit costs.
    """

    def __init__(self, utterances: Iterable[tuple[Hashable, WordPhones]], costs: CostModel = CostModel()):
        self.costs = costs
        self._sub, self._indel = costs.matrices()
        keys, phones, starts, ends, utt_of, word_of = [], [], [], [], [], []
        for key, words in utterances:
            if not any(words):
                continue
            u = len(keys)
            keys.append(key)
            for w, group in enumerate(words):
                for k, p in enumerate(group):
                    phones.append(_INDEX[p])
                    starts.append(k == 0)
                    ends.append(k == len(group) - 1)
                    utt_of.append(u)
                    word_of.append(w)
            phones.append(_SEP)
            starts.append(False)
            ends.append(False)
            utt_of.append(-1)
            word_of.append(-1)
        self.keys = keys
        self.phones = np.array(phones, np.int16)  # (M,)
        n = len(phones)
        # positions 0..M are the boundaries between phones: a window starts at boundary j when
        # phone j starts a word, and ends at boundary j when phone j-1 ends one
        self._start = np.zeros(n + 1, bool)
        self._start[:n] = starts
        self._end = np.zeros(n + 1, bool)
        self._end[1:] = ends
        self._utt = np.array(utt_of, np.int64)
        self._word = np.array(word_of, np.int64)
        self._cum_ins = np.concatenate([[0.0], np.cumsum(self._indel[self.phones])]) if n else np.zeros(1)

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, query: Sequence[str], k: int | None = None, min_score: float = 0.0) -> list[PhoneticMatch]:
        """The best window of each utterance for ``query`` (ARPAbet phones), best first, those
        scoring at least ``min_score``, at most ``k``.

        Cost: O(len(query) x stored phones) numpy operations.
        """
        if not query or not len(self.keys):
            return []
        q = [_INDEX[p] for p in query]
        n = len(self.phones)
        pos = np.arange(n + 1)
        c = self._cum_ins

        def skip_heard(e: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Heard phones left unmatched: D[j] = C[j] + min_{k<=j} (E[k] - C[k])."""
            v = e - c
            run = np.minimum.accumulate(v)
            arg = np.maximum.accumulate(np.where(v <= run, pos, 0))
            return c + run, se[arg]

        # row 0, nothing of the query matched yet: a window starts at a word, and may begin with
        # heard phones that match nothing
        d, s = skip_heard(np.where(self._start, 0.0, _BLOCK), pos.copy())
        for qi in q:
            e = d + self._indel[qi]  # the query phone left unmatched
            diag = d[:-1] + self._sub[qi, self.phones]  # matched with the heard phone j-1
            better = diag < e[1:]
            e = e.copy()
            e[1:] = np.where(better, diag, e[1:])
            se = s.copy()
            se[1:] = np.where(better, s[:-1], s[1:])
            d, s = skip_heard(e, se)
        ends = np.flatnonzero(self._end & (d < _BLOCK / 2))
        if not len(ends):
            return []
        cost, start = d[ends], s[ends]
        utt = self._utt[ends - 1]
        total = self.costs.deletion_total(query)
        order = np.lexsort((ends - start, cost, utt))  # per utterance: cheapest, then shortest
        first = np.ones(len(order), bool)
        first[1:] = utt[order][1:] != utt[order][:-1]
        best = order[first]
        score = np.clip(1.0 - cost[best] / total, 0.0, 1.0)
        keep = best[score >= min_score]
        score = score[score >= min_score]
        rank = np.argsort(-score, kind="stable")
        if k is not None:
            rank = rank[:k]
        return [
            PhoneticMatch(
                key=self.keys[int(utt[keep[i]])],
                first_word=int(self._word[start[keep[i]]]),
                last_word=int(self._word[ends[keep[i]] - 1]),
                score=round(float(score[i]), 4),
                cost=round(float(cost[keep[i]]), 4),
            )
            for i in rank
        ]


__all__ = [
    "CLOSE_PAIRS",
    "CostModel",
    "PhoneIndex",
    "PhoneticMatch",
    "WordPhones",
    "decode_phones",
    "encode_phones",
    "phone_distance",
    "query_variants",
    "utterance_phones",
]
