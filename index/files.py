"""Video files on disk: the one list of video extensions, folder walking, path containment, hashing.

Every part of the project that asks "is this a video?" (a folder walked by ``tempme index``, an
upload checked by the page, a filter of the search page) reads :data:`VIDEO_EXTENSIONS`, and
every "is this file inside that folder?" question goes through :func:`is_under`.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path
from typing import Iterable

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


def is_under(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """True when ``path`` is one of ``roots`` or lies inside one of them.

    Pure path arithmetic on the given spellings (resolve both sides first when links matter):
    ``/a/bc`` is not under ``/a/b``.
    """
    p = Path(path)
    return any(p == Path(r) or Path(r) in p.parents for r in roots)


def _resolve(path: Path) -> Path:
    """``path`` resolved; a path inside a symlink loop stays as spelled (absolute), so that
    opening it later fails with ELOOP and is recorded as that file's failure."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # RuntimeError: "Symlink loop" (Python < 3.13)
        return Path(os.path.abspath(path))


def walk(paths: Iterable[str | os.PathLike], errors: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Video files under ``paths`` (folders recursively, by extension, hidden entries skipped;
    files as given), resolved, sorted, without duplicates.

    A folder that cannot be listed (permissions, I/O error) is appended to ``errors`` as
    ``(folder, reason)``; without ``errors`` it raises. Links that loop are returned unresolved.

    Raises:
        FileNotFoundError: a path does not exist.
        PermissionError / OSError: a folder cannot be listed and ``errors`` is None.
    """
    out: set[Path] = set()
    for p in paths:
        p = Path(p).expanduser()
        if not os.path.lexists(p):
            raise FileNotFoundError(f"no such file or folder: {p}")
        if not p.is_dir():
            out.add(_resolve(p))
            continue

        def onerror(exc: OSError) -> None:
            if errors is None:
                raise exc
            errors.append((Path(exc.filename or p), f"{type(exc).__name__}: {exc.strerror or exc}"))

        for root, dirs, files in os.walk(p, onerror=onerror):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if is_video_name(name) and not name.startswith("."):
                    out.add(_resolve(Path(root) / name))
    return sorted(out)


def printable(path: str | os.PathLike) -> str:
    """A path as people may see it on a terminal or a page: bytes that are not UTF-8 become
    backslash-x escapes, and so do control characters (an ESC of a terminal escape sequence, a
    newline), so a file name can neither garble the terminal nor forge output lines."""
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """blake2b-256 hex digest of the file's bytes."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
