"""The torch-free query path: ONNX text tower (LoRA folded) + tokenizer vs the torch text tower.

Reference: ``VideoEncoder.encode_text`` — open_clip's tokenizer and ``CLIP.encode_text`` with
peft's LoRA applied at run time (not folded). The exported graph must give the same unit
vectors (cosine >= 1 - 1e-6) and the same top-10 against random unit vectors standing in for a
library, for random weights with random non-zero LoRA, QuickGELU and GELU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tempme.encoder import load_encoder
from tempme.lora import adapter_hash
from tempme.query_export import TextTower, export_query_model
from tempme.query_model import (
    ONNX_DATA_FILE,
    SIDECAR_FILE,
    QueryModel,
    QueryModelError,
    QueryModelIdentity,
    check_query_model,
    weights_fingerprint,
)

REPO = Path(__file__).resolve().parents[1]
COSINE_GAP = 1e-6
TOP_K = 10
LIBRARY_SIZE = 5000


def random_lora(encoder, seed: int = 0) -> None:
    """Give every LoRA B a non-zero value (A is already Kaiming-uniform), so the fold matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in encoder.model.named_parameters():
            if ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def captions(msrvtt_dir: Path, n: int) -> list[str]:
    """MSR-VTT test captions plus the cases that stress tokenization and pooling."""
    import csv

    with open(msrvtt_dir / "MSRVTT_JSFUSION_test.csv", newline="") as f:
        texts = [row["sentence"] for row in csv.DictReader(f)][:n]
    long = " ".join(["a man is playing the guitar on a stage while the crowd dances"] * 8)  # truncated at L
    return texts + ["", "   ", "a", "émoji 🐶 日本語", "<end_of_text> inside", long]


def equivalence(encoder, model: QueryModel, texts: list[str], seed: int = 0) -> tuple[float, float]:
    """(max cosine gap, fraction of queries with the same top-10) of ONNX against torch."""
    with torch.inference_mode():
        want = encoder.encode_text(texts).float().numpy()  # (Q, D)
    got = model.encode(texts)  # (Q, D)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    gap = float((1.0 - (want * got).sum(axis=1)).max())
    rng = np.random.default_rng(seed)
    library = rng.standard_normal((LIBRARY_SIZE, want.shape[1])).astype(np.float32)
    library /= np.linalg.norm(library, axis=1, keepdims=True)
    top_want = np.argsort(-(want @ library.T), axis=1)[:, :TOP_K]  # (Q, K)
    top_got = np.argsort(-(got @ library.T), axis=1)[:, :TOP_K]
    same = float((top_want == top_got).all(axis=1).mean())
    return gap, same


def exported(arch: str, quick_gelu: bool, folder: Path, seed: int = 0):
    encoder = load_encoder(arch, "none", device="cpu", quick_gelu=quick_gelu)
    random_lora(encoder, seed)
    t0 = time.perf_counter()
    export_query_model(encoder, folder)
    return encoder, time.perf_counter() - t0


@pytest.fixture(scope="module", params=[False, True], ids=["gelu", "quickgelu"])
def tiny(request, tmp_path_factory):
    """(encoder, query model folder) for tempme-tiny, random weights, GELU and QuickGELU, with a
    random non-zero LoRA loaded from an adapter folder (so the record carries an adapter hash)."""
    root = tmp_path_factory.mktemp(f"qm-tiny-{request.param}")
    trained = load_encoder("tempme-tiny", "none", device="cpu", quick_gelu=request.param)
    random_lora(trained, seed=3)
    trained.save_adapter(root / "adapter")
    encoder = load_encoder("tempme-tiny", "none", device="cpu", adapter=root / "adapter")
    assert encoder.config.quick_gelu == request.param
    export_query_model(encoder, root / "qm")
    return encoder, root / "qm"


