"""Ingest, step 2: the executor turns planned video files into segments + vectors.

An executor is anything with ``run(paths, encoder) -> Iterator[VideoResult | VideoFailure]``:
it receives the planned files and an :class:`.encoders.EncoderHandle` (a loaded encoder
and the spec to rebuild it elsewhere) and yields one outcome per file, in the order files
finish. It writes nothing: the committer (:mod:`.writer`) stores what it yields.
:class:`LocalExecutor` is today's engine; another one (a Ray Data pipeline: decode and cut
detection as CPU tasks, the encoder as an actor pool built from ``encoder.spec``) is one new
file implementing the same protocol.

LocalExecutor: worker threads (PyAV and OpenCV release the GIL while decoding and converting)
each scan one video at a time (:func:`tempme.index.media.scan.scan_video`) and put preprocessed segments
on a bounded queue; the calling thread takes segments from the queue and encodes them in
batches of up to ``batch_size`` under ``torch.inference_mode`` (bf16 autocast on CUDA, through
``VideoEncoder.inference``). Decoding of the next videos overlaps with encoding of the current
batch. Stopping the iteration early stops the workers. With ``processes=True`` each thread drives
a scan in one of ``workers`` decoder processes (:class:`tempme.index.media.scan_pool.ScanPool`), so that
cut detection and frame bookkeeping (Python work) do not serialise on the GIL.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tempme.index.ingest.encoders import EncoderHandle
from tempme.index.ingest.outcomes import FileStamp, Outcome, SegmentsEncoded, VideoFailure, VideoResult
from tempme.index.media.files import NotRegularFileError, content_hash
from tempme.index.media.scan import ScannedSegment, VideoScan, scan_video
from tempme.index.media.scan_pool import ScanPool
from tempme.index.media.segments import SegmentParams, SegmentSpan
from tempme.index.media.thumbnails import thumbnail_jpeg
from tempme.index.settings import get_settings

from tempme.video import VideoDecodeError, probe

log = logging.getLogger(__name__)


class FileChangedError(OSError):
    """The file's size, mtime or inode changed while it was being read."""


class _Stopped(Exception):
    """The run stopped while a file was being read (SIGTERM, an early end): nothing to report."""


@dataclass
class _Pending:
    spans: list[SegmentSpan] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    thumbnails: list[bytes] = field(default_factory=list)  # JPEG per segment (b"": none)
    queued: int = 0  # segments waiting in the batch
    encode_s: float = 0.0
    done: tuple | None = None  # ("done", key, meta, digest, decoded_frames, decode_s, stamp)


def _put(out: queue.Queue, item: tuple, stop: threading.Event, waited: list[float]) -> bool:
    """Put unless stopped; adds the time spent waiting for the encoder to ``waited[0]``."""
    t0 = time.perf_counter()
    try:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
    finally:
        waited[0] += time.perf_counter() - t0


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, VideoDecodeError) else f"{type(exc).__name__}: {exc}"


def _retry(exc: Exception) -> bool:
    """Whether the next run tries a failed file again: permissions and transient I/O, a file
    that kept changing; never a timeout, a missing file or one that is not a regular file."""
    return isinstance(exc, (PermissionError, FileChangedError)) or (
        isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, FileNotFoundError, NotRegularFileError))
    )


def segment_thumbnail(seg: ScannedSegment) -> bytes:
    """The segment's thumbnail JPEG from its sampled frames (``b""`` when it cannot be made: the
    page then makes one on demand); never fails the file."""
    try:
        return thumbnail_jpeg(seg.frames, seg.times_s, seg.span.start_s, seg.span.end_s)
    except Exception as exc:  # PIL on an odd frame: the picture is optional
        log.debug("no thumbnail for %s-%s s: %s", seg.span.start_s, seg.span.end_s, exc)
        return b""


def _decode_job(
    path: Path,
    key: int,
    out: queue.Queue,
    preprocess: Callable,
    num_frames: int,
    short_side: int,
    params: SegmentParams,
    stop: threading.Event,
    timeout_s: float,
    attempts: int = 3,
    scan_fn: Callable = scan_video,
) -> None:
    """Hash, probe and scan one file (with ``scan_fn``: :func:`scan_video` in this thread, or a
    decoder process's), putting its segments on ``out``; then ``done``, or ``failed`` with the
    reason. A file that changes while it is read (stat before != stat after) is read again
    (``restart``: the consumer drops what it has of it), at most ``attempts`` times."""
    t0 = time.perf_counter()
    waited = [0.0]

    def spent() -> float:
        return time.perf_counter() - t0 - waited[0]

    def budget() -> None:  # between chunks of the hash: the run stopped, or the file took too long
        if stop.is_set():
            raise _Stopped
        if spent() > timeout_s:
            raise TimeoutError(f"reading the file took more than {timeout_s:g} s; the file is skipped")

    try:
        for _attempt in range(attempts):
            before = FileStamp.of(path)
            digest = content_hash(path, check=budget)  # regular files only; budget() after every chunk
            meta = probe(path)
            scan = VideoScan(cuts_s=[])
            for seg in scan_fn(path, meta, num_frames, short_side, params, scan):
                if spent() > timeout_s:
                    raise TimeoutError(
                        f"decoding took more than {timeout_s:g} s (at {seg.span.end_s:.1f} s "
                        f"of the video); the file is skipped"
                    )
                item = ("seg", key, seg.span, preprocess(seg.frames), segment_thumbnail(seg))
                if not _put(out, item, stop, waited):
                    return
            if FileStamp.of(path) == before:
                _put(out, ("done", key, meta, digest, scan.decoded_frames, spent(), before), stop, waited)
                return
            log.warning("%s changed while it was being indexed; reading it again", path)
            if not _put(out, ("restart", key), stop, waited):
                return
        raise FileChangedError(
            f"the file kept changing while it was read ({attempts} attempts); the next run indexes it again"
        )
    except _Stopped:
        return
    except (VideoDecodeError, OSError, ValueError, RuntimeError, TimeoutError) as exc:
        _put(out, ("failed", key, _reason(exc), spent(), _retry(exc)), stop, waited)
    except Exception as exc:  # never let one file stop the run
        log.exception("%s: unexpected error", path)
        _put(out, ("failed", key, f"{type(exc).__name__}: {exc}", spent(), False), stop, waited)


