"""The library's query model (issue 25): exported at index time, used by cold searches that never
import torch, with the torch text tower's results; the torch path (with a note) when it is
missing or stale; `tempme rebuild --query-model`; a reindex moves the new encoder's in.

A real library of three clips (tempme-tiny, random weights); the reference for every hit list is
the torch text tower (``VideoEncoder.encode_text``) searched with ``Library.search_vector``. The
model-level equivalence (ViT-B/32, B/16, LoRA) is tests/test_query_model.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from parts import catalog_of
from serving import ROOT, build_library
from tempme.app.cli import cli
from tempme.index import Library, get_settings
from tempme.index.catalog import EncoderInfo, EnrichmentRecord, NewTextLine
from typer.testing import CliRunner

from tempme.query_model import SIDECAR_FILE, QueryModelIdentity

CLIPS = ["opencv-doc__cup.mp4", "opencv-doc__box.mp4", "moviepy__fire2.mp4"]
QUERIES = ["a cup on a table", "a red box", "fire"]
HEAVY = ("torch", "open_clip", "gradio", "gradio_client", "transformers", "peft")

# a fresh interpreter: the CLI (argv), a Library.search (TEMPME_PROBE_LIBRARY) or the page's search
# (TEMPME_PROBE_PAGE: the page built as `tempme serve` builds it), then what it imported
PROBE = f"""
import json, os, sys
HEAVY = {HEAVY!r}
if os.environ.get("TEMPME_PROBE_LIBRARY"):
    from pathlib import Path
    from tempme.index import Library
    lib = Library.open(Path(os.environ["TEMPME_PROBE_LIBRARY"]))
    hits = [h.to_dict() for h in lib.search(sys.argv[1], 10, mode="visual")]
    print(json.dumps(hits)); code = 0; backend = lib.text_backend
elif os.environ.get("TEMPME_PROBE_PAGE"):
    from pathlib import Path
    from tempme.app.api.server import ServeOptions, build
    from tempme.app.web.server import private_gradio_dir
    app, ctx = build(ServeOptions(Path(os.environ["TEMPME_PROBE_PAGE"])), private_gradio_dir(), page=True)
    ctx.warm_up()
    hits = [dict(h.to_dict(), thumbnail=h.thumbnail) for h in ctx.search(sys.argv[1], 10, mode="visual")]
    print(json.dumps(hits)); code = 0; backend = ctx.library().text_backend
else:
    from typer.testing import CliRunner
    from tempme.app.cli import cli
    res = CliRunner().invoke(cli, sys.argv[1:], input=os.environ.get("TEMPME_PROBE_INPUT"))
    sys.stdout.write(res.stdout); sys.stderr.write(res.stderr); code = res.exit_code; backend = None
heavy = [m for m in HEAVY if m in sys.modules]
print("PROBE", json.dumps({{"code": code, "heavy": heavy, "backend": backend}}))
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory, videos_dir) -> Path:
    """A library built with the query model on (the suite turns it off: tests/conftest.py)."""
    lib = tmp_path_factory.mktemp("query_path") / "lib"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEMPME_QUERY_MODEL", "1")
        get_settings.cache_clear()
        report = build_library(lib, [videos_dir / c for c in CLIPS], window_s=2.0)
    get_settings.cache_clear()
    assert report.query_model.startswith("exported in"), report.query_model
    return lib


def probe(
    *argv: str, library: Path | None = None, page: Path | None = None, stdin: str | None = None
) -> tuple[str, str, dict]:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TEMPME_PROBE")}
    if library is not None:
        env["TEMPME_PROBE_LIBRARY"] = str(library)
    if page is not None:
        env["TEMPME_PROBE_PAGE"] = str(page)
    if stdin is not None:
        env["TEMPME_PROBE_INPUT"] = stdin
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env
    )
    *lines, last = out.stdout.strip().splitlines()
    assert last.startswith("PROBE "), out.stdout + out.stderr
    return "\n".join(lines), out.stderr, json.loads(last[6:])


