"""Reducers by name, for the CLI and the benchmark."""

from __future__ import annotations

from tempme.llm.bvllm import BVLLMAdapted
from tempme.llm.holitom import HoliTom
from tempme.llm.inner import FastV, HoliTomInnerMerge, InnerReducer
from tempme.llm.outer import Identity, OuterReducer
from tempme.llm.pooling import ToMeMerge, UniformPooling
from tempme.llm.vqtoken import VQToken

OUTER = {
    "none": Identity,
    "uniform": UniformPooling,
    "tome": ToMeMerge,
    "holitom": HoliTom,
    "vqtoken": VQToken,
    "bvllm-clip": BVLLMAdapted,
}
INNER = {"fastv": FastV, "holitom-inner": HoliTomInnerMerge}
DEFAULT_INNER = {"holitom": "holitom-inner"}
"""The paper's full method pairs the outer stage with its inner merge."""


def build_outer(name: str, **options) -> OuterReducer:
    """The outer reducer ``name`` with its keyword options (e.g. ``tau``, ``beta``, ``d`` for holitom).

    Raises:
        ValueError: an unknown name (listing the known ones) or an option the reducer does not take.
    """
    if name not in OUTER:
        raise ValueError(f"unknown outer reducer {name!r}; choose from {', '.join(OUTER)}")
    try:
        return OUTER[name](**options)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def build_inner(name: str | None, keep: float = 0.5, layer: int | None = None) -> InnerReducer | None:
    """``None`` or ``"none"`` gives no inner reducer. Raises ValueError for an unknown name."""
    if name in (None, "none"):
        return None
    if name not in INNER:
        raise ValueError(f"unknown inner reducer {name!r}; choose from none, {', '.join(INNER)}")
    return INNER[name](keep=keep, layer=layer)
