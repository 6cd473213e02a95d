"""How the library names files: absolute spellings with links kept, link targets, containment,
and the printable form people see.

A video is stored and shown under the name it was reached by (made absolute, links not followed),
while reading and stat'ing it follow the link; every "is this file inside that folder?" question
goes through :func:`is_under`.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Iterable


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


def printable(path: str | os.PathLike) -> str:
    """A path as people may see it on a terminal or a page: bytes that are not UTF-8 become
    backslash-x escapes, and so do control characters (an ESC of a terminal escape sequence, a
    newline), so a file name can neither garble the terminal nor forge output lines."""
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def stored_names(path: str | os.PathLike) -> list[str]:
    """The names an existing file may be stored under in a library: as given (:func:`absolute`,
    links kept, as :func:`tempme.index.media.files.walk` names it), then with every link
    resolved; [] if it does not exist."""
    try:
        resolved = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    return list(dict.fromkeys((str(absolute(path)), str(resolved))))
