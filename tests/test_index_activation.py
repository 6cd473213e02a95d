"""`tempme index --quick-gelu/--no-quick-gelu`: the activation reaches the model, is recorded in
the library's encoder and is reused by later runs and by search; libraries recorded before the
activation was get QuickGELU (what made their vectors) with a warning.

The weights are a local open_clip state dict of tempme-tiny (a file cannot say which activation
it was trained with, so the option decides); the activation is read off the built model's MLP
modules (open_clip's ``QuickGELU`` class against torch's ``nn.GELU``).
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import open_clip
import pytest
import torch
from tempme.app.cli import cli
from tempme.index import Library, describe_encoder
from typer.testing import CliRunner

import tempme.weights  # noqa: F401  (registers the tempme-tiny open_clip config)

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ("opencv-doc__box.mp4", "opencv-doc__cup.mp4")


def _activations(model: torch.nn.Module) -> set[str]:
    """The activation class names of every MLP of both towers of an open_clip CLIP."""
    blocks = list(model.visual.transformer.resblocks) + list(model.transformer.resblocks)
    return {type(b.mlp.gelu).__name__ for b in blocks}


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    torch.manual_seed(5)
    path = tmp_path_factory.mktemp("weights") / "tiny.bin"
    torch.save(open_clip.create_model("tempme-tiny").state_dict(), path)
    return path


def _folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(VIDEOS / name, folder / name)
    return folder


def _index(lib_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--library", str(lib_dir), "index", *args])


@pytest.mark.parametrize(
    "flag, activation, recorded", [("--quick-gelu", "QuickGELU", True), ("--no-quick-gelu", "GELU", False)]
)
def test_index_option_reaches_the_model_is_recorded_and_reused(tmp_path, weights_file, flag, activation, recorded):
    folder = _folder(tmp_path, CLIPS[0])
    lib_dir = tmp_path / "lib"
    res = _index(lib_dir, str(folder), "--model", "tempme-tiny", "--pretrained", str(weights_file), flag)
    assert res.exit_code == 0, res.output
    lib = Library.open(lib_dir)
    assert lib.encoder_info()["config"]["quick_gelu"] is recorded
    assert _activations(lib.encoder().model) == {activation}  # search's encoder, rebuilt from the record

    # a later `tempme index DIR` with no encoder flags reuses the recorded activation
    shutil.copy(VIDEOS / CLIPS[1], folder / CLIPS[1])
    res = _index(lib_dir, str(folder))
    assert res.exit_code == 0, res.output
    assert "1 video indexed" in res.output
    lib = Library.open(lib_dir)
    assert lib.stats().videos == 2 and lib.encoder_info()["config"]["quick_gelu"] is recorded
    res = CliRunner().invoke(cli, ["stats", "--library", str(lib_dir)])
    assert res.exit_code == 0 and f"frames, {activation})" in res.output


def test_index_without_the_option_logs_the_default_and_the_reason(tmp_path, weights_file, caplog):
    lib = Library.open(tmp_path / "lib", create=True)
    with caplog.at_level(logging.WARNING, logger="tempme.weights"):
        report = lib.add([_folder(tmp_path, CLIPS[0])], model="tempme-tiny", pretrained=str(weights_file))
    assert report.indexed == 1
    assert "GELU from tempme-tiny's open_clip config" in caplog.text and "--quick-gelu" in caplog.text
    assert lib.encoder_info()["config"]["quick_gelu"] is False
    assert _activations(lib.encoder().model) == {"GELU"}


def test_an_activation_other_than_the_librarys_is_refused_before_any_work(tmp_path, weights_file):
    folder = _folder(tmp_path, CLIPS[0])
    lib_dir = tmp_path / "lib"
    res = _index(lib_dir, str(folder), "--model", "tempme-tiny", "--pretrained", str(weights_file), "--quick-gelu")
    assert res.exit_code == 0, res.output
    shutil.copy(VIDEOS / CLIPS[1], folder / CLIPS[1])
    res = _index(lib_dir, str(folder), "--no-quick-gelu")
    assert res.exit_code == 1
    assert "built with QuickGELU; cannot add videos encoded with GELU" in res.output
    assert "Traceback" not in res.output
    assert Library.open(lib_dir).stats().videos == 1  # nothing added


def _forget_activation(lib_dir: Path) -> None:
    """Rewrite the encoder record as tempme wrote it before it recorded the activation (no
    ``quick_gelu`` in the TempMe config)."""
    with sqlite3.connect(lib_dir / "library.db") as db:
        (raw,) = db.execute("SELECT info_json FROM encoder").fetchone()
        info = json.loads(raw)
        del info["config"]["quick_gelu"]
        db.execute("UPDATE encoder SET info_json = ?", (json.dumps(info),))


def test_a_library_recorded_without_an_activation_reloads_with_quickgelu_and_says_so(tmp_path, weights_file, caplog):
    folder = _folder(tmp_path, CLIPS[0])
    lib_dir = tmp_path / "lib"
    # the encoder of that time: QuickGELU forced onto every weight source
    res = _index(lib_dir, str(folder), "--model", "tempme-tiny", "--pretrained", str(weights_file), "--quick-gelu")
    assert res.exit_code == 0, res.output
    before = Library.open(lib_dir).search("a box", k=1)[0]
    _forget_activation(lib_dir)

    lib = Library.open(lib_dir)
    assert "activation not recorded" in describe_encoder(lib.encoder_info())
    with caplog.at_level(logging.WARNING, logger="tempme.index.ingest.encoders"):
        enc = lib.encoder()
    assert _activations(enc.model) == {"QuickGELU"}
    assert "records no activation" in caplog.text and "assuming QuickGELU" in caplog.text
    assert "tempme index --library NEW_DIR" in caplog.text
    after = lib.search("a box", k=1)[0]  # the query tower still matches the stored vectors
    assert after.segment_id == before.segment_id and after.score == pytest.approx(before.score, abs=1e-5)

    # adding goes on with the assumed activation; asking for another one is refused
    shutil.copy(VIDEOS / CLIPS[1], folder / CLIPS[1])
    res = _index(lib_dir, str(folder), "--no-quick-gelu")
    assert res.exit_code == 1 and "built with QuickGELU; cannot add videos encoded with GELU" in res.output
    res = _index(lib_dir, str(folder))
    assert res.exit_code == 0 and "1 video indexed" in res.output, res.output


def _hub_cache_repo(cache: Path, repo_id: str, state: dict, model_cfg: dict) -> None:
    """``repo_id`` as huggingface_hub leaves it in ``cache`` after a download (weights + config)."""
    from safetensors.torch import save_file

    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / ("models--" + repo_id.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snap / "open_clip_model.safetensors"))
    (snap / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg}))


def test_a_gelu_library_recorded_without_an_activation_is_refused_with_the_way_out(tmp_path, monkeypatch):
    """Weights known to be GELU (an hf-hub repository's config) in a record without an activation:
    its vectors were made with QuickGELU forced on, so loading is refused and says how to re-index."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    torch.manual_seed(6)
    _hub_cache_repo(
        cache,
        "someone/tiny-gelu",
        open_clip.create_model("tempme-tiny").state_dict(),
        open_clip.get_model_config("tempme-tiny"),
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    lib_dir = tmp_path / "lib"
    res = _index(
        lib_dir, str(_folder(tmp_path, CLIPS[0])), "--model", "tempme-tiny", "--pretrained", "hf-hub:someone/tiny-gelu"
    )
    assert res.exit_code == 0, res.output
    assert Library.open(lib_dir).encoder_info()["config"]["quick_gelu"] is False
    _forget_activation(lib_dir)
    res = CliRunner().invoke(cli, ["search", "a box", "--library", str(lib_dir)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "records no activation, so QuickGELU is assumed" in res.output
    assert (
        "tempme index --library NEW_DIR VIDEOS --model tempme-tiny --pretrained hf-hub:someone/tiny-gelu" in res.output
    )
