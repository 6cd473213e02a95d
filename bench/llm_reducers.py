"""Every LLM-side token reducer at 25 %, 15 % and 10 % on the same inputs, one table.

Inputs: ``--frames`` frames (default 32) of a real clip from ../shared/data/videos. Visual tokens
come from an open_clip image tower (default ViT-B-16 at 224 px: 14 x 14 = 196 patch tokens per
frame, LLaVA-OV-7B's count after pooling; weights ``--clip-pretrained``, random with ``none`` —
then tokens carry image structure but no semantics), or with ``--features tiny`` from the tiny
LLaVA-OV's own tower. Frame scores for B-VLLM come from the same CLIP's text tower and the
catalog's query for the clip.

Columns:
  LLM tok     visual tokens entering the LLM -> after the inner reducer (if any)
  TFLOPs      prefill cost for the LLaVA-OV-7B geometry at 32 x 196 visual tokens (text excluded, the
              HoliTom convention): the papers' formula, and exact (flop_counter on meta tensors,
              2 x MACs, GQA + SwiGLU); ratio = formula vs no reduction
  red ms      outer reducer wall time on the features above
  TTFT        ms from pixels to the first token on a small random LLaVA-OV (``--tiny-*``), ratio vs
              no reduction in the same run
  recon/read  quality proxies of the outer stage on mean-centred tokens (tempme.llm.quality):
              best-match cosine of every source token, and the cosine between attention read-outs
              (64 queries, beta 30) over the full and reduced sets; inner-only rows show "-"

    python bench/llm_reducers.py [--video PATH] [--frames 32] [--features clip|tiny] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from tempme.llm.flops import LLAVA_OV_7B, exact_flops, formula_flops, qwen2_config, schedule
from tempme.llm.outer import Budget, SideInputs
from tempme.llm.pipeline import VideoQAPipeline
from tempme.llm.quality import readout_cosine, reconstruction_cosine
from tempme.llm.registry import build_inner, build_outer
from tempme.llm.vision import SaliencyCapture

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tiny random LLaVA-OV is a test helper, not shipped
VIDEOS = REPO.parent / "shared" / "data" / "videos"
METHODS = [  # (row name, outer, inner)
    ("uniform", "uniform", None),
    ("tome", "tome", None),
    ("vqtoken (fixed K)", "vqtoken", None),  # K = the budget, so rows compare at equal budgets (our extension)
    ("bvllm-clip", "bvllm-clip", None),
    ("holitom (outer)", "holitom", None),
    ("holitom", "holitom", "holitom-inner"),
    ("fastv", "none", "fastv"),
]
SEVEN_B_VISUAL = 32 * 196


def clip_features(frames, arch: str, pretrained: str, query: str):
    """(T, N, C) patch tokens, (H, W) grid and (T,) text-frame cosines from an open_clip model."""
    import open_clip

    from tempme.llm.qa import preprocess
    from tempme.weights import create_clip

    model = create_clip(arch, pretrained)
    visual = model.visual
    size = visual.image_size[0] if isinstance(visual.image_size, tuple) else visual.image_size
    x = preprocess(frames, size, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)[0]
    visual.output_tokens = True
    with torch.inference_mode():
        pooled, tokens = visual(x)  # (T, D), (T, N, C)
        text = model.encode_text(open_clip.get_tokenizer(arch)([query]))
    side = int(math.isqrt(tokens.shape[1]))
    scores = (
        torch.nn.functional.normalize(pooled.float(), dim=-1) @ torch.nn.functional.normalize(text.float(), dim=-1)[0]
    )
    return tokens.float(), (side, side), scores


def timed(fn, repeats: int):
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if times[-1] > 1.0:
            break
    return out, 1000 * min(times)


def saliency_memory(tiny, pixels) -> dict:
    """Attention-map bytes held for HoliTom's saliency: before (output_attentions=True keeps every
    vision layer's maps) and after (SaliencyCapture: one layer, a few frames at a time); measured on
    the tiny model, and counted for LLaVA-OV-7B (SigLIP-so400m: 26 layers, 16 heads, 729 patches,
    32 frames, bf16 maps before, float32 blocks of at most 256 MiB after)."""
    with torch.inference_mode():
        out = tiny.model.vision_tower(pixels.flatten(0, 1), output_attentions=True)
        before = sum(a.numel() * a.element_size() for a in out.attentions)
        with SaliencyCapture(tiny) as cap:
            tiny.model.vision_tower(pixels.flatten(0, 1))
    per_frame = 16 * 729 * 729 * 4
    step = max(1, (256 * 2**20) // per_frame)
    return {
        "tiny_before_bytes": before,
        "tiny_after_bytes": cap.peak_bytes,
        "llava_ov_7b_before_bytes": 26 * 32 * 16 * 729 * 729 * 2,
        "llava_ov_7b_after_bytes": min(32, step) * per_frame,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=VIDEOS / "mmaction2__demo.mp4")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--features", choices=["clip", "tiny"], default="clip")
    ap.add_argument("--clip-model", default="ViT-B-16")
    ap.add_argument("--clip-pretrained", default="none")
    ap.add_argument("--retains", type=float, nargs="+", default=[0.25, 0.15, 0.1])
    ap.add_argument("--tiny-image", type=int, default=56, help="tiny LLaVA-OV frame size (56 -> 7x7 tokens/frame)")
    ap.add_argument("--tiny-layers", type=int, default=8)
    ap.add_argument("--tiny-hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tiny_llava import tiny_llava_onevision, tiny_prompt

    from tempme.llm.qa import preprocess, read_frames

    frames = read_frames(args.video, args.frames)
    query = "a video"
    catalog = VIDEOS / "catalog.tsv"
    if catalog.exists():
        with catalog.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row["file"] == args.video.name:
                    query = row["example_query"]
    tiny = tiny_llava_onevision(image_size=args.tiny_image, layers=args.tiny_layers, hidden=args.tiny_hidden)
    pixels = preprocess(frames, args.tiny_image)
    if args.features == "clip":
        feats, grid, scores = clip_features(frames, args.clip_model, args.clip_pretrained, query)
    else:
        with torch.inference_mode():
            tokens, _, _ = VideoQAPipeline(tiny)._features(pixels)
        feats, grid = tokens[0].float(), VideoQAPipeline(tiny).grid
        scores = torch.linspace(0, 1, args.frames)  # no text tower: later frames preferred
    side = SideInputs(question=query, frame_scores=scores)
    t, n = feats.shape[:2]
    ids = tiny_prompt(args.frames, VideoQAPipeline(tiny).grid[0] ** 2)
    cfg7b = qwen2_config()
    d, m = LLAVA_OV_7B["hidden_size"], LLAVA_OV_7B["intermediate_size"]
    layers = LLAVA_OV_7B["num_hidden_layers"]

    def ttft(outer, budget, inner) -> float:
        pipe = VideoQAPipeline(tiny, outer, budget, inner)
        pipe.answer(ids, pixels, [side], max_new_tokens=1)  # warm-up
        res = [pipe.answer(ids, pixels, [side], max_new_tokens=1).report.ttft_seconds for _ in range(args.repeats)]
        return 1000 * statistics.median(res)

    ttft(None, None, None)  # warm the allocator and kernels before the baseline is timed

    full_formula = formula_flops(schedule(SEVEN_B_VISUAL, layers), d, m)
    rows = [
        {
            "method": "none",
            "retain": 1.0,
            "llm_tokens": f"{t * n}",
            "kept_pct": 100.0,
            "formula_tflops": full_formula / 1e12,
            "exact_tflops": exact_flops(cfg7b, schedule(SEVEN_B_VISUAL, layers)) / 1e12,
            "flops_ratio": 1.0,
            "reducer_ms": 0.0,
            "ttft_ms": ttft(None, None, None),
            "recon_cos": 1.0,
            "readout_cos": 1.0,
        }
    ]
    base_ttft = rows[0]["ttft_ms"]
    for retain in args.retains:
        for row_name, outer_name, inner_name in METHODS:
            budget = Budget(retain=retain)
            outer = build_outer(outer_name, **({"fixed_k": True} if outer_name == "vqtoken" else {}))
            if outer_name == "none":  # FastV alone: keep `retain` of the visual tokens from layer 2 on
                inner = build_inner(inner_name, keep=retain, layer=2)
                inner_tiny = build_inner(inner_name, keep=retain)
                m_out, red, ms = t * n, None, 0.0
                seven = schedule(SEVEN_B_VISUAL, layers, 2, retain)
            else:
                inner = build_inner(inner_name)
                inner_tiny = inner
                red, ms = timed(lambda: outer(feats, grid, budget, side), args.repeats)
                m_out = red.num_tokens
                # HoliTom's count is its own rounding: scale the count it gave here to 32 x 196
                m7 = (
                    round(m_out * SEVEN_B_VISUAL / (t * n))
                    if not outer.exact_budget
                    else budget.resolve(SEVEN_B_VISUAL)
                )
                seven = schedule(m7, layers)
                if inner is not None:  # the inner reducer's own count over its span (+ newline for holitom-inner)
                    k7, nl = inner.resolve_layer(layers), int(inner.span_includes_newline)
                    seven[k7:] = [inner.kept_count(m7 + nl) - nl] * (layers - k7)
            final = (
                m_out
                if inner is None
                else inner.kept_count(m_out + inner.span_includes_newline) - inner.span_includes_newline
            )
            formula = formula_flops(seven, d, m)
            rows.append(
                {
                    "method": row_name,
                    "retain": retain,
                    "llm_tokens": f"{m_out}" + (f"->{final}" if inner else ""),
                    "kept_pct": 100.0 * m_out / (t * n),
                    "formula_tflops": formula / 1e12,
                    "exact_tflops": exact_flops(cfg7b, seven) / 1e12,
                    "flops_ratio": formula / full_formula,
                    "reducer_ms": ms,
                    "ttft_ms": ttft(None if outer_name == "none" else outer, budget, inner_tiny),
                    "recon_cos": reconstruction_cosine(feats, red) if red is not None else None,
                    "readout_cos": readout_cosine(feats, red) if red is not None else None,
                }
            )
    for r in rows:
        r["ttft_ratio"] = base_ttft / r["ttft_ms"]
    memory = saliency_memory(tiny, pixels)
    if args.json:
        print(
            json.dumps(
                {
                    "video": args.video.name,
                    "features": args.features,
                    "frames": t,
                    "tokens_per_frame": n,
                    "rows": rows,
                    "saliency_memory": memory,
                },
                indent=2,
            )
        )
        return
    print(f"{args.video.name}: {t} frames x {n} tokens ({args.features} features); TFLOPs for LLaVA-OV-7B at 32x196")
    head = (
        f"{'method':<16}{'retain':>7}{'LLM tok':>12}{'kept%':>7}{'formula TF':>11}{'exact TF':>10}"
        f"{'ratio':>7}{'red ms':>9}{'TTFT ms':>9}{'x':>6}{'recon':>7}{'read':>7}"
    )
    print(head)
    print("-" * len(head))
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    mb = lambda b: f"{b / 2**20:.2f} MiB"  # noqa: E731
    for r in rows:
        print(
            f"{r['method']:<16}{r['retain']:>7.2f}{r['llm_tokens']:>12}{r['kept_pct']:>7.1f}{r['formula_tflops']:>11.2f}"
            f"{r['exact_tflops']:>10.2f}{r['flops_ratio']:>7.3f}{r['reducer_ms']:>9.1f}{r['ttft_ms']:>9.1f}"
            f"{r['ttft_ratio']:>6.2f}{fmt(r['recon_cos']):>7}{fmt(r['readout_cos']):>7}"
        )

    print(
        f"saliency attention maps held: tiny {mb(memory['tiny_before_bytes'])} -> {mb(memory['tiny_after_bytes'])}; "
        f"LLaVA-OV-7B at 32 frames {memory['llava_ov_7b_before_bytes'] / 1e9:.1f} GB -> "
        f"{memory['llava_ov_7b_after_bytes'] / 1e9:.2f} GB"
    )


if __name__ == "__main__":
    main()
