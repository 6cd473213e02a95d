"""``GET|POST /search`` (a text, or an example: an uploaded image or clip, or a span of a library
video, refined by the text; ``POST`` also takes a compound query's ``parts``) and
``GET /moments/{segment_id}/similar`` (more like this).

``POST /search`` takes JSON (:class:`~.schemas.CompoundSearchRequest`) or
``multipart/form-data``: the fields of :class:`~.schemas.SearchRequest` as form fields and one
file, ``image`` or ``clip`` (the service's checks and limits: `app.validate_example.example_request`,
``SearchService.search_example``).

The routes are ``async`` and hand the search to one worker thread: a sync route costs three
thread hops per request (its dependencies, the function, the response's validation: FastAPI
runs each in the pool), each a wake-up that waits for a core on a busy host.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from tempme.app.api.deps import Services, segment_row
from tempme.app.api.loading import LOADING, RETRY_S
from tempme.app.api.metrics import observe_search
from tempme.app.api.problems import ApiError
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
from tempme.app.uploads import safe_name
from tempme.app.validate import InputError, make_filters
from tempme.app.validate_example import example_request
from tempme.index import (
    CompoundQuery,
    Hit,
    NotServableError,
    QueryPart,
    Relation,
    describe_encoder,
    is_video_name,
    quoted,
    search_timings,
    verdict,
    weights_warning,
)

EXAMPLE_FILES = ("image", "clip")
"""The multipart fields that carry an example (one per request)."""


def filters_of(req: Filters):
    """The request's filters as the library's ``SearchFilters`` (checked as the page checks them)."""
    return make_filters(
        req.folder or "", req.min_duration_s, req.max_duration_s, req.extensions or None, req.after, req.before
    )


def compound_of(req: SearchRequest) -> CompoundQuery | None:
    """The request's compound query (None without ``parts``): the first part is ``query`` with no
    mode of its own (the search's ``mode``), then each of ``parts``. Raises InputError."""
    parts = getattr(req, "parts", None)
    if not parts:
        return None
    if req.query is None:
        raise InputError("A compound query starts with query (its first part): give it.")
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
    info = services.ctx.library().encoder_info(in_use=True)  # the one this search used (no catalog query)
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


def validated(data, model: type[SearchRequest] = SearchRequest) -> SearchRequest:
    """``data`` (a JSON body, form fields) as a ``model``; a 422 problem otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def example_options(req: SearchRequest, start_s=None, end_s=None) -> dict:
    """The request as `app.validate_example.example_request`'s options."""
    options = {
        "text": req.query, "k": req.k, "offset": req.offset, "mode": req.mode, "sort": req.sort,
        "text_weight": req.text_weight, "folder": req.folder, "min_duration_s": req.min_duration_s,
        "max_duration_s": req.max_duration_s, "extensions": req.extensions or None, "after": req.after,
        "before": req.before, "include_self": req.include_self,
        "start_s": req.start_s if req.start_s is not None else start_s,
        "end_s": req.end_s if req.end_s is not None else end_s,
    }  # fmt: skip
    return {k: v for k, v in options.items() if v is not None}


def library_example(services: Services, req: SearchRequest) -> tuple[Path | None, dict]:
    """A span of a library video named by ``video_id`` or ``segment_id``: its file and options
    (None when the request names none). Raises ApiError 404 for an id not in the library."""
    if req.video_id is not None and req.segment_id is not None:
        raise InputError("Give video_id (with start_s, end_s) or segment_id, not both.")
    video_id, span = req.video_id, (None, None)
    if req.segment_id is not None:
        row = segment_row(services, req.segment_id)
        video_id, span = row.video_id, (row.start_s, row.end_s)
    if video_id is None:
        return None, {}
    try:
        path = services.ctx.library().shelf.servable_video(video_id)
    except NotServableError as exc:
        raise ApiError(404, str(exc)) from None
    return path, example_options(req, *span)


def staged_example(form, folder: Path) -> Path | None:
    """The one example file of a multipart request, saved in ``folder`` (a clip keeps or gets a
    video extension, an image never has one: the service tells them by it)."""
    files = [(name, v) for name, v in form.multi_items() if isinstance(v, UploadFile)]
    if not files:
        return None
    if len(files) > 1 or files[0][0] not in EXAMPLE_FILES:
        raise InputError(f"Send one file, as image or clip; got {', '.join(name for name, _ in files)}.")
    field, upload = files[0]
    name = Path(safe_name(Path(upload.filename or field).name)).name or field
    if field == "clip" and not is_video_name(Path(name)):
        name += ".mp4"
    elif field == "image" and is_video_name(Path(name)):
        name += ".image"
    dest = folder / name
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return dest


def form_fields(form) -> dict:
    """A multipart request's text fields (``extensions`` may repeat)."""
    fields: dict = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            if name == "extensions":
                fields.setdefault(name, []).append(value)
            else:
                fields[name] = value
    return fields


POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CompoundSearchRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "An example picture."},
                        "clip": {"type": "string", "format": "binary", "description": "An example video clip."},
                        **SearchRequest.model_json_schema()["properties"],
                    },
                }
            },
        },
    }
}


