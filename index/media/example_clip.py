"""Query by clip or span: a video file, or ``[start_s, end_s)`` of one, decoded into T frames.

The frames are then encoded by :func:`tempme.example_query.encode_clip_frames` (the indexing
path: preprocess, TempMe, mean of the T unit vectors, normalised).

- **A whole clip** (no span) is decoded as indexing decodes a segment, by the same function:
  :func:`tempme.index.media.scan.scan_video` with cut detection off (``threshold=inf``) and a window longer
  than any video, so the clip is one segment ``[0, duration)`` and its T frames are the ones
  indexing would take for a segment with those bounds (the kept frame nearest to each
  :func:`tempme.video.uniform_times`, within one frame of the frame on screen then). The file is
  decoded once, every frame, as indexing does.
- **A span** is decoded by :func:`tempme.video.sample_frames` at the same
  :func:`~tempme.video.uniform_times` over ``[start_s, end_s)``: the frames on screen at those
  times, with seeking, so a span of a two-hour film costs T frames, not the film. These are the
  frames indexing's scan approximates to within one frame (tests/test_scan_frames.py), so a span
  over a stored segment's bounds gives that segment's vector up to that one-frame jitter; where
  the span *is* a stored segment the library uses the stored vector itself.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.media.scan import VideoScan, scan_video
from tempme.index.media.segments import SegmentParams

from tempme.video import VideoDecodeError, probe, sample_frames, uniform_times

log = logging.getLogger(__name__)

ONE_SEGMENT = SegmentParams(window_s=1e12, threshold=math.inf)
"""Scan settings that make a whole file one segment (no cuts, no windows) with indexing's frame picking."""


@dataclass(frozen=True)
class ClipFrames:
    """The T frames of a clip query: ``frames`` (T, H, W, 3) uint8 RGB with the shorter side the
    encoder's image size, sampled at ``times_s`` (T,) over ``[start_s, end_s)`` (seconds of the file)."""

    path: Path
    start_s: float
    end_s: float
    frames: np.ndarray
    times_s: np.ndarray
    whole: bool  # the whole file (scan_video) rather than a span (sample_frames)


def clip_frames(
    path: str | os.PathLike,
    num_frames: int,
    short_side: int,
    start_s: float | None = None,
    end_s: float | None = None,
) -> ClipFrames:
    """Decode the T frames of a clip query (see the module docstring).

    Args:
        path: a video file.
        num_frames: T, the encoder's frames per segment.
        short_side: the encoder's image size (frames are resized as indexing resizes them).
        start_s, end_s: the span in seconds from the stream start; ``None``: the start / the
            end of the file. A span from 0 to (at least) the duration is the whole file.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video or has no decodable frame.
        ValueError: ``start_s < 0``, ``end_s <= start_s``, or ``start_s`` at or past the end.
    """
    p = Path(path)
    meta = probe(p)
    start = 0.0 if start_s is None else float(start_s)
    end = meta.duration_s if end_s is None else float(end_s)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"the span must be finite seconds, got [{start_s}, {end_s}]")
    if start < 0:
        raise ValueError(f"--start must be >= 0 s, got {start:g}")
    if start >= meta.duration_s:
        raise ValueError(f"--start {start:g} s is past the end of {p.name} ({meta.duration_s:.2f} s)")
    if end <= start:
        raise ValueError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    end = min(end, meta.duration_s)
    if start == 0 and end >= meta.duration_s:
        scan = VideoScan(cuts_s=[])
        segments = list(scan_video(p, meta, num_frames, short_side, ONE_SEGMENT, scan))
        if not segments:
            raise VideoDecodeError(p, "no decoded frame has a timestamp")
        if len(segments) > 1:  # cannot happen with ONE_SEGMENT; a future planner change would show here
            raise AssertionError(f"{p}: expected one segment, got {len(segments)}")
        seg = segments[0]
        return ClipFrames(p, seg.span.start_s, seg.span.end_s, seg.frames, seg.times_s, whole=True)
    times = uniform_times(start, end, num_frames)
    frames = sample_frames(p, times, short_side=short_side)
    return ClipFrames(p, start, end, frames, times, whole=False)
