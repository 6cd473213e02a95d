"""How Whisper is kept from hearing words in music and silence, and from dropping sentences.

:class:`WhisperGuards` holds the decoding options (Silero VAD in front, Whisper's own no-speech /
log-probability / compression-ratio rules on each segment, no temperature sampling);
:func:`keep_segment` applies the rules once more to what comes out; :func:`transcribe_guarded`
runs a faster-whisper model with them and decodes again, alone, the stretches of speech the first
pass dropped or repeated (:func:`regions_to_redecode`).

Sources: Whisper's decoding rules (Radford et al. 2022, "Robust Speech Recognition via
Large-Scale Weak Supervision", section 4.5 and ``whisper/transcribe.py``), faster-whisper's
``WhisperModel.transcribe`` (``faster_whisper/transcribe.py``: ``clip_timestamps``,
``hallucination_silence_threshold``), Silero VAD as faster-whisper ships it
(``faster_whisper/vad.py``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhisperGuards:
    """Decoding options that keep non-speech from becoming words.

    Attributes:
        vad: Silero VAD (faster-whisper's bundled ONNX model) cuts the audio to speech first.
        per_region: decode again, alone (faster-whisper's ``clip_timestamps``), each stretch of
            speech the VAD found that the first pass (faster-whisper's default: stretches
            concatenated into 30 s windows, which gives Whisper context) left without words or
            gave a copy of an earlier segment's words (:func:`regions_to_redecode`). On the
            concatenated stretches Whisper tiny.en dropped or repeated whole sentences (2 of 120
            in ``bench/speech.py``); decoding every stretch alone fixes those but loses context
            (word error rate 0.30 against 0.27 there), so only the failures are redone.
        max_region_s: stretches longer than this are cut (at a pause where there is one):
            a stretch must fit Whisper's 30 s window.
        vad_threshold: Silero's speech probability threshold (its default 0.5).
        min_silence_ms: Silero's silence that ends a speech chunk.
        no_speech_prob: a segment whose no-speech probability is above this *and* whose mean
            token log-probability is below ``avg_logprob`` is silence (Whisper's rule).
        avg_logprob: see ``no_speech_prob``; also, below ``avg_logprob_floor`` a segment is
            dropped whatever its no-speech probability (decoded at every temperature without
            reaching ``avg_logprob``: Whisper gives up on it too).
        avg_logprob_floor: see ``avg_logprob``.
        compression_ratio: a segment whose gzip compression ratio is above this repeats itself
            (Whisper's hallucination loop) and is dropped.
        condition_on_previous_text: off: a hallucinated segment does not prompt the next one.
        temperature_fallback: Whisper's fallback re-decodes a segment that fails the
            log-probability or compression rule by sampling at rising temperatures; off (the
            default here), decoding is greedy within the beam only, so the same audio always gives
            the same words (an index must not change with the run) and a sampled hallucination
            ("Thank you for watching", seen on a low-confidence sentence) cannot replace a weak but
            real segment; the rules above then drop what fails them.
        hallucination_silence_s: faster-whisper skips silences longer than this around a
            segment it suspects (word timestamps on); None disables.
    """

    vad: bool = True
    per_region: bool = True
    max_region_s: float = 28.0
    vad_threshold: float = 0.5
    min_silence_ms: int = 500
    no_speech_prob: float = 0.6
    avg_logprob: float = -1.0
    avg_logprob_floor: float = -1.5
    compression_ratio: float = 2.4
    condition_on_previous_text: bool = False
    temperature_fallback: bool = False
    hallucination_silence_s: float | None = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.vad_threshold < 1 or not 0 < self.no_speech_prob <= 1:
            raise ValueError(f"thresholds must be in (0, 1): vad {self.vad_threshold}, no_speech {self.no_speech_prob}")
        if self.avg_logprob_floor > self.avg_logprob:
            raise ValueError(f"avg_logprob_floor {self.avg_logprob_floor} must be <= avg_logprob {self.avg_logprob}")


@dataclass(frozen=True)
class SegmentStats:
    """What a decoder says about one segment (faster-whisper's ``Segment`` has these fields)."""

    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


def keep_segment(seg: SegmentStats, guards: WhisperGuards) -> bool:
    """False for a segment that is silence (Whisper's no-speech rule), a repetition loop, or
    decoded with so little confidence that Whisper's own fallback gave up on it."""
    if seg.no_speech_prob > guards.no_speech_prob and seg.avg_logprob < guards.avg_logprob:
        return False
    if seg.compression_ratio > guards.compression_ratio:
        return False
    return seg.avg_logprob >= guards.avg_logprob_floor


@dataclass(frozen=True)
class DecodeOptions:
    """``WhisperModel.transcribe`` keyword arguments for a choice and its guards."""

    language: str | None
    beam_size: int = 5
    guards: WhisperGuards = field(default_factory=WhisperGuards)

    def kwargs(self, clips: list[float] | None = None) -> dict:
        """Keyword arguments for ``WhisperModel.transcribe``; with ``clips`` (from
        :func:`speech_clips`) each stretch of speech is decoded alone and faster-whisper's own
        VAD is off (it already ran)."""
        g = self.guards
        out = dict(
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=g.vad and clips is None,
            no_speech_threshold=g.no_speech_prob,
            log_prob_threshold=g.avg_logprob,
            compression_ratio_threshold=g.compression_ratio,
            condition_on_previous_text=g.condition_on_previous_text,
            hallucination_silence_threshold=g.hallucination_silence_s,
        )
        if not g.temperature_fallback:
            out["temperature"] = [0.0]
        if clips is not None:
            if not clips or len(clips) % 2:
                raise ValueError(f"clips must be start, end pairs, got {clips!r}")
            out["clip_timestamps"] = list(clips)
        elif g.vad:
            out["vad_parameters"] = self.vad_parameters()
        return out

    def vad_parameters(self) -> dict:
        g = self.guards
        return dict(
            threshold=g.vad_threshold, min_silence_duration_ms=g.min_silence_ms, max_speech_duration_s=g.max_region_s
        )


def _pairs(clips: list[float]) -> list[tuple[float, float]]:
    return list(zip(clips[::2], clips[1::2]))


def _same_words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def regions_to_redecode(
    clips: list[float], segments: list[tuple[float, float, str]], min_cover: float = 0.3
) -> list[tuple[float, float]]:
    """The stretches of speech (``clips``, as :func:`speech_clips` gives them) that the first
    pass failed: no kept segment covers at least ``min_cover`` of the stretch, or the segment
    over it repeats the words of an earlier segment.

    Args:
        clips: ``[start0, end0, start1, end1, ...]`` seconds.
        segments: ``(start_s, end_s, text)`` of the segments kept, in time order.

    Returns:
        ``(start_s, end_s)`` of each stretch to decode alone, in time order.
    """
    seen: set[str] = set()
    repeats = []
    for a, b, text in segments:
        key = _same_words(text)
        if key and key in seen:
            repeats.append((a, b))
        seen.add(key)
    originals = [(a, b) for a, b, _ in segments if (a, b) not in repeats]
    redo = []
    for s, e in _pairs(clips):
        covered = sum(max(0.0, min(e, b) - max(s, a)) for a, b in originals)
        repeated = any(min(e, b) - max(s, a) > 0 for a, b in repeats)
        if repeated or covered < min_cover * (e - s):
            redo.append((s, e))
    return redo


def speech_clips(samples, options: DecodeOptions, sample_rate: int = 16_000) -> list[float] | None:
    """Where the speech is, as ``clip_timestamps`` for faster-whisper: ``[start0, end0, start1,
    end1, ...]`` seconds, found by faster-whisper's Silero VAD with the guards' settings; ``[]``
    when there is no speech; None when the guards decode without regions (``vad`` or
    ``per_region`` off: faster-whisper then handles the VAD itself, or none).

    Args:
        samples: (S,) float32 mono at ``sample_rate`` Hz.
    """
    g = options.guards
    if not (g.vad and g.per_region):
        return None
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples, VadOptions(**options.vad_parameters()), sampling_rate=sample_rate)
    return [round(t[k] / sample_rate, 3) for t in found for k in ("start", "end")]


def transcribe_guarded(model, samples, options: DecodeOptions) -> list:
    """Whisper on ``samples`` with the guards: the segments kept, in time order.

    ``model`` is a ``faster_whisper.WhisperModel``; the segments are its ``Segment`` tuples
    (``start``, ``end``, ``text``, ``words``, ...). No stretch of speech (Silero VAD): no decoding
    at all. Otherwise one pass as faster-whisper does it (VAD, stretches concatenated), the
    segments :func:`keep_segment` accepts, then the stretches :func:`regions_to_redecode` names
    decoded again alone, their first-pass segments replaced.

    Args:
        samples: (S,) float32 mono, 16 kHz.
    """
    guards = options.guards

    def keep(seg) -> bool:
        return keep_segment(SegmentStats(seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio), guards)

    clips = speech_clips(samples, options)
    if clips == []:
        return []
    segments = [s for s in model.transcribe(samples, **options.kwargs())[0] if keep(s)]
    if not clips:
        return segments
    redo = regions_to_redecode(clips, [(s.start, s.end, s.text) for s in segments])
    if not redo:
        return segments
    kept = [s for s in segments if not any(min(b, s.end) - max(a, s.start) > 0 for a, b in redo)]
    again = model.transcribe(samples, **options.kwargs([t for r in redo for t in r]))[0]
    log.debug("speech: %d stretches decoded again alone: %s", len(redo), redo)
    return sorted(kept + [s for s in again if keep(s)], key=lambda s: s.start)


__all__ = [
    "DecodeOptions",
    "SegmentStats",
    "WhisperGuards",
    "keep_segment",
    "regions_to_redecode",
    "speech_clips",
    "transcribe_guarded",
]