REF = "#/components/schemas/{model}"
BODY_SCHEMAS = {
    "CompoundSearchRequest": CompoundSearchRequest.model_json_schema(ref_template=REF),
    **CompoundSearchRequest.model_json_schema(ref_template=REF).get("$defs", {}),
}
BODY_SCHEMAS["CompoundSearchRequest"].pop("$defs", None)
"""The JSON body's schemas, for the OpenAPI document's components (`tempme.app.api.app`)."""


def similar_answer(services: Services, segment_id: int, req: SimilarRequest) -> SearchResponse:
    """``GET /moments/{segment_id}/similar``'s answer. Raises ApiError 404 for an unknown moment."""
    segment_row(services, segment_id)
    filters = filters_of(req)
    run = lambda: services.ctx.similar(segment_id, req.k, filters, req.offset, thumbnails=False)
    return answer(services, None, "visual", req, run, what=f"moments like moment {segment_id}")


def loading_refusal(services: Services, text_only: bool, example: bool) -> None:
    """While `tempme serve` loads (``text_only``): raise the loading app's 503 problem for a search
    that needs the torch model (an example, or no fresh query model for the text)."""
    if text_only and (example or not services.ctx.text_ready()):
        raise ApiError(503, LOADING, {"Retry-After": str(RETRY_S)})


def router(services: Services, *, text_only: bool = False) -> APIRouter:
    """The search routes; ``text_only``: what the loading app answers (`loading_refusal`)."""
    r = APIRouter(tags=["search"], dependencies=[Depends(services.guard.api)])
    ctx = services.ctx

    def run_search(req: SearchRequest, upload: Path | None = None) -> SearchResponse:
        filters, compound = filters_of(req), compound_of(req)
        loading_refusal(services, text_only, upload is not None or (req.video_id, req.segment_id) != (None, None))
        example, options = (upload, example_options(req)) if upload is not None else library_example(services, req)
        what = None  # the verdict's words: the query quoted, or the example and its text
        if example is None:
            if req.query is None:
                raise ApiError(422, "Give a query (words), an example (image or clip), or video_id / segment_id.")
            run = lambda: ctx.search(
                req.query, req.k, filters, req.offset, req.mode, req.sort, compound=compound,
                per_video=req.per_video, thumbnails=False,
            )  # fmt: skip
        else:
            if req.per_video or compound is not None:
                raise InputError("An example searches for moments: no per_video, no compound parts.")
            path, kwargs = example_request(example, options)
            run = lambda: ctx.search_example(path, thumbnails=False, **kwargs)
            what = f"moments like {Path(example).name}" + (f" + {quoted(req.query)}" if req.query else "")
        return answer(services, compound.text if compound else req.query, req.mode, req, run, what=what)

    @r.post("/search", response_model=SearchResponse, summary="Search by text or by example", openapi_extra=POST_BODY)
    async def search_post(request: Request) -> SearchResponse:
        """The moments that match the query, best first, with why each matched: JSON, or
        multipart with an ``image`` or ``clip`` file as the example (the other fields as form
        fields). With ``parts`` (JSON): a compound query ("a goal" then "crowd cheers" within
        10 s; "says coffee" while "a cup"), each part searched alone, the parts' hits joined
        within a video under each relation and ranked by reciprocal rank fusion over the parts'
        ranks (k = 60); each hit is the joined span with its ``parts`` and ``relation``."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            loading_refusal(services, text_only, example=True)
            async with request.form(max_files=2, max_fields=64) as form:
                req = validated(form_fields(form))
                with tempfile.TemporaryDirectory(prefix="tempme-example-") as tmp:
                    upload = await run_in_threadpool(staged_example, form, Path(tmp))
                    return await run_in_threadpool(run_search, req, upload)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(422, "The body must be JSON (or multipart/form-data with an image or clip).") from None
        return await run_in_threadpool(run_search, validated(body, CompoundSearchRequest))

    @r.get("/search", response_model=SearchResponse, summary="Search (query parameters)")
    async def search_get(req: Annotated[SearchRequest, Query()]) -> SearchResponse:
        """The same search as ``POST /search`` (but an uploaded example), its fields as query parameters."""
        return await run_in_threadpool(run_search, req)

    @r.get("/moments/{segment_id}/similar", response_model=SearchResponse, summary="More like this moment")
    async def similar(segment_id: int, req: Annotated[SimilarRequest, Query()]) -> SearchResponse:
        """Moments nearest to the stored vector of ``segment_id`` (itself left out)."""
        return await run_in_threadpool(similar_answer, services, segment_id, req)

    return r
