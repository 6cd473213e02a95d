"""The library database: engine for a SQLAlchemy URL, Alembic upgrade, sessions.

SQLite (the default: ``library.db`` in the library folder) runs in WAL mode (readers --
searches -- keep working while an indexer writes), with foreign keys on and a busy timeout so
short write conflicts wait instead of failing. Any other SQLAlchemy URL (PostgreSQL) is used as
given.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.errors import LibraryError, StorageError, storage_kind
from tempme.index.migrations import HEAD_REVISION, MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

DB_NAME = "library.db"
SETTINGS_NAME = "library.json"  # {"database_url": ...} for a catalog outside the library folder


def sqlite_url(library_dir: Path) -> str:
    """The default database of a library folder: ``sqlite:///<dir>/library.db``."""
    return f"sqlite:///{(Path(library_dir) / DB_NAME).resolve()}"


def recorded_database_url(folder: Path) -> str | None:
    """The catalog URL stored in the library folder's settings (None: SQLite ``library.db``)."""
    f = Path(folder) / SETTINGS_NAME
    return (json.loads(f.read_text()).get("database_url") or None) if f.is_file() else None


def locate(folder: Path, database_url: str | None = None, create: bool = False) -> str | None:
    """Where the catalog of the library in ``folder`` is: ``database_url``, else the one its
    settings record, else None (SQLite ``library.db`` in the folder). With ``create``, a missing
    library's folder is made and a given URL recorded, so later opens need only the folder.

    Raises:
        LibraryError: no library there and not ``create``, or another URL is recorded.
    """
    folder = Path(folder)
    recorded = recorded_database_url(folder)
    if database_url and recorded and database_url != recorded:
        raise LibraryError(
            f"the library {folder} keeps its catalog at {masked_url(recorded)}, not {masked_url(database_url)}"
        )
    database_url = database_url or recorded
    if not (folder / (SETTINGS_NAME if database_url else DB_NAME)).is_file():
        if not create:
            raise LibraryError(
                f"no library at {folder} (no {DB_NAME}); index videos first: tempme --library {folder} index VIDEO_DIR"
            )
        folder.mkdir(parents=True, exist_ok=True)
        if database_url:
            (folder / SETTINGS_NAME).write_text(json.dumps({"database_url": database_url}, indent=1) + "\n")
    return database_url


def read_only(folder: Path, database_url: str | None = None) -> bool:
    """True when nothing can be written in the library ``folder`` (or, for the default SQLite
    catalog, to its ``library.db``): the library opens for searching only."""
    db_file = Path(folder) / DB_NAME
    return not os.access(folder, os.W_OK) or (
        database_url is None and db_file.exists() and not os.access(db_file, os.W_OK)
    )


def masked_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


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
        return create_engine(url, pool_pre_ping=True, **options)
    if read_only and (f := sqlite_file(url)) is not None:
        uri = f"sqlite:///file:{f}?immutable=1&uri=true"
        engine = create_engine(uri, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", lambda conn, _r: conn.execute("PRAGMA foreign_keys=ON"))
        return engine
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **options)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


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


def storage_problem(exc: BaseException) -> str | None:
    """:func:`tempme.index.errors.storage_kind` for the catalog: an SQLAlchemy ``DBAPIError`` is
    judged by the driver's own exception (SQLite's, psycopg's), whose message says what failed."""
    if isinstance(exc, sa_exc.DBAPIError):
        return storage_kind(exc.orig if exc.orig is not None else exc, database=True)
    return storage_kind(exc, database=isinstance(exc, (sqlite3.Error, sa_exc.SQLAlchemyError)))
