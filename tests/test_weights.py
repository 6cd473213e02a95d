"""Every weight source loads with the activation it was trained with; offline fails fast and clearly.

No network: tag and hf-hub routes read a real Hugging Face cache layout written in tmp_path
(``models--org--repo/snapshots/<commit>/file`` + ``refs/main``), exactly what huggingface_hub
leaves after a download; OpenAI's TorchScript archive is built here from a random model with
OpenAI's state-dict layout (fp16, plus its ``input_resolution`` / ``context_length`` /
``vocab_size`` entries). The activation each route must give comes from open_clip's pretrained
configs (``quick_gelu`` of the tag) and OpenAI's CLIP (QuickGELU).
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import open_clip
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import tempme.weights as weights
from tempme.encoder import load_encoder
from tempme.weights import WeightsUnavailableError, create_clip

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = Path(__file__).resolve().parents[1]


def _activations(model: nn.Module) -> set[str]:
    """The activation class names of every MLP in both towers."""
    blocks = list(model.visual.transformer.resblocks) + list(model.transformer.resblocks)
    return {type(b.mlp.gelu).__name__ for b in blocks}


def _put_in_cache(cache: Path, repo_id: str, filename: str, source: Path) -> Path:
    """Place ``source`` where huggingface_hub caches ``repo_id/filename`` (as a download would)."""
    root = cache / ("models--" + repo_id.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    target = root / "snapshots" / COMMIT / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source)
    return target


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any outgoing connection."""

    def refuse(self, address):
        raise AssertionError(f"network access to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def b32_cache(tmp_path_factory):
    """A Hugging Face cache holding random ViT-B/32 weights for the 'openai' and a LAION tag."""
    tmp = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32")
    blob = tmp / "blob.safetensors"
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(blob))
    cache = tmp / "hub"
    for tag in ("openai", "laion2b_s34b_b79k"):
        repo = open_clip.get_pretrained_cfg("ViT-B-32", tag)["hf_hub"].strip("/")
        _put_in_cache(cache, repo, "open_clip_model.safetensors", blob)
    return cache, model.state_dict()["visual.proj"]


