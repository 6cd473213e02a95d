"""`tempme qa` and `tempme qa-eval`: video QA with reduced visual tokens (registered by app/cli/__init__.py).

Both take the same reducer options (declared once below): the outer reducer and its budget, the
HoliTom knobs (tau, beta, D), VQToken's adaptive K and VQ-Attention weights, and the inner reducer
(layer K and kept fraction).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tempme.cli_errors import fail
from tempme.cli_options import DeviceOpt

ModelOpt = Annotated[
    str, typer.Option("--model", help="LLaVA-OneVision weights: a local directory or a Hugging Face name.")
]
RetainOpt = Annotated[float, typer.Option("--retain", help="Fraction of visual tokens kept by the outer reducer.")]
TauOpt = Annotated[
    Optional[float],
    typer.Option(
        "--tau", help="holitom: static-token cosine threshold (default: the reference's 0.65 at <= 10 %, else 0.80)."
    ),
]
BetaOpt = Annotated[float, typer.Option("--beta", help="holitom: weight of a cluster's centre in its merged token.")]
DOpt = Annotated[
    float,
    typer.Option(
        "--holitom-d", help="holitom: share D of each frame's dynamic budget merged by clustering (reference 0)."
    ),
]
AdaptiveOpt = Annotated[
    bool,
    typer.Option(
        "--adaptive/--fixed-k",
        help="vqtoken: K by the reference's elbow rule, at most the budget (default, as the reference), "
        "or K = the budget (--fixed-k, our extension: the reference's fixed-K path does not run).",
    ),
]
VQAttentionOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--vq-attention",
        help="vqtoken: checkpoint (file or directory) with the authors' VQ-Attention weights "
        "(model.cross_attention.*). vqtoken reaches the paper's accuracy only with the authors' fine-tuned "
        "LLM; on a stock LLaVA-OV it is a training-free approximation.",
    ),
]
InnerOpt = Annotated[
    str, typer.Option("--inner", help="Inner reducer: auto (holitom-inner for holitom), none, fastv, holitom-inner.")
]
InnerKeepOpt = Annotated[float, typer.Option("--inner-keep", help="Fraction of visual tokens kept from layer K on.")]
InnerLayerOpt = Annotated[
    Optional[int], typer.Option("--inner-layer", help="K (default: the method's, scaled to the depth).")
]
FramesOpt = Annotated[int, typer.Option("--frames", help="Frames sampled uniformly over the video.")]
ClipModelOpt = Annotated[str, typer.Option("--clip-model", help="CLIP for bvllm-clip frame scores.")]
ClipPretrainedOpt = Annotated[str, typer.Option("--clip-pretrained", help="CLIP weights for bvllm-clip.")]
REDUCER_HELP = "Outer reducer: none, uniform, tome, holitom, vqtoken, bvllm-clip."


def _reducers(reducer: str, retain: float, tau, beta, d, adaptive, vq_attention, inner, inner_keep, inner_layer):
    """(outer, budget, inner) from the shared options; typer.BadParameter on a bad value."""
    from tempme.llm.outer import Budget
    from tempme.llm.registry import DEFAULT_INNER, build_inner, build_outer

    if not 0.0 < retain <= 1.0:
        raise typer.BadParameter(f"--retain must be in (0, 1], got {retain}")
    options: dict = {}
    if reducer == "holitom":
        options = dict(tau=tau, beta=beta, d=d)
    elif reducer == "vqtoken":
        options = dict(fixed_k=not adaptive)
        if vq_attention is not None:
            from tempme.llm.vqtoken import VQAttention

            try:
                options["attention"] = VQAttention.from_checkpoint(vq_attention)
            except (FileNotFoundError, KeyError) as exc:
                raise typer.BadParameter(f"--vq-attention: {exc}") from exc
    try:
        outer = build_outer(reducer, **options)
        inner_name = DEFAULT_INNER.get(reducer, "none") if inner == "auto" else inner
        inner_red = build_inner(inner_name, inner_keep, inner_layer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return outer, Budget(retain=retain), inner_red


def setting_label(outer: str, inner: str, retain: float) -> str:
    """``outer+inner@retain`` for a qa-eval row; ``none`` applies no budget, so its row has no ``@``."""
    return f"{outer}+{inner}" if outer == "none" else f"{outer}+{inner}@{retain:g}"


def _frame_scorer(outer, clip_model: str, clip_pretrained: str, device):
    """For bvllm-clip: ``(frames, question) -> (T,)`` CLIP scores; None for other reducers."""
    if outer.name != "bvllm-clip":
        return None
    from tempme.llm.clip_scores import clip_frame_scores, load_frame_scorer

    scorer = load_frame_scorer(clip_model, clip_pretrained, device)
    return lambda rgb, question: clip_frame_scores(scorer, rgb, question)


def _load(model: str, device):
    from tempme.llm.qa import load_model

    try:
        return load_model(model, device)
    except (OSError, ValueError) as exc:  # no such directory or hub id (HFValidationError), weights offline
        fail(f"cannot load LLaVA-OneVision weights {model!r}: {exc}")


def qa_command(
    video: Annotated[Path, typer.Argument(help="Video file.", exists=True, dir_okay=False)],
    question: Annotated[str, typer.Argument(help="The question.")],
    model: ModelOpt,
    reducer: Annotated[str, typer.Option("--reducer", help=REDUCER_HELP)] = "holitom",
    retain: RetainOpt = 0.1,
    tau: TauOpt = None,
    beta: BetaOpt = 0.6,
    holitom_d: DOpt = 0.0,
    adaptive: AdaptiveOpt = True,
    vq_attention: VQAttentionOpt = None,
    inner: InnerOpt = "auto",
    inner_keep: InnerKeepOpt = 0.5,
    inner_layer: InnerLayerOpt = None,
    frames: FramesOpt = 32,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 64,
    clip_model: ClipModelOpt = "ViT-B-32",
    clip_pretrained: ClipPretrainedOpt = "openai",
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and report as JSON.")] = False,
    device: DeviceOpt = None,
) -> None:
    """Answer QUESTION about VIDEO with a LLaVA-OneVision model and token reduction."""
    from tempme.llm.outer import SideInputs
    from tempme.llm.pipeline import VideoQAPipeline
    from tempme.llm.qa import build_inputs, read_frames

    outer, budget, inner_red = _reducers(
        reducer, retain, tau, beta, holitom_d, adaptive, vq_attention, inner, inner_keep, inner_layer
    )
    llm, processor, tokenizer = _load(model, device)
    rgb = read_frames(video, frames)
    input_ids, pixels = build_inputs(llm, processor, tokenizer, rgb, question)
    side = SideInputs(question=question)
    score = _frame_scorer(outer, clip_model, clip_pretrained, device)
    if score is not None:
        side.frame_scores = score(rgb, question)
    pipe = VideoQAPipeline(llm, outer, budget, inner_red, tokenizer)
    dev = next(llm.parameters()).device
    result = pipe.answer(input_ids.to(dev), pixels.to(dev, next(llm.parameters()).dtype), [side], max_new_tokens)
    answer = result.answers[0].strip() if result.answers else ""
    if as_json:
        typer.echo(json.dumps({"answer": answer, "report": result.report.to_dict()}, indent=2))
        return
    r = result.report
    typer.echo(answer)
    typer.echo(
        f"[{r.outer}+{r.inner}] visual tokens {r.visual_tokens_in} -> {r.visual_tokens_out} ({r.retained_pct:.1f}%), "
        f"prefill {r.formula_tflops:.3g} TFLOPs (formula) / {r.exact_tflops:.3g} (exact), "
        f"reducer {1000 * r.reducer_seconds:.1f} ms, TTFT {r.ttft_seconds:.3f} s",
        err=True,
    )


def qa_eval_command(
    bench: Annotated[
        Path, typer.Option("--bench", help="NExT-QA-MC or MVBench JSON / JSON-lines file.", exists=True, dir_okay=False)
    ],
    videos: Annotated[
        Path,
        typer.Option("--videos", help="Directory the rows' video paths are relative to.", exists=True, file_okay=False),
    ],
    model: ModelOpt,
    reducers: Annotated[list[str], typer.Option("--reducer", help=REDUCER_HELP + " Repeat to compare several.")] = [
        "holitom"
    ],  # noqa: B006
    retain: RetainOpt = 0.1,
    tau: TauOpt = None,
    beta: BetaOpt = 0.6,
    holitom_d: DOpt = 0.0,
    adaptive: AdaptiveOpt = True,
    vq_attention: VQAttentionOpt = None,
    inner: InnerOpt = "auto",
    inner_keep: InnerKeepOpt = 0.5,
    inner_layer: InnerLayerOpt = None,
    frames: FramesOpt = 32,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N questions.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 8,
    clip_model: ClipModelOpt = "ViT-B-32",
    clip_pretrained: ClipPretrainedOpt = "openai",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scores (and per-question records) as JSON.")
    ] = False,
    device: DeviceOpt = None,
) -> None:
    """Multiple-choice accuracy, visual tokens, prefill TFLOPs and TTFT of each reducer on a video-QA benchmark file."""
    from tqdm import tqdm

    from tempme.llm.outer import SideInputs
    from tempme.llm.pipeline import VideoQAPipeline
    from tempme.llm.qa import build_inputs, read_frames
    from tempme.llm.qa_eval import evaluate, format_table, load_bench

    try:
        items = load_bench(bench)[:limit]
    except ValueError as exc:
        fail(f"{bench}: {exc}")
    settings = [
        (name, _reducers(name, retain, tau, beta, holitom_d, adaptive, vq_attention, inner, inner_keep, inner_layer))
        for name in reducers
    ]
    llm, processor, tokenizer = _load(model, device)
    scores = []
    for name, (outer, budget, inner_red) in tqdm(settings, desc="reducers", disable=as_json):
        score = _frame_scorer(outer, clip_model, clip_pretrained, device)
        side = None
        if score is not None:
            side = lambda item, rgb, score=score: SideInputs(
                question=item.question, frame_scores=score(rgb, item.question)
            )  # noqa: E731
        pipe = VideoQAPipeline(llm, outer, budget, inner_red, tokenizer)
        label = setting_label(name, inner_red.name if inner_red else "none", retain)
        try:
            scores.append(
                evaluate(
                    items,
                    videos,
                    pipe,
                    lambda rgb, prompt: build_inputs(llm, processor, tokenizer, rgb, prompt),
                    read_frames,
                    frames,
                    label,
                    max_new_tokens,
                    side,
                )
            )
        except FileNotFoundError as exc:
            fail(str(exc))
    if as_json:
        typer.echo(json.dumps([s.to_dict(with_records=True) for s in scores], indent=2))
        return
    typer.echo(format_table(scores))


COMMANDS = {"qa": qa_command, "qa-eval": qa_eval_command}
