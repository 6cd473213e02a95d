"""The encoder a library was built with: recorded in the catalog, checked on every add, reloaded for search.

A library holds vectors of exactly one encoder (architecture, pretrained tag or file, adapter
hash, TempMe settings). Its adapter, if any, is copied into ``<library>/adapter`` so that
searching needs nothing outside the library. Random weights (``pretrained="none"``) are drawn
from a fixed seed, so a later process rebuilds the same random encoder.

Two checks, each once: :func:`check_request` compares what was asked for (names and adapter
hash, no model loaded) with the record before any work; :func:`bind` verifies a loaded
encoder's full identity against the record (or records it on first use).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from tempme.index.catalog import Catalog
from tempme.index.types import LibraryError, describe_encoder

log = logging.getLogger(__name__)

RANDOM_SEED = 0  # weights for pretrained="none"


@dataclass(frozen=True)
class EncoderSpec:
    """What it takes to build the encoder anywhere (another process, a Ray actor):
    ``load(spec.model, spec.pretrained, spec.adapter, spec.config)``."""

    model: str
    pretrained: str
    adapter: Path | None = None
    config: dict | None = None  # TempMeConfig.to_dict(); None: the model's preset


@dataclass(frozen=True)
class EncoderHandle:
    """A loaded encoder together with the spec it can be rebuilt from; what executors receive."""

    spec: EncoderSpec
    model: object  # tempme.encoder.VideoEncoder


def load(model: str, pretrained: str, adapter: Path | None = None, config: dict | None = None, fold: bool = True):
    """Load an encoder for indexing or search (LoRA folded into the weights for inference)."""
    import torch

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


def _identity(info: dict) -> tuple:
    cfg = dict(info.get("config") or {})
    return (
        info["arch"],
        str(info["pretrained"]),
        info.get("adapter_hash"),
        info["embed_dim"],
        info.get("num_frames"),
        info.get("merging"),
        json.dumps(cfg, sort_keys=True),
    )


def _describe(info: dict) -> str:
    return describe_encoder(info)


def recorded_spec(catalog: Catalog, library_dir: Path) -> EncoderSpec:
    """The spec of the library's recorded encoder.

    Raises:
        LibraryError: the library is empty (no encoder recorded yet) or its adapter is missing.
    """
    info = catalog.encoder_info()
    if info is None:
        raise LibraryError(f"the library {library_dir} is empty: index some videos first")
    adapter = None
    if info.get("adapter_hash"):
        adapter = Path(library_dir) / "adapter"
        if not adapter.is_dir():
            raise LibraryError(f"{library_dir}: adapter {info['adapter_hash']} is missing from {adapter}")
    return EncoderSpec(info["arch"], str(info["pretrained"]), adapter, info.get("config"))


def resolve_request(
    catalog: Catalog, library_dir: Path, model: str | None, pretrained: str | None, adapter: Path | None
) -> EncoderSpec:
    """The encoder to index with: what was given, the rest from the library's record, so that
    ``tempme index DIR`` on an existing library needs no encoder flags.

    Raises:
        LibraryError: nothing is recorded yet and no ``model`` was given; the recorded adapter is missing.
    """
    info = catalog.encoder_info()
    if info is None:
        if model is None:
            raise LibraryError(f"the library {library_dir} has no encoder yet: give --model and --pretrained")
        return EncoderSpec(model, str(pretrained or "openai"), Path(adapter) if adapter else None)
    recorded = recorded_spec(catalog, library_dir)
    if model is None and pretrained is None and adapter is None:
        return recorded
    return EncoderSpec(
        model or recorded.model,
        str(pretrained or recorded.pretrained),
        Path(adapter) if adapter else recorded.adapter,
        recorded.config if model is None or model == recorded.model else None,
    )


def check_request(catalog: Catalog, library_dir: Path, spec: EncoderSpec) -> None:
    """Refuse, before any work, an encoder other than the library's (names and adapter hash).

    Raises:
        LibraryError: architecture, weights or adapter differ from the recorded encoder, or
            the adapter folder is not an adapter (checked for a new library too).
    """
    info = catalog.encoder_info()
    digest = None
    if spec.adapter is not None:
        from tempme.lora import AdapterError, adapter_hash

        try:
            digest = adapter_hash(Path(spec.adapter))
        except (OSError, AdapterError) as exc:
            raise LibraryError(f"cannot use adapter {spec.adapter}: {exc}") from None
    if info is None:
        return
    if (spec.model, str(spec.pretrained), digest) != (info["arch"], str(info["pretrained"]), info.get("adapter_hash")):
        raise LibraryError(
            f"{library_dir} was built with {_describe(info)}; cannot add videos encoded with "
            f"{spec.model} ({spec.pretrained}, {digest or 'no adapter'}). "
            "Use another --library, or the same --model/--pretrained/--adapter."
        )


def bind(catalog: Catalog, library_dir: Path, encoder, spec: EncoderSpec) -> EncoderHandle:
    """Check a loaded ``encoder`` against the record, or record it (and copy its adapter) when
    the library has none yet.

    Raises:
        LibraryError: its identity differs from the encoder that built the library.
    """
    info, new = catalog.encoder_info(), encoder.info.to_dict()
    if info is None:
        if spec.adapter is not None and Path(spec.adapter).resolve() != (Path(library_dir) / "adapter").resolve():
            shutil.copytree(spec.adapter, Path(library_dir) / "adapter", dirs_exist_ok=True)
        catalog.record_encoder(new)
        log.info("library %s: encoder %s", library_dir, encoder.info.describe())
    elif _identity(new) != _identity(info):
        raise LibraryError(
            f"{library_dir} was built with {_describe(info)}; cannot add videos encoded with "
            f"{encoder.info.describe()}. Use another --library, or the same encoder."
        )
    return EncoderHandle(spec, encoder)
