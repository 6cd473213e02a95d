"""Watched folders, step 1: file-system events in, batches of settled changes out.

:class:`PendingChanges` is the watcher's memory between events and the library's incremental
ingest. It is fed one event at a time (:meth:`PendingChanges.created`, ``modified``, ``closed``,
``deleted``, ``moved``, ``lost``) and asked on a timer for a :class:`ChangeBatch`
(:meth:`PendingChanges.take`). It decides:

- **stability**: a new or modified video is reported only once its size and mtime have stayed
  the same for ``settle_s`` seconds (stat'ed on every :meth:`take`), and, where the events say
  a writer has it open (a write seen, no close-after-write yet), only once that writer closed
  it or has been idle for ``writer_idle_s`` -- so a file still being copied, even with long
  pauses, is never handed over half-written;
- **coalescing**: a batch goes out once no event has come for ``debounce_s`` and nothing is
  still settling (a burst of files is one batch), or at the latest ``max_wait_s`` after the
  first event of the batch (a file written for an hour does not hold the rest back);
- **what happened**: renames and moves the OS reports as such stay moves (``A -> B`` then
  ``B -> C`` is ``A -> C``; a move undone is nothing), deletions are deletions (a folder's
  deletion stands for everything under it), so the ingest can keep a moved video's segments;
- **bounded memory**: at most ``max_pending`` paths are remembered; past that, everything
  pending under the affected roots is dropped and those roots are rescanned in full once the
  tree has been quiet for ``settle_s`` (the rescan is stat-only for unchanged files, and the
  ingest matches moves by content hash). Lost events (an inotify queue overflow) do the same.

Only video files (:data:`index.files.VIDEO_EXTENSIONS`) outside hidden folders count; folders
count for deletions and moves. All times are ``time.monotonic()`` seconds, passed in, so tests
can drive it; nothing here knows about watchdog or the library.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tempme.index.files import VIDEO_EXTENSIONS, is_under

_VIDEO_SUFFIXES = frozenset(VIDEO_EXTENSIONS)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchConfig:
    """How a watcher decides (all times in seconds).

    Attributes:
        settle_s: a file is stable once its size and mtime stayed unchanged this long.
        debounce_s: a batch waits until no event came for this long (a burst is one batch).
        max_wait_s: ... but goes out at the latest this long after its first event.
        writer_idle_s: a file a writer still holds open is stable only after this long
            without change (events only; polling cannot see open files).
        max_pending: at most this many paths remembered; past it, the roots are rescanned.
        polling: force the polling observer (network shares are detected without it).
        poll_interval_s: how often a polled tree is listed and stat'ed.
        initial_scan: start with a rescan of every root (catches what changed while stopped).
        retry_s: after a failed hand-over, rescan the roots this long later (doubling to 300).
    """

    settle_s: float = 3.0
    debounce_s: float = 1.0
    max_wait_s: float = 60.0
    writer_idle_s: float = 600.0
    max_pending: int = 10_000
    polling: bool = False
    poll_interval_s: float = 10.0
    initial_scan: bool = True
    retry_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("settle_s", "debounce_s", "max_wait_s", "writer_idle_s", "poll_interval_s", "retry_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"WatchConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_wait_s < self.debounce_s:
            raise ValueError(f"WatchConfig.max_wait_s ({self.max_wait_s}) must be >= debounce_s ({self.debounce_s})")
        if self.max_pending < 1:
            raise ValueError(f"WatchConfig.max_pending must be >= 1, got {self.max_pending}")

    @property
    def tick_s(self) -> float:
        """How often pending files are stat'ed and a batch is looked for."""
        return min(1.0, max(0.05, min(self.settle_s, self.debounce_s or self.settle_s) / 4))


