"""``POST /jobs/index`` (a folder on the server, only with ``--allow-folder-add``), ``GET /jobs``,
``GET /jobs/{job_id}`` (progress) and ``POST /jobs/{job_id}/cancel``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from tempme.app.api.deps import Services
from tempme.app.api.jobs import eta
from tempme.app.api.problems import ApiError
from tempme.app.api.schemas import FolderJobRequest, Job
from tempme.index import JobRecord


def job_model(j: JobRecord) -> Job:
    progress, eta_s = eta(j)
    return Job(
        job_id=j.job_id,
        kind=j.kind,
        status=j.status,
        created_at=j.created_at,
        started_at=j.started_at,
        finished_at=j.finished_at,
        videos_total=j.videos_total,
        videos_done=j.videos_done,
        total_s=j.total_s,
        done_s=j.done_s,
        progress=progress,
        eta_s=eta_s,
        current=j.current,
        summary=j.summary,
        error=j.error,
        cancel_requested=j.cancel_requested,
        videos=list(j.videos),
        owner=j.owner,
    )


def router(services: Services) -> APIRouter:
    r = APIRouter(tags=["jobs"], dependencies=[Depends(services.guard.api)])
    ctx = services.ctx

    def record(job_id: str) -> JobRecord:
        try:
            return ctx.library().jobs.get(job_id)
        except KeyError:
            raise ApiError(404, f"No job {job_id[:64]!r} in this library.") from None

    @r.post("/jobs/index", response_model=Job, status_code=202)
    def index_folder(req: FolderJobRequest) -> Job:
        """Index a folder on the server (recursively) in a job; only on a server started with
        ``--allow-folder-add`` (403 otherwise)."""
        if not ctx.allow_folder_add:
            raise ApiError(403, "This server does not accept folder paths; start it with --allow-folder-add.")
        folder = ctx.server_folder(req.folder)
        ctx.library()  # 400 for a missing library, before a job is made
        return job_model(services.jobs.start("folder", [folder]))

    @r.get("/jobs", response_model=list[Job])
    def jobs(limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Job]:
        """The newest jobs of the library (any server process's), newest first."""
        return [job_model(j) for j in ctx.library().jobs.recent(limit)]

    @r.get("/jobs/{job_id}", response_model=Job)
    def job(job_id: str) -> Job:
        """A job and its progress (video seconds done of total, videos, the file just indexed, ETA)."""
        return job_model(record(job_id))

    @r.post("/jobs/{job_id}/cancel", response_model=Job, status_code=202)
    def cancel(job_id: str) -> Job:
        """Ask for the job to stop (within a batch; what was indexed is kept). A finished job is
        returned as it is."""
        record(job_id)
        return job_model(ctx.library().jobs.request_cancel(job_id))

    return r
