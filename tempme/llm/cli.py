"""`tempme qa`: answer a question about a video with reduced visual tokens (registered by app/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tempme.cli_options import DeviceOpt


def qa_command(
    video: Annotated[Path, typer.Argument(help="Video file.", exists=True, dir_okay=False)],
    question: Annotated[str, typer.Argument(help="The question.")],
    model: Annotated[str, typer.Option("--model", help="LLaVA-OneVision weights: a local directory or a Hugging Face name.")],
    reducer: Annotated[str, typer.Option("--reducer", help="Outer reducer: none, uniform, tome, holitom, vqtoken, bvllm-clip.")] = "holitom",
    retain: Annotated[float, typer.Option("--retain", help="Fraction of visual tokens kept by the outer reducer.")] = 0.1,
    inner: Annotated[str, typer.Option("--inner", help="Inner reducer: auto (holitom-inner for holitom), none, fastv, holitom-inner.")] = "auto",
    inner_keep: Annotated[float, typer.Option("--inner-keep", help="Fraction of visual tokens kept from layer K on.")] = 0.5,
    inner_layer: Annotated[Optional[int], typer.Option("--inner-layer", help="K (default: the method's, scaled to the depth).")] = None,
    frames: Annotated[int, typer.Option("--frames", help="Frames sampled uniformly over the video.")] = 32,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens")] = 64,
    clip_model: Annotated[str, typer.Option("--clip-model", help="CLIP for bvllm-clip frame scores.")] = "ViT-B-32",
    clip_pretrained: Annotated[str, typer.Option("--clip-pretrained", help="CLIP weights for bvllm-clip.")] = "openai",
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer and report as JSON.")] = False,
    device: DeviceOpt = None,
) -> None:
    """Answer QUESTION about VIDEO with a LLaVA-OneVision model and token reduction."""
    from tempme.llm.outer import Budget, SideInputs
    from tempme.llm.pipeline import VideoQAPipeline
    from tempme.llm.qa import build_inputs, load_model, read_frames
    from tempme.llm.registry import DEFAULT_INNER, build_inner, build_outer

    if not 0.0 < retain <= 1.0:
        raise typer.BadParameter(f"--retain must be in (0, 1], got {retain}")
    try:
        outer = build_outer(reducer)
        inner_name = DEFAULT_INNER.get(reducer, "none") if inner == "auto" else inner
        inner_red = build_inner(inner_name, inner_keep, inner_layer)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    llm, processor, tokenizer = load_model(model, device)
    rgb = read_frames(video, frames)
    input_ids, pixels = build_inputs(llm, processor, tokenizer, rgb, question)
    side = SideInputs(question=question)
    if outer.name == "bvllm-clip":
        from tempme.llm.clip_scores import clip_frame_scores, load_frame_scorer

        scorer = load_frame_scorer(clip_model, clip_pretrained, device)
        side.frame_scores = clip_frame_scores(scorer, rgb, question)
    pipe = VideoQAPipeline(llm, outer, Budget(retain=retain), inner_red, tokenizer)
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


COMMANDS = {"qa": qa_command}
