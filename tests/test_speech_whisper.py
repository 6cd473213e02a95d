"""faster-whisper end to end, offline: a tiny Whisper built in the test (tests/whisper_tiny.py:
random encoder and cross-attention, a hand-set four-word decoder, converted by CTranslate2's own
converter) run through our backend on the espeak-ng clip, through the library and the CLI.

What this proves: our backend loads a CTranslate2 directory given as ``--asr-model PATH``,
faster-whisper's real pipeline (Silero VAD, decoding with timestamp rules, word timestamps by
DTW over cross-attention, tokenizer) runs on real audio, and the words with their times reach the
catalog and the search. It says nothing about Whisper's accuracy (the weights are not trained)."""

from __future__ import annotations

import logging
import shutil

import pytest
from parts import catalog_of
from typer.testing import CliRunner

pytest.importorskip("faster_whisper", reason="faster-whisper is in the whisper extra: pip install 'tempme[whisper]'")
pytest.importorskip("transformers")

from tempme.index import Library  # noqa: E402
from tempme.index.enrich import FasterWhisperRecognizer, SpeechConfig, make_recognizer, transcribe_file
from whisper_tiny import CHAIN_WORDS, build_tiny_whisper  # noqa: E402

from tempme.video import probe  # noqa: E402

VAD_PAD_S = 0.6  # Silero's chunks reach 0.4 s (speech_pad_ms) past the voice, plus a 20 ms token


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def whisper(whisper_dir):
    return FasterWhisperRecognizer(SpeechConfig(backend="faster-whisper", model=str(whisper_dir), device="cpu"))


def check_words(tr, spoken, duration_s):
    """Well-formed: the chain's words, floats, in time order, inside their utterance, inside the
    audio, and (Silero VAD is real) where the speech is."""
    assert tr.status == "ok" and tr.backend == "faster-whisper" and tr.language == "en"
    assert [w.text for w in tr.words] == CHAIN_WORDS
    for u in tr.utterances:
        assert 0.0 <= u.start_s < u.end_s <= duration_s + 0.02
        for w in u.words:
            assert type(w.start_s) is float and type(w.end_s) is float and type(w.confidence) is float
            assert u.start_s <= w.start_s <= w.end_s <= u.end_s
            assert w.confidence > 0.99  # the decoder's chain: each next token at logit ~48 vs ~0
            # Silero keeps the 2.2 s pause between the sentences (its min_silence_duration_ms is
            # 2000 with faster-whisper's defaults) but cuts the silence before and after them
            assert spoken[0].start_s - VAD_PAD_S <= w.start_s and w.end_s <= spoken[-1].end_s + VAD_PAD_S, w
    ws = tr.words
    assert all(a.end_s <= b.start_s for a, b in zip(ws, ws[1:]))


def test_faster_whisper_transcribes_a_real_clip_with_timestamped_words(whisper, whisper_dir, speech_clip):
    path, spoken = speech_clip
    tr = transcribe_file(path, whisper)
    assert tr.model == str(whisper_dir) and len(tr.utterances) >= 1
    check_words(tr, spoken, probe(path).duration_s)
    assert transcribe_file(path, whisper) == tr  # deterministic (greedy within a beam of 5, no fallback)


def test_faster_whisper_on_videos_without_usable_audio(whisper, videos_dir, broken_audio_clip):
    assert transcribe_file(videos_dir / "mmaction2__test.mp4", whisper).status == "no_audio"
    assert transcribe_file(broken_audio_clip, whisper).status == "broken_audio"


def test_auto_choice_takes_faster_whisper_when_its_model_is_here(whisper_dir, caplog):
    with caplog.at_level(logging.INFO, logger="tempme.index.enrich.speech"):
        rec = make_recognizer(SpeechConfig(model=str(whisper_dir), device="cpu"))
    assert rec.name == "faster-whisper" and "faster-whisper model" in caplog.text


def test_cli_indexes_with_asr_model_path_and_the_library_records_the_words(
    tmp_path, whisper, whisper_dir, speech_clip, videos_dir
):
    from tempme.app.cli import cli

    path, spoken = speech_clip
    folder = tmp_path / "clips"
    folder.mkdir()
    for src in (path, videos_dir / "mmaction2__test.mp4"):
        shutil.copy(src, folder / src.name)
    lib_dir = tmp_path / "lib"
    args = ["--library", str(lib_dir), "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none"]
    res = CliRunner().invoke(cli, [*args, "--speech", "--asr", "faster-whisper", "--asr-model", str(whisper_dir)])
    assert res.exit_code == 0, res.output
    assert "speech: 2 videos (1 no_audio, 1 ok)" in res.output

    lib = Library.open(lib_dir)
    (video_id,) = catalog_of(lib).videos_under(folder / path.name)
    rec = catalog_of(lib).enrichment(video_id, "speech")
    assert (rec.status, rec.backend, rec.model, rec.language) == ("ok", "faster-whisper", str(whisper_dir), "en")
    expected = transcribe_file(path, whisper)
    lines = catalog_of(lib).text_lines(video_id, "speech")
    assert [m.text for m in lines] == [u.text for u in expected.utterances]
    assert [w for m in lines for w in m.words] == [(w.text, w.start_s, w.end_s) for w in expected.words]
    check_words(expected, spoken, probe(path).duration_s)

    (top,) = lib.search("beach", k=1, mode="speech")
    beach = expected.words[CHAIN_WORDS.index("beach")]
    assert top.path.name == path.name and [w.word for w in top.words] == ["beach"]
    assert top.seek_s == beach.start_s
