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


def expand_home(path: str | os.PathLike) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded as the shell does; left as it is when
    that user (or a home) does not exist (``os.path.expanduser``: pathlib's ``expanduser`` raises
    RuntimeError there, which reached people as a traceback and the API as a 500)."""
    return Path(os.path.expanduser(os.fspath(path)))


def absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute (``~`` expanded, ``.`` and ``..`` removed), links not followed: the
    name under which the library stores and shows a file."""
    return Path(os.path.abspath(expand_home(path)))


def link_target(path: str | os.PathLike) -> Path | None:
    """The file ``path`` names with every link followed; None inside a symlink loop."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # RuntimeError: "Symlink loop" (Python < 3.13)
        return None


# File names are bytes on POSIX; Python shows the bytes that are not UTF-8 as lone surrogates
# U+DC80..U+DCFF (surrogateescape), which no UTF-8 text (a database, JSON, HTML) can carry. The
# library's text spelling of a name maps them to the code points U+10FF80..U+10FFFF (plane 16,
# private use): one character per byte, lossless, prefixes kept (folder filters work).
_BYTE_TO_CHAR = {0xDC80 + b: 0x10FF80 + b for b in range(128)}
_CHAR_TO_BYTE = {v: k for k, v in _BYTE_TO_CHAR.items()}
RESERVED = (0x10FF80, 0x10FFFF)
"""The code points that stand for undecodable bytes in :func:`path_text` (first, last)."""


def path_text(path: str | os.PathLike) -> str:
    """The one text spelling of a file name for everything that stores or sends names (the
    catalog, ``--json``, the page's data, the API): valid Unicode that :func:`text_path` turns
    back into the very same bytes. Bytes that are not UTF-8 become U+10FF80 + (byte - 0x80);
    everything else is the name as it is (JSON and HTML escape their own special characters).
    What people read is :func:`printable`."""
    text = os.fspath(path)
    return text if text.isascii() else text.translate(_BYTE_TO_CHAR)


def text_path(text: str) -> Path:
    """Inverse of :func:`path_text`: the path as Python opens it (surrogateescape)."""
    return Path(text if text.isascii() else text.translate(_CHAR_TO_BYTE))


def printable(path: str | os.PathLike) -> str:
    """A path as people may see it on a terminal or a page: bytes that are not UTF-8 become
    backslash-x escapes, and so do control characters (an ESC of a terminal escape sequence, a
    newline), so a file name can neither garble the terminal nor forge output lines."""
    text = os.fsencode(os.fspath(text_path(os.fspath(path)))).decode("utf-8", "backslashreplace")
    return "".join(
        ch if unicodedata.category(ch) != "Cc" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def stored_names(path: str | os.PathLike) -> list[str]:
    """The names an existing file may be stored under in a library: as given (:func:`absolute`,
    links kept, as :func:`tempme.index.media.files.walk` names it), then with every link
    resolved; [] if it does not exist."""
    try:
        resolved = expand_home(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    return list(dict.fromkeys((str(absolute(path)), str(resolved))))


def wrong_kind(folder: str | os.PathLike, files: Iterable[str], folders: Iterable[str] = ()) -> str | None:
    """A sentence when a name the library uses inside ``folder`` is of the wrong kind (``files``:
    a folder, a FIFO or a device where a regular file belongs; ``folders``: anything but a folder
    where one belongs), links followed; None when every one that exists is right.

    The library never deletes what it did not make: the sentence says what to move away."""
    import stat

    def kind(st: os.stat_result) -> str:
        return "a folder" if stat.S_ISDIR(st.st_mode) else "a file" if stat.S_ISREG(st.st_mode) else "a special file"

    for names, want in ((files, stat.S_ISREG), (folders, stat.S_ISDIR)):
        for name in names:
            path = Path(folder) / name
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:  # a symlink loop, a permission problem
                return f"{printable(path)} cannot be used ({exc.strerror}): move it away"
            if not want(st.st_mode):
                should = "a file" if want is stat.S_ISREG else "a folder"
                return (
                    f"{printable(path)} is {kind(st)}, but the library keeps {should} under that name: move it away "
                    "(the library never deletes what it did not make)"
                )
    return None
