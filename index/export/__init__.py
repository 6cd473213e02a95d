"""The export room: moments leave the app as editors' timelines (:mod:`.timeline`:
OpenTimelineIO ``.otio`` and CMX 3600 ``.edl``) and subtitles (:mod:`.subtitles`: SubRip
``.srt``); :mod:`.moments` puts a search's hits into clip files, subtitles and a timeline with
what the catalog knows (scene cuts, transcripts). The only importer of OpenTimelineIO and srt.

Names resolve on first use, so importing the room does not import OpenTimelineIO."""

from tempme.index.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("TimelineError", "TimelineMoment", "build_timeline", "edl_rate", "frame_range"), "timeline"),
    "write_timeline": "timeline",
    **dict.fromkeys(("Cue", "clip_cues", "to_srt", "write_clip_srt"), "subtitles"),
    **dict.fromkeys(("ExportOptions", "ExportReport", "export_moments"), "moments"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
