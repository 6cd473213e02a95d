"""Adding what is said and written to indexed videos, only where it is missing.

:func:`enrich` takes the videos the catalog has not yet processed for a kind
(:meth:`Catalog.videos_missing`) and, one video at a time:

- ``speech``: decodes the soundtrack and recognises it (:func:`index.speech.transcribe_file`);
  each utterance becomes a line with its words and times; a video without audio, or with a
  broken audio stream, is recorded with that status and no lines;
- ``ocr``: decodes ``frames_per_segment`` frames of each segment at the times the encoder's
  frames were sampled (:func:`tempme.video.uniform_times` over the segment, T frames, short side
  S: the frames TempMe saw) and reads them (:class:`index.ocr.TextReader`).

Each video's lines and its record are one catalog transaction: a run killed in between leaves
the video unprocessed, and the next run does it again. The video's vectors are never touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tempme.index.catalog import Catalog, EnrichmentRecord, NewTextLine, VideoToEnrich
from tempme.index.ocr import TextReader, pick_frames
from tempme.index.speech import SpeechRecognizer, transcribe_file

from tempme.video import VideoDecodeError, sample_frames, uniform_times

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]  # (done, total, path)


@dataclass
class EnrichReport:
    """What one :func:`enrich` run did for one kind."""

    kind: str
    videos: int = 0  # processed in this run
    lines: int = 0  # utterances or on-screen lines stored
    statuses: dict[str, int] = field(default_factory=dict)  # status -> videos
    seconds: float = 0.0

    def summary(self) -> str:
        what = "utterances" if self.kind == "speech" else "on-screen lines"
        st = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing to do"
        return f"{self.kind}: {self.videos} videos ({st}), {self.lines} {what}, in {self.seconds:.1f} s"


def speech_lines(path, recognizer: SpeechRecognizer) -> tuple[EnrichmentRecord, list[NewTextLine]]:
    t0 = time.perf_counter()
    tr = transcribe_file(path, recognizer)
    lines = [
        NewTextLine("speech", u.start_s, u.end_s, u.text, words=tuple((w.text, w.start_s, w.end_s) for w in u.words))
        for u in tr.utterances
    ]
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
) -> EnrichReport:
    """Process every indexed video that has no ``kind`` record yet (see the module docstring).

    Raises:
        ValueError: ``kind`` is ``speech`` without a recogniser or ``ocr`` without a reader.
    """
    if kind == "speech" and recognizer is None or kind == "ocr" and reader is None:
        raise ValueError(f"enriching {kind!r} needs a {'recognizer' if kind == 'speech' else 'reader'}")
    t0 = time.perf_counter()
    todo = catalog.videos_missing(kind)
    report = EnrichReport(kind)
    for i, video in enumerate(todo):
        if kind == "speech":
            rec, lines = speech_lines(video.path, recognizer)
        else:
            rec, lines = ocr_lines(video, reader, num_frames, short_side)
        try:
            report.lines += catalog.add_enrichment(video.video_id, kind, rec, lines)
        except KeyError:  # removed by another process meanwhile
            log.info("%s: gone from the library; skipped", video.path)
            continue
        report.videos += 1
        report.statuses[rec.status] = report.statuses.get(rec.status, 0) + 1
        if progress is not None:
            progress(i + 1, len(todo), str(video.path))
    report.seconds = time.perf_counter() - t0
    return report
