"""Whether a catalog video may be served as a file now: the one rule every route that sends
video bytes (or pictures made from them) follows.

Checked at every request, on the file as it is now, not as it was indexed:

1. the name (after resolving every link) is a regular file: not a folder, a device or ``/``;
2. its size and modification time (ns) are those stat'ed when it was indexed;
3. its bytes hash (:func:`~.files.content_hash`, blake2b-256) to the stored content hash; the
   hash is computed once per file identity (device, inode, size, mtime) and process, so a
   ranged stream pays one ``stat`` per request.

A video replaced after indexing by a link to ``/``, to ``/etc/passwd`` or to another video
fails one of these and is refused with :class:`~tempme.index.errors.NotServableError`.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from tempme.index.errors import NotServableError
from tempme.index.filenames import link_target, printable
from tempme.index.media.files import content_hash
from tempme.index.reports import VideoRecord


@functools.lru_cache(maxsize=4096)
def _hash_of(path: str, device: int, inode: int, size: int, mtime_ns: int) -> str:
    return content_hash(path)  # the identity fields make the cache key: a changed file is hashed again


def servable_file(video: VideoRecord | None, video_id: int) -> Path:
    """The file to serve for ``video`` (the catalog's row of ``video_id``; None: there is none),
    every link resolved, after the checks above.

    Raises:
        NotServableError: not in the catalog or not indexed, not a regular file, or not the file
            that was indexed."""
    if video is None:
        raise NotServableError(f"Video {video_id} is not in the library.")
    name = printable(video.path.name)
    if video.status != "indexed":
        raise NotServableError(f"{name} is not indexed (status {video.status}).")
    target = link_target(video.path)
    try:
        st = os.stat(target) if target is not None else None
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise NotServableError(f"{name} is no longer a file in the library (moved, deleted or replaced).")
    if st.st_size != video.size or st.st_mtime_ns != video.mtime_ns:
        raise NotServableError(f"{name} changed since it was indexed; index it again to serve it.")
    if video.content_hash and _hash_of(str(target), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (
        video.content_hash
    ):
        raise NotServableError(f"{name} is not the file that was indexed; index it again to serve it.")
    return target
