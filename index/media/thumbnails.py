"""Thumbnails: a JPEG of a representative frame from inside a segment, cached in ``<library>/thumbs/``.

The frame at a moment's first instant is often black or flat (fades, title cards), so a few
frames inside the segment are decoded and the first that is neither near-black nor
near-uniform is kept (else the one with the most detail): :func:`pick_frame`.

Made twice over: at index time from the frames the decoding pass already sampled for the encoder
(:func:`thumbnail_jpeg`: no second decode, so a new query's page shows pictures at once), and on
demand for segments without one (libraries indexed before, a reindex, the Ray engine): a few
frames decoded inside the segment (:func:`thumbnail`).

The folder is served by the page, so its names must not be guessable: a thumbnail is named by
a keyed hash of its segment id (blake2b with the library's secret key, ``thumbs.key`` beside the
folder, never inside it). Thumbnails are made only for segments still in the catalog, and the
library deletes those of the segments it drops (:func:`drop_thumbnails`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KEY_NAME = "thumbs.key"
_LEGACY = re.compile(r"^\d+\.jpg$")  # before the names were keyed: <segment_id>.jpg
CANDIDATES = (0.5, 0.25, 0.75, 0.1, 0.9)  # fractions of the segment, tried in this order
MIN_MEAN = 24.0  # luma (0-255) below this: near-black
MIN_STD = 12.0  # luma spread below this: near-uniform (a flat card)


def luma_stats(frame: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of the BT.601 luma of an (H, W, 3) uint8 frame, 0-255."""
    y = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (H, W)
    return float(y.mean()), float(y.std())


def is_blank(frame: np.ndarray) -> bool:
    """True for a near-black or near-uniform (H, W, 3) frame."""
    mean, std = luma_stats(frame)
    return mean < MIN_MEAN or std < MIN_STD


def pick_frame(frames: list[np.ndarray]) -> int:
    """Index of the first frame that is not blank, else of the one with the largest luma spread."""
    for i, f in enumerate(frames):
        if not is_blank(f):
            return i
    return int(np.argmax([luma_stats(f)[1] for f in frames]))


def load_key(library_dir: Path, writable: bool = True) -> bytes:
    """The library's thumbnail key (32 random bytes in ``library_dir/thumbs.key``, made on first
    use with mode 0600); a key for this process only when the folder is read-only."""
    path = Path(library_dir) / KEY_NAME
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    if writable:
        tmp = path.with_name(f".{KEY_NAME}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, path)
    return key


def thumbnail_name(key: bytes, segment_id: int) -> str:
    """``<32 hex digits>.jpg``: blake2b-128 of the segment id under ``key``."""
    return hashlib.blake2b(str(int(segment_id)).encode(), key=key, digest_size=16).hexdigest() + ".jpg"


def drop_thumbnails(folder: Path, key: bytes, segment_ids: np.ndarray) -> int:
    """Delete the thumbnails of ``segment_ids`` (N,) (and any left from the unkeyed naming);
    returns how many files went."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    gone = 0
    for sid in np.asarray(segment_ids, dtype=np.int64).tolist():
        try:
            (folder / thumbnail_name(key, sid)).unlink()
            gone += 1
        except FileNotFoundError:
            pass
    return gone + purge_legacy(folder)


def purge_legacy(folder: Path) -> int:
    """Delete thumbnails named by bare segment id (guessable; made by earlier versions)."""
    gone = 0
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if _LEGACY.match(entry.name):
                    os.unlink(entry.path)
                    gone += 1
    except FileNotFoundError:
        return 0
    if gone:
        log.info("removed %d thumbnails with guessable names from %s", gone, folder)
    return gone


def thumbnail_jpeg(frames: np.ndarray, times_s: np.ndarray, start_s: float, end_s: float, max_side: int = 320) -> bytes:
    """The JPEG (bytes) of a segment's thumbnail from frames already decoded: of the (T, H, W, 3)
    uint8 ``frames`` sampled at ``times_s`` (T,) seconds, those nearest to the :data:`CANDIDATES`
    fractions of ``[start_s, end_s)``, then :func:`pick_frame`; scaled down (never up) so the
    longer side is at most ``max_side`` px. About 10-20 KB at 320 x 180."""
    from PIL import Image

    length = max(0.0, end_s - start_s)
    times = np.asarray(times_s, dtype=np.float64)
    nearest = [int(np.argmin(np.abs(times - (start_s + f * length)))) for f in CANDIDATES]
    frame = frames[nearest[pick_frame([frames[i] for i in nearest])]]
    image = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)  # keeps the aspect ratio
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _write(out: Path, data: bytes) -> None:
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)


def thumbnail(
    folder: Path, key: bytes, segment_id: int, path: Path, start_s: float, end_s: float, max_side: int = 320
) -> Path:
    """The cached JPEG of a frame inside the segment ``[start_s, end_s)`` s of the video at
    ``path`` (:func:`pick_frame`; made on first use; longer side ``max_side`` px), named by
    :func:`thumbnail_name` of ``segment_id``. The caller checks that the segment is still in the
    library (names of dropped segments are deleted by :func:`drop_thumbnails`).

    Raises:
        tempme.video.VideoDecodeError: the file is gone or broken.
    """
    out = Path(folder) / thumbnail_name(key, segment_id)
    if out.is_file():  # made at index time or earlier: no decoding, no torch (tempme.video imports it)
        return out
    from PIL import Image

    from tempme.video import sample_frames

    length = max(0.0, end_s - start_s)
    frames = list(sample_frames(path, [start_s + f * length for f in CANDIDATES], max_side=max_side))
    frame = frames[pick_frame(frames)]
    data = io.BytesIO()
    Image.fromarray(frame).save(data, format="JPEG", quality=85)
    _write(out, data.getvalue())
    return out


class Thumbnails:
    """A library's thumbnail folder and key: :meth:`get` makes (or finds) a segment's JPEG,
    :meth:`drop` deletes those of dropped segments (never failing the caller: logged)."""

    def __init__(self, folder: Path, key: bytes) -> None:
        self.folder, self.key = Path(folder), key

    def get(self, segment_id: int, path: Path, start_s: float, end_s: float, max_side: int = 320) -> Path:
        """:func:`thumbnail` of the segment ``[start_s, end_s)`` of ``path``."""
        return thumbnail(self.folder, self.key, segment_id, path, start_s, end_s, max_side)

    def put(self, segment_ids: np.ndarray, jpegs: Sequence[bytes]) -> None:
        """Store the JPEGs made at index time (:func:`thumbnail_jpeg`), one per segment id (S,);
        a file that cannot be written is logged, not raised (the page makes it on demand)."""
        try:
            for sid, data in zip(np.asarray(segment_ids, dtype=np.int64).tolist(), jpegs, strict=True):
                if data:
                    _write(self.folder / thumbnail_name(self.key, sid), data)
        except (OSError, ValueError) as exc:
            log.warning("cannot store thumbnails made while indexing: %s", exc)

    def drop(self, segment_ids: np.ndarray) -> None:
        """:func:`drop_thumbnails`; a file that cannot be deleted is logged, not raised."""
        try:
            drop_thumbnails(self.folder, self.key, segment_ids)
        except OSError as exc:
            log.warning("cannot delete thumbnails of removed segments: %s", exc)
