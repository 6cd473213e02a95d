"""Launch the page for one library (`tempme serve`), safe by default.

- Gradio serves a file only if it is under one of ``allowed_paths``, or in its own upload /
  cache folder. We allow exactly the library's video files and its thumbnail folder (the list
  grows as videos are added from the page; thumbnails have unguessable names and exist only for
  videos still in the catalog), and point Gradio's upload folder and its examples cache (which
  it would otherwise take from ``$GRADIO_EXAMPLES_CACHE`` or ``./.gradio/cached_examples``) at a
  fresh private temporary directory. Nothing else on disk is served: not the SQLite file or
  FAISS index beside the videos, not ``/etc/passwd``, whatever the environment says.
- With credentials, Gradio's login check covers the page, the API and every file URL; failed
  logins are throttled (:mod:`app.auth`).
- SIGTERM stops a page add within a batch (committed videos kept, the lock released) and exits.
- Once it listens it advertises itself in ``<library>/serving.json`` (:mod:`app.advert`, removed
  at exit) so that `tempme search` / `tempme shell` use its loaded model.
- It listens before the model loads: the text tower loads in the background (`RunningPage.run`);
  ``GET /ready`` answers 503 until it is loaded, then 200 (`ready_state`; no login needed: it
  says nothing of the library), and the page's status line says "Loading the model…" meanwhile.
  A library with a fresh query model answers text searches during that time.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tempme.app.advert import local_url, remove_advert, write_advert
from tempme.app.auth import LoginThrottle
from tempme.app.context import AppContext

if TYPE_CHECKING:
    import gradio as gr

# gradio itself is imported only once `private_gradio_dir` has set GRADIO_TEMP_DIR: some of its
# modules read that variable at import time.
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """What `tempme serve` was asked for (its options, checked)."""

    library: Path
    host: str = "127.0.0.1"
    port: int = 7860
    credentials: list[tuple[str, str]] | None = None  # (user, password); None: no login
    allow_folder_add: bool = False
    torch_threads: int = 1


def private_gradio_dir() -> Path:
    """A fresh directory for Gradio's uploads, examples cache and served copies (removed at
    normal exit).

    Gradio serves anything in its upload folder; the default, ``/tmp/gradio``, is shared with
    every other Gradio app on the machine. Gradio reads its folder from ``GRADIO_TEMP_DIR``
    (its own setting, set here for Gradio only: our modules get the path as an argument), so
    this must run before ``gradio`` builds the page.
    """
    path = Path(tempfile.mkdtemp(prefix="tempme-serve-"))
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    # Gradio serves its examples cache as well, read from this variable on every request: pin it
    # inside the private folder (the page has no cached examples; a value such as "/" would
    # serve the whole disk).
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(path / "cached_examples")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _extend(allowed: list[str], paths) -> list[str]:
    for p in paths:
        s = str(Path(p).resolve())
        if s not in allowed:
            allowed.append(s)
    return allowed


def build_app(library: Path, *, allow_folder_add: bool = False, media_dir: Path | None = None):
    """The page for `library` and the list Gradio consults for files it may serve.

    `media_dir`: a folder the page serves from (Gradio's private one), for remuxed copies.

    Returns ``(demo, allowed_paths, ctx)``; `allowed_paths` is the very list object to pass to
    ``launch(allowed_paths=...)``: new videos are appended to it as they are indexed; `ctx` is
    the page's `AppContext` (for ``ctx.interrupt()`` on shutdown).
    """
    from tempme.app.web.page import build_demo

    remux = Path(media_dir) / "tempme-remux" if media_dir is not None else None
    ctx = AppContext(library, allow_folder_add=allow_folder_add, remux_dir=remux)
    demo = build_demo(ctx)
    allowed = _extend([], ctx.media_paths())
    # launch() replaces demo.allowed_paths with our list (or a fresh one when it is empty);
    # Gradio's file route reads that attribute on every request, so later additions count.
    ctx.on_new_files = lambda paths: _extend(demo.allowed_paths, paths)
    return demo, allowed, ctx


def _one_thread_per_search(torch_threads: int) -> None:
    """Set once for the process. Every search is one query vector: waking OpenMP threads costs
    more than it saves (measured: 44 -> 23 ms per search on 2 shared cores; the text tower
    57 ms on one thread against 1.2 s on two busy cores)."""
    from tempme.index import set_search_threads

    set_search_threads(torch_threads=max(1, torch_threads), faiss_threads=1)


def ready_state(ctx: AppContext) -> tuple[int, dict]:
    """``GET /ready``: (HTTP status, body). 200 once the model is loaded (``ready``), 503 before;
    ``text`` says whether text searches are answered without waiting for it meanwhile."""
    ready = not ctx.loading
    return (200 if ready else 503), {"ready": ready, "text": ready or ctx.text_ready()}


def _add_ready_route(demo: gr.Blocks, ctx: AppContext) -> None:
    from fastapi.responses import JSONResponse

    def ready() -> JSONResponse:
        code, body = ready_state(ctx)
        return JSONResponse(body, status_code=code)

    demo.app.add_api_route("/ready", ready, methods=["GET"], include_in_schema=False)


def _on_sigterm(served: list[AppContext], signum, frame) -> None:
    # SIGTERM (systemd, docker stop, tests): stop a page add first (its decoding threads would
    # hold the exit), then exit normally so that the private folder is removed.
    for ctx in served:
        ctx.interrupt()
    sys.exit(0)


@dataclass
class RunningPage:
    """A page that listens at ``url``: `run` until it stops, then `close`."""

    demo: gr.Blocks
    ctx: AppContext
    url: str

    def run(self) -> None:
        """Load the model in the background and serve until the server stops (Ctrl-C raises
        KeyboardInterrupt here: Gradio's block_thread() would print its own line)."""
        threading.Thread(target=self.ctx.warm_up, name="tempme-warm-up", daemon=True).start()
        while self.demo.is_running:
            time.sleep(0.2)

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # "Closing server running on port: ..."
            self.demo.close()


def start(options: ServeOptions) -> RunningPage:
    """Build the page for ``options.library`` and start listening (returns once it does)."""
    from tempme.app.web.page import asset, page_script

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)  # only the library's files, never more
    private = private_gradio_dir()
    served: list[AppContext] = []
    signal.signal(signal.SIGTERM, functools.partial(_on_sigterm, served))
    logger.info("uploads and served copies go to %s (removed at exit)", private)
    _one_thread_per_search(options.torch_threads)
    demo, allowed, ctx = build_app(options.library, allow_folder_add=options.allow_folder_add, media_dir=private)
    served.append(ctx)
    ctx.loading = True  # until RunningPage.run's warm-up has loaded the model
    demo.queue(default_concurrency_limit=1)
    logger.info(
        "serving library %s on http://%s:%d (%d files allowed)",
        Path(options.library).resolve(),
        options.host,
        options.port,
        len(allowed),
    )
    demo.launch(
        server_name=options.host,
        server_port=options.port,
        auth=LoginThrottle(options.credentials).login if options.credentials else None,
        allowed_paths=allowed,
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        pwa=False,
        max_file_size="4gb",
        footer_links=["api"],
        css=asset("page.css"),
        js=page_script(),
        quiet=True,  # Gradio's banner ("Running on local URL", "set `share=True`"): the caller prints ours
        prevent_thread_lock=True,
    )
    _add_ready_route(demo, ctx)
    url = local_url(options.host, demo.server_port or options.port)
    if write_advert(options.library, url, auth=options.credentials is not None) is not None:
        atexit.register(remove_advert, options.library)  # also on SIGTERM (sys.exit) and Ctrl-C
    return RunningPage(demo, ctx, url)
