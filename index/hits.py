"""What a search asks for and what it returns: modes, filters, hits, and what they mean.

One type per concept: :class:`SearchMode` is how to search (and :class:`TextKind` what was said
or written, with the one mapping between them), :class:`SearchFilters` what the CLI and the page
ask for, :class:`Hit` what the search returns and what the page shows (its thumbnail filled in
by the app), :class:`Confidence` how much a hit means and :class:`Verdict` what a whole search
found (docs/confidence.md; computed by :mod:`.nulls` and :mod:`.query.confidence`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tempme.index.filenames import path_text, printable, text_path
from tempme.index.filters import SearchFilters  # noqa: F401 (defined here before issue 27's merge of 24)
from tempme.index.wording import format_clock, format_time, plural  # noqa: F401 (format_* were defined here)


class TextKind(StrEnum):
    """What a video's text lines are: what is said (transcripts) or written on screen (OCR)."""

    SPEECH = "speech"
    OCR = "ocr"

    @property
    def mode(self) -> SearchMode:
        """The search mode (and the name of the fused list) that searches this kind."""
        return next(m for m in SearchMode if m.kind is self)

    @property
    def label(self) -> str:
        """For people: ``speech`` / ``on-screen text``."""
        return "speech" if self is TextKind.SPEECH else "on-screen text"


class SearchMode(StrEnum):
    """How to search: ``visual`` (TempMe vectors), ``speech`` (transcripts), ``text`` (on-screen
    text) or ``all`` (the three fused by reciprocal rank fusion). Also the names of the ranked
    lists a fused hit was ``matched`` by (``visual``, ``speech``, ``text``)."""

    ALL = "all"
    VISUAL = "visual"
    SPEECH = "speech"
    TEXT = "text"

    @property
    def kind(self) -> TextKind | None:
        """The text kind this mode searches (None for ``visual`` and ``all``): the one mapping
        between modes and kinds (``text`` searches ``ocr`` lines)."""
        return {"speech": TextKind.SPEECH, "text": TextKind.OCR}.get(self.value)

    @classmethod
    def parse(cls, value: str | SearchMode) -> SearchMode:
        """The mode named ``value``: the one check of a mode, for the library, the CLI and the page.

        Raises:
            ValueError: not a mode (the message lists them)."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}, got {value!r}") from None


SEARCH_MODES = tuple(m.value for m in SearchMode)  # ("all", "visual", "speech", "text"): the names
TEXT_KINDS = tuple(k.value for k in TextKind)  # ("speech", "ocr")


class Confidence(StrEnum):
    """How much a hit means, from ``none`` (what a query about nothing also gets) to ``high``
    (docs/confidence.md). Ordered, also against the plain names: ``Confidence.LOW < "high"``."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def level(self) -> int:
        """0 (none) .. 3 (high)."""
        return CONFIDENCES.index(self.value)

    @property
    def dots(self) -> str:
        """For people: ``●●●`` (high), ``●●○``, ``●○○``, ``○○○`` (none)."""
        return "●" * self.level + "○" * (3 - self.level)

    def _other(self, other: object) -> int | None:
        return Confidence.parse(other).level if isinstance(other, str) else None  # never alphabetical

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


CONFIDENCES = ("none", "low", "medium", "high")  # the names of the levels, in order
GOOD_FROM = Confidence.MEDIUM  # a search has good matches when some hit reaches this level
GOOD = "good matches"
NO_GOOD_MATCH = "no good match"


def best_confidence(levels: Iterable[Confidence | None]) -> Confidence:
    """The best of some evidence's levels (``none`` when there is none): a fused hit's confidence."""
    return max((c for c in levels if c is not None), default=Confidence.NONE)


