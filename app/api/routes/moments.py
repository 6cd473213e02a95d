"""``GET /moments/{segment_id}`` and its picture, ``GET /moments/{segment_id}/thumbnail``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from tempme.app.api.deps import Services, segment_row
from tempme.app.api.problems import ApiError
from tempme.app.api.schemas import Moment
from tempme.index import NotServableError

JPEG = {200: {"content": {"image/jpeg": {}}, "description": "The picture (JPEG)."}}


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["moments"])

    @r.get("/moments/{segment_id}", response_model=Moment, dependencies=[Depends(services.guard.api)])
    def moment(segment_id: int) -> Moment:
        """A moment (a segment of a video): its span and where its picture and video are."""
        row = segment_row(services, segment_id)
        return Moment(
            segment_id=row.segment_id,
            video_id=row.video_id,
            video=str(row.path),
            start_s=row.start_s,
            end_s=row.end_s,
            duration_s=row.duration_s,
            thumbnail_url=services.thumbnail_path(row.segment_id),
            stream_url=services.stream_path(row.video_id),
        )

    @r.get(
        "/moments/{segment_id}/thumbnail",
        response_class=FileResponse,
        responses=JPEG,
        dependencies=[Depends(services.guard.files)],
    )
    def thumbnail(segment_id: int, exp: str | None = None, sig: str | None = None) -> FileResponse:
        """A JPEG from inside the moment (made on first request, then cached), only while its video
        may be served (in the catalog, a regular file, the file that was indexed). ``exp`` and
        ``sig``: a signed link written by the page, instead of a key."""
        row = segment_row(services, segment_id)
        try:
            path = services.ctx.library().shelf.thumbnail(row.segment_id, checked=True)
        except NotServableError as e:
            raise ApiError(404, str(e)) from None
        except KeyError:
            raise ApiError(404, f"Moment {segment_id} is not in the library (re-indexed or removed).") from None
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return r