def torch_reference(lib: Library, query: str, k: int = 10) -> list[dict]:
    """The torch text tower's vector, searched as a visual search searches it."""
    import torch

    with torch.inference_mode():
        vec = lib.encoder().encode_text([query]).float().numpy()[0]
    return [h.to_dict() for h in lib.search_vector(vec, k)]


def same_ranking(got: list[dict], want: list[dict]) -> None:
    assert len(want) >= 10 or len(got) == len(want)
    assert [h["segment_id"] for h in got] == [h["segment_id"] for h in want]
    np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-5)


def test_a_cold_search_imports_no_torch_and_ranks_as_the_torch_tower(library: Path) -> None:
    from tempme.app.context import AppContext

    assert AppContext(library).text_ready()  # what a server reports before its torch model loads
    with Library.open(library) as lib:
        assert lib.stats().query_model == "fresh" and lib.text_ready()
        assert lib.stats().segments >= 10  # a top-10 to compare
        want = {q: torch_reference(lib, q) for q in QUERIES}
    for q in QUERIES[:2]:  # the CLI, as people run it
        out, err, meta = probe("--library", str(library), "search", q, "--json", "--no-server", "--mode", "visual")
        assert meta["code"] == 0 and meta["heavy"] == [], (meta, err)
        same_ranking(json.loads(out)["hits"], want[q])  # --json: one object per query (issue 24)
    out, err, meta = probe(QUERIES[2], library=library)  # Library.search from Python
    assert meta["heavy"] == [] and meta["backend"] == "onnx", (meta, err)
    same_ranking(json.loads(out), want[QUERIES[2]])
    for argv in (["stats"], ["stats", "--json"]):
        out, err, meta = probe("--library", str(library), *argv)
        assert meta["code"] == 0 and meta["heavy"] == [], (meta, err)
    assert "query model: fresh" in probe("--library", str(library), "stats")[0]


def test_the_shell_and_the_speech_and_fused_modes_need_no_torch(library: Path) -> None:
    cat = catalog_of(Library.open(library))
    video_id = next(i for i, p in cat.indexed_videos() if p.name == CLIPS[0])
    line = NewTextLine("speech", 0.5, 1.5, "a red cup of coffee", words=(("coffee", 1.0, 1.5),))
    cat.add_enrichment(video_id, "speech", EnrichmentRecord("ok", "hand", "test"), [line])
    out, err, meta = probe("--library", str(library), "search", "coffee", "--mode", "speech", "--json", "--no-server")
    assert meta["code"] == 0 and meta["heavy"] == [], (meta, err)
    assert [Path(h["video"]).name for h in json.loads(out)["hits"]] == [CLIPS[0]]
    lines = "coffee\n:mode visual\na red box\n\n"
    out, err, meta = probe("--library", str(library), "shell", "--json", "--no-server", stdin=lines)
    assert meta["code"] == 0 and meta["heavy"] == [], (meta, err)
    fused, visual = [json.loads(x)["hits"] for x in out.splitlines() if x.startswith("{")]
    assert "speech" in fused[0]["matched"]
    with Library.open(library) as lib:
        same_ranking(visual, torch_reference(lib, "a red box"))


def test_the_page_answers_text_queries_with_index_time_pictures_and_no_torch(library: Path) -> None:
    out, err, meta = probe(QUERIES[0], page=library)  # as `tempme serve` builds, warms up and searches
    assert meta["heavy"] == ["gradio", "gradio_client"] and meta["backend"] == "onnx", (meta, err)
    hits = json.loads(out)
    assert all(Path(h["thumbnail"]).is_file() for h in hits)  # from indexing: nothing decoded (no torch)
    with Library.open(library) as lib:
        same_ranking(hits, torch_reference(lib, QUERIES[0]))


