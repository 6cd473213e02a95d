"""The encoder a library was built with: recorded in the catalog, checked on every add, reloaded for search.

A library holds vectors of exactly one encoder (architecture, pretrained tag or file, adapter
hash, TempMe settings, activation). Its adapter, if any, is copied into ``<library>/adapter`` so that
searching needs nothing outside the library. Random weights (``pretrained="none"``) are drawn
from a fixed seed, so a later process rebuilds the same random encoder.

The record is an :class:`EncoderInfo` (``tempme.encoder.EncoderInfo.to_dict()`` as the catalog
stores it, read without importing torch); two records are the same encoder when
:meth:`EncoderInfo.identity` agrees (``==``), the one rule for binding, reloading after another
process re-encoded the library, and resuming a reindex.

Two checks, each once: :func:`check_request` compares what was asked for (names, adapter
hash and an explicit activation, no model loaded) with the record before any work; :func:`bind`
verifies a loaded encoder's full identity against the record (or records it on first use).

The activation (QuickGELU or GELU, ``TempMeConfig.quick_gelu``) is part of the recorded config.
Libraries recorded before tempme recorded it have none; every tempme of that time built its
encoders with QuickGELU whatever the weights, so such a library reloads with QuickGELU (the
activation its vectors were made with) and says so in a warning (:data:`LEGACY_QUICK_GELU`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from tempme.index.catalog import LEGACY_QUICK_GELU, Catalog, EncoderInfo
from tempme.index.errors import LibraryError

log = logging.getLogger(__name__)

RANDOM_SEED = 0  # weights for pretrained="none"


@dataclass(frozen=True)
class EncoderSpec:
    """What it takes to build the encoder anywhere (another process, a Ray actor):
    ``load_spec(spec)``."""

    model: str
    pretrained: str
    adapter: Path | None = None
    config: dict | None = None  # TempMeConfig.to_dict(); None: the model's preset (or the adapter's)
    # QuickGELU (True) or GELU (False) where the weights cannot tell (a local state dict);
    # None: the weights decide (tempme.weights.resolve_weights, which logs the choice and why)
    quick_gelu: bool | None = None


@dataclass(frozen=True)
class EncoderHandle:
    """A loaded encoder together with the spec it can be rebuilt from; what executors receive."""

    spec: EncoderSpec
    model: object  # tempme.encoder.VideoEncoder


def load(
    model: str,
    pretrained: str,
    adapter: Path | None = None,
    config: dict | None = None,
    fold: bool = True,
    quick_gelu: bool | None = None,
):
    """Load an encoder for indexing or search (LoRA folded into the weights for inference).

    ``quick_gelu``: the activation where the weights cannot tell (see
    :func:`tempme.encoder.load_encoder`); default ``config["quick_gelu"]``, else the weights decide.

    Raises:
        ValueError: ``quick_gelu`` contradicts the weights, or an invalid config.
        tempme.weights.WeightsUnavailableError, tempme.lora.AdapterError: as ``load_encoder``.
    """
    import torch

    from tempme.config import TempMeConfig
    from tempme.encoder import load_encoder

    cfg = TempMeConfig.from_dict(config) if config else None
    if str(pretrained) == "none":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            enc = load_encoder(model=model, pretrained="none", adapter=adapter, config=cfg, quick_gelu=quick_gelu)
    else:
        enc = load_encoder(model=model, pretrained=pretrained, adapter=adapter, config=cfg, quick_gelu=quick_gelu)
    if fold:
        enc.fold_lora()
    return enc


def load_spec(spec: EncoderSpec, fold: bool = True):
    """:func:`load` the encoder ``spec`` describes."""
    return load(spec.model, spec.pretrained, spec.adapter, spec.config, fold=fold, quick_gelu=spec.quick_gelu)


def load_for_library(catalog: Catalog, library_dir: Path, spec: EncoderSpec):
    """:func:`load_spec` for a library: weights that refuse the activation it records (or assumes,
    :data:`LEGACY_QUICK_GELU`) are a :class:`LibraryError` that says how to recover.

    Raises:
        LibraryError: the activation contradicts the weights.
        tempme.weights.WeightsUnavailableError, tempme.lora.AdapterError: as ``load_encoder``.
    """
    try:
        return load_spec(spec)
    except ValueError as exc:
        info = catalog.encoder_info()
        if info is not None and info.quick_gelu is None:
            raise LibraryError(
                f"{library_dir} records no activation, so {activation_name(LEGACY_QUICK_GELU)} is assumed "
                f"(what made its vectors), but {exc}: its vectors were made with the wrong activation. "
                f"Re-index into a new library: tempme index --library NEW_DIR VIDEOS --model {spec.model} "
                f"--pretrained {spec.pretrained}"
            ) from None
        raise LibraryError(f"{library_dir}: {exc}") from None


def activation_name(quick_gelu: bool | None) -> str:
    return "unrecorded" if quick_gelu is None else ("QuickGELU" if quick_gelu else "GELU")


def recorded_spec(catalog: Catalog, library_dir: Path) -> EncoderSpec:
    """The spec of the library's recorded encoder, with its recorded activation.

    A library recorded without an activation gets QuickGELU (:data:`LEGACY_QUICK_GELU`, what
    built its vectors), with a warning that names it and how to re-index.

    Raises:
        LibraryError: the library is empty (no encoder recorded yet) or its adapter is missing.
    """
    info = catalog.encoder_info()
    if info is None:
        raise LibraryError(f"the library {library_dir} is empty: index some videos first")
    adapter = None
    if info.adapter_hash:
        adapter = Path(library_dir) / "adapter"
        if not adapter.is_dir():
            raise LibraryError(f"{library_dir}: adapter {info.adapter_hash} is missing from {adapter}")
    qg = info.quick_gelu
    if qg is None:
        qg = LEGACY_QUICK_GELU
        log.warning(
            "library %s records no activation (made by a tempme that used QuickGELU for every weight "
            "source): assuming %s, which made its vectors. If %s was trained with GELU (LAION / DataComp "
            "tags, most open_clip checkpoints), re-index into a new library: "
            "tempme index --library NEW_DIR VIDEOS --model %s --pretrained %s [--no-quick-gelu]",
            library_dir,
            activation_name(qg),
            info.pretrained,
            info.arch,
            info.pretrained,
        )
    return EncoderSpec(info.arch, info.pretrained, adapter, info.config or None, qg)


def resolve_request(
    catalog: Catalog,
    library_dir: Path,
    model: str | None,
    pretrained: str | None,
    adapter: Path | None,
    quick_gelu: bool | None = None,
) -> EncoderSpec:
    """The encoder to index with: what was given, the rest from the library's record, so that
    ``tempme index DIR`` on an existing library needs no encoder flags (its activation included).

    ``quick_gelu``: the ``--quick-gelu/--no-quick-gelu`` option (None: not given).

    Raises:
        LibraryError: nothing is recorded yet and no ``model`` was given; the recorded adapter is missing.
    """
    info = catalog.encoder_info()
    if info is None:
        if model is None:
            raise LibraryError(f"the library {library_dir} has no encoder yet: give --model and --pretrained")
        return EncoderSpec(model, str(pretrained or "openai"), Path(adapter) if adapter else None, None, quick_gelu)
    recorded = recorded_spec(catalog, library_dir)
    if model is None and pretrained is None and adapter is None and quick_gelu is None:
        return recorded
    same_weights = (model is None or model == recorded.model) and (
        pretrained is None or str(pretrained) == recorded.pretrained
    )
    return EncoderSpec(
        model or recorded.model,
        str(pretrained or recorded.pretrained),
        Path(adapter) if adapter else recorded.adapter,
        recorded.config if model is None or model == recorded.model else None,
        # the recorded activation belongs to the recorded weights: other weights decide their own
        quick_gelu if quick_gelu is not None or not same_weights else recorded.quick_gelu,
    )


def check_request(catalog: Catalog, library_dir: Path, spec: EncoderSpec) -> None:
    """Refuse, before any work, an encoder other than the library's (names and adapter hash).

    Raises:
        LibraryError: architecture, weights, adapter or activation differ from the recorded
            encoder, or the adapter folder is not an adapter (checked for a new library too).
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
    if (spec.model, str(spec.pretrained), digest) != (info.arch, info.pretrained, info.adapter_hash):
        raise LibraryError(
            f"{library_dir} was built with {info.describe()}; cannot add videos encoded with "
            f"{spec.model} ({spec.pretrained}, {digest or 'no adapter'}). "
            "Use another --library, or the same --model/--pretrained/--adapter."
        )
    recorded_qg = LEGACY_QUICK_GELU if info.quick_gelu is None else info.quick_gelu
    if spec.quick_gelu is not None and spec.quick_gelu != recorded_qg:
        raise LibraryError(
            f"{library_dir} was built with {activation_name(recorded_qg)}; cannot add videos encoded with "
            f"{activation_name(spec.quick_gelu)}. Use another --library, or drop --quick-gelu/--no-quick-gelu."
        )


