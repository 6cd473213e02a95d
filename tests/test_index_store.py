"""The catalog and the FAISS store at sizes past SQLite's bound-variable limit (32,766 per
statement): repair, re-fetch and delete of 40,000 segments, checked against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
