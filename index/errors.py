"""The library's exceptions, and the one rule that turns a storage failure into a :class:`StorageError`.

Storage is translated where it is touched: the catalog (:mod:`tempme.index.catalog`, every write
transaction) and the vector files (:mod:`tempme.index.vectors.store`, every save) run their
writes inside :func:`storage_boundary`, so ``add``, ``remove``, ``rebuild``, ``reindex`` and
``enrich`` all report a full disk, a read-only folder or a damaged database the same way.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class LibraryError(Exception):
    """A library that is missing, busy, or used with the wrong encoder."""


class LibraryBusyError(LibraryError):
    """Another process holds the library's indexing lock."""


class NotServableError(LibraryError):
    """A video that may not be served as a file now: not in the catalog, not a regular file, or
    not the file that was indexed (:mod:`tempme.index.media.servable`)."""


class StorageError(LibraryError):
    """The library's storage failed: a full disk, a read-only folder, an I/O error, a damaged
    database. The message says what failed and what was kept; ``kind`` is one of
    :data:`STORAGE_PROBLEMS` (None: a damaged or unreadable file found on opening)."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


STORAGE_PROBLEMS = {
    "full": "the disk is full",
    "read-only": "the library folder or database is read-only",
    "damaged": "the database is damaged",
    "io": "an I/O error",
}
"""What :func:`storage_kind` can say, and the words for people."""

_FULL = ("disk is full", "no space left", "quota exceeded")
_READ_ONLY = ("readonly database", "read-only file system", "attempt to write a readonly")
_BROKEN = ("malformed", "file is not a database", "disk i/o error", "database corrupt")


def storage_kind(exc: BaseException, *, database: bool = False) -> str | None:
    """What kind of storage failure ``exc`` is: ``"full"``, ``"read-only"``, ``"damaged"``,
    ``"io"`` (another OS error on a file), or None for anything else (a bug, bad input).

    An ``OSError`` is told by its errno; a FAISS ``RuntimeError`` or (``database``: the
    exception a database driver raised) by its message."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return "read-only"
        return "io"
    if not (database or isinstance(exc, RuntimeError)):
        return None
    text = str(exc).lower()
    if any(m in text for m in _FULL):
        return "full"
    if any(m in text for m in _READ_ONLY):
        return "read-only"
    if any(m in text for m in _BROKEN):
        return "damaged"
    if isinstance(exc, RuntimeError) and ("could not open" in text or "write" in text and "error" in text):
        return "io"
    return None


@contextmanager
def storage_boundary(
    what: str, kept: str, classify: Callable[[BaseException], str | None] = storage_kind
) -> Iterator[None]:
    """Run a write; a storage failure (``classify`` says which) becomes a :class:`StorageError`
    saying ``what`` failed and what was ``kept``; anything else passes through unchanged."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        raise StorageError(f"{STORAGE_PROBLEMS[kind]} ({cause(exc)}) while {what}; {kept}", kind) from exc


def cause(exc: BaseException) -> str:
    """``Type: message`` of what failed: a database driver's own error rather than SQLAlchemy's
    wrapper (whose message repeats the statement and its parameters)."""
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {detail}"
