"""Calibrated confidence: what a match means for this library and encoder, not only its rank.

A cosine of 0.27 is a strong match for one encoder and library and noise for another, so the
raw score cannot say "no good match". Two kinds of evidence get one scale,
:class:`Confidence` (``none < low < medium < high``):

**Vector hits: an empirical p-value against a null distribution.** The null is what a query
*with nothing to find* scores in this library: the top-1 cosine that each of a fixed set of
content-free queries reaches over all of the library's segments (:func:`null_prompts`: neutral
captions such as "a video", pronounceable nonsense, random characters, numbers, abstract word
salad; :data:`NULL_SIZE` = 999 of them, fixed by :data:`NULL_VERSION`). A hit scoring ``s`` gets

    p = (1 + #{null top-1 scores >= s}) / (1 + N)

(the "+1" estimator of Davison & Hinkley, *Bootstrap Methods*, 1997, eq. 4.11; North, Curtis &
Sham, *Am. J. Hum. Genet.* 71, 2002; Phipson & Smyth, "Permutation p-values should never be
zero", *SAGMB* 9, 2010), and :func:`confidence_of_p` turns it into a level at the classical
cut-offs :data:`P_CUTS` (0.001 / 0.01 / 0.05). With N = 999 the smallest p is 0.001, so
``high`` means the hit beats the best match of every content-free query. Because each null
value is a *maximum over the library*, the p-value already accounts for having searched every
segment (the max-statistic correction of Westfall & Young, *Resampling-Based Multiple Testing*,
1993). This is score normalisation against an impostor distribution, as in speaker
verification: Z-norm scales a speaker model's scores by its scores on a cohort of impostor
utterances, T-norm a test utterance's by its scores against a cohort of impostor models
(Auckenthaler, Carey & Lloyd-Thomas, *Digital Signal Processing* 10, 2000; Reynolds, 1997);
here the impostors are the null queries and the statistic is the rank among them rather than a
z-score, which needs no normality assumption. It answers the complaint that a search engine
with no threshold shows confident results for anything (Immich issue #5996 and discussion
#8377; the closed PR #21537 offered a fixed ``maxDistance``, and fixed cosine thresholds do not
carry over between models or libraries).

"Find moments like this one" queries are videos, not text, and CLIP-style encoders put the two
modalities in separate cones (Liang et al., "Mind the Gap", NeurIPS 2022): a video-video cosine
of 0.6 is ordinary where a text-video cosine of 0.3 is excellent. Those queries get their own
null (:data:`VIDEO`): for a sample of segments, the best cosine to a segment of *another* video
(:func:`cross_video_top1`).

Limits, said wherever confidence is shown (docs/app.md):

- The null is computed from the library as it was (segments ``NullDistribution.segments``) and
  refreshed when it grows or shrinks by :data:`GROWTH`; in between, a grown library's null
  maxima are somewhat higher than recorded, so p-values are slightly optimistic.
- Every hit is compared with the *top-1* null, so a rank-5 hit is asked "would this have been a
  credible best match?": conservative for lower ranks. A filtered search (a folder, a duration)
  searches fewer segments than the null did: conservative too.
- It measures "better than a query about nothing", not "what you meant": a query about a
  common subject will find credible matches of that subject even when the wanted moment is
  missing. With random weights (an untrained encoder) the scores carry no meaning and real
  queries land in the null: p-values are then about uniform, so about 5% of queries still reach
  ``low`` and 1% ``medium`` by chance, which is what a p-value promises and why random weights
  are also said in words.
- The video null is at most as large as the library's segment count: a library of 50 segments
  cannot say better than p = 1/51 (``low``) for "more like this".

**Speech and on-screen text hits: the share of the query's content words, and their
arrangement.** :func:`text_evidence`: ``coverage`` is the fraction of the query's words (stop
words dropped, :func:`tempme.index.catalog.query_terms`) found in the line; ``order`` the
fraction of neighbouring matched words that appear in the query's order; ``proximity`` the
matched words over the width (in content words) of the shortest window of the line holding them
all. The score is

    coverage x (0.75 + 0.25 x (order + proximity) / 2) x KIND_FACTOR[kind]

(x the phonetic score for a ``phonetic`` match), so coverage decides and the arrangement refines:
every word, adjacent and in order, is 1.0; four words of five at best 0.8. Levels at
:data:`TEXT_CUTS` (0.85 / 0.5 / any match). A ``normalised`` match ("$40" for *forty dollars*)
is worth 0.9 of an exact one, and a ``phonetic`` one (a line that only sounds like the query)
at most 0.8, so it can never be ``high``. This is term coverage and proximity in the spirit of
proximity ranking (Tao & Zhai, "An exploration of proximity measures in information retrieval",
SIGIR 2007), mapped to levels by hand-chosen cut-offs, not calibrated against a null.

**Fused hits** carry the best confidence of their evidence (:func:`best_confidence`); the
query's :class:`Verdict` is "good matches" when some hit reaches ``medium``
(:data:`GOOD_FROM`), else "no good match for ..." with the closest moments shown dimmed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from tempme.index.catalog import STOP_WORDS, query_terms
from tempme.index.wording import plural


class Confidence(StrEnum):
    """How much a hit means, from ``none`` (what a query about nothing also gets) to ``high``.
    Ordered: ``Confidence.LOW < Confidence.HIGH``."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def level(self) -> int:
        """0 (none) .. 3 (high)."""
        return _LEVELS.index(self)

    def _other(self, other: object) -> int | None:
        if isinstance(other, str):  # a plain "low" compares as the level, never alphabetically
            return Confidence.parse(other).level
        return None

    def __lt__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self.level < o

    def __le__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self.level <= o

    def __gt__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self.level > o

    def __ge__(self, other: object) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self.level >= o

    @classmethod
    def parse(cls, value: str | Confidence) -> Confidence:
        """The level named ``value`` (case-insensitive): the one check for the CLI, API and page.

        Raises:
            ValueError: not a level (the message lists them)."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"confidence must be one of {', '.join(CONFIDENCES)}, got {value!r}") from None


_LEVELS = (Confidence.NONE, Confidence.LOW, Confidence.MEDIUM, Confidence.HIGH)
CONFIDENCES = tuple(c.value for c in _LEVELS)  # ("none", "low", "medium", "high")

# ---- vector hits: empirical p-values ------------------------------------------------------------

P_CUTS = {Confidence.HIGH: 0.001, Confidence.MEDIUM: 0.01, Confidence.LOW: 0.05}  # p <= cut
NULL_SIZE = 999  # content-free queries: the smallest p-value is 1 / (NULL_SIZE + 1) = 0.001
NULL_VERSION = 1  # of :func:`null_prompts`; a stored null of another version is recomputed
GROWTH = 2.0  # recompute the null when the library's segment count changes by this factor
TEXT = "text"  # null of text queries
VIDEO = "video"  # null of "more like this" (segment) queries
QUERY_KINDS = (TEXT, VIDEO)
TIE_TOL = 1e-6  # cosines this close count as equal (FAISS and numpy differ in the last bits)

# (Q, D) float32 queries, k -> ((Q, k) scores, (Q, k) int64 ids; -1 where fewer than k), best first
SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def p_value(score: float, null: np.ndarray) -> float:
    """The empirical p-value of ``score`` against the null scores ``null`` ((N,), sorted
    ascending): ``(1 + #{null >= score}) / (1 + N)``; ties (within :data:`TIE_TOL`) count against
    the score. An empty null gives 1.0 (no evidence either way).

    Example: null [0.1, 0.2, 0.3, 0.4]: p(0.35) = 2/5, p(0.3) = 3/5, p(0.5) = 1/5.
    """
    null = np.asarray(null)
    above = len(null) - int(np.searchsorted(null, float(score) - TIE_TOL, side="left"))
    return (1 + above) / (1 + len(null))


def confidence_of_p(p: float | None) -> Confidence:
    """The level of a p-value at :data:`P_CUTS` (``None``, no vector evidence: ``none``)."""
    if p is None:
        return Confidence.NONE
    for level in (Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW):
        if p <= P_CUTS[level]:
            return level
    return Confidence.NONE


@dataclass(frozen=True)
class NullDistribution:
    """The null scores of one library, encoder and query kind, as stored in the catalog.

    Attributes:
        kind: :data:`TEXT` (top-1 cosine of each content-free prompt) or :data:`VIDEO` (a
            sampled segment's best cosine to another video's segment).
        scores: (N,) float32, sorted ascending.
        segments: the library's segment count when computed (for :meth:`stale`).
        version: :data:`NULL_VERSION` of the prompts it was computed with.
    """

    kind: str
    scores: np.ndarray
    segments: int
    version: int = NULL_VERSION

    def __post_init__(self) -> None:
        if self.kind not in QUERY_KINDS:
            raise ValueError(f"null kind must be one of {QUERY_KINDS}, got {self.kind!r}")
        scores = np.sort(np.asarray(self.scores, dtype=np.float32).ravel())
        if not np.all(np.isfinite(scores)):
            raise ValueError("null scores must be finite")
        object.__setattr__(self, "scores", scores)

    @property
    def size(self) -> int:
        return int(self.scores.shape[0])

    def p_value(self, score: float) -> float:
        """See :func:`p_value`."""
        return p_value(score, self.scores)

    def p_values(self, scores: Iterable[float]) -> list[float]:
        return [self.p_value(s) for s in scores]

    def confidence(self, score: float) -> tuple[float, Confidence]:
        """``(p, level)`` of a hit's cosine ``score``."""
        p = self.p_value(score)
        return p, confidence_of_p(p)

    def stale(self, segments: int, growth: float = GROWTH) -> bool:
        """True when it should be recomputed for a library of ``segments`` segments: another
        prompt version, or the library grew or shrank by ``growth`` (or more) since."""
        if self.version != NULL_VERSION:
            return True
        if self.segments <= 0:
            return segments > 0
        return segments >= growth * self.segments or segments * growth <= self.segments

    def to_bytes(self) -> bytes:
        """The scores as little-endian float32 (4 N bytes), for a catalog blob."""
        return self.scores.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, kind: str, blob: bytes, segments: int, version: int) -> NullDistribution:
        """The inverse of :meth:`to_bytes`.

        Raises:
            ValueError: ``blob`` is not a whole number of float32 values, or ``kind`` is unknown."""
        if len(blob) % 4:
            raise ValueError(f"a null blob holds float32 values: {len(blob)} bytes is not a multiple of 4")
        return cls(kind, np.frombuffer(blob, dtype="<f4").astype(np.float32), segments, version)

    def summary(self) -> dict:
        """For ``tempme stats``: size, library size, and the scores a hit must beat for each level."""
        need = {
            level.value: (
                None if self.size < round(1 / P_CUTS[level]) - 1 else float(_beat(self.scores, P_CUTS[level]))
            )
            for level in (Confidence.LOW, Confidence.MEDIUM, Confidence.HIGH)
        }
        return {"kind": self.kind, "size": self.size, "segments": self.segments, "version": self.version, "beat": need}


