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

Only video files (:data:`~tempme.index.media.files.VIDEO_EXTENSIONS`) outside hidden folders
count; folders count for deletions and moves. All times are ``time.monotonic()`` seconds, passed in, so tests
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

from tempme.index.filenames import is_under
from tempme.index.ingest.batches import ChangeBatch, WatchConfig
from tempme.index.ingest.renames import PendingMoves
from tempme.index.media.files import VIDEO_EXTENSIONS

_VIDEO_SUFFIXES = frozenset(VIDEO_EXTENSIONS)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Settling:
    """A new or modified file waiting to be stable."""

    since: float  # when its size/mtime last changed (or an event came for it)
    stamp: tuple[int, int] | None = None  # (size, mtime_ns) at the last stat
    writing: bool = False  # a write seen and no close-after-write since (events only)


def _str_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass
class _State:
    settling: dict[str, _Settling] = field(default_factory=dict)  # by current name (str: hashed per event)
    deleted: set[Path] = field(default_factory=set)  # names the library knew at the batch's start
    moves: PendingMoves = field(default_factory=PendingMoves)
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
        folder (the names :func:`.files.walk` would list)."""
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
            s.moves = PendingMoves()
            s.rescan.clear()
            s.rescan_quiet.difference_update(due_quiet)
            s.first_event = now if (s.settling or s.rescan_quiet) else None
            return batch
