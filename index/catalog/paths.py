"""How the catalog spells a path: the library's one text spelling of file names
(:func:`tempme.index.filenames.path_text`: bytes that are not UTF-8 as U+10FF80..U+10FFFF), with
the names that already hold one of those code points refused, to keep the mapping one-to-one."""

from __future__ import annotations

import os

from tempme.index.filenames import RESERVED, path_text, text_path


class UnstorablePathError(ValueError):
    """A file name with a code point the catalog reserves for undecodable bytes."""


def to_db(path: str | os.PathLike) -> str:
    """The catalog's spelling of a path (:func:`~tempme.index.filenames.path_text`).

    Raises:
        UnstorablePathError: the name contains a code point in U+10FF80..U+10FFFF.
    """
    text = os.fspath(path)
    if text.isascii():
        return text
    if any(RESERVED[0] <= ord(c) for c in text):
        raise UnstorablePathError(
            f"{text.encode('utf-8', 'surrogateescape')!r}: the name contains a code point "
            "in U+10FF80..U+10FFFF, which the catalog reserves; rename the file"
        )
    return path_text(text)


def from_db(text: str) -> str:
    """Inverse of :func:`to_db`: the path as Python opens it (surrogateescape)."""
    return text if text.isascii() else str(text_path(text))
