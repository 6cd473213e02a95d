"""Search by example, by date, by place through the one entry point (``Library.search``) and the CLI.

References: a hand-built library of videos written here with known recording dates (PyAV's
``creation_time``, or none: the mtime), known durations and folders named with a space, ``_``
and ``%``; the expected orders, bounds and folder matches written out by hand from those facts;
numpy over the stored vectors for the default score cutoff; the stored vectors themselves for
span queries. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from parts import catalog_of
from pg import new_database
from tempme.index import Library, Query, SearchFilters
from tempme.index.media import SegmentParams
from tempme.index.query import default_cutoff, example_vector
from typer.testing import CliRunner

UTC = dt.UTC
MTIME_AT = dt.datetime(2024, 2, 2, 12, 0, tzinfo=UTC)
# name: (folder, seconds, creation_time or None: its mtime is MTIME_AT)
VIDEOS = {
    "a.mp4": ("Holiday 2023", 2.0, dt.datetime(2023, 7, 4, 10, 0, tzinfo=UTC)),
    "b.mp4": ("Holiday 2023", 5.0, dt.datetime(2023, 7, 5, 9, 30, tzinfo=UTC)),
    "c.mp4": ("holiday_2022", 3.0, dt.datetime(2022, 12, 31, 23, 0, tzinfo=UTC)),
    "d.mkv": ("h%liday", 4.0, dt.datetime(2021, 3, 3, 8, 0, tzinfo=UTC)),
    "e.mp4": ("Work", 6.0, dt.datetime(2019, 1, 1, 0, 0, tzinfo=UTC)),
    "f.mp4": ("Work", 2.5, None),
}
EVERYTHING = SearchFilters(min_score=-1.0)  # every moment passes the cutoff


def _write(path: Path, seconds: float, created: dt.datetime | None, seed: int) -> None:
    """A video of smooth random colour fields at 10 fps (a new field every second)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        if created is not None:
            out.metadata["creation_time"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(int(seconds * 10)):
            if i % 10 == 0:
                field = np.kron(rng.integers(0, 256, (4, 6, 3)), np.ones((16, 16, 1))).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(field, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    os.utime(path, (MTIME_AT.timestamp(), MTIME_AT.timestamp()))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("handbuilt")
    out = {}
    for seed, (name, (folder, seconds, created)) in enumerate(VIDEOS.items()):
        (root / folder).mkdir(exist_ok=True)
        _write(root / folder / name, seconds, created, seed)
        out[name] = root / folder / name
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lib(request, files, tmp_path_factory):
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("_pg_database")
    library = Library.open(tmp_path_factory.mktemp("lib") / "library", create=True, database_url=url)
    params = SegmentParams(window_s=1.0, min_shot_s=0.5)
    library.add(
        sorted({p.parent for p in files.values()}), model="tempme-tiny", pretrained="none", segment_params=params
    )
    yield library
    library.close()


@pytest.fixture(scope="module")
def _pg_database(request):
    server = request.getfixturevalue("pg_server")
    with new_database(server) as url:
        yield url


def _all(lib: Library, **kw) -> list:
    return lib.search("anything at all", 200, filters=kw.pop("filters", EVERYTHING), mode="visual", **kw)


def _known(h) -> tuple:
    folder, seconds, created = VIDEOS[h.path.name]
    return folder, seconds, created or MTIME_AT


def test_recording_dates_are_stored_with_their_source(lib) -> None:
    hits = _all(lib)
    assert {h.path.name for h in hits} == set(VIDEOS)
    for h in hits:
        created = VIDEOS[h.path.name][2]
        assert h.recorded_at == (created or MTIME_AT)
        assert h.recorded_source == ("container:creation_time" if created else "mtime")
        assert h.to_dict()["recorded_at"] == h.recorded_at.isoformat()


@pytest.mark.parametrize("sort", ["date", "date-asc", "duration", "duration-asc"])
def test_sort_orders(lib, sort) -> None:
    hits = _all(lib, sort=sort)
    keys = {"date": lambda h: -_known(h)[2].timestamp(), "date-asc": lambda h: _known(h)[2].timestamp(),
            "duration": lambda h: -h.duration_s, "duration-asc": lambda h: h.duration_s}[sort]  # fmt: skip
    assert [keys(h) for h in hits] == sorted(keys(h) for h in hits)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    relevance = _all(lib)  # the same moments, in another order
    assert sorted(h.segment_id for h in hits) == sorted(h.segment_id for h in relevance)
    if sort.startswith("duration"):  # durations as written (10 fps: whole frames)
        assert {h.path.name: round(h.duration_s, 1) for h in hits} == {n: v[1] for n, v in VIDEOS.items()}


def test_sorted_pages_are_one_order(lib) -> None:
    whole = _all(lib, sort="date")
    pages = [h for offset in range(0, len(whole), 3) for h in
             lib.search("anything at all", 3, offset=offset, filters=EVERYTHING, mode="visual", sort="date")]  # fmt: skip
    assert [(h.segment_id, h.rank) for h in pages] == [(h.segment_id, h.rank) for h in whole]


@pytest.mark.parametrize(
    "after,before,expected",
    [
        (dt.datetime(2023, 1, 1, tzinfo=UTC), None, {"a.mp4", "b.mp4", "f.mp4"}),
        (None, dt.datetime(2022, 1, 1, tzinfo=UTC), {"d.mkv", "e.mp4"}),
        (dt.datetime(2022, 12, 31, 23, 0, tzinfo=UTC), dt.datetime(2023, 7, 5, 9, 30, tzinfo=UTC), {"c.mp4", "a.mp4"}),
        (
            dt.datetime(2023, 7, 4, 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            None,
            {"b.mp4", "f.mp4"},
        ),  # 10:01 UTC
    ],
)
def test_date_bounds(lib, after, before, expected) -> None:
    filters = SearchFilters(date_from=after, date_to=before, min_score=-1.0)
    assert {h.path.name for h in _all(lib, filters=filters)} == expected


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("HOLIDAY", {"a.mp4", "b.mp4", "c.mp4"}),  # partial, any case
        ("holiday 2023/", {"a.mp4", "b.mp4"}),
        ("_2022", {"c.mp4"}),  # _ is a character, not a wildcard
        ("h%l", {"d.mkv"}),  # so is %
        ("%", {"d.mkv"}),
        ("work", {"e.mp4", "f.mp4"}),
        ("a.mp4", set()),  # a file name is not a folder
        ("Holidays", set()),
    ],
)
def test_folder_filter_as_people_type_it(lib, typed, expected) -> None:
    assert {h.path.name for h in _all(lib, filters=SearchFilters(folder=typed, min_score=-1.0))} == expected


def test_absolute_folder_is_that_folder_and_below(lib, files) -> None:
    work = files["e.mp4"].parent
    assert {h.path.name for h in _all(lib, filters=SearchFilters(folder=str(work), min_score=-1.0))} == {
        "e.mp4",
        "f.mp4",
    }
    folders = lib.stats().folders
    assert sorted(f.name for f in folders) == sorted({v[0] for v in VIDEOS.values()})


def test_default_cutoff_before_a_date_sort(lib) -> None:
    """Without min_score a sort keeps the moments scoring 1 std above the query's mean cosine over
    the library (here every stored vector is in the sample)."""
    text = "anything at all"
    _, vecs = catalog_of(lib).stored_vectors()
    cos = vecs @ _query_vector(lib, text)  # (N,)
    cutoff = float(cos.mean() + cos.std())
    relevance = _all(lib)
    sorted_hits = lib.search(text, 200, mode="visual", sort="date")
    kept = {h.segment_id for h in relevance if h.visual_score >= cutoff}
    assert sorted_hits and {h.segment_id for h in sorted_hits} == kept and len(kept) < len(relevance)
    assert default_cutoff(_query_vector(lib, text), vecs) == pytest.approx(cutoff, abs=1e-6)


def _query_vector(lib: Library, text: str) -> np.ndarray:
    from tempme.index.query import QueryEncoder

    return QueryEncoder(lib.encoder).encode(text)


def test_clip_and_span_queries_leave_their_video_out_unless_asked(lib, files) -> None:
    ids, vecs = catalog_of(lib).stored_vectors()
    b = files["b.mp4"]
    rows = [lib.shelf.segment(int(i)) for i in ids]
    seg = next(r for r in rows if r.path.name == "b.mp4" and r.start_s > 0)
    ex = example_vector(Query(clip=b, start_s=seg.start_s, end_s=seg.end_s), lib.encoder(), catalog_of(lib))
    assert ex.stored and ex.video_id == seg.video_id  # the span is a stored segment: its vector
    np.testing.assert_array_equal(ex.vector, lib.shelf.segment_vector(seg.segment_id))
    span = Query(clip=b, start_s=seg.start_s, end_s=seg.end_s)
    assert "b.mp4" not in {h.path.name for h in lib.search(span, 50, filters=EVERYTHING)}
    first = lib.search(Query(clip=b, start_s=seg.start_s, end_s=seg.end_s, include_self=True), 1)[0]
    assert first.segment_id == seg.segment_id and first.score == pytest.approx(1.0, abs=1e-5)
    whole = lib.search(Query(clip=b), 50, filters=EVERYTHING)  # the whole file: decoded, itself left out
    assert whole and "b.mp4" not in {h.path.name for h in whole}


def test_image_refined_by_text_and_modes(lib, files, tmp_path) -> None:
    from PIL import Image

    from tempme.video import sample_frames

    Image.fromarray(sample_frames(files["c.mp4"], [1.5])[0]).save(tmp_path / "c.png")
    image = lib.search(Query(image=tmp_path / "c.png"), 3)
    assert image[0].path.name == "c.mp4"  # the picture's own video first
    refined = lib.search(Query(image=tmp_path / "c.png", text="at night", text_weight=0.0), 3)
    assert [h.segment_id for h in refined] == [h.segment_id for h in image]  # weight 0: the image alone
    with pytest.raises(ValueError, match="no words"):
        lib.search(Query(image=tmp_path / "c.png"), 3, mode="speech")


def test_old_libraries_get_their_dates_at_the_next_index_run(lib, files) -> None:
    from sqlalchemy import text

    with catalog_of(lib).engine.begin() as conn:
        conn.execute(text("UPDATE videos SET recorded_at = NULL, recorded_source = NULL"))
    assert all(h.recorded_at is None for h in _all(lib))
    report = lib.add(sorted({p.parent for p in files.values()}))  # nothing to encode: headers only
    assert report.indexed == 0
    for h in _all(lib):
        assert h.recorded_at == _known(h)[2]


def test_cli(lib, files, tmp_path) -> None:
    from tempme.app.cli import cli

    run = lambda *a: CliRunner().invoke(cli, ["--library", str(lib.path), "search", *a, "--no-server"])  # noqa: E731
    res = run("anything", "--sort", "date", "--min-score", "-1", "--after", "2022-06-01", "--json", "-k", "50")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)["hits"]  # one object per query (issue 24)
    assert {h["video"].split("/")[-1] for h in got} == {"a.mp4", "b.mp4", "c.mp4", "f.mp4"}
    dates = [h["recorded_at"] for h in got]
    assert dates == sorted(dates, reverse=True)
    res = run("--clip", str(files["b.mp4"]), "--start", "1", "--end", "3", "-k", "3")
    verdict_line, header, *rows = res.stdout.splitlines()  # the verdict names the example; no row is its video
    assert res.exit_code == 0 and "moments like b.mp4" in verdict_line and "rank" in header, res.output
    assert rows and not any("b.mp4" in row for row in rows), res.output
    res = run("anything", "--folder", "edgy")
    assert res.exit_code == 0 and "No moments in folders matching “edgy”" in res.stderr
    assert "Holiday 2023" in res.stderr and "h%liday" in res.stderr
    for bad, says in [(["x", "--after", "June"], "--after takes a date"), (["--image", "nope.jpg"], "no such file"),
                      (["x", "--sort", "size"], "sort must be one of"), ([], "give a query")]:  # fmt: skip
        res = run(*bad)
        assert res.exit_code != 0 and says in res.output, res.output


