"""Watched folders: the settings of a watcher and what it hands over (:class:`ChangeBatch`).

Shared by :mod:`.changes` (which builds batches), :mod:`.watch` (which hands them over) and the
library's ingest of them (the sink).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


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
