"""The values that cross the library's module boundaries: errors, filters, hits, reports, stats.

One type per concept: :class:`SearchFilters` is what the CLI and the page ask for, :class:`Hit`
is what the search returns and what the page shows (its thumbnail filled in by the app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TEXT_KINDS = ("speech", "ocr")  # what is said, what is written on screen
SEARCH_MODES = ("all", "visual", "speech", "text")  # "text" searches the on-screen (OCR) lines


class LibraryError(Exception):
    """A library that is missing, busy, or used with the wrong encoder."""


class LibraryBusyError(LibraryError):
    """Another process holds the library's indexing lock."""


class StorageError(LibraryError):
    """The library's storage failed: a full disk, a read-only folder, an I/O error, a damaged
    database. The message says what failed and what was kept."""


def format_time(seconds: float) -> str:
    """``75.25`` -> ``"1:15.2"``; hours when needed (``"1:02:03.0"``)."""
    seconds = max(0.0, float(seconds))
    minutes, sec = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{sec:04.1f}"
    return f"{minutes}:{sec:04.1f}"


def describe_encoder(info: dict) -> str:
    """One line for a recorded ``EncoderInfo.to_dict()`` (the same words as
    ``EncoderInfo.describe``, without importing torch):
    ``"ViT-B-32 (openai, no adapter, TempMe, 12 frames, QuickGELU)"``; a library recorded before
    the activation was says ``activation not recorded``."""
    mode = "TempMe" if info.get("merging") else "mean pooling"
    qg = (info.get("config") or {}).get("quick_gelu")
    act = "activation not recorded" if qg is None else ("QuickGELU" if qg else "GELU")
    return (
        f"{info['arch']} ({info['pretrained']}, {info.get('adapter_hash') or 'no adapter'}, {mode}, "
        f"{info.get('num_frames')} frames, {act})"
    )


def plural(n: int, noun: str) -> str:
    """``plural(1, "video")`` -> ``"1 video"``; ``plural(2, "video")`` -> ``"2 videos"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_clock(seconds: float, up: bool = False) -> str:
    """Whole seconds for people: ``41.7`` -> ``"0:41"`` (``"0:42"`` with ``up``); ``"1:02:03"`` with hours."""
    import math

    total = int(math.ceil(float(seconds) - 1e-6) if up else math.floor(max(0.0, float(seconds))))
    hours, rest = divmod(max(0, total), 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


@dataclass(frozen=True)
class SearchFilters:
    """Which videos a search may return (all bounds optional)."""

    folder: str | None = None  # only videos under this folder
    min_duration_s: float | None = None  # video duration bounds (s)
    max_duration_s: float | None = None
    extensions: tuple[str, ...] = ()  # e.g. (".mp4", "webm"); case-insensitive

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

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def span(self) -> str:
        return f"{format_time(self.start_s)}–{format_time(self.end_s)}"

    @property
    def seek_s(self) -> float:
        """Where a player should start: the first matched word, else the moment's start."""
        return self.words[0].start_s if self.words else self.start_s

    @property
    def why(self) -> str:
        """One line of evidence: ``said "…"``, ``reads "…"``, ``looks like (0.31)``."""
        parts = []
        if self.words:
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
        return base if self.matched == ("visual",) else f"{base} · {self.why}"

    def to_dict(self) -> dict:
        """JSON-ready; the path is under ``"video"``, not ``"path"`` (gradio_client would take a
        dict with a ``path`` key for a file to download)."""
        return {
            "rank": self.rank,
            "score": float(self.score),
            "video": str(self.path),
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
        }

    @classmethod
    def from_dict(cls, d: dict) -> Hit:
        """The hit that :meth:`to_dict` made ``d`` from (e.g. a `/search` result of `tempme serve`).

        Raises:
            KeyError, TypeError, ValueError: ``d`` is not such a dict.
        """
        return cls(
            segment_id=int(d["segment_id"]),
            video_id=int(d["video_id"]),
            path=Path(d["video"]),
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
        )


@dataclass
class IndexReport:
    """What one :meth:`Library.add` did."""

    found: int = 0  # video files under the given paths
    indexed: int = 0  # newly encoded (new or changed)
    skipped: int = 0  # unchanged since the last run (nothing encoded)
    removed: int = 0  # deleted files dropped from the library
    failed: int = 0  # could not be decoded in this run
    segments: int = 0  # segments encoded
    seconds: float = 0.0  # wall time
    decode_s: float = 0.0  # summed over decode workers
    encode_s: float = 0.0  # in the encoder
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of this run's failures
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason): not listed, videos kept
    interrupted: bool = False  # stopped early (SIGTERM, Library.interrupt); what was committed is kept

    @property
    def videos_per_s(self) -> float:
        return (self.indexed + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_per_segment(self) -> float:
        return self.seconds / self.segments if self.segments else 0.0

    def summary(self) -> str:
        text = (
            f"{plural(self.indexed, 'video')} indexed ({plural(self.segments, 'segment')}), {self.skipped} unchanged, "
            f"{self.removed} removed, {self.failed} failed, in {self.seconds:.1f} s "
            f"({self.videos_per_s:.2f} videos/s, {self.seconds_per_segment:.2f} s/segment)"
        )
        if self.unreadable:
            text += f"; {len(self.unreadable)} folder(s) could not be read (their videos are kept)"
        if self.interrupted:
            text += "; interrupted (what was indexed is kept; run again to finish)"
        return text


@dataclass
class LibraryStats:
    path: Path
    videos: int  # indexed
    segments: int
    failed: int
    failures: list[tuple[str, str]]  # (path, error)
    index_type: str  # flat / ivf / ivf-sq8 (by size), or the FAISS factory string pinned by rebuild
    vectors: int
    index_version: int
    encoder: dict | None  # EncoderInfo.to_dict()
    last_run: dict | None  # started_at, seconds, finished, videos_indexed, segments_added, failures, removed
    index_mapped: bool = False  # the index's lists are memory-mapped from its file (not in memory)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        d["failures"] = [{"path": p, "error": e} for p, e in self.failures]
        return d