def test_serve_answers_text_searches_while_it_loads(library: Path, tmp_path: Path) -> None:
    """A live server (uvicorn on 127.0.0.1) whose API and page are still being built: its loading
    app answers text searches from the query model with `Library.search`'s hits and the full
    API's JSON; an example search (it needs torch) is the loading 503; then the full app takes over."""
    import threading

    import httpx
    from tempme.app.api.server import ServeOptions, Server, Staged, Startup, bind, uvicorn_config

    with Library.open(library) as lib:
        want = {q: [h.to_dict() for h in lib.search(q, 10, mode="visual")] for q in QUERIES[:2]}
    staged, built = Staged(ServeOptions(library), tmp_path, page=False), threading.Event()
    startup = Startup(lambda: built.wait(120) and staged.whole(), search=staged.search)
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1"
    server = Server(uvicorn_config(startup.loading), startup.stop)
    threading.Thread(target=startup.after_start, args=(server,), daemon=True).start()
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    query = {"query": QUERIES[0], "k": 10, "mode": "visual"}
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(1200):  # the loading app's 503 until the search app is built (seconds)
                with contextlib.suppress(httpx.TransportError):
                    got = client.get(f"{url}/search", params=query)
                    if got.status_code != 503:
                        break
                time.sleep(0.1)
            assert got.status_code == 200, got.text
            assert client.get(f"{url}/ready").status_code == 503 and startup.loading.app is None  # still loading
            root_ready = client.get(url.removesuffix("/api/v1") + "/ready")  # says text searches answer
            assert root_ready.status_code == 503 and root_ready.json() == {"ready": False, "text": True}
            same_ranking(got.json()["hits"], want[QUERIES[0]])
            posted = client.post(f"{url}/search", json={"query": QUERIES[1], "k": 10, "mode": "visual"})
            same_ranking(posted.json()["hits"], want[QUERIES[1]])
            example = client.post(f"{url}/search", json={"segment_id": got.json()["hits"][0]["segment_id"]})
            assert example.status_code == 503 and example.headers["retry-after"] == "2", example.text
            built.set()
            while startup.loading.app is None:
                time.sleep(0.05)
            whole = client.get(f"{url}/search", params=query).json()
            assert sorted(whole) == sorted(got.json()) and whole["hits"] == got.json()["hits"]
    finally:
        built.set()
        server.should_exit = True


