"""Adapter folders against independent references: stock peft loads the LoRA part into a stock
open_clip model, folders of the previous tempme layout (written here by a local writer of that
layout, not by tempme) still load bit-exactly, and the hash does not depend on the layout."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import open_clip
import pytest
import torch
from peft import PeftConfig, PeftModel
from safetensors.torch import load_file, save_file

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder
from tempme.lora import AdapterError, adapter_hash

logging.getLogger("tempme").setLevel(logging.ERROR)

FRAMES = torch.randn(2, 12, 3, 64, 64, generator=torch.Generator().manual_seed(5))
TEXTS = ["a red circle moves along the top", "two people arm wrestling"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random tiny CLIP weights in a local file (the --pretrained PATH route)."""
    torch.manual_seed(1)
    model = open_clip.create_model("tempme-tiny", pretrained=None)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def trained_encoder(checkpoint, seed=0, **config):
    """An encoder whose LoRA A/B and temporal embeddings are random (as if trained)."""
    enc = load_encoder(
        "tempme-tiny",
        str(checkpoint),
        device="cpu",
        config=TempMeConfig.preset("tempme-tiny", **config) if config else None,
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in enc.trainable_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return enc


def write_format1_adapter(enc, directory: Path) -> Path:
    """The layout tempme wrote before peft's: every trained tensor under the model's parameter
    names in ``adapter.safetensors`` and the TempMe config as JSON (written without tempme.lora)."""
    directory.mkdir(parents=True)
    tensors = {n: p.detach().contiguous().cpu() for n, p in enc.model.named_parameters() if p.requires_grad}
    save_file(tensors, str(directory / "adapter.safetensors"))
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(enc.config).items()}
    (directory / "tempme_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "adapter_meta.json").write_text(json.dumps({"format": 1}) + "\n")
    return directory


def outputs(enc):
    with torch.inference_mode():
        return enc.encode_video(FRAMES), enc.encode_text(TEXTS)


def test_folder_has_peft_layout_and_round_trips_bit_exactly(checkpoint, tmp_path):
    enc = trained_encoder(checkpoint)
    digest = enc.save_adapter(tmp_path / "a", meta={"step": 7})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "adapter_config.json",
        "adapter_meta.json",
        "adapter_model.safetensors",
        "tempme_config.json",
        "tempme_temporal.safetensors",
    ]
    peft_config = PeftConfig.from_pretrained(str(tmp_path / "a"))  # peft's own reader
    assert (peft_config.peft_type, peft_config.r, peft_config.lora_alpha, peft_config.lora_dropout) == (
        "LORA",
        8,
        8,
        0.0,
    )
    assert len(peft_config.target_parameters) == 9 and peft_config.base_model_name_or_path == "tempme-tiny"
    lora = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert "base_model.model.visual.transformer.resblocks.0.attn.lora_A.weight" in lora and len(lora) == 18
    assert set(load_file(str(tmp_path / "a" / "tempme_temporal.safetensors"))) == {
        f"visual.transformer.resblocks.{i}.tempme_temporal" for i in (2, 3, 4)
    }
    meta = json.loads((tmp_path / "a" / "adapter_meta.json").read_text())
    assert meta["format"] == 2 and meta["step"] == 7
    assert meta["parameters"] == sum(p.numel() for p in enc.trainable_parameters())

    again = load_encoder("tempme-tiny", str(checkpoint), adapter=tmp_path / "a", device="cpu")
    assert again.info.adapter_hash == digest == adapter_hash(tmp_path / "a")
    for a, b in zip(outputs(enc), outputs(again)):
        assert torch.equal(a, b)


def test_stock_peft_loads_the_lora_into_stock_open_clip(checkpoint, tmp_path):
    """peft's PeftModel.from_pretrained, on an unpatched open_clip model, reads our folder: same
    LoRA tensors, and the same text embeddings as our encoder (the text tower has no TempMe parts)."""
    enc = trained_encoder(checkpoint, seed=2)
    enc.save_adapter(tmp_path / "a")
    stock = open_clip.create_model("tempme-tiny", pretrained=str(checkpoint))  # GELU: tempme-tiny config, as our loader
    peft_model = PeftModel.from_pretrained(stock, str(tmp_path / "a")).eval()
    ours = {n: p for n, p in enc.model.named_parameters() if ".lora_" in n}
    theirs = {n.removeprefix("base_model.model."): p for n, p in peft_model.named_parameters() if ".lora_" in n}
    assert ours.keys() == theirs.keys() and len(ours) == 18
    for name in ours:
        assert torch.equal(theirs[name], ours[name]), name
    with torch.inference_mode():
        ref = torch.nn.functional.normalize(
            peft_model.encode_text(open_clip.tokenize(TEXTS, context_length=77)), dim=-1
        )
    torch.testing.assert_close(outputs(enc)[1], ref, atol=1e-5, rtol=0)


