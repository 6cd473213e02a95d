"""Thumbnails: a JPEG of the frame at a segment's start, cached in ``<library>/thumbs/``.

The folder is served by the page, so its names must not be guessable: a thumbnail is named by
a keyed hash of its segment id (blake2b with the library's secret key, ``thumbs.key`` beside the
folder, never inside it). Thumbnails are made only for segments still in the catalog, and the
library deletes those of the segments it drops (:func:`drop_thumbnails`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path

import numpy as np

from tempme.index.catalog import Catalog

log = logging.getLogger(__name__)

KEY_NAME = "thumbs.key"
_LEGACY = re.compile(r"^\d+\.jpg$")  # before the names were keyed: <segment_id>.jpg


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


def thumbnail(catalog: Catalog, folder: Path, key: bytes, segment_id: int, max_side: int = 320) -> Path:
    """The cached JPEG of a segment still in the catalog (made on first use; longer side
    ``max_side`` px), named by :func:`thumbnail_name`.

    Raises:
        KeyError: the segment is not (or no longer) in the catalog. tempme.video.VideoDecodeError:
        the file is gone or broken.
    """
    from PIL import Image

    from tempme.video import sample_frames

    row = catalog.segment_rows([int(segment_id)]).get(int(segment_id))
    if row is None:
        raise KeyError(f"no segment {segment_id}")
    out = Path(folder) / thumbnail_name(key, segment_id)
    if out.is_file():
        return out
    t = min(row.start_s + 0.05, (row.start_s + row.end_s) / 2)
    frame = sample_frames(row.path, [t], max_side=max_side)[0]
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    Image.fromarray(frame).save(tmp, format="JPEG", quality=85)
    os.replace(tmp, out)
    return out