def test_openai_tag_loads_quickgelu_and_laion_tag_gelu(b32_cache, no_network):
    cache, proj = b32_cache
    assert open_clip.get_pretrained_cfg("ViT-B-32", "openai")["quick_gelu"] is True  # open_clip's record
    openai = create_clip("ViT-B-32", "openai", cache_dir=str(cache))
    assert _activations(openai) == {"QuickGELU"}  # fails if the OpenAI tag path ever loads GELU
    assert openai.tempme_weights.kind == "tag"
    torch.testing.assert_close(openai.visual.proj, proj.half().float())  # the cached weights
    assert not open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k").get("quick_gelu")
    laion = create_clip("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(cache))
    assert _activations(laion) == {"GELU"}
    with pytest.raises(ValueError, match="--no-quick-gelu contradicts the 'openai' tag"):
        create_clip("ViT-B-32", "openai", quick_gelu=False, cache_dir=str(cache))


def test_cached_tag_file_passed_as_a_path_keeps_the_tags_activation(b32_cache, no_network):
    cache, _ = b32_cache
    path = next(cache.glob("models--timm--vit_base_patch32_clip_224.openai/snapshots/*/*"))
    model = create_clip("ViT-B-32", str(path))
    assert _activations(model) == {"QuickGELU"} and "cached 'openai' tag" in model.tempme_weights.reason
    laion = next(cache.glob("models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/snapshots/*/*"))
    assert _activations(create_clip("ViT-B-32", str(laion))) == {"GELU"}


def test_quickgelu_names_get_their_family_preset_and_the_encoder_records_the_activation(no_network):
    enc = load_encoder("ViT-B-32-quickgelu", "none", device="cpu")
    assert enc.config.quick_gelu is True and enc.info.config["quick_gelu"] is True
    assert (enc.plan.tokens_in, enc.plan.tokens_out) == (600, 97)  # the ViT-B-32 preset
    enc16 = load_encoder("ViT-B-16-quickgelu", "none", device="cpu")
    assert _activations(enc16.model) == {"QuickGELU"}
    assert (enc16.plan.tokens_in, enc16.plan.tokens_out) == (2364, 127)  # the ViT-B-16 preset
    width = enc16.model.visual.transformer.width
    patch = 12 * 196 * 3 * 16 * 16 * width
    assert (enc16.plan.macs(width) + patch) / 1e9 == pytest.approx(121.4, rel=0.02)
    assert weights.arch_quick_gelu("ViT-B-32") is False
    with pytest.raises(ValueError, match="no TempMe preset for architecture 'ViT-L-14'"):
        load_encoder("ViT-L-14", "none", device="cpu")


@pytest.fixture(scope="module")
def tiny_state(tmp_path_factory):
    torch.manual_seed(3)
    model = open_clip.create_model("tempme-tiny")
    return model.state_dict()


def _openai_archive(state: dict, path: Path) -> Path:
    """A TorchScript archive with OpenAI's layout: fp16 tensors under open_clip's key names,
    plus the three integer entries OpenAI's ``ViT-B-32.pt`` carries."""

    class Holder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    entries = {k: v.half() for k, v in state.items()}
    entries.update(input_resolution=torch.tensor(64), context_length=torch.tensor(77), vocab_size=torch.tensor(49408))
    for key, value in entries.items():
        *parents, leaf = key.split(".")
        mod = root
        for part in parents:
            if not hasattr(mod, part):
                mod.add_module(part, Holder())
            mod = getattr(mod, part)
        mod.register_buffer(leaf, value)
    torch.jit.save(torch.jit.script(root), str(path))
    return path


def test_openai_torchscript_archive_loads_with_quickgelu(tiny_state, tmp_path, no_network):
    path = _openai_archive(tiny_state, tmp_path / "ViT-tiny.pt")
    with pytest.raises(RuntimeError, match="weights_only"):
        torch.load(path, weights_only=True)  # why open_clip's own file loading refuses it
    model = create_clip("tempme-tiny", str(path))
    assert _activations(model) == {"QuickGELU"} and model.tempme_weights.kind == "openai-archive"
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, tiny_state[name].half().to(value.dtype), msg=name)
    assert next(model.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="contradicts"):
        create_clip("tempme-tiny", str(path), quick_gelu=False)


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_state_dict_files_take_the_explicit_activation_or_the_logged_default(tiny_state, tmp_path, suffix, caplog):
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    else:
        torch.save(tiny_state, path)
    with caplog.at_level(logging.WARNING, logger="tempme.weights"):
        default = create_clip("tempme-tiny", str(path))
    assert _activations(default) == {"GELU"}  # tempme-tiny's open_clip config, like ViT-B-32's
    assert "does not record its activation" in caplog.text and "--quick-gelu" in caplog.text
    assert _activations(create_clip("tempme-tiny", str(path), quick_gelu=True)) == {"QuickGELU"}
    assert _activations(create_clip("tempme-tiny", str(path), quick_gelu=False)) == {"GELU"}
    torch.testing.assert_close(default.visual.proj, tiny_state["visual.proj"])


def _hub_repo(cache: Path, repo_id: str, state: dict, model_cfg: dict, tmp: Path) -> None:
    weights_file = tmp / f"{repo_id.replace('/', '_')}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights_file))
    cfg_file = tmp / f"{repo_id.replace('/', '_')}.json"
    cfg_file.write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}})
    )
    _put_in_cache(cache, repo_id, "open_clip_model.safetensors", weights_file)
    _put_in_cache(cache, repo_id, "open_clip_config.json", cfg_file)


