"""Tables from ``bench/scale_faiss.py --out`` JSON lines: the whole curve, or per index type the
cheapest setting that meets the targets (recall@10 >= R at p50 <= P ms, p99 <= Q ms, RSS <= M MB,
disk <= S MB).

    python bench/scale_table.py bench/results/clip-1e7.jsonl [--best --recall 0.95 --p50 10 --p99 50 --rss 1536 --disk 1024]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines() if line.strip()]


def build_s(r: dict) -> str:
    if "exact" in r["factory"]:  # no quantizer: the add is the build
        return f"-/-/-/{r['add_s']:.0f}/-/-"
    parts = [r.get("train_coarse_s", 0), r.get("assign_s", 0), r["train_codes_s"], r["add_s"], r["merge_s"]]
    parts.append(r.get("convert_s", 0))
    return "/".join(f"{x:.0f}" for x in parts)


def row(r: dict) -> str:
    cache = "" if r.get("cache", "warm") == "warm" else f" ({r['cache']}, {r.get('io_threads', 1)} io)"
    return (
        f"{r['factory'] + cache:<44} {r['nprobe']:>6} {r['rerank']:>6} {r['recall_at_10']:>9.3f} {r['p50_ms']:>8.2f} "
        f"{r['p99_ms']:>8.2f} {r['rss_mb']:>7.0f} {r['disk_mb']:>7.0f}  {build_s(r)}"
    )


HEADER = (
    f"{'index':<44} {'nprobe':>6} {'rerank':>6} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB':>7} "
    f"{'disk MB':>7}  build s: coarse/assign/codes/add/merge/fast-scan"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--best", action="store_true", help="per index type, the fastest setting meeting the targets")
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--p50", type=float, default=10.0)
    ap.add_argument("--p99", type=float, default=50.0)
    ap.add_argument("--rss", type=float, default=1536.0)
    ap.add_argument("--disk", type=float, default=1024.0)
    args = ap.parse_args()
    rows = load(args.files)
    print(HEADER)
    if not args.best:
        for r in rows:
            print(row(r))
        return
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["n"], r["factory"], r.get("cache", "warm"), r.get("io_threads", 1)), []).append(r)
    for _, rs in groups.items():
        ok = [r for r in rs if r["recall_at_10"] >= args.recall]
        if not ok:
            best = max(rs, key=lambda r: r["recall_at_10"])
            print(row(best) + "  (best recall; target not reached)")
            continue
        best = min(ok, key=lambda r: (r["p50_ms"], r["nprobe"], r["rerank"]))
        meets = (
            best["p50_ms"] <= args.p50
            and best["p99_ms"] <= args.p99
            and best["rss_mb"] <= args.rss
            and best["disk_mb"] <= args.disk
        )
        print(row(best) + ("  meets all targets" if meets else "  misses a target"))


if __name__ == "__main__":
    main()
