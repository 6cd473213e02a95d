"""The library database: engine, Alembic upgrade, sessions.

SQLite in WAL mode (readers -- searches -- keep working while an indexer writes), foreign keys
on, a busy timeout so short write conflicts wait instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import sessionmaker, Session

from tempme.index.migrations import MIGRATIONS_DIR

log = logging.getLogger(__name__)

DB_NAME = "library.db"


def db_url(library_dir: Path) -> str:
    return f"sqlite:///{(Path(library_dir) / DB_NAME).resolve()}"


def make_engine(library_dir: Path) -> Engine:
    engine = create_engine(db_url(library_dir), connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision (None for a new database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """``alembic upgrade head`` on this engine's database (no-op when already at head)."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("library database migrated to revision %s", head)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