def test_format1_folder_still_loads_bit_exactly_with_the_same_hash(checkpoint, tmp_path):
    enc = trained_encoder(checkpoint, seed=3)
    old = write_format1_adapter(enc, tmp_path / "old")
    file_hash = hashlib.sha256((old / "adapter.safetensors").read_bytes()).hexdigest()[:16]
    loaded = load_encoder("tempme-tiny", str(checkpoint), adapter=old, device="cpu")
    assert loaded.info.adapter_hash == adapter_hash(old) == file_hash  # libraries keep their recorded hash
    for a, b in zip(outputs(enc), outputs(loaded)):
        assert torch.equal(a, b)
    # the same weights re-saved in peft's layout keep the hash
    assert loaded.save_adapter(tmp_path / "new") == file_hash == adapter_hash(tmp_path / "new")
    # saving over an old folder replaces its weights file (a stale one would shadow the new adapter)
    other = trained_encoder(checkpoint, seed=4)
    digest = other.save_adapter(old)
    assert not (old / "adapter.safetensors").exists() and adapter_hash(old) == digest != file_hash
    write_format1_adapter(enc, tmp_path / "both")
    (tmp_path / "both" / "tempme_temporal.safetensors").write_bytes((old / "tempme_temporal.safetensors").read_bytes())
    with pytest.raises(AdapterError, match="holds two adapters: adapter.safetensors .*tempme_temporal.safetensors"):
        adapter_hash(tmp_path / "both")


def test_adapters_without_lora_or_without_temporal_embeddings(checkpoint, tmp_path):
    for name, config, files in (
        ("no-lora", dict(lora_rank=0), {"tempme_temporal.safetensors"}),
        ("no-temporal", dict(temporal_embed=False), {"adapter_model.safetensors", "adapter_config.json"}),
    ):
        enc = trained_encoder(checkpoint, **config)
        digest = enc.save_adapter(tmp_path / name)
        weights = {p.name for p in (tmp_path / name).iterdir()} - {"tempme_config.json", "adapter_meta.json"}
        assert weights == files, name
        again = load_encoder("tempme-tiny", str(checkpoint), adapter=tmp_path / name, device="cpu")
        assert again.info.adapter_hash == digest
        for a, b in zip(outputs(enc), outputs(again)):
            assert torch.equal(a, b), name


def test_bad_adapter_folders_give_one_clear_error(checkpoint, tmp_path):
    enc = trained_encoder(checkpoint)
    enc.save_adapter(tmp_path / "a")
    (tmp_path / "a" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(AdapterError, match="adapter_model.safetensors is not a readable safetensors file"):
        load_encoder("tempme-tiny", str(checkpoint), adapter=tmp_path / "a", device="cpu")
    with pytest.raises(AdapterError, match="adapter_model.safetensors is not a readable"):
        adapter_hash(tmp_path / "a")
    enc.save_adapter(tmp_path / "b")
    (tmp_path / "b" / "tempme_temporal.safetensors").unlink()
    with pytest.raises(AdapterError, match="3 missing tensors .*tempme_temporal"):
        load_encoder("tempme-tiny", str(checkpoint), adapter=tmp_path / "b", device="cpu")
    with pytest.raises(AdapterError, match="not an adapter directory: tempme_config.json is missing"):
        adapter_hash(tmp_path)
    r4 = trained_encoder(checkpoint, lora_rank=4)
    r4.save_adapter(tmp_path / "r4")
    with pytest.raises(AdapterError, match=r"lora_A.default.weight: adapter shape \(4, 64\) != model \(8, 64\)"):
        load_encoder(
            "tempme-tiny",
            str(checkpoint),
            adapter=tmp_path / "r4",
            device="cpu",
            config=TempMeConfig.preset("tempme-tiny"),
        )
