"""What is said in a video: timestamped transcripts from one of two speech recognisers.

Both backends take :class:`~tempme.index.media.audio.Audio` (16 kHz mono) and return utterances of
words with start/end seconds on the video's clock:

- :class:`PocketSphinxRecognizer`: CMU PocketSphinx 5 with the US English acoustic model,
  language model and dictionary shipped in its wheel. Offline everywhere; its voice-activity
  detector (``Endpointer``) cuts the audio into utterances and only speech is decoded. Lower
  accuracy: everyday phrases come out right, rare words do not.
- :class:`FasterWhisperRecognizer`: Whisper through CTranslate2 (faster-whisper), from a model
  name (``small``, ``medium``, ``large-v3``, ...; it must already be in the Hugging Face cache,
  nothing is downloaded) or a local CTranslate2 model directory; VAD filtering (Silero), word
  timestamps, language detection, batched inference on GPU.

:func:`make_recognizer` picks one from a :class:`SpeechConfig` (``backend=None``: a cached
faster-whisper model, else the bundled Whisper tiny.en, else pocketsphinx with a warning; said
once in the log; docs/speech.md). :func:`transcribe_file` never
fails on a video's audio: no stream, or a broken one, comes back as a :class:`Transcript` whose
``status`` says so.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tempme.index.enrich.asr_models import POCKETSPHINX, WHISPER, AsrChoice, AsrModelUnavailable, resolve_asr_model
from tempme.index.enrich.whisper_guards import (
    DecodeOptions,
    SegmentStats,
    WhisperGuards,
    keep_segment,
    transcribe_guarded,
)
from tempme.index.filenames import expand_home
from tempme.index.media.audio import SAMPLE_RATE, Audio, AudioError, decode_audio

from tempme.config import JsonConfig

log = logging.getLogger(__name__)

BACKENDS = ("faster-whisper", "pocketsphinx")
STATUSES = ("ok", "no_audio", "broken_audio")
DEFAULT_WHISPER_MODEL = "small"


# The requested speech model is not on this machine (nothing is ever downloaded): the name the
# CLI and library catch, one class with asr_models' (whose messages say what to install).
SpeechModelUnavailable = AsrModelUnavailable


@dataclass(frozen=True)
class Word:
    """One recognised word: ``[start_s, end_s)`` seconds on the video's clock."""

    text: str
    start_s: float
    end_s: float
    confidence: float | None = None  # 0..1 where the backend gives one


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech between pauses: its words in time order."""

    start_s: float
    end_s: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True)
class Transcript:
    """What a recogniser made of one video; ``status`` is ``ok``, ``no_audio`` or ``broken_audio``."""

    status: str
    utterances: tuple[Utterance, ...] = ()
    backend: str = ""
    model: str = ""
    language: str | None = None
    error: str | None = None  # why there is no transcript

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def words(self) -> list[Word]:
        return [w for u in self.utterances for w in u.words]

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances)


@dataclass(frozen=True)
class SpeechConfig(JsonConfig):
    """Which recogniser, and how it runs.

    Attributes:
        backend: ``faster-whisper``, ``pocketsphinx``, or None (the order of
            :func:`~tempme.index.enrich.asr_models.resolve_asr_model`: a cached faster-whisper
            model, the bundled Whisper tiny.en, pocketsphinx last).
        model: faster-whisper model name (see ``faster_whisper.available_models()``) or path to a
            CTranslate2 Whisper directory (None: the first available, see ``backend``); for
            pocketsphinx, an acoustic-model
            directory (None: the US English model in its wheel).
        language: ISO code such as ``en``; None lets Whisper detect it (pocketsphinx: English only).
        device: ``auto``, ``cpu`` or ``cuda`` (faster-whisper).
        compute_type: CTranslate2 compute type (``default``, ``int8``, ``float16``, ...).
        vad: skip non-speech with faster-whisper's Silero VAD (pocketsphinx always uses its own).
        batch_size: utterances decoded together on GPU (faster-whisper's batched pipeline);
            1 = sequential decoding (the CPU default).
        beam_size: Whisper's beam width.
        max_utterance_s: pocketsphinx cuts longer stretches of speech into pieces this long.
        vad_mode: aggressiveness (0-3, ``pocketsphinx.Vad.LOOSE`` .. ``STRICT``) of the voice
            activity detector in front of pocketsphinx. 3 (strict, the default) passes about a
            fifth less of the real clips' soundtracks (music, effects) to the decoder and halves
            recognition time there, at the same word error rate on everyday sentences within one
            word (``bench/enrich.py``); 0 is pocketsphinx's own default.
    """

    backend: str | None = None
    model: str | None = None
    language: str | None = None
    device: str = "auto"
    compute_type: str = "default"
    vad: bool = True
    batch_size: int = 8
    beam_size: int = 5
    max_utterance_s: float = 20.0
    vad_mode: int = 3

    def __post_init__(self) -> None:
        if self.backend is not None and self.backend not in BACKENDS:
            raise ValueError(f"speech backend must be one of {BACKENDS} (or None for auto), got {self.backend!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.batch_size < 1 or self.beam_size < 1:
            raise ValueError(f"batch_size ({self.batch_size}) and beam_size ({self.beam_size}) must be >= 1")
        if self.vad_mode not in (0, 1, 2, 3):
            raise ValueError(f"vad_mode must be 0, 1, 2 or 3, got {self.vad_mode!r}")
        if self.max_utterance_s <= 1:
            raise ValueError(f"max_utterance_s must be > 1 s, got {self.max_utterance_s}")


class SpeechRecognizer(Protocol):
    """A speech recogniser: ``transcribe`` turns 16 kHz mono audio into utterances."""

    name: str  # one of BACKENDS
    model: str  # what produced the words (recorded with each transcript)

    def transcribe(self, audio: Audio) -> tuple[list[Utterance], str | None]:
        """Returns (utterances in time order, detected or configured language)."""
        ...


# --- pocketsphinx -------------------------------------------------------------------------------

_ALT_PRON = re.compile(r"\(\d+\)$")  # "will(2)": the dictionary's second pronunciation


class PocketSphinxRecognizer:
    """PocketSphinx with its bundled US English model; utterances from its VAD endpointer."""

    name = "pocketsphinx"

    def __init__(self, config: SpeechConfig | None = None):
        import pocketsphinx

        config = config or SpeechConfig(backend="pocketsphinx")
        if config.language not in (None, "en"):
            raise SpeechModelUnavailable(f"pocketsphinx ships English only, not {config.language!r}")
        kwargs = {"samprate": SAMPLE_RATE, "loglevel": "ERROR"}
        hmm = expand_home(config.model) if config.model else None
        if hmm is not None:
            if not hmm.is_dir():
                raise SpeechModelUnavailable(f"pocketsphinx acoustic model directory {hmm} does not exist")
            kwargs["hmm"] = str(hmm)
        self.model = str(hmm) if hmm else "en-us (pocketsphinx " + _version("pocketsphinx") + ")"
        self._decoder = pocketsphinx.Decoder(**kwargs)
        self._frate = int(self._decoder.config["frate"])  # feature frames per second (100)
        self._new_endpointer = lambda: pocketsphinx.Endpointer(vad_mode=config.vad_mode, sample_rate=SAMPLE_RATE)
        self._max_frames = int(config.max_utterance_s / self._new_endpointer().frame_length)
        self._cmn_init = self._decoder.get_cmn(False)  # the model's initial cepstral mean

    def transcribe(self, audio: Audio) -> tuple[list[Utterance], str | None]:
        """Stream the audio through the endpointer; decode each stretch of speech as it comes.

        The decoder's cepstral mean starts from the model's initial value for every call, so a
        video's transcript does not depend on what was recognised before it (streaming
        decoding carries the mean over from one utterance to the next: within a video that
        helps, measured on the test sentences; across videos it would make results depend on
        the order of indexing). Long stretches are cut every ``max_utterance_s``.
        """
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"pocketsphinx needs {SAMPLE_RATE} Hz audio, got {audio.sample_rate}")
        ep, dec = self._new_endpointer(), self._decoder  # an endpointer keeps state: one per call
        dec.set_cmn(self._cmn_init)
        pcm, step = audio.pcm16(), ep.frame_bytes
        utterances: list[Utterance] = []
        start_s: float | None = None  # of the utterance being decoded
        frames = 0  # in this utterance
        region = 0  # speech frames since the endpointer's speech_start (an utterance may be cut)

        def close() -> None:
            nonlocal start_s, frames
            dec.end_utt()
            utterances.extend(self._utterances(start_s))
            start_s, frames = None, 0

        for i in range(0, len(pcm), step):
            chunk = pcm[i : i + step]
            speech = ep.process(chunk) if len(chunk) == step else ep.end_stream(chunk)
            if speech is None:
                continue
            if start_s is None:
                dec.start_utt()
                start_s = ep.speech_start + region * ep.frame_length
            dec.process_raw(speech, full_utt=False)
            frames += 1
            region += 1
            if not ep.in_speech:
                region = 0
                close()
            elif frames >= self._max_frames:
                close()
        if start_s is not None:
            close()
        return utterances, "en"

    def _utterances(self, start_s: float) -> list[Utterance]:
        """The decoder's words after ``end_utt``, split at silences longer than 0.5 s."""
        out, words = [], []
        gap = 0.0
        for seg in self._decoder.seg():
            t0, t1 = start_s + seg.start_frame / self._frate, start_s + (seg.end_frame + 1) / self._frate
            token = _ALT_PRON.sub("", seg.word)
            if token.startswith(("<", "[", "+")):  # <s>, </s>, <sil>, [NOISE], +fillers+
                gap += t1 - t0
                if gap > 0.5 and words:
                    out.append(Utterance(words[0].start_s, words[-1].end_s, tuple(words)))
                    words = []
                continue
            gap = 0.0
            words.append(Word(token, round(t0, 3), round(t1, 3)))
        if words:
            out.append(Utterance(words[0].start_s, words[-1].end_s, tuple(words)))
        return out