def _beat(scores: np.ndarray, cut: float) -> float:
    """The null score a hit must exceed (by more than TIE_TOL) for p <= ``cut``: the
    (m+1)-th largest, m = floor(cut (N + 1)) - 1 null scores being allowed above it."""
    allowed = int(np.floor(cut * (len(scores) + 1) + 1e-9)) - 1
    return scores[len(scores) - 1 - allowed]


# ---- the null queries ----------------------------------------------------------------------------

NEUTRAL = (
    "a video", "a photo", "an image", "a picture", "a clip", "a scene", "a moment", "a frame",
    "footage", "a recording", "a shot", "a still", "something", "anything", "nothing",
    "something happening", "things", "stuff", "an object", "a thing", "a view", "a place",
    "somewhere", "someone", "somebody doing something", "a video of something",
    "a photo of something", "an image of a thing", "a clip of stuff", "video clip", "test",
    "testing", "hello", "untitled", "sample", "example", "demo", "placeholder", "lorem ipsum",
    "the", "of the", "and", "it", "this", "that", "what is this", "whatever", "nothing much",
    "random", "misc", "other", "unknown", "no description", "video 1", "clip 2", "image 3",
    "final version", "new recording", "copy of copy", "file", "content",
)  # fmt: skip

ABSTRACT = (
    "however", "therefore", "notion", "theory", "quantity", "policy", "reason", "idea", "concept",
    "although", "meanwhile", "whereas", "hypothesis", "principle", "aspect", "factor", "issue",
    "matter", "instance", "approach", "method", "context", "relevance", "probability",
    "consequence", "assumption", "definition", "criterion", "manner", "extent", "regard",
    "purpose", "tendency", "sequence", "premise", "nevertheless", "moreover", "perhaps",
    "otherwise", "namely", "despite", "whether", "thus", "hence", "rather", "somewhat",
)  # fmt: skip

