"""`tempme serve` listens before the API and the page are built (issue 25): the `Loading` app
answers health, 503 readiness and a loading page, then hands every request (and its lifespan)
over to the full app. Order of events only, no timing asserts. Real uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving import free_port
from tempme.app.api.server import Server, Startup, bind, uvicorn_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


def _inner_app(events: list[str]):
    """A small Starlette app (the stand-in for the API + page) whose lifespan records itself."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield
        events.append("shutdown")

    async def ready(request):
        return JSONResponse({"ready": True, "text": True})

    return Starlette(routes=[Route("/ready", ready)], lifespan=lifespan)


def test_loading_answers_until_the_full_app_takes_over():
    events: list[str] = []
    built = threading.Event()

    def make():
        built.wait(60)  # the "page build" waits for the test: the order is the test's, not the clock's
        return _inner_app(events), None

    class Ctx:  # what `Startup.after_start` uses of an AppContext after the hand-over
        def warm_up(self) -> None:
            events.append("warm-up")

        def interrupt(self) -> None:
            pass

    startup = Startup(lambda: (make()[0], Ctx()), then=lambda ctx: events.append("then"))
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = Server(uvicorn_config(startup.loading), startup.stop)
    threading.Thread(target=startup.after_start, args=(server,), daemon=True).start()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    health = client.get(f"{url}/api/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.json()["pid"] == os.getpid()
            ready = client.get(f"{url}/api/v1/ready")
            assert ready.status_code == 503 and ready.json()["ready"] is False
            assert ready.headers["retry-after"] == "2"
            assert client.get(f"{url}/ready").json() == {"ready": False, "text": False}
            page = client.get(f"{url}/")
            assert page.status_code == 200 and "Loading the model" in page.text
            assert client.get(f"{url}/api/v1/search?q=dog").status_code == 503
            assert events == []  # nothing of the full app has run yet
            built.set()
            while client.get(f"{url}/ready").status_code == 503:
                time.sleep(0.05)
            assert client.get(f"{url}/ready").json() == {"ready": True, "text": True}
            while "warm-up" not in events:
                time.sleep(0.05)
            assert events == ["startup", "then", "warm-up"]  # lifespan before any request, then the model
    finally:
        server.should_exit = True
        thread.join(30)
    assert events[-1] == "shutdown"  # the full app's lifespan ends with the server


def test_tempme_serve_is_ready_only_after_the_page(tmp_path):
    """A real `tempme serve`: its first answers say "not ready" (the page is being built), then
    /ready turns 200 and the page is Gradio's."""
    port = free_port()
    cmd = [sys.executable, "-m", "tempme", "-v", "--library", str(tmp_path / "lib"), "serve", "--port", str(port)]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    seen: list[int] = []
    try:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    health = client.get(f"http://127.0.0.1:{port}/api/v1/health")
                    ready = client.get(f"http://127.0.0.1:{port}/ready")  # the page's (no library needed)
                except httpx.TransportError:
                    time.sleep(0.02)
                    continue
                assert health.status_code == 200
                seen.append(ready.status_code)
                if ready.status_code == 200:
                    break
                assert ready.json()["ready"] is False
                time.sleep(0.05)
            assert seen and seen[0] == 503 and seen[-1] == 200, (seen[:3], log.read_text()[-2000:])
            assert "gradio" in client.get(f"http://127.0.0.1:{port}/").text.lower()
        text = log.read_text()
        assert text.index("listening; building the API and the page") < text.index("tempme: serving")
    finally:
        proc.terminate()
        proc.wait(60)
    assert proc.returncode == 0
