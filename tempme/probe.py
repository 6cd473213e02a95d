"""Video files' headers with PyAV, without torch: is it a video, how long, how large.

:func:`probe` answers before any model loads (the CLI checks its inputs with it, the ingest
screens new files with it); :mod:`tempme.video` decodes frames and re-exports these names.
Times are seconds from the start of the video stream (its ``start_time`` is subtracted).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)

TEXT_FORMATS = frozenset({"tty", "ass", "srt", "webvtt", "jacosub", "microdvd", "subviewer"})


class VideoDecodeError(Exception):
    """A file that cannot be decoded as a video; carries the path and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class VideoMeta:
    """Stream facts. ``duration_s`` in seconds; ``fps`` is the average frame rate (frames/s)."""

    duration_s: float
    fps: float
    width: int
    height: int
    codec: str


def check_regular(p: Path) -> None:
    """Raise VideoDecodeError unless ``p`` is a regular file now: stat first (a device is never
    opened), then a non-blocking open checked with ``fstat`` (a name swapped for a FIFO in between
    cannot block: FFmpeg's own open of a FIFO would wait for a writer forever)."""
    try:
        st = os.stat(p)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
    except OSError as exc:
        raise VideoDecodeError(p, "no such file" if isinstance(exc, FileNotFoundError) else str(exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoDecodeError(p, "not a regular file (a FIFO, a device or a folder); only regular files are decoded")


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open a video file with PyAV for decoding its first video stream.

    Raises:
        VideoDecodeError: no such file, an empty file, a container FFmpeg cannot open, no video
            stream, or a text file FFmpeg would render as a "video".
    """
    p = Path(path)
    check_regular(p)
    if p.stat().st_size == 0:
        raise VideoDecodeError(p, "empty file (0 bytes)")
    try:
        container = av.open(str(p), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's message, without the path again
        raise VideoDecodeError(p, f"cannot open container: {reason}") from exc
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(p, "no video stream")
    if container.format.name in TEXT_FORMATS:  # FFmpeg renders text files as ANSI-art "video"
        container.close()
        raise VideoDecodeError(p, f"not a video (FFmpeg reads it as {container.format.name!r} text)")
    return container


def stream_start(stream: av.video.stream.VideoStream) -> float:
    """The stream's first timestamp (s): time 0 of the video's clock is there."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _decode_last_time(container: av.container.InputContainer, path: Path) -> float:
    """Timestamp (s, relative to stream start) just past the last frame, found by decoding."""
    stream = container.streams.video[0]
    start = stream_start(stream)
    last, step = None, 0.0
    try:
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if last is not None:
                step = max(frame.time - start - last, 0.0)
            last = frame.time - start
    except av.FFmpegError as exc:
        if last is None:
            raise VideoDecodeError(path, f"decoding failed: {exc}") from exc
        log.warning("%s: decoding stopped early (%s); duration from decoded frames", path, exc)
    if last is None:
        raise VideoDecodeError(path, "no decodable video frame")
    return last + step


def probe(path: str | os.PathLike) -> VideoMeta:
    """Read the stream's duration, frame rate, size and codec.

    The duration comes from the video stream, else the container; when the header has neither
    (e.g. some WebM files) the file is decoded to find its last frame.

    Raises:
        VideoDecodeError: missing, empty, not a video, or no decodable frame.
    """
    p = Path(path)
    container = open_container(p)
    try:
        stream = container.streams.video[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base - max(stream_start(stream), 0.0)
        if duration is None or duration <= 0:
            duration = _decode_last_time(container, p)
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        width = stream.codec_context.width or stream.width
        height = stream.codec_context.height or stream.height
        if not width or not height:
            raise VideoDecodeError(p, f"video stream has no frame size ({width}x{height})")
        return VideoMeta(
            duration_s=float(duration),
            fps=fps,
            width=int(width),
            height=int(height),
            codec=stream.codec_context.name,
        )
    finally:
        container.close()
