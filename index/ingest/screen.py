"""Ingest, between plan and engine: files that are no video are told apart by their headers
(PyAV, no torch), so a run of only such files never loads the encoder.

:func:`screen` opens each file the plan would encode (:func:`tempme.probe.open_container`:
the container, a video stream, not a text format FFmpeg would draw as video) and moves those
that fail to ``IngestPlan.rejected`` with the reason; the writer records them as failures, as
the engine would have after loading the model. Nothing is decoded here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tempme.index.ingest.plan import IngestPlan

from tempme.probe import VideoDecodeError, open_container


def header_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a video, from its header; None when it can."""
    try:
        open_container(path).close()
    except VideoDecodeError as exc:
        return exc.reason
    except OSError as exc:  # the engine retries files that cannot be read (permissions, I/O)
        return None if not isinstance(exc, FileNotFoundError) else f"{type(exc).__name__}: {exc}"
    return None


def screen(plan: IngestPlan) -> IngestPlan:
    """``plan`` with the files whose headers are no video moved from ``encode`` to ``rejected``."""
    keep: list[Path] = []
    rejected = list(plan.rejected)
    for f in plan.encode:
        why = header_problem(f)
        if why is None:
            keep.append(f)
        else:
            rejected.append((f, why))
    return replace(plan, encode=keep, rejected=rejected)
