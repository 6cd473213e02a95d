"""Login for `tempme serve`: constant-time password checks with failed attempts throttled.

Gradio calls the ``auth`` callable with the user name and password only (no client address),
so attempts are counted per user name and over all names: after ``max_failures`` failures of
one name within ``window_s`` seconds that name is locked for ``lockout_s`` seconds (even the
right password is refused meanwhile), and after ``max_global_failures`` failures of any names
within the window every login is refused for ``lockout_s`` seconds (guessing across names).
Each failure also waits ``delay_s`` seconds (asynchronously: the server keeps serving).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class LoginThrottle:
    """See the module docstring. ``clock``: seconds, monotonic (injectable for tests)."""

    credentials: list[tuple[str, str]]
    max_failures: int = 5
    max_global_failures: int = 50
    window_s: float = 60.0
    lockout_s: float = 60.0
    delay_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque] = field(default_factory=dict, repr=False)
    _all: deque = field(default_factory=deque, repr=False)
    _locked_until: dict[str, float] = field(default_factory=dict, repr=False)
    _global_locked_until: float = field(default=-1.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.credentials:
            raise ValueError("LoginThrottle needs at least one user:password")
        if min(self.max_failures, self.max_global_failures) < 1 or min(self.window_s, self.lockout_s) <= 0:
            raise ValueError("max_failures, max_global_failures >= 1 and window_s, lockout_s > 0 are required")

    def _matches(self, user: str, password: str) -> bool:
        ok = False
        for u, p in self.credentials:  # every entry compared, in constant time
            ok |= hmac.compare_digest(u.encode(), user.encode()) & hmac.compare_digest(p.encode(), password.encode())
        return ok

    def locked(self, user: str) -> bool:
        """True while ``user`` (or every user) is locked out."""
        now = self.clock()
        with self._lock:
            return now < self._global_locked_until or now < self._locked_until.get(user, -1.0)

    def check(self, user: str, password: str) -> bool:
        """True for a right user:password that is not locked out; counts the failures."""
        user, password = str(user or ""), str(password or "")
        now = self.clock()
        if self.locked(user):
            logger.warning("login refused for %r: locked out after repeated failures", user[:64])
            return False
        if self._matches(user, password):
            with self._lock:
                self._failures.pop(user, None)
            return True
        with self._lock:
            mine = self._failures.setdefault(user, deque())
            for q in (mine, self._all):
                q.append(now)
                while q and q[0] <= now - self.window_s:
                    q.popleft()
            if len(mine) >= self.max_failures:
                self._locked_until[user] = now + self.lockout_s
                mine.clear()
                logger.warning(
                    "%d failed logins for %r within %g s: locked for %g s",
                    self.max_failures,
                    user[:64],
                    self.window_s,
                    self.lockout_s,
                )
            if len(self._all) >= self.max_global_failures:
                self._global_locked_until = now + self.lockout_s
                self._all.clear()
                logger.warning(
                    "%d failed logins within %g s: every login refused for %g s",
                    self.max_global_failures,
                    self.window_s,
                    self.lockout_s,
                )
            if len(self._failures) > 10_000:  # bound memory under a flood of names
                self._failures = {u: q for u, q in self._failures.items() if q}
        return False

    async def login(self, user: str, password: str) -> bool:
        """Gradio's ``auth`` callable: pass ``throttle.login`` (a coroutine function, so Gradio
        awaits it; an object with an async ``__call__`` would be called without awaiting, and a
        coroutine object is truthy). The failure delay does not block the server."""
        ok = self.check(user, password)
        if not ok and self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        return ok
