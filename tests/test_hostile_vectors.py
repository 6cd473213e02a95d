"""Issue 22, the vector files: an index type that cannot remove, a reindex killed after its switch,
FAISS's own prints (findings 3, 4 and 16).

Real FAISS files in real library folders; the kill is a real SIGKILL of a child process, sent by
itself at the one point that matters (right after the catalog switched encoders); stdout is read
at the file-descriptor level, where FAISS's ``printf`` lands.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile import GOOD, VIDEOS
from parts import catalog_of, index_ids
from tempme.app.cli import cli
from tempme.index import Library
from tempme.index.ingest import encoders
from typer.testing import CliRunner

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A library of the three GOOD clips (tiny encoder, 32-d), built once; tests copy it."""
    path = tmp_path_factory.mktemp("vectors") / "lib"
    with Library.open(path, create=True) as lib:
        lib.add([VIDEOS / n for n in GOOD], encoder=encoders.load("tempme-tiny", "none"))
    return path


@pytest.fixture
def library(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "lib"))


def _consistent(path: Path) -> None:
    with Library.open(path) as lib:
        assert np.array_equal(index_ids(lib), catalog_of(lib).segment_ids())


def _ok(args: list[str]):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and "Traceback" not in r.output, (args, r.output)
    return r


# ---- 3. an index type that cannot remove vectors ---------------------------------------------
def test_remove_on_hnsw_rebuilds_and_every_command_keeps_working(library) -> None:
    lib = ["--library", str(library)]
    _ok(["rebuild", *lib, "--index", "HNSW32"])
    r = _ok(["remove", *lib, str(VIDEOS / GOOD[0])])  # FAISS: "remove_ids not implemented"
    assert r.output.startswith("removed ") and "opencv-doc__box.mp4" in r.output, r.output
    for args in (["stats"], ["search", "a box", "--json"], ["rebuild", "--index", "HNSW32"]):
        _ok([args[0], *lib, *args[1:]])
    with Library.open(library) as opened:
        assert opened.stats().index_type == "HNSW32" and opened.stats().vectors == 2  # still the pinned type
    _consistent(library)
    _ok(["index", *lib, str(VIDEOS / GOOD[0])])  # and back: an index run adds to it
    _consistent(library)


def test_a_library_bricked_by_the_old_remove_opens_repaired(library) -> None:
    """The state the old code left: the catalog committed the removal, the HNSW file still holds
    the vectors (FAISS raised before the save)."""
    with Library.open(library) as lib:
        lib.rebuild("HNSW32")
        doomed = lib.shelf.video_paths()[0]
    with Library.open(library) as lib:  # the catalog side of the removal only
        cat = catalog_of(lib)
        cat.delete_videos([vid for vid, p in cat.indexed_videos() if p == doomed])
    for args in (["stats"], ["search", "a box", "--json"], ["rebuild"]):
        _ok([args[0], "--library", str(library), *args[1:]])
    _consistent(library)


# ---- 4. a reindex to another width, killed right after the catalog switch --------------------
KILL_AFTER_SWITCH = """
import os, signal, sys
from tempme.index.vectors import store
store.FaissStore.rebuild = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # the switch is committed
from tempme.app.cli import cli
cli(sys.argv[1:])
"""


def test_reindex_to_another_width_killed_after_the_switch_is_rebuilt_on_open(library) -> None:
    cmd = [sys.executable, "-c", KILL_AFTER_SWITCH, "--library", str(library), "reindex", "--yes"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*cmd, "--model", "ViT-B-32", "--pretrained", "none"], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with Library.open(library) as lib:  # the catalog switched: 512-d vectors; the file: 32-d
        assert lib.embed_dim() == 512 and lib.encoder_info()["arch"] == "ViT-B-32"
    for args in (["stats"], ["search", "a box", "--json"], ["rebuild"], ["index", str(VIDEOS / GOOD[0])]):
        _ok([args[0], "--library", str(library), *args[1:]])
    with Library.open(library) as lib:
        assert lib.stats().vectors == catalog_of(lib).segment_count() == 3
    _consistent(library)


# ---- 16. FAISS's prints never reach stdout: --json is JSON after every index type -------------
@pytest.mark.parametrize("kind", [None, "Flat", "IVF2,Flat", "HNSW32", "SQ8"])
def test_json_output_stays_json_after_every_index_type(library, kind, capfd) -> None:
    libc = ctypes.CDLL(None)
    lib = ["--library", str(library)]
    cli(["rebuild", *lib, *(["--index", kind] if kind else [])], standalone_mode=False)
    libc.fflush(None)  # C's stdout buffer (FAISS's printf) onto fd 1 now, not at exit
    capfd.readouterr()
    cli(["stats", *lib, "--json"], standalone_mode=False)
    cli(["search", "a box", *lib, "--json", "--mode", "visual", "--no-server"], standalone_mode=False)
    libc.fflush(None)
    out = capfd.readouterr().out.splitlines()
    stats, hits = (json.loads(line) for line in out)  # exactly two lines, each one JSON document
    assert stats["index_type"] == (kind or "flat") and stats["vectors"] == 3 and len(hits["hits"]) == 3
