"""Watched folders: a rescan of an unchanged tree, the watcher's memory, and the time from a
file's last byte to the hand-over, each measured in one run.

Parts (each can be skipped):

- **rescan**: a tree of ``--files`` small fake videos (100 folders) already in a catalog
  (SQLite, one row per file). *Baseline*: what ``Library.add`` does today before any decoding
  -- ``index.media.files.walk`` (a ``Path.resolve`` per file), ``Catalog.known_files``,
  ``index.ingest.plan.plan_ingest`` (a ``stat`` per file) -- and the whole ``Library.add`` of the
  unchanged tree (lock, plan, run record). *Stat-only*: ``index.treescan.scan_tree`` (one
  ``stat`` per file, links alone resolved) and the same comparison with the catalog. Both must
  find every file unchanged.
- **rss**: a child process per mode (events, polling) watches the tree: resident memory (VmRSS)
  after imports, once watching, and its peak (VmHWM) while this process rewrites every file
  twice and then appends ``--churn`` more times to 100 files (each write its own open and
  close: no kernel coalescing of events); the pending set is bounded (``max_pending``).
- **latency**: a real clip written at once into a watched folder, ``--trials`` times per mode
  with the default ``WatchConfig`` (settle 3 s, debounce 1 s, polling every 10 s): seconds from
  its last byte to the sink's call.
- **searchable**: the same into a folder a ``Watcher`` adds to a library (tempme-tiny): seconds
  from the last byte until the clip's vectors answer searches.
- **inputs**: input errors that must come before any model loads (a folder without videos, a
  text file, ``explain --at`` past the end), wall seconds of a new ``tempme`` process.
- **eta**: the short clips then the 10-minute film indexed with a progress in seconds of video:
  the ETA's error at 10-90 %, against the old count-of-videos estimate.

    python bench/watch.py                    # everything (about 2 minutes on 2 quiet cores)
    python bench/watch.py --skip latency
    python bench/watch.py --json

Targets (issue 28): the rescan is stat-only (one stat per file) and its time is reported; the
watcher's memory does not grow with events.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
CLIP = VIDEOS / "mmaction2__test.mp4"


def make_tree(root: Path, files: int, folders: int = 100) -> list[Path]:
    out = []
    per = -(-files // folders)
    for i in range(folders):
        d = root / f"folder{i:03d}"
        d.mkdir(parents=True, exist_ok=True)
        for j in range(min(per, files - len(out))):
            p = d / f"video{j:04d}.mp4"
            p.write_bytes(b"\0" * (1 + (i * per + j) % 997))
            out.append(p)
    return out


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


CPU: dict[str, float] = {}  # the least CPU seconds (user + sys, this process) of each timed step


def best_of(fn, repeat: int, name: str = "") -> tuple[float, object]:
    """The least wall seconds of ``repeat`` calls and the last result; the least CPU seconds go to
    ``CPU[name]`` (on a shared machine, wall time grows with the load; CPU time much less)."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    if name:
        CPU[name] = cpu
    return best, out


# ---- rescan -------------------------------------------------------------------------------------
def rescan_part(args, work: Path) -> dict:
    import numpy as np
    from tempme.index.catalog import Catalog, NewVideo, sqlite_url
    from tempme.index.ingest.plan import plan_ingest
    from tempme.index.media.files import walk
    from tempme.index.media.treescan import scan_tree

    tree, lib_dir = work / "tree", work / "library"
    files = make_tree(tree, args.files)
    lib_dir.mkdir()
    catalog = Catalog(sqlite_url(lib_dir))
    emb = np.zeros((1, 8), np.float32)
    t0 = time.perf_counter()
    for p in files:
        st = p.stat()
        catalog.add_video(
            NewVideo(p, st.st_size, st.st_mtime_ns, "0" * 64, 1.0, 25.0, 8, 8, "h264", [(0.0, 1.0, "uniform")], emb)
        )
    fill_s = time.perf_counter() - t0

    def baseline():
        found = walk([tree])
        return plan_ingest(found, [tree], catalog.known_files())

    def stat_only():
        known = catalog.known_files()
        unchanged = 0
        for f in scan_tree([tree]):
            v = known.get(str(f.path))
            unchanged += v is not None and f.stamp == (v.size, v.mtime_ns)
        return unchanged

    t_walk, found = best_of(lambda: walk([tree]), args.repeat, "walk_s")
    t_known, known = best_of(catalog.known_files, args.repeat, "known_files_s")
    t_plan, plan = best_of(lambda: plan_ingest(found, [tree], known), args.repeat, "plan_s")
    t_base, plan = best_of(baseline, args.repeat, "baseline_s")
    assert plan.skipped == len(files) and not plan.encode, plan
    t_scan, scanned = best_of(lambda: scan_tree([tree]), args.repeat, "scan_tree_s")
    assert [f.path for f in scanned] == found
    t_stat, unchanged = best_of(stat_only, args.repeat, "stat_only_s")
    assert unchanged == len(files), unchanged
    syscalls = count_syscalls(tree)

    out = {
        "files": len(files),
        "catalog_fill_s": fill_s,
        "walk_s": t_walk,
        "known_files_s": t_known,
        "plan_s": t_plan,
        "baseline_s": t_base,
        "scan_tree_s": t_scan,
        "stat_only_s": t_stat,
        "baseline_over_stat_only": t_base / t_stat,
        **syscalls,
    }
    if not args.no_library:
        out["library_add_s"] = library_add(lib_dir, tree, len(files), args.repeat)
    out["cpu_s"] = dict(CPU)
    out["baseline_over_stat_only_cpu"] = CPU["baseline_s"] / CPU["stat_only_s"]
    catalog.close()
    return out


