"""The library database: engine for a SQLAlchemy URL, Alembic upgrade, sessions.

SQLite (the default: ``library.db`` in the library folder) runs in WAL mode (readers --
searches -- keep working while an indexer writes), with foreign keys on and a busy timeout so
short write conflicts wait instead of failing. Any other SQLAlchemy URL (PostgreSQL) is used as
given.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.location import DB_NAME, masked_url
from tempme.index.errors import LibraryError, StorageError, cause, storage_error, storage_kind
from tempme.index.migrations import HEAD_REVISION, MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


def sqlite_url(library_dir: Path) -> str:
    """The default database of a library folder: ``sqlite:///<dir>/library.db``."""
    return f"sqlite:///{(Path(library_dir) / DB_NAME).resolve()}"


def read_only(folder: Path, database_url: str | None = None) -> bool:
    """True when nothing can be written in the library ``folder`` (or, for the default SQLite
    catalog, to its ``library.db``): the library opens for searching only."""
    db_file = Path(folder) / DB_NAME
    return not os.access(folder, os.W_OK) or (
        database_url is None and db_file.exists() and not os.access(db_file, os.W_OK)
    )


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite:///") or url == "sqlite://":
        return None
    return Path(url[len("sqlite:///") :].split("?", 1)[0])


def check_sqlite_file(path: Path) -> None:
    """Refuse a library database that exists but cannot be one: empty (0 bytes: SQLite would
    silently make a new empty library in it) or without SQLite's header.

    Raises:
        StorageError: with the size and what to do; the file is left as it is.
    """
    if not path.exists():
        return
    size = path.stat().st_size
    if size == 0:
        raise StorageError(
            f"{path} is empty (0 bytes): it is not a library database (a failed copy or a "
            "full disk?). It was left as it is: restore it from a backup, or move it away "
            "to start a new library."
        )
    with open(path, "rb") as fh:
        header = fh.read(16)
    if header != b"SQLite format 3\x00":
        raise StorageError(
            f"{path} ({size:,} bytes) is not an SQLite database. It was left as it is: "
            "restore it from a backup, or move it away to start a new library."
        )


def make_engine(url: str, read_only: bool = False, **options) -> Engine:
    """An engine for ``url``. ``read_only`` (SQLite): open the file immutable, for a folder or
    file system nothing can be written to (SQLite's WAL needs a writable folder even to read).
    ``options`` go to ``sqlalchemy.create_engine`` (e.g. ``poolclass=NullPool``: no connection
    kept between uses)."""
    if not url.startswith("sqlite"):
        engine = _create(url, pool_pre_ping=True, **options)
        event.listen(engine, "handle_error", functools.partial(_translate_storage, url))
        return engine
    if read_only and (f := sqlite_file(url)) is not None:
        uri = f"sqlite:///file:{f}?immutable=1&uri=true"
        engine = _create(uri, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", lambda conn, _r: conn.execute("PRAGMA foreign_keys=ON"))
        event.listen(engine, "handle_error", functools.partial(_translate_storage, url))
        return engine
    engine = _create(url, connect_args={"timeout": 60, "check_same_thread": False}, **options)
    event.listen(engine, "handle_error", functools.partial(_translate_storage, url))

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def _create(url: str, **options) -> Engine:
    """``create_engine``, with a URL SQLAlchemy cannot use (a typo, a driver not installed) as a
    one-line LibraryError (its password masked)."""
    try:
        return create_engine(url, **options)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise LibraryError(f"cannot use the catalog URL {masked_url(url)}: {cause(exc)}") from None


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # imported only to migrate: an up-to-date library never needs it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest Alembic revision shipped (``migrations.HEAD_REVISION``, checked against
    Alembic's script directory by the tests)."""
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision (None for a new database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head", read_only: bool = False) -> None:
    """``alembic upgrade <revision>`` on this engine's database (no-op when already there).

    Raises:
        StorageError: ``read_only`` and the database is not at ``revision``.
    """
    target = head_revision() if revision == "head" else revision
    current = current_revision(engine)
    if current == target:
        return
    if read_only:
        raise StorageError(
            f"the library database is at revision {current} and needs {target}, but it is "
            "read-only: open it once where it can be written to migrate it"
        )
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("library database migrated to revision %s", target)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def storage_problem(exc: BaseException, url: str | None = None) -> str | None:
    """:func:`tempme.index.errors.storage_kind` for the catalog: an SQLAlchemy ``DBAPIError`` is
    judged by the driver's own exception (SQLite's, psycopg's), whose message says what failed.

    ``url``: the catalog's; for an SQLite file, a "disk I/O error" (what SQLite says when it cannot
    grow its ``-shm`` or ``-wal`` file) on a file system with no space left is a full disk, not
    a damaged database."""
    if isinstance(exc, sa_exc.DBAPIError):
        kind = storage_kind(exc.orig if exc.orig is not None else exc, database=True)
    else:
        kind = storage_kind(exc, database=isinstance(exc, (sqlite3.Error, sa_exc.SQLAlchemyError)))
    path = sqlite_file(url) if url else None
    if kind in ("damaged", "io") and path is not None and disk_full(path.parent):
        return "full"
    return kind


def disk_full(folder: Path) -> bool:
    """True when the file system of ``folder`` has (next to) no space left for this user: less
    than 64 KiB, about what SQLite needs to grow its write-ahead log by a few pages."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def _translate_storage(url: str, context) -> None:
    """SQLAlchemy's ``handle_error`` hook: a storage failure anywhere (opening, migrating, any
    read or write) becomes one bare :class:`StorageError` of its kind (what the library was doing
    is added by :func:`~tempme.index.errors.storage_boundary`); anything else goes on as it is."""
    exc = context.original_exception
    kind = storage_problem(exc, url)
    if kind is not None:
        raise storage_error(kind, exc, bare=True) from exc


def open_error(exc: BaseException, where: str | Path) -> LibraryError:
    """The one line for a catalog that could not be opened at ``where`` (a file or a URL, shown
    masked): by kind (:func:`storage_problem`), each with its own advice; a damaged database is
    left as it is. A connection refused, an unknown host or a rejected login: what the server said."""
    kind = exc.kind if isinstance(exc, StorageError) else storage_problem(exc, str(where))
    detail = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ is not None else exc
    where = masked_url(str(where)) if "://" in str(where) else str(where)
    if kind is None and isinstance(exc, sa_exc.OperationalError):  # the server cannot be reached, or refused the login
        why = str(getattr(detail, "orig", None) or detail).strip().splitlines()[0]
        return LibraryError(f"cannot open the catalog at {where}: {why}")
    if kind in ("damaged", None):
        return StorageError(
            f"{where} cannot be read as a library database ({getattr(detail, 'orig', None) or detail}). It was left "
            "as it is: restore it from a backup, or move it away to start a new library."
        )
    return storage_error(kind, detail, f"opening the library catalog {where}")
