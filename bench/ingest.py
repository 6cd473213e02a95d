"""Ingest at the decode limit: segmentation cost against the decoding floor and a user's baseline,
cut agreement, and end-to-end ingest against encode-only time, all measured in one run.

Parts (each can be skipped):

- **film**: the long film (../shared/data/videos/long). *Floor*: PyAV decodes every frame, threads
  on, no colour conversion. *Baseline*: PySceneDetect's own ``detect(path, ContentDetector())``,
  then PyAV seeking to the 12 timestamps of every segment (``tempme.video.sample_frames``, one
  call per segment; measured on ``--baseline-segments`` evenly spread segments and scaled to
  all of them, said in the table). *Ours*: ``index.segment.scan_video`` decoding every frame,
  and the fast mode (reference frames only). Cut agreement: F1 of our cuts against the
  baseline's (PySceneDetect's full-frame detection) with a 0.1 s tolerance.
- **clips**: the short clips (../shared/data/videos and edge/): floor and ours, summed.
- **ingest**: ``Library.add`` of the short clips into a fresh library (decoding, encoding,
  catalog writes) with ``tempme-tiny`` (the stand-in for a GPU: encoding is cheap) for decoder
  threads, 1 and 2 decoder processes, and with ViT-B/32 (random weights), against encoding the
  same number of clips alone at the same batch size (TempMe's cost does not depend on pixel
  values, so encode-only uses random frames).

    python bench/ingest.py                 # everything (about 10 minutes on 2 quiet cores)
    python bench/ingest.py --skip film     # clips and ingest only
    python bench/ingest.py --json          # the same figures as one JSON object

Targets (issue 17): ours <= 1.5x the floor; >= 3x faster than the baseline on the film; F1 >= 0.95;
ingest <= 1.25x encode-only with ViT-B/32 and <= 2.5x with tempme-tiny.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from tempme.index import VIDEO_EXTENSIONS, Library
from tempme.index.ingest import LocalExecutor, load
from tempme.index.media import SegmentParams, VideoScan, cut_agreement, plan_segments, scan_video

from tempme.video import VideoDecodeError, probe, sample_frames, uniform_times

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
FILM = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"


class Clock:
    """Wall and CPU (this process, all threads) seconds of a block."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0


def floor_decode(path: Path) -> int:
    """Decode every frame (threads on, no conversion); returns the frame count."""
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        try:
            for _ in c.decode(s):
                n += 1
        except av.FFmpegError:
            pass
    return n


def ours(path: Path, params: SegmentParams, short_side: int = 224) -> tuple[int, VideoScan]:
    scan = VideoScan(cuts_s=[])
    n = sum(1 for _ in scan_video(path, probe(path), 12, short_side, params, scan))
    return n, scan


def film_part(args) -> dict:
    meta = probe(FILM)
    with Clock() as floor:
        frames = floor_decode(FILM)
    with Clock() as every:
        n_every, scan_every = ours(FILM, SegmentParams())
    with Clock() as fast:
        n_fast, scan_fast = ours(FILM, SegmentParams(skip_nonref=True))
    from scenedetect import ContentDetector, detect

    with Clock() as detect_clock:
        scenes = detect(str(FILM), ContentDetector())
    ref_cuts = [float(start.seconds) for start, _ in scenes[1:]]
    spans = plan_segments(meta.duration_s, ref_cuts, SegmentParams().window_s, SegmentParams().min_shot_s)
    pick = np.unique(np.linspace(0, len(spans) - 1, min(args.baseline_segments, len(spans))).round().astype(int))
    with Clock() as seek:
        for i in pick:
            sample_frames(FILM, uniform_times(spans[i].start_s, spans[i].end_s, 12), short_side=224)
    seek_scale = len(spans) / len(pick)
    baseline_wall = detect_clock.wall + seek.wall * seek_scale
    baseline_cpu = detect_clock.cpu + seek.cpu * seek_scale
    a_every = cut_agreement(scan_every.cuts_s, ref_cuts, 0.1)
    a_fast = cut_agreement(scan_fast.cuts_s, ref_cuts, 0.1)
    return {
        "film": FILM.name,
        "film_s": meta.duration_s,
        "film_frames": frames,
        "floor_wall_s": floor.wall,
        "floor_cpu_s": floor.cpu,
        "ours_wall_s": every.wall,
        "ours_cpu_s": every.cpu,
        "ours_segments": n_every,
        "fast_wall_s": fast.wall,
        "fast_cpu_s": fast.cpu,
        "fast_segments": n_fast,
        "fast_decoded_frames": scan_fast.decoded_frames,
        "baseline_detect_wall_s": detect_clock.wall,
        "baseline_detect_cpu_s": detect_clock.cpu,
        "baseline_seek_segments_measured": int(len(pick)),
        "baseline_segments": len(spans),
        "baseline_wall_s": baseline_wall,
        "baseline_cpu_s": baseline_cpu,
        "reference_cuts": len(ref_cuts),
        "ours_cuts": len(scan_every.cuts_s),
        "fast_cuts": len(scan_fast.cuts_s),
        "ours_f1": a_every.f1,
        "ours_precision": a_every.precision,
        "ours_recall": a_every.recall,
        "fast_f1": a_fast.f1,
        "fast_precision": a_fast.precision,
        "fast_recall": a_fast.recall,
        "ours_over_floor_wall": every.wall / floor.wall,
        "ours_over_floor_cpu": every.cpu / floor.cpu,
        "fast_over_floor_wall": fast.wall / floor.wall,
        "fast_over_floor_cpu": fast.cpu / floor.cpu,
        "baseline_over_ours_wall": baseline_wall / every.wall,
        "baseline_over_fast_wall": baseline_wall / fast.wall,
        "baseline_over_ours_cpu": baseline_cpu / every.cpu,
        "baseline_over_fast_cpu": baseline_cpu / fast.cpu,
    }