def count_syscalls(tree: Path) -> dict:
    """stat-family calls per file of each walk, counted by strace when it is installed."""
    if shutil.which("strace") is None:
        return {}
    out = {}
    code = {
        "walk": "from tempme.index.media.files import walk; walk([{t!r}])",
        "scan_tree": "from tempme.index.media.treescan import scan_tree; scan_tree([{t!r}])",
    }
    for name, snippet in code.items():
        base = [sys.executable, "-c", "import tempme.index.media.files, tempme.index.media.treescan"]
        run = [sys.executable, "-c", snippet.format(t=str(tree))]
        counts = []
        for cmd in (base, run):
            r = subprocess.run(
                ["strace", "-f", "-c", "-e", "trace=newfstatat,statx,stat,lstat,readlink,getdents64", *cmd],
                capture_output=True,
                text=True,
            )
            total = [ln for ln in r.stderr.splitlines() if ln.strip().endswith("total")]
            counts.append(int(total[0].split()[3]) if total else -1)  # %time seconds usecs/call calls
        out[f"{name}_syscalls"] = counts[1] - counts[0]
    return out


def library_add(lib_dir: Path, tree: Path, n: int, repeat: int) -> float:
    """``Library.add`` of the unchanged tree (nothing to encode: the encoder is never called)."""
    from tempme.index.library import Library

    from tempme.encoder import load_encoder

    enc = load_encoder("tempme-tiny", "none", device="cpu")
    with Library.open(lib_dir) as lib:
        best, report = best_of(lambda: lib.add([tree], encoder=enc), repeat, "library_add_s")
    assert report.skipped == n and report.indexed == 0, report
    return best


# ---- rss ----------------------------------------------------------------------------------------
CHILD = r"""
import json, sys, threading, time
from pathlib import Path
def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
mode, tree = sys.argv[1], Path(sys.argv[2])
from tempme.index.ingest.batches import WatchConfig
from tempme.index.ingest.watch import Watcher
got = []
def sink(batch):
    got.append(len(batch.changed))
cfg = WatchConfig(settle_s=0.5, debounce_s=0.3, poll_interval_s=1.0, polling=mode == "polling", initial_scan=False)
before = rss("VmRSS")
w = Watcher([tree], sink, cfg).start()
time.sleep(1.5)
watching = rss("VmRSS")
print("READY", flush=True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
peak_pending = 0
while not stop.wait(0.05):
    peak_pending = max(peak_pending, len(w.pending))
after = rss("VmRSS")
w.stop()
print(json.dumps({"mode": w.modes[tree], "rss_start_kib": before, "rss_watching_kib": watching,
                  "rss_after_kib": after, "rss_peak_kib": rss("VmHWM"), "peak_pending": peak_pending,
                  "batches": len(got), "changed_handed_over": sum(got), "overflows": w.pending.overflows}))
"""


