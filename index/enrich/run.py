"""Adding what is said and written to indexed videos, only where it is missing.

:func:`enrich` takes the videos the catalog has not yet processed for a kind
(:meth:`Catalog.videos_missing`) and, one video at a time:

- ``speech``: decodes the soundtrack and recognises it (:func:`.speech.transcribe_file`);
  each utterance becomes a line with its words and times, its search form and its phones; a video without audio, or with a
  broken audio stream, is recorded with that status and no lines;
- ``ocr``: decodes ``frames_per_segment`` frames of each segment at the times the encoder's
  frames were sampled (:func:`tempme.video.uniform_times` over the segment, T frames, short side
  S: the frames TempMe saw) and reads them (:class:`.ocr.TextReader`).

Each video's lines and its record are one catalog transaction: a run killed in between leaves
the video unprocessed, and the next run does it again. The video's vectors are never touched.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tempme.index.catalog import Catalog, EnrichmentRecord, NewTextLine, VideoToEnrich
from tempme.index.enrich.ocr import OcrConfig, TextReader, pick_frames
from tempme.index.enrich.speech import SpeechConfig, SpeechRecognizer, make_recognizer, transcribe_file
from tempme.index.hits import TextKind
from tempme.index.reports import EnrichReport, ProgressFn
from tempme.index.words.forms import speech_forms

from tempme.video import VideoDecodeError, sample_frames, uniform_times

log = logging.getLogger(__name__)


def speech_lines(path, recognizer: SpeechRecognizer) -> tuple[EnrichmentRecord, list[NewTextLine]]:
    """The video's utterances, each with its words, its search form and its phones
    (:func:`tempme.index.words.forms.speech_forms`), and the record of the run."""
    t0 = time.perf_counter()
    tr = transcribe_file(path, recognizer)
    lines = []
    for u in tr.utterances:
        forms = speech_forms([w.text for w in u.words])
        words = tuple((w.text, w.start_s, w.end_s) for w in u.words)
        lines.append(NewTextLine("speech", u.start_s, u.end_s, u.text, words=words, **vars(forms)))
    rec = EnrichmentRecord(tr.status, tr.backend, tr.model, tr.language, tr.error, time.perf_counter() - t0)
    return rec, lines


def ocr_lines(
    video: VideoToEnrich, reader: TextReader, num_frames: int, short_side: int
) -> tuple[EnrichmentRecord, list[NewTextLine]]:
    t0 = time.perf_counter()
    per_seg = [
        uniform_times(a, b, num_frames)[pick_frames(num_frames, reader.config.frames_per_segment)]
        for _, a, b in video.segments
    ]
    base = {"backend": "rapidocr", "model": reader.model}
    if not per_seg:
        return EnrichmentRecord("ok", seconds=0.0, **base), []
    try:
        frames = sample_frames(video.path, np.concatenate(per_seg), short_side=short_side)  # (F, H, W, 3)
    except VideoDecodeError as e:
        return EnrichmentRecord("failed", error=e.reason, seconds=time.perf_counter() - t0, **base), []
    lines, at = [], 0
    for times in per_seg:
        for ln in reader.read(frames[at : at + len(times)], times):
            lines.append(NewTextLine("ocr", ln.start_s, ln.end_s, ln.text, score=ln.score, box=ln.box))
        at += len(times)
    return EnrichmentRecord("ok", seconds=time.perf_counter() - t0, **base), lines


def enrich(
    catalog: Catalog,
    kind: str,
    *,
    recognizer: SpeechRecognizer | None = None,
    reader: TextReader | None = None,
    num_frames: int = 12,
    short_side: int = 224,
    progress: ProgressFn | None = None,
    redo: bool = False,
) -> EnrichReport:
    """Process every indexed video that has no ``kind`` record yet (see the module docstring);
    with ``redo``, every indexed video, each one's old lines replaced in the same transaction.

    Raises:
        ValueError: ``kind`` is ``speech`` without a recogniser or ``ocr`` without a reader.
    """
    kind = TextKind(kind)
    if kind is TextKind.SPEECH and recognizer is None or kind is TextKind.OCR and reader is None:
        raise ValueError(f"enriching {kind!r} needs a {'recognizer' if kind == 'speech' else 'reader'}")
    t0 = time.perf_counter()
    todo = catalog.videos_missing(kind.value, redo=redo)
    report = EnrichReport(kind.value)
    for i, video in enumerate(todo):
        if kind is TextKind.SPEECH:
            rec, lines = speech_lines(video.path, recognizer)
        else:
            rec, lines = ocr_lines(video, reader, num_frames, short_side)
        try:
            report.lines += catalog.add_enrichment(video.video_id, kind.value, rec, lines)
        except KeyError:  # removed by another process meanwhile
            log.info("%s: gone from the library; skipped", video.path)
            continue
        report.videos += 1
        report.statuses[rec.status] = report.statuses.get(rec.status, 0) + 1
        if progress is not None:
            progress(i + 1, len(todo), str(video.path))
    report.seconds = time.perf_counter() - t0
    return report


def enrich_library(
    catalog: Catalog,
    kind: TextKind | str,
    *,
    speech: SpeechConfig | None = None,
    ocr: OcrConfig | None = None,
    progress: ProgressFn | None = None,
    redo: bool = False,
) -> EnrichReport:
    """:func:`enrich` one kind (``redo``: every video again) with the recogniser ``speech`` asks for (default: the automatic
    choice) or a :class:`~.ocr.TextReader` with ``ocr``; OCR reads the frames at the recorded
    encoder's frame count and resolution, but never below 224 pixels (tiny test models have
    32-pixel frames, where nothing is legible).

    Raises:
        ValueError: ``kind`` is neither ``speech`` nor ``ocr``. SpeechModelUnavailable: the
        requested recogniser or model is not available.
    """
    try:
        kind = TextKind(kind)
    except ValueError:
        raise ValueError(f"kind must be speech or ocr, got {kind!r}") from None
    if kind is TextKind.SPEECH:
        return enrich(catalog, kind, recognizer=make_recognizer(speech), progress=progress, redo=redo)
    info = catalog.encoder_info()
    num_frames = info.num_frames if info and info.num_frames else 12
    short_side = max(info.image_size if info and info.image_size else 224, 224)
    return enrich(
        catalog,
        kind,
        reader=TextReader(ocr),
        num_frames=num_frames,
        short_side=short_side,
        progress=progress,
        redo=redo,
    )
