"""Who may call the API: API keys, the page's login, signed file links.

A server asks for credentials when it was started with ``--auth``/``--auth-file`` or its library
has an active API key (``tempme keys create NAME``; checked every few seconds, so a first key
protects a running server). Then every route under ``/api/v1`` but ``/health`` (liveness) wants
one of:

- ``Authorization: Bearer <key>``: an active key of the library (only its SHA-256 is stored;
  ``KeyRing.verify``; answers are cached :data:`KEY_CACHE_S` seconds, so a revoked key stops
  working within that time on every server process);
- ``Authorization: Basic`` with a ``--auth`` user and password (throttled as the page's login,
  ``app.auth.LoginThrottle``);
- on the file routes (thumbnail, stream), a signed link: ``?exp=<unix time>&sig=<HMAC-SHA256>``
  that the page writes for the person it logged in (the browser cannot send a header from an
  ``<img>`` or ``<video>``). The signing secret is ``<library>/api-secret`` (0600, made on first
  use), shared by every server process and host of the library.

Otherwise 401 problem+json with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import secrets
import time
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlencode

from cachetools import TTLCache
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from tempme.app.api.problems import ApiError
from tempme.app.auth import LoginThrottle
from tempme.app.context import AppContext
from tempme.app.validate import InputError

logger = logging.getLogger(__name__)

KEY_CACHE_S = 5.0
LINK_LIFETIME_S = 12 * 3600
"""How long a signed file link of the page stays valid (a page left open for a day signs anew on
the next search)."""
SECRET_NAME = "api-secret"


def load_secret(library_dir: Path) -> bytes:
    """The library's link-signing secret (32 random bytes in ``<library>/api-secret``, made with
    mode 0600 on first use); a random one for this process when the folder cannot hold it."""
    path = Path(library_dir) / SECRET_NAME
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    secret = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret.hex() + "\n")
        return secret
    except FileExistsError:  # another server process made it first
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        logger.info("links signed with a secret of this process only (%s)", exc)
        return secret


class Signer:
    """Signs and checks file links: HMAC-SHA256 of ``path|exp`` under the library's secret."""

    def __init__(self, secret: bytes, lifetime_s: float = LINK_LIFETIME_S) -> None:
        self.secret, self.lifetime_s = secret, lifetime_s

    def _mac(self, path: str, exp: int) -> str:
        return hmac.new(self.secret, f"{path}|{exp}".encode(), sha256).hexdigest()

    def sign(self, path: str) -> str:
        """``path`` with ``?exp=...&sig=...`` (valid for ``lifetime_s`` seconds)."""
        exp = int(time.time() + self.lifetime_s)
        return f"{path}?{urlencode({'exp': exp, 'sig': self._mac(path, exp)})}"

    def valid(self, path: str, exp: str | None, sig: str | None) -> bool:
        if not exp or not sig or not exp.isdigit() or int(exp) < time.time():
            return False
        return hmac.compare_digest(self._mac(path, int(exp)), sig)


class Guard:
    """The credential check of every API route (see the module docstring)."""

    def __init__(self, ctx: AppContext, throttle: LoginThrottle | None, signer: Signer) -> None:
        """``throttle``: the ``--auth`` users (the page's login check, shared), or None."""
        self.ctx, self.signer, self.throttle = ctx, signer, throttle
        self._keys: TTLCache = TTLCache(maxsize=4096, ttl=KEY_CACHE_S)
        self._any_key: TTLCache = TTLCache(maxsize=1, ttl=KEY_CACHE_S)

    def keys_configured(self) -> bool:
        """An active API key in the library (checked at most every KEY_CACHE_S seconds)."""
        if "any" not in self._any_key:
            try:
                self._any_key["any"] = self.ctx.library().keys.any_active()
            except InputError:  # no library yet: no keys
                self._any_key["any"] = False
        return self._any_key["any"]

    def required(self) -> bool:
        return self.throttle is not None or self.keys_configured()

    def _key_ok(self, key: str) -> bool:
        if key not in self._keys:
            try:
                info = self.ctx.library().keys.verify(key)
            except InputError:
                info = None
            self._keys[key] = info
            if info is not None:
                self.ctx.library().keys.touch(info.key_id)
        return self._keys[key] is not None

    def _basic_ok(self, encoded: str) -> bool:
        if self.throttle is None:
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self.throttle.check(user, password)

    def allows(self, request: Request, *, signed_ok: bool = False) -> bool:
        """True when ``request`` may go on."""
        if not self.required():
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip() and self._key_ok(value.strip()):
            return True
        if scheme.lower() == "basic" and self._basic_ok(value.strip()):
            return True
        q = request.query_params
        return signed_ok and self.signer.valid(request.url.path, q.get("exp"), q.get("sig"))

    def _needs_catalog(self, request: Request) -> bool:
        """True when :meth:`allows` would ask the catalog (an answer older than KEY_CACHE_S, a key
        not seen within it) or check a password: then it runs in a worker thread."""
        if "any" not in self._any_key:
            return True
        if not self.required():
            return False
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "basic" or (scheme.lower() == "bearer" and value.strip() not in self._keys)

    async def _decide(self, request: Request, signed_ok: bool) -> bool:
        # an async dependency: on the event loop from the caches (no thread hop per request),
        # in a worker thread when the catalog must be asked
        if self._needs_catalog(request):
            return await run_in_threadpool(self.allows, request, signed_ok=signed_ok)
        return self.allows(request, signed_ok=signed_ok)

    async def api(self, request: Request) -> None:
        """FastAPI dependency of the API routes. Raises ApiError 401."""
        if not await self._decide(request, False):
            raise ApiError(401, "This server needs an API key: send Authorization: Bearer <key>.", _CHALLENGE)

    async def files(self, request: Request) -> None:
        """FastAPI dependency of the file routes (a signed link also passes). Raises ApiError 401."""
        if not await self._decide(request, True):
            raise ApiError(
                401, "This file needs an API key (Authorization: Bearer <key>) or a signed link.", _CHALLENGE
            )


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tempme"'}