# --- faster-whisper -----------------------------------------------------------------------------


def whisper_model_path(model: str) -> Path:
    """The local directory of a faster-whisper model: ``model`` itself when it is a directory,
    else the Hugging Face cache's copy of that model name. Never downloads.

    Raises:
        SpeechModelUnavailable: faster-whisper is not installed, or the model is not on disk.
    """
    try:
        from faster_whisper.utils import available_models, download_model
    except ImportError as e:
        raise SpeechModelUnavailable("faster-whisper is not installed: pip install 'tempme[whisper]'") from e
    path = expand_home(model)
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise SpeechModelUnavailable(f"{path} is not a CTranslate2 Whisper model directory (no model.bin)")
        return path
    if os.sep in model or model.startswith("."):
        raise SpeechModelUnavailable(f"faster-whisper model directory {path} does not exist")
    if "/" not in model and model not in available_models():
        raise SpeechModelUnavailable(f"unknown faster-whisper model {model!r}; known: {', '.join(available_models())}")
    try:
        return Path(download_model(model, local_files_only=True))
    except Exception as e:  # huggingface_hub's LocalEntryNotFoundError and friends
        raise SpeechModelUnavailable(
            f"faster-whisper model {model!r} is not in the Hugging Face cache ({type(e).__name__}); "
            f'fetch it once where there is network (python -c "from faster_whisper import download_model; '
            f"download_model('{model}')\") or pass --asr-model /path/to/ct2-model, or use --asr pocketsphinx"
        ) from e