_ONSETS = ("b", "bl", "br", "d", "dr", "f", "fl", "g", "gl", "gr", "k", "kr", "l", "m", "n", "p",
           "pl", "qu", "r", "s", "sk", "sn", "st", "t", "tr", "v", "w", "z", "zx", "x")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "oo", "ai", "ee", "y")
_CODAS = ("", "", "b", "k", "m", "n", "p", "rp", "rt", "sh", "t", "x", "zz", "ng", "q", "v")


class _Stream:
    """Deterministic integers from SHA-256 of (seed, counter): the prompts never depend on the
    Python or NumPy version (only :data:`NULL_VERSION` changes them)."""

    def __init__(self, seed: int) -> None:
        self.seed, self.i = seed, 0

    def below(self, n: int) -> int:
        self.i += 1
        digest = hashlib.sha256(f"{self.seed}:{self.i}".encode()).digest()
        return int.from_bytes(digest[:8], "little") % n

    def pick(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]


def _pseudo_word(r: _Stream) -> str:
    return "".join(r.pick(_ONSETS) + r.pick(_VOWELS) for _ in range(1 + r.below(2))) + r.pick(_CODAS)


def _random_chars(r: _Stream) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = [("".join(alphabet[r.below(36)] for _ in range(2 + r.below(7)))) for _ in range(1 + r.below(3))]
    return " ".join(words)


