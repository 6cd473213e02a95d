"""The REST API (issue 23): warm search latency through `/api/v1/search` against `Library.search`
in this process, throughput with 1 and 2 workers under concurrent clients, and `tempme search`
through a running server against the gradio_client path it replaced. Ratios are within one run.

    nice -n 10 .venv/bin/python bench/api.py                       # tempme-tiny, 30 s per load step
    nice -n 10 .venv/bin/python bench/api.py --seconds 10 --queries 100

A library of three real clips with the tiny random model (``--pretrained none``: only time is
measured). Every query text is new (``... {i}``) so that nothing comes from a query cache.

- latency: ``--queries`` searches one after another, p50/p99 in ms; ``Library.search`` here, then
  ``GET /api/v1/search`` on one keep-alive httpx connection to `tempme serve` (the same k);
  target ≤ 1.3x in-process + 5 ms;
- throughput: ``--clients`` concurrent clients (asyncio + httpx, one connection each, loopback)
  searching for ``--seconds`` against `tempme serve` and `tempme serve --workers 2`: queries/s,
  errors (anything but 200), and the 2-worker/1-worker ratio (the clients share the machine's
  cores with the server: on a 2-core host scaling is bounded by that);
- CLI: a new `tempme search QUERY` process while the server runs (REST API, plain httpx), against
  a new process that imports gradio_client and calls the page's ``/search`` (what `tempme
  search` did before this issue), median of ``--repeats``; target ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import build_library, running_server  # noqa: E402  (the test helper)

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CLIPS = ["opencv-doc__cup.mp4", "opencv-doc__box.mp4", "moviepy__fire2.mp4"]
K = 10
GRADIO_CLI = (
    "import sys; from gradio_client import Client; "
    "Client(sys.argv[1], verbose=False, download_files=False).predict(sys.argv[2], 10, api_name='/search')"
)


def percentiles(ms: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return statistics.median(ms), q[98]


def in_process(library: Path, n: int) -> list[float]:
    from tempme.index import Library, set_search_threads

    set_search_threads()
    with Library.open(library) as lib:
        lib.search("warm up", K)
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            lib.search(f"a red box on a table {i}", K)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def through_api(url: str, n: int) -> list[float]:
    with httpx.Client(base_url=url + "api/v1/", timeout=60) as c:
        c.get("search", params={"query": "warm up", "k": K}).raise_for_status()
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            c.get("search", params={"query": f"a red box on a table {i}", "k": K}).raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def load(url: str, clients: int, seconds: float) -> tuple[int, int]:
    """(answered with 200, anything else) from ``clients`` concurrent loops for ``seconds``."""
    stop = time.monotonic() + seconds
    ok, bad = [0], [0]

    async def one(c: int) -> None:
        async with httpx.AsyncClient(base_url=url + "api/v1/", timeout=60) as client:
            i = 0
            while time.monotonic() < stop:
                try:
                    r = await client.get("search", params={"query": f"someone pouring water {c} {i}", "k": K})
                    ok[0] += r.status_code == 200
                    bad[0] += r.status_code != 200
                except httpx.HTTPError:
                    bad[0] += 1
                i += 1

    await asyncio.gather(*(one(c) for c in range(clients)))
    return ok[0], bad[0]


def wait_ready(url: str, in_a_row: int) -> None:
    """``in_a_row`` ready answers on new connections (every worker has loaded its model)."""
    deadline, ready = time.monotonic() + 300, 0
    while ready < in_a_row:
        assert time.monotonic() < deadline, "the server never became ready"
        with httpx.Client(timeout=60) as c:
            ready = ready + 1 if c.get(url + "api/v1/ready").status_code == 200 else 0
        time.sleep(0.1)


def wall(cmd: list[str]) -> float | None:
    """Wall seconds of one process, None when it failed (its stderr's last line is printed)."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        print(f"failed ({out.returncode}): {(out.stderr.strip().splitlines() or [''])[-1][:300]}", file=sys.stderr)
        return None
    return time.perf_counter() - t0


def median_wall(make, repeats: int) -> tuple[float, int]:
    """(median wall seconds of the processes that succeeded, how many failed) of ``repeats`` runs."""
    wall(make(-1))  # unmeasured
    times = [wall(make(i)) for i in range(repeats)]
    ok = [t for t in times if t is not None]
    return (statistics.median(ok) if ok else float("nan")), len(times) - len(ok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=200, help="sequential searches for p50/p99")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="per throughput step")
    ap.add_argument("--repeats", type=int, default=5, help="CLI processes per path (median)")
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tempme-bench-api-") as work:
        library = Path(work) / "library"
        print(build_library(library, [VIDEOS / c for c in CLIPS]).summary(), file=sys.stderr)
        here = percentiles(in_process(library, args.queries))
        throughput = {}
        with running_server(library, timeout_s=600) as srv:
            wait_ready(srv.url, 1)
            api = percentiles(through_api(srv.url, args.queries))
            ok, bad = asyncio.run(load(srv.url, args.clients, args.seconds))
            throughput[1] = (ok / args.seconds, bad)
            tempme = [sys.executable, "-m", "tempme", "--library", str(library), "search"]
            cli = median_wall(lambda i: [*tempme, f"a cup {i}"], args.repeats)
            gradio = median_wall(lambda i: [sys.executable, "-c", GRADIO_CLI, srv.url, f"a cup {i}"], args.repeats)
        with running_server(library, args=["--workers", "2"], timeout_s=600) as srv:
            wait_ready(srv.url, 8)
            ok, bad = asyncio.run(load(srv.url, args.clients, args.seconds))
            throughput[2] = (ok / args.seconds, bad)
    for name, (p50, p99) in (("Library.search (in process)", here), ("GET /api/v1/search", api)):
        rows.append((f"search latency, {name}", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", f"{p50 / here[0]:.2f}x"))
    target = "meets" if api[0] <= 1.3 * here[0] + 5 and api[1] <= 1.3 * here[1] + 5 else "misses"
    rows.append(("  target ≤ 1.3x + 5 ms (p50 and p99)", target, ""))
    for w, (qps, bad) in throughput.items():
        ratio = f"{qps / throughput[1][0]:.2f}x"
        rows.append(
            (f"{args.clients} clients, {args.seconds:.0f} s, {w} worker(s)", f"{qps:.1f} q/s, {bad} errors", ratio)
        )
    (gradio, gradio_failed), (cli, cli_failed) = gradio, cli
    rows.append(("new process: python -c gradio_client /search", f"{gradio:.3f} s, {gradio_failed} failed", "1.00x"))
    rows.append(("new process: tempme search (REST API)", f"{cli:.3f} s, {cli_failed} failed", f"{cli / gradio:.2f}x"))
    rows.append(("  target ≤ 0.5 s", "meets" if cli <= 0.5 else "misses", ""))
    print(f"\n| {'step':<48} | {'result':<32} | ratio |\n|{'-' * 50}|{'-' * 34}|-------|")
    for step, result, ratio in rows:
        print(f"| {step:<48} | {result:<32} | {ratio:>5} |")


if __name__ == "__main__":
    main()
