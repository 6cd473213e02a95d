"""TempMe against the full-token LoRA baseline (per-frame CLIP, mean pooling), same run.

For ViT-B/32 and ViT-B/16 at 12 frames: video-encoder GMACs counted with
``torch.utils.flop_counter`` (reported as MACs, the paper's "GFLOPs"), tokens per video after
the last layer, trainable parameters, and milliseconds per video at batch 1 and 8 with LoRA
folded (inference), with the speed-up ratio. Random weights: cost does not depend on them.

    python bench/encoder.py [--archs ViT-B-32 ViT-B-16] [--batches 1 8] [--repeats 3] [--json]

Paper targets: 34.8 vs 52.9 GMACs (B/32), 121.4 vs 211.3 (B/16); CPU speed-up >= 1.4x / 1.7x.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time

import torch

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder
from tempme.flops import video_encoder_macs

PAPER_GMACS = {
    ("ViT-B-32", True): 34.8,
    ("ViT-B-32", False): 52.9,
    ("ViT-B-16", True): 121.4,
    ("ViT-B-16", False): 211.3,
}


def time_per_video(encoders: dict, batch: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per video of ``encode_video`` at ``batch`` for each encoder.

    The encoders are timed in alternation (one warm-up each, then ``repeats`` rounds of one call
    per encoder), so drift in the machine's speed hits all of them alike.
    """
    some = next(iter(encoders.values()))
    frames = torch.randn(batch, some.num_frames, 3, some.image_size, some.image_size, device=some.device)
    times: dict[str, list[float]] = {name: [] for name in encoders}
    with torch.inference_mode():
        for enc in encoders.values():
            enc.encode_video(frames)
        for _ in range(repeats):
            for name, enc in encoders.items():
                if enc.device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                with enc.inference():
                    enc.encode_video(frames)
                if enc.device.type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
    return {name: 1000 * statistics.median(t) / batch for name, t in times.items()}


def measure(arch: str, batches: list[int], repeats: int, device: str | None) -> dict:
    rows, encoders = {}, {}
    for merging in (False, True):
        name = "tempme" if merging else "baseline"
        config = TempMeConfig.preset(arch, merging=merging, temporal_embed=merging)
        enc = load_encoder(arch, "none", device=device, config=config)
        trainable = sum(p.numel() for p in enc.trainable_parameters())
        enc.fold_lora()
        encoders[name] = enc
        rows[name] = {
            "gmacs": video_encoder_macs(enc) / 1e9,
            "paper_gmacs": PAPER_GMACS[(arch, merging)],
            "tokens_out": enc.plan.tokens_out,
            "trainable_params": trainable,
            "ms_per_video": {},
        }
    for b in batches:
        for name, ms in time_per_video(encoders, b, repeats).items():
            rows[name]["ms_per_video"][str(b)] = ms
    base, ours = rows["baseline"], rows["tempme"]
    rows["speedup"] = {b: base["ms_per_video"][b] / ours["ms_per_video"][b] for b in base["ms_per_video"]}
    rows["gmacs_ratio"] = base["gmacs"] / ours["gmacs"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["ViT-B-32", "ViT-B-16"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    result = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"cpu ({torch.get_num_threads()} threads)",
        "frames": 12,
        "archs": {arch: measure(arch, args.batches, args.repeats, device) for arch in args.archs},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"video encoder, 12 frames, {result['device']}, LoRA folded; ms = median per video")
    head = f"{'arch':9s} {'model':9s} {'GMACs':>7s} {'paper':>6s} {'tokens':>6s} {'trainable':>9s}"
    head += "".join(f" {'ms@b' + str(b):>9s}" for b in args.batches)
    print(head)
    for arch, rows in result["archs"].items():
        for name in ("baseline", "tempme"):
            r = rows[name]
            line = f"{arch:9s} {name:9s} {r['gmacs']:7.1f} {r['paper_gmacs']:6.1f} {r['tokens_out']:6d} {r['trainable_params']:9,d}"
            line += "".join(f" {r['ms_per_video'][str(b)]:9.0f}" for b in args.batches)
            print(line)
        ratio = f"{arch:9s} {'ratio':9s} {rows['gmacs_ratio']:6.2f}x {'':6s} {'':6s} {'':9s}"
        ratio += "".join(f" {rows['speedup'][str(b)]:8.2f}x" for b in args.batches)
        print(ratio)


if __name__ == "__main__":
    main()
