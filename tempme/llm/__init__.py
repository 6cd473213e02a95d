"""LLM-side visual-token reducers for video QA with LLaVA-OneVision (Hugging Face transformers).

One interface for methods that otherwise live in separate research repos:

* outer reducers (before the LLM, :mod:`tempme.llm.outer`): ``reducer(tokens (T, N, C), (H, W),
  Budget, SideInputs) -> Reduction`` with provenance — :class:`HoliTom`, :class:`VQToken`,
  :class:`BVLLMAdapted` (our training-free B-VLLM), :class:`ToMeMerge`, :class:`UniformPooling`;
* inner reducers (at decoder layer K during prefill, :mod:`tempme.llm.inner` +
  :mod:`tempme.llm.hooks`): :class:`FastV`, :class:`HoliTomInnerMerge`;
* :class:`~tempme.llm.pipeline.VideoQAPipeline` runs a model with both and reports tokens,
  FLOPs (formula and exact, :mod:`tempme.llm.flops`), reducer seconds and TTFT.

See docs/llm_reducers.md. Imports torch only; transformers is imported by the hooks/pipeline.
"""

from tempme.llm.bvllm import BVLLMAdapted
from tempme.llm.holitom import HoliTom
from tempme.llm.inner import FastV, HoliTomInnerMerge, InnerReducer
from tempme.llm.outer import Budget, Identity, OuterReducer, Reduction, SideInputs
from tempme.llm.pooling import ToMeMerge, UniformPooling
from tempme.llm.vqtoken import QuantisationAttention, VQToken, tok_dense

__all__ = [
    "BVLLMAdapted", "Budget", "FastV", "HoliTom", "HoliTomInnerMerge", "Identity", "InnerReducer", "OuterReducer",
    "QuantisationAttention", "Reduction", "SideInputs", "ToMeMerge", "UniformPooling", "VQToken", "tok_dense",
]