class _Batches:
    """One run's segments on their way through the encoder: each file's pending segments, the
    batch being filled, and the outcomes that become final as batches are encoded."""

    def __init__(self, paths: list[Path], encoder, batch_size: int, parts: bool = False) -> None:
        self.paths, self.enc, self.batch_size, self.parts = paths, encoder, batch_size, parts
        self.pending = {i: _Pending() for i in range(len(paths))}
        self.batch: list[tuple[int, SegmentSpan, torch.Tensor, bytes]] = []
        self.finished = 0

    def flush(self) -> Iterator[Outcome]:
        """Encode the batch; yield the files it completes."""
        if not self.batch:
            return
        t0 = time.perf_counter()
        x = torch.stack([b[2] for b in self.batch])  # (B, T, 3, S, S)
        with self.enc.inference():
            emb = self.enc.encode_video(x).float().cpu().numpy()  # (B, D)
        share = (time.perf_counter() - t0) / len(self.batch)
        for (key, span, _, thumb), e in zip(self.batch, emb):
            p = self.pending.get(key)
            if p is not None:
                p.spans.append(span)
                p.embeddings.append(e)
                p.thumbnails.append(thumb)
                p.queued -= 1
                p.encode_s += share
        keys = sorted({b[0] for b in self.batch})
        self.batch = []
        for key in keys:
            p = self.pending.get(key)
            if self.parts and p is not None and p.spans:  # the file's seconds so far, for the progress (also
                # when this batch completes it: a file encoded in one batch is still named while it is worked on)
                yield SegmentsEncoded(self.paths[key], max(sp.end_s for sp in p.spans))
            yield from self.finish(key)

    def finish(self, key: int) -> Iterator[Outcome]:
        """The file's outcome, once it is decoded and all its segments are encoded."""
        p = self.pending.get(key)
        if p is None or p.done is None or p.queued:
            return
        _, _, meta, digest, n_frames, decode_s, stamp = p.done
        del self.pending[key]
        self.finished += 1
        if not p.embeddings:  # e.g. an image saved as .mp4: frames without timestamps
            yield VideoFailure(self.paths[key], "no segment: no decoded frame has a timestamp", decode_s)
            return
        yield VideoResult(
            self.paths[key], meta, digest, p.spans, np.stack(p.embeddings), n_frames, decode_s, p.encode_s, stamp,
            tuple(p.thumbnails),
        )  # fmt: skip

    def take(self, item: tuple) -> Iterator[Outcome]:
        """One message of a decoding job (see :func:`_decode_job`)."""
        kind, key = item[0], item[1]
        if kind == "seg":
            self.pending[key].queued += 1
            self.batch.append((key, item[2], item[3], item[4]))
            if len(self.batch) >= self.batch_size:
                yield from self.flush()
        elif kind == "done":
            self.pending[key].done = item
            yield from self.finish(key)
        elif kind == "restart":  # the file changed while read: forget its segments
            self.pending[key] = _Pending()
            self.batch = [b for b in self.batch if b[0] != key]
        else:
            self.pending.pop(key, None)
            self.batch = [b for b in self.batch if b[0] != key]
            self.finished += 1
            yield VideoFailure(self.paths[key], item[2], item[3], item[4])


@dataclass(frozen=True)
class LocalExecutor:
    """Threaded decode + batched encode in this process; see the module docstring."""

    params: SegmentParams = SegmentParams()
    workers: int = 2  # decoding threads
    batch_size: int = 8  # segments per encoder call
    max_queued: int = 32  # preprocessed segments waiting for the encoder
    file_timeout_s: float = field(default_factory=lambda: get_settings().file_timeout_s)  # per file, decoding only (s)
    cancel: threading.Event | None = None  # set (e.g. on SIGTERM): stop within a batch, yield nothing more
    processes: bool = False  # decode in `workers` processes (media.scan_pool), each driven by a thread
    segment_progress: bool = False  # also yield SegmentsEncoded as a file's segments are encoded

    def run(self, paths: Sequence[Path], encoder: EncoderHandle) -> Iterator[Outcome]:
        paths = list(paths)
        if not paths:
            return
        enc = encoder.model
        out: queue.Queue = queue.Queue(maxsize=self.max_queued)
        stop = threading.Event()
        batches = _Batches(paths, enc, self.batch_size, self.segment_progress)
        scan_pool = ScanPool(max(1, self.workers)) if self.processes else None
        pool = ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="tempme-decode")
        try:
            for key, path in enumerate(paths):
                pool.submit(
                    _decode_job, path, key, out, enc.preprocess_frames, enc.num_frames, enc.image_size, self.params,
                    stop, self.file_timeout_s, scan_fn=scan_pool.scan if scan_pool else scan_video,
                )  # fmt: skip
            while batches.finished < len(paths):
                if self.cancel is not None and self.cancel.is_set():
                    log.warning("indexing interrupted: %d of %d files done", batches.finished, len(paths))
                    return
                try:
                    item = out.get(timeout=0.05 if batches.batch else 1.0)
                except queue.Empty:
                    yield from batches.flush()  # the decoders are behind: encode what we have
                    continue
                yield from batches.take(item)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            if scan_pool is not None:
                scan_pool.close()