@dataclass(frozen=True)
class Verdict:
    """What a search found, in one phrase: ``good matches`` or ``no good match``.

    Attributes:
        query: what was searched, for people (``“dog”``: :func:`quoted`; ``moments like clip.mp4 at 0:41``).
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
        """``2 good matches for “dog”`` or ``no good match for “zxqv”``."""
        return (
            f"{plural(self.good, 'good match')} for {self.query}" if self.found else f"{NO_GOOD_MATCH} for {self.query}"
        )

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "best_confidence": self.best.value,
            "good": self.good,
            "hits": self.hits,
            "min_confidence": self.min_good.value,
            "message": self.message,
        }


def quoted(query: str) -> str:
    """A query as people see it quoted: ``“a dog”`` (whitespace collapsed)."""
    return f"“{' '.join(query.split())}”"


def verdict(what: str, hits: Sequence[Hit | Confidence | None], min_good: Confidence = GOOD_FROM) -> Verdict:
    """The :class:`Verdict` of a search from its hits (or their levels; one not judged counts as
    ``none``). ``what``: the search for people, ``quoted(query)`` or ``moments like clip.mp4 at 0:41``."""
    levels = [h.confidence if isinstance(h, Hit) else h for h in hits]
    levels = [Confidence.NONE if c is None else Confidence.parse(c) for c in levels]
    return Verdict(what, best_confidence(levels), sum(c >= min_good for c in levels), len(levels), min_good)


@dataclass(frozen=True)
class MatchedWord:
    """A spoken word that matched the query, ``[start_s, end_s)`` on the video's clock."""

    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Hit:
    """One search result: the moment ``[start_s, end_s)`` s of the video at ``path``, and why it matched.

    ``segment_id`` is the moment's best segment (its FAISS id); ``thumbnail`` is a JPEG of that
    moment once the app has made one (``Library.shelf.thumbnail``), else None.

    ``score`` is what ranked it: the cosine similarity in ``visual`` mode, the full-text relevance
    in ``speech`` / ``text`` mode, the reciprocal-rank-fusion score in ``all`` mode. The evidence:
    ``visual_score`` (cosine, when the vector search found this moment), ``words`` (the spoken
    words that matched, with their times) in ``transcript`` (the utterance they are in),
    ``ocr_text`` / ``ocr_box`` (the on-screen line that matched, box as frame fractions), and
    ``matched``, the lists that found it (``visual``, ``speech``, ``text``).

    ``confidence``: how much the match means, the best of its evidence (docs/confidence.md);
    ``p_value``: that of its visual evidence against the library's null (None without one).
    Both None for hits no search judged (e.g. "show new videos").

    A spoken match also says how it matched (:mod:`tempme.index.query.spoken`): ``match_kind``
    ``exact`` (the query's words as recognised), ``normalised`` (their search form: "$40" for
    *forty dollars*) or ``phonetic`` (words that sound like the query), ``match_score`` in [0, 1]
    (1.0 every word exact, at most 0.95 normalised, at most 0.9 phonetic: its confidence), and
    for phonetic matches ``heard_as``, the words as recognised ("musket ball coach").

    A compound query's result (``tempme search A --then B``) spans all its ``parts``, the parts'
    own hits in query order, each related to the one before by ``relation`` (``then``,
    ``while``); its ``segment_id`` is the first part's, its ``score`` the RRF over the parts' ranks,
    its ``confidence`` the weakest part's.
    """

    segment_id: int
    video_id: int
    path: Path
    start_s: float
    end_s: float
    score: float
    rank: int  # 1-based
    duration_s: float  # of the whole video (s)
    thumbnail: str | None = None
    visual_score: float | None = None
    words: tuple[MatchedWord, ...] = ()
    transcript: str | None = None
    ocr_text: str | None = None
    ocr_box: tuple[float, float, float, float] | None = None
    matched: tuple[str, ...] = ("visual",)
    recorded_at: dt.datetime | None = None  # the video's recording date (UTC); source: tempme.index.media.dates
    recorded_source: str | None = None
    confidence: Confidence | None = None
    p_value: float | None = None
    match_kind: str | None = None
    match_score: float | None = None
    heard_as: str | None = None
    parts: tuple[Hit, ...] = ()
    relation: str | None = None

    @property
    def name(self) -> str:
        """The file's name as people read it (:func:`~tempme.index.filenames.printable`)."""
        return printable(self.path.name)

    @property
    def shown(self) -> str:
        """The file's path as people read it (:func:`~tempme.index.filenames.printable`)."""
        return printable(self.path)

    @property
    def span(self) -> str:
        return f"{format_time(self.start_s)}–{format_time(self.end_s)}"

    @property
    def seek_s(self) -> float:
        """Where a player should start: the first matched word, else the moment's start."""
        return self.words[0].start_s if self.words else self.start_s

    @property
    def why(self) -> str:
        """One line of evidence: ``said "…"``, ``reads "…"``, ``looks like (0.31)``; a compound
        hit's parts in order: ``said "…" at 0:02.0 (0:02.0–0:03.3), then reads "…" (0:06.0–0:09.0)``."""
        if self.parts:
            return f", {self.relation} ".join(f"{p.why or 'looks like'} ({p.span})" for p in self.parts)
        parts = []
        if self.heard_as is not None:
            parts.append(f"heard as “{self.heard_as}” at {format_time(self.seek_s)} ({self.match_score:.2f})")
        elif self.words:
            parts.append("said “" + " ".join(w.word for w in self.words) + f"” at {format_time(self.seek_s)}")
        if self.ocr_text:
            parts.append(f"reads “{self.ocr_text}”")
        if self.visual_score is not None:
            parts.append(f"looks like ({self.visual_score:.3f})")
        return "; ".join(parts)

    @property
    def when(self) -> str:
        """``"0:41–0:44 of 0:55"``: the moment in whole seconds, in the whole video."""
        return (
            f"{format_clock(self.start_s)}–{format_clock(self.end_s, up=True)} "
            f"of {format_clock(self.duration_s, up=True)}"
        )

    @property
    def caption(self) -> str:
        """What a result card says under its picture (the raw score is in :meth:`to_dict`);
        hits found by speech or on-screen text add why they matched."""
        base = f"{self.name} · {self.when}"
        return base if self.matched == ("visual",) and not self.parts else f"{base} · {self.why}"

    def to_dict(self) -> dict:
        """JSON-ready; the path is under ``"video"``, not ``"path"`` (gradio_client would take a
        dict with a ``path`` key for a file to download), in the library's one text spelling of
        names (:func:`~tempme.index.filenames.path_text`: valid UTF-8, back to the same bytes
        with :meth:`from_dict`)."""
        return {
            "rank": self.rank,
            "score": float(self.score),
            "video": path_text(self.path),
            "start_s": float(self.start_s),
            "end_s": float(self.end_s),
            "segment_id": int(self.segment_id),
            "video_id": int(self.video_id),
            "duration_s": float(self.duration_s),
            "seek_s": float(self.seek_s),
            "matched": list(self.matched),
            "visual_score": None if self.visual_score is None else float(self.visual_score),
            "words": [{"word": w.word, "start_s": float(w.start_s), "end_s": float(w.end_s)} for w in self.words],
            "transcript": self.transcript,
            "ocr_text": self.ocr_text,
            "ocr_box": None if self.ocr_box is None else [float(v) for v in self.ocr_box],
            "recorded_at": None if self.recorded_at is None else self.recorded_at.isoformat(),
            "recorded_source": self.recorded_source,
            "confidence": None if self.confidence is None else self.confidence.value,
            "p_value": None if self.p_value is None else float(self.p_value),
            "match_kind": self.match_kind,
            "match_score": None if self.match_score is None else float(self.match_score),
            "heard_as": self.heard_as,
            "parts": [p.to_dict() for p in self.parts],
            "relation": self.relation,
        }

    @classmethod
    def of_segment(cls, row, rank: int) -> Hit:
        """A segment (anything with ``segment_id``, ``video_id``, ``path``, ``start_s``, ``end_s``,
        ``duration_s``: a catalog ``SegmentRow``) as a hit found by no query: ``score`` 0."""
        return cls(row.segment_id, row.video_id, row.path, row.start_s, row.end_s, 0.0, rank, row.duration_s)

    @classmethod
    def from_dict(cls, d: dict) -> Hit:
        """The hit that :meth:`to_dict` made ``d`` from (e.g. a `/search` result of `tempme serve`).

        Raises:
            KeyError, TypeError, ValueError: ``d`` is not such a dict.
        """
        return cls(
            segment_id=int(d["segment_id"]),
            video_id=int(d["video_id"]),
            path=text_path(str(d["video"])),
            start_s=float(d["start_s"]),
            end_s=float(d["end_s"]),
            score=float(d["score"]),
            rank=int(d["rank"]),
            duration_s=float(d["duration_s"]),
            visual_score=None if d.get("visual_score") is None else float(d["visual_score"]),
            words=tuple(
                MatchedWord(str(w["word"]), float(w["start_s"]), float(w["end_s"])) for w in d.get("words") or ()
            ),
            transcript=d.get("transcript"),
            ocr_text=d.get("ocr_text"),
            ocr_box=None if d.get("ocr_box") is None else tuple(float(v) for v in d["ocr_box"]),
            matched=tuple(d.get("matched") or ("visual",)),
            recorded_at=None if not d.get("recorded_at") else dt.datetime.fromisoformat(d["recorded_at"]),
            recorded_source=d.get("recorded_source"),
            confidence=None if d.get("confidence") is None else Confidence.parse(d["confidence"]),
            p_value=None if d.get("p_value") is None else float(d["p_value"]),
            match_kind=d.get("match_kind"),
            match_score=None if d.get("match_score") is None else float(d["match_score"]),
            heard_as=d.get("heard_as"),
            parts=tuple(cls.from_dict(p) for p in d.get("parts") or ()),
            relation=d.get("relation"),
        )
