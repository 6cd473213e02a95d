"""Ingest throughput: the local threaded engine against the Ray Data engine with 1 and 2 decode
workers, same files, same tiny random encoder, same run (ratios against the local engine).

Columns: videos/s, segments/s, decode core-seconds per video-minute (the executors' own decode
timers summed over videos, divided by the minutes of video), and Ray's scaling efficiency
(throughput with 2 decoders / (2 x throughput with 1)). Ray's start-up is excluded (a local Ray
is started once before the timed runs).

    python bench/scale_ingest.py DIR [--model tempme-tiny] [--clips 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="tempme-tiny")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--clips", type=int, default=4, help="first N files (sorted by name)")
    args = ap.parse_args()
    import ray
    from tempme.index import Library
    from tempme.index.ingest import RayExecutor
    from tempme.index.media import SegmentParams, walk

    from tempme.video import probe

    files = sorted(walk([args.folder.resolve()]))[: args.clips]
    work = Path(tempfile.mkdtemp(prefix="tempme-ingest-"))
    (work / "clips").mkdir()
    for f in files:
        shutil.copy(f, work / "clips" / f.name)
    minutes = sum(probe(f).duration_s for f in files) / 60
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    params = SegmentParams()
    engines = [
        ("local (2 threads)", None),
        ("ray, 1 decoder", RayExecutor(params, decoders=1)),
        ("ray, 2 decoders", RayExecutor(params, decoders=2)),
    ]
    rows = []
    for name, executor in engines:
        lib = Library.open(work / f"lib-{len(rows)}", create=True)
        t0 = time.perf_counter()
        r = lib.add(
            [work / "clips"], model=args.model, pretrained=args.pretrained, executor=executor, segment_params=params
        )
        wall = time.perf_counter() - t0
        rows.append((name, r.indexed / wall, r.segments / wall, r.decode_s / max(minutes, 1e-9), wall))
        lib.close()
    base = rows[0][1]
    print(f"{len(files)} videos, {minutes:.1f} video-minutes, encoder {args.model}, {os.cpu_count()} cores")
    print(f"{'engine':<20} {'wall s':>7} {'videos/s':>9} {'segments/s':>11} {'decode core-s/min':>18} {'vs local':>9}")
    for name, vps, sps, dps, wall in rows:
        print(f"{name:<20} {wall:7.1f} {vps:9.3f} {sps:11.2f} {dps:18.1f} {vps / base:8.2f}x")
    print(f"Ray scaling efficiency 1 -> 2 decoders: {rows[2][1] / (2 * rows[1][1]):.2f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
