"""LLM-side visual-token reducers for video QA with LLaVA-OneVision (Hugging Face transformers).

One interface for methods that otherwise live in separate research repos:

* outer reducers (before the LLM, :mod:`tempme.llm.outer`): ``reducer(tokens (T, N, C), (H, W),
  Budget, SideInputs) -> Reduction`` with provenance — :class:`HoliTom`, :class:`VQToken`,
  :class:`BVLLMAdapted` (our training-free B-VLLM), :class:`ToMeMerge`, :class:`UniformPooling`;
* inner reducers (at decoder layer K during prefill, :mod:`tempme.llm.inner` +
  :mod:`tempme.llm.hooks`): :class:`FastV`, :class:`HoliTomInnerMerge`;
* :class:`~tempme.llm.pipeline.VideoQAPipeline` runs a model with both and reports tokens,
  FLOPs (formula and exact, :mod:`tempme.llm.flops`), reducer seconds and TTFT.

See docs/llm_reducers.md. Names are imported lazily (PEP 562), so `import tempme.llm.cli` stays
light; torch loads on first use, transformers only in the hooks/pipeline.
"""

import importlib

_EXPORTS = {
    "BVLLMAdapted": "bvllm",
    "HoliTom": "holitom",
    "FastV": "inner",
    "HoliTomInnerMerge": "inner",
    "InnerReducer": "inner",
    "Budget": "outer",
    "Identity": "outer",
    "OuterReducer": "outer",
    "Reduction": "outer",
    "SideInputs": "outer",
    "ToMeMerge": "pooling",
    "UniformPooling": "pooling",
    "VQAttention": "vqtoken",
    "VQToken": "vqtoken",
    "tok_dense": "vqtoken",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tempme.llm.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tempme.llm' has no attribute {name!r}")
