"""Ingest, step 3: the one committer, the only writer of a run's rows and vectors.

Crash safety: a video's rows (the video, its segments with their vectors) are committed in one
catalog transaction; then its vectors go into the vector store, which is saved as a new
versioned file every ``flush_every`` videos and at the end. A run killed in between leaves the
catalog ahead of the file, and the next ``load`` repairs the file from the catalog. Runs are
recorded (``runs`` table) as they go, so ``stats`` shows an interrupted one.

Isolation: anything that goes wrong with one file (it cannot be decoded, its name cannot be
stored) is recorded as that file's failure and the run goes on. Storage failures (a full disk, a
read-only or damaged database) stop the run with a :class:`StorageError` that says so; the
catalog keeps every video committed before, and the vector file is repaired on the next open.

It runs in the thread that iterates the executor, with the library's write lock held.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from tempme.index.catalog import Catalog, NewVideo, storage_problem
from tempme.index.errors import STORAGE_PROBLEMS, StorageError, cause
from tempme.index.filenames import printable
from tempme.index.ingest.outcomes import FileStamp, Outcome, SegmentsEncoded, VideoFailure, VideoResult
from tempme.index.ingest.plan import IngestPlan
from tempme.index.media.dates import RecordingDate, recording_date
from tempme.index.reports import IndexReport, IngestProgress, ProgressFn, from_ns, to_ns
from tempme.index.settings import get_settings
from tempme.index.vectors import VectorStore
from tempme.index.wording import plural

log = logging.getLogger(__name__)


class Committer:
    """Stores one run's outcomes; use :meth:`begin`, then :meth:`commit` per outcome, then :meth:`finish`."""

    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        *,
        flush_every: int | None = None,
        progress: ProgressFn | None = None,
        thumbnails: Callable[[np.ndarray, Sequence[bytes]], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.thumbnails = thumbnails  # stores a video's index-time JPEGs under its new segment ids
        self.store = store
        self.flush_every = flush_every or get_settings().flush_every
        self.progress = progress
        self.report = IndexReport()
        self._t0 = time.perf_counter()
        self._run_id: int | None = None
        self._total = 0
        self._unsaved = 0

    def begin(self, plan: IngestPlan) -> np.ndarray:
        """Record the run and apply the plan's deletions (rows, then vectors, then a saved file);
        returns the (N,) segment ids removed."""
        self.report.found, self.report.skipped = plan.found, plan.skipped
        self.report.unreadable = [(printable(d), why) for d, why in plan.unreadable]
        for d, why in plan.unreadable:
            log.warning("cannot read folder %s (%s): its videos are kept as they were", printable(d), why)
        self._total = len(plan.encode) + len(plan.rejected)
        self._durations = plan.durations
        # done, total in whole nanoseconds: an exact sum, so done_s never goes back by a rounding error
        self._seconds = [0, sum(to_ns(plan.durations.get(f, 0.0)) for f in plan.encode)]
        self._parts: dict[Path, int] = {}  # files in flight -> ns encoded (insertion order: newest last)
        with self._storage("starting the run"):
            self._run_id = self.catalog.start_run()
            seg_ids = np.zeros(0, np.int64)
            if plan.drop:
                seg_ids = self.catalog.delete_videos(plan.drop)
                self.report.removed = len(plan.gone) - plan.forgotten  # videos, not old failure records
                self.report.forgotten = plan.forgotten
                self.store.remove(seg_ids)
                self.store.save()
            if plan.moves:  # after the drops: a move may take the name of a video just dropped
                self.report.moved = self.catalog.move_videos(plan.moves)
        self.report.deferred = [os.fspath(p) for p in plan.deferred]
        for path, why in plan.rejected:  # no video by their headers: failed without the engine
            self.commit(VideoFailure(path, why))
        if plan.gone:
            log.info(
                "removed %d deleted files from the library (%d of them failure records)", len(plan.gone), plan.forgotten
            )
        return seg_ids

    @contextmanager
    def _storage(self, what: str) -> Iterator[None]:
        """Turn a storage failure while doing ``what`` into a :class:`StorageError`."""
        try:
            yield
        except StorageError as exc:  # from the catalog's or the store's boundary: say what this run kept
            if exc.kind is None or exc.__cause__ is None:
                raise
            raise StorageError(storage_message(exc.kind, what, exc.__cause__, self.report), exc.kind) from exc.__cause__
        except Exception as exc:
            kind = storage_problem(exc)
            if kind is None:
                raise
            raise StorageError(storage_message(kind, what, exc, self.report), kind) from exc

    def commit(self, outcome: Outcome) -> None:
        if isinstance(outcome, SegmentsEncoded):  # several files can be in flight (a batch spans files)
            self._parts.pop(outcome.path, None)
            total = self._durations.get(outcome.path, 0.0)
            self._parts[outcome.path] = to_ns(min(outcome.end_s, total or outcome.end_s))
            self._tell_seconds()
            return
        if isinstance(outcome, VideoResult):
            try:
                with self._storage(f"storing {printable(outcome.path)}"):
                    self._video(outcome)
            except StorageError:
                raise
            except Exception as exc:  # this file's problem (e.g. a name the database cannot hold)
                log.warning("cannot store %s: %s: %s", printable(outcome.path), type(exc).__name__, exc)
                self._failure(VideoFailure(outcome.path, f"{type(exc).__name__}: {exc}", outcome.decode_s))
        else:
            self._failure(outcome)
        self._seconds[0] += to_ns(self._durations.get(outcome.path, 0.0))
        self._parts.pop(outcome.path, None)  # its part becomes its whole duration: done_s never goes back
        if self.progress is not None:
            self.progress(self.report.indexed + self.report.failed, self._total, printable(outcome.path))
        self._tell_seconds()

    def _tell_seconds(self) -> None:
        """The progress in seconds of video, to a progress that asks for it (``seconds``)."""
        tell = getattr(self.progress, "seconds", None)
        if tell is None:
            return
        cur = next(reversed(self._parts), None)  # the file most recently worked on
        cur_done = from_ns(self._parts[cur]) if cur is not None else 0.0
        cur_total = self._durations.get(cur, 0.0) if cur is not None else 0.0
        tell(
            IngestProgress(
                self.report.indexed + self.report.failed, self._total, from_ns(self._seconds[0] + sum(self._parts.values())),
                from_ns(self._seconds[1]), printable(cur) if cur is not None else "", cur_done, cur_total,
                time.perf_counter() - self._t0,
            )
        )  # fmt: skip

    def _video(self, v: VideoResult) -> None:
        ids = self.catalog.add_video(to_new_video(v))
        self.store.add(np.asarray(v.embeddings, np.float32), ids)
        if self.thumbnails is not None and len(v.thumbnails) == len(ids):
            self.thumbnails(ids, v.thumbnails)
        r = self.report
        r.indexed += 1
        r.segments += len(ids)
        r.decode_s += v.decode_s
        r.encode_s += v.encode_s
        self._unsaved += 1
        if self._unsaved >= self.flush_every:
            self._flush()

    def _failure(self, f: VideoFailure) -> None:
        try:
            with self._storage(f"recording the failure of {printable(f.path)}"):
                self.catalog.add_failure(Path(f.path), f.reason, retry=f.retry)
        except StorageError:
            raise
        except Exception as exc:  # the name itself cannot be stored: report it, keep going
            log.warning("cannot record the failure of %s: %s", printable(f.path), exc)
        log.warning("failed: %s: %s", printable(f.path), f.reason)
        self.report.failed += 1
        self.report.decode_s += f.decode_s
        self.report.errors.append((printable(f.path), f.reason))

    def _flush(self) -> None:
        if self._unsaved:
            with self._storage("saving the vector index"):
                self.store.save()
                self.catalog.update_run(self._run_id, self.report, time.perf_counter() - self._t0)
            self._unsaved = 0

    def finish(self, interrupted: bool = False) -> IndexReport:
        """Rebuild the index if the library outgrew its type, save, close the run record."""
        self.report.interrupted = interrupted
        if not interrupted and self.store.needs_rebuild():
            log.info("library reached %d vectors: rebuilding its index", self.store.ntotal)
            self.store.rebuild()
            self._unsaved += 1
        self._flush()
        self.report.seconds = time.perf_counter() - self._t0
        with self._storage("closing the run record"):
            self.catalog.update_run(self._run_id, self.report, self.report.seconds, finished=not interrupted)
        return self.report


def storage_message(kind: str, what: str, exc: BaseException, report: IndexReport) -> str:
    """One paragraph for a storage failure: what failed, why, what is kept, what to do."""
    why = STORAGE_PROBLEMS[kind]
    kept = f"{plural(report.indexed, 'video')} indexed in this run before it {'is' if report.indexed == 1 else 'are'}"
    return (
        f"{why} ({cause(exc)}) while {what}. The library is consistent: the {kept} kept, nothing after it was "
        f"written. {'Free some space and run' if kind == 'full' else 'Fix the storage and run'} "
        "the same command again to index the rest."
    )


def to_new_video(v: VideoResult, dated: bool = True) -> NewVideo:
    """What the catalog stores of an encoded video (the committer's rows, the reindex staging):
    its file as stat'ed before it was read (stat'ed now when the engine took no stamp) and, with
    ``dated``, its recording date read from the container's headers (:mod:`.media.dates`)."""
    m, stamp = v.meta, v.stamp or FileStamp.of(v.path)
    when = recorded_or_none(v.path) if dated else None
    return NewVideo(
        path=v.path, size=stamp.size, mtime_ns=stamp.mtime_ns, content_hash=v.content_hash,
        duration_s=m.duration_s, fps=m.fps, width=m.width, height=m.height, codec=m.codec,
        spans=[(s.start_s, s.end_s, s.kind) for s in v.spans], embeddings=v.embeddings,
        recorded_at=None if when is None else when.recorded_at, recorded_source=None if when is None else when.source,
    )  # fmt: skip


def recorded_or_none(path: Path) -> RecordingDate | None:
    """:func:`.media.dates.recording_date`, or None (logged) when the file cannot even be stat'ed."""
    try:
        return recording_date(path)
    except FileNotFoundError:  # gone since it was indexed: this run's plan drops it
        return None
    except OSError as exc:
        log.warning("no recording date for %s: %s", printable(path), exc)
        return None


def backfill_dates(catalog: Catalog) -> int:
    """Read the recording date of every indexed video that has none (indexed before dates were
    kept), from the headers only; returns how many were stored."""
    undated = catalog.undated_videos()
    found = [(vid, when.recorded_at, when.source) for vid, path in undated if (when := recorded_or_none(path))]
    if found:
        log.info("read the recording date of %d videos indexed before dates were kept", len(found))
    return catalog.set_recorded_dates(found)
