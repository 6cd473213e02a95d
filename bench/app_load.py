"""Load test of the search app: N concurrent gradio_client clients searching for S seconds.

    .venv/bin/python bench/app_load.py                       # 20 clients x 30 s, builds a library
    .venv/bin/python bench/app_load.py --clients 5 --duration 5 --json
    .venv/bin/python bench/app_load.py --url http://127.0.0.1:7860 --auth user:pw

Without ``--url`` it serves a library (``--library``; built from ../shared/data/videos with
``--model``/``--pretrained`` when it does not exist yet) with `tempme serve` in a subprocess on
a free port. Each client cycles through the example queries of catalog.tsv, each made unique (a suffix) so
that every request encodes its text. Printed: requests,
errors (target 0), p50 / p99 / max latency (ms), requests per second; the same latencies are
measured for one client alone in the same run, as the baseline the concurrent figures are
compared against. Every query is run once first, unmeasured (thumbnails are made on first use).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import start_server  # noqa: E402  (the test helper)

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def queries() -> list[str]:
    catalog = VIDEOS / "catalog.tsv"
    rows = [line.split("\t") for line in catalog.read_text().splitlines()[1:] if line.strip()]
    found = [r[-1] for r in rows if r[-1] not in ("-", "") and not r[-1].startswith("(")]
    return found or ["a person walking"]


def build_library(library: Path, model: str, pretrained: str) -> None:
    from tempme.index import Library

    clips = sorted(p for p in VIDEOS.iterdir() if p.is_file() and p.suffix.lower() in (".mp4", ".mkv", ".webm", ".avi"))
    lib = Library.open(library, create=True)
    report = lib.add(clips, model=model, pretrained=pretrained)
    print(f"built {library}: {report.summary()}", file=sys.stderr)


def warm_up(url: str, auth: tuple[str, str] | None) -> None:
    """Every query once (not measured): thumbnails are made on first use, the encoder loads."""
    from gradio_client import Client

    client = Client(url, auth=auth, verbose=False, download_files=False)
    for q in queries():
        client.predict(q, 50, api_name="/search")


def run_clients(url: str, n: int, seconds: float, k: int, auth: tuple[str, str] | None) -> dict:
    """`n` threads, each with its own Client, searching until `seconds` have passed."""
    from gradio_client import Client

    qs = queries()
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors: list[list[str]] = [[] for _ in range(n)]
    clients = [Client(url, auth=auth, verbose=False, download_files=False) for _ in range(n)]
    start = threading.Barrier(n + 1)

    def work(i: int) -> None:
        start.wait()
        stop = time.perf_counter() + seconds
        j = i
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                # A new text every time: the server's query-embedding cache never answers.
                hits = clients[i].predict(f"{qs[j % len(qs)]} ({i}.{j})", k, api_name="/search")
                if not isinstance(hits, list) or not hits:
                    raise ValueError(f"bad answer: {str(hits)[:80]}")
                latencies[i].append(time.perf_counter() - t0)
            except Exception as e:  # counted, not fatal: the figure we want is how many
                errors[i].append(f"{type(e).__name__}: {e}"[:200])
            j += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array([x for per in latencies for x in per]) * 1000.0
    errs = [e for per in errors for e in per]
    return {
        "clients": n,
        "seconds": round(wall, 2),
        "requests": int(lat.size),
        "errors": len(errs),
        "first_errors": errs[:3],
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
        "max_ms": round(float(lat.max()), 1) if lat.size else None,
        "req_per_s": round(lat.size / wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of concurrent load")
    ap.add_argument("--baseline-duration", type=float, default=5.0, help="seconds of the 1-client baseline (0: skip)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--url", help="an already running server; otherwise one is started")
    ap.add_argument("--library", type=Path, default=Path(tempfile.gettempdir()) / "tempme-bench-library")
    ap.add_argument("--model", default="tempme-tiny", help="encoder for a library that must be built")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--auth", help="user:password")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    if args.clients < 1 or args.duration <= 0:
        ap.error(f"--clients must be >= 1 and --duration > 0, got {args.clients} and {args.duration}")
    auth = tuple(args.auth.split(":", 1)) if args.auth else None

    server = None
    url = args.url
    if url is None:
        if not args.library.exists():
            build_library(args.library, args.model, args.pretrained)
        server = start_server(args.library, args=["--auth", args.auth] if args.auth else [])
        url = server.url
    try:
        warm_up(url, auth)
        rows = []
        if args.baseline_duration > 0:
            rows.append(run_clients(url, 1, args.baseline_duration, args.k, auth))
        rows.append(run_clients(url, args.clients, args.duration, args.k, auth))
    finally:
        if server is not None:
            server.stop()

    result = {"url": url, "library": str(args.library) if args.url is None else None, "k": args.k, "runs": rows}
    if args.json:
        print(json.dumps(result))
        return
    base = rows[0] if len(rows) > 1 else None
    print(f"search load against {url} (K={args.k})")
    print(
        f"{'clients':>7} {'secs':>6} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} {'req/s vs 1':>10}"
    )
    for r in rows:
        ratio = f"{r['req_per_s'] / base['req_per_s']:.2f}x" if base and base["req_per_s"] else "-"
        print(
            f"{r['clients']:>7} {r['seconds']:>6.1f} {r['requests']:>8} {r['errors']:>6} {r['p50_ms'] or 0:>8.1f} "
            f"{r['p99_ms'] or 0:>8.1f} {r['max_ms'] or 0:>8.1f} {r['req_per_s']:>7.2f} {ratio:>10}"
        )
    for r in rows:
        for e in r["first_errors"]:
            print(f"error ({r['clients']} clients): {e}")


if __name__ == "__main__":
    main()
