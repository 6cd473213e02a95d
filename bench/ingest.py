"""Ingest throughput against the compute bound: index real videos, then encode the same
segments alone, in the same run.

Indexes ``--videos`` (default: every clip in ../shared/data/videos with the long film) into a
fresh temporary library with the pipelined ingest (decoding threads overlapped with batched
encoding), then times the encoder alone on the same number of segments at the same batch size,
on synthetic frames of the same shape (TempMe's cost does not depend on pixel values). Prints
videos/s, segments/s, decode time (summed over decoding threads), encode time inside the
pipeline, encode-only time, and total / encode-only; and the encoder time that the removed
whole-video embedding cost (one more batch-of-1 clip per multi-segment video, 0.1.0 and before),
measured in the same run.

    python bench/ingest.py [--model ViT-B-32] [--workers 2] [--batch-size 8] [--json]
    python bench/ingest.py --model tempme-tiny --no-long      # quick check

Target on a 2-core CPU with ViT-B/32: total wall time within 1.25x of encode-only time.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from tempme.index.encoders import load
from tempme.index.files import VIDEO_EXTENSIONS
from tempme.index.library import Library
from tempme.index.segment import SegmentParams

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


def encode_only_s(encoder, n_videos: int, batch_size: int) -> float:
    """Seconds to encode ``n_videos`` segments in batches of ``batch_size`` (no decoding)."""
    T, S = encoder.num_frames, encoder.image_size
    x = torch.randn(batch_size, T, 3, S, S)
    with encoder.inference():
        encoder.encode_video(x[:1])  # warm-up
        t0 = time.perf_counter()
        left = n_videos
        while left > 0:
            b = min(batch_size, left)
            encoder.encode_video(x[:b]).float().cpu()
            left -= b
    return time.perf_counter() - t0


def run(paths: list[Path], model: str, workers: int, batch_size: int, window_s: float) -> dict:
    encoder = load(model, "none")
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp) / "library", create=True, encoder=encoder)
        t0 = time.perf_counter()
        report = lib.add(paths, model=model, pretrained="none", encoder=encoder, workers=workers,
                         batch_size=batch_size, segment_params=SegmentParams(window_s=window_s))
        total = time.perf_counter() - t0
        with lib.catalog.session() as s:
            from sqlalchemy import func, select
            from tempme.index.models import Segment
            n_multi = s.scalar(select(func.count()).select_from(
                select(Segment.video_id).group_by(Segment.video_id).having(func.count() > 1).subquery()))
        lib.close()
    encoded = report.segments
    only = encode_only_s(encoder, encoded, batch_size)
    whole = encode_only_s(encoder, max(n_multi, 1), 1) / max(n_multi, 1)  # one batch-of-1 clip
    return {
        "model": model, "videos": report.indexed, "failed": report.failed, "segments": report.segments,
        "encoded_clips": encoded, "workers": workers, "batch_size": batch_size,
        "total_s": total, "videos_per_s": report.indexed / total, "segments_per_s": report.segments / total,
        "decode_s": report.decode_s, "encode_in_pipeline_s": report.encode_s, "encode_only_s": only,
        "ratio_total_to_encode_only": total / only, "s_per_segment": total / max(report.segments, 1),
        "multi_segment_videos": n_multi, "whole_video_pass_s": whole, "saved_s": whole * n_multi,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=Path, nargs="+", default=None, help="files or folders")
    ap.add_argument("--no-long", action="store_true", help="skip ../shared/data/videos/long")
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--workers", type=int, default=2, help="decoding threads")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--window", type=float, default=30.0, help="segment window (s)")
    ap.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: default)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    paths = args.videos
    if paths is None:
        paths = [p for p in sorted(VIDEOS.iterdir()) if p.suffix.lower() in VIDEO_EXTENSIONS]
        paths.append(VIDEOS / "edge")
        if not args.no_long:
            paths.append(VIDEOS / "long")
    r = run(paths, args.model, args.workers, args.batch_size, args.window)
    if args.json:
        print(json.dumps(r))
        return
    print(f"ingest, {r['model']} (random weights), {r['workers']} decoding threads, batch {r['batch_size']}, "
          f"{torch.get_num_threads()} torch threads")
    rows = [("videos indexed", f"{r['videos']} (+{r['failed']} failed)"), ("segments", r["segments"]),
            ("total wall time", f"{r['total_s']:.1f} s"), ("videos/s", f"{r['videos_per_s']:.2f}"),
            ("segments/s", f"{r['segments_per_s']:.2f}"), ("s per segment", f"{r['s_per_segment']:.3f}"),
            ("decode time (sum over threads)", f"{r['decode_s']:.1f} s"),
            ("encode time in pipeline", f"{r['encode_in_pipeline_s']:.1f} s"),
            (f"encode-only ({r['encoded_clips']} clips, same batches)", f"{r['encode_only_s']:.1f} s"),
            ("total / encode-only (target <= 1.25x)", f"{r['ratio_total_to_encode_only']:.2f}x"),
            ("multi-segment videos", r["multi_segment_videos"]),
            ("saved per multi-segment video (whole-video pass)", f"{r['whole_video_pass_s']:.3f} s"),
            ("saved in this run", f"{r['saved_s']:.1f} s ({r['saved_s'] / r['total_s']:.1%} of total)")]
    for name, value in rows:
        print(f"  {name:<44} {value:>14}")


if __name__ == "__main__":
    main()
