"""The values a library hands out: errors, search filters and hits, indexing reports, stats.

Re-exported by :mod:`index.library`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LibraryError(Exception):
    """A library that is missing, busy, or used with the wrong encoder."""


class LibraryBusyError(LibraryError):
    """Another process holds the library's indexing lock."""


@dataclass(frozen=True)
class SearchFilters:
    folder: str | None = None  # only videos under this folder
    min_duration_s: float | None = None  # video duration bounds (s)
    max_duration_s: float | None = None
    extensions: tuple[str, ...] = ()  # e.g. (".mp4", "webm"); case-insensitive


@dataclass(frozen=True)
class Hit:
    """One search result: a moment ``[start_s, end_s)`` of the video at ``path``."""

    segment_id: int
    video_id: int
    path: Path
    start_s: float
    end_s: float
    score: float
    rank: int  # 1-based
    duration_s: float  # of the whole video

    def to_dict(self) -> dict:
        return {"rank": self.rank, "score": round(self.score, 6), "path": str(self.path),
                "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "segment_id": self.segment_id, "video_id": self.video_id,
                "duration_s": round(self.duration_s, 3)}


@dataclass
class IndexReport:
    """What one :meth:`Library.add` did."""

    found: int = 0  # video files under the given paths
    indexed: int = 0  # newly encoded (new or changed)
    skipped: int = 0  # unchanged since the last run (nothing encoded)
    removed: int = 0  # deleted or changed files dropped from the library
    failed: int = 0  # could not be decoded in this run
    segments: int = 0  # segments encoded
    seconds: float = 0.0  # wall time
    decode_s: float = 0.0  # summed over decode workers
    encode_s: float = 0.0  # in the encoder
    errors: list[tuple[str, str]] = None  # (path, reason) of this run's failures

    def __post_init__(self) -> None:
        self.errors = [] if self.errors is None else self.errors

    @property
    def videos_per_s(self) -> float:
        return (self.indexed + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_per_segment(self) -> float:
        return self.seconds / self.segments if self.segments else 0.0

    def summary(self) -> str:
        return (f"{self.indexed} videos indexed ({self.segments} segments), {self.skipped} unchanged, "
                f"{self.removed} removed, {self.failed} failed, in {self.seconds:.1f} s "
                f"({self.videos_per_s:.2f} videos/s, {self.seconds_per_segment:.2f} s/segment)")


@dataclass
class LibraryStats:
    path: Path
    videos: int  # indexed
    segments: int
    failed: int
    failures: list[tuple[str, str]]  # (path, error)
    index_type: str
    vectors: int
    index_version: int
    encoder: dict | None  # EncoderInfo.to_dict()
    last_run: dict | None  # started_at, seconds, videos_indexed, segments_added, failures, removed

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        d["failures"] = [{"path": p, "error": e} for p, e in self.failures]
        return d
