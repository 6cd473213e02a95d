"""Is the confidence calibrated? False alarms on held-out queries, before and after issue 24.

A p-value is calibrated when a query with no true match gets ``p <= a`` with probability ``a``
(the promise of docs/confidence.md: ``low`` 5%, ``medium`` 1%, ``high`` 0.1% of such queries).
With random weights (no CLIP weights download here) no query has a true match, so every query
is a negative and the share reaching each level *is* the false-alarm rate. For each
``--models`` encoder this indexes the top-level clips of ``../shared/data/videos`` (indexing
stores the library's text null: 999 content-free prompts, :func:`tempme.index.nulls.null_prompts`
with seed ``NULL_VERSION``), then scores three held-out query sets the null never saw:

- ``held-out nonsense``: 1000 content-free prompts drawn like the null's (another seed, none
  of the null's strings): exchangeable with the null, so the shares should match ``a``;
- ``MSR-VTT captions``: the 1000 sentences of the 1k-A test split
  (``../shared/data/msrvtt/MSRVTT_JSFUSION_test.csv``), real captions of other videos: a shift
  from the null's distribution (docs/confidence.md, "Exchangeability");
- ``catalog queries``: the query catalog.tsv gives for each clip.

Before issue 24 the match dots ranked a query's results against each other only: every
query's best hit showed ``●●●●●`` and no search ever said "no good match", so the false-alarm
rate of the old display was 100% for every set. After: the share of queries whose top hit
reaches each level (a search's best p-value is its top hit's), with a 95% Wilson interval,
and the largest gap between the p-values' empirical CDF and the diagonal over a grid of ``a``
(the calibration error of the p-values; 0 is perfect). The top-1 cosines are computed in one
batch through ``Library.search_segments``; the first queries of each set are checked against
``Library.search`` (the path users get) before anything is counted.

    python bench/calibration.py [--models tempme-tiny ViT-B-32] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tempme.index import Library
from tempme.index.catalog import Catalog
from tempme.index.nulls import NULL_VERSION, P_CUTS, confidence_of_p, from_records, null_prompts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from confidence import catalog_queries, encode_texts  # noqa: E402  (bench/confidence.py)

GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
PAGE = 12  # results on the page's first screen
CHECKED = 8  # queries of each set also searched through Library.search, which must agree


def held_out_nonsense(n: int = 1000) -> list[str]:
    seen = set(null_prompts())
    fresh = [p for p in dict.fromkeys(null_prompts(3 * n, seed=NULL_VERSION + 1000)) if p not in seen]
    return fresh[:n]


def msrvtt_captions(msrvtt: Path) -> list[str]:
    with open(msrvtt / "MSRVTT_JSFUSION_test.csv", newline="") as f:
        return list(dict.fromkeys(r["sentence"].strip() for r in csv.DictReader(f)))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, mid - half), min(1.0, mid + half))


def old_dots(scores: np.ndarray) -> int:
    """Filled dots of the best of a page's (K,) cosines under the display before issue 24
    (``match_dots`` of app/web/render.py then: 5 for the best shown, 1 for the worst)."""
    best, worst = float(scores.max()), float(scores.min())
    return 5 if best - worst <= 1e-9 else 1 + round(4 * (float(scores[0]) - worst) / (best - worst))


def score_set(lib: Library, null, queries: list[str]) -> dict:
    vecs = encode_texts(lib.encoder(), queries)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    scores, _ = lib.search_segments(vecs.astype(np.float32), PAGE)  # (Q, PAGE), best first
    before = sum(old_dots(row[np.isfinite(row)]) == 5 for row in scores)
    p = np.asarray(null.p_values(scores[:, 0].tolist()))
    for q, pv in zip(queries[:CHECKED], p):  # the batch must be what a user's search says
        (hit,) = lib.search(q, k=1, mode="visual")
        assert abs(hit.p_value - pv) < 2e-3, (q, hit.p_value, pv)
    levels = [confidence_of_p(float(v)).value for v in p]
    n = len(p)
    shares = {}
    for level, cut in P_CUTS.items():
        k = int((p <= cut + 1e-12).sum())
        shares[level.value] = {"nominal": cut, "count": k, "share": k / n, "ci95": wilson(k, n)}
    gaps = [abs(float((p <= a + 1e-12).mean()) - a) for a in GRID]
    return {
        "n": n,
        "before_full_dots": int(before),
        "levels": {c: levels.count(c) for c in ("none", "low", "medium", "high")},
        "at_or_above": shares,
        "good_match_verdicts": shares["medium"]["count"],  # a verdict is good from medium
        "max_cdf_gap": max(gaps),
        "mean_cdf_gap": float(np.mean(gaps)),
    }


def run(models: list[str], videos: Path, msrvtt: Path, workdir: Path) -> list[dict]:
    pairs = catalog_queries(videos)
    sets = {
        "held-out nonsense": held_out_nonsense(),
        "MSR-VTT captions": msrvtt_captions(msrvtt),
        "catalog queries": [q for _, q in pairs],
    }
    out = []
    for model in models:
        lib = Library.open(workdir / model, create=True)
        t0 = time.perf_counter()
        lib.add([videos / f for f, _ in pairs], model=model, pretrained="none")
        index_s = time.perf_counter() - t0
        catalog = Catalog(lib.database_url)
        null = from_records(catalog.score_nulls())["text"]
        catalog.close()
        row = {"model": model, "segments": lib.stats().segments, "index_s": index_s, "null": null.summary()}
        row["sets"] = {name: score_set(lib, null, qs) for name, qs in sets.items()}
        lib.close()
        out.append(row)
    return out


def print_tables(results: list[dict]) -> None:
    print("\n| encoder (random weights) | query set | N | before: top hit ●●●●● (of 12) | after: ≥ low (5%) | ≥ medium (1%) "
          "| high (0.1%) | 'good matches' verdicts | max / mean CDF gap |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for name, s in r["sets"].items():
            cells = []
            for level in ("low", "medium", "high"):
                a = s["at_or_above"][level]
                lo, hi = a["ci95"]
                cells.append(f"{100 * a['share']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
            print(
                f"| {r['model']} ({r['segments']} segments) | {name} | {s['n']} | {100 * s['before_full_dots'] / s['n']:.0f}% | {' | '.join(cells)} | "
                f"{s['good_match_verdicts']}/{s['n']} | {s['max_cdf_gap']:.3f} / {s['mean_cdf_gap']:.3f} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[1].parent / "shared/data"
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--videos", type=Path, default=root / "videos")
    ap.add_argument("--msrvtt", type=Path, default=root / "msrvtt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tempme-calibration-") as tmp:
        results = run(args.models, args.videos, args.msrvtt, Path(tmp))
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print_tables(results)


if __name__ == "__main__":
    main()
