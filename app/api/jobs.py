"""Uploads and folder indexing as jobs: the request returns at once with a job id, a thread of
this process runs the indexing, and its progress goes into the catalog (``Library.jobs``), so
``GET /jobs/{id}`` on any server process of the library reads it.

Progress is in video seconds (each file's duration probed first with PyAV) and videos;
``eta_s`` extrapolates the rate so far. Cancelling sets the job's flag in the catalog (any
process); the process running it reads the flag after each video and stops the run within a
batch (``Library.interrupt(this_run_only=True)``: what was committed is kept). Jobs wait for
the library's write lock (one indexing run at a time, across processes), checking for a
cancellation every few seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import av
from tempme.app.context import AppContext
from tempme.app.validate import BusyError, InputError
from tempme.index import IngestProgress, JobRecord, Library, LibraryBusyError, is_video_name

logger = logging.getLogger(__name__)

LOCK_POLL_S = 5.0  # how long one try for the write lock waits before checking for a cancellation
MAX_PROBED = 10_000  # files whose duration is probed for progress; beyond, progress counts videos


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def duration_s(path: Path) -> float:
    """A video file's duration in seconds (0 when the container does not say)."""
    try:
        with av.open(str(path)) as container:
            return float(container.duration or 0) / av.time_base
    except (av.FFmpegError, OSError, ValueError):
        return 0.0


def video_files(paths: list[Path]) -> list[Path]:
    """The video files at ``paths`` (files, or folders walked), at most MAX_PROBED."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            for root, _, names in os.walk(p):
                out += [Path(root, n) for n in sorted(names) if is_video_name(n)]
        elif p.is_file():
            out.append(p)
        if len(out) >= MAX_PROBED:
            return out[:MAX_PROBED]
    return out


def eta(record: JobRecord, now: float | None = None) -> tuple[float, float | None]:
    """(progress 0..1, seconds left or None) of a job record."""
    if record.total_s > 0:
        progress = min(1.0, record.done_s / record.total_s)
    elif record.videos_total:
        progress = min(1.0, record.videos_done / record.videos_total)
    else:
        progress = 1.0 if record.final else 0.0
    if record.final:
        return (1.0 if record.status == "done" else progress), 0.0
    if not record.started_at or progress <= 0:
        return progress, None
    import datetime as dt

    started = dt.datetime.fromisoformat(record.started_at.removesuffix("Z")).replace(tzinfo=dt.UTC)
    elapsed = (now or time.time()) - started.timestamp()
    return progress, max(0.0, elapsed * (1 - progress) / progress)


class JobProgress:
    """The ``ProgressFn`` of an index job: each finished video, and (through ``seconds``, which
    the library calls with an :class:`IngestProgress` as the encoding goes) the seconds of video
    done inside the current file, written to the job's record (at most every ``every_s`` seconds
    for the in-file part). ``GET /jobs/{id}`` reads them back with the ETA from the measured rate.
    """

    def __init__(self, lib: Library, job_id: str, durations: dict[str, float], every_s: float = 0.5) -> None:
        self.lib, self.job_id, self.durations, self.every_s = lib, job_id, durations, every_s
        self.done_s = 0.0  # finished files' seconds, when the library does not report seconds
        self.written_s = 0.0  # the record's done_s: it never goes back
        self.total_s = sum(durations.values())
        self.last_write = 0.0

    def __call__(self, n: int, total: int, path: str) -> None:
        self.done_s += self.durations.get(path, 0.0) if path else 0.0
        self.written_s = max(self.written_s, self.done_s)
        self.lib.jobs.update(
            self.job_id, videos_done=n, videos_total=total, done_s=self.written_s, current=path or None
        )
        if self.lib.jobs.cancel_requested(self.job_id):
            self.lib.interrupt(this_run_only=True)

    def seconds(self, p: IngestProgress) -> None:
        now = time.monotonic()
        if not p.current or (now - self.last_write < self.every_s and p.current_done_s < p.current_total_s):
            return  # between files the finished count (``__call__``, the job's own durations) stands
        self.last_write = now
        # the library's done_s counts every file in flight (a batch can span files) and never goes back
        self.written_s = max(self.written_s, min(p.done_s, self.total_s or p.done_s))
        self.lib.jobs.update(self.job_id, done_s=self.written_s, current=p.current)


class JobRunner:
    """Starts jobs over ``ctx``'s library (one thread per job)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def start(self, kind: str, paths: list[Path]) -> JobRecord:
        """Record a ``queued`` job over ``paths`` and start it. Raises InputError (no library)."""
        board = self.ctx.library().jobs
        record = board.create(kind, [str(p) for p in paths], owner())
        threading.Thread(target=self._run, args=(record.job_id, paths), name=f"tempme-job-{kind}", daemon=True).start()
        return record

    def _progress(self, job_id: str, durations: dict[str, float]) -> JobProgress:
        return JobProgress(self.ctx.library(), job_id, durations)

    def _index(self, job_id: str, paths: list[Path]):
        """Wait for the write lock (checking for a cancellation), then index; None when cancelled first."""
        lib = self.ctx.library()
        files = [f for f in video_files(paths) if not lib.shelf.is_library_file(f)]
        durations = {str(f): duration_s(f) for f in files}
        lib.jobs.update(job_id, total_s=sum(durations.values()), videos_total=len(files))
        progress = self._progress(job_id, {str(Path(k).resolve()): v for k, v in durations.items()} | durations)
        while not lib.jobs.cancel_requested(job_id):
            try:
                lib.jobs.update(job_id, status="running")
                return self.ctx.index_files(paths, progress, wait=LOCK_POLL_S)
            except BusyError:
                lib.jobs.update(job_id, status="queued")
        return None

    def _run(self, job_id: str, paths: list[Path]) -> None:
        board = self.ctx.library().jobs
        try:
            result = self._index(job_id, paths)
        except (InputError, LibraryBusyError) as e:
            logger.info("job %s failed: %s", job_id, e)
            board.update(job_id, status="failed", error=str(e))
            return
        except Exception as e:  # a bug: its traceback in the log, its name on the job
            logger.exception("job %s failed", job_id)
            board.update(job_id, status="failed", error=f"internal error: {type(e).__name__}")
            return
        cancelled = board.cancel_requested(job_id)
        status = "cancelled" if cancelled else "done"
        videos = [str(v) for v in result.videos] if result is not None else []
        board.update(job_id, status=status, summary=result.summary if result else None, videos=videos)
        logger.info("job %s %s: %s", job_id, status, result.summary if result else "before it started")