def bind(catalog: Catalog, library_dir: Path, encoder, spec: EncoderSpec) -> EncoderHandle:
    """Check a loaded ``encoder`` against the record, or record it (and copy its adapter) when
    the library has none yet.

    Raises:
        LibraryError: its identity differs from the encoder that built the library.
    """
    info, new = catalog.encoder_info(), EncoderInfo.of(encoder)
    if info is None:
        if spec.adapter is not None and Path(spec.adapter).resolve() != (Path(library_dir) / "adapter").resolve():
            shutil.copytree(spec.adapter, Path(library_dir) / "adapter", dirs_exist_ok=True)
        catalog.record_encoder(new)
        log.info("library %s: encoder %s", library_dir, encoder.info.describe())
    elif new != info:
        raise LibraryError(
            f"{library_dir} was built with {info.describe()}; cannot add videos encoded with "
            f"{encoder.info.describe()}. Use another --library, or the same encoder."
        )
    # the resolved activation travels with the spec, so a rebuilt encoder (a Ray actor) gets it
    return EncoderHandle(replace(spec, quick_gelu=new.quick_gelu), encoder)


def loaded_spec(encoder, adapter: Path | None = None) -> EncoderSpec:
    """The spec of an already loaded ``tempme.encoder.VideoEncoder`` (``adapter``: its adapter
    folder, to copy into a new library), with the activation it was built with."""
    info = EncoderInfo.of(encoder)
    return EncoderSpec(
        info.arch, info.pretrained, Path(adapter) if adapter else None, info.config or None, info.quick_gelu
    )


def load_recorded(catalog: Catalog, library_dir: Path):
    """The library's own encoder: loaded from the record, checked against it (:func:`bind`).

    Raises:
        LibraryError: an empty library, a missing adapter, a reloaded encoder that differs.
    """
    spec = recorded_spec(catalog, library_dir)
    return bind(catalog, library_dir, load_for_library(catalog, library_dir, spec), spec).model
