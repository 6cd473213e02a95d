"""The encoder a library was built with: recorded in SQLite, checked on every add, reloaded for search.

A library holds vectors of exactly one encoder (architecture, pretrained tag or file, adapter
hash, TempMe settings). Its adapter, if any, is copied into ``<library>/adapter`` so that
searching needs nothing outside the library. Random weights (``pretrained="none"``) are drawn
from a fixed seed, so a later process rebuilds the same random encoder.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from sqlalchemy import select

from tempme.index.models import EncoderRecord

log = logging.getLogger(__name__)

RANDOM_SEED = 0  # weights for pretrained="none"


def recorded_info(lib) -> dict | None:
    """The library's EncoderInfo as a dict, or None before the first video was indexed."""
    with lib.Session() as s:
        rec = s.scalars(select(EncoderRecord).limit(1)).first()
        return json.loads(rec.info_json) if rec else None


def _identity(info: dict) -> tuple:
    cfg = dict(info.get("config") or {})
    return (info["arch"], str(info["pretrained"]), info.get("adapter_hash"), info["embed_dim"],
            info.get("num_frames"), info.get("merging"), json.dumps(cfg, sort_keys=True))


def load(model: str, pretrained: str, adapter: Path | None = None, config: dict | None = None,
         fold: bool = True):
    """Load an encoder for indexing or search (LoRA folded into the weights for inference)."""
    from tempme.config import TempMeConfig
    from tempme.encoder import load_encoder
    cfg = TempMeConfig.from_dict(config) if config else None
    if str(pretrained) == "none":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            enc = load_encoder(model=model, pretrained="none", adapter=adapter, config=cfg)
    else:
        enc = load_encoder(model=model, pretrained=pretrained, adapter=adapter, config=cfg)
    if fold:
        enc.fold_lora()
    return enc


def load_recorded(lib):
    """Load the encoder recorded in ``lib``.

    Raises:
        LibraryError: the library is empty (no encoder recorded yet) or its adapter is missing.
    """
    from tempme.index.library import LibraryError
    info = recorded_info(lib)
    if info is None:
        raise LibraryError(f"the library {lib.path} is empty: index some videos first")
    adapter = None
    if info.get("adapter_hash"):
        adapter = lib.path / "adapter"
        if not adapter.is_dir():
            raise LibraryError(f"{lib.path}: adapter {info['adapter_hash']} is missing from {adapter}")
    enc = load(info["arch"], info["pretrained"], adapter, info.get("config"))
    if _identity(enc.info.to_dict()) != _identity(info):
        raise LibraryError(f"{lib.path}: reloaded encoder {enc.info.describe()} differs from the recorded one")
    return enc


def check_request(lib, model: str, pretrained: str, adapter: Path | None, encoder=None) -> None:
    """Refuse, before any work, an encoder other than the library's.

    Raises:
        LibraryError: architecture, weights or adapter differ from the recorded encoder.
    """
    from tempme.index.library import LibraryError
    from tempme.encoder import EncoderInfo
    info = recorded_info(lib)
    if info is None:
        return
    if encoder is not None:
        if _identity(encoder.info.to_dict()) == _identity(info):
            return
        want = encoder.info.describe()
    else:
        digest = None
        if adapter is not None:
            from tempme.lora import adapter_hash
            try:
                digest = adapter_hash(Path(adapter))
            except OSError as exc:
                raise LibraryError(f"cannot read adapter {adapter}: {exc}") from exc
        if (model, str(pretrained), digest) == (info["arch"], str(info["pretrained"]), info.get("adapter_hash")):
            return
        want = f"{model} ({pretrained}, {digest or 'no adapter'})"
    raise LibraryError(
        f"{lib.path} was built with {EncoderInfo.from_dict(info).describe()}; cannot add videos "
        f"encoded with {want}. Use another --library, or the same --model/--pretrained/--adapter.")


def ensure_encoder(lib, model: str, pretrained: str, adapter: Path | None, encoder=None):
    """The encoder to index with: ``encoder`` or a freshly loaded one; recorded on first use.

    Raises:
        LibraryError: it differs from the encoder that built the library.
    """
    from tempme.index.library import LibraryError
    from tempme.encoder import EncoderInfo
    info = recorded_info(lib)
    if encoder is None:
        if info is not None and lib._encoder is not None and model == info["arch"] \
                and str(pretrained) == str(info["pretrained"]) and adapter is None \
                and not info.get("adapter_hash"):
            encoder = lib._encoder
        else:
            if info is not None:
                want = (model, str(pretrained))
                have = (info["arch"], str(info["pretrained"]))
                if want != have:
                    raise LibraryError(
                        f"{lib.path} was built with {EncoderInfo.from_dict(info).describe()}; "
                        f"cannot add videos encoded with {model} ({pretrained}). "
                        f"Use another --library, or the same --model/--pretrained/--adapter.")
            encoder = load(model, pretrained, adapter)
    new = encoder.info.to_dict()
    if info is not None:
        if _identity(new) != _identity(info):
            raise LibraryError(
                f"{lib.path} was built with {EncoderInfo.from_dict(info).describe()}; cannot add videos "
                f"encoded with {encoder.info.describe()}. Use another --library, or the same encoder.")
    else:
        if adapter is not None:
            shutil.copytree(adapter, lib.path / "adapter", dirs_exist_ok=True)
        with lib.Session() as s:
            s.add(EncoderRecord(arch=new["arch"], pretrained=str(new["pretrained"]),
                                adapter_hash=new.get("adapter_hash"), embed_dim=new["embed_dim"],
                                info_json=json.dumps(new)))
            s.commit()
        log.info("library %s: encoder %s", lib.path, encoder.info.describe())
    lib._encoder = encoder
    return encoder
