"""Where a library's catalog lives, and ``library.json``, the one file that records it.

A library keeps its catalog in ``library.db`` (SQLite) unless it was created with another
SQLAlchemy URL (``tempme index --db URL``); then ``library.json`` in the folder records that URL,
so later commands need only the folder. The file is written

- only after the catalog at that URL was opened (connected, migrated): a mistyped ``--db`` on
  the first run leaves nothing behind, and the corrected command just works;
- atomically (a temporary file renamed over it) and with mode 0600;
- without the password whenever the database driver can find it by itself: PostgreSQL reads
  ``PGPASSWORD`` and ``~/.pgpass`` (or ``PGPASSFILE``); a password that is not there stays in
  the file (0600), with a warning saying how to keep it out.

Every message shows URLs with their password masked (:func:`masked_url`). A ``library.json``
that is not JSON, or that names no URL, is a one-line :class:`~tempme.index.errors.LibraryError`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from tempme.index.catalog.locks import LOCK_NAME
from tempme.index.errors import LibraryError
from tempme.index.filenames import wrong_kind

log = logging.getLogger(__name__)

DB_NAME = "library.db"
SETTINGS_NAME = "library.json"  # {"database_url": ...} for a catalog outside the library folder
INTERNAL_FOLDERS = ("thumbs", "uploads", "reindex")


def masked_url(url: str) -> str:
    """``url`` with its password hidden, for messages (also a URL SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # ArgumentError and friends: hide whatever sits between "user:" and "@"
        return re.sub(r"(//[^/:@]*:)[^@]*@", r"\1***@", str(url))


def _drop_password(url: URL) -> URL:
    """``url`` without its password (``URL.set(password=None)`` leaves it as it is)."""
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)


def _without_password(url: str) -> URL | None:
    try:
        return _drop_password(make_url(url))
    except Exception:
        return None


def same_database(a: str, b: str) -> bool:
    """True when two URLs name the same database, passwords aside (one may come from ``.pgpass``)."""
    ua, ub = _without_password(a), _without_password(b)
    return a == b if ua is None or ub is None else ua == ub


def recorded_database_url(folder: Path) -> str | None:
    """The catalog URL stored in the library folder's ``library.json`` (None: SQLite ``library.db``).

    Raises:
        LibraryError: ``library.json`` is a folder, cannot be read, is not JSON, or its
            ``database_url`` is not text.
    """
    f = Path(folder) / SETTINGS_NAME
    if not os.path.lexists(f):
        return None
    try:
        value = json.loads(f.read_text(encoding="utf-8")).get("database_url")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise LibraryError(
            f'{f} is damaged ({why}): it should be JSON like {{"database_url": "postgresql+psycopg://..."}}; '
            "fix it, or move it away if the library keeps its catalog in library.db"
        ) from None
    if value is not None and not isinstance(value, str):
        raise LibraryError(f"{f}: database_url must be text, not {type(value).__name__}; fix it or move it away")
    return value or None


def locate(
    folder: Path, database_url: str | None = None, create: bool = False, more_files: tuple[str, ...] = ()
) -> str | None:
    """Where the catalog of the library in ``folder`` is: ``database_url``, else the one its
    ``library.json`` records, else None (SQLite ``library.db`` in the folder). With ``create``,
    a missing library's folder is made; nothing is recorded until the catalog opens
    (:func:`record_database_url`). First, the names the library keeps in its folder (its files,
    ``more_files``, its folders) are checked to be of the right kind.

    Raises:
        LibraryError: no library there and not ``create``, another URL is recorded, a damaged
            ``library.json``, or a folder where a library file belongs (``index.lock``...).
    """
    folder = Path(folder)
    files = (DB_NAME, SETTINGS_NAME, LOCK_NAME, *more_files)
    if (wrong := wrong_kind(folder, files, INTERNAL_FOLDERS)) is not None:
        raise LibraryError(wrong)  # one line, never a traceback; nothing is deleted
    recorded = recorded_database_url(folder)
    if database_url and recorded and not same_database(database_url, recorded):
        raise LibraryError(
            f"the library {folder} keeps its catalog at {masked_url(recorded)} ({SETTINGS_NAME}), not "
            f"{masked_url(database_url)}; leave out --db, or use another --library"
        )
    database_url = database_url or recorded
    if not (folder / (SETTINGS_NAME if recorded else DB_NAME)).is_file():
        if not create:
            raise LibraryError(
                f"no library at {folder} (no {DB_NAME}); index videos first: tempme --library {folder} index VIDEO_DIR"
            )
        folder.mkdir(parents=True, exist_ok=True)
    return database_url


def password_elsewhere(url: URL) -> bool:
    """True when the driver finds ``url``'s password without it: PostgreSQL's ``PGPASSWORD``, or
    a matching line of ``PGPASSFILE`` / ``~/.pgpass`` (host:port:database:user:password, ``*``
    matching anything; libpq's rules)."""
    if not url.drivername.startswith("postgresql") or url.password is None:
        return False
    password = str(url.password)
    if os.environ.get("PGPASSWORD") == password:
        return True
    passfile = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    wanted = (url.host or "localhost", str(url.port or 5432), url.database or "", url.username or "", password)
    try:
        lines = passfile.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = re.split(r"(?<!\\):", line, maxsplit=4)
        if len(fields) != 5:
            continue
        fields = [f.replace("\\:", ":").replace("\\\\", "\\") for f in fields]
        if all(f == "*" or f == w for f, w in zip(fields[:4], wanted[:4])) and fields[4] == wanted[4]:
            return True
    return False


def record_database_url(folder: Path, database_url: str | None) -> None:
    """Write ``library.json`` for a catalog just opened at ``database_url`` (see the module
    docstring: atomic, mode 0600, no password the driver finds by itself); nothing for SQLite
    ``library.db`` (None) or when one is already recorded."""
    if database_url is None or recorded_database_url(folder) is not None:
        return
    try:
        url = make_url(database_url)
    except Exception:
        url = None
    stored = database_url
    if url is not None and url.password is not None:
        if password_elsewhere(url):
            stored = _drop_password(url).render_as_string(hide_password=False)
        else:
            log.warning(
                "%s keeps the catalog password (mode 0600); to keep it out, put it in ~/.pgpass or PGPASSWORD "
                "and create the library again",
                Path(folder) / SETTINGS_NAME,
            )
    path = Path(folder) / SETTINGS_NAME
    tmp = path.with_name(f".{SETTINGS_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"database_url": stored}, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
