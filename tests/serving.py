"""Test helper (not shipped): run `tempme serve` in a child process and wait until it listens;
build a library from clips. Used by the app tests and bench/app_load.py."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Debian's chromium, driven by Playwright in the tests/test_browser_*.py page tests
CHROMIUM = Path(os.environ.get("TEMPME_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A running `tempme serve`: ``url``, ``port``, ``log_path`` and ``log()`` for its output."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path
        self.url = f"http://127.0.0.1:{port}/"

    def log(self) -> str:
        """Everything the server printed so far ("" once stopped: the log is deleted)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_path.unlink(missing_ok=True)


def start_server(
    library: str | Path, *, port: int | None = None, args: Sequence[str] = (), timeout_s: float = 180.0
) -> ServerProcess:
    """Start ``tempme serve --library LIBRARY --port PORT ARGS`` and wait until it answers
    (``/api/v1/health``: the socket accepts before the app has started) and has said so.

    Raises:
        RuntimeError: the process exited, or did not listen within `timeout_s` seconds (its log
            is in the message).
    """
    port = port or free_port()
    cmd = [sys.executable, "-m", "tempme", "-v", "--library", str(library), "serve", "--port", str(port), *args]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT))
    env.pop("GRADIO_SERVER_NAME", None)
    fd, log_name = tempfile.mkstemp(prefix="tempme-serve-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tempme serve exited with {proc.returncode}:\n{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}api/v1/health", timeout=5) as r:
                if r.status == 200 and "tempme: serving" in server.log():
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"tempme serve did not listen on {port} within {timeout_s:.0f} s:\n{server.log()[-3000:]}")


@contextlib.contextmanager
def running_server(library: str | Path, **kwargs) -> Iterator[ServerProcess]:
    """`start_server` as a context manager that always stops the process."""
    server = start_server(library, **kwargs)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def open_page(url: str, viewport: tuple[int, int] = (1280, 900)):
    """A page of headless Debian chromium at ``url`` with the query box shown (the browser
    closed at the end); 120 s default timeout for the slow, shared test machine."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            pg.set_default_timeout(120_000)
            pg.goto(url)
            pg.wait_for_selector("#query textarea, #query input")
            yield pg
        finally:
            browser.close()


def build_library(
    library: str | Path,
    videos: Sequence[str | Path],
    *,
    model: str = "tempme-tiny",
    pretrained: str = "none",
    window_s: float | None = None,
):
    """Create (or update) a library at `library` from `videos` and return its `IndexReport`.

    `window_s` shortens the longest segment (tempme.index.segment.SegmentParams) so that short clips
    still give several moments.
    """
    from tempme.index import Library
    from tempme.index.media import SegmentParams

    params = None
    if window_s is not None:
        params = SegmentParams(window_s=window_s, min_shot_s=min(1.0, window_s / 2))
    with Library.open(Path(library), create=True) as lib:
        return lib.add([Path(v) for v in videos], model=model, pretrained=pretrained, segment_params=params)
