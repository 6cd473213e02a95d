"""How the catalog spells a path: file names that are not UTF-8, stored losslessly."""

from __future__ import annotations

import os

# File names are bytes on POSIX; Python shows the bytes that are not UTF-8 as lone surrogates
# U+DC80..U+DCFF (surrogateescape), which neither SQLite nor PostgreSQL can store. The catalog
# stores them as the code points U+10FF80..U+10FFFF (plane 16, private use): one character per
# byte, so the mapping is lossless and keeps path prefixes (folder filters) working. A real name
# that contains one of those 128 code points is refused (recorded as failed) to keep it one-to-one.
_TO_DB = {0xDC80 + b: 0x10FF80 + b for b in range(128)}
_FROM_DB = {v: k for k, v in _TO_DB.items()}


class UnstorablePathError(ValueError):
    """A file name with a code point the catalog reserves for undecodable bytes."""


def to_db(path: str | os.PathLike) -> str:
    """The catalog's spelling of a path (see the comment above)."""
    text = os.fspath(path)
    if text.isascii():
        return text
    if any(0x10FF80 <= ord(c) for c in text):
        raise UnstorablePathError(
            f"{text.encode('utf-8', 'surrogateescape')!r}: the name contains a code point "
            "in U+10FF80..U+10FFFF, which the catalog reserves; rename the file"
        )
    return text.translate(_TO_DB)


def from_db(text: str) -> str:
    """Inverse of :func:`to_db`: the path as Python opens it (surrogateescape)."""
    return text if text.isascii() else text.translate(_FROM_DB)
