"""The ASGI app `tempme serve` listens with at once, before Gradio, FastAPI and the page exist
(issue 25: listening within seconds; the page and the model load in the background).

Until `Loading.switch` hands over to the full app (API + page), it answers:

- ``GET /api/v1/health``: 200 ``{"status": "ok", "version", "pid"}`` (the process is alive);
- ``GET /api/v1/ready``: 503 ``{"ready": false, "checks": {"page": false}, "detail": {...}}``
  and ``GET /ready``: 503 ``{"ready": false, "text": false}`` (the same bodies as the full app's
  routes before its model is loaded);
- ``GET /``: a small "Loading the model…" page that reloads itself every 2 s;
- ``GET|POST /api/v1/search``, once `answer_searches` gave it an app: that app's answer (a text
  search over the library's torch-free query model, the full API's route and JSON);
- anything else: 503 with ``Retry-After: 2`` (an RFC 9457 problem body); WebSockets are refused.

After `switch`, every request goes to the full app, whose lifespan (Gradio's startup events)
this app runs, since the server gave its own lifespan to this one. Pure ASGI: importing this
module imports nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from tempme import __version__

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/v1"  # the REST API's routes (`tempme.app.api.deps` re-exports it)
RETRY_S = 2
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>tempme: loading</title>"
    f"<meta http-equiv='refresh' content='{RETRY_S}'></head><body style='font-family:sans-serif'>"
    "<p>Loading the model… this page reloads itself when the search page is ready.</p></body></html>"
)
LOADING = "the model and the page are loading"


class Loading:
    """An ASGI app answering health / not-ready / a loading page until `switch` gives it the full app."""

    def __init__(self, api_prefix: str = API_PREFIX) -> None:
        self.api_prefix = api_prefix.rstrip("/")
        self.app: ASGIApp | None = None
        self.search: ASGIApp | None = None  # answers text searches before `switch` (`answer_searches`)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lifespan: tuple[asyncio.Task, asyncio.Queue, asyncio.Queue] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif self.search is not None and scope["type"] == "http" and scope["path"] == f"{self.api_prefix}/search":
            await self.search(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # "try again later"
        else:
            await self._answer(scope, send)

    def answer_searches(self, app: ASGIApp) -> None:
        """Send ``GET|POST /api/v1/search`` to ``app`` from now on (the text search alone, no
        lifespan: `tempme.app.api.app.create_search_app`); the rest still waits for `switch`."""
        self.search = app

    def switch(self, app: ASGIApp, timeout_s: float = 120.0) -> None:
        """From another thread (the server runs in its event loop): run ``app``'s lifespan
        startup in the server's loop, then send every new request to it.

        Raises:
            RuntimeError: the server has not started yet, or ``app``'s startup failed.
        """
        if self.loop is None:
            raise RuntimeError("the server has not started")
        asyncio.run_coroutine_threadsafe(self._start(app), self.loop).result(timeout_s)

    async def _start(self, app: ASGIApp) -> None:
        to_app: asyncio.Queue = asyncio.Queue()
        from_app: asyncio.Queue = asyncio.Queue()
        await to_app.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        task = asyncio.create_task(app(scope, to_app.get, from_app.put))
        message = await from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's startup failed: {message.get('message', message['type'])}")
        self._lifespan = (task, to_app, from_app)
        self.app = app

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lifespan is not None:  # the full app's shutdown events
                    task, to_app, from_app = self._lifespan
                    await to_app.put({"type": "lifespan.shutdown"})
                    await from_app.get()
                    await task
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _answer(self, scope: Scope, send: Send) -> None:
        path = scope.get("path", "/")
        if path == f"{self.api_prefix}/health":
            await _send(send, 200, "application/json", {"status": "ok", "version": __version__, "pid": os.getpid()})
        elif path == f"{self.api_prefix}/ready":
            body = {"ready": False, "checks": {"page": False}, "detail": {"page": LOADING}}
            await _send(send, 503, "application/json", body)
        elif path == "/ready":
            await _send(send, 503, "application/json", {"ready": False, "text": False})
        elif path == "/" and scope.get("method") in ("GET", "HEAD"):
            await _send(send, 200, "text/html; charset=utf-8", PAGE)
        else:
            problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": LOADING}
            await _send(send, 503, "application/problem+json", problem)


async def _send(send: Send, status: int, content_type: str, body: dict | str) -> None:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_S).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
