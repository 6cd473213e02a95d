"""``GET /library`` (stats), ``GET /info`` (weights warning, modes), ``GET /health`` (liveness), ``GET /ready`` (readiness) and
``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from tempme.app.api.deps import Services
from tempme.app.api.metrics import CONTENT_TYPE, exposition
from tempme.app.api.schemas import Health, Info, Library, Ready
from tempme.index import describe_encoder

from tempme import __version__

PROMETHEUS = {200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4."}}
NOT_READY = {503: {"model": Ready, "description": "Not ready yet (the checks say why)."}}


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["system"])
    api, ctx = [Depends(services.guard.api)], services.ctx

    @r.get("/health", response_model=Health)
    async def health() -> Health:  # async: answered on the event loop, no worker thread
        """Liveness: the process answers (no credentials needed)."""
        return Health(version=__version__, pid=os.getpid())

    @r.get("/ready", response_model=Ready, responses=NOT_READY, dependencies=api)
    def ready() -> JSONResponse:
        """Readiness: the catalog answers, the vector index is loaded and the model is loaded
        (a text query is answered without waiting). 503 until then."""
        ok, checks, why = services.readiness.run()
        return JSONResponse(Ready(ready=ok, checks=checks, detail=why).model_dump(), status_code=200 if ok else 503)

    @r.get("/library", response_model=Library, dependencies=api)
    def library() -> Library:
        """The library's size, encoder, index type and last indexing run."""
        s = ctx.library().stats()
        return Library(
            path=str(s.path),
            videos=s.videos,
            segments=s.segments,
            failed=s.failed,
            index_type=s.index_type,
            vectors=s.vectors,
            index_version=s.index_version,
            index_mapped=s.index_mapped,
            encoder=describe_encoder(s.encoder) if s.encoder else None,
            last_run=s.last_run,
            weights=s.weights,
            weights_warning=s.weights_warning,
        )

    @r.get("/info", response_model=Info, dependencies=api)
    def info() -> Info:
        """What a front end says beside results: whether the weights are random (then no result
        means anything), the search modes the library has data for, its size."""
        return Info(**ctx.info())

    @r.get("/metrics", response_class=Response, responses=PROMETHEUS, dependencies=api)
    def metrics() -> Response:
        """Request counts and latency per route, search time by stage, library size, jobs."""
        return Response(exposition(ctx), media_type=CONTENT_TYPE)

    return r