def short_clips() -> list[Path]:
    return sorted(p for d in (VIDEOS, VIDEOS / "edge") for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)


def clips_part() -> dict:
    out = {
        "floor_wall_s": 0.0,
        "floor_cpu_s": 0.0,
        "ours_wall_s": 0.0,
        "ours_cpu_s": 0.0,
        "fast_wall_s": 0.0,
        "fast_cpu_s": 0.0,
        "files": 0,
        "frames": 0,
    }
    for p in short_clips():
        try:
            probe(p)
        except VideoDecodeError:
            continue
        with Clock() as f:
            out["frames"] += floor_decode(p)
        with Clock() as o:
            ours(p, SegmentParams())
        with Clock() as q:
            ours(p, SegmentParams(skip_nonref=True))
        out["files"] += 1
        for key, c in (("floor", f), ("ours", o), ("fast", q)):
            out[f"{key}_wall_s"] += c.wall
            out[f"{key}_cpu_s"] += c.cpu
    out["ours_over_floor_wall"] = out["ours_wall_s"] / out["floor_wall_s"]
    out["fast_over_floor_wall"] = out["fast_wall_s"] / out["floor_wall_s"]
    return out


def encode_only_s(encoder, n_clips: int, batch_size: int) -> float:
    """Seconds to encode ``n_clips`` clips in batches of ``batch_size`` (no decoding)."""
    T, S = encoder.num_frames, encoder.image_size
    x = torch.randn(batch_size, T, 3, S, S)
    with encoder.inference():
        encoder.encode_video(x[:1])  # warm-up
        t0 = time.perf_counter()
        left = n_clips
        while left > 0:
            b = min(batch_size, left)
            encoder.encode_video(x[:b]).float().cpu()
            left -= b
    return time.perf_counter() - t0


def ingest_once(
    paths: list[Path], encoder, model: str, workers: int, processes: bool, batch_size: int, params: SegmentParams
) -> dict:
    executor = LocalExecutor(params, workers, batch_size, processes=processes)
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp) / "library", create=True, encoder=encoder)
        t0 = time.perf_counter()
        report = lib.add(paths, model=model, pretrained="none", encoder=encoder, executor=executor)
        total = time.perf_counter() - t0
        lib.close()
    return {
        "videos": report.indexed,
        "failed": report.failed,
        "segments": report.segments,
        "encoded_clips": report.segments,
        "total_s": total,
        "videos_per_s": report.indexed / total,
        "decode_s": report.decode_s,
        "encode_in_pipeline_s": report.encode_s,
    }


def ingest_part(args) -> dict:
    paths = short_clips()
    params = SegmentParams(skip_nonref=args.fast)
    out: dict = {"files": len(paths), "fast_mode": args.fast}
    tiny = load("tempme-tiny", "none")
    runs = {"tiny_threads2": (2, False), "tiny_processes1": (1, True), "tiny_processes2": (2, True)}
    for name, (workers, processes) in runs.items():
        out[name] = ingest_once(paths, tiny, "tempme-tiny", workers, processes, args.batch_size, params)
    only = encode_only_s(tiny, out["tiny_processes2"]["encoded_clips"], args.batch_size)
    out["tiny_encode_only_s"] = only
    for name in runs:
        out[name]["over_encode_only"] = out[name]["total_s"] / only
    if not args.no_b32:
        b32 = load("ViT-B-32", "none")
        r = ingest_once(paths, b32, "ViT-B-32", 2, True, args.batch_size, params)
        r["encode_only_s"] = encode_only_s(b32, r["encoded_clips"], args.batch_size)
        r["over_encode_only"] = r["total_s"] / r["encode_only_s"]
        out["b32_processes2"] = r
    return out