def rss_part(args, work: Path) -> list[dict]:
    """The watcher in a child; this process writes (another process, as ``cp`` would be)."""
    tree = work / "tree"
    if not tree.is_dir():
        make_tree(tree, args.files)
    files = sorted(tree.rglob("*.mp4"))
    out = []
    for mode in ("events", "polling"):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, str(tree)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline().strip() == "READY"
        writes = 0
        t0 = time.perf_counter()
        for r in range(2):  # every file rewritten twice: open, write, close
            for p in files:
                with open(p, "r+b") as fh:
                    fh.write(bytes([r + 1]))
                writes += 1
        hot = files[:100]
        for _ in range(args.churn // len(hot)):  # then many more events on 100 files
            for p in hot:
                with open(p, "ab") as fh:
                    fh.write(b"x")
                writes += 1
        write_s = time.perf_counter() - t0
        time.sleep(3.0 + (1.0 if mode == "polling" else 0.0))  # settle, debounce, a last poll
        stdout, _ = child.communicate("stop\n", timeout=120)
        res = json.loads(stdout.strip().splitlines()[-1])
        res.update(writes=writes, write_s=write_s)
        out.append(res)
    return out


# ---- latency ------------------------------------------------------------------------------------
def latency_part(args, work: Path) -> list[dict]:
    from tempme.index.ingest.batches import WatchConfig
    from tempme.index.ingest.watch import Watcher

    data = CLIP.read_bytes()
    out = []
    for mode in ("events", "polling"):
        folder = work / f"latency-{mode}"
        folder.mkdir()
        cfg = WatchConfig(polling=mode == "polling", initial_scan=False)
        seen: dict[Path, float] = {}
        ready = threading.Event()

        def sink(batch, seen=seen, ready=ready):
            t = time.monotonic()
            for p in batch.changed:
                seen.setdefault(p, t)
            ready.set()

        waits = []
        with Watcher([folder], sink, cfg):
            time.sleep(1.0)
            for k in range(args.trials):
                ready.clear()
                p = folder / f"clip{k}.mp4"
                with open(p, "wb") as fh:
                    fh.write(data)
                last_byte = time.monotonic()
                ready.wait(60)
                waits.append(seen[p] - last_byte)
                time.sleep(0.5)
        out.append(
            {
                "mode": mode,
                "settle_s": cfg.settle_s,
                "debounce_s": cfg.debounce_s,
                "poll_interval_s": cfg.poll_interval_s if mode == "polling" else None,
                "trials": len(waits),
                "mean_s": statistics.fmean(waits),
                "max_s": max(waits),
            }
        )
    return out


# ---- searchable ---------------------------------------------------------------------------------
def searchable_part(args, work: Path) -> dict:
    """A real clip written at once into a folder followed by ``Watcher`` + ``Library.add``
    (tempme-tiny, default WatchConfig, events): seconds from its last byte until its segments
    answer a search of this process's library (the indexer's own object)."""
    import numpy as np
    from tempme.index import IngestOptions, Library
    from tempme.index.ingest import WatchConfig, Watcher

    folder = work / "searchable"
    folder.mkdir()
    cfg = WatchConfig(initial_scan=False)
    lib = Library.open(work / "searchable-lib", create=True)
    options = IngestOptions(model="tempme-tiny", pretrained="none", settle_s=cfg.settle_s)
    lib.add([CLIP], options)  # the encoder loaded and recorded once, as a running watcher has it
    base = lib.stats().vectors
    waits, adds = [], []

    def sink(batch):
        report = lib.add(batch, options)
        if report.indexed:
            adds.append(report.seconds)
        return [Path(p) for p in report.deferred]

    with Watcher([folder], sink, cfg):
        for k in range(args.trials):
            with open(folder / f"clip{k}.mp4", "wb") as fh:
                fh.write(CLIP.read_bytes() + b"\0" * (1 + k))  # other bytes each time: not a move
            last_byte = time.monotonic()
            want = base * (k + 2)  # each copy has as many segments as the clip
            while lib.stats().vectors < want and time.monotonic() - last_byte < 120:
                time.sleep(0.05)
            query = np.ones((1, lib.embed_dim()), np.float32) / np.sqrt(lib.embed_dim())
            lib.search_segments(query, 1)  # searchable: the in-memory index holds its vectors
            waits.append(time.monotonic() - last_byte)
    lib.close()
    return {
        "settle_s": cfg.settle_s,
        "trials": len(waits),
        "mean_s": statistics.fmean(waits),
        "max_s": max(waits),
        "add_mean_s": statistics.fmean(adds) if adds else 0.0,
    }


# ---- inputs -------------------------------------------------------------------------------------
def inputs_part(args, work: Path) -> dict:
    """Wall seconds (median of 3, a new process each) of input errors that must come before any
    model loads: a folder without videos, a file that is no video, ``explain --at`` past the end."""
    tempme = Path(sys.executable).with_name("tempme")
    (work / "no-videos").mkdir()
    (work / "no-videos" / "notes.txt").write_text("x")
    (work / "notes.txt").write_text("x")
    cases = {
        "index of a folder without videos": ["--library", "lib-x", "index", "no-videos"],
        "index of a text file": ["--library", "lib-x", "index", "notes.txt"],
        "explain --at past the end": ["explain", str(CLIP), "--at", "999", "-o", "x.png"],
    }
    out = {}
    for name, argv in cases.items():
        out[name] = _median_run([str(tempme), *argv], work, 1)
    # the baseline: what any command that loads a model pays first
    out["baseline: python -c 'import torch'"] = _median_run([sys.executable, "-c", "import torch"], work, 0)
    return out


def _median_run(cmd: list[str], cwd: Path, code: int) -> dict:
    """Median wall and CPU (user + sys of the child) seconds of 3 runs of ``cmd``."""
    import resource

    walls, cpus = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert r.returncode == code, r.stderr
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


# ---- eta ----------------------------------------------------------------------------------------
def eta_part(args, work: Path) -> dict:
    """``Library.add`` of the short clips then the 10-minute film (tempme-tiny): at each progress
    update, the finish predicted by the ETA in seconds of video (rate measured over the run) and by
    the old count of videos (time per video so far), against the real finish."""
    from tempme.index import IngestOptions, Library

    folder = work / "eta"
    folder.mkdir()
    clips = sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".webm", ".mkv", ".avi"))
    for i, p in enumerate(clips):
        os.symlink(p, folder / f"a{i:02d}_{p.name}")
    film = next((VIDEOS / "long").glob("*.mp4"))
    os.symlink(film, folder / f"z_{film.name}")  # sorted last: the case of the issue (19/20 for minutes)
    samples: list[tuple[float, float, float, int, int, float | None]] = []
    t0 = time.perf_counter()

    class Recorder:
        def __call__(self, done, total, path):
            pass

        def seconds(self, p):
            samples.append((time.perf_counter() - t0, p.done_s, p.total_s, p.videos_done, p.videos_total, p.eta_s))

    with Library.open(work / "eta-lib", create=True) as lib:
        report = lib.add([folder], IngestOptions(model="tempme-tiny", pretrained="none"), progress=Recorder())
    finish = time.perf_counter() - t0
    rows = []
    for frac in (0.1, 0.25, 0.5, 0.75, 0.9):
        t, done_s, total_s, vd, vt, eta = next(s for s in samples if s[2] and s[1] >= frac * s[2])
        by_count = (vt - vd) * t / vd if vd else None
        rows.append(
            {
                "fraction": frac,
                "at_s": t,
                "actual_left_s": finish - t,
                "eta_seconds_of_video": eta,
                "eta_video_count": by_count,
            }
        )
    return {"videos": report.indexed, "video_seconds": samples[-1][2], "wall_s": finish, "points": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    ap.add_argument("--churn", type=int, default=100_000, help="extra writes on 100 files")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument(
        "--skip", action="append", default=[], choices=["rescan", "rss", "latency", "searchable", "inputs", "eta"]
    )
    ap.add_argument("--no-library", action="store_true", help="skip the Library.add timing (loads tempme-tiny)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res: dict = {"load": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="tempme-bench-watch-") as tmp:
        work = Path(tmp)
        if "rescan" not in args.skip:
            res["rescan"] = rescan_part(args, work)
        if "rss" not in args.skip:
            res["rss"] = rss_part(args, work)
        if "latency" not in args.skip:
            res["latency"] = latency_part(args, work)
        if "searchable" not in args.skip:
            res["searchable"] = searchable_part(args, work)
        if "inputs" not in args.skip:
            res["inputs"] = inputs_part(args, work)
        if "eta" not in args.skip:
            res["eta"] = eta_part(args, work)
    res["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"load average {res['load']:.1f} -> {res['load_after']:.1f} (2 cores)")
    if "rescan" in res:
        r = res["rescan"]
        print(f"\nRescan of {r['files']:,} unchanged files (best of {args.repeat})")
        print(f"| {'step':44s} | {'wall s':>8s} | {'CPU s':>8s} | {'syscalls':>9s} |")
        print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
        rows = [
            ("baseline: walk (files.walk)", "walk_s", r.get("walk_syscalls")),
            ("baseline: catalog.known_files", "known_files_s", None),
            ("baseline: plan_ingest (a stat per file)", "plan_s", None),
            ("baseline: walk + known + plan", "baseline_s", None),
            ("Library.add of the unchanged tree", "library_add_s", None),
            ("stat-only: scan_tree", "scan_tree_s", r.get("scan_tree_syscalls")),
            ("stat-only: scan_tree + known + compare", "stat_only_s", None),
        ]
        for name, key, calls in rows:
            if key in r:
                cpu, n = r["cpu_s"][key], "" if calls is None else f"{calls:,}"
                print(f"| {name:44s} | {r[key]:8.3f} | {cpu:8.3f} | {n:>9s} |")
        print(
            f"baseline / stat-only: {r['baseline_over_stat_only']:.2f}x wall, "
            f"{r['baseline_over_stat_only_cpu']:.2f}x CPU"
        )
    if "rss" in res:
        print(f"\nWatcher memory, {args.files:,} files in 100 folders (child process, MiB)")
        print(
            "| mode    | after imports | watching | after the writes | peak  | writes  | peak pending | handed over |"
        )
        print(
            "|---------|---------------|----------|------------------|-------|---------|--------------|-------------|"
        )
        for m in res["rss"]:
            print(
                f"| {m['mode']:7s} | {m['rss_start_kib'] / 1024:13.1f} | {m['rss_watching_kib'] / 1024:8.1f} | "
                f"{m['rss_after_kib'] / 1024:16.1f} | {m['rss_peak_kib'] / 1024:5.1f} | "
                f"{m['writes']:7,} | {m['peak_pending']:12,} | {m['changed_handed_over']:11,} |"
            )
    if "searchable" in res:
        m = res["searchable"]
        print(
            f"\nLast byte -> searchable (events, settle {m['settle_s']:g} s, tempme-tiny encoding): "
            f"{m['mean_s']:.2f} s mean, {m['max_s']:.2f} s max over {m['trials']} clips "
            f"(of which Library.add: {m['add_mean_s']:.2f} s mean)"
        )
    if "inputs" in res:
        print("\nInput errors before any model (new process, median of 3; target < 2 s)")
        print(f"| {'command':36s} | wall s | CPU s |")
        print(f"|{'-' * 38}|--------|-------|")
        for name, t in res["inputs"].items():
            print(f"| {name:36s} | {t['wall_s']:6.2f} | {t['cpu_s']:5.2f} |")
    if "eta" in res:
        print_eta(res)
    if "latency" in res:
        print("\nLast byte -> hand-over (default WatchConfig)")
        print("| mode    | settle s | debounce s | poll s | trials | mean s | max s |")
        print("|---------|----------|------------|--------|--------|--------|-------|")
        for m in res["latency"]:
            poll = "" if m["poll_interval_s"] is None else f"{m['poll_interval_s']:g}"
            print(
                f"| {m['mode']:7s} | {m['settle_s']:8g} | {m['debounce_s']:10g} | {poll:>6s} | "
                f"{m['trials']:6d} | {m['mean_s']:6.2f} | {m['max_s']:5.2f} |"
            )


def print_eta(res: dict) -> None:
    e = res["eta"]
    print(
        f"\nETA while indexing {e['videos']} videos ({e['video_seconds']:.0f} s of video, the 10-minute film last), "
        f"tempme-tiny, {e['wall_s']:.0f} s wall"
    )
    print("| done (video s) | at s | actual left s | ETA, seconds of video | error | ETA, video count | error |")
    print("|---|---|---|---|---|---|---|")
    for r in e["points"]:
        a, new, old = r["actual_left_s"], r["eta_seconds_of_video"], r["eta_video_count"]
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        err = lambda v: "-" if v is None else f"{(v - a) / a:+.0%}"  # noqa: E731
        print(
            f"| {r['fraction']:.0%} | {r['at_s']:.0f} | {a:.0f} | {fmt(new)} | {err(new)} | {fmt(old)} | {err(old)} |"
        )


if __name__ == "__main__":
    main()
