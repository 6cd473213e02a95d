"""Video files on disk: the one list of video extensions, folder walking, path containment, hashing.

Every part of the project that asks "is this a video?" (a folder walked by ``tempme index``, an
upload checked by the page, a filter of the search page) reads :data:`VIDEO_EXTENSIONS`, and
every "is this file inside that folder?" question goes through :func:`is_under`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
    ".m2ts", ".3gp", ".ogv", ".vob",
)
"""Lower-case suffixes (with the dot) of the files indexed from folders and accepted as uploads."""


def is_video_name(name: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def is_under(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """True when ``path`` is one of ``roots`` or lies inside one of them.

    Pure path arithmetic on the given spellings (resolve both sides first when links matter):
    ``/a/bc`` is not under ``/a/b``.
    """
    p = Path(path)
    return any(p == Path(r) or Path(r) in p.parents for r in roots)


def walk(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Video files under ``paths`` (folders recursively, by extension, hidden entries skipped;
    files as given), resolved, sorted, without duplicates.

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
                if is_video_name(name) and not name.startswith("."):
                    out.add((Path(root) / name).resolve())
    return sorted(out)


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """blake2b-256 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
