"""Do the confidence cut-offs behave? Verdicts for real and nonsense queries on the real clips.

Indexes the top-level clips of ``../shared/data/videos`` (catalog.tsv lists one query that
should find each) with each ``--models`` encoder (random weights: no CLIP weights download
here); indexing computes and stores the library's nulls (the top-1 cosine of each of the 999
content-free prompts of :func:`tempme.index.nulls.null_prompts`, and the video null). Then, for
each catalog query and each nonsense query, ``Library.search`` (visual) gives the top hit, its
cosine, p-value and confidence, and the query's verdict; then the share of each level per kind
of query, and "more like this" from each video's first segment against the video null.

With random weights no score means anything, so real and nonsense queries alike should land
inside the null: about 95% ``none`` and a verdict of "no good match" nearly always (about 1%
of queries reach ``medium`` by chance, which is what p <= 0.01 promises).

    python bench/confidence.py [--models tempme-tiny ViT-B-32] [--videos ../shared/data/videos] [--long] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tempme.index import Confidence, Library, quoted, verdict
from tempme.index.catalog import Catalog
from tempme.index.nulls import NullDistribution, from_records, null_prompts

NONSENSE = [
    "zxqv blorp 12345",
    "qwerty flumph",
    "asdf ghjkl",
    "blibber blabber wop",
    "xkcd 927 plover",
    "mmmm nnnn oooo",
    "florp the wibble",
    "7 8 9 10 11",
    "quantum gravy sonnet",
    "lorem dolor sit amet",
]


def catalog_queries(videos: Path) -> list[tuple[str, str]]:
    """(file, query) for each top-level clip of catalog.tsv that has a query."""
    with open(videos / "catalog.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        (r["file"], r["example_query"])
        for r in rows
        if "/" not in r["file"] and r["example_query"] not in ("-", "") and not r["example_query"].startswith("(")
    ]


def encode_texts(encoder, texts: list[str], batch: int = 128) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for a in range(0, len(texts), batch):
            out.append(encoder.encode_text(texts[a : a + batch]).float().cpu().numpy())
    return np.concatenate(out)


def nulls(lib: Library) -> tuple[NullDistribution, NullDistribution, float]:
    """The library's stored text and video nulls, and the seconds its encoder takes to embed
    the 999 prompts (most of what calibrating costs)."""
    catalog = Catalog(lib.database_url)
    stored = from_records(catalog.score_nulls())
    catalog.close()
    t0 = time.perf_counter()
    encode_texts(lib.encoder(), null_prompts())
    return stored["text"], stored["video"], time.perf_counter() - t0


def judge(lib: Library, query: str, k: int) -> dict:
    hits = lib.search(query, k=k, mode="visual")
    v = verdict(quoted(query), hits)
    top = hits[0] if hits else None
    return {
        "query": query,
        "top": top.name if top else None,
        "cosine": float(top.score) if top else None,
        "p_value": top.p_value if top else 1.0,
        "confidence": (top.confidence or Confidence.NONE).value if top else "none",
        "verdict": v.verdict,
        "message": v.message,
    }


def like_this(lib: Library, k: int) -> list[dict]:
    """ "More like this" from the first segment of each video (itself excluded), judged by the
    library against its video null."""
    out, seen = [], set()
    for path in lib.shelf.video_paths():
        row = lib.shelf.segment_at(path, 0.0)
        if row is None or row.video_id in seen:
            continue
        seen.add(row.video_id)
        hits = lib.search_vector(lib.shelf.segment_vector(row.segment_id), k=k, exclude_segment=row.segment_id)
        if hits:
            out.append({"query": f"like {path.name}", "top": hits[0].name, "same_video": hits[0].video_id == row.video_id,
                        "cosine": float(hits[0].score), "p_value": hits[0].p_value,
                        "confidence": (hits[0].confidence or Confidence.NONE).value})  # fmt: skip
    return out


def run(models: list[str], videos: Path, k: int, workdir: Path, long: bool = False) -> list[dict]:
    pairs = catalog_queries(videos)
    files = [videos / f for f, _ in pairs] + ([videos / "long"] if long else [])
    results = []
    for model in models:
        lib = Library.open(workdir / model, create=True)
        t0 = time.perf_counter()
        report = lib.add(files, model=model, pretrained="none")
        index_s = time.perf_counter() - t0
        text, video, prompts_s = nulls(lib)
        row = {
            "model": model,
            "videos": report.indexed,
            "segments": lib.stats().segments,
            "index_s": index_s,
            "prompts_s": prompts_s,
            "text_null": text.summary(),
            "video_null": video.summary(),
            "real": [],
            "nonsense": [],
        }
        for f, q in pairs:
            j = judge(lib, q, k)
            j["expected"] = f
            row["real"].append(j)
        row["nonsense"] = [judge(lib, q, k) for q in NONSENSE]
        row["like_this"] = like_this(lib, k)
        lib.close()
        results.append(row)
    return results


def print_tables(results: list[dict]) -> None:
    for r in results:
        tn = r["text_null"]
        print(
            f"\n## {r['model']} (random weights): {r['videos']} videos, {r['segments']} segments; "
            f"indexed and calibrated in {r['index_s']:.0f} s (embedding the 999 null prompts alone: {r['prompts_s']:.1f} s)"
        )
        print(
            f"text null: N={tn['size']}, a hit must beat cosine {tn['beat']['low']:.4f} (low), "
            f"{tn['beat']['medium']:.4f} (medium), {tn['beat']['high']:.4f} (high); "
            f"video null: N={r['video_null']['size']}"
        )
        print("\n| kind | query | top hit | cosine | p | confidence | verdict |")
        print("|---|---|---|---:|---:|---|---|")
        for kind in ("real", "nonsense"):
            for j in r[kind]:
                top = j["top"] or "-"
                if kind == "real":
                    top += " ✓" if j["top"] == Path(j["expected"]).name else ""
                print(
                    f"| {kind} | {j['query']} | {top} | {j['cosine']:.4f} | {j['p_value']:.3f} | "
                    f"{j['confidence']} | {j['verdict']} |"
                )
        print("\n| kind | none | low | medium | high | no good match |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in ("real", "nonsense"):
            levels = [j["confidence"] for j in r[kind]]
            ngm = sum(j["verdict"] == "no good match" for j in r[kind])
            counts = " | ".join(str(levels.count(c)) for c in ("none", "low", "medium", "high"))
            print(f"| {kind} | {counts} | {ngm}/{len(levels)} |")
        like = r.get("like_this") or []
        if like:
            levels = [j["confidence"] for j in like]
            same = sum(j["same_video"] for j in like)
            print(
                f"\nmore like this (first segment of each video, against the video null): top hit in the same "
                f"video {same}/{len(like)}; "
                + ", ".join(f"{c} {levels.count(c)}" for c in ("none", "low", "medium", "high"))
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--videos", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/videos")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--long", action="store_true", help="also index long/ (a 10-minute film: many more segments)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="tempme-confidence-") as tmp:
        results = run(args.models, args.videos, args.k, Path(tmp), args.long)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print_tables(results)


if __name__ == "__main__":
    main()
