"""Whether an indexed video may be served as a file now: the one rule every route that sends
video bytes follows (docs/security.md, "What the server serves").

Checked at every request, on the file as it is now, not as it was indexed:

1. the video's catalog row exists now and is indexed (a ``tempme remove`` takes effect at once);
2. the name, every link resolved, is a regular file: not a folder, a FIFO, a device or ``/``
   (opened non-blocking, and the checks below run on the open descriptor, so a name swapped
   between the check and the open cannot pass);
3. its size is the one stat'ed when it was indexed, and its bytes hash
   (:func:`~.files.content_hash`, blake2b-256) to the stored content hash; the hash is computed
   once per file identity (device, inode, size, mtime) and process.

A video replaced after indexing by a link to ``/``, to ``/etc/shadow``, to ``library.db`` or to
another file fails one of these and is refused with :class:`NotServableError`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tempme.index.errors import LibraryError
from tempme.index.filenames import printable, stored_names
from tempme.index.media.files import open_regular


class NotServableError(LibraryError):
    """The file may not be served (not in the library now, not a regular file, not the file
    that was indexed); the message says which, in one line."""


_hashes: dict[tuple[int, int, int, int], str] = {}  # (device, inode, size, mtime_ns) -> blake2b hex
_hashes_lock = threading.Lock()


def _hash_of(fh: BinaryIO, st: os.stat_result) -> str:
    """:func:`~.files.content_hash` of the open file, once per file identity in this process."""
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _hashes_lock:
        if key in _hashes:
            return _hashes[key]
    h = hashlib.blake2b(digest_size=32)
    while block := fh.read(1 << 20):
        h.update(block)
    fh.seek(0)
    with _hashes_lock:
        if len(_hashes) > 4096:
            _hashes.clear()
        _hashes[key] = h.hexdigest()
    return _hashes[key]


def open_servable(path: Path, size: int | None, content_hash: str | None) -> BinaryIO:
    """``path`` opened for reading, if it is the file that was indexed with ``size`` bytes and
    ``content_hash`` (the catalog's values; a row without a hash is refused: nothing to check).

    Raises:
        NotServableError: not a regular file now, or not the file that was indexed.
    """
    name = printable(Path(path).name)
    try:
        fh = open_regular(path)  # links followed; stat, O_NONBLOCK open, fstat
    except (OSError, ValueError):
        raise NotServableError(f"{name} is no longer a file in the library (moved, deleted or replaced).") from None
    try:
        st = os.fstat(fh.fileno())
        if size is None or content_hash is None or st.st_size != size:
            raise NotServableError(f"{name} changed since it was indexed; index it again to serve it.")
        if _hash_of(fh, st) != content_hash:  # the very file opened, whatever the name points to now
            raise NotServableError(f"{name} is not the file that was indexed; index it again to serve it.")
        return fh
    except BaseException:
        fh.close()
        raise


def open_indexed(path: str | os.PathLike, lookup: Callable[[str], tuple[int, str | None] | None]) -> BinaryIO:
    """:func:`open_servable` for the indexed video ``path`` (by its indexed name or its link
    target); ``lookup``: a stored name -> ``(size, content_hash)`` of its indexed row, or None.

    Raises:
        NotServableError: not in the catalog now, or :func:`open_servable`'s reasons."""
    for name in stored_names(path) or [os.fspath(path)]:
        if (row := lookup(name)) is not None:
            return open_servable(Path(path), *row)
    raise NotServableError(f"{printable(Path(path).name)} is not (or no longer) in the library.")