@dataclass(frozen=True)
class ChangeBatch:
    """What changed under the watched roots since the last batch (absolute paths).

    ``deleted`` and the old side of ``moved`` are the names the library knew when the batch
    began; ``changed``, ``rescan`` and the new side of ``moved`` are names on disk now. The
    ingest applies it in this order:

    1. ``deleted``: remove the videos at or under each path;
    2. ``moved``: one substitution over the library's paths, each path taking the pair whose
       old side is its longest prefix (a folder's move carries the videos under it) -- the
       videos keep their segments and vectors, only the path changes; a video the library
       still has at a new side (a move that replaced a file) is dropped first;
    3. ``changed`` and ``rescan``: plan and encode as ``Library.add`` does (unchanged size and
       mtime: skipped); a new file whose size, mtime and content hash equal a video removed
       in step 1 is a move the OS did not report as one (between two watched roots, or while
       nobody watched), and is re-pathed instead.

    Attributes:
        changed: new or modified video files, stable for ``settle_s``.
        deleted: files or folders gone (a folder: every video under it).
        moved: ``(old, new)`` renames and moves the OS reported as such (files or folders).
        rescan: folders to walk in full: at start, after lost events or a pending-set overflow.
            Files there modified less than ``settle_s`` ago may still be written: the sink
            should hand them back (see :class:`ChangeSink`) rather than index them.
    """

    changed: tuple[Path, ...] = ()
    deleted: tuple[Path, ...] = ()
    moved: tuple[tuple[Path, Path], ...] = ()
    rescan: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted or self.moved or self.rescan)

    def __len__(self) -> int:
        return len(self.changed) + len(self.deleted) + len(self.moved) + len(self.rescan)


class ChangeSink(Protocol):
    """Where batches go (the library's incremental ingest; anything callable in tests).

    Called in the watcher's own thread, one batch at a time; events keep being collected
    meanwhile. It returns the paths it did not take (still being written, changed while read),
    which the watcher follows again as if they had just changed, or None.
    """

    def __call__(self, batch: ChangeBatch) -> Iterable[Path] | None: ...


@dataclass(slots=True)
class _Settling:
    """A new or modified file waiting to be stable."""

    since: float  # when its size/mtime last changed (or an event came for it)
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) at the last stat
    writing: bool = False  # a write seen and no close-after-write since (events only)


def _str_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _Moves:
    """Moves not yet handed over: current name -> the name the library knew at the batch's start."""

    def __init__(self) -> None:
        self.by_new: dict[Path, Path] = {}
        self.by_old: dict[Path, Path] = {}
        self.dirs: set[Path] = set()  # current names that are folders

    def __len__(self) -> int:
        return len(self.by_new)

    def put(self, new: Path, old: Path, is_dir: bool) -> None:
        if old == new:
            return  # a move undone
        self.by_new[new], self.by_old[old] = old, new
        if is_dir:
            self.dirs.add(new)

    def pop(self, new: Path) -> Path | None:
        old = self.by_new.pop(new, None)
        if old is not None:
            del self.by_old[old]
            self.dirs.discard(new)
        return old

    def origin(self, path: Path) -> Path:
        """The name the library knew ``path`` by at the start of the batch."""
        if path in self.by_new:
            return self.by_new[path]
        under = [d for d in self.dirs if d != path and is_under(path, [d])]
        if not under:
            return path
        d = max(under, key=lambda d: len(d.parts))
        return self.by_new[d] / path.relative_to(d)

    def vacated(self, name: Path) -> bool:
        """True when the library's ``name`` has moved away in this batch (so nothing of the
        library's is overwritten or deleted there)."""
        if name in self.by_old:
            return True
        return any(is_under(name, [self.by_new[d]]) for d in self.dirs)

    def rebase(self, old: Path, new: Path) -> None:
        """A folder ``old`` (current name) became ``new``: moves into it end under the new name."""
        for n in [n for n in self.by_new if is_under(n, [old])]:
            was_dir = n in self.dirs
            self.put(new / n.relative_to(old), self.pop(n), was_dir)

    def drop_implied(self, new_dir: Path) -> None:
        """Forget file moves that the move of the folder ``new_dir`` already says."""
        origin = self.by_new[new_dir]
        for n in [n for n in self.by_new if n != new_dir and is_under(n, [new_dir])]:
            if self.by_new[n] == origin / n.relative_to(new_dir):
                self.pop(n)

    def drop_under(self, root: Path) -> None:
        for n in [n for n, o in self.by_new.items() if is_under(n, [root]) or is_under(o, [root])]:
            self.pop(n)

    def pairs(self) -> list[tuple[Path, Path]]:
        return sorted((o, n) for n, o in self.by_new.items())


