"""One indexer per library: a mutex for the threads of one process, and across processes a file
lock in the library folder (SQLite) or a PostgreSQL advisory lock (:mod:`.pglock`: across hosts,
freed by the server when the holder dies).

:class:`WriteLock` is what ``Library`` holds around every write (``add``, ``reindex``,
``enrich``, ``remove``, ``rebuild``); searches never take it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine
from tempme.index.catalog.pglock import AdvisoryLock
from tempme.index.errors import LibraryBusyError, StorageError, storage_error, storage_kind

log = logging.getLogger(__name__)

LOCK_NAME = "index.lock"


class WriteLock:
    """The write lock of the library in ``folder`` whose catalog is on ``engine``.

    Attributes:
        lock: the cross-process lock (``filelock.FileLock`` or :class:`.pglock.AdvisoryLock`;
            ``lock.lock_file`` says which, for messages).
    """

    def __init__(self, engine: Engine, folder: Path, read_only: bool = False) -> None:
        self.folder, self.read_only = Path(folder), read_only
        if engine.dialect.name == "postgresql":
            self.lock = AdvisoryLock(engine, f"tempme:{engine.url.database}")
        else:
            self.lock = FileLock(str(self.folder / LOCK_NAME))
        self._mutex = threading.Lock()  # one writer per process (the lock itself is reentrant)

    @contextmanager
    def hold(self, wait: bool | float = False) -> Iterator[None]:
        """Hold the lock for a write; ``wait``: False (fail at once), True (forever) or seconds.

        Raises:
            StorageError: a read-only library. LibraryBusyError: another writer holds it.
        """
        if self.read_only:
            raise StorageError(f"the library {self.folder} is read-only: it can be searched, not changed")
        timeout = -1 if wait is True else (0 if wait is False else float(wait))
        busy = (
            f"another tempme process is indexing {self.folder} (lock {self.lock.lock_file}); "
            "wait for it to finish or pass --wait"
        )
        if not self._mutex.acquire(timeout=timeout):
            raise LibraryBusyError(busy)
        try:
            try:
                self.lock.acquire(timeout=timeout)
            except Timeout:
                raise LibraryBusyError(busy) from None
            except OSError as exc:  # the lock file cannot be made: a full or read-only disk, a folder in its way
                raise storage_error(storage_kind(exc) or "io", exc, f"taking the lock {self.lock.lock_file}") from exc
            try:
                yield
            finally:
                self.lock.release()
        finally:
            self._mutex.release()

    def when_free(self, action: Callable[[], None], what: str) -> None:
        """Run ``action`` (a write, e.g. saving a repaired index) holding the cross-process lock
        when nobody holds it now; else, on a read-only library, or when the write fails for lack
        of space or rights, log that ``what`` stays in memory."""
        if self.read_only:
            return log.info("read-only library: %s stays in memory", what)
        try:
            with self.lock.acquire(timeout=0):
                action()
        except Timeout:
            log.info("an indexer is running; %s stays in memory", what)
        except (OSError, RuntimeError, StorageError) as exc:  # e.g. a full disk: searching still works
            log.warning("cannot save %s (%s); it stays in memory", what, exc)