class FasterWhisperRecognizer:
    """Whisper (CTranslate2) from a local model; batched on GPU, sequential on CPU."""

    name = "faster-whisper"

    def __init__(self, config: SpeechConfig, choice: AsrChoice | None = None):
        choice = choice or resolve_asr_model(config.model, backend=WHISPER, language=config.language)
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        device = config.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        # int8 on CPU: what bench/speech.py measured (CTranslate2's "default" keeps float16 weights
        # as float32 there, several times slower)
        compute_type = "int8" if device == "cpu" and config.compute_type == "default" else config.compute_type
        self.config, self.device, self.model, self.choice = config, device, choice.model, choice
        self._model = WhisperModel(str(choice.path), device=device, compute_type=compute_type, local_files_only=True)
        self._batched = BatchedInferencePipeline(self._model) if device == "cuda" and config.batch_size > 1 else None
        self._guards = WhisperGuards(vad=config.vad)
        self._options = DecodeOptions(choice.language, beam_size=config.beam_size, guards=self._guards)

    def transcribe(self, audio: Audio) -> tuple[list[Utterance], str | None]:
        """Guarded decoding (:func:`~tempme.index.enrich.whisper_guards.transcribe_guarded`); on a
        GPU, faster-whisper's batched pipeline with the same segment rules."""
        if self._batched is not None:
            kwargs = self._options.kwargs()
            kwargs.pop("hallucination_silence_threshold", None)  # not in the batched pipeline
            kwargs.pop("condition_on_previous_text", None)
            segments, info = self._batched.transcribe(audio.samples, batch_size=self.config.batch_size, **kwargs)
            segments, language = [s for s in segments if self._keep(s)], info.language
        else:
            segments, language = transcribe_guarded(self._model, audio.samples, self._options), self._options.language
        out = []
        for seg in segments:
            words = tuple(
                Word(w.word.strip(), round(float(w.start), 3), round(float(w.end), 3), round(float(w.probability), 4))
                for w in (seg.words or ())
                if w.word.strip()
            )
            if words:
                out.append(Utterance(round(float(seg.start), 3), round(float(seg.end), 3), words))
        return out, language or "en"

    def _keep(self, seg) -> bool:
        return keep_segment(SegmentStats(seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio), self._guards)


