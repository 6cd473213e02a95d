"""Issue 22, storage: a full disk is a full disk (never "restore from a backup"), library.json is
written only for a catalog that opened (atomically, 0600, no password the driver finds by
itself, masked everywhere), damaged settings and wrong-kind names are one line (findings 8, 9,
10, 11, 12 and 17).

Real storage: a small tmpfs filled to the last byte (skipped where this process may not mount),
a real PostgreSQL server (tests/pg.py; skipped without one), the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from hostile import GOOD, VIDEOS, can_mount, tmpfs
from parts import catalog_of, index_ids
from tempme.app.cli import cli
from tempme.index import Library, StorageError
from tempme.index.ingest import encoders
from typer.testing import CliRunner

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
TINY = ["--model", "tempme-tiny", "--pretrained", "none"]


@pytest.fixture(scope="module")
def tiny():
    return encoders.load("tempme-tiny", "none")


def _run(args: list[str], env: dict | None = None):
    return CliRunner().invoke(cli, args, env=env)


def _one_line(r, *expected: str) -> str:
    """The command failed with exit code 1 and one `error:` line holding ``expected``."""
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(e in errors[0] for e in expected), r.output
    return errors[0]


def _fill(disk: Path, leave: int, name: str) -> Path:
    st = os.statvfs(disk)
    filler = disk / name
    filler.write_bytes(b"\0" * max(st.f_bavail * st.f_frsize - leave, 0))
    return filler


# ---- 8 + 9. a full disk ------------------------------------------------------------------------
def test_full_disk_is_reported_as_full_by_every_command_and_the_library_survives(tmp_path, tiny) -> None:
    if (why := can_mount()) is not None:
        pytest.skip(why)
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(6):
        shutil.copyfile(VIDEOS / GOOD[i % 3], folder / f"clip{i}.mp4")
    with tmpfs(tmp_path / "disk", "2m") as disk:
        library = disk / "lib"
        with Library.open(library, create=True) as lib:
            lib.add([VIDEOS / GOOD[1]], encoder=tiny)
        _fill(disk, 60_000, "filler")
        with Library.open(library) as lib, pytest.raises(StorageError, match="disk is full"):
            lib.add([folder], encoder=tiny, flush_every=1)  # an index run stopped by the full disk
        assert not (library / "library.db-shm").exists()  # closed: SQLite must make it again to open
        lib_opt = ["--library", str(library)]
        commands = (["stats"], ["search", "a cup", "--no-server"], ["rebuild"], ["enrich", "--ocr"],
                    ["index", str(folder)], ["remove", str(VIDEOS / GOOD[1])])  # fmt: skip
        last_byte = _fill(disk, 0, "last-byte")  # not one byte left: SQLite cannot even open it
        for args in commands:
            line = _one_line(_run([args[0], *lib_opt, *args[1:]]), "the disk is full", "free some space")
            assert "backup" not in line and "damaged" not in line.replace("nothing in the library is damaged", "")
        last_byte.unlink()
        _fill(disk, 100_000, "almost")  # a little space: what works works, the rest says why
        for args in commands:
            r = _run([args[0], *lib_opt, *args[1:]])
            if r.exit_code != 0:
                assert "backup" not in _one_line(r, "the disk is full")
        for f in ("filler", "almost"):
            (disk / f).unlink()
        again = Library.open(library)  # space again: nothing was damaged
        assert np.array_equal(index_ids(again), catalog_of(again).segment_ids())
        assert _run(["index", *lib_opt, str(folder)]).exit_code == 0
        assert len(Library.open(library).shelf.video_paths()) == 1 + len(list(folder.iterdir()))


# ---- 10 + 11. library.json ---------------------------------------------------------------------
def _with_password(url: str, password: str) -> str:
    return url.replace("postgres@", f"postgres:{password}@", 1)


def test_a_mistyped_db_leaves_nothing_and_the_corrected_one_works(pg_url, tmp_path) -> None:
    library = tmp_path / "lib"
    wrong = "postgresql+psycopg://postgres:s3cret-typo@127.0.0.1:1/nowhere"  # nothing listens on port 1
    line = _one_line(_run(["index", "--library", str(library), str(VIDEOS / GOOD[0]), *TINY, "--db", wrong]))
    assert "cannot open the catalog" in line and "s3cret" not in line and "***" in line
    assert not (library / "library.json").exists()  # nothing recorded for a catalog that never opened
    right = _with_password(pg_url, "s3cret")
    r = _run(["index", "--library", str(library), str(VIDEOS / GOOD[0]), *TINY, "--db", right])
    assert r.exit_code == 0, r.output
    settings = library / "library.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert json.loads(settings.read_text())["database_url"] == right  # nowhere else to find it: kept, 0600
    other = _with_password(pg_url.rsplit("/", 1)[0] + "/other", "s3cret")
    line = _one_line(_run(["index", "--library", str(library), str(VIDEOS / GOOD[0]), "--db", other]))
    assert "keeps its catalog" in line and "s3cret" not in line
    assert _run(["stats", "--library", str(library)]).exit_code == 0


@pytest.mark.parametrize("where", ["PGPASSWORD", ".pgpass"])
def test_a_password_the_driver_finds_by_itself_is_not_stored(pg_url, tmp_path, monkeypatch, where) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    if where == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", "s3cret")
    else:
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"# a comment\nother:*:*:*:nope\n{url.host}:{url.port}:*:{url.username}:s3cret\n")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    library = tmp_path / "lib"
    Library.open(library, create=True, database_url=_with_password(pg_url, "s3cret")).close()
    text = (library / "library.json").read_text()
    assert "s3cret" not in text and json.loads(text)["database_url"] == pg_url
    assert Library.open(library).database_url == pg_url  # later opens: the driver supplies it


# ---- 12. damaged library.json, a URL SQLAlchemy cannot use ------------------------------------
@pytest.mark.parametrize("content", ['{"database_url": ', "[1, 2]", '{"database_url": 42}', "\xff\xfe"])
def test_damaged_library_json_is_one_line_for_every_command(tmp_path, content) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    (library / "library.json").write_bytes(content.encode("latin-1"))
    for args in (["stats"], ["search", "a dog", "--no-server"], ["index", str(VIDEOS / GOOD[0])], ["rebuild"]):
        _one_line(_run([args[0], "--library", str(library), *args[1:]]), "library.json")


@pytest.mark.parametrize("url", ["nonsense://x", "postgresql+nodriver://u:pw@h/db", "not a url at all"])
def test_a_url_sqlalchemy_cannot_use_is_one_line(tmp_path, url) -> None:
    r = _run(["index", "--library", str(tmp_path / "lib"), str(VIDEOS / GOOD[0]), *TINY, "--db", url])
    line = _one_line(r, "cannot use the catalog URL")
    assert "pw@" not in line
    assert not (tmp_path / "lib" / "library.json").exists()


# ---- 17. library-internal names of the wrong kind ----------------------------------------------
@pytest.mark.parametrize("name", ["index.lock", "thumbs.key", "library.db", "library.json"])
def test_a_folder_where_the_library_keeps_a_file_is_one_line(tmp_path, tiny, name) -> None:
    library = tmp_path / "lib"
    Library.open(library, create=True).add([VIDEOS / GOOD[0]], encoder=tiny)
    target = library / name
    if target.exists():
        target.rename(library / f"{name}.saved")
    target.mkdir()
    for args in (["stats"], ["search", "a box", "--no-server"], ["index", str(VIDEOS / GOOD[1])], ["rebuild"]):
        _one_line(_run([args[0], "--library", str(library), *args[1:]]), name, "move it away")
    assert target.is_dir()  # left as it is
