"""What a query about nothing scores in a library: the null distribution behind a hit's p-value.

A cosine of 0.27 is a strong match for one encoder and library and noise for another. The
library's **null** is what a query *with nothing to find* scores there: for each of a fixed set of
content-free queries (:func:`null_prompts`: neutral captions such as "a video", pronounceable
nonsense, random characters, numbers, abstract word salad; :data:`NULL_SIZE` = 999 of them,
fixed by :data:`NULL_VERSION`), the best cosine it reaches over all of the library's segments.
A hit scoring ``s`` gets the empirical p-value

    p = (1 + #{null top-1 scores >= s}) / (1 + N)

(the "+1" estimator: Davison & Hinkley, *Bootstrap Methods*, 1997, eq. 4.11; North, Curtis &
Sham, *Am. J. Hum. Genet.* 71, 2002; Phipson & Smyth, "Permutation p-values should never be
zero", *SAGMB* 9, 2010) and a :class:`~tempme.index.hits.Confidence` at the classical cut-offs
:data:`P_CUTS` (0.001 / 0.01 / 0.05; with N = 999 the smallest p is 0.001, so ``high`` means
"better than the best match of every content-free query"). Each null value is a maximum over
the library, so the p-value already accounts for searching every segment (the max-statistic
correction of Westfall & Young, *Resampling-Based Multiple Testing*, 1993). This is score
normalisation against impostors as in speaker verification (Z-norm / T-norm: Reynolds, 1997;
Auckenthaler, Carey & Lloyd-Thomas, *Digital Signal Processing* 10, 2000), with the rank among
the impostors instead of a z-score. docs/confidence.md gives the method, its sources and limits.

"More like this" queries are a segment's vector; text and video sit in separate cones of a
CLIP-style space ("Mind the Gap", Liang et al., NeurIPS 2022), so they get their own null
(:data:`VIDEO`): for a sample of segments, the best cosine to a segment of *another* video.

Computed at index time (``tempme.index.ingest.calibrate``) and stored in the catalog, refreshed
when the library's segment count changes by :data:`GROWTH`; numpy only, so that every room may
use it. Searches are plain callables (:data:`SearchFn`): the vector store's, or
:func:`brute_force_search` (the reference in tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tempme.index.hits import Confidence

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
    return next((level for level, cut in P_CUTS.items() if p <= cut), Confidence.NONE)


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

    def p_values(self, scores: Sequence[float]) -> list[float]:
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
        """For ``tempme stats``: size, library size, and the cosine a hit must beat for each
        level (None where the null is too small to give it)."""
        beat = {
            level.value: None if self.size < round(1 / cut) - 1 else float(_beat(self.scores, cut))
            for level, cut in reversed(P_CUTS.items())
        }
        return {"kind": self.kind, "size": self.size, "segments": self.segments, "version": self.version, "beat": beat}


def _beat(scores: np.ndarray, cut: float) -> float:
    """The null score a hit must exceed (by more than TIE_TOL) for p <= ``cut``: with
    m = floor(cut (N + 1)) - 1 null scores allowed above it, the (m+1)-th largest."""
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

ONSETS = ("b", "bl", "br", "d", "dr", "f", "fl", "g", "gl", "gr", "k", "kr", "l", "m", "n", "p",
          "pl", "qu", "r", "s", "sk", "sn", "st", "t", "tr", "v", "w", "z", "zx", "x")  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u", "oo", "ai", "ee", "y")
CODAS = ("", "", "b", "k", "m", "n", "p", "rp", "rt", "sh", "t", "x", "zz", "ng", "q", "v")


class Stream:
    """Deterministic integers from SHA-256 of (seed, counter): the prompts and samples never
    depend on the Python or NumPy version (only :data:`NULL_VERSION` changes them)."""

    def __init__(self, seed: int) -> None:
        self.seed, self.i = seed, 0

    def below(self, n: int) -> int:
        self.i += 1
        digest = hashlib.sha256(f"{self.seed}:{self.i}".encode()).digest()
        return int.from_bytes(digest[:8], "little") % n

    def pick(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]


def _pseudo_words(r: Stream) -> str:
    word = lambda: "".join(r.pick(ONSETS) + r.pick(VOWELS) for _ in range(1 + r.below(2))) + r.pick(CODAS)  # noqa: E731
    return " ".join(word() for _ in range(1 + r.below(3)))


def _random_chars(r: Stream) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return " ".join("".join(alphabet[r.below(36)] for _ in range(2 + r.below(7))) for _ in range(1 + r.below(3)))


def _numbers(r: Stream) -> str:
    return " ".join(str(r.below(10 ** (1 + r.below(6)))) for _ in range(1 + r.below(3)))


def _word_salad(r: Stream) -> str:
    return " ".join(r.pick(ABSTRACT) for _ in range(2 + r.below(4)))


def null_prompts(n: int = NULL_SIZE, seed: int = NULL_VERSION) -> list[str]:
    """The content-free queries of the text null: the :data:`NEUTRAL` captions, then in turn
    pronounceable nonsense ("blorp zaxit"), random characters, numbers and abstract word salad
    ("notion whereas quantity"), ``n`` distinct strings, the same on every machine.

    Raises:
        ValueError: ``n < 1``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    r = Stream(seed)
    makers = (_pseudo_words, _random_chars, _numbers, _word_salad)
    out = list(dict.fromkeys(NEUTRAL))[:n]
    seen = set(out)
    turn = 0
    while len(out) < n:
        text = makers[turn % len(makers)](r)
        turn += 1
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


# ---- computing a library's nulls -----------------------------------------------------------------


