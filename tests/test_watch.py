"""Watched folders (index/ingest/watch.py, index/ingest/changes.py) with real file operations on a temporary
tree: a clip copied in slowly, deletions, renames, moves between watched folders, a burst, the
polling fallback (forced, and past a real inotify limit in a user namespace), the bounded
pending set. The sink is a list (the library's ingest plugs in there), so no encoder loads.

Times are short (settle 0.4 s) and every wait polls for its condition with a generous deadline,
so a busy machine makes the tests slower, not flaky.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tempme.index.ingest.batches import ChangeBatch, WatchConfig
from tempme.index.ingest.changes import PendingChanges
from tempme.index.ingest.fsinfo import NETWORK_FILESYSTEMS, filesystem_type, inotify_limit
from tempme.index.ingest.watch import Watcher

CLIP = "mmaction2__test.mp4"  # 1.35 MB real clip

FAST = dict(settle_s=0.4, debounce_s=0.2, max_wait_s=20.0, poll_interval_s=0.2, initial_scan=False)
MODES = ["events", "polling"]


class Sink:
    """Records every batch, with each changed file's size when it was handed over."""

    def __init__(self) -> None:
        self.batches: list[ChangeBatch] = []
        self.sizes: list[dict[Path, int]] = []
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, batch: ChangeBatch) -> None:
        with self.lock:
            self.batches.append(batch)
            self.sizes.append({p: p.stat().st_size for p in batch.changed if p.exists()})
            self.times.append(time.monotonic())

    def changed(self) -> list[Path]:
        with self.lock:
            return [p for b in self.batches for p in b.changed]

    def deleted(self) -> list[Path]:
        with self.lock:
            return [p for b in self.batches for p in b.deleted]

    def moved(self) -> list[tuple[Path, Path]]:
        with self.lock:
            return [m for b in self.batches for m in b.moved]

    def rescans(self) -> list[Path]:
        with self.lock:
            return [p for b in self.batches for p in b.rescan]

    def clear(self) -> None:
        with self.lock:
            self.batches.clear()
            self.sizes.clear()
            self.times.clear()


