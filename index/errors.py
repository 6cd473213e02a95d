"""The library's exceptions, and the one rule that turns a storage failure into a :class:`StorageError`.

Kinds (:data:`STORAGE_PROBLEMS`): disk full, read-only, locked, damaged, I/O error; each has its
own advice (:data:`STORAGE_ADVICE`), and only a damaged database is told to restore a backup.

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
    """The library's storage failed: a full disk, a read-only folder, a locked or damaged
    database, an I/O error. The message says what failed and what was kept; ``kind`` is one of
    :data:`STORAGE_PROBLEMS` (None: a damaged or unreadable file found on opening). ``bare``:
    raised where the failure happened (the database engine), without saying what the library was
    doing; :func:`storage_boundary` adds that."""

    def __init__(self, message: str, kind: str | None = None, *, bare: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.bare = bare


STORAGE_PROBLEMS = {
    "full": "the disk is full",
    "read-only": "the library folder or database is read-only",
    "locked": "the database is locked by another program",
    "damaged": "the database is damaged",
    "io": "an I/O error",
}
"""What :func:`storage_kind` can say, and the words for people."""

STORAGE_ADVICE = {
    "full": "nothing in the library is damaged: free some space and run the command again",
    "read-only": "make the library folder writable (or search only: searching works read-only)",
    "locked": "another program holds the database: wait for it to finish and try again",
    "damaged": "restore it from a backup, or move it away to start a new library",
    "io": "the disk or its connection failed: check it (the kernel log says more), then try again",
}
"""What to do about each of :data:`STORAGE_PROBLEMS`: the only kind that gets "restore from a
backup" is a damaged database."""

_LOCKED = ("database is locked", "database table is locked", "lock timeout", "could not obtain lock")

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
    if any(m in text for m in _LOCKED):
        return "locked"
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
    except StorageError as exc:
        if not exc.bare or exc.kind is None:
            raise
        detail = exc.__cause__ or exc
        raise StorageError(f"{STORAGE_PROBLEMS[exc.kind]} ({cause(detail)}) while {what}; {kept}", exc.kind) from detail
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        raise StorageError(f"{STORAGE_PROBLEMS[kind]} ({cause(exc)}) while {what}; {kept}", kind) from exc


def storage_error(kind: str, exc: BaseException, what: str | None = None, *, bare: bool = False) -> StorageError:
    """The one-line :class:`StorageError` for a failure of ``kind``: what it is, its cause, while
    doing ``what``, and the advice for that kind (:data:`STORAGE_ADVICE`)."""
    doing = f" while {what}" if what else ""
    return StorageError(f"{STORAGE_PROBLEMS[kind]} ({cause(exc)}){doing}: {STORAGE_ADVICE[kind]}", kind, bare=bare)


def cause(exc: BaseException) -> str:
    """``Type: message`` of what failed: a database driver's own error rather than SQLAlchemy's
    wrapper (whose message repeats the statement and its parameters)."""
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {detail}"
