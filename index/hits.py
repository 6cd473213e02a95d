"""What a search asks for and what it returns: modes, filters, hits.

One type per concept: :class:`SearchMode` is how to search (and :class:`TextKind` what was said
or written, with the one mapping between them), :class:`SearchFilters` what the CLI and the page
ask for, :class:`Hit` what the search returns and what the page shows (its thumbnail filled in
by the app).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tempme.index.filenames import path_text, printable, text_path


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


def format_time(seconds: float) -> str:
    """``75.25`` -> ``"1:15.2"``; hours when needed (``"1:02:03.0"``)."""
    seconds = max(0.0, float(seconds))
    minutes, sec = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{sec:04.1f}"
    return f"{minutes}:{sec:04.1f}"


def format_clock(seconds: float, up: bool = False) -> str:
    """Whole seconds for people: ``41.7`` -> ``"0:41"`` (``"0:42"`` with ``up``); ``"1:02:03"`` with hours."""
    import math

    total = int(math.ceil(float(seconds) - 1e-6) if up else math.floor(max(0.0, float(seconds))))
    hours, rest = divmod(max(0, total), 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class SortOrder(StrEnum):
    """How a page of results is ordered: ``relevance`` (the query's ranking, the default), by
    recording date (``date``: newest first, ``date-asc``) or by the video's duration
    (``duration``: longest first, ``duration-asc``). A sort other than relevance orders the
    moments that pass the score cutoff (:attr:`SearchFilters.min_score`, or the router's default
    for a sort) among the :data:`tempme.index.query.router.SORT_POOL` most relevant."""

    RELEVANCE = "relevance"
    DATE = "date"
    DATE_ASC = "date-asc"
    DURATION = "duration"
    DURATION_ASC = "duration-asc"

    @classmethod
    def parse(cls, value: str | SortOrder) -> SortOrder:
        """Raises ValueError naming the orders."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"sort must be one of {', '.join(SORT_ORDERS)}, got {value!r}") from None


SORT_ORDERS = tuple(s.value for s in SortOrder)


def typed_date(text: str) -> dt.datetime:
    """A date as people type it (``2024-06-01``, ``2024-06-01T18:30``, ``2024-06-01 18:30+02:00``)
    as an aware datetime; without an offset, the local time of this machine. Raises ValueError."""
    when = dt.datetime.fromisoformat(str(text).strip())
    return when if when.tzinfo is not None else when.astimezone()


@dataclass(frozen=True)
class SearchFilters:
    """Which videos (and moments) a search may return (all bounds optional).

    ``folder``: as people type it (:mod:`tempme.index.folders`: ``holiday`` finds
    ``.../holiday 2023/``; an absolute path, that folder and those inside it). ``date_from`` /
    ``date_to``: the recording date (:mod:`tempme.index.media.dates`) on or after / before
    (aware datetimes; naive ones are UTC). ``min_score``: the least cosine a moment found by its
    look (``visual_score``) needs; moments found only by what was said or written are kept (they
    hold the words). ``exclude_videos``: video ids left out (a clip query leaves out the video
    it came from).
    """

    folder: str | None = None
    min_duration_s: float | None = None  # video duration bounds (s)
    max_duration_s: float | None = None
    extensions: tuple[str, ...] = ()  # e.g. (".mp4", "webm"); case-insensitive
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    min_score: float | None = None
    exclude_videos: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            when = getattr(self, name)
            if when is not None and when.tzinfo is None:
                object.__setattr__(self, name, when.replace(tzinfo=dt.UTC))
        if self.date_from is not None and self.date_to is not None and self.date_to < self.date_from:
            raise ValueError(
                f"the date range ends ({self.date_to:%Y-%m-%d}) before it starts ({self.date_from:%Y-%m-%d})"
            )
        object.__setattr__(self, "exclude_videos", frozenset(int(v) for v in self.exclude_videos))

    @property
    def empty(self) -> bool:
        return self == SearchFilters()

    def suffixes(self) -> frozenset[str]:
        """The extensions, lower case with a leading dot."""
        return frozenset("." + e.lower().lstrip(".") for e in self.extensions)


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
    moment once the app has made one (``Library.thumbnail``), else None.

    ``score`` is what ranked it: the cosine similarity in ``visual`` mode, the full-text relevance
    in ``speech`` / ``text`` mode, the reciprocal-rank-fusion score in ``all`` mode. The evidence:
    ``visual_score`` (cosine, when the vector search found this moment), ``words`` (the spoken
    words that matched, with their times) in ``transcript`` (the utterance they are in),
    ``ocr_text`` / ``ocr_box`` (the on-screen line that matched, box as frame fractions), and
    ``matched``, the lists that found it (``visual``, ``speech``, ``text``).

    A spoken match also says how it matched (:mod:`tempme.index.query.spoken`): ``match_kind``
    ``exact`` (the query's words as recognised), ``normalised`` (their search form: "$40" for
    *forty dollars*) or ``phonetic`` (words that sound like the query), ``match_score`` in [0, 1]
    (1.0 every word exact, at most 0.95 normalised, at most 0.9 phonetic: its confidence), and
    for phonetic matches ``heard_as``, the words as recognised ("musket ball coach").
    A compound query's result (``tempme search A --then B``) spans all its ``parts``, the parts'
    own hits in query order, each related to the one before by ``relation`` (``then``,
    ``while``); its ``segment_id`` is the first part's, its ``score`` the RRF over the parts' ranks.
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
            match_kind=d.get("match_kind"),
            match_score=None if d.get("match_score") is None else float(d["match_score"]),
            heard_as=d.get("heard_as"),
            parts=tuple(cls.from_dict(p) for p in d.get("parts") or ()),
            relation=d.get("relation"),
        )