def wait_for(pred, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def quiet(sink: Sink, seconds: float = 1.2) -> None:
    """Wait until no batch has come for ``seconds``."""
    n = -1
    while n != len(sink.batches):
        n = len(sink.batches)
        time.sleep(seconds)


@pytest.fixture
def tree(tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    for d in (a, b, out, a / "sub"):
        d.mkdir(parents=True, exist_ok=True)
    return a, b, out


def watcher(roots, sink, mode: str, **kw) -> Watcher:
    return Watcher(roots, sink, WatchConfig(polling=mode == "polling", **{**FAST, **kw}))


def copy_slowly(src: Path, dst: Path, chunks: int, pause_s: float) -> float:
    """Copy ``src`` to ``dst`` in ``chunks`` writes with a pause after each but the last;
    returns time.monotonic() after the last byte."""
    data = src.read_bytes()
    step = -(-len(data) // chunks)
    with open(dst, "wb") as fh:
        for i in range(chunks):
            fh.write(data[i * step : (i + 1) * step])
            fh.flush()
            os.fsync(fh.fileno())
            if i < chunks - 1:
                time.sleep(pause_s)
        done = time.monotonic()
    return done


@pytest.mark.parametrize("mode", MODES)
def test_slow_copy_is_reported_once_after_its_last_byte(videos_dir, tree, mode):
    a, _, _ = tree
    src, dst = videos_dir / CLIP, a / "incoming.mp4"
    sink = Sink()
    # events: a writer that holds the file open is waited for even across pauses longer than the
    # settle time; polling sees only stats, so its pauses stay under the settle time
    pause = 0.9 if mode == "events" else 0.15
    with watcher([a], sink, mode) as w:
        assert set(w.modes.values()) == {mode}
        last_byte = copy_slowly(src, dst, chunks=6, pause_s=pause)
        assert wait_for(lambda: dst in sink.changed())
        quiet(sink)
    assert sink.changed().count(dst) == 1
    i = next(i for i, b in enumerate(sink.batches) if dst in b.changed)
    assert sink.sizes[i][dst] == src.stat().st_size  # complete when handed over
    assert sink.times[i] >= last_byte
    assert dst.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("mode", MODES)
def test_delete_rename_and_move_between_watched_folders(videos_dir, tree, mode):
    a, b, out = tree
    clip = a / "clip.mp4"
    shutil.copyfile(videos_dir / CLIP, clip)
    sink = Sink()
    # settle_s over 0.5 s: watchdog holds an inotify move-out for 0.5 s waiting for its move-in
    with watcher([a, b], sink, mode, settle_s=0.8):
        time.sleep(0.5)  # the polling observer's first listing includes clip.mp4
        os.rename(clip, a / "renamed.mp4")
        assert wait_for(lambda: sink.moved())
        assert sink.moved() == [(clip, a / "renamed.mp4")]
        assert sink.changed() == [] and sink.deleted() == []
        sink.clear()

        # between two watched roots the OS reports a deletion and a creation, in one batch:
        # the ingest pairs them by content hash (index/ingest/moves.py)
        os.rename(a / "renamed.mp4", b / "renamed.mp4")
        assert wait_for(lambda: sink.changed())
        quiet(sink)
        assert len(sink.batches) == 1, sink.batches
        assert sink.batches[0].deleted == (a / "renamed.mp4",)
        assert sink.batches[0].changed == (b / "renamed.mp4",)
        sink.clear()

        os.rename(b / "renamed.mp4", out / "gone.mp4")  # moved out of every root: a deletion
        assert wait_for(lambda: sink.deleted())
        assert sink.deleted() == [b / "renamed.mp4"] and sink.changed() == []
        sink.clear()

        os.rename(out / "gone.mp4", a / "sub" / "back.mp4")  # moved in: a new file
        assert wait_for(lambda: sink.changed())
        assert sink.changed() == [a / "sub" / "back.mp4"] and sink.deleted() == []
        sink.clear()

        os.rename(a / "sub", a / "sub2")  # a folder's rename is one move (the videos under it follow)
        assert wait_for(lambda: sink.moved())
        quiet(sink)
        assert sink.moved() == [(a / "sub", a / "sub2")]
        assert sink.changed() == [] and sink.deleted() == []
        sink.clear()

        os.remove(a / "sub2" / "back.mp4")
        assert wait_for(lambda: sink.deleted())
        assert sink.deleted() == [a / "sub2" / "back.mp4"]
        sink.clear()

        (a / "notes.txt").write_text("not a video")  # neither counts: no batch at all
        (a / ".hidden.mp4").write_bytes(b"x")
        time.sleep(1.5)
        assert sink.batches == []


@pytest.mark.parametrize("mode", MODES)
def test_burst_of_50_files_is_one_batch(tree, mode):
    a, _, _ = tree
    sink = Sink()
    with watcher([a], sink, mode) as w:
        names = [a / f"burst{i:02d}.mp4" for i in range(50)]
        for i, p in enumerate(names):
            p.write_bytes(os.urandom(100 + i))
        assert wait_for(lambda: sink.changed())
        quiet(sink)
        assert len(sink.batches) == 1
        assert sorted(sink.batches[0].changed) == names
        assert len(w.pending) == 0


def test_initial_scan_and_missing_root_is_not_a_deletion(tree):
    a, b, _ = tree
    (b / "kept.mp4").write_bytes(b"x")
    sink = Sink()
    with Watcher([a, b], sink, WatchConfig(**{**FAST, "initial_scan": True})) as w:
        assert wait_for(lambda: sink.rescans())
        assert sorted(sink.rescans()) == [a, b]  # what changed while nobody watched
        sink.clear()
        away = b.parent / "unmounted"
        os.rename(b, away)  # like an unmounted share: the folder is gone, no file was deleted
        assert wait_for(lambda: w.modes[b] == "missing", timeout=15)
        time.sleep(0.6)
        assert sink.deleted() == []  # its videos stay in the library
        os.rename(away, b)
        assert wait_for(lambda: b in sink.rescans(), timeout=15)  # back: rescanned
        assert w.modes[b] in ("events", "polling")


def test_sink_failure_is_retried_with_a_rescan(tree, caplog):
    a, _, _ = tree
    calls: list[ChangeBatch] = []

    def flaky(batch: ChangeBatch):
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("library busy")

    with Watcher([a], flaky, WatchConfig(**{**FAST, "retry_s": 0.3})) as w:
        (a / "x.mp4").write_bytes(b"x")
        assert wait_for(lambda: len(calls) >= 2)
        assert calls[0].changed == (a / "x.mp4",)
        assert calls[1].rescan == (a,)  # the failed batch is covered by a rescan
        assert w.failures == 1
    assert "library busy" in caplog.text


def test_files_handed_back_are_followed_again(tree):
    a, _, _ = tree
    calls: list[ChangeBatch] = []

    def sink(batch: ChangeBatch):
        calls.append(batch)
        return list(batch.changed) if len(calls) == 1 else None  # "changed while read"

    with Watcher([a], sink, WatchConfig(**FAST)):
        (a / "x.mp4").write_bytes(b"x")
        assert wait_for(lambda: len(calls) >= 2)
    assert calls[0].changed == calls[1].changed == (a / "x.mp4",)


# ---- the pending set, driven with explicit times (stat still reads real files) --------------


def test_pending_moves_compose_and_cancel(tmp_path):
    r = tmp_path
    p = PendingChanges([r], WatchConfig(settle_s=1, debounce_s=0.5))
    A, B, C = r / "a.mp4", r / "b.mp4", r / "c.mp4"
    p.moved(A, B, 0.0)
    p.moved(B, C, 0.1)  # A -> B -> C is A -> C
    batch = p.take(1.0)
    assert batch.moved == ((A, C),) and batch.deleted == () and batch.changed == ()
    p.moved(A, B, 2.0)
    p.moved(B, A, 2.1)  # undone: nothing
    assert p.take(3.0) is None
    p.moved(A, B, 4.0)
    p.deleted(B, 4.1)  # moved then deleted: the library's A is gone
    assert p.take(5.0) == ChangeBatch(deleted=(A,))


def test_pending_folder_moves_and_deletions_use_the_library_names(tmp_path):
    r = tmp_path
    p = PendingChanges([r], WatchConfig(settle_s=1, debounce_s=0.5))
    d, d2 = r / "d", r / "d2"
    p.moved(d, d2, 0.0, is_dir=True)
    p.moved(d2 / "x.mp4", r / "x.mp4", 0.1)  # out of the moved folder: its library name is d/x.mp4
    p.deleted(d2 / "y.mp4", 0.2)  # the library knows it as d/y.mp4
    batch = p.take(1.0)
    assert batch.moved == ((d, d2), (d / "x.mp4", r / "x.mp4"))
    assert batch.deleted == (d / "y.mp4",)
    # a move onto a file moved there earlier in the batch replaces that video
    p.moved(r / "m.mp4", r / "t.mp4", 2.0)
    p.moved(r / "n.mp4", r / "t.mp4", 2.1)
    batch = p.take(3.0)
    assert batch.moved == ((r / "n.mp4", r / "t.mp4"),) and batch.deleted == (r / "m.mp4",)


def test_pending_waits_for_stability_and_coalesces(tmp_path):
    f, g = tmp_path / "f.mp4", tmp_path / "g.mp4"
    p = PendingChanges([tmp_path], WatchConfig(settle_s=1.0, debounce_s=0.5, max_wait_s=10))
    f.write_bytes(b"1")
    p.created(f, 0.0)
    assert p.take(0.5) is None  # first stat at 0.5: stable from then on
    assert p.take(1.2) is None  # 0.7 s stable: not yet
    g.write_bytes(b"2")
    p.created(g, 1.4)
    assert p.take(1.6) is None  # f is ready, but g still settles: one batch for both
    with open(f, "ab") as fh:
        fh.write(b"more")  # f grows again: its clock restarts
    assert p.take(2.0) is None
    assert p.take(2.9) is None  # g stable since 1.6 (1.3 s) but f only since 2.0
    assert p.take(3.1) == ChangeBatch(changed=(f, g))


def test_pending_writer_holds_a_file_until_it_closes(tmp_path):
    f = tmp_path / "f.mp4"
    f.write_bytes(b"1")
    p = PendingChanges([tmp_path], WatchConfig(settle_s=1.0, debounce_s=0.5, writer_idle_s=100))
    p.modified(f, 0.0)
    assert p.take(0.1) is None and p.take(50) is None  # open for writing, idle 50 s
    p.closed(f, 50.5)
    assert p.take(51.0) is None
    assert p.take(51.6) == ChangeBatch(changed=(f,))


def test_pending_set_is_bounded(tmp_path):
    p = PendingChanges([tmp_path], WatchConfig(settle_s=1, debounce_s=0.5, max_pending=100), quiet_s=2.0)
    for i in range(1000):
        p.created(tmp_path / f"{i}.mp4", i * 0.001)
    assert len(p) <= 100 and p.overflows == 1
    assert p.take(1.5) is None  # the tree must be quiet for quiet_s first
    assert p.take(3.0) == ChangeBatch(rescan=(tmp_path,))


def test_pending_counts_only_videos_outside_hidden_folders(tmp_path):
    p = PendingChanges([tmp_path])
    assert p.counts(tmp_path / "x" / "a.MP4")
    assert not p.counts(tmp_path / "a.txt")
    assert not p.counts(tmp_path / ".cache" / "a.mp4")
    assert not p.counts(tmp_path.parent / "a.mp4")
    assert p.counts(tmp_path / "x", is_dir=True)


# ---- the fallbacks ------------------------------------------------------------------------


MOUNTINFO = textwrap.dedent(
    r"""
    22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
    40 22 0:35 / /mnt/nas rw,relatime shared:20 - nfs4 nas:/export rw,vers=4.2
    41 40 0:36 / /mnt/nas/local\040disk rw,relatime - ext4 /dev/sdb1 rw
    42 22 0:37 / /home/me/remote rw,nosuid - fuse.sshfs me@host:/data rw
    """
)


def test_filesystem_type_from_mountinfo():
    assert filesystem_type("/home/me/Videos", MOUNTINFO) == "ext4"
    assert filesystem_type("/mnt/nas/films", MOUNTINFO) == "nfs4"
    assert filesystem_type("/mnt/nas/local disk/x", MOUNTINFO) == "ext4"  # mounted over the share
    assert filesystem_type("/home/me/remote/clips", MOUNTINFO) == "fuse.sshfs"
    assert {"nfs4", "fuse.sshfs", "cifs"} <= NETWORK_FILESYSTEMS and "ext4" not in NETWORK_FILESYSTEMS


def test_inotify_limit_reads_the_lowest_setting(tmp_path):
    (tmp_path / "sys").write_text("8192\n")
    (tmp_path / "ns").write_text("100\n")
    assert inotify_limit([tmp_path / "sys", tmp_path / "ns"]) == (100, tmp_path / "ns")
    assert inotify_limit([tmp_path / "missing"]) is None


CHILD = r"""
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
from tempme.index.ingest.batches import WatchConfig
from tempme.index.ingest.watch import Watcher
a, b = Path(sys.argv[1]), Path(sys.argv[2])
got = []
cfg = WatchConfig(settle_s=0.3, debounce_s=0.2, poll_interval_s=0.2, initial_scan=False)
with Watcher([a, b], got.append, cfg) as w:
    print("MODES", sorted(w.modes.values()), flush=True)
    time.sleep(0.5)
    (a / "d3" / "new.mp4").write_bytes(b"x")
    (b / "n.mp4").write_bytes(b"y")
    end = time.monotonic() + 20
    while time.monotonic() < end and len([p for g in got for p in g.changed]) < 2:
        time.sleep(0.05)
print("CHANGED", sorted(p.name for g in got for p in g.changed), flush=True)
"""


def test_inotify_limit_falls_back_to_polling_and_says_so_once(tmp_path):
    """A real ENOSPC: the child runs in a user namespace whose inotify limit is 3 watches."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        pytest.skip("needs util-linux unshare on Linux")
    probe = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", "echo 3 > /proc/sys/user/max_inotify_watches"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces unavailable: {probe.stderr.decode().strip()}")
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(5):
        (a / f"d{i}").mkdir(parents=True)
    b.mkdir()
    cmd = 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$0" -c "$1" "$2" "$3"'
    out = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", cmd, sys.executable, CHILD, str(a), str(b)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "MODES ['polling', 'polling']" in lines
    assert "CHANGED ['n.mp4', 'new.mp4']" in lines
    said = [ln for ln in lines if "inotify watch limit" in ln]
    assert len(said) == 1, out.stdout  # said once, for both roots
    assert "user.max_inotify_watches = 3" in said[0] and "sudo sysctl user.max_inotify_watches=" in said[0]


def test_folders_created_past_the_limit_switch_to_polling(tmp_path):
    """Past the limit while running (watchdog then skips the new folders): the root is polled
    and rescanned, and files in the new folders are seen."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        pytest.skip("needs util-linux unshare on Linux")
    child = r"""
import sys, time
from pathlib import Path
from tempme.index.ingest.batches import WatchConfig
from tempme.index.ingest.watch import Watcher
a = Path(sys.argv[1]); got = []
with Watcher([a], got.append, WatchConfig(settle_s=0.3, debounce_s=0.2, poll_interval_s=0.2, initial_scan=False)) as w:
    print("BEFORE", w.modes[a], flush=True)
    for i in range(6):
        (a / f"d{i}").mkdir(); (a / f"d{i}" / "v.mp4").write_bytes(b"x")
    end = time.monotonic() + 20
    while time.monotonic() < end and not any(a in g.rescan for g in got):
        time.sleep(0.05)
    print("AFTER", w.modes[a], flush=True)
    (a / "d5" / "later.mp4").write_bytes(b"y")
    while time.monotonic() < end and not any(p.name == "later.mp4" for g in got for p in g.changed):
        time.sleep(0.05)
print("CHANGED", sorted(str(p.relative_to(a)) for g in got for p in g.changed), flush=True)
"""
    a = tmp_path / "a"
    a.mkdir()
    cmd = 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$0" -c "$1" "$2"'
    out = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", cmd, sys.executable, child, str(a)], capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0 and "unshare" in out.stderr:
        pytest.skip(f"unprivileged user namespaces unavailable: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "BEFORE events" in lines and "AFTER polling" in lines, out.stdout + out.stderr
    assert "d5/later.mp4" in lines[-1]
    assert "Unable to watch" not in out.stderr  # watchdog's per-folder warnings are replaced by one line