def _numbers(r: _Stream) -> str:
    return " ".join(str(r.below(10 ** (1 + r.below(6)))) for _ in range(1 + r.below(3)))


def null_prompts(n: int = NULL_SIZE, seed: int = NULL_VERSION) -> list[str]:
    """The content-free queries of the text null: the :data:`NEUTRAL` captions, then in turn
    pronounceable nonsense ("blorp zaxit"), random characters, numbers and abstract word salad
    ("notion whereas quantity"), ``n`` distinct strings, the same on every machine.

    Raises:
        ValueError: ``n < 1``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    r = _Stream(seed)
    makers = (
        lambda: " ".join(_pseudo_word(r) for _ in range(1 + r.below(3))),
        lambda: _random_chars(r),
        lambda: _numbers(r),
        lambda: " ".join(r.pick(ABSTRACT) for _ in range(2 + r.below(4))),
    )
    out = list(dict.fromkeys(NEUTRAL))[:n]
    seen = set(out)
    turn = 0
    while len(out) < n:
        text = makers[turn % len(makers)]()
        turn += 1
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def brute_force_search(vectors: np.ndarray, ids: np.ndarray | None = None) -> SearchFn:
    """A :data:`SearchFn` over (S, D) unit ``vectors`` by exact inner product (numpy), ids
    ``0..S-1`` unless given: the reference for tests and small libraries."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)

    def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = np.asarray(queries, dtype=np.float32) @ vectors.T  # (Q, D) @ (D, S) -> (Q, S)
        k_eff = min(k, sims.shape[1])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]  # (Q, k)
        scores = np.take_along_axis(sims, top, axis=1)
        pad = k - k_eff
        if pad:
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            top = np.pad(top, ((0, 0), (0, pad)), constant_values=-1)
        found = np.where(top >= 0, ids[np.clip(top, 0, None)], -1)
        return scores, found

    return search


def top1_scores(search: SearchFn, queries: np.ndarray, batch: int = 256) -> np.ndarray:
    """(Q,) the best score each of the (Q, D) ``queries`` reaches (queries that find nothing,
    e.g. in an empty library, are left out)."""
    out = []
    for a in range(0, len(queries), batch):
        scores, ids = search(np.ascontiguousarray(queries[a : a + batch], dtype=np.float32), 1)  # (q, 1)
        out.append(scores[ids[:, 0] >= 0, 0])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def text_null(search: SearchFn, prompt_vectors: np.ndarray, segments: int) -> NullDistribution:
    """The :data:`TEXT` null: top-1 score of each embedded :func:`null_prompts` ((N, D) unit)."""
    return NullDistribution(TEXT, top1_scores(search, prompt_vectors), segments)


