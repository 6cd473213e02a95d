"""Issue 22, inputs and names: a non-UTF-8 file name goes through every output (finding 6);
every input limit is one line at the boundary (14); a damaged serving.json is ignored with a
warning (15). Real files, a real tiny-model library, the real CLI."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from hostile import GOOD, VIDEOS
from parts import index_ids
from tempme.app.advert import find_server, write_advert
from tempme.app.cli import cli
from tempme.app.context import AppContext
from tempme.app.validate import MAX_PATH_CHARS, InputError, make_filters
from tempme.app.web.endpoints import Api
from tempme.app.web.render import moment_caption, results_html
from tempme.index import Hit, Library, text_path
from tempme.index.ingest import encoders
from typer.testing import CliRunner

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
ODD = os.fsdecode(b"caf\xe9 \xff.mp4")  # Latin-1 bytes: not UTF-8


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("inputs")
    folder = base / "videos"
    folder.mkdir()
    shutil.copyfile(VIDEOS / GOOD[0], folder / ODD)
    shutil.copyfile(VIDEOS / GOOD[1], folder / "plain.mp4")
    with Library.open(base / "lib", create=True) as lib:
        report = lib.add([folder], encoder=encoders.load("tempme-tiny", "none"))
    assert report.indexed == 2, report.summary()
    return base / "lib"


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _one_line(r, *expected: str) -> None:
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(e in errors[0] for e in expected), r.output
    assert "Traceback" not in r.output


# ---- 6. one spelling of non-UTF-8 names, through every output ---------------------------------
def test_a_non_utf8_name_goes_through_every_output(library) -> None:
    odd = next(p for p in Library.open(library).shelf.video_paths() if p.name == ODD)
    r = _run("search", "a box", "--library", str(library), "--json", "--no-server", "--k", "10")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout.strip().splitlines()[-1])["hits"]  # one object per query (issue 24)
    assert os.fsencode(text_path(next(h["video"] for h in hits if "caf" in h["video"]))) == os.fsencode(odd)
    r = _run("search", "a box", "--library", str(library), "--no-server", "--k", "10")  # the table
    assert r.exit_code == 0 and "caf\\xe9 \\xff.mp4" in r.output, r.output
    ctx = AppContext(library)
    moments = ctx.search("a box", 10)
    found = [m for m in moments if m.path == odd]
    back = [Hit.from_dict(json.loads(json.dumps(m.to_dict()))) for m in moments]  # the server -> `tempme search`
    assert found and [(b.path, b.segment_id) for b in back] == [(m.path, m.segment_id) for m in moments]
    page = results_html(moments) + moment_caption(found[0])
    page.encode("utf-8")  # no lone surrogate reaches the page
    assert "caf\\xe9 \\xff.mp4" in page
    api = Api(ctx).api_search("a box", 10, folder=str(odd.parent))  # what /search returns over HTTP
    json.dumps(api, ensure_ascii=False).encode("utf-8")
    assert {text_path(h["video"]) for h in api} == set(Library.open(library).shelf.video_paths())
    spelled = next(h["video"] for h in api if "caf" in h["video"])  # the API takes its own spelling back
    assert {text_path(h["video"]) for h in Api(ctx).api_search("a box", 10, folder=spelled)} == {odd}
    assert ctx.playable(found[0].video_id).read_bytes() == odd.read_bytes()


# ---- 14. every limit at the boundary, in one line ---------------------------------------------
def test_input_limits_are_one_line(library) -> None:
    _one_line(_run("remove", "--library", str(library), "/tmp/x\U0010ff80.mp4"), "U+10FF80", "reserves")
    _one_line(_run("search", "a box", "--library", str(library), "--no-server", "--folder", "/" + "a" * 60_000),
              "60,001 characters", f"{MAX_PATH_CHARS:,}")  # fmt: skip
    _one_line(_run("search", "a box", "--library", str(library), "--no-server", "--folder", "/x\U0010ffff"), "U+10FFFF")
    ctx = AppContext(library)
    with pytest.raises(InputError, match="100,001 characters"):
        make_filters("/" + "b" * 100_000)
    with pytest.raises(InputError, match="lone surrogate"):
        make_filters("/tmp/\udcff")
    assert ctx.search("a box", 5, make_filters("/nowhere/\U0010ff80")) == []  # a spelled name: no match, no error
    for bad in (2**63, -1, 10**30, "2**63", 1.5, True):
        with pytest.raises(InputError, match="segment|Segment"):
            ctx.similar(bad, 5)
    assert ctx.similar(int(index_ids(ctx.library())[0]), 5)  # the control


# ---- 15. a damaged serving.json ---------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    ['{"url": "http://127.0.0.1:99999/", "pid": 1}', '{"url": "http://[::1/", "pid": 1}',
     '{"url": "http://127.0.0.1:7860/", "pid": 99999999999999999999999}', "[1]", '{"url": 5, "pid": 1}',
     '{"url": "http://127.0.0.1:7860/", "pid": 1, "auth": "yes"}', "\\xff{"],
)  # fmt: skip
def test_a_damaged_serving_json_is_ignored_with_a_warning_and_rewritten(library, content, caplog) -> None:
    advert = library / "serving.json"
    advert.write_text(content)
    try:
        with caplog.at_level(logging.WARNING, logger="tempme.app.advert"):
            assert find_server(library) is None
        assert "ignoring the damaged" in caplog.text
        r = _run("search", "a box", "--library", str(library), "--json")  # falls back to a local search
        assert r.exit_code == 0 and json.loads(r.stdout.strip().splitlines()[-1]), r.output
        assert write_advert(library, "http://127.0.0.1:1/", auth=False) == advert  # what the next serve does
        assert json.loads(advert.read_text())["pid"] == os.getpid()
    finally:
        advert.unlink(missing_ok=True)
