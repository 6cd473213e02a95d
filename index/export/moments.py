"""A search's hits out of the library: MP4 clips, their subtitles, an editor's timeline
(``Library.export``).

For each hit, :func:`export_moments` cuts the moment ``[start_s, end_s)`` into an MP4
(:func:`tempme.index.media.clips.export_clip`: padding snapped to the video's scene cuts as the
catalog recorded them, ``copy`` / ``exact`` / ``auto``) and, when the video has a transcript,
writes the words inside the clip as ``<clip>.srt`` beside it (:mod:`.subtitles`). With
``timeline`` set it also writes the hits as one OpenTimelineIO timeline (``.otio``) or CMX 3600
EDL (``.edl``) whose clips are the moments themselves at each source's frame rate
(:mod:`.timeline`; ``clips=False`` writes only the timeline). A hit that cannot be exported is
one line in the report's ``errors``; the others are still written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tempme.index.catalog import Catalog
from tempme.index.export.subtitles import write_clip_srt
from tempme.index.export.timeline import ORDERS, TimelineError, TimelineMoment, build_timeline, write_timeline
from tempme.index.hits import Hit, TextKind
from tempme.index.media.clip_plan import DEFAULT_PAD_S, MODES, ClipExport, ClipExportError
from tempme.index.media.clips import export_clip

from tempme.video import VideoDecodeError, probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export_moments` writes: padding (s) each side, clip mode (``auto``, ``copy``,
    ``exact``), ``.srt`` beside clips, a timeline path (``.otio`` / ``.edl``) and its clip order
    (``result`` or ``time``), the query for the timeline's markers, ``clips=False`` for a timeline only.

    Raises:
        ValueError: a negative padding, an unknown mode or order.
    """

    pad_s: float = DEFAULT_PAD_S
    mode: str = "auto"
    subtitles: bool = True
    timeline: Path | None = None
    order: str = "result"
    query: str = ""
    clips: bool = True

    def __post_init__(self) -> None:
        if self.pad_s < 0:
            raise ValueError(f"padding must be >= 0 s, got {self.pad_s}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")


@dataclass
class ExportReport:
    """What :func:`export_moments` wrote: a clip (and its ``.srt`` or None) per exported hit,
    the timeline, and ``(segment id, reason)`` for each hit that failed."""

    clips: list[ClipExport] = field(default_factory=list)
    subtitles: list[Path | None] = field(default_factory=list)
    timeline: Path | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "clips": [dict(c.to_dict(), srt=None if s is None else str(s)) for c, s in zip(self.clips, self.subtitles)],
            "timeline": None if self.timeline is None else str(self.timeline),
            "errors": [{"segment_id": i, "error": e} for i, e in self.errors],
        }


def _words(catalog: Catalog, video_id: int) -> list[tuple[str, float, float]]:
    return [w for line in catalog.text_lines(video_id, TextKind.SPEECH.value) for w in line.words]


def _clip(catalog: Catalog, hit: Hit, out_dir: Path, options: ExportOptions, report: ExportReport) -> None:
    try:
        clip = export_clip(
            hit.path,
            hit.start_s,
            hit.end_s,
            out_dir,
            pad_before_s=options.pad_s,
            pad_after_s=options.pad_s,
            cuts_s=catalog.scene_cuts(hit.video_id),
            mode=options.mode,
        )
    except ClipExportError as exc:
        report.errors.append((hit.segment_id, str(exc)))
        log.warning("moment %d not exported: %s", hit.segment_id, exc)
        return
    words = _words(catalog, hit.video_id) if options.subtitles else []
    srt = write_clip_srt(clip.path.with_suffix(".srt"), words, clip.start_s, clip.end_s) if words else None
    report.clips.append(clip)
    report.subtitles.append(srt)


def _timeline_moment(hit: Hit, query: str) -> TimelineMoment:
    try:
        fps = probe(hit.path).fps
    except VideoDecodeError as exc:
        raise TimelineError(f"moment {hit.segment_id}: {exc}") from exc
    return TimelineMoment(
        hit.path, hit.start_s, hit.end_s, fps or 25.0, hit.duration_s, query, hit.why, hit.rank, hit.score,
        hit.segment_id, hit.seek_s,
    )  # fmt: skip


def export_moments(catalog: Catalog, hits: list[Hit], out_dir: Path, options: ExportOptions) -> ExportReport:
    """Clips (and subtitles) of ``hits`` in ``out_dir``, and their timeline (module docstring).

    Raises:
        TimelineError: the timeline cannot be built or written (the clips are kept).
    """
    report = ExportReport()
    if options.clips:
        for hit in hits:
            _clip(catalog, hit, Path(out_dir), options, report)
    if options.timeline is not None and hits:
        timeline = build_timeline([_timeline_moment(h, options.query) for h in hits], order=options.order)
        report.timeline = write_timeline(timeline, options.timeline)
    return report