def cross_video_top1(
    vectors: np.ndarray,
    ids: np.ndarray,
    video_of: Mapping[int, int],
    search: SearchFn,
    *,
    sample: int = NULL_SIZE,
    seed: int = NULL_VERSION,
    depth: int = 32,
) -> np.ndarray:
    """For up to ``sample`` of the (S, D) segment ``vectors`` (ids ``ids``; chosen evenly by a
    seeded permutation), the best score of a segment of *another* video (``video_of[id]``),
    searching ``depth`` deep, then deeper. Segments with no other video in reach are left out.

    Returns: (M,) float32, M <= sample."""
    vectors = np.asarray(vectors, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    r = _Stream(seed)
    order = list(range(len(ids)))
    for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with the stable stream
        j = r.below(i + 1)
        order[i], order[j] = order[j], order[i]
    chosen = order[:sample]
    out: list[float] = []
    total = len(ids)
    for pos in chosen:
        mine = video_of[int(ids[pos])]
        k = min(depth, total)
        while True:
            scores, found = search(vectors[pos : pos + 1], k)  # (1, k)
            other = [float(s) for s, i in zip(scores[0], found[0]) if i >= 0 and video_of.get(int(i), mine) != mine]
            if other or k >= total:
                break
            k = min(total, 4 * k)
        if other:
            out.append(other[0])
    return np.asarray(out, dtype=np.float32)


def video_null(
    vectors: np.ndarray, ids: np.ndarray, video_of: Mapping[int, int], search: SearchFn, segments: int
) -> NullDistribution:
    """The :data:`VIDEO` null (see :func:`cross_video_top1`)."""
    return NullDistribution(VIDEO, cross_video_top1(vectors, ids, video_of, search), segments)


# ---- speech and on-screen text hits --------------------------------------------------------------

MATCH_KINDS = ("exact", "normalised", "phonetic")
KIND_FACTOR = {"exact": 1.0, "normalised": 0.9, "phonetic": 0.8}
TEXT_CUTS = {Confidence.HIGH: 0.85, Confidence.MEDIUM: 0.5}  # score >= cut; any match at all: low
ARRANGEMENT_WEIGHT = 0.25  # how much order and proximity can take off a full coverage


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


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
    need = len(positions)
    count: dict[int, int] = {}
    best = (events[0][0], events[-1][0])
    left = 0
    for pos, t in events:
        count[t] = count.get(t, 0) + 1
        while len(count) == need:
            lpos, lt = events[left]
            if pos - lpos < best[1] - best[0]:
                best = (lpos, pos)
            count[lt] -= 1
            if not count[lt]:
                del count[lt]
            left += 1
    return best


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
        key: maps a lower-case word to what is compared (e.g. a stemmer); default: the word.
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
    line = [key(t) for w in words for t in _tokens(w) if t not in STOP_WORDS or t in terms]
    spots = [[i for i, t in enumerate(line) if t == key(term)] for term in terms]
    found = [(term, ps) for term, ps in zip(terms, spots) if ps]
    coverage = len(found) / len(terms) if terms else 0.0
    if len(found) >= 2:
        first, last = shortest_window([ps for _, ps in found])
        proximity = len(found) / (last - first + 1)
        # the query index of the word at each matched position of the window, in line order
        in_window = sorted((p, qi) for qi, (_, ps) in enumerate(found) for p in ps if first <= p <= last)
        seq = list(dict.fromkeys(qi for _, qi in in_window))
        order = sum(a < b for a, b in zip(seq, seq[1:])) / (len(seq) - 1)
    else:
        proximity = order = 1.0
    arrangement = (order + proximity) / 2
    score = coverage * (1 - ARRANGEMENT_WEIGHT + ARRANGEMENT_WEIGHT * arrangement) * KIND_FACTOR[kind]
    if kind == "phonetic":
        score *= float(phonetic_score)
    return TextEvidence(terms, tuple(t for t, _ in found), coverage, order, proximity, kind, round(score, 6))


# ---- fused hits and the query's verdict ----------------------------------------------------------

GOOD_FROM = Confidence.MEDIUM  # a query has good matches when some hit reaches this level
GOOD = "good matches"
NO_GOOD_MATCH = "no good match"


def best_confidence(levels: Iterable[Confidence | None]) -> Confidence:
    """The best of a fused hit's evidence (``none`` when it has none)."""
    return max((c for c in levels if c is not None), default=Confidence.NONE)


@dataclass(frozen=True)
class Verdict:
    """What a search found, in one word: ``good matches`` or ``no good match``.

    Attributes:
        query: as typed.
        best: the best hit's confidence (``none`` without hits).
        good: how many hits reach ``min_good``.
        hits: how many hits were judged.
        min_good: :data:`GOOD_FROM` unless asked otherwise.
    """

    query: str
    best: Confidence
    good: int
    hits: int
    min_good: Confidence = GOOD_FROM

    @property
    def found(self) -> bool:
        return self.good > 0

    @property
    def verdict(self) -> str:
        return GOOD if self.found else NO_GOOD_MATCH

    @property
    def message(self) -> str:
        """``2 good matches for “dog”`` or ``no good match for “zxqv”`` (people's words)."""
        q = f"“{self.query.strip()}”"
        if self.found:
            return f"{plural(self.good, 'good match')} for {q}"
        return f"{NO_GOOD_MATCH} for {q}"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "best_confidence": self.best.value,
            "good": self.good,
            "hits": self.hits,
            "min_confidence": self.min_good.value,
            "message": self.message,
        }


def verdict(query: str, levels: Sequence[Confidence], min_good: Confidence = GOOD_FROM) -> Verdict:
    """The query's :class:`Verdict` from its hits' confidences."""
    levels = list(levels)
    return Verdict(
        query=query,
        best=best_confidence(levels),
        good=sum(c >= min_good for c in levels),
        hits=len(levels),
        min_good=min_good,
    )
