"""Clip export cost: seconds per clip in copy mode (stream copy) against exact mode (re-encode).

The moments are the 10-minute film's shots, as the library's scene detection cuts them
(``tempme.index.segment.scan_video``, fast mode; the scan stops once ``--clips`` shots of 2 to 12 s
are found), and 2 s from the middle of each shot (``mid``: a moment that starts between
keyframes, as a speech or text hit does), each exported with the default padding (1 s, snapped
to the detected cuts) in both modes, one after the other, into a temporary folder. For each clip the table shows the asked
span, where the copied clip really starts (the keyframe at or before the asked start), the wall
time and output size of each mode, the ratio exact / copy, and what ``auto`` would pick.

    nice -n 10 python bench/export.py [--video PATH] [--clips 10] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tempme.index.media import SegmentParams, VideoScan, scan_video
from tempme.index.media.clip_plan import NEAR_KEYFRAME_S
from tempme.index.media.clips import export_clip

from tempme.video import probe

REPO = Path(__file__).resolve().parents[1]
FILM = REPO.parent / "shared" / "data" / "videos" / "long" / "moviepy-sdist__bbb.mp4"


def shots(path: Path, n: int, min_s: float = 2.0, max_s: float = 12.0) -> tuple[list[tuple[float, float]], list[float]]:
    """The first ``n`` shots of ``min_s``-``max_s`` seconds, and the cuts found up to there."""
    scan = VideoScan(cuts_s=[])
    found = []
    params = SegmentParams(skip_nonref=True)
    for seg in scan_video(path, probe(path), num_frames=1, short_side=32, params=params, result=scan):
        span = seg.span
        if span.kind == "shot" and min_s <= span.length <= max_s and span.start_s > 0:
            found.append((span.start_s, span.end_s))
            if len(found) == n:
                break
    return found, list(scan.cuts_s)


def timed(path: Path, start: float, end: float, out: Path, cuts: list[float], mode: str, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = export_clip(path, start, end, out, cuts_s=cuts, mode=mode)
        best = min(best, time.perf_counter() - t0)
        if repeat > 1:
            result.path.unlink()
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=FILM)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="best of N exports per clip and mode")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()
    t0 = time.perf_counter()
    spans, cuts = shots(args.video, args.clips)
    scan_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        moments = [("shot", a, b) for a, b in spans] + [("mid", (a + b) / 2 - 1, (a + b) / 2 + 1) for a, b in spans]
        for kind, start, end in moments:
            copy_s, copy = timed(args.video, start, end, out, cuts, "copy", args.repeat)
            exact_s, exact = timed(args.video, start, end, out, cuts, "exact", args.repeat)
            rows.append(
                {
                    "kind": kind,
                    "moment": [start, end],
                    "asked": [copy.span.start_s, copy.span.end_s],
                    "copy_start_s": copy.start_s,
                    "copy_end_s": copy.end_s,
                    "exact_start_s": exact.start_s,
                    "exact_end_s": exact.end_s,
                    "copy_s": copy_s,
                    "exact_s": exact_s,
                    "copy_mb": copy.path.stat().st_size / 1e6 if args.repeat == 1 else None,
                    "exact_mb": exact.path.stat().st_size / 1e6 if args.repeat == 1 else None,
                    "auto": "copy" if copy.span.start_s - copy.start_s <= NEAR_KEYFRAME_S + 1e-6 else "exact",
                }
            )
    summary: dict = {
        "video": str(args.video),
        "clips": len(rows),
        "scan_s": scan_s,
        "median_copy_s": statistics.median(r["copy_s"] for r in rows),
        "median_exact_s": statistics.median(r["exact_s"] for r in rows),
        "load_before": load,
        "load_after": os.getloadavg(),
    }
    summary["median_ratio"] = statistics.median(r["exact_s"] / r["copy_s"] for r in rows)
    for kind in ("shot", "mid"):
        sel = [r for r in rows if r["kind"] == kind]
        summary[f"{kind}_median_copy_s"] = statistics.median(r["copy_s"] for r in sel)
        summary[f"{kind}_median_exact_s"] = statistics.median(r["exact_s"] for r in sel)
        summary[f"{kind}_auto_copy"] = sum(r["auto"] == "copy" for r in sel)
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=1))
        return
    print(
        f"{args.video.name}: {len(spans)} shots and their middles (scene scan {scan_s:.1f} s), padding 1 s snapped to cuts"
    )
    print("| kind | moment (s) | asked (s) | copy starts | copy s | exact s | exact/copy | copy MB | exact MB | auto |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["moment"]
        lead = r["asked"][0] - r["copy_start_s"]
        print(
            f"| {r['kind']} | {a:.2f}–{b:.2f} | {r['asked'][0]:.2f}–{r['asked'][1]:.2f} | {r['copy_start_s']:.2f} "
            f"({lead:.2f} early) | {r['copy_s']:.3f} | {r['exact_s']:.2f} | {r['exact_s'] / r['copy_s']:.0f}x "
            f"| {r['copy_mb'] or 0:.2f} | {r['exact_mb'] or 0:.2f} | {r['auto']} |"
        )
    for kind in ("shot", "mid"):
        print(
            f"{kind}: median copy {summary[kind + '_median_copy_s']:.3f} s, exact {summary[kind + '_median_exact_s']:.2f} s; "
            f"auto picks copy for {summary[kind + '_auto_copy']} of {len(spans)}"
        )
    print(
        f"all: median copy {summary['median_copy_s']:.3f} s, exact {summary['median_exact_s']:.2f} s per clip "
        f"(median ratio {summary['median_ratio']:.0f}x); load average before {load[0]:.2f}, "
        f"after {summary['load_after'][0]:.2f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