@dataclass
class _State:
    settling: dict[str, _Settling] = field(default_factory=dict)  # by current name (str: hashed per event)
    deleted: set[Path] = field(default_factory=set)  # names the library knew at the batch's start
    moves: _Moves = field(default_factory=_Moves)
    rescan: set[Path] = field(default_factory=set)  # current names
    rescan_quiet: set[Path] = field(default_factory=set)  # roots to rescan once the tree is quiet
    first_event: float | None = None  # of the batch being collected
    last_event: float = float("-inf")


class PendingChanges:
    """The bounded set of changes not yet handed over; thread-safe (events come from the
    observers' threads, :meth:`take` from the watcher's).

    ``roots``: the watched folders (absolute). ``quiet_s``: how long the tree must be quiet
    before an overflow rescan (default ``settle_s``; a polled tree adds its poll interval).
    """

    def __init__(self, roots: Iterable[Path], config: WatchConfig = WatchConfig(), quiet_s: float | None = None):
        self.roots = [Path(r) for r in roots]
        self._roots = sorted(((r, str(r).rstrip(os.sep) or os.sep) for r in self.roots), key=lambda t: -len(t[0].parts))
        self.config = config
        self.quiet_s = config.settle_s if quiet_s is None else quiet_s
        self._s = _State()
        self._lock = threading.Lock()
        self.overflows = 0  # how many times the pending set overflowed or events were lost

    # ---- what counts ---------------------------------------------------------------------------
    # (string arithmetic: this runs for every file-system event, at tens of thousands a second)
    def root_of(self, path: str | os.PathLike) -> Path | None:
        """The watched root ``path`` lies under (the deepest), or None."""
        s = os.fspath(path)
        for r, rs in self._roots:
            if s == rs or s.startswith(rs + os.sep):
                return r
        return None

    def counts(self, path: str | os.PathLike, is_dir: bool = False) -> bool:
        """True for a video file (or, with ``is_dir``, a folder) under a root and under no hidden
        folder (the names :func:`index.files.walk` would list)."""
        s = os.fspath(path)
        for _, rs in self._roots:
            if s == rs or s.startswith(rs + os.sep):
                if os.sep + "." in s[len(rs) :]:
                    return False
                return is_dir or os.path.splitext(s)[1].lower() in _VIDEO_SUFFIXES
        return False

    def __len__(self) -> int:
        s = self._s
        return len(s.settling) + len(s.deleted) + len(s.moves) + len(s.rescan)

    def snapshot(self) -> dict[str, int]:
        """How many paths are pending, by kind (for status lines and the benchmark)."""
        with self._lock:
            s = self._s
            return {
                "settling": len(s.settling),
                "deleted": len(s.deleted),
                "moved": len(s.moves),
                "rescan": len(s.rescan | s.rescan_quiet),
            }

    # ---- events --------------------------------------------------------------------------------
    def _touch(self, now: float) -> None:
        s = self._s
        s.last_event = now
        if s.first_event is None:
            s.first_event = now

    def created(self, path: str | os.PathLike, now: float) -> None:
        """A file appeared (created, or moved in from outside the roots)."""
        self._change(path, now, None)

    def modified(self, path: str | os.PathLike, now: float) -> None:
        """A file was written to."""
        self._change(path, now, True)

    def closed(self, path: str | os.PathLike, now: float) -> None:
        """A writer closed the file (inotify's IN_CLOSE_WRITE)."""
        self._change(path, now, False)

    def attrib(self, path: str | os.PathLike, now: float) -> None:
        """Metadata changed (mtime set by ``touch``, permissions): stat decides."""
        self._change(path, now, None)

    def _change(self, path: str | os.PathLike, now: float, writing: bool | None) -> None:
        key = os.fspath(path)
        if not self.counts(key):
            return
        with self._lock:
            self._touch(now)
            if self._s.rescan_quiet and self._quiet_rescan_covers(Path(key)):
                return
            e = self._s.settling.get(key)
            if e is None:
                e = self._s.settling[key] = _Settling(since=now)
            e.since = now
            if writing is not None:
                e.writing = writing
            self._bound()

    def deleted(self, path: Path, now: float, is_dir: bool = False) -> None:
        """A file or folder is gone (deleted, or moved out of the roots)."""
        if not self.counts(path, is_dir):
            return
        with self._lock:
            self._touch(now)
            if not self._quiet_rescan_covers(path):
                self._delete(path, is_dir)
            self._bound()

    def _delete(self, path: Path, is_dir: bool) -> None:
        s = self._s
        origin = s.moves.origin(path)
        if is_dir:
            for p in [p for p in s.settling if _str_under(p, str(path))]:
                del s.settling[p]
            for new in [n for n in s.moves.by_new if n != path and is_under(n, [path])]:
                old = s.moves.pop(new)
                if not is_under(old, [origin]):
                    s.deleted.add(old)
            s.rescan = {p for p in s.rescan if not is_under(p, [path])}
        else:
            s.settling.pop(str(path), None)
        s.moves.pop(path)
        # a name reached through a move is that video; a plain name whose video moved away in
        # this batch holds nothing of the library's
        if origin != path or not s.moves.vacated(origin):
            s.deleted.add(origin)

    def moved(self, old: Path, new: Path, now: float, is_dir: bool = False) -> None:
        """``old`` was renamed to ``new`` (both seen by the OS as one move)."""
        old_counts, new_counts = self.counts(old, is_dir), self.counts(new, is_dir)
        if not old_counts and not new_counts:
            return
        if not new_counts:  # e.g. renamed to a hidden name or a non-video suffix: gone for the library
            self.deleted(old, now, is_dir)
            return
        if not old_counts:  # e.g. a download's temporary name renamed to the final one: a new file
            if is_dir:
                self.rescan(new, now)
            else:
                self.created(new, now)
            return
        with self._lock:
            self._touch(now)
            if self._quiet_rescan_covers(old) or self._quiet_rescan_covers(new):
                return
            s = self._s
            origin = s.moves.origin(old)
            if is_dir:
                s.moves.pop(old)
                o, n = str(old), str(new)
                s.settling = {(n + p[len(o) :] if _str_under(p, o) else p): e for p, e in s.settling.items()}
                s.rescan = {(new / p.relative_to(old) if is_under(p, [old]) else p) for p in s.rescan}
                s.moves.rebase(old, new)
                s.moves.put(new, origin, True)
                if new in s.moves.by_new:
                    s.moves.drop_implied(new)
            else:
                overwritten = s.moves.origin(new)
                if overwritten not in (new, origin):
                    s.deleted.add(overwritten)  # a video moved here earlier in the batch, now replaced
                s.moves.pop(old)
                s.moves.pop(new)
                s.moves.put(new, origin, False)
                if str(old) in s.settling:  # changed and not handed over yet: follow it under its new name
                    s.settling[str(new)] = s.settling.pop(str(old))
            self._bound()

    def lost(self, root: Path, now: float) -> None:
        """Events under ``root`` were lost (an inotify queue overflow, a dead event source):
        forget what is pending there and rescan it once quiet."""
        with self._lock:
            self._touch(now)
            self._forget_under(Path(root))
            self.overflows += 1

    def rescan(self, folder: Path, now: float) -> None:
        """Ask for a full rescan of ``folder`` in the next batch (at start, after a failure)."""
        with self._lock:
            self._touch(now)
            self._s.rescan.add(Path(folder))

    def again(self, paths: Iterable[Path], now: float) -> None:
        """Follow ``paths`` again as if they had just changed (what a sink handed back)."""
        for p in paths:
            self._change(Path(p), now, None)

    # ---- bounds ----------------------------------------------------------------------------------
    def _quiet_rescan_covers(self, path: Path) -> bool:
        return is_under(path, self._s.rescan_quiet)

    def _forget_under(self, root: Path) -> None:
        s = self._s
        s.settling = {p: e for p, e in s.settling.items() if not _str_under(p, str(root))}
        s.deleted = {p for p in s.deleted if not is_under(p, [root])}
        s.moves.drop_under(root)
        s.rescan = {p for p in s.rescan if not is_under(p, [root])}
        s.rescan_quiet.add(root)

    def _bound(self) -> None:
        if len(self) <= self.config.max_pending:
            return
        s = self._s
        roots = {self.root_of(p) for p in [*s.settling, *s.deleted, *s.moves.by_new, *s.rescan]}
        roots.discard(None)
        for root in roots:
            self._forget_under(root)
        self.overflows += 1
        log.warning(
            "more than %d changes pending under %s: following them one by one stops; the folder%s "
            "will be rescanned once nothing has changed for %.0f s",
            self.config.max_pending,
            ", ".join(str(r) for r in sorted(roots)),
            "s" if len(roots) > 1 else "",
            self.quiet_s,
        )

    # ---- batches ---------------------------------------------------------------------------------
    def _stable(self, e: _Settling, now: float) -> bool:
        quiet = now - e.since
        if e.writing:
            return quiet >= max(self.config.writer_idle_s, self.config.settle_s)
        return quiet >= self.config.settle_s

    def take(self, now: float) -> ChangeBatch | None:
        """The next batch if one is due, else None. Stats every settling file (outside the lock)."""
        with self._lock:
            paths = list(self._s.settling)
        stamps: dict[str, tuple[int, int] | None | str] = {}
        for p in paths:
            try:
                st = os.stat(p)
            except FileNotFoundError:
                stamps[p] = None  # gone before it settled (a temporary file): a deletion event says the rest
                continue
            except OSError:
                stamps[p] = "error"  # unreadable: handed over, the ingest records why
                continue
            stamps[p] = "dir" if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime_ns)
        with self._lock:
            s = self._s
            for p, stamp in stamps.items():
                e = s.settling.get(p)
                if e is None:
                    continue
                if stamp is None or stamp == "dir":
                    del s.settling[p]
                elif stamp != "error" and stamp != e.stamp:
                    e.stamp, e.since = stamp, now
            ready = sorted(p for p, e in s.settling.items() if self._stable(e, now) or stamps.get(p) == "error")
            ready_paths = [Path(p) for p in ready]
            due_quiet = sorted(s.rescan_quiet) if now - s.last_event >= self.quiet_s else []
            if not (ready or s.deleted or len(s.moves) or s.rescan or due_quiet):
                if not s.settling and not s.rescan_quiet:
                    s.first_event = None
                return None
            waited = now - (s.first_event if s.first_event is not None else now)
            overdue = waited >= self.config.max_wait_s
            quiet = now - s.last_event >= self.config.debounce_s
            still_settling = len(s.settling) > len(ready)
            if not due_quiet and not overdue and (not quiet or still_settling):
                return None
            batch = ChangeBatch(
                changed=tuple(ready_paths),
                deleted=tuple(sorted(s.deleted)),
                moved=tuple(s.moves.pairs()),
                rescan=tuple(sorted(s.rescan | set(due_quiet))),
            )
            for p in ready:
                del s.settling[p]
            s.deleted.clear()
            s.moves = _Moves()
            s.rescan.clear()
            s.rescan_quiet.difference_update(due_quiet)
            s.first_event = now if (s.settling or s.rescan_quiet) else None
            return batch
