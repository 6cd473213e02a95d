"""``GET /videos`` (paged), ``POST /videos`` (upload: a job), ``DELETE /videos/{video_id}`` and
the ranged ``GET /videos/{video_id}/stream``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import FileResponse, Response
from tempme.app.api.deps import Services
from tempme.app.api.problems import ApiError
from tempme.app.api.routes.jobs import job_model
from tempme.app.api.schemas import Job, Video, VideoPage
from tempme.app.uploads import safe_name
from tempme.app.validate import MAX_UPLOAD_FILES, InputError
from tempme.index import LibraryBusyError, VideoRecord

VIDEO_TYPES = {t: {} for t in ("video/*", "application/octet-stream", "text/plain")}  # text/plain: Starlette's 416
VIDEO = {
    200: {"content": VIDEO_TYPES, "description": "The video's bytes."},
    206: {"content": VIDEO_TYPES, "description": "The range asked for (HTTP Range)."},
}


def video_model(v: VideoRecord) -> Video:
    return Video(
        video_id=v.video_id,
        video=str(v.path),
        status=v.status,
        error=v.error,
        duration_s=v.duration_s,
        segments=v.segments,
        size_bytes=v.size,
        indexed_at=v.indexed_at,
    )


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["videos"])
    api, ctx = [Depends(services.guard.api)], services.ctx

    @r.get("/videos", response_model=VideoPage, dependencies=api)
    def videos(
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> VideoPage:
        """The library's videos by path, ``limit`` from ``offset`` (indexed and failed)."""
        total, rows = ctx.library().shelf.videos(offset, limit)
        return VideoPage(total=total, offset=offset, limit=limit, videos=[video_model(v) for v in rows])

    @r.post("/videos", response_model=Job, status_code=202, dependencies=api)
    def upload(files: Annotated[list[UploadFile], File(description="Video files.")]) -> Job:
        """Upload videos: each is checked (a readable video, not already in the library by its bytes),
        copied into the library's uploads/ folder and indexed by a job (``GET /jobs/{job_id}``)."""
        if len(files) > MAX_UPLOAD_FILES:
            raise InputError(f"At most {MAX_UPLOAD_FILES} files per upload, got {len(files)}.")
        with tempfile.TemporaryDirectory(prefix="tempme-upload-") as tmp:
            staged = ctx.stage_upload(received(files, Path(tmp)))
        return job_model(services.jobs.start("upload", staged))

    @r.delete("/videos/{video_id}", status_code=204, response_class=Response, dependencies=api)
    def delete(video_id: int) -> Response:
        """Remove a video from the library (its moments, vectors and pictures; the file stays on disk)."""
        try:
            path = ctx.library().shelf.video_path(video_id)
        except (KeyError, OverflowError):
            raise ApiError(404, f"Video {video_id} is not in the library.") from None
        try:
            ctx.library().remove(path, wait=5.0)
        except LibraryBusyError:
            raise ApiError(409, "Another tempme process is indexing this library; try again when it is done.") from None
        return Response(status_code=204)

    @r.get(
        "/videos/{video_id}/stream",
        response_class=FileResponse,
        responses=VIDEO,
        dependencies=[Depends(services.guard.files)],
    )
    def stream(video_id: int, playable: bool = False, exp: str | None = None, sig: str | None = None) -> FileResponse:
        """The video file, with HTTP Range (browsers seek), only while it may be served: in the
        catalog now, a regular file once links are resolved, and the file that was indexed.
        ``playable``: AVI/MKV remuxed into MP4 for browsers. ``exp``, ``sig``: a signed link of the page."""
        try:
            path = ctx.playable(video_id, browser=playable)
        except InputError as e:
            raise ApiError(404, str(e)) from None
        except OverflowError:
            raise ApiError(404, f"Video {video_id} is not in the library.") from None
        return FileResponse(path, media_type=_media_type(path), headers={"Cache-Control": "private, max-age=3600"})

    return r


def received(files: list[UploadFile], folder: Path) -> list[Path]:
    """The uploaded files under their own (safe) names in ``folder``, one subfolder each."""
    paths = []
    for n, f in enumerate(files):
        dest = folder / str(n) / safe_name(Path(f.filename or "video").name)
        dest.parent.mkdir()
        with dest.open("wb") as out:
            shutil.copyfileobj(f.file, out, 1 << 20)
        paths.append(dest)
    return paths


def _media_type(path: Path) -> str:
    return {
        ".webm": "video/webm",
        ".mkv": "video/x-matroska",
        ".avi": "video/x-msvideo",
        ".mov": "video/quicktime",
    }.get(path.suffix.lower(), "video/mp4")