@pytest.fixture
def query_model_on(monkeypatch):
    """TEMPME_QUERY_MODEL=1 in this process (the suite's default is 0: tests/conftest.py)."""
    monkeypatch.setenv("TEMPME_QUERY_MODEL", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_stale_or_missing_query_model_falls_back_to_torch_with_a_note(library: Path, caplog, query_model_on) -> None:
    folder = library / "query_model"
    sidecar = json.loads((folder / SIDECAR_FILE).read_text())
    other = dict(sidecar["identity"], context_length=77)  # another tower: stale for this library
    stale = dict(sidecar, identity=other, key=QueryModelIdentity(**other).key)
    (folder / SIDECAR_FILE).write_text(json.dumps(stale))
    try:
        with Library.open(library) as lib:
            assert lib.stats().query_model.startswith("stale: context_length: 77 != 32")
            assert not lib.text_ready()
            with caplog.at_level(logging.WARNING, logger="tempme"):
                hits = [h.to_dict() for h in lib.search(QUERIES[0], 10, mode="visual")]
            assert lib.text_backend == "torch" and lib.text_ready()
            same_ranking(hits, torch_reference(lib, QUERIES[0]))
        notes = [r.getMessage() for r in caplog.records if "rebuild --query-model" in r.getMessage()]
        assert len(notes) == 1 and "stale" in notes[0]
    finally:
        (folder / SIDECAR_FILE).write_text(json.dumps(sidecar))
    with Library.open(library) as lib:
        assert lib.stats().query_model == "fresh"


def test_rebuild_query_model_exports_a_missing_one_and_leaves_a_fresh_one(library: Path) -> None:
    folder = library / "query_model"
    res = CliRunner().invoke(cli, ["--library", str(library), "rebuild", "--query-model"])
    assert res.exit_code == 0 and "fresh (nothing to do)" in res.stdout, res.output
    res = CliRunner().invoke(cli, ["--library", str(library), "rebuild", "--query-model", "--index", "Flat"])
    assert res.exit_code == 1 and "drop --index" in res.stderr
    (folder / "text_tower.onnx.data").write_bytes(b"damaged")  # sizes differ: corrupt
    with Library.open(library) as lib:
        assert lib.stats().query_model.startswith("corrupt: text_tower.onnx.data has 7 bytes")
    res = CliRunner().invoke(cli, ["--library", str(library), "rebuild", "--query-model"])
    assert res.exit_code == 0 and "query model: exported in" in res.stdout, res.output
    with Library.open(library) as lib:
        assert lib.stats().query_model == "fresh"
        assert lib.search(QUERIES[1], 3, mode="visual") and lib.text_backend == "onnx"


def test_the_text_side_renews_when_another_encoder_is_recorded(library: Path) -> None:
    with Library.open(library) as lib:
        lib.search(QUERIES[0], 3, mode="visual")
        assert lib.text_backend == "onnx"
        from tempme.index.query import TextQueries

        record = EncoderInfo.from_dict(lib.encoder_info())
        side = TextQueries(library / "query_model", lambda: record, lib.encoder)
        side.encode("warm")
        assert side.backend == "onnx" and not side.changed(record)
        other = EncoderInfo.from_dict(dict(record.to_dict(), adapter_hash="0123abcd"))
        assert side.changed(other) and side.backend is None  # a new tower on the next query


def test_the_encoder_in_use_is_read_from_the_catalog_only_while_there_is_none(library: Path) -> None:
    """What a search's answer names (``encoder_info(in_use=True)``): the record, with no catalog
    query per search once there is one, the new one once the side is renewed."""
    from tempme.index.query import TextQueries

    with Library.open(library) as lib:
        record = EncoderInfo.from_dict(lib.encoder_info())
        assert lib.encoder_info(in_use=True) == lib.encoder_info()
        current, asked = [None], []  # a library opened before its first video

        def now() -> EncoderInfo | None:
            asked.append(1)
            return current[0]

        side = TextQueries(library / "query_model", now, lib.encoder)
        assert side.in_use() is None and side.in_use() is None and len(asked) == 3
        current[0] = record  # the first video, indexed by another process (or this one)
        assert side.in_use() == record and side.in_use() == record and len(asked) == 4
        other = EncoderInfo.from_dict(dict(record.to_dict(), adapter_hash="0123abcd"))
        assert side.changed(other) and side.in_use() == other and len(asked) == 4  # a refresh saw a reindex


def test_every_segment_has_its_thumbnail_from_indexing_showing_the_decoded_moment(library: Path) -> None:
    """Index-time thumbnails (from the frames sampled for the encoder) exist for every segment
    and show a frame of their segment (decoded anew from the video)."""
    from PIL import Image
    from tempme.index.media import load_key, thumbnail_name

    from tempme.video import sample_frames

    key = load_key(library)
    with Library.open(library) as lib:
        rows = [lib.shelf.segment(int(sid)) for sid in catalog_of(lib).segment_ids()]
        assert len(rows) >= 10
        for row in rows:
            made = library / "thumbs" / thumbnail_name(key, row.segment_id)
            assert made.is_file(), row
            assert lib.shelf.thumbnail(row.segment_id) == made  # served as is: no decoding
            picture = Image.open(made).convert("RGB")
            assert max(picture.size) <= 320
            # a frame of this segment: the nearest of 24 decoded across it (the encoder's frames are
            # not the on-demand thumbnail's candidates: ~0.3 s apart on a pan already differs by ~50)
            times = row.start_s + (np.arange(24) + 0.5) / 24 * (row.end_s - row.start_s)
            frames = sample_frames(row.path, times.tolist(), max_side=max(picture.size))
            diff = min(
                np.abs(
                    np.asarray(picture, np.float32)
                    - np.asarray(Image.fromarray(f).resize(picture.size, Image.Resampling.BICUBIC), np.float32)
                ).mean()
                for f in frames
            )
            assert diff < 12.0, (row, diff)  # the same moment (levels 0-255; another shot: ~40+)
