"""Moments as an editor's timeline: OpenTimelineIO (``.otio``) and CMX 3600 EDL (``.edl``).

:func:`build_timeline` turns selected moments into one OpenTimelineIO timeline with one video
track: each moment is a clip whose media reference is the source file (a ``file://`` URL, the
whole file's range as ``available_range``) and whose ``source_range`` is the moment at the
source's own frame rate, ``round(start_s * fps)`` to ``round(end_s * fps)`` frames (at least one
frame). Clips follow the given order (``order="result"``: rank order) or the videos' time order
(``order="time"``: by file, then start). Each clip carries a marker at its evidence (a matched
word, else its start) named after the query, with the evidence (``why``), rank and score in the
marker's and the clip's ``metadata["tempme"]``.

:func:`write_timeline` writes ``.otio`` (OpenTimelineIO's JSON) or ``.edl`` through the
``cmx_3600`` adapter (package ``otio-cmx3600-adapter``; OpenTimelineIO stopped shipping it in its
core in 0.17). An EDL has one timecode rate for all events: the rate shared by the most clips,
moved to the nearest SMPTE timecode rate when it is not one (26.777 fps -> 25); clips at other
rates get their in/out points at that rate, to the nearest frame. The ``.otio`` file keeps every
source's exact rate. Marker names are upper-cased in an EDL (``* LOC:`` lines, the adapter's rule).

References: OpenTimelineIO's documentation ("Timeline Structure", "Time ranges", adapters);
the CMX 3600 EDL format as the adapter reads and writes it.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import opentimelineio as otio

log = logging.getLogger(__name__)

ORDERS = ("result", "time")
FORMATS = (".otio", ".edl")
EDL_FALLBACK_RATE = 25.0  # when OpenTimelineIO finds no SMPTE rate near the clips' rate


class TimelineError(ValueError):
    """Moments that cannot become a timeline, or a file that cannot be written (one line)."""


@dataclass(frozen=True)
class TimelineMoment:
    """One moment for a timeline: ``[start_s, end_s)`` source seconds of ``path`` at ``fps``
    (the source's frame rate, frames/s); ``duration_s`` is the whole file's (optional).
    ``marker_s`` is where the evidence is (source seconds; default ``start_s``)."""

    path: Path
    start_s: float
    end_s: float
    fps: float
    duration_s: float | None = None
    query: str = ""
    why: str = ""
    rank: int | None = None
    score: float | None = None
    segment_id: int | None = None
    marker_s: float | None = None

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise TimelineError(f"{Path(self.path).name}: frame rate must be > 0, got {self.fps}")
        if not self.end_s > self.start_s >= 0:
            raise TimelineError(
                f"{Path(self.path).name}: moment {self.start_s:.3f}–{self.end_s:.3f} s is empty or negative"
            )


def frame_range(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    """``(first frame, frame count)`` of ``[start_s, end_s)`` at ``fps``: the nearest frames,
    at least one frame. ``frame_range(12.0, 15.5, 24)`` -> ``(288, 84)``."""
    first = round(start_s * fps)
    return first, max(1, round(end_s * fps) - first)


def _clip_name(m: TimelineMoment) -> str:
    def clock(s: float) -> str:
        minutes, sec = divmod(int(s), 60)
        return f"{minutes:02d}:{sec:02d}"

    return f"{Path(m.path).stem} {clock(m.start_s)}-{clock(m.end_s)}"


def _clip(m: TimelineMoment) -> otio.schema.Clip:
    rate = float(m.fps)
    first, frames = frame_range(m.start_s, m.end_s, rate)
    available = None
    if m.duration_s:
        available = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(round(m.duration_s * rate), rate)
        )
    ref = otio.schema.ExternalReference(
        target_url=otio.url_utils.url_from_filepath(os.path.abspath(m.path)), available_range=available
    )
    info = {
        "query": m.query,
        "why": m.why,
        "rank": m.rank,
        "score": m.score,
        "segment_id": m.segment_id,
        "start_s": m.start_s,
        "end_s": m.end_s,
    }
    clip = otio.schema.Clip(
        name=_clip_name(m),
        media_reference=ref,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(frames, rate)
        ),
        metadata={"tempme": info},
    )
    at = first if m.marker_s is None else min(max(round(m.marker_s * rate), first), first + frames - 1)
    clip.markers.append(
        otio.schema.Marker(
            name=m.query or "match",
            marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(at, rate), otio.opentime.RationalTime(0, rate)
            ),
            color=otio.schema.MarkerColor.GREEN,
            metadata={"tempme": info},
        )
    )
    return clip


def build_timeline(
    moments: Sequence[TimelineMoment], name: str = "tempme moments", order: str = "result"
) -> otio.schema.Timeline:
    """One video track of the moments, back to back (see the module docstring).

    Raises:
        TimelineError: no moments, or an unknown ``order``.
    """
    if order not in ORDERS:
        raise TimelineError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not moments:
        raise TimelineError("no moments to put on a timeline")
    if order == "time":
        moments = sorted(moments, key=lambda m: (str(m.path), m.start_s, m.end_s))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for m in moments:
        track.append(_clip(m))
    timeline = otio.schema.Timeline(name=name)
    timeline.tracks.append(track)
    return timeline


def edl_rate(timeline: otio.schema.Timeline) -> float:
    """The one timecode rate of the timeline's EDL (see the module docstring)."""
    rates = Counter(c.source_range.start_time.rate for c in timeline.find_clips())
    if not rates:
        raise TimelineError("the timeline has no clips")
    rate = rates.most_common(1)[0][0]
    if otio.opentime.RationalTime.is_valid_timecode_rate(rate):
        return rate
    near = otio.opentime.RationalTime.nearest_valid_timecode_rate(rate)
    return near if near > 0 else EDL_FALLBACK_RATE


def write_timeline(timeline: otio.schema.Timeline, path: str | os.PathLike) -> Path:
    """Write ``timeline`` as ``.otio`` or CMX 3600 ``.edl`` (by the suffix); returns the path.

    Raises:
        TimelineError: another suffix, an adapter that is not installed, or a file that cannot
            be written.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise TimelineError(f"{out.name}: a timeline is written as {' or '.join(FORMATS)}, not {suffix or 'no suffix'}")
    try:
        if suffix == ".otio":
            otio.adapters.write_to_file(timeline, str(out), adapter_name="otio_json")
        else:
            rate = edl_rate(timeline)
            conformed = _at_rate(timeline, rate)
            otio.adapters.write_to_file(conformed, str(out), adapter_name="cmx_3600", rate=rate)
    except otio.exceptions.NoKnownAdapterForExtensionError as exc:
        raise TimelineError(
            f"{out.name}: no OpenTimelineIO adapter for {suffix} (pip install otio-cmx3600-adapter)"
        ) from exc
    except otio.exceptions.AdapterDoesntSupportFunctionError as exc:
        raise TimelineError(f"{out.name}: {exc}") from exc
    except OSError as exc:
        raise TimelineError(f"cannot write {out}: {exc.strerror or exc}") from exc
    log.info("wrote %s (%d clips)", out, len(list(timeline.find_clips())))
    return out


def _at_rate(timeline: otio.schema.Timeline, rate: float) -> otio.schema.Timeline:
    """A copy whose clips' ranges and markers are at ``rate``, to the nearest frame."""
    copy = timeline.deepcopy()
    for clip in copy.find_clips():
        r = clip.source_range
        if r.start_time.rate == rate:
            continue
        start = r.start_time.rescaled_to(rate).round()
        end = r.end_time_exclusive().rescaled_to(rate).round()
        clip.source_range = otio.opentime.TimeRange(
            start, otio.opentime.RationalTime(max(1, (end - start).value), rate)
        )
        for marker in clip.markers:
            mr = marker.marked_range
            marker.marked_range = otio.opentime.TimeRange(
                mr.start_time.rescaled_to(rate).round(), otio.opentime.RationalTime(0, rate)
            )
        ref = clip.media_reference
        if ref.available_range is not None:
            ar = ref.available_range
            ref.available_range = otio.opentime.TimeRange(
                ar.start_time.rescaled_to(rate).round(), ar.duration.rescaled_to(rate).round()
            )
    return copy
