"""`tempme index --speech`, `tempme enrich --ocr` and `tempme search --mode ...` through the real Typer app."""

from __future__ import annotations

import json
import shutil

from parts import index_ids
from tempme.index import Library
from typer.testing import CliRunner

TINY = ["--model", "tempme-tiny", "--pretrained", "none"]


def test_cli_speech_then_ocr_then_search_modes(tmp_path, speech_clip, text_clip):
    from tempme.app.cli import cli

    folder = tmp_path / "clips"
    folder.mkdir()
    for src in (speech_clip[0], text_clip[0]):
        shutil.copy(src, folder / src.name)
    lib_dir = str(tmp_path / "lib")
    runner = CliRunner()
    res = runner.invoke(cli, ["--library", lib_dir, "index", str(folder), *TINY, "--speech", "--asr", "pocketsphinx"])
    assert res.exit_code == 0, res.output
    assert "2 videos indexed" in res.output and "speech: 2 videos (1 no_audio, 1 ok)" in res.output

    res = runner.invoke(cli, ["--library", lib_dir, "search", "coffee", "--mode", "text"])
    assert res.exit_code == 1 and "has no on-screen text" in res.output and "tempme enrich --ocr" in res.output

    ids = sorted(index_ids(Library.open(tmp_path / "lib")).tolist())
    res = runner.invoke(cli, ["--library", lib_dir, "enrich", "--ocr", "--speech", "--asr", "pocketsphinx"])
    assert res.exit_code == 0, res.output
    assert "speech: 0 videos (nothing to do)" in res.output and "ocr: 2 videos (2 ok)" in res.output
    assert sorted(index_ids(Library.open(tmp_path / "lib")).tolist()) == ids  # nothing re-encoded

    res = runner.invoke(cli, ["--library", lib_dir, "search", "a cup of coffee", "--mode", "speech", "--k", "1"])
    assert res.exit_code == 0, res.output
    assert "bikes_speech.mp4" in res.output and "said “cup coffee”" in res.output
    res = runner.invoke(cli, ["--library", lib_dir, "search", "summer holiday", "--mode", "text", "--json"])
    hits = json.loads(res.stdout.strip().splitlines()[-1])["hits"]
    assert hits[0]["ocr_text"] == "SUMMER HOLIDAY" and hits[0]["matched"] == ["text"]
    assert hits[0]["confidence"] == "high"  # every word of the query, in order, on screen
    res = runner.invoke(cli, ["--library", lib_dir, "search", "a cup of coffee", "--json"])  # --mode all
    hits = json.loads(res.stdout.strip().splitlines()[-1])["hits"]
    assert hits[0]["video"].endswith("bikes_speech.mp4") and "speech" in hits[0]["matched"]
    assert hits[0]["visual_score"] is not None and [w["word"] for w in hits[0]["words"]] == ["cup", "coffee"]

    res = runner.invoke(cli, ["--library", lib_dir, "enrich"])
    assert res.exit_code == 1 and "give --speech, --ocr or both" in res.output
    res = runner.invoke(cli, ["--library", lib_dir, "search", "x", "--mode", "sound"])
    assert res.exit_code == 1 and "mode must be one of" in res.output
