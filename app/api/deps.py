"""What every route module is given: the service layer and the server's parts (one object)."""

from __future__ import annotations

from dataclasses import dataclass

from tempme.app.api.jobs import JobRunner
from tempme.app.api.keys import Guard, Signer
from tempme.app.api.loading import API_PREFIX
from tempme.app.api.problems import ApiError
from tempme.app.api.readiness import Readiness
from tempme.app.context import AppContext

__all__ = ["API_PREFIX", "Services"]


@dataclass
class Services:
    """``ctx`` the service layer (`AppContext`), ``guard`` who may call, ``signer`` the file
    links of the page, ``jobs`` the job runner, ``readiness`` the checks of ``/ready``."""

    ctx: AppContext
    guard: Guard
    signer: Signer
    jobs: JobRunner
    readiness: Readiness

    def thumbnail_path(self, segment_id: int) -> str:
        return f"{API_PREFIX}/moments/{int(segment_id)}/thumbnail"

    def stream_path(self, video_id: int) -> str:
        return f"{API_PREFIX}/videos/{int(video_id)}/stream"


def segment_row(services: Services, segment_id: int):
    """The catalog's row of a moment. Raises ApiError 404 when there is none."""
    try:
        return services.ctx.library().shelf.segment(int(segment_id))
    except (KeyError, OverflowError):
        raise ApiError(404, f"Moment {segment_id} is not in the library (re-indexed or removed).") from None