def test_hf_hub_ids_take_the_repositorys_activation_and_check_the_architecture(tiny_state, tmp_path, no_network):
    cache = tmp_path / "hub"
    cfg = open_clip.get_model_config("tempme-tiny")
    _hub_repo(cache, "someone/tiny-quickgelu", tiny_state, {**cfg, "quick_gelu": True}, tmp_path)
    _hub_repo(cache, "someone/tiny-gelu", tiny_state, cfg, tmp_path)
    qg = create_clip("tempme-tiny", "hf-hub:someone/tiny-quickgelu", cache_dir=str(cache))
    assert _activations(qg) == {"QuickGELU"} and qg.tempme_weights.kind == "hf-hub"
    assert tuple(qg.visual.preprocess_cfg["mean"]) == (0.5, 0.5, 0.5)  # the repository's preprocessing
    assert _activations(create_clip("tempme-tiny", "hf-hub:someone/tiny-gelu", cache_dir=str(cache))) == {"GELU"}
    with pytest.raises(ValueError, match="contradicts"):
        create_clip("tempme-tiny", "hf-hub:someone/tiny-quickgelu", quick_gelu=False, cache_dir=str(cache))
    with pytest.raises(WeightsUnavailableError, match="is not a ViT-B-32 model"):
        create_clip("ViT-B-32", "hf-hub:someone/tiny-gelu", cache_dir=str(cache))


def test_offline_tag_fails_without_touching_the_network(tmp_path, monkeypatch, no_network):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE is set") as info:
        create_clip("ViT-B-32", "openai", cache_dir=str(tmp_path))
    said = str(info.value)
    choices = ["--pretrained /path/to/file", "--model tempme-tiny --pretrained none", "(3) --pretrained none"]
    assert all(c in said for c in choices)
    assert [said.index(c) for c in choices] == sorted(said.index(c) for c in choices)  # in this order
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE"):
        create_clip("ViT-B-32", "hf-hub:someone/missing", cache_dir=str(tmp_path))


class _Mirror(http.server.BaseHTTPRequestHandler):
    """A Hugging Face mirror that is down: answers every request with 503 and counts them."""

    seen: list = []

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        type(self).seen.append(("HEAD", self.path))
        self.send_response(503)
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, *args):
        pass


def test_hf_endpoint_mirror_is_used_and_asked_once(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "HF_HUB_CACHE": str(tmp_path)}
        env.pop("HF_HUB_OFFLINE", None)
        code = (
            "import sys\n"
            "from tempme.weights import create_clip, WeightsUnavailableError\n"
            "try:\n    create_clip('ViT-B-32', 'openai')\n"
            "except WeightsUnavailableError as e:\n    print('ERROR', e); sys.exit(3)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO, timeout=900
        )
    finally:
        server.shutdown()
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"127.0.0.1:{server.server_port}" in proc.stdout and "--pretrained /path/to/file" in proc.stdout
    # exactly one file request, to the mirror, for open_clip's first file name: no retries, no
    # probe (huggingface_hub itself may ask the endpoint's /api/ about other things)
    files = [r for r in _Mirror.seen if "/resolve/" in r[1]]
    assert files == [("HEAD", "/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors")]


def test_bad_sources_say_what_to_do(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="broken.pt"):
        create_clip("tempme-tiny", str(bad), quick_gelu=False)
    with pytest.raises(WeightsUnavailableError, match="neither a file, an hf-hub: id nor a known tag"):
        create_clip("ViT-B-32", "no-such-tag")
    with pytest.raises(ValueError, match="unknown architecture"):
        create_clip("ViT-Z-99", "none")


def test_cached_tags_lists_only_what_the_cache_holds(tmp_path):
    """The page's first-run list: the tags whose weights sit in the Hugging Face cache layout
    (models--org--repo/refs/main + snapshots/REV/FILE), nothing else; no network involved."""
    from tempme.weights import HUB_WEIGHT_FILES, cached_tags

    assert cached_tags("ViT-B-32", cache_dir=str(tmp_path)) == []
    assert cached_tags("tempme-tiny", cache_dir=str(tmp_path)) == []  # no pretrained tags at all
    repo = open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")["hf_hub"].strip("/")  # org/repo
    files = HUB_WEIGHT_FILES
    folder = tmp_path / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snap = folder / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / files[0]).write_bytes(b"weights")
    assert cached_tags("ViT-B-32", cache_dir=str(tmp_path)) == ["laion2b_s34b_b79k"]
    assert cached_tags("ViT-B-16", cache_dir=str(tmp_path)) == []
    with pytest.raises(ValueError, match="unknown architecture"):
        cached_tags("ViT-X-99", cache_dir=str(tmp_path))
