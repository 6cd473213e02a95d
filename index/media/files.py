"""Video files on disk: the one list of video extensions, folder walking, hashing.

Every part of the project that asks "is this a video?" (a folder walked by ``tempme index``, an
upload checked by the page, a filter of the search page) reads :data:`VIDEO_EXTENSIONS`; how
files are named (absolute, links kept) is :mod:`tempme.index.filenames`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Iterable

from tempme.index.filenames import absolute, link_target

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4",
    ".m4v",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".ts",
    ".mts",
    ".m2ts",
    ".3gp",
    ".ogv",
    ".vob",
)
"""Lower-case suffixes (with the dot) of the files indexed from folders and accepted as uploads."""


def is_video_name(name: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def walk(paths: Iterable[str | os.PathLike], errors: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Video files under ``paths`` (folders recursively, by extension, hidden entries skipped;
    files as given), absolute, sorted, one per file.

    Paths keep the spelling they were reached by (made absolute, links not followed): a video
    reached through a symlink is listed, stored and shown under the link's name, while reading
    and stat'ing it follow the link. When several names lead to one file (a link next to its
    target, two links), the file is listed once: under the name that is not a link itself if one was
    walked, else under the first link name in sorted order. Links that loop are listed as they are (opening them
    fails with ELOOP, recorded as that file's failure).

    A folder that cannot be listed (permissions, I/O error) is appended to ``errors`` as
    ``(folder, reason)``; without ``errors`` it raises.

    Raises:
        FileNotFoundError: a path does not exist.
        PermissionError / OSError: a folder cannot be listed and ``errors`` is None.
    """
    out: set[Path] = set()
    for p in paths:
        p = absolute(p)
        if not os.path.lexists(p):
            raise FileNotFoundError(f"no such file or folder: {p}")
        if not p.is_dir():
            out.add(p)
            continue

        def onerror(exc: OSError) -> None:
            if errors is None:
                raise exc
            errors.append((Path(exc.filename or p), f"{type(exc).__name__}: {exc.strerror or exc}"))

        for root, dirs, files in os.walk(p, onerror=onerror):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if is_video_name(name) and not name.startswith("."):
                    out.add(Path(root) / name)
    chosen: dict[Path, Path] = {}  # target -> the name it is listed under
    loops = []
    for name in sorted(out):
        target = link_target(name)
        if target is None:
            loops.append(name)
        elif target not in chosen or (chosen[target].is_symlink() and not name.is_symlink()):
            chosen[target] = name  # the file's own name (not a link) wins, else the first link
    return sorted([*chosen.values(), *loops])


class NotRegularFileError(OSError):
    """A name that leads to something other than a regular file (a FIFO, a device, a folder, a
    socket): never opened for reading, whatever its extension says."""


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def file_kind(st: os.stat_result) -> str:
    """What a stat says a file is, in words ("a regular file", "a FIFO", ...)."""
    return next((words for test, words in _KINDS if test(st.st_mode)), "a regular file")


def regular_stat(path: str | os.PathLike) -> os.stat_result | None:
    """``os.stat`` of ``path`` (links followed) when it is a regular file now; else None (gone, a
    dangling link or a loop, a folder, a FIFO, a device, a name with a NUL byte)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading in binary, only if it is a regular file (links followed).

    ``stat`` first, so a device is never opened (opening some has effects); then the open itself
    is non-blocking and checked again on the descriptor (``fstat``), so a name swapped for a FIFO
    between the two cannot block the caller (a FIFO's open waits for a writer).

    Raises:
        NotRegularFileError: a FIFO, a device, a folder or a socket (the message says which).
        OSError: it cannot be opened (missing, permissions, a symlink loop).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(errno.EINVAL, f"not a regular file ({file_kind(st)}); only regular files are read")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(
                errno.EINVAL, f"not a regular file ({file_kind(st)}); only regular files are read"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20, check: Callable[[], None] | None = None) -> str:
    """blake2b-256 hex digest of the file's bytes (:func:`open_regular`: regular files only).

    ``check``: called after every ``chunk`` bytes; it may raise to stop (a time budget, a stop
    request), so hashing a huge file is bounded like every other step of indexing a file.

    Raises:
        NotRegularFileError, OSError: see :func:`open_regular`; whatever ``check`` raises.
    """
    h = hashlib.blake2b(digest_size=32)
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
            if check is not None:
                check()
    return h.hexdigest()
