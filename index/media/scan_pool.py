"""Decode in worker processes: :func:`.scan.scan_video` in a pool, streamed back.

Decoding a video is mostly FFmpeg (which releases the GIL), but cut detection and frame
bookkeeping are Python and NumPy work on small arrays, which threads of one process serialise
on. :class:`ScanPool` runs each scan in one of ``processes`` worker processes (``spawn``: safe
beside torch's thread pools) and streams its segments back through a bounded queue, so a
caller's thread iterates :meth:`ScanPool.scan` exactly as it would iterate ``scan_video``.
Each process decodes with ``cores // processes`` FFmpeg threads unless the parameters say
otherwise. A process that dies (a crashing decoder) fails that one file with
:class:`tempme.video.VideoDecodeError` and is replaced.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
from dataclasses import fields, replace
from pathlib import Path
from typing import Iterator

from tempme.index.media.scan import ScannedSegment, VideoScan, scan_video
from tempme.index.media.segments import SegmentParams

from tempme.video import VideoDecodeError, VideoMeta

log = logging.getLogger(__name__)


def _serve(tasks: mp.Queue, results: mp.Queue) -> None:
    """Worker process: run scans from ``tasks``; put ("seg", s) ..., then ("done", scan) or an error."""
    while True:
        job = tasks.get()
        if job is None:
            return
        path, meta, num_frames, short_side, params = job
        scan = VideoScan(cuts_s=[])
        try:
            for seg in scan_video(path, meta, num_frames, short_side, params, scan):
                results.put(("seg", seg))
            results.put(("done", scan))
        except VideoDecodeError as exc:
            results.put(("decode_error", exc.reason))
        except Exception as exc:  # reported to the caller as that file's failure
            results.put(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx, max_queued: int):
        self.tasks, self.results = ctx.Queue(), ctx.Queue(maxsize=max_queued)
        self.process = ctx.Process(target=_serve, args=(self.tasks, self.results), daemon=True, name="tempme-scan")
        self.process.start()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            self.tasks.put(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.tasks.close()
        self.results.close()


class ScanPool:
    """``processes`` decoder processes; :meth:`scan` may be called from several threads at once.

    Raises:
        ValueError: ``processes < 1`` or ``max_queued < 1``.
    """

    def __init__(self, processes: int, *, max_queued: int = 4):
        if processes < 1 or max_queued < 1:
            raise ValueError(f"processes ({processes}) and max_queued ({max_queued}) must be >= 1")
        self.processes = processes
        self.threads_per_process = max(1, (os.cpu_count() or 1) // processes)
        self._ctx = mp.get_context("spawn")
        self._max_queued = max_queued
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(processes):
            self._add_worker()

    def _add_worker(self) -> None:
        w = _Worker(self._ctx, self._max_queued)
        with self._lock:
            self._all.append(w)
        self._idle.put(w)

    def _retire(self, w: _Worker, kill: bool) -> None:
        with self._lock:
            self._all.remove(w)
        w.stop(kill=kill)

    def scan(
        self,
        path: str | os.PathLike,
        meta: VideoMeta,
        num_frames: int,
        short_side: int | None,
        params: SegmentParams = SegmentParams(),
        result: VideoScan | None = None,
    ) -> Iterator[ScannedSegment]:
        """:func:`.scan.scan_video`, run in a worker process (same arguments and errors)."""
        if self._closed:
            raise RuntimeError("ScanPool is closed")
        p = Path(path)
        if params.decode_threads == 0:
            params = replace(params, decode_threads=self.threads_per_process)
        w = self._idle.get()
        finished = False
        try:
            w.tasks.put((p, meta, num_frames, short_side, params))
            while True:
                try:
                    kind, *rest = w.results.get(timeout=1.0)
                except queue.Empty:
                    if not w.process.is_alive():
                        raise VideoDecodeError(p, f"decoder process died (exit code {w.process.exitcode})") from None
                    continue
                if kind == "seg":
                    yield rest[0]
                    continue
                finished = True
                if kind == "done":
                    if result is not None:
                        for f in fields(VideoScan):
                            setattr(result, f.name, getattr(rest[0], f.name))
                    return
                if kind == "decode_error":
                    raise VideoDecodeError(p, rest[0])
                raise RuntimeError(rest[0])
        finally:
            if finished:
                self._idle.put(w)
            else:  # abandoned or crashed mid-file: the process still holds that scan
                self._retire(w, kill=True)
                if not self._closed:
                    self._add_worker()

    def close(self) -> None:
        """Stop every worker process (idle ones finish; busy ones are killed)."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for w in workers:
            self._retire(w, kill=False)

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
