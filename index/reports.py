"""What a library run did and what a library holds: plain dataclasses with one-line summaries."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from tempme.index.wording import plural


class ProgressFn(Protocol):
    """Told how a long run goes: ``done`` of ``total`` videos, ``path`` the one just finished
    (printable; ``""`` for the first call, made once the total is known). ``Library.add``,
    ``Library.reindex`` and ``Library.enrich`` call it; the CLI's bar and the page's progress
    implement it.

    A progress that also has a ``seconds(p: IngestProgress)`` method is told, during an
    ``add``, where the run stands in what takes time: seconds of video, the file being encoded
    and its own part, as each batch of segments is encoded (issue 28); ``Library.enrich`` tells
    it the same, per video (and per segment read, for on-screen text)."""

    def __call__(self, done: int, total: int, path: str) -> None: ...


@dataclass(frozen=True)
class IngestProgress:
    """An ``add`` (or an ``enrich``) in seconds of video (from the files' headers, or the
    catalog's durations) and wall seconds.

    ``done_s`` counts the finished files' durations plus the part of the current file whose
    segments are encoded; a file that fails counts as done. ``current`` is the file being
    encoded (printable; ``""`` between files).
    """

    videos_done: int
    videos_total: int
    done_s: float
    total_s: float
    current: str
    current_done_s: float
    current_total_s: float
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Seconds of video per wall second, measured over the run so far (0 before any)."""
        return self.done_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Wall seconds left at the measured rate; None before there is a rate; 0.0 once every
        video is done (a failed file counts its header's seconds, which may differ from what
        was encoded)."""
        if self.videos_total and self.videos_done >= self.videos_total:
            return 0.0
        return max(0.0, self.total_s - self.done_s) / self.rate if self.rate > 0 else None


def to_ns(seconds: float) -> int:
    """Seconds of video as whole nanoseconds. Progress sums durations in integers so the sum is
    exact whatever order files finish in: a float sum may go back by a rounding error
    (30.304000000000002 then 30.304) when two files finish in the other order."""
    return round(seconds * 1e9)


def from_ns(ns: int) -> float:
    """Nanoseconds back to seconds (a correctly rounded division: never goes back as ``ns`` grows)."""
    return ns / 1e9


class SecondsTally:
    """Tells a ``ProgressFn`` how a run over ``durations`` (path -> seconds of video, in the
    order of the run) goes: ``start`` names the file being worked on (before its work, so the
    label never lags the count), ``part`` its seconds done so far, ``finish`` counts it. Calls
    ``progress(done, total, path)`` as every ``ProgressFn``, and ``progress.seconds`` with an
    :class:`IngestProgress` when the progress has it. A ``None`` progress makes every call a no-op.
    """

    def __init__(self, progress: ProgressFn | None, durations: dict[str, float]) -> None:
        self._t0 = time.perf_counter()
        self.progress = progress
        self.durations = durations
        self.total_s = from_ns(sum(to_ns(d) for d in durations.values()))
        self.done = 0
        self._done_ns = 0
        self._current: tuple[str, float] | None = None  # (path, seconds done in it)
        if progress is not None:
            progress(0, len(durations), "")
        self._tell()

    def start(self, path: str) -> None:
        self._current = (path, 0.0)
        self._tell()

    def part(self, path: str, done_s: float) -> None:
        self._current = (path, min(done_s, self.durations.get(path, done_s)))
        self._tell()

    def finish(self, path: str) -> None:
        self.done += 1
        self._done_ns += to_ns(self.durations.get(path, 0.0))
        self._current = None
        if self.progress is not None:
            self.progress(self.done, len(self.durations), path)
        self._tell()

    @property
    def done_s(self) -> float:
        """Seconds of video of the finished files."""
        return from_ns(self._done_ns)

    def _tell(self) -> None:
        tell = getattr(self.progress, "seconds", None)
        if tell is None:
            return
        path, part = self._current if self._current is not None else ("", 0.0)
        tell(
            IngestProgress(
                self.done, len(self.durations), from_ns(self._done_ns + to_ns(part)), self.total_s, path, part,
                self.durations.get(path, 0.0), time.perf_counter() - self._t0,
            )
        )  # fmt: skip


def weights_of(encoder: dict | None) -> str:
    """What a library's weights are, from its recorded ``EncoderInfo.to_dict()``: ``random``
    (``--pretrained none``: an untrained network), ``named`` (an open_clip tag or an ``hf-hub:``
    id), ``file`` (a local checkpoint), ``unknown`` (nothing recorded)."""
    pretrained = str((encoder or {}).get("pretrained") or "")
    if not pretrained:
        return "unknown"
    if pretrained == "none":
        return "random"
    if pretrained.startswith("hf-hub:") or ("/" not in pretrained and "." not in pretrained):
        return "named"
    return "file"


def weights_warning(encoder: dict | None) -> str | None:
    """The sentence every search front end shows for a library whose results cannot mean
    anything (random weights), or None."""
    if weights_of(encoder) == "random":
        return (
            f"this library's encoder ({encoder.get('arch')}) has random weights (--pretrained none): "
            "it is untrained, so every result is meaningless"
        )
    return None


@dataclass
class IndexReport:
    """What one :meth:`Library.add` did."""

    found: int = 0  # video files under the given paths
    indexed: int = 0  # newly encoded (new or changed)
    skipped: int = 0  # unchanged since the last run (nothing encoded)
    removed: int = 0  # videos whose files were deleted, dropped from the library
    forgotten: int = 0  # records of failed files that were deleted since (no video was in the library)
    failed: int = 0  # could not be decoded in this run
    segments: int = 0  # segments encoded
    seconds: float = 0.0  # wall time
    decode_s: float = 0.0  # summed over decode workers
    encode_s: float = 0.0  # in the encoder
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of this run's failures
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason): not listed, videos kept
    interrupted: bool = False  # stopped early (SIGTERM, Library.interrupt); what was committed is kept
    moved: int = 0  # videos found under new names: re-pathed, not encoded again
    deferred: list[str] = field(default_factory=list)  # modified too recently (IngestOptions.settle_s): left
    # the library's query model after the run: "fresh", "exported in 12.3 s", "failed: ...", "" (off)
    query_model: str = ""

    @property
    def videos_per_s(self) -> float:
        return (self.indexed + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_per_segment(self) -> float:
        return self.seconds / self.segments if self.segments else 0.0

    def summary(self) -> str:
        gone = f"{plural(self.removed, 'video')} removed, " if self.removed else ""
        text = (
            f"{plural(self.indexed, 'video')} indexed ({plural(self.segments, 'segment')}), {self.skipped} unchanged, "
            f"{gone}{f'{self.moved} moved, ' if self.moved else ''}{self.failed} failed, in {self.seconds:.1f} s "
            f"({self.videos_per_s:.2f} videos/s, {self.seconds_per_segment:.2f} s/segment)"
        )
        if self.forgotten:
            text += f"; {plural(self.forgotten, 'failure record')} of deleted files cleared"
        if self.unreadable:
            text += f"; {plural(len(self.unreadable), 'folder')} could not be read (their videos are kept)"
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
    weights: str = "unknown"  # weights_of(encoder): random / named / file / unknown
    calibration: dict = field(default_factory=dict)  # query kind -> the stored null's summary (docs/confidence.md)
    text_kinds: list[str] = field(default_factory=list)  # speech / ocr: what any video was processed for
    search_tuning: dict | None = None  # SearchTuning's fields when the library tuned its index (rebuild)
    folders: tuple[Path, ...] = ()  # the folders holding indexed videos (choices for the folder filter)
    # the torch-free text path: "fresh", or why not ("missing (...)", "stale: ...", "no encoder recorded")
    query_model: str = ""

    @classmethod
    def of(
        cls, path: Path, counts: tuple, store, encoder: dict | None, query_model: str = "", folders=()
    ) -> LibraryStats:
        """From the catalog's ``counts()`` (videos, segments, failures, last run, calibration,
        text kinds), a vector store (its ``kind``, ``ntotal``, ``version``, ``mapped``,
        ``tuning``), the query model's state and the catalog's ``folders()``."""
        videos, segments, failures, last, calibration, kinds = counts
        tuning = None if store.tuning is None else asdict(store.tuning)
        return cls(path, videos, segments, len(failures), failures, store.kind, store.ntotal, store.version,
                   encoder, last, store.mapped, weights_of(encoder), calibration, kinds, tuning, tuple(folders),
                   query_model)  # fmt: skip

    @property
    def weights_warning(self) -> str | None:
        return weights_warning(self.encoder)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        d["failures"] = [{"path": p, "error": e} for p, e in self.failures]
        d["folders"] = [str(f) for f in self.folders]
        return d


@dataclass(frozen=True)
class SearchTuning:
    """How a library's IVF index is searched, as the tuner measured it (:mod:`.vectors.tune`):
    ``nprobe`` lists probed, ``rerank`` R (R x k candidates re-scored exactly; 0: off), the
    recall@10 and p50 (ms, one query, one thread) measured at them on ``queries`` of the
    library's own vectors, each searching the other videos (its own video left out of its truth
    and its result; before issue 30's fix, only itself), and what was asked: ``target_recall``
    or ``max_ms``."""

    nprobe: int
    rerank: int
    recall: float
    p50_ms: float
    queries: int
    target_recall: float | None = None
    max_ms: float | None = None

    def describe(self) -> str:
        """``nprobe 8, re-rank x10: recall@10 0.957 at p50 0.8 ms on 400 of its vectors (target 0.95)``"""
        asked = f"target {self.target_recall:g}" if self.target_recall is not None else f"budget {self.max_ms:g} ms"
        rr = f"re-rank x{self.rerank}" if self.rerank else "no re-rank"
        return (
            f"nprobe {self.nprobe}, {rr}: recall@10 {self.recall:.3f} at p50 {self.p50_ms:.2f} ms "
            f"on {self.queries} of its vectors ({asked})"
        )


@dataclass(frozen=True)
class IndexFileState:
    """Which vector-store file matches the catalog (recorded after the file is in place), and
    how it is searched when it was tuned."""

    version: int
    file: str | None
    kind: str
    ntotal: int
    id_checksum: int
    tuning: SearchTuning | None = None


@dataclass
class ReindexReport:
    """What one :meth:`Library.reindex` did."""

    videos: int = 0  # re-encoded (now searchable with the new encoder)
    segments: int = 0
    resumed: int = 0  # of those, staged by an earlier, unfinished run
    failed: int = 0  # could not be read again: dropped from the library, listed as failed
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped before the swap: the library is as it was
    encoder: str = ""  # the new encoder, described
    query_model: str = ""  # the new encoder's query model: "exported in 30.1 s", "failed: ...", "" (off)

    def summary(self) -> str:
        if self.interrupted:
            return (
                f"interrupted after {self.videos} of the videos: the library still uses its old encoder; "
                "run the same reindex again to resume"
            )
        resumed = f" ({self.resumed} from the interrupted run)" if self.resumed else ""
        failed = f"; {self.failed} could not be read and were dropped" if self.failed else ""
        return (
            f"re-encoded {plural(self.videos, 'video')}{resumed} "
            f"({self.segments} segments) with {self.encoder} in {self.seconds:.1f} s{failed}"
        )


@dataclass
class EnrichReport:
    """What one :func:`enrich` run did for one kind."""

    kind: str
    videos: int = 0  # processed in this run
    lines: int = 0  # utterances or on-screen lines stored
    statuses: dict[str, int] = field(default_factory=dict)  # status -> videos
    seconds: float = 0.0

    def summary(self) -> str:
        what = "utterances" if self.kind == "speech" else "on-screen lines"
        st = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing to do"
        return f"{self.kind}: {self.videos} videos ({st}), {self.lines} {what}, in {self.seconds:.1f} s"


@dataclass(frozen=True)
class VideoRecord:
    """One video row as the catalog holds it: ``status`` ``indexed`` or ``failed`` (``error``
    says why); ``size`` in bytes and ``mtime_ns`` as stat'ed when it was indexed (what a server
    checks before serving the file); ``content_hash`` blake2b-256 hex of its bytes."""

    video_id: int
    path: Path
    status: str
    error: str | None
    duration_s: float | None
    segments: int
    size: int
    mtime_ns: int
    content_hash: str | None
    indexed_at: str  # ISO 8601, UTC


JOB_KINDS = ("upload", "folder")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
"""A job's ``status``, in the order a job goes through them (``done``, ``failed`` and
``cancelled`` are final)."""


@dataclass(frozen=True)
class JobRecord:
    """A long task started through the API (``kind`` in :data:`JOB_KINDS`), as stored in the
    catalog: ``status`` in :data:`JOB_STATES`; progress ``done_s`` of ``total_s`` video seconds
    and ``videos_done`` of ``videos_total``; ``current`` the file just indexed; ``summary`` the
    run's report once done; ``error`` why it failed; ``videos`` what it added. Times ISO 8601 (UTC)."""

    job_id: str
    kind: str
    status: str
    owner: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    videos_total: int
    videos_done: int
    total_s: float
    done_s: float
    current: str | None
    summary: str | None
    error: str | None
    cancel_requested: bool
    paths: tuple[str, ...]
    videos: tuple[str, ...]

    @property
    def final(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as listed (never its secret): ``prefix`` its first characters; times ISO 8601 (UTC)."""

    key_id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
