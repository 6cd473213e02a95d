"""Ingest, between plan and engine: files that are no video are told apart by their headers
(PyAV, no torch), so a run of only such files never loads the encoder.

:func:`screen` opens each file the plan would encode (:func:`tempme.probe.open_container`:
the container, a video stream, not a text format FFmpeg would draw as video) and moves those
that fail to ``IngestPlan.rejected`` with the reason; the writer records them as failures, as
the engine would have after loading the model. The headers' durations are kept for the
progress in seconds of video. Nothing is decoded here.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import av
from tempme.index.ingest.plan import IngestPlan

from tempme.probe import VideoDecodeError, open_container, stream_start


def read_header(path: Path) -> tuple[float, str | None]:
    """(duration in seconds from the headers, 0.0 when they do not say; why ``path`` cannot be a
    video, None when it can)."""
    if not path.is_file() or not os.access(path, os.R_OK):
        return 0.0, None  # links that lead nowhere, unreadable files: the engine says why (and retries)
    try:
        container = open_container(path)
    except VideoDecodeError as exc:
        return 0.0, exc.reason
    except OSError:  # an I/O error: the engine retries files that cannot be read
        return 0.0, None
    try:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return max(0.0, float(stream.duration * stream.time_base)), None
        if container.duration is not None:
            return max(0.0, container.duration / av.time_base - max(stream_start(stream), 0.0)), None
        return 0.0, None
    finally:
        container.close()


def screen(plan: IngestPlan) -> IngestPlan:
    """``plan`` with the files whose headers are no video moved from ``encode`` to ``rejected``,
    and every kept file's duration (``IngestPlan.durations``) for the progress in seconds."""
    keep: list[Path] = []
    rejected = list(plan.rejected)
    durations = dict(plan.durations)
    for f in plan.encode:
        seconds, why = read_header(f)
        if why is None:
            keep.append(f)
            durations[f] = seconds
        else:
            rejected.append((f, why))
    return replace(plan, encode=keep, rejected=rejected, durations=durations)