def table(r: dict) -> str:
    lines = [f"ingest bench: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"]

    def row(name: str, value: str) -> None:
        lines.append(f"  {name:<64} {value:>16}")

    if "film" in r:
        f = r["film"]
        lines.append(f"film {f['film']} ({f['film_s']:.0f} s, {f['film_frames']} frames): wall s (CPU s)")
        row("floor: decode every frame, threads, no conversion", f"{f['floor_wall_s']:.1f} ({f['floor_cpu_s']:.1f})")
        row(
            f"baseline: detect(ContentDetector) + seek 12/segment [seek on "
            f"{f['baseline_seek_segments_measured']}/{f['baseline_segments']}, scaled]",
            f"{f['baseline_wall_s']:.1f} ({f['baseline_cpu_s']:.1f})",
        )
        row("  of which detect()", f"{f['baseline_detect_wall_s']:.1f} ({f['baseline_detect_cpu_s']:.1f})")
        row("ours: scan_video, every frame", f"{f['ours_wall_s']:.1f} ({f['ours_cpu_s']:.1f})")
        row("ours, fast mode (reference frames only)", f"{f['fast_wall_s']:.1f} ({f['fast_cpu_s']:.1f})")
        row("ours / floor (target <= 1.5x)", f"{f['ours_over_floor_wall']:.2f}x ({f['ours_over_floor_cpu']:.2f}x)")
        row("fast / floor", f"{f['fast_over_floor_wall']:.2f}x ({f['fast_over_floor_cpu']:.2f}x)")
        row(
            "baseline / ours (target >= 3x)",
            f"{f['baseline_over_ours_wall']:.2f}x ({f['baseline_over_ours_cpu']:.2f}x)",
        )
        row("baseline / fast", f"{f['baseline_over_fast_wall']:.2f}x ({f['baseline_over_fast_cpu']:.2f}x)")
        row(
            f"cut F1 vs full-frame ContentDetector, 0.1 s ({f['reference_cuts']} cuts; target >= 0.95)",
            f"{f['ours_f1']:.3f}",
        )
        row(f"cut F1, fast mode (P {f['fast_precision']:.3f}, R {f['fast_recall']:.3f})", f"{f['fast_f1']:.3f}")
    if "clips" in r:
        c = r["clips"]
        lines.append(f"short clips ({c['files']} files, {c['frames']} frames): wall s (CPU s)")
        row("floor", f"{c['floor_wall_s']:.1f} ({c['floor_cpu_s']:.1f})")
        row("ours, every frame", f"{c['ours_wall_s']:.1f} ({c['ours_cpu_s']:.1f})")
        row("ours, fast mode", f"{c['fast_wall_s']:.1f} ({c['fast_cpu_s']:.1f})")
        row("ours / floor; fast / floor", f"{c['ours_over_floor_wall']:.2f}x; {c['fast_over_floor_wall']:.2f}x")
    if "ingest" in r:
        g = r["ingest"]
        mode = "fast mode" if g["fast_mode"] else "every frame"
        lines.append(f"ingest of the short clips ({g['files']} files, {mode}): Library.add wall time")
        for name, label in (
            ("tiny_threads2", "2 decoder threads"),
            ("tiny_processes1", "1 decoder process"),
            ("tiny_processes2", "2 decoder processes"),
        ):
            x = g[name]
            row(
                f"tempme-tiny, {label}: {x['segments']} segments, videos/s {x['videos_per_s']:.2f}",
                f"{x['total_s']:.1f} s",
            )
        row("tempme-tiny encode-only", f"{g['tiny_encode_only_s']:.2f} s")
        for name, label in (
            ("tiny_threads2", "2 threads"),
            ("tiny_processes1", "1 process"),
            ("tiny_processes2", "2 processes"),
        ):
            row(f"tempme-tiny total / encode-only, {label} (target <= 2.5x)", f"{g[name]['over_encode_only']:.2f}x")
        if "b32_processes2" in g:
            b = g["b32_processes2"]
            row(f"ViT-B/32, 2 processes: total ({b['segments']} segments)", f"{b['total_s']:.1f} s")
            row("ViT-B/32 encode-only", f"{b['encode_only_s']:.1f} s")
            row("ViT-B/32 total / encode-only (target <= 1.25x)", f"{b['over_encode_only']:.2f}x")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip", nargs="*", default=[], choices=["film", "clips", "ingest"])
    ap.add_argument(
        "--baseline-segments",
        type=int,
        default=24,
        help="segments whose 12 timestamps the baseline seeks to (scaled to all)",
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--fast", action="store_true", help="ingest in the fast mode (reference frames only)")
    ap.add_argument("--no-b32", action="store_true", help="skip the ViT-B/32 ingest")
    ap.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: default)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    r: dict = {}
    if "film" not in args.skip and FILM.is_file():
        r["film"] = film_part(args)
    if "clips" not in args.skip:
        r["clips"] = clips_part()
    if "ingest" not in args.skip:
        r["ingest"] = ingest_part(args)
    print(json.dumps(r) if args.json else table(r))


if __name__ == "__main__":
    main()
