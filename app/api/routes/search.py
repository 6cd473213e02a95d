"""``GET|POST /search`` (text; ``POST`` also takes a compound query's ``parts``) and
``GET /moments/{segment_id}/similar`` (more like this)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from tempme.app.api.deps import Services, segment_row
from tempme.app.api.metrics import observe_search
from tempme.app.api.schemas import (
    CompoundSearchRequest,
    Filters,
    HitModel,
    SearchRequest,
    SearchResponse,
    SimilarRequest,
    Timings,
    VerdictModel,
)
from tempme.app.validate import InputError, make_filters
from tempme.index import (
    CompoundQuery,
    Hit,
    QueryPart,
    Relation,
    describe_encoder,
    quoted,
    search_timings,
    verdict,
    weights_warning,
)


def filters_of(req: Filters):
    """The request's filters as the library's ``SearchFilters`` (checked as the page checks them)."""
    return make_filters(req.folder or "", req.min_duration_s, req.max_duration_s, req.extensions or None)


def compound_of(req: SearchRequest) -> CompoundQuery | None:
    """The request's compound query (None without ``parts``): the first part is ``query`` with no
    mode of its own (the search's ``mode``), then each of ``parts``. Raises InputError."""
    parts = getattr(req, "parts", None)
    if not parts:
        return None
    later = [QueryPart(p.query, p.mode, Relation(p.relation, p.within_s)) for p in parts]
    try:
        return CompoundQuery((QueryPart(req.query), *later))
    except ValueError as e:
        raise InputError(f"Compound query: {e}.") from None


def answer(services: Services, query: str | None, mode: str, req, run, what: str | None = None) -> SearchResponse:
    """Run ``run() -> list[Hit]`` timed by stage and answer with its hits, their verdict (``what``:
    the search for people; default the query quoted) and the random-weights warning."""
    start = time.perf_counter()
    with search_timings() as spent:
        hits: list[Hit] = run()
    took = (time.perf_counter() - start) * 1000
    observe_search(mode, spent)
    info = services.ctx.library().encoder_info()
    return SearchResponse(
        query=query,
        mode=mode,
        k=req.k,
        offset=req.offset,
        took_ms=round(took, 3),
        timings_ms=Timings(**{stage: round(s * 1000, 3) for stage, s in spent.items()}),
        encoder=describe_encoder(info) if info else None,
        weights_warning=weights_warning(info),
        verdict=VerdictModel(**verdict(what or quoted(query or ""), hits).to_dict()),
        hits=[HitModel.of(h) for h in hits],
    )


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["search"], dependencies=[Depends(services.guard.api)])
    ctx = services.ctx

    def text_search(req: SearchRequest) -> SearchResponse:
        filters, compound = filters_of(req), compound_of(req)
        run = lambda: ctx.search(
            req.query, req.k, filters, req.offset, req.mode, compound, per_video=req.per_video, thumbnails=False
        )
        return answer(services, compound.text if compound else req.query, req.mode, req, run)

    @r.post("/search", response_model=SearchResponse, summary="Search by text (JSON body)")
    def search_post(req: CompoundSearchRequest) -> SearchResponse:
        """The moments that match the query, best first, with why each matched. With ``parts``: a
        compound query ("a goal" then "crowd cheers" within 10 s; "says coffee" while "a cup"),
        each part searched alone, the parts' hits joined within a video under each relation and
        ranked by reciprocal rank fusion over the parts' ranks (k = 60); each hit is the joined
        span with its ``parts`` (each part's own hit) and ``relation``."""
        return text_search(req)

    @r.get("/search", response_model=SearchResponse, summary="Search by text (query parameters)")
    def search_get(req: Annotated[SearchRequest, Query()]) -> SearchResponse:
        """The same search as ``POST /search``, its fields as query parameters."""
        return text_search(req)

    @r.get("/moments/{segment_id}/similar", response_model=SearchResponse, summary="More like this moment")
    def similar(segment_id: int, req: Annotated[SimilarRequest, Query()]) -> SearchResponse:
        """Moments nearest to the stored vector of ``segment_id`` (itself left out)."""
        segment_row(services, segment_id)  # 404 for an unknown moment
        filters = filters_of(req)
        run = lambda: ctx.similar(segment_id, req.k, filters, req.offset, thumbnails=False)
        return answer(services, None, "visual", req, run, what=f"moments like moment {segment_id}")

    return r
