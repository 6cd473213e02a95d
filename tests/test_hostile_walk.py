"""Issue 22, walking and reading files: removal only for what is gone, only regular files read,
uploads stored under names a walk takes for videos (findings 2, 5 and 13).

Real folders, real links, a real FIFO and a real link to /dev/zero, a real `tempme index`
process (a hang would hold it: the test bounds it and kills it), the tiny encoder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import GOOD, VIDEOS
from tempme.index import Library
from tempme.index.ingest import encoders
from tempme.index.media import content_hash, walk

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "tempme-tiny", "--pretrained", "none"]


@pytest.fixture(scope="module")
def tiny():
    return encoders.load("tempme-tiny", "none")


# ---- 2. `tempme index PARENT` removes only what is gone ---------------------------------------
def test_index_parent_keeps_videos_still_on_disk_and_removes_only_gone_ones(tmp_path, tiny) -> None:
    parent, elsewhere = tmp_path / "parent", tmp_path / "elsewhere"
    (parent / ".hidden").mkdir(parents=True), elsewhere.mkdir()
    files = {
        "hidden folder": parent / ".hidden" / "a.mp4",
        "hidden file": parent / ".b.mp4",
        "linked folder": parent / "linked" / "c.mp4",
        "other extension": parent / "d.video",
        "plain": parent / "e.mp4",
    }
    (parent / "linked").symlink_to(elsewhere)
    for i, f in enumerate(files.values()):
        shutil.copyfile(VIDEOS / GOOD[i % len(GOOD)], f)
    lib = Library.open(tmp_path / "lib", create=True)
    first = lib.add(list(files.values()), encoder=tiny)  # each named: all five indexed
    assert first.indexed == 5 and len(lib.shelf.video_paths()) == 5
    again = lib.add([parent], encoder=tiny)  # one walk that does not visit four of them
    assert (again.removed, again.indexed) == (0, 0), again
    assert sorted(lib.shelf.video_paths()) == sorted(files.values())
    assert walk([parent]) == [files["plain"]]  # hidden entries and linked folders are still skipped

    files["plain"].unlink()  # really gone
    os.unlink(files["other extension"])
    os.mkfifo(files["other extension"])  # the name no longer leads to a regular file
    gone = lib.add([parent], encoder=tiny)
    assert gone.removed == 2 and sorted(lib.shelf.video_paths()) == sorted(
        files[k] for k in ("hidden folder", "hidden file", "linked folder")
    )
    pruned = lib.add([parent], encoder=tiny, prune=True)  # asked for: what the walk skips goes too
    assert pruned.removed == 3 and lib.shelf.video_paths() == []


def test_cli_index_prune_option(tmp_path, tiny) -> None:
    from tempme.app.cli import cli
    from typer.testing import CliRunner

    parent = tmp_path / "parent"
    parent.mkdir()
    hidden = parent / ".kept.mp4"
    shutil.copyfile(VIDEOS / GOOD[0], hidden)
    Library.open(tmp_path / "lib", create=True).add([hidden], encoder=tiny)
    lib_opt = ["--library", str(tmp_path / "lib")]
    r = CliRunner().invoke(cli, ["index", *lib_opt, str(parent)])
    assert r.exit_code == 0 and "removed" not in r.output, r.output  # the hidden video stays
    r = CliRunner().invoke(cli, ["index", *lib_opt, str(parent), "--prune"])
    assert r.exit_code == 0 and "1 video removed" in r.output, r.output


# ---- 5. a FIFO or a link to /dev/zero named *.mp4 ----------------------------------------------
def test_fifo_and_dev_zero_fail_at_once_and_never_hang_the_indexer(tmp_path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    shutil.copyfile(VIDEOS / GOOD[0], folder / "good.mp4")
    os.mkfifo(folder / "fifo.mp4")
    (folder / "zero.mp4").symlink_to("/dev/zero")
    cmd = [sys.executable, "-m", "tempme", "--library", str(tmp_path / "lib"), "index", str(folder), *TINY]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=300)  # a bound, not a timing: the old code never returned
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("tempme index hung on a FIFO or /dev/zero")
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert "1 video indexed" in out and "2 file(s) could not be indexed" in out, out
    failures = dict(Library.open(tmp_path / "lib").stats().failures)
    assert "a FIFO" in failures[str(folder / "fifo.mp4")]
    assert "a character device" in failures[str(folder / "zero.mp4")]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert "0 videos indexed" in again.stdout and "could not be indexed" not in again.stdout  # not retried


def test_content_hash_opens_only_regular_files_and_stops_when_told(tmp_path) -> None:
    from tempme.index.media import NotRegularFileError

    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        with pytest.raises(NotRegularFileError, match="not a regular file"):
            content_hash(path)  # returns at once: a FIFO's open would wait for a writer
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)  # 64 MiB of holes
    calls = []

    def budget() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise TimeoutError("over budget")

    with pytest.raises(TimeoutError):
        content_hash(big, check=budget)
    assert len(calls) == 3  # checked after every chunk, stopped at the third


def test_sigterm_stops_an_indexer_hashing_a_huge_file(tmp_path) -> None:
    """A 1 TiB sparse video (a real one's headers, then zeros): hashing it would take hours; SIGTERM stops the run within
    a batch (the per-file step checks the stop), the lock is released."""
    from filelock import FileLock

    folder = tmp_path / "v"
    folder.mkdir()
    shutil.copyfile(VIDEOS / "moviepy__fire2.mp4", folder / "huge.mp4")  # its index (moov) comes first,
    with open(folder / "huge.mp4", "r+b") as fh:  # so the headers still read after 1 TiB of zeros
        fh.truncate(1 << 40)
    library = tmp_path / "lib"
    cmd = [sys.executable, "-m", "tempme", "--library", str(library), "index", str(folder), *TINY]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (library / "index.lock").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2)  # hashing is under way
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=120)  # a bound: the old code hashed on for hours
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGTERM did not stop tempme index while it hashed a huge file")
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, (out, err[-2000:])
    with FileLock(str(library / "index.lock")).acquire(timeout=0):
        pass


# ---- 13. an upload named `..mp4` -----------------------------------------------------------
def test_upload_named_dotdot_mp4_keeps_its_extension_and_survives_a_walk(tmp_path, tiny) -> None:
    from tempme.app.context import AppContext

    library = tmp_path / "lib"
    Library.open(library, create=True).add([VIDEOS / GOOD[1]], encoder=tiny)
    upload = tmp_path / "browser" / "..mp4"
    upload.parent.mkdir()
    shutil.copyfile(VIDEOS / GOOD[0], upload)
    ctx = AppContext(library)
    added = ctx.upload([upload])
    (stored,) = added.videos
    assert stored.parent == library.resolve() / "uploads" and stored.suffix == ".mp4"
    assert not stored.name.startswith(".")
    assert walk([library / "uploads"]) == [stored]  # a walk takes it for a video
    again = Library.open(library).add([library / "uploads"], encoder=tiny)
    assert (again.removed, again.skipped) == (0, 1) and stored in Library.open(library).shelf.video_paths()
