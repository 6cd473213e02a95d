"""The media room: video files and what is decoded from them. The one list of video extensions
and folder walking (:mod:`.files`), the segmentation rule (:mod:`.segments`), scene cuts
(:mod:`.cuts`), the decoding pass (:mod:`.scan`, in worker processes: :mod:`.scan_pool`),
thumbnails (:mod:`.thumbnails`), soundtracks (:mod:`.audio`), recording dates from container
headers (:mod:`.dates`), the frames of a clip or span query (:mod:`.example_clip`) and moments
cut out as MP4 clips (:mod:`.clips`, with :mod:`.clip_plan` and :mod:`.clip_streams`).

Names resolve on first use, so ``media.files`` does not import PyAV or OpenCV."""

from tempme.index.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        (
            "VIDEO_EXTENSIONS",
            "NotRegularFileError",
            "content_hash",
            "file_kind",
            "is_video_name",
            "open_regular",
            "regular_stat",
            "walk",
        ),
        "files",
    ),
    **dict.fromkeys(("SegmentParams", "SegmentPlanner", "SegmentSpan", "plan_segments"), "segments"),
    **dict.fromkeys(("ContentScorer", "CutAgreement", "cut_agreement", "detection_size"), "cuts"),
    **dict.fromkeys(("ScannedSegment", "VideoScan", "encoder_size", "scan_video"), "scan"),
    "ScanPool": "scan_pool",
    **dict.fromkeys(("ClipFrames", "clip_frames"), "example_clip"),
    **dict.fromkeys(("RecordingDate", "container_date", "parse_date", "recording_date"), "dates"),
    "servable_file": "servable",
    **dict.fromkeys(
        (
            "KEY_NAME",
            "Thumbnails",
            "drop_thumbnails",
            "is_blank",
            "load_key",
            "luma_stats",
            "pick_frame",
            "purge_legacy",
            "thumbnail",
            "thumbnail_jpeg",
            "thumbnail_name",
        ),
        "thumbnails",
    ),
    **dict.fromkeys(("ClipExport", "ClipExportError", "ClipSpan", "clip_name", "plan_span"), "clip_plan"),
    "export_clip": "clips",
    **dict.fromkeys(
        ("SAMPLE_RATE", "Audio", "AudioDecodeError", "AudioError", "NoAudioError", "decode_audio"), "audio"
    ),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
