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


def absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute (``~`` expanded, ``.`` and ``..`` removed), links not followed: the
    name under which the library stores and shows a file."""
    return Path(os.path.abspath(Path(path).expanduser()))


def link_target(path: str | os.PathLike) -> Path | None:
    """The file ``path`` names with every link followed; None inside a symlink loop."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # RuntimeError: "Symlink loop" (Python < 3.13)
        return None


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
