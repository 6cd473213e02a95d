"""A throw-away PostgreSQL server for the catalog tests (no mocks).

``pg_server`` (session): ``initdb`` + ``pg_ctl start`` from Debian's ``/usr/lib/postgresql/*/bin``
in a temporary folder, on a free local port, as the ``postgres`` user when the tests run as root
(the server refuses to run as root); stopped and deleted at the end. ``pg_url`` (per test): a
fresh database on it, as a SQLAlchemy URL for psycopg 3 (``postgresql+psycopg://``), dropped
afterwards. Both skip with the reason when PostgreSQL or psycopg is missing
(``scripts/install_postgres.sh`` installs the server; psycopg comes with ``tempme[scale]``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def pg_server():
    """``(host, port)`` of a running throw-away server."""
    pytest.importorskip("psycopg", reason="psycopg 3 is in the scale extra: pip install 'tempme[scale]'")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server not installed (scripts/install_postgres.sh installs Debian's)")
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root but there is no `postgres` user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="tempme-pg-"))
    if os.geteuid() == 0:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, port = root / "data", _free_port()
    run = lambda cmd: subprocess.run(_as_server_user(cmd), check=True, capture_output=True, text=True)
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=50",
                "start",
            ]
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc.stderr.strip()[-300:]}")
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def new_database(server: tuple[str, int]):
    """A SQLAlchemy URL of a new, empty database on ``server`` (dropped on exit); for fixtures
    of any scope."""
    import psycopg

    host, port = server
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{host}:{port}/{name}"
    finally:
        with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server):
    """A SQLAlchemy URL of a new, empty database (dropped after the test)."""
    with new_database(pg_server) as url:
        yield url