# --- choosing and running -----------------------------------------------------------------------


def make_recognizer(config: SpeechConfig | None = None) -> SpeechRecognizer:
    """The recogniser ``config`` asks for, by :func:`~tempme.index.enrich.asr_models.resolve_asr_model`
    (``--asr-model`` -> a cached faster-whisper model -> the bundled Whisper tiny.en ->
    pocketsphinx with a warning), said once in the log.

    Raises:
        SpeechModelUnavailable: an explicitly requested backend or model is not available, or
            none for the requested language.
    """
    config = config or SpeechConfig()
    if config.backend == POCKETSPHINX:
        return PocketSphinxRecognizer(config)
    choice = resolve_asr_model(config.model, backend=config.backend, language=config.language)
    choice.log_once()
    if choice.backend == POCKETSPHINX:
        return PocketSphinxRecognizer(
            SpeechConfig(backend="pocketsphinx", max_utterance_s=config.max_utterance_s, vad_mode=config.vad_mode)
        )
    rec = FasterWhisperRecognizer(config, choice)
    log.info("speech: faster-whisper model %s on %s", rec.model, rec.device)
    return rec


def transcribe_file(path: str | os.PathLike, recognizer: SpeechRecognizer) -> Transcript:
    """Decode the soundtrack of ``path`` and recognise it; a missing or broken audio stream gives
    a transcript with status ``no_audio`` / ``broken_audio`` (logged, never raised)."""
    base = {"backend": recognizer.name, "model": recognizer.model}
    try:
        audio = decode_audio(path)
    except AudioError as e:
        log.info("speech: %s", e)
        return Transcript(status=e.status, error=e.reason, **base)
    utterances, language = recognizer.transcribe(audio)
    return Transcript(status="ok", utterances=tuple(utterances), language=language, **base)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"