def test_mode_all_searches_speech_and_screen_text_with_the_refining_text(lib, files, tmp_path) -> None:
    """Last in this file: it adds an on-screen line to the module's library."""
    from PIL import Image
    from tempme.index.catalog import EnrichmentRecord, NewTextLine

    from tempme.video import sample_frames

    e = next(h for h in _all(lib) if h.path.name == "e.mp4")
    line = NewTextLine("ocr", 2.0, 3.0, "SUMMER HOLIDAY", 0.99, box=(0.1, 0.1, 0.5, 0.2))
    catalog_of(lib).add_enrichment(e.video_id, "ocr", EnrichmentRecord("ok", "test", "hand-written"), [line])
    Image.fromarray(sample_frames(files["c.mp4"], [1.5])[0]).save(tmp_path / "c.png")
    refined = lib.search(Query(image=tmp_path / "c.png", text="summer holiday"), 5, mode="all")
    shown = next(h for h in refined if h.ocr_text == "SUMMER HOLIDAY")  # the text side read the screen
    assert shown.path.name == "e.mp4" and "text" in shown.matched
    alone = lib.search(Query(image=tmp_path / "c.png"), 5, mode="all")  # no text: the look alone
    assert alone and all(h.matched == ("visual",) for h in alone)
    with pytest.raises(ValueError, match="no words"):
        lib.search(Query(image=tmp_path / "c.png"), 5, mode="text")