@pytest.mark.parametrize("prepack", [True, False], ids=["prepacked", "one-shot"])
def test_tiny_equivalence(tiny, msrvtt_dir, prepack):
    encoder, folder = tiny
    model = QueryModel(folder, QueryModelIdentity.from_encoder_record(encoder.info.to_dict()), prepack=prepack)
    gap, same = equivalence(encoder, model, captions(msrvtt_dir, 200))
    print(f"tempme-tiny quick_gelu={encoder.config.quick_gelu} prepack={prepack}: max cosine gap {gap:.2e}")
    assert gap <= COSINE_GAP and same == 1.0
    # batch independence: one query at a time gives the batch's vectors
    texts = ["a dog", "a cat jumps over the fence"]
    np.testing.assert_allclose(
        np.concatenate([model.encode([t]) for t in texts]), model.encode(texts), rtol=0, atol=1e-6
    )


def test_activation_and_lora_matter(tiny):
    """The references differ where the export could go wrong: LoRA and the activation change vectors."""
    encoder, folder = tiny
    texts = ["a dog runs on the beach"]
    other = load_encoder("tempme-tiny", "none", device="cpu", quick_gelu=not encoder.config.quick_gelu)
    random_lora(other)
    plain = load_encoder("tempme-tiny", "none", device="cpu", quick_gelu=encoder.config.quick_gelu)
    with torch.inference_mode():
        v, v_act, v_nolora = (e.encode_text(texts).numpy() for e in (encoder, other, plain))
    assert (v * v_act).sum() < 1 - 1e-3 and (v * v_nolora).sum() < 1 - 1e-3
    # export folds a copy: the encoder keeps its unfolded LoRA and its vectors
    tower = TextTower(encoder.model)
    assert tower.folded == len(encoder.model.transformer.resblocks)
    with torch.inference_mode():
        np.testing.assert_array_equal(encoder.encode_text(texts).numpy(), v)
        tokens = encoder.tokenize(texts)
        np.testing.assert_allclose(tower(tokens).numpy(), v, atol=1e-6)


def test_runtime_contract(tiny):
    encoder, folder = tiny
    model = QueryModel(folder, threads=2)
    assert (model.embed_dim, model.context_length) == (encoder.embed_dim, encoder.config.text_context)
    assert model.encode([]).shape == (0, encoder.embed_dim)
    with pytest.raises(TypeError):
        model.encode("a dog")
    with pytest.raises(ValueError, match="threads"):
        QueryModel(folder, threads=0)
    np.testing.assert_array_equal(model.tokenize(["a dog"]), encoder.tokenize(["a dog"]).numpy())
    sidecar = json.loads((folder / SIDECAR_FILE).read_text())
    assert sidecar["identity"]["quick_gelu"] == encoder.config.quick_gelu
    assert sidecar["lora_layers_folded"] == 3 and sidecar["identity"]["opset"] == 18


def test_adapter_identity_and_staleness(tiny):
    """The adapter's hash ties the export to the encoder; another encoder sees it as stale."""
    encoder, folder = tiny
    assert encoder.info.adapter_hash == adapter_hash(folder.parent / "adapter")
    record = encoder.info.to_dict()
    identity = QueryModelIdentity.from_encoder_record(record)
    assert identity.adapter_hash == encoder.info.adapter_hash and identity.weights == "none"
    assert check_query_model(folder, identity)["key"] == identity.key
    for change, field in [
        ({"adapter_hash": None}, "adapter_hash"),
        ({"config": {**record["config"], "quick_gelu": not encoder.config.quick_gelu}}, "quick_gelu"),
        ({"config": {**record["config"], "text_context": 16}}, "context_length"),
        ({"arch": "ViT-B-32"}, "arch"),
    ]:
        with pytest.raises(QueryModelError, match=f"stale: .*{field}"):
            QueryModel(folder, QueryModelIdentity.from_encoder_record({**record, **change}))
    with pytest.raises(QueryModelError, match="stale: opset"):
        check_query_model(folder, QueryModelIdentity.from_encoder_record(record, opset=19))
    # the merge settings shape video vectors only: the text tower stays fresh
    fresh = {**record, "config": {**record["config"], "cross_keep": 0.5}, "merging": False}
    check_query_model(folder, QueryModelIdentity.from_encoder_record(fresh))


