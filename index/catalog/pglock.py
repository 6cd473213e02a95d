"""One indexer per library on PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``).

It holds across hosts (the file lock in the library folder holds only where the shared storage
honours ``flock``) and is released by the server when the holder's connection drops, so a killed
indexer never leaves a stale lock. The interface is the subset of ``filelock.FileLock`` that
:class:`tempme.index.library.Library` uses (through :class:`.locks.WriteLock`): ``acquire(timeout)`` (usable as a context manager),
``release()``, ``is_locked`` and ``lock_file`` (a description for messages). Reentrant, like FileLock.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import Timeout
from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (blake2b of the name)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class AdvisoryLock:
    """See the module docstring. ``name``: what the lock guards (the library folder)."""

    def __init__(self, engine: Engine, name: str, poll_s: float = 0.2) -> None:
        self.engine = engine
        self.key = lock_key(name)
        self.poll_s = poll_s
        self._conn = None
        self._count = 0
        self._mutex = threading.RLock()
        self.lock_file = f"PostgreSQL advisory lock {self.key} on {engine.url.render_as_string(hide_password=True)}"

    @property
    def is_locked(self) -> bool:
        return self._count > 0

    def acquire(self, timeout: float = -1):
        """Take the lock, waiting up to ``timeout`` s (-1: forever). Raises filelock.Timeout."""
        with self._mutex:
            if self._count:
                self._count += 1
                return self._held()
            deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
            conn = self.engine.connect()
            try:
                while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar():
                    conn.rollback()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise Timeout(self.lock_file)
                    time.sleep(self.poll_s)
                conn.commit()  # the lock is per session, not per transaction
            except BaseException:
                conn.close()
                raise
            self._conn, self._count = conn, 1
            return self._held()

    @contextmanager
    def _held(self) -> Iterator[AdvisoryLock]:
        try:
            yield self
        finally:
            self.release()

    def release(self) -> None:
        with self._mutex:
            if not self._count:
                return
            self._count -= 1
            if self._count:
                return
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            finally:
                conn.close()
