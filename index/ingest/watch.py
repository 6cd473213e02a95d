"""Watched folders, step 2: follow folders with file-system events and hand settled changes over.

:class:`Watcher` schedules one recursive watch per root on a ``watchdog`` observer (inotify on
Linux, FSEvents / kqueue / ReadDirectoryChangesW elsewhere), feeds the events to
:class:`.changes.PendingChanges`, and on its own thread hands each due
:class:`.batches.ChangeBatch` to a sink (the library's incremental ingest; any callable in
tests), one at a time. A root is polled instead (``watchdog``'s ``PollingObserver``, a listing
and a stat of every file each ``poll_interval_s``) when:

- the configuration asks for it (``WatchConfig.polling``);
- the root is on a network file system (NFS, SMB/CIFS, sshfs, ...: inotify sees only the
  changes made by this machine), read from ``/proc/self/mountinfo``;
- events cannot be had: the inotify watch (or instance) limit is reached -- said once, with the
  limit (``/proc/sys/fs/inotify/max_user_watches``, or a container's lower
  ``/proc/sys/user/max_inotify_watches``) and how to raise it -- or an event source stops.

A root that disappears (an unmounted disk, a share gone) is not a deletion: its videos stay in
the library, and the root is looked for every ``poll_interval_s`` and rescanned when it is back.

Memory: inotify costs one kernel watch per folder (about 1 KiB of kernel memory each); the
watcher's own memory is the bounded pending set (``max_pending`` paths), never the event count.
Polling keeps one stat record per file (``watchdog``'s ``DirectorySnapshot``).

Reference: Immich's library watcher (chokidar, ``usePolling`` for network shares) and its issues
7712 / 32493 (a watcher's memory, the 8192-watch limit); watchdog's observers and events API.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tempme.index.filenames import absolute
from tempme.index.ingest.batches import ChangeBatch, ChangeSink, WatchConfig
from tempme.index.ingest.changes import PendingChanges
from tempme.index.ingest.fsinfo import NETWORK_FILESYSTEMS, LimitFilter, filesystem_type, limit_message, say_once
from watchdog import events as wd_events
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)

WATCHDOG_INOTIFY_LOGGER = "watchdog.observers.inotify"

EVENT_FILTER = [
    getattr(wd_events, name)
    for name in (
        "FileCreatedEvent",
        "FileModifiedEvent",
        "FileClosedEvent",
        "FileDeletedEvent",
        "FileMovedEvent",
        "DirDeletedEvent",
        "DirMovedEvent",
        "EventsLostEvent",  # watchdog >= 7
    )
    if hasattr(wd_events, name)
]
"""The events a watcher asks for: inotify is not even told about opens, reads and closes without
writes (the library's own reads of 10^4 videos would otherwise each be events)."""


class _Handler(FileSystemEventHandler):
    """watchdog events -> :class:`PendingChanges` calls (cheap: no I/O in the dispatch thread)."""

    def __init__(self, pending: PendingChanges, root: Path, tracks_writes: bool, clock: Callable[[], float]):
        self.pending, self.root, self.tracks_writes, self.clock = pending, root, tracks_writes, clock

    def dispatch(self, event: FileSystemEvent) -> None:
        kind, now = event.event_type, self.clock()
        src = os.fsdecode(event.src_path)
        pending = self.pending
        if kind == "modified" or kind == "closed" or kind == "created" or kind == "attrib":
            if event.is_directory:
                return  # folders' own changes: their files bring their own events
            if kind == "modified" and self.tracks_writes:
                pending.modified(src, now)
            elif kind == "closed":
                pending.closed(src, now)
            else:  # created, attrib, or polling's "modified" (a changed stat, not an open writer)
                pending.attrib(src, now)
        elif kind == "moved":
            if event.is_synthetic:
                return  # a file inside a moved folder: the folder's move says it
            dest = os.fsdecode(event.dest_path)
            if dest:
                pending.moved(Path(src), Path(dest), now, event.is_directory)
            else:
                pending.deleted(Path(src), now, event.is_directory)
        elif kind == "deleted":
            if src == str(self.root):
                return  # the root itself: the watcher notices it is missing (not a deletion)
            pending.deleted(Path(src), now, event.is_directory)
        elif kind == "events_lost":  # watchdog >= 7: an inotify queue overflow
            log.warning("file-system events under %s were lost: it will be rescanned", self.root)
            pending.lost(self.root, now)


class Watcher:
    """Follows ``roots`` and hands batches of settled changes to ``sink``.

    Use as a context manager, or :meth:`start` then :meth:`stop`. ``modes`` says how each root
    is followed: ``"events"``, ``"polling"`` or ``"missing"``.

    Raises (from :meth:`start`):
        FileNotFoundError: a root does not exist. NotADirectoryError: a root is a file.
    """

    def __init__(
        self,
        roots: Iterable[str | os.PathLike],
        sink: ChangeSink,
        config: WatchConfig = WatchConfig(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.roots = sorted({absolute(r) for r in roots})
        self.sink = sink
        self.config = config
        self.clock = clock
        self.pending = PendingChanges(self.roots, config, quiet_s=config.settle_s + config.poll_interval_s)
        self.modes: dict[Path, str] = {}
        self.batches = 0  # handed over
        self.failures = 0  # hand-overs that raised
        self._events: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._watches: dict[Path, tuple[BaseObserver, ObservedWatch]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None
        self._backoff = config.retry_s
        self._next_source_check = 0.0
        self._events_unavailable = False  # the inotify limit was reached: later roots are polled
        self._limit_hits: dict[Path, OSError] = {}  # roots where watchdog could not watch a new folder
        self._hits_lock = threading.Lock()
        self._limit_filter = LimitFilter(self._limit_hit)

    # ---- sources ---------------------------------------------------------------------------
    def _schedule(self, root: Path) -> None:
        """Follow ``root`` with events where possible, else by polling."""
        reason = None
        if self.config.polling:
            reason = "configured"
        else:
            fs = filesystem_type(root)
            if fs in NETWORK_FILESYSTEMS:
                reason = fs
                say_once(
                    f"network:{root}",
                    "%s is on a network file system (%s): events do not report changes made by other "
                    "machines, so it is polled every %g s",
                    root,
                    fs,
                    self.config.poll_interval_s,
                )
        if reason is None and self._events_unavailable:
            reason = "inotify limit reached"
        if reason is None:
            if self._events is None:
                self._events = Observer()
                self._events.start()
            try:
                watch = self._events.schedule(_Handler(self.pending, root, True, self.clock), str(root), recursive=True)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                say_once(f"inotify-limit:{exc.errno}", "%s", limit_message(exc, root))
                self._events_unavailable = True
                reason = "inotify limit reached"
            else:
                self._watches[root] = (self._events, watch)
                self.modes[root] = "events"
                return
        self._poll(root)
        log.info("following %s by polling every %g s (%s)", root, self.config.poll_interval_s, reason or "events")

    def _unschedule(self, root: Path) -> None:
        observer, watch = self._watches.pop(root)
        try:
            observer.unschedule(watch)
        except (KeyError, OSError):
            pass

    def _limit_hit(self, folder: Path, exc: OSError) -> None:
        root = self.pending.root_of(folder)
        if root is not None:
            with self._hits_lock:
                self._limit_hits.setdefault(root, exc)

    def _check_sources(self, now: float) -> None:
        """Roots past the inotify limit, roots that vanished or came back, event sources that stopped."""
        self._apply_limit_hits(now)
        if now < self._next_source_check:
            return
        self._check_roots(now)

    def _apply_limit_hits(self, now: float) -> None:
        with self._hits_lock:
            hits, self._limit_hits = self._limit_hits, {}
        for root, exc in hits.items():
            if self.modes.get(root) != "events":
                continue
            say_once(f"inotify-limit:{exc.errno}", "%s", limit_message(exc, root))
            self._events_unavailable = True
            self._unschedule(root)
            self._poll(root)
            self.pending.lost(root, now)  # what happened in the unwatched folders: a rescan finds it

    def _check_roots(self, now: float) -> None:
        """Roots that vanished (kept, looked for) or came back (rescanned); event sources that stopped."""
        self._next_source_check = now + min(self.config.poll_interval_s, 5.0)
        alive = {e.watch for o in (self._events, self._polling) if o is not None for e in o.emitters if e.is_alive()}
        for root in self.roots:
            there = root.is_dir()
            mode = self.modes.get(root)
            if mode == "missing":
                if there:
                    log.warning("%s is back: rescanning it", root)
                    self._schedule(root)
                    self.pending.rescan(root, now)
                continue
            if not there:
                log.warning("%s is gone (unmounted?): its videos are kept; looking for it every few seconds", root)
                self._unschedule(root)
                self.modes[root] = "missing"
                continue
            observer, watch = self._watches[root]
            if watch not in alive and observer.is_alive():
                log.warning("events for %s stopped: following it by polling and rescanning it", root)
                self._unschedule(root)
                self._poll(root)
                self.pending.lost(root, now)

    def _poll(self, root: Path) -> None:
        if self._polling is None:
            self._polling = PollingObserver(timeout=self.config.poll_interval_s)
            self._polling.start()
        watch = self._polling.schedule(
            _Handler(self.pending, root, False, self.clock), str(root), recursive=True, event_filter=EVENT_FILTER
        )
        self._watches[root] = (self._polling, watch)
        self.modes[root] = "polling"

    # ---- running ---------------------------------------------------------------------------
    def start(self) -> Watcher:
        for root in self.roots:
            if not root.exists():
                raise FileNotFoundError(f"no such folder: {root}")
            if not root.is_dir():
                raise NotADirectoryError(f"not a folder: {root} (watch the folder that holds it)")
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).addFilter(self._limit_filter)
        for root in self.roots:
            self._schedule(root)
        now = self.clock()
        self._apply_limit_hits(now)  # a root only partly watched (watchdog 7.0 warns and goes on)
        self._next_source_check = now + min(self.config.poll_interval_s, 5.0)
        if self.config.initial_scan:
            for root in self.roots:
                self.pending.rescan(root, now)
        self._thread = threading.Thread(target=self._run, name="tempme-watch", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        tick = self.config.tick_s
        while not self._stop.wait(tick):
            now = self.clock()
            try:
                self._check_sources(now)
            except OSError as exc:  # e.g. an unreadable mount table: keep going with what we have
                log.warning("cannot check the watched folders: %s", exc)
            if self._retry_at is not None and now >= self._retry_at:
                self._retry_at = None
                for root in self.roots:
                    self.pending.rescan(root, now)
            batch = self.pending.take(now)
            if batch:
                self._hand_over(batch)

    def _hand_over(self, batch: ChangeBatch) -> None:
        try:
            again = self.sink(batch)
        except Exception as exc:  # the sink's failure must not end the watch: retry with a rescan
            self.failures += 1
            log.error(
                "indexing %d change%s failed (%s: %s); rescanning in %.0f s",
                len(batch),
                "" if len(batch) == 1 else "s",
                type(exc).__name__,
                exc,
                self._backoff,
            )
            self._retry_at = self.clock() + self._backoff
            self._backoff = min(300.0, max(1.0, self._backoff * 2))
            return
        self.batches += 1
        self._backoff = self.config.retry_s
        if again:
            self.pending.again(again, self.clock())

    def request_stop(self) -> None:
        """Stop after the batch being handed over, if any (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop following the roots; waits for the batch being handed over to finish."""
        self._stop.set()
        for obs in (self._events, self._polling):
            if obs is not None and obs.is_alive():
                obs.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        for obs in (self._events, self._polling):
            if obs is not None and obs.is_alive():
                obs.join(timeout)
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).removeFilter(self._limit_filter)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`request_stop` / :meth:`stop` (True) or ``timeout`` seconds (False)."""
        return self._stop.wait(timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