def test_broken_folders(tiny, tmp_path):
    encoder, folder = tiny
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    check_query_model(copy, verify=True)
    sidecar = json.loads((copy / SIDECAR_FILE).read_text())
    edited = QueryModelIdentity(**{**sidecar["identity"], "context_length": 16})  # a sidecar that lies, consistently
    (copy / SIDECAR_FILE).write_text(json.dumps({**sidecar, "identity": edited.to_dict(), "key": edited.key}))
    with pytest.raises(QueryModelError, match="corrupt: the graph maps tokens"):
        QueryModel(copy)
    (copy / SIDECAR_FILE).write_text(json.dumps(sidecar))
    with pytest.raises(QueryModelError, match="missing"):
        QueryModel(tmp_path / "nowhere")
    data = copy / ONNX_DATA_FILE
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # same size, other bytes: only verify sees it
    data.write_bytes(bytes(blob))
    check_query_model(copy)
    with pytest.raises(QueryModelError, match="sha256"):
        check_query_model(copy, verify=True)
    data.write_bytes(bytes(blob[:-4]))
    with pytest.raises(QueryModelError, match="corrupt: text_tower.onnx.data has"):
        QueryModel(copy)
    data.unlink()
    with pytest.raises(QueryModelError, match="incomplete"):
        QueryModel(copy)
    sidecar = json.loads((copy / SIDECAR_FILE).read_text())
    sidecar["identity"]["embed_dim"] += 1  # hand-edited: the key no longer matches
    (copy / SIDECAR_FILE).write_text(json.dumps(sidecar))
    with pytest.raises(QueryModelError, match="key does not match"):
        QueryModel(copy)
    (copy / SIDECAR_FILE).write_text("{")
    with pytest.raises(QueryModelError, match="unreadable"):
        QueryModel(copy)


def test_weights_fingerprint(tmp_path):
    ckpt = tmp_path / "w.bin"
    ckpt.write_bytes(b"12345")
    first = weights_fingerprint(str(ckpt))
    assert first.startswith(f"file:{ckpt.resolve()}:5:")
    os.utime(ckpt, ns=(1, 1))
    assert weights_fingerprint(str(ckpt)) != first  # a replaced file makes exports stale
    assert weights_fingerprint("openai") == "openai" and weights_fingerprint("none") == "none"


def test_no_torch_in_the_query_path(tiny):
    """Loading and running a query model imports neither torch, open_clip, transformers nor gradio."""
    encoder, folder = tiny
    with torch.inference_mode():
        want = encoder.encode_text(["a dog on the beach"]).numpy()
    code = textwrap.dedent(
        f"""
        import sys, json
        import tempme
        from tempme.query_model import QueryModel
        v = QueryModel({str(folder)!r}).encode(["a dog on the beach"])
        heavy = sorted(m for m in ("torch", "open_clip", "transformers", "gradio", "torchvision") if m in sys.modules)
        print(json.dumps({{"heavy": heavy, "v": v[0].tolist()}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    np.testing.assert_allclose(np.array(result["v"], dtype=np.float32), want[0], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch, quick_gelu", [("ViT-B-32", True), ("ViT-B-32", False), ("ViT-B-16", True)], ids=["b32-qg", "b32-gelu", "b16"]
)
def test_full_size_equivalence(arch, quick_gelu, tmp_path, msrvtt_dir):
    encoder, seconds = exported(arch, quick_gelu, tmp_path / "qm", seed=1)
    model = QueryModel(tmp_path / "qm", QueryModelIdentity.from_encoder_record(encoder.info.to_dict()))
    gap, same = equivalence(encoder, model, captions(msrvtt_dir, 200))
    print(
        f"{arch} quick_gelu={quick_gelu}: export {seconds:.1f} s, max cosine gap {gap:.2e}, top-{TOP_K} same {same:.0%}"
    )
    assert gap <= COSINE_GAP and same == 1.0
