"""What an ingest engine hands the writer: one outcome per planned file, and the protocol every
engine (:mod:`.executor` here, :mod:`.ray` on a cluster) implements. No torch, no PyAV: the
writer and the reindex staging import these without loading an engine."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tempme.index.media.segments import SegmentSpan

if TYPE_CHECKING:
    from tempme.index.ingest.encoders import EncoderHandle

    from tempme.video import VideoMeta


@dataclass(frozen=True)
class FileStamp:
    """What ``os.stat`` said of a file before it was read: size (bytes), mtime and inode."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True)
class VideoResult:
    """A video whose segments are all encoded: S spans and their (S, D) float32 embeddings.

    ``stamp`` was taken before the file was hashed and decoded, and the file had the same stamp
    after decoding: hash, segments and stamp describe the same bytes.
    """

    path: Path
    meta: VideoMeta
    content_hash: str  # blake2b-256 hex of the file
    spans: list[SegmentSpan]
    embeddings: np.ndarray
    decoded_frames: int
    decode_s: float = 0.0  # this video's decoding time (s), without waiting for the encoder
    encode_s: float = 0.0  # its share of the encoder's time (s)
    stamp: FileStamp | None = None  # None: stat the file at commit (executors that do not stamp)
    thumbnails: tuple[bytes, ...] = ()  # (S,) JPEGs made from the decoded frames; empty: made on demand


@dataclass(frozen=True)
class VideoFailure:
    """A file that could not be indexed; ``reason`` (``"<ExceptionType>: message"`` or the
    decoder's reason) is shown to people as is. ``retry``: the failure may pass by itself
    (unreadable, changed while read), so the next run tries the file again."""

    path: Path
    reason: str
    decode_s: float = 0.0
    retry: bool = False


Outcome = VideoResult | VideoFailure


class Executor(Protocol):
    """Turns planned files into outcomes; see the module docstring."""

    def run(self, paths: Sequence[Path], encoder: EncoderHandle) -> Iterator[Outcome]: ...
