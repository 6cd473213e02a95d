"""The enrich room: what is said (:mod:`.speech`: PocketSphinx or faster-whisper over the
soundtrack) and written on screen (:mod:`.ocr`: RapidOCR on the sampled frames), added to indexed
videos that lack them (:mod:`.run`), never re-encoding video.

Names resolve on first use (the recognisers import heavy libraries only when they run)."""

from tempme.index.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("EnrichReport", "enrich", "enrich_library", "ocr_lines", "speech_lines"), "run"),
    **dict.fromkeys(
        (
            "BACKENDS",
            "FasterWhisperRecognizer",
            "PocketSphinxRecognizer",
            "SpeechConfig",
            "SpeechModelUnavailable",
            "SpeechRecognizer",
            "Transcript",
            "Utterance",
            "Word",
            "make_recognizer",
            "transcribe_file",
            "whisper_model_path",
        ),
        "speech",
    ),
    **dict.fromkeys(
        ("OcrConfig", "ScreenLine", "TextReader", "merge_readings", "normalise", "pick_frames", "same_line"), "ocr"
    ),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
