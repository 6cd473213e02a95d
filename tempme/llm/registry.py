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


def build_outer(name: str) -> OuterReducer:
    """Raises ValueError for an unknown name (listing the known ones)."""
    if name == "bvllm":
        name = "bvllm-clip"
    if name not in OUTER:
        raise ValueError(f"unknown outer reducer {name!r}; choose from {', '.join(OUTER)}")
    return OUTER[name]()


def build_inner(name: str | None, keep: float = 0.5, layer: int | None = None) -> InnerReducer | None:
    """``None`` or ``"none"`` gives no inner reducer. Raises ValueError for an unknown name."""
    if name in (None, "none"):
        return None
    if name not in INNER:
        raise ValueError(f"unknown inner reducer {name!r}; choose from none, {', '.join(INNER)}")
    return INNER[name](keep=keep, layer=layer)
