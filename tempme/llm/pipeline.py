"""Video QA with a Hugging Face ``LlavaOnevisionForConditionalGeneration`` and any outer/inner reducers.

Flow: pixel values -> ``get_video_features`` (vision tower, projector, 2x2 pooling) -> per video
``(T, N, C)`` tokens (the trailing image-newline token is kept aside) -> outer reducer ->
``inputs_embeds`` with the prompt's video placeholders replaced by the reduced tokens + newline ->
the language model, with the inner reducer attached to layer K during prefill -> ``generate``.

The report gives visual tokens in/out, retained %, tokens per decoder layer, prefill FLOPs by the
papers' formula and exactly (both over the whole prompt), reducer seconds and TTFT (seconds from
the pixel values to the first token's logits).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor
from transformers import LogitsProcessor, LogitsProcessorList

from tempme.llm.flops import exact_flops, formula_flops
from tempme.llm.hooks import AttachedInner, attach_inner
from tempme.llm.inner import InnerReducer
from tempme.llm.outer import Budget, Identity, OuterReducer, Reduction, SideInputs
from tempme.llm.vision import SaliencyCapture, unpooled_video_features, video_features

log = logging.getLogger(__name__)


@dataclass
class QAReport:
    """Cost and size of one QA call (see module docstring); FLOPs in TFLOPs, times in seconds.

    ``visual_tokens_out`` counts the outer reducer's tokens (the newline token excluded);
    ``visual_tokens_final`` the tokens of the inner reducer's span kept from layer K on (the span
    is the visual tokens, plus the newline token for HoliTom's inner merge, whose reference
    counts it), or ``visual_tokens_out`` without an inner reducer.
    """

    outer: str
    inner: str
    visual_tokens_in: int
    visual_tokens_out: int
    visual_tokens_final: int
    retained_pct: float
    tokens_per_layer: list[int]
    formula_tflops: float
    exact_tflops: float
    reducer_seconds: float
    ttft_seconds: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    """Inputs for the language model after the outer reduction.

    inputs_embeds: (B, L', C); visual_span: (start, M) of the reduced visual tokens (the newline
    token follows them); reductions: one per video.
    """

    inputs_embeds: Tensor
    visual_span: tuple[int, int]
    reductions: list[Reduction]
    visual_tokens_in: int
    reducer_seconds: float
    started: float = field(default_factory=time.perf_counter)


@dataclass
class QAResult:
    sequences: Tensor  # (B, new tokens)
    answers: list[str] | None
    report: QAReport


class _FirstCall(LogitsProcessor):
    """Records when ``generate`` first has logits (the first token's time)."""

    def __init__(self):
        self.at: float | None = None

    def __call__(self, input_ids, scores):
        if self.at is None:
            self.at = time.perf_counter()
        return scores


def video_span(input_ids: Tensor, video_token_id: int) -> tuple[int, int]:
    """(start, length) of the contiguous video placeholder run, identical in every row.

    Raises:
        ValueError: no placeholders, a non-contiguous run, or rows that differ.
    """
    spans = set()
    for row in input_ids:
        idx = (row == video_token_id).nonzero().squeeze(1)
        if idx.numel() == 0:
            raise ValueError(f"no video placeholder token (id {video_token_id}) in the prompt")
        if int(idx[-1] - idx[0]) + 1 != idx.numel():
            raise ValueError("the video placeholder tokens are not contiguous")
        spans.add((int(idx[0]), idx.numel()))
    if len(spans) != 1:
        raise ValueError(f"every row must place the video at the same position, got spans {sorted(spans)}")
    return spans.pop()


class VideoQAPipeline:
    """Run a LLaVA-OneVision model with an outer reducer (before the LLM) and an inner one (in it).

    Args:
        model: a ``LlavaOnevisionForConditionalGeneration`` (eval mode).
        outer: outer reducer (default: none).
        budget: outer budget (default: keep all).
        inner: inner reducer (default: none).
        tokenizer: optional, to decode answers.
        saliency: pass the vision feature layer's attention (mean received, pooled to the token
            grid) to outer reducers that use it (``uses_saliency``: HoliTom); any attention kind.
    """

    def __init__(
        self,
        model,
        outer: OuterReducer | None = None,
        budget: Budget | None = None,
        inner: InnerReducer | None = None,
        tokenizer=None,
        saliency: bool = True,
    ):
        self.model = model
        self.outer = outer or Identity()
        self.budget = budget or Budget(retain=1.0)
        self.inner = inner
        self.tokenizer = tokenizer
        vcfg = model.config.vision_config
        self.saliency = saliency
        side = vcfg.image_size // vcfg.patch_size
        self.grid = (math.ceil(side / 2), math.ceil(side / 2))  # after LLaVA-OV's 2x2 bilinear pooling

    @property
    def text_config(self):
        return self.model.config.text_config

    def _features(self, pixel_values_videos: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(B, T, 3, S, S) -> tokens (B, T, N, C), newline (B, 1, C), saliency (B, T, N) or None.

        Saliency (only when the outer reducer uses it) is the feature layer's attention received
        per patch (:class:`~tempme.llm.vision.SaliencyCapture`), pooled to the token grid with
        LLaVA-OV's bilinear pooling, as the HoliTom reference pools it.
        """
        b, t = pixel_values_videos.shape[:2]
        capture = SaliencyCapture(self.model) if self.saliency and self.outer.uses_saliency else None
        if capture is not None:
            with capture:
                feats = video_features(self.model, pixel_values_videos)
        else:
            feats = video_features(self.model, pixel_values_videos)
        n = self.grid[0] * self.grid[1]
        tokens = feats[:, :-1].reshape(b, t, n, -1)  # (B, T*N, C) -> (B, T, N, C)
        sal = None
        if capture is not None and capture.received is not None:
            att = capture.received  # (B*T, P)
            side = int(math.isqrt(att.shape[1]))
            if side * side == att.shape[1]:
                att = att.view(b * t, 1, side, side)
                sal = torch.nn.functional.interpolate(att, size=self.grid, mode="bilinear").view(b, t, n)
        return tokens, feats[:, -1:], sal

    @torch.no_grad()
    def prepare(
        self, input_ids: Tensor, pixel_values_videos: Tensor, side: SideInputs | list[SideInputs] | None = None
    ) -> Prepared:
        """Encode the videos, reduce them and build ``inputs_embeds``.

        Args:
            input_ids: (B, L) prompts, each with one contiguous run of T * N + 1 video placeholders.
            pixel_values_videos: (B, T, 3, S, S).
            side: side inputs per video (saliency is filled in from the vision tower when absent).

        Raises:
            ValueError: placeholder count mismatch, or videos reduced to different lengths.
        """
        started = time.perf_counter()
        b, t = pixel_values_videos.shape[:2]
        if input_ids.shape[0] != b:
            raise ValueError(f"{input_ids.shape[0]} prompts for {b} videos")
        start, length = video_span(input_ids, self.model.config.video_token_id)
        n = self.grid[0] * self.grid[1]
        if length != t * n + 1:
            raise ValueError(f"the prompt has {length} video placeholders, the video gives {t}x{n}+1 = {t * n + 1}")
        tokens, newline, sal = self._features(pixel_values_videos)
        grid, budget = self.grid, self.budget
        if self.outer.uses_unpooled:  # VQToken clusters the tokens before LLaVA-OV's 2x2 pooling
            tokens, grid = unpooled_video_features(self.model, pixel_values_videos)
            # the budget stays relative to the T * N tokens LLaVA-OV would feed
            budget = Budget(max_tokens=self.budget.resolve(t * n), adaptive=self.budget.adaptive)
        sides = side if isinstance(side, list) else [side or SideInputs() for _ in range(b)]
        reds = []
        t0 = time.perf_counter()
        for i in range(b):
            s = sides[i]
            if s.saliency is None and sal is not None:
                s = SideInputs(**{**s.__dict__, "saliency": sal[i]})
            reds.append(self.outer(tokens[i], grid, budget, s))
        reducer_s = time.perf_counter() - t0
        sizes = {r.num_tokens for r in reds}
        if len(sizes) != 1:
            raise ValueError(f"videos in a batch were reduced to different lengths {sorted(sizes)}; use a fixed budget")
        embeds = self.model.get_input_embeddings()(input_ids)
        visual = torch.stack([r.tokens for r in reds]).to(embeds.dtype)  # (B, M, C)
        embeds = torch.cat([embeds[:, :start], visual, newline.to(embeds.dtype), embeds[:, start + length :]], dim=1)
        return Prepared(embeds, (start, visual.shape[1]), reds, t * n, reducer_s, started)

    def _attach(self) -> AttachedInner | None:
        return attach_inner(self.model, self.inner) if self.inner is not None else None

    def inner_span(self, prepared: Prepared) -> tuple[int, int]:
        """The span the inner reducer works on: the reduced visual tokens, plus the newline token
        after them when the method includes it (HoliTom's inner merge)."""
        start, m = prepared.visual_span
        return (start, m + 1) if self.inner is not None and self.inner.span_includes_newline else (start, m)

    @torch.no_grad()
    def prefill_logits(self, prepared: Prepared) -> Tensor:
        """Logits (B, L'', V) of one forward pass over the prepared prompt (L'' after the inner reducer)."""
        handle = self._attach()
        try:
            if handle is not None:
                handle.visual_span = self.inner_span(prepared)
            return self.model(inputs_embeds=prepared.inputs_embeds).logits
        finally:
            if handle is not None:
                handle.detach()

    def report(self, prepared: Prepared, tokens_per_layer: list[int], ttft: float | None) -> QAReport:
        cfg = self.text_config
        m = prepared.visual_span[1]
        final = m
        if self.inner is not None:  # what the inner span keeps (HoliTom's span includes the newline token)
            final = self.inner_span(prepared)[1] - (tokens_per_layer[0] - tokens_per_layer[-1])
        return QAReport(
            outer=self.outer.name,
            inner=self.inner.name if self.inner is not None else "none",
            visual_tokens_in=prepared.visual_tokens_in,
            visual_tokens_out=m,
            visual_tokens_final=final,
            retained_pct=100.0 * m / prepared.visual_tokens_in,
            tokens_per_layer=list(tokens_per_layer),
            formula_tflops=formula_flops(tokens_per_layer, cfg.hidden_size, cfg.intermediate_size) / 1e12,
            exact_tflops=exact_flops(cfg, tokens_per_layer) / 1e12,
            reducer_seconds=prepared.reducer_seconds,
            ttft_seconds=ttft,
        )

    def _pad_id(self) -> int:
        gen = getattr(self.model, "generation_config", None)
        for cand in (
            getattr(gen, "pad_token_id", None),
            getattr(gen, "eos_token_id", None),
            self.text_config.eos_token_id,
        ):
            if isinstance(cand, (list, tuple)):
                cand = cand[0] if cand else None
            if cand is not None:
                return int(cand)
        return 0

    def answer(self, input_ids: Tensor, pixel_values_videos: Tensor, side=None, max_new_tokens: int = 32) -> QAResult:
        """Greedy answer for each prompt/video pair, with the report."""
        with torch.inference_mode():
            prepared = self.prepare(input_ids, pixel_values_videos, side)
            handle = self._attach()
            first = _FirstCall()
            try:
                if handle is not None:
                    handle.visual_span = self.inner_span(prepared)
                b, length = prepared.inputs_embeds.shape[:2]
                out = self.model.generate(
                    inputs_embeds=prepared.inputs_embeds,
                    attention_mask=torch.ones(b, length, dtype=torch.long, device=prepared.inputs_embeds.device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    logits_processor=LogitsProcessorList([first]),
                    pad_token_id=self._pad_id(),
                )
                per_layer = (
                    handle.tokens_per_layer if handle is not None else [length] * self.text_config.num_hidden_layers
                )
            finally:
                if handle is not None:
                    handle.detach()
        ttft = first.at - prepared.started if first.at is not None else None
        answers = self.tokenizer.batch_decode(out, skip_special_tokens=True) if self.tokenizer is not None else None
        report = self.report(prepared, per_layer, ttft)
        log.info(
            "qa: %d -> %d visual tokens (%.1f%%), %.2f formula TFLOPs, TTFT %.3f s",
            report.visual_tokens_in,
            report.visual_tokens_out,
            report.retained_pct,
            report.formula_tflops,
            ttft or float("nan"),
        )
        return QAResult(out, answers, report)
