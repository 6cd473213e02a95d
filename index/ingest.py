"""The ingest pipeline: decode in worker threads, encode in batches, hand finished videos back.

Worker threads (PyAV and OpenCV release the GIL while decoding and converting) each scan one
video at a time (:func:`index.segment.scan_video`) and put preprocessed segments on a bounded
queue; the calling thread takes segments from the queue, encodes them in batches of up to
``batch_size`` under ``torch.inference_mode`` (bf16 autocast on CUDA, through
``VideoEncoder.inference``), and calls ``on_video`` for every video whose segments are all
encoded, or ``on_failure`` for a file that could not be decoded. Decoding of the next videos
overlaps with encoding of the current batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from tempme.index.segment import SegmentParams, SegmentSpan, VideoScan, scan_video
from tempme.video import VideoDecodeError, VideoMeta, probe

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .webm .avi .mov .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv .vob".split()
)


def walk(paths: Iterable[Path]) -> list[Path]:
    """Video files under ``paths`` (folders recursively, by extension; files as given), resolved,
    sorted, without duplicates.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    out: set[Path] = set()
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
        if p.is_file():
            out.add(p.resolve())
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS and not name.startswith("."):
                    out.add((Path(root) / name).resolve())
    return sorted(out)


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    """blake2b-256 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class DecodedVideo:
    """A video whose segments are all encoded: spans (S,), embeddings (S, D), whole-video (D,)."""

    path: Path
    meta: VideoMeta
    content_hash: str
    spans: list[SegmentSpan]
    embeddings: np.ndarray
    whole: np.ndarray
    decoded_frames: int


@dataclass
class PipelineTimes:
    decode_s: float = 0.0  # summed over worker threads, without waiting for the encoder (s)
    wait_s: float = 0.0  # worker time blocked on the full queue (s)
    encode_s: float = 0.0  # wall time inside the encoder (s)
    segments: int = 0
    batches: int = 0


@dataclass
class _Pending:
    spans: list[SegmentSpan] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    queued: int = 0  # segments waiting in the batch
    done: tuple | None = None


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


def _decode_job(path: Path, key: int, out: queue.Queue, preprocess: Callable, num_frames: int,
                short_side: int, params: SegmentParams, stop: threading.Event, times: PipelineTimes,
                lock: threading.Lock) -> None:
    t0 = time.perf_counter()
    waited = [0.0]
    try:
        digest = content_hash(path)
        meta = probe(path)
        scan = VideoScan(cuts_s=[])
        n = 0
        for seg in scan_video(path, meta, num_frames, short_side, params, scan):
            if not _put(out, ("seg", key, seg.span, preprocess(seg.frames)), stop, waited):
                return
            n += 1
        whole = preprocess(scan.whole_frames) if n > 1 else None
        _put(out, ("done", key, meta, digest, whole, scan.decoded_frames), stop, waited)
    except (VideoDecodeError, OSError, ValueError, RuntimeError) as exc:
        reason = exc.reason if isinstance(exc, VideoDecodeError) else f"{type(exc).__name__}: {exc}"
        _put(out, ("failed", key, reason), stop, waited)
    except Exception as exc:  # never let one file stop the run
        log.exception("%s: unexpected error", path)
        _put(out, ("failed", key, f"{type(exc).__name__}: {exc}"), stop, waited)
    finally:
        with lock:
            times.decode_s += time.perf_counter() - t0 - waited[0]
            times.wait_s += waited[0]


def run_pipeline(
    paths: list[Path],
    encoder,
    on_video: Callable[[DecodedVideo], None],
    on_failure: Callable[[Path, str], None],
    *,
    params: SegmentParams = SegmentParams(),
    workers: int = 2,
    batch_size: int = 8,
    max_queued: int = 32,
) -> PipelineTimes:
    """Index ``paths`` with ``encoder`` (a :class:`tempme.encoder.VideoEncoder`).

    ``on_video`` and ``on_failure`` run in the calling thread, one video at a time, in the order
    videos finish. Returns decode and encode time totals.
    """
    times = PipelineTimes()
    if not paths:
        return times
    out: queue.Queue = queue.Queue(maxsize=max_queued)
    stop = threading.Event()
    pending = {i: _Pending() for i in range(len(paths))}
    batch: list[tuple[int, SegmentSpan, torch.Tensor]] = []
    finished = 0
    T, S = encoder.num_frames, encoder.image_size
    times_lock = threading.Lock()

    def encode(items: list[torch.Tensor]) -> np.ndarray:
        t0 = time.perf_counter()
        x = torch.stack(items)  # (B, T, 3, S, S)
        with encoder.inference():
            emb = encoder.encode_video(x).float().cpu().numpy()
        times.encode_s += time.perf_counter() - t0
        times.batches += 1
        return emb

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        emb = encode([b[2] for b in batch])
        for (key, span, _), e in zip(batch, emb):
            p = pending.get(key)
            if p is not None:
                p.spans.append(span)
                p.embeddings.append(e)
                p.queued -= 1
        times.segments += len(batch)
        keys = {b[0] for b in batch}
        batch = []
        for key in sorted(keys):
            finish(key)

    def finish(key: int) -> None:
        nonlocal finished
        p = pending.get(key)
        if p is None or p.done is None or p.queued:
            return
        _, _, meta, digest, whole_x, n_frames = p.done
        embs = np.stack(p.embeddings)
        whole = encode([whole_x])[0] if whole_x is not None else embs[0]
        del pending[key]
        finished += 1
        on_video(DecodedVideo(paths[key], meta, digest, p.spans, embs, whole, n_frames))

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="tempme-decode")
    try:
        for key, path in enumerate(paths):
            pool.submit(_decode_job, path, key, out, encoder.preprocess_frames, T, S, params, stop, times,
                        times_lock)
        while finished < len(paths):
            try:
                item = out.get(timeout=0.05 if batch else 1.0)
            except queue.Empty:
                flush()  # the decoders are behind: encode what we have
                continue
            kind, key = item[0], item[1]
            if kind == "seg":
                pending[key].queued += 1
                batch.append((key, item[2], item[3]))
                if len(batch) >= batch_size:
                    flush()
            elif kind == "done":
                pending[key].done = item
                finish(key)
            else:
                pending.pop(key, None)
                batch = [b for b in batch if b[0] != key]
                finished += 1
                on_failure(paths[key], item[2])
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return times
