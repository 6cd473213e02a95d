"""Moments out of the library: ``GET /moments/{segment_id}/clip`` (an MP4 of the moment) and
``POST /timeline`` (moments as an OpenTimelineIO ``.otio`` or CMX 3600 ``.edl`` timeline).

Both run ``Library.export`` (:mod:`tempme.index.export.moments`, the rules of ``tempme
export``) on videos that may be served (in the catalog, a regular file, the file that was
indexed: ``Library.shelf.servable_video``, a resolved path) into a private temporary folder, open the
result and remove the folder before answering (the open file is streamed), so nothing is left
behind whether or not the client reads it all. A moment that cannot be cut is a 422 problem.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from tempme.app.api.deps import Services, segment_row
from tempme.app.api.problems import ApiError
from tempme.app.api.schemas import TimelineRequest
from tempme.index import Hit, LibraryError, NotServableError, TimelineError

MAX_PAD_S = 60.0
CHUNK = 1 << 16
CLIP_HEADERS = ("X-Clip-Mode", "X-Clip-Start-S", "X-Clip-End-S", "X-Clip-Asked-Start-S", "X-Clip-Asked-End-S",
                "X-Clip-Audio")  # fmt: skip
"""What ``/clip`` says in headers (exposed to browsers by CORS with Content-Disposition)."""
START_DOC = "Another start in the same video (s), e.g. a speech or compound hit's own span; default the moment's."
MP4 = {
    200: {
        "content": {"video/mp4": {}},
        "description": "The clip (MP4). Headers: X-Clip-Mode (copy or exact: the mode used), X-Clip-Start-S and "
        "X-Clip-End-S (where the clip really starts and ends in the source, seconds), X-Clip-Asked-Start-S and "
        "X-Clip-Asked-End-S (the padded span asked for, after clamping and snapping to scene cuts, seconds), "
        "X-Clip-Audio (copied, encoded or none), Content-Disposition (<video>_<mm-ss>-<mm-ss>.mp4).",
    }
}
TIMELINE = {
    200: {
        "content": {"application/json": {}, "text/plain": {}},
        "description": "The timeline: OpenTimelineIO JSON (.otio) or a CMX 3600 EDL (.edl, text).",
    }
}


def attachment(name: str) -> str:
    """A Content-Disposition header for a download called ``name`` (RFC 6266, UTF-8 names encoded)."""
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename*=utf-8''{quote(name, safe='')}"


def opened(path: Path, folder: Path):
    """``path`` opened, ``folder`` removed: (chunks of the file, its size in bytes)."""
    handle = path.open("rb")
    size = os.fstat(handle.fileno()).st_size
    shutil.rmtree(folder, ignore_errors=True)

    def chunks():
        with handle:
            while block := handle.read(CHUNK):
                yield block

    return chunks(), size


def servable_hit(services: Services, segment_id: int, rank: int, span: tuple | None = None) -> Hit:
    """The moment as a hit on its video's resolved, servable path (``span``: another
    ``(start_s, end_s)`` in that video, either None to keep the segment's). Raises ApiError 404."""
    row = segment_row(services, segment_id)
    try:
        path = services.ctx.library().shelf.servable_video(row.video_id)
    except NotServableError as e:
        raise ApiError(404, str(e)) from None
    hit = replace(Hit.of_segment(row, rank), path=path)
    start_s, end_s = span or (None, None)
    return replace(hit, start_s=hit.start_s if start_s is None else start_s,
                   end_s=hit.end_s if end_s is None else end_s)  # fmt: skip


def export(services: Services, hits: list[Hit], options_in):
    """``Library.export`` into a new temporary folder with ``options_in(folder)``: (report,
    folder). Raises ApiError 422 (the folder removed) for a moment that cannot be exported."""
    out = Path(tempfile.mkdtemp(prefix="tempme-api-export-"))
    try:
        report = services.ctx.library().export(hits, out, options_in(out))
        if report.errors:
            raise ApiError(422, f"Moment {report.errors[0][0]}: {report.errors[0][1]}")
    except (LibraryError, TimelineError) as e:
        shutil.rmtree(out, ignore_errors=True)
        raise ApiError(422, str(e)) from None
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report, out


def clip_response(made, folder: Path) -> StreamingResponse:
    """The clip ``made`` (a ``ClipExport``) streamed from its open file, ``folder`` removed."""
    chunks, size = opened(made.path, folder)
    headers = {
        "Content-Disposition": attachment(made.path.name),
        "Content-Length": str(size),
        "Cache-Control": "private, no-store",
        **dict(zip(CLIP_HEADERS, (made.mode, f"{made.start_s:.6f}", f"{made.end_s:.6f}",
                                  f"{made.span.start_s:.6f}", f"{made.span.end_s:.6f}", made.audio))),
    }  # fmt: skip
    return StreamingResponse(chunks, media_type="video/mp4", headers=headers)


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["exports"])

    @r.get("/moments/{segment_id}/clip", response_class=StreamingResponse, responses=MP4,
           dependencies=[Depends(services.guard.files)], summary="The moment as an MP4 clip")  # fmt: skip
    def clip(
        segment_id: int,
        pad: float = Query(1.0, ge=0, le=MAX_PAD_S, description="Padding before and after, in seconds."),
        mode: Literal["auto", "copy", "exact"] = Query(
            "auto",
            description="copy (stream copy from the keyframe at or before the start, no re-encode), exact "
            "(re-encoded: H.264 + AAC, frame-exact) or auto (copy when a keyframe is within 1 s before the start).",
        ),
        start_s: float | None = Query(None, ge=0, description=START_DOC),
        end_s: float | None = Query(None, gt=0, description="Another end (s); default the moment's."),
        exp: str | None = None,
        sig: str | None = None,
    ) -> StreamingResponse:
        """The moment ``[start_s, end_s)`` cut from its video with ``pad`` seconds each side
        (clamped to the file, stopped at a scene cut within the padding), as ``tempme export``
        writes it; which mode was used and the clip's actual span are in the headers."""
        from tempme.index import ExportOptions

        hit = servable_hit(services, segment_id, 1, (start_s, end_s))
        report, out = export(services, [hit], lambda _: ExportOptions(pad_s=pad, mode=mode, subtitles=False))
        return clip_response(report.clips[0], out)

    @r.post("/timeline", response_class=Response, responses=TIMELINE, dependencies=[Depends(services.guard.api)],
            summary="Moments as an editor's timeline")  # fmt: skip
    def timeline(req: TimelineRequest) -> Response:
        """The moments as one timeline referencing the source files (their ranges at each source's
        frame rate, a marker per clip naming ``query``), as ``tempme export --timeline`` writes it."""
        from tempme.index import ExportOptions

        hits = [
            servable_hit(services, m, rank) if isinstance(m, int) else
            servable_hit(services, m.segment_id, rank, (m.start_s, m.end_s))
            for rank, m in enumerate(req.segment_ids, start=1)
        ]  # fmt: skip
        name = f"tempme-moments.{req.format}"
        options = lambda folder: ExportOptions(timeline=folder / name, order=req.order, query=req.query, clips=False)
        report, out = export(services, hits, options)
        try:
            body = report.timeline.read_bytes()
        finally:
            shutil.rmtree(out, ignore_errors=True)
        media = "application/json" if req.format == "otio" else "text/plain; charset=utf-8"
        return Response(body, media_type=media, headers={"Content-Disposition": attachment(name)})

    return r
