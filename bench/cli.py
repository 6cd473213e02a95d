"""Command timings: `stats`, `search` cold, `search` through a running `serve`, a warm `shell`
query, and a page search (gradio_client against the live server).

    .venv/bin/python bench/cli.py                      # tempme-tiny and ViT-B-32 (random weights)
    .venv/bin/python bench/cli.py --models tempme-tiny --repeats 5

For each model it builds a library of three real clips (random weights: ``--pretrained none``;
only time is measured) and prints the median wall time of each step with its ratio to the cold
`search` (a new process that loads the model) measured in the same run:

- ``stats``: a new `tempme stats` process (no torch);
- ``search, cold``: a new `tempme search --no-server` process (imports torch, loads the model);
- ``search via serve``: a new `tempme search` process while `tempme serve` runs (its /search API);
- ``shell, per query``: one query in a warm `tempme shell` (this process: the shell's own loop,
  model loaded once, each query new so that nothing comes from the query cache);
- ``page search``: one `/search` call from gradio_client to the live server (what the page's
  search button runs), each query new.

Whole-process figures include Python's start-up; every step runs once unmeasured first.
"""

from __future__ import annotations

import argparse
import contextlib
import io
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


def tempme(library: Path, *args: str) -> float:
    """Wall seconds of one `tempme --library LIBRARY ARGS` process (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tempme", "--library", str(library), *args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def median_of(fn, repeats: int) -> float:
    fn(-1)  # unmeasured
    return statistics.median(fn(i) for i in range(repeats))


def bench_model(model: str, repeats: int, work: Path) -> list[tuple[str, float]]:
    from tempme.app.cli.search import LocalSearch, SearchShell
    from tempme.index import Library

    library = work / model
    with Library.open(library, create=True) as lib:
        report = lib.add([VIDEOS / c for c in CLIPS], model=model, pretrained="none")
    print(f"{model}: {report.summary()}", file=sys.stderr)

    rows = [
        ("stats", median_of(lambda i: tempme(library, "stats"), repeats)),
        (
            "search, cold (no server)",
            median_of(lambda i: tempme(library, "search", f"a cup {i}", "--no-server"), repeats),
        ),
    ]
    backend = LocalSearch(library)
    backend.warm()
    shell = SearchShell(backend, k=10, per_video=False, mode="all", folder=None, as_json=False)

    def shell_query(i: int) -> float:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            shell.onecmd(f"a red box on a table {i}")
        return time.perf_counter() - t0

    shell_s = median_of(shell_query, max(repeats, 10))
    backend.lib.close()
    with running_server(library):
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
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--repeats", type=int, default=3, help="runs per whole-process step (median)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tempme-bench-cli-") as work:
        results = {m: bench_model(m, args.repeats, Path(work)) for m in args.models}
    print(f"\n{'step':<38}" + "".join(f"{m + ' (s)':>16}{'vs cold':>9}" for m in args.models))
    steps = [name for name, _ in results[args.models[0]]]
    for step in steps:
        line = f"{step:<38}"
        for m in args.models:
            d = dict(results[m])
            cold = d["search, cold (no server)"]
            line += f"{d[step]:>16.3f}{d[step] / cold:>9.3f}"
        print(line)


if __name__ == "__main__":
    main()
