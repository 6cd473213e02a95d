"""Browser-playable copies of library videos.

Browsers play MP4 (H.264/AAC) and WebM, not AVI or Matroska in general. A video in another
container is remuxed once (packets copied, nothing re-encoded) into MP4 with PyAV and the copy is
kept in a cache folder keyed by path, size and modification time. Codecs MP4 cannot carry are
left as they are (the browser may still refuse them; the page says so).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import av

logger = logging.getLogger(__name__)

PLAYABLE_SUFFIXES = (".mp4", ".m4v", ".webm", ".mov")
MP4_VIDEO_CODECS = ("h264", "hevc", "mpeg4", "av1", "vp9")
MP4_AUDIO_CODECS = ("aac", "mp3", "opus", "ac3")

_lock = threading.Lock()


def needs_remux(path: str | Path) -> bool:
    return Path(path).suffix.lower() not in PLAYABLE_SUFFIXES


def _cache_name(path: Path) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    return f"{hashlib.sha1(key).hexdigest()[:16]}-{path.stem}.mp4"


def remux_to_mp4(src: Path, dest: Path) -> None:
    """Copy the video stream (and a compatible audio stream) of `src` into an MP4 at `dest`.

    Raises:
        ValueError: `src` has no video stream, or its codec cannot go into MP4.
        av.FFmpegError: the container cannot be read or written.
    """
    with av.open(str(src)) as inp:
        if not inp.streams.video:
            raise ValueError(f"{src}: no video stream")
        vin = inp.streams.video[0]
        if vin.codec_context.name not in MP4_VIDEO_CODECS:
            raise ValueError(f"{src}: video codec {vin.codec_context.name!r} cannot be copied into MP4")
        ain = next((a for a in inp.streams.audio if a.codec_context.name in MP4_AUDIO_CODECS), None)
        tmp = dest.with_suffix(".part.mp4")
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            mapping = {vin.index: out.add_stream_from_template(vin)}
            if ain is not None:
                mapping[ain.index] = out.add_stream_from_template(ain)
            for packet in inp.demux([s for s in (vin, ain) if s is not None]):
                if packet.dts is None and packet.pts is None:
                    continue  # flush packets carry nothing to copy
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        os.replace(tmp, dest)


def playable_file(path: str | Path, cache_dir: str | Path) -> Path:
    """`path` itself when browsers play its container; otherwise a cached MP4 remux of it
    (made on first use). Falls back to `path` when remuxing fails (logged)."""
    path = Path(path)
    if not needs_remux(path):
        return path
    cache_dir = Path(cache_dir)
    dest = cache_dir / _cache_name(path)
    with _lock:
        if not dest.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                remux_to_mp4(path, dest)
            except (ValueError, av.FFmpegError, OSError) as e:
                logger.warning("cannot remux %s for the browser, serving it as is: %s", path, e)
                return path
    return dest
