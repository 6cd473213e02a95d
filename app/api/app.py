"""The FastAPI application of a served library: the API under ``/api/v1`` (OpenAPI at
``/api/v1/openapi.json``, interactive docs at ``/docs``), errors as problems, metrics and body
limits in one ASGI middleware, CORS only for the origins given (``--cors-origin``).

The page is mounted on the same app afterwards (`tempme.app.web.server.mount_page`), so a
search from the page and one from the API take one path: ``AppContext.search``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from tempme.app.api import problems
from tempme.app.api.deps import API_PREFIX, Services
from tempme.app.api.metrics import observe_request
from tempme.app.api.routes import exports, jobs, moments, search, system, videos
from tempme.app.validate import MAX_UPLOAD_BYTES

from tempme import __version__

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body of the API but uploads (JSON: a query is at most 1,000 characters)."""
MAX_UPLOAD_BODY = MAX_UPLOAD_BYTES + 1024 * 1024  # the files and their multipart headers
DESCRIPTION = """Search a video library by text and play the moments found: everything the page does.

Credentials, when the server asks for them (`--auth`, or an API key of the library): `Authorization: Bearer <key>`
(`tempme keys create NAME`). Errors are RFC 9457 problem details (`application/problem+json`)."""


class Gatekeeper:
    """ASGI middleware: bounds request bodies under ``/api/`` (413 problem) and counts every
    request for the metrics (by route template; the page's own requests as ``page``)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method, start, status = scope["path"], scope["method"], time.perf_counter(), [500]
        limit = None
        if path.startswith("/api/"):
            headers = dict(scope["headers"])
            upload = (
                (method, path) == ("POST", f"{API_PREFIX}/videos")
                or (method, path) == ("POST", f"{API_PREFIX}/search")
                and headers.get(b"content-type", b"").startswith(b"multipart/")
            )
            limit = MAX_UPLOAD_BODY if upload else MAX_BODY_BYTES  # an example clip or image: as an upload
            length = headers.get(b"content-length", b"0")
            if not length.isdigit() or int(length) > limit:
                return await self._too_large(send, limit, status)
        received = [0]

        async def bounded():
            message = await receive()
            received[0] += len(message.get("body", b""))
            if limit is not None and received[0] > limit:
                raise BodyTooLarge
            return message

        async def counted(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, bounded, counted)
        except BodyTooLarge:
            await self._too_large(send, limit, status)
        except asyncio.CancelledError:  # the server stopping: a request still open when its grace ran out
            log.info("stopping: cancelled %s %s (still open after the grace period)", method, path)
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # handled here: uvicorn would log the cancellation as a traceback
        finally:
            name = getattr(scope.get("route"), "path", None) or "unmatched" if path.startswith("/api/") else "page"
            observe_request(method, name, status[0], time.perf_counter() - start)

    @staticmethod
    async def _too_large(send, limit: int, status: list) -> None:
        status[0] = 413
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content too large",
                "status": 413,
                "detail": f"The request body is larger than {limit:,} bytes (or has no valid length).",
            }  # fmt: skip
        ).encode()
        headers = [(b"content-type", problems.PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


def create_search_app(services: Services) -> FastAPI:
    """The text search alone: ``GET|POST /api/v1/search``, the same route, schemas and problems
    as `create_app`'s, that `tempme serve`'s loading app answers with while the API and the page
    are built (issue 25). It answers what the torch-free query model can: a search that needs
    the torch model (an example, or a library without a fresh query model) is a 503 problem
    with ``Retry-After``, as every other route is until the whole app takes over."""
    app = FastAPI(title="tempme", version=__version__, openapi_url=None, docs_url=None, redoc_url=None)
    problems.install(app)
    app.include_router(search.router(services, text_only=True), prefix=API_PREFIX)
    app.add_middleware(Gatekeeper)
    return app


def create_app(services: Services, *, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    """The API over ``services`` (no page yet: `tempme.app.web.server.mount_page` adds it)."""
    app = FastAPI(
        title="tempme",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    problems.install(app)
    problems.document(app)
    documented = app.openapi

    def openapi() -> dict:  # POST /search reads its own body (JSON or multipart): its JSON schemas by hand
        spec = documented()
        spec["components"]["schemas"].update(search.BODY_SCHEMAS)
        return spec

    app.openapi = openapi
    for module in (search, moments, exports, videos, jobs, system):
        app.include_router(module.router(services), prefix=API_PREFIX)

    def ready_now() -> JSONResponse:  # issue 25's GET /ready: {"ready", "text"}, no key
        from tempme.app.web.server import ready_state

        status, body = ready_state(services.ctx)
        return JSONResponse(body, status_code=status)

    app.add_api_route("/ready", ready_now, methods=["GET"], include_in_schema=False)

    async def no_such_route(rest: str) -> None:  # before the page is mounted at /: a problem, not Gradio's 404
        raise problems.ApiError(404, f"No API route /api/{rest[:200]} (the routes: {API_PREFIX}/openapi.json).")

    app.add_api_route("/api/{rest:path}", no_such_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)  # fmt: skip
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range"],
            expose_headers=["Content-Disposition", *exports.CLIP_HEADERS],
        )
    app.add_middleware(Gatekeeper)
    app.state.services = services
    return app