def brute_force_search(vectors: np.ndarray, ids: np.ndarray | None = None) -> SearchFn:
    """A :data:`SearchFn` over (S, D) unit ``vectors`` by exact inner product (numpy), ids
    ``0..S-1`` unless given: the reference for tests."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)

    def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = np.asarray(queries, dtype=np.float32) @ vectors.T  # (Q, D) @ (D, S) -> (Q, S)
        k_eff = min(k, sims.shape[1])
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]  # (Q, k)
        scores = np.take_along_axis(sims, top, axis=1)
        if k > k_eff:  # fewer than k: padded as FAISS pads
            scores = np.pad(scores, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
            top = np.pad(top, ((0, 0), (0, k - k_eff)), constant_values=-1)
        return scores, np.where(top >= 0, ids[np.clip(top, 0, None)], -1)

    return search


def top1_scores(search: SearchFn, queries: np.ndarray, batch: int = 256) -> np.ndarray:
    """(Q,) the best score each of the (Q, D) ``queries`` reaches (queries that find nothing,
    e.g. in an empty library, are left out)."""
    out = [np.zeros(0, np.float32)]
    for a in range(0, len(queries), batch):
        scores, ids = search(np.ascontiguousarray(queries[a : a + batch], dtype=np.float32), 1)  # (q, 1)
        out.append(scores[ids[:, 0] >= 0, 0].astype(np.float32))
    return np.concatenate(out)


def cross_video_top1(
    vectors: np.ndarray,
    ids: np.ndarray,
    video_of: Callable[[Sequence[int]], Mapping[int, int]],
    search: SearchFn,
    depth: int = 32,
    max_depth: int = 4096,
) -> np.ndarray:
    """For each of the (M, D) segment ``vectors`` (ids ``ids``), the best score of a segment of
    *another* video (``video_of(ids) -> {id: video id}``), searching ``depth`` deep, then 4x
    deeper for those whose neighbours were all of their own video, up to ``max_depth``.
    Segments with no other video in reach are left out.

    Returns: (M',) float32, M' <= M."""
    vectors, ids = np.asarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
    own = video_of(ids.tolist())
    best: dict[int, float] = {}
    todo = list(range(len(ids)))
    while todo and depth <= max_depth:
        scores, found = search(vectors[todo], depth)  # (m, depth)
        videos = video_of(sorted({int(i) for i in found.ravel() if i >= 0}))
        deeper = []
        for row, pos in enumerate(todo):
            mine = own.get(int(ids[pos]))
            other = [s for s, i in zip(scores[row], found[row]) if i >= 0 and videos.get(int(i), mine) != mine]
            if other:
                best[pos] = float(other[0])
            elif found[row, -1] >= 0:  # every neighbour was its own video's, and there are more
                deeper.append(pos)
        todo, depth = deeper, depth * 4
    return np.asarray([best[p] for p in sorted(best)], dtype=np.float32)


@dataclass(frozen=True)
class LibraryView:
    """What computing a library's nulls reads.

    Attributes:
        segments: how many segments the library has.
        search: its vector search (:data:`SearchFn`).
        sample: ``sample(n) -> ((m,) ids, (m, D) vectors)``, up to ``n`` segments spread evenly
            over the library (the same ones every time for the same library).
        video_of: ``video_of(ids) -> {id: video id}``.
    """

    segments: int
    search: SearchFn
    sample: Callable[[int], tuple[np.ndarray, np.ndarray]]
    video_of: Callable[[Sequence[int]], Mapping[int, int]]


def compute_nulls(view: LibraryView, prompt_vectors: np.ndarray) -> dict[str, NullDistribution]:
    """Both nulls of a library: :data:`TEXT` from the (N, D) embedded :func:`null_prompts`,
    :data:`VIDEO` from up to :data:`NULL_SIZE` sampled segments (:func:`cross_video_top1`)."""
    ids, vecs = view.sample(NULL_SIZE)
    return {
        TEXT: NullDistribution(TEXT, top1_scores(view.search, prompt_vectors), view.segments),
        VIDEO: NullDistribution(VIDEO, cross_video_top1(vecs, ids, view.video_of, view.search), view.segments),
    }


def from_records(records: Sequence) -> dict[str, NullDistribution]:
    """The stored nulls (catalog ``NullRecord``-likes: ``kind``, ``scores`` bytes, ``segments``,
    ``version``) by kind."""
    return {r.kind: NullDistribution.from_bytes(r.kind, r.scores, r.segments, r.version) for r in records}


def fresh(nulls: Mapping[str, NullDistribution], segments: int) -> bool:
    """True when ``nulls`` has every kind and none is :meth:`~NullDistribution.stale` for a
    library of ``segments`` segments."""
    return set(nulls) == set(QUERY_KINDS) and not any(n.stale(segments) for n in nulls.values())


_PROMPT_VECTORS: dict[str, np.ndarray] = {}  # encoder key -> (N, D): an encoder embeds them once per process


def prompt_vectors(encode_texts: Callable[[list[str]], np.ndarray], key: str | None = None) -> np.ndarray:
    """(N, D) embeddings of :func:`null_prompts` by ``encode_texts`` (batches of 128), kept per
    ``key`` (the encoder's identity; None: not kept) for the life of the process."""
    if key is not None and key in _PROMPT_VECTORS:
        return _PROMPT_VECTORS[key]
    prompts = null_prompts()
    vecs = np.concatenate([np.asarray(encode_texts(prompts[a : a + 128])) for a in range(0, len(prompts), 128)])
    vecs = vecs.astype(np.float32, copy=False)
    if key is not None:
        if len(_PROMPT_VECTORS) >= 8:
            _PROMPT_VECTORS.pop(next(iter(_PROMPT_VECTORS)))
        _PROMPT_VECTORS[key] = vecs
    return vecs
