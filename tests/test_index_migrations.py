"""Alembic revisions on real SQLite files: a library made at the previous head (0001, with the
whole-video embedding column) upgrades in place, keeping every row and id, and searches the same."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from parts import catalog_of, index_ids
from sqlalchemy import inspect
from tempme.index import Library
from tempme.index.catalog import db


def _make_0001_library(folder: Path, vectors: np.ndarray) -> None:
    """A library database at revision 0001 with 2 videos (one with a whole-video embedding),
    their segments and an encoder record, written with plain SQL as 0.1.0 wrote them."""
    folder.mkdir()
    engine = db.make_engine(db.sqlite_url(folder))
    db.upgrade(engine, "0001")
    engine.dispose()
    con = sqlite3.connect(folder / db.DB_NAME)
    info = {"arch": "tempme-tiny", "pretrained": "none", "adapter_hash": None, "embed_dim": vectors.shape[1]}
    con.execute(
        "INSERT INTO encoder VALUES (1, 'tempme-tiny', 'none', NULL, ?, ?, '2026-11-30 10:00:00')",
        (vectors.shape[1], json.dumps(info)),
    )
    for vid, (path, whole) in enumerate([("/v/a.mp4", vectors[0].tobytes()), ("/v/b.mp4", None)], start=1):
        con.execute(
            "INSERT INTO videos (id, path, size, mtime_ns, duration_s, status, embedding, indexed_at) "
            "VALUES (?, ?, 10, 1, 9.0, 'indexed', ?, '2026-11-30 10:00:00')",
            (vid, path, whole),
        )
    for sid, vec in enumerate(vectors, start=1):
        con.execute(
            "INSERT INTO segments (id, video_id, start_s, end_s, kind, embedding) VALUES (?, ?, ?, ?, 'shot', ?)",
            (sid, 1 if sid <= 3 else 2, float(sid), float(sid + 1), vec.tobytes()),
        )
    con.execute("INSERT INTO runs VALUES (1, '2026-11-30 10:00:00', '2026-11-30 10:01:00', 2, 5, 0, 0, 60.0)")
    con.commit()
    con.close()


def test_library_at_0001_upgrades_keeping_rows_ids_and_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    folder = tmp_path / "old"
    _make_0001_library(folder, vectors)

    lib = Library.open(folder)  # upgrades to head, then repairs the (missing) FAISS file from the rows
    assert db.current_revision(catalog_of(lib).engine) == db.head_revision() == "0009"
    columns = {c["name"] for c in inspect(catalog_of(lib).engine).get_columns("videos")}
    assert "embedding" not in columns and {"path", "duration_s", "status"} <= columns
    # revision 0006: the folder filter's key filled from each stored path; recording dates come later
    with catalog_of(lib).engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT path, folder_key, recorded_at FROM videos ORDER BY id").all()
    assert [(p, key, when) for p, key, when in rows] == [("/v/a.mp4", "/v/", None), ("/v/b.mp4", "/v/", None)]
    ids, stored = catalog_of(lib).stored_vectors()
    assert ids.tolist() == [1, 2, 3, 4, 5]  # no row lost (dropping the column must not cascade)
    np.testing.assert_array_equal(stored, vectors)
    assert lib.shelf.video_paths() == [Path("/v/a.mp4"), Path("/v/b.mp4")]
    assert sorted(index_ids(lib).tolist()) == [1, 2, 3, 4, 5] and lib.stats().segments == 5
    # the tables keep AUTOINCREMENT (ids never reused)
    con = sqlite3.connect(folder / db.DB_NAME)
    sql = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    con.close()
    assert "AUTOINCREMENT" in sql["videos"] and "AUTOINCREMENT" in sql["segments"]
    assert {"jobs", "api_keys"} <= set(sql)  # revision 0006
    # search equals brute force over the original vectors
    q = vectors[2] + 0.1 * vectors[4]
    q /= np.linalg.norm(q)
    scores, got = lib.search_segments(q[None], 5)
    order = np.argsort(-(vectors @ q), kind="stable")
    assert got[0].tolist() == (order + 1).tolist()
    lib.close()
    # opening again is a no-op at head
    again = Library.open(folder)
    assert db.current_revision(catalog_of(again).engine) == "0009" and again.stats().segments == 5
    again.close()


def test_the_recorded_head_is_alembics_head() -> None:
    """`migrations.HEAD_REVISION` (read on every open, so that Alembic is imported only to
    migrate) equals the head of Alembic's own script directory: a new revision without the bump
    fails here."""
    from alembic.script import ScriptDirectory

    assert db.head_revision() == ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()


def test_speech_stored_before_0005_gets_search_forms_and_phones(database_url, tmp_path: Path) -> None:
    """Revision 0005 backfills each utterance's search form and phones from its stored words
    (SQLite and PostgreSQL), and the full-text search reaches the search form."""
    from sqlalchemy import text
    from tempme.index.catalog import Catalog
    from tempme.index.query import search_lines

    url = database_url or db.sqlite_url(tmp_path)
    engine = db.make_engine(url)
    db.upgrade(engine, "0004")
    words = [["It", 1.0, 1.2], ["costs", 1.2, 1.6], ["$40.", 1.6, 2.4]]
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO videos (id, path, size, mtime_ns, duration_s, status, indexed_at) "
                "VALUES (1, '/v/a.mp4', 10, 1, 9.0, 'indexed', '2026-12-01 10:00:00')"
            )
        )
        c.execute(
            text(
                "INSERT INTO segments (id, video_id, start_s, end_s, kind, embedding) VALUES (1, 1, 0, 9, 'shot', :e)"
            ),
            {"e": np.zeros(4, np.float32).tobytes()},
        )
        for kind, line, wj in [("speech", "It costs $40.", json.dumps(words)), ("ocr", "SALE $40", None)]:
            c.execute(
                text(
                    "INSERT INTO text_lines (video_id, segment_id, kind, start_s, end_s, text, words_json) "
                    "VALUES (1, 1, :k, 1.0, 2.4, :t, :w)"
                ),
                {"k": kind, "t": line, "w": wj},
            )
    db.upgrade(engine)
    with engine.connect() as c:
        rows = dict(c.execute(text("SELECT kind, search_text || ' / ' || phones FROM text_lines")).all())
    engine.dispose()
    assert rows["ocr"] is None  # on-screen lines have neither
    form, phones = rows["speech"].split(" / ")
    assert "forty dollars" in form
    assert phones == "IH T|K AA S T S|F AO R T IY D AA L ER Z"  # CMUdict: IT, COSTS, FORTY DOLLARS

    catalog = Catalog(url)
    try:
        (hit,) = search_lines(catalog, "forty dollars", "speech", 5)  # no "forty" in the text itself
        assert (hit.transcript, hit.match_kind, hit.match_score) == ("It costs $40.", "normalised", 0.95)
        (hit,) = search_lines(catalog, "costs", "speech", 5)
        assert (hit.match_kind, hit.match_score, [w.word for w in hit.words]) == ("exact", 1.0, ["costs"])
    finally:
        catalog.close()
