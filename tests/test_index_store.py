"""The catalog and the FAISS store at sizes past SQLite's bound-variable limit (32,766 per
statement): repair, re-fetch and delete of 40,000 segments, checked against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tempme.index import IndexParams, SearchFilters
from tempme.index.catalog import IN_CHUNK, Catalog, EncoderInfo, NewVideo, db
from tempme.index.vectors import FaissStore

N, D = 40_000, 8


def test_repair_refetch_and_delete_past_the_sql_variable_limit(tmp_path: Path) -> None:
    assert N > 32_766 > IN_CHUNK
    catalog = Catalog(db.sqlite_url(tmp_path))
    catalog.record_encoder(EncoderInfo("synthetic", "none", None, D))
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(N, D)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    ids = catalog.add_video(
        NewVideo(
            clip,
            clip.stat().st_size,
            clip.stat().st_mtime_ns,
            "h",
            float(N),
            1.0,
            2,
            2,
            "h264",
            [(float(i), float(i + 1), "window") for i in range(N)],
            vecs,
        )
    )
    assert len(ids) == N
    store = FaissStore(tmp_path, catalog, IndexParams(ivf_threshold=10 * N))
    assert store.load() is True and store.ntotal == N  # no file yet: all 40,000 added from the catalog
    got_ids, got = catalog.stored_vectors(ids[::-1])
    assert np.array_equal(got_ids, ids) and np.array_equal(got, vecs)
    q = vecs[123] + 0.05 * vecs[7]
    scores, found = store.search(q[None], N)  # every segment, as a filtered search can fetch
    ref = vecs @ q
    np.testing.assert_allclose(scores[0], np.sort(ref)[::-1], atol=1e-5)  # near-ties may swap places
    assert np.array_equal(found[0][:20], ids[np.argsort(-ref, kind="stable")][:20])
    assert np.array_equal(np.sort(found[0]), ids)
    rows = catalog.segment_rows(found[0].tolist(), SearchFilters(extensions=(".mp4",)))
    assert len(rows) == N and rows[int(ids[5])].start_s == 5.0
    gone = catalog.delete_videos([catalog.videos_under(clip.resolve())[0]])
    assert len(gone) == N and catalog.segment_count() == 0


def test_every_catalog_write_turns_a_full_disk_into_a_storage_error(tmp_path) -> None:
    """A real full database (SQLite's ``max_page_count``: "database or disk is full") on each
    write path of the catalog: a StorageError that says so, and nothing of the write is kept."""
    from sqlalchemy import event, text
    from tempme.index import StorageError
    from tempme.index.catalog import EnrichmentRecord, NewTextLine

    cat = Catalog(db.sqlite_url(tmp_path))
    cat.record_encoder(EncoderInfo("synthetic", "none", None, 4096))
    big = np.ones((50, 4096), np.float32)  # 800 kB: more pages than the database may have

    def video(name: str) -> NewVideo:
        return NewVideo(
            tmp_path / name, 1, 1, "x", 50.0, 1.0, 1, 1, "x", [(i, i + 1.0, "shot") for i in range(50)], big
        )

    small = NewVideo(tmp_path / "small.mp4", 1, 1, "x", 1.0, 1.0, 1, 1, "x", [(0.0, 1.0, "shot")], big[:1])
    [seg] = cat.add_video(small)
    with cat.engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar()
    cat.engine.dispose()  # new connections may not grow the file any more
    event.listen(cat.engine, "connect", lambda conn, _rec: conn.execute(f"PRAGMA max_page_count = {pages}"))
    writes = {
        "add_video": lambda: cat.add_video(video("big.mp4")),
        "add_failure": lambda: cat.add_failure(tmp_path / "bad.mp4", "x" * 200_000),
        "record_encoder": lambda: cat.record_encoder(
            EncoderInfo("other", "none", None, 4, config={"x": "y" * 200_000})
        ),
        "replace_encoding": lambda: cat.replace_encoding(cat.encoder_info(), [(1, video("small.mp4"))], []),
        "add_enrichment": lambda: cat.add_enrichment(
            1, "speech", EnrichmentRecord("ok", "test", "test"), [NewTextLine("speech", 0.0, 1.0, "word " * 40_000)]
        ),
    }
    for name, write in writes.items():
        with pytest.raises(StorageError, match="disk is full") as err:
            write()
        assert err.value.kind == "full" and "nothing of it was written" in str(err.value), name
    assert cat.segment_ids().tolist() == [seg] and cat.known_files().keys() == {str(tmp_path / "small.mp4")}
    assert cat.encoder_info().arch == "synthetic" and cat.enrichment_counts("speech") == {}
