"""Video files on disk: the one list of video extensions, folder walking, hashing.

Every part of the project that asks "is this a video?" (a folder walked by ``tempme index``, an
upload checked by the page, a filter of the search page) reads :data:`VIDEO_EXTENSIONS`; how
files are named (absolute, links kept) is :mod:`tempme.index.filenames`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

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


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """blake2b-256 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
