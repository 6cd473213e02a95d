"""Errors as RFC 9457 problem details (``application/problem+json``), with the same one-line
messages the page and the CLI give.

A person's mistake (a bad query, an unknown id, a missing library, a refused file) is answered
with a 4xx problem and logged as one INFO line, never a traceback; only a real bug (any other
exception) logs its traceback and answers 500 "internal error".
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from tempme.app.validate import InputError
from tempme.index import printable

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    416: "Range not satisfiable",
    422: "Unprocessable content",
    503: "Service unavailable",
}


class ApiError(Exception):
    """A refusal with its HTTP status and one-line ``detail`` (``headers``: e.g. WWW-Authenticate)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def problem(status: int, detail: str, instance: str | None = None, headers: dict | None = None) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _refused(request: Request, status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    logger.info("%s %s: %d %s", request.method, printable(request.url.path), status, detail)
    return problem(status, detail, request.url.path, headers)


def one_line(exc: RequestValidationError) -> str:
    """Pydantic's errors in one line: ``k: The number of results must be from 1 to 100, got 500.``"""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return printable("; ".join(parts) or "invalid request")


def install(app: FastAPI) -> None:
    """Answer every error of ``app``'s routes as a problem."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _refused(request, exc.status, exc.detail, exc.headers)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError):
        return _refused(request, 400, printable(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return _refused(request, 422, one_line(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _refused(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception):
        logger.exception("%s %s failed", request.method, printable(request.url.path))
        return problem(500, "Internal error (logged on the server).", request.url.path)


ERRORS_DOCUMENTED = (400, 401, 404, 413, 422)
"""What any operation may answer with a problem: bad input, no credentials, an id not in the
library (or no library), a body too large, a request that does not fit the schema."""
EXTRA_ERRORS = {("post", "/api/v1/jobs/index"): (403,), ("delete", "/api/v1/videos/{video_id}"): (409,)}


def document(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI say what it does: every error of every operation is a
    :class:`~.schemas.Problem` as ``application/problem+json`` (FastAPI would document its own
    422 body as JSON)."""
    from fastapi.openapi.utils import get_openapi
    from tempme.app.api.schemas import Problem

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
            for schema in ("HTTPValidationError", "ValidationError"):
                spec["components"]["schemas"].pop(schema, None)
            content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            for path, ops in spec.get("paths", {}).items():
                for method, op in ops.items():
                    responses = op.setdefault("responses", {})
                    codes = {int(c) for c in responses if c.isdigit() and int(c) >= 400}
                    codes |= set(ERRORS_DOCUMENTED) | set(EXTRA_ERRORS.get((method, path), ()))
                    for code in sorted(codes):
                        if code == 503:  # /ready: its own body says why
                            continue
                        responses[str(code)] = {"description": TITLES.get(code, "Error"), "content": content}
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
