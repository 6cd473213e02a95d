"""Command timings: `stats`, `search` cold (the query model's path and torch's, in the same run),
`search` through a running `serve`, a warm `shell` query, and a page search (gradio_client
against the live server).

    .venv/bin/python bench/cli.py                      # tempme-tiny and ViT-B-32 (random weights)
    .venv/bin/python bench/cli.py --models tempme-tiny --repeats 5
    .venv/bin/python bench/cli.py --cold-only          # the two cold paths only (issue 25)

For each model it builds a library of three real clips (random weights: ``--pretrained none``;
only time is measured) and prints the median wall time of each step with its ratio to the cold
`search` (a new process that loads the model) measured in the same run:

- ``stats``: a new `tempme stats` process (no torch);
- ``search, cold``: a new `tempme search --no-server` process: the library's query model
  (ONNX; no torch imported), and the torch path (the query model moved aside for those runs:
  imports torch, loads the encoder), interleaved run by run so both see the same machine load;
  CPU-seconds (user + system of the process, ``os.wait4``), wall seconds and peak RSS; both
  paths must print the same hits (checked each run);
- ``search via serve``: a new `tempme search` process while `tempme serve` runs (its /search API);
- ``shell, per query``: one query in a warm `tempme shell` (this process: the shell's own loop,
  model loaded once, each query new so that nothing comes from the query cache);
- ``page search``: one `/search` call from gradio_client to the live server (what the page's
  search button runs), each query new;
- ``serve: listening`` / ``serve: /ready``: a new `tempme serve` process until its port accepts
  (polled every 0.3 s) and until ``GET /ready`` answers 200 (its model loaded, polled every 0.05 s);
- ``page: Enter to pictures``: in headless chromium (Playwright), from Enter in the query box to
  the new query's results shown with every picture loaded, each query new.

Whole-process figures include Python's start-up; every step runs once unmeasured first.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import running_server  # noqa: E402  (the test helper)

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CLIPS = ["opencv-doc__cup.mp4", "opencv-doc__box.mp4", "moviepy__fire2.mp4"]
# Measured processes may write bytecode caches, as an installed package has them (pip compiles at
# install): with PYTHONDONTWRITEBYTECODE set (CI, some dev shells) every cold process would
# compile our ~110 modules from source again (~0.1 CPU-s) and measure that instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def tempme(library: Path, *args: str) -> float:
    """Wall seconds of one `tempme --library LIBRARY ARGS` process (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tempme", "--library", str(library), *args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    return time.perf_counter() - t0


def cold_process(library: Path, *args: str) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of one `tempme --library LIBRARY ARGS` process (it must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tempme", "--library", str(library), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    _, status, usage = os.wait4(proc.pid, 0)  # the output (a few hits) fits the pipe's buffer
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, f"tempme {' '.join(args)} failed ({proc.returncode})"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.stdout.read()


@contextlib.contextmanager
def torch_path(library: Path):
    """The library without its query model (moved aside, then back): searches take the torch path."""
    folder, aside = library / "query_model", library / "query_model.aside"
    os.replace(folder, aside)
    try:
        yield
    finally:
        os.replace(aside, folder)


def bench_cold(library: Path, repeats: int) -> dict[str, tuple[float, float, float]]:
    """Medians of (wall s, CPU s, peak RSS MB) of a cold `tempme search --no-server`, per path;
    both paths must return the same hits (segment ids in order, scores within 1e-5)."""
    runs: dict[str, list[tuple[float, float, float]]] = {"torch": [], "onnx": []}
    for i in range(-1, repeats):  # run -1: unmeasured (file cache)
        hits = {}
        for path in ("torch", "onnx"):
            with torch_path(library) if path == "torch" else contextlib.nullcontext():
                *r, out = cold_process(library, "search", f"a cup {i}", "--no-server", "--mode", "visual", "--json")
            hits[path] = json.loads(out.strip().splitlines()[-1])["hits"]  # --json: one object per query (issue 24)
            if i >= 0:
                runs[path].append(tuple(r))
        ids = {p: [h["segment_id"] for h in hs] for p, hs in hits.items()}
        assert ids["torch"] == ids["onnx"] and ids["onnx"], ids
        for a, b in zip(hits["torch"], hits["onnx"]):
            assert abs(a["score"] - b["score"]) <= 1e-5, (a, b)
    return {p: tuple(statistics.median(x[j] for x in rs) for j in range(3)) for p, rs in runs.items()}


def build(model: str, work: Path) -> Path:
    """A library of the three clips with ``model`` (random weights) and its query model, made by
    a `tempme index` process: this one stays without torch until the cold searches are measured
    (a child's peak RSS counts its parent's at fork: a parent holding torch would inflate it)."""
    library = work / model
    out = subprocess.run(
        [sys.executable, "-m", "tempme", "--library", str(library), "index", *(str(VIDEOS / c) for c in CLIPS),
         "--model", model, "--pretrained", "none"],
        cwd=ROOT, capture_output=True, text=True, check=True, env=dict(os.environ, TEMPME_QUERY_MODEL="1"),
    )  # fmt: skip
    print(f"{model}: {out.stdout.strip()}", file=sys.stderr)
    state = subprocess.run(
        [sys.executable, "-m", "tempme", "--library", str(library), "stats"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "query model: fresh" in state, state
    return library


def serve_ready(library: Path) -> tuple[float, float]:
    """(s until a new `tempme serve` listens, s until its ``GET /ready`` answers 200)."""
    import httpx

    t0 = time.perf_counter()
    with running_server(library) as srv:
        listening = time.perf_counter() - t0
        while httpx.get(f"{srv.url}ready", timeout=60).status_code != 200:
            time.sleep(0.05)
        return listening, time.perf_counter() - t0


# the new query's results are shown (the message names the query) with every picture loaded
SHOWN = """q => document.querySelector('#message').innerText.includes(q) &&
  [...document.querySelectorAll('#results .card img')].length > 0 &&
  [...document.querySelectorAll('#results .card img')].every(i => i.complete && i.naturalWidth > 0)"""


def page_pictures(url: str, repeats: int) -> float:
    """Median s from Enter to the results' pictures in headless chromium, each query new."""
    from playwright.sync_api import sync_playwright
    from serving import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url)
        box = page.locator("#query textarea, #query input").first

        def one(i: int) -> float:
            query = f"a dog running on the grass {i}"
            box.fill(query)
            t0 = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(SHOWN, arg=query)
            return time.perf_counter() - t0

        try:
            return median_of(one, repeats)
        finally:
            browser.close()


def median_of(fn, repeats: int) -> float:
    fn(-1)  # unmeasured
    return statistics.median(fn(i) for i in range(repeats))


def bench_model(library: Path, repeats: int, cold: dict) -> list[tuple[str, float]]:
    from tempme.app.cli.backends import LocalSearch
    from tempme.app.cli.results import Output
    from tempme.app.cli.search import SearchShell

    rows = [
        ("stats", median_of(lambda i: tempme(library, "stats"), repeats)),
        ("search, cold: torch path", cold["torch"][0]),
        ("search, cold: query model", cold["onnx"][0]),
    ]
    backend = LocalSearch(library)
    backend.warm()
    shell = SearchShell(backend, k=10, per_video=False, mode="all", folder=None, out=Output.of(False, None))

    def shell_query(i: int) -> float:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            shell.onecmd(f"a red box on a table {i}")
        return time.perf_counter() - t0

    shell_s = median_of(shell_query, max(repeats, 10))
    backend.lib.close()
    with running_server(library) as srv:
        from gradio_client import Client
        from tempme.app.advert import find_server

        deadline = time.monotonic() + 60
        while find_server(library) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        advert = find_server(library)
        assert advert is not None, "the server did not advertise itself"
        client = Client(advert.url, verbose=False, download_files=False)
        client.predict("warm up the server's model", 10, api_name="/search")

        def page_query(i: int) -> float:
            t0 = time.perf_counter()
            client.predict(f"someone pouring water {i}", 10, api_name="/search")
            return time.perf_counter() - t0

        rows.append(("search via serve", median_of(lambda i: tempme(library, "search", f"a cup {i}"), repeats)))
        rows.append(("shell, per query (warm)", shell_s))
        rows.append(("page search (gradio_client /search)", median_of(page_query, max(repeats, 10))))
        rows.append(("page: Enter to pictures (chromium)", page_pictures(srv.url, max(repeats, 5))))
    starts = [serve_ready(library) for _ in range(repeats)]
    rows.append(("serve: listening", statistics.median(s[0] for s in starts)))
    rows.append(("serve: /ready", statistics.median(s[1] for s in starts)))
    return rows


def print_cold(colds: dict[str, dict]) -> None:
    """The cold-search table (markdown): per model, torch path, query model, torch / query model."""
    head = "| cold `tempme search` |" + "".join(f" {m}: torch | {m}: query model | ratio |" for m in colds)
    print("\n" + head + "\n|---|" + "---:|---:|---:|" * len(colds))
    for j, name in ((1, "process CPU-s"), (0, "process wall s"), (2, "peak RSS MB")):
        cells = "".join(
            f" {c['torch'][j]:.2f} | {c['onnx'][j]:.2f} | {c['torch'][j] / c['onnx'][j]:.1f}x |" for c in colds.values()
        )
        print(f"| {name} |{cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--repeats", type=int, default=3, help="runs per whole-process step (median)")
    ap.add_argument("--cold-only", action="store_true", help="only the cold searches of both paths")
    ap.add_argument("--work", type=Path, help="keep the libraries here (reused when present)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tempme-bench-cli-")))
        libraries = {m: build(m, work) for m in args.models}
        print(f"load average before: {os.getloadavg()}", file=sys.stderr)
        colds = {m: bench_cold(lib, args.repeats) for m, lib in libraries.items()}
        results = (
            {} if args.cold_only else {m: bench_model(lib, args.repeats, colds[m]) for m, lib in libraries.items()}
        )
        print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print_cold(colds)
    if not results:
        return
    print(f"\n{'step':<38}" + "".join(f"{m + ' (s)':>16}{'vs torch':>9}" for m in args.models))
    for step in [name for name, _ in results[args.models[0]]]:
        line = f"{step:<38}"
        for m in args.models:
            d = dict(results[m])
            cold = d["search, cold: torch path"]
            line += f"{d[step]:>16.3f}{d[step] / cold:>9.3f}"
        print(line)


if __name__ == "__main__":
    main()
