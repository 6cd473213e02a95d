"""Launch the page for one library (`tempme serve`), safe by default.

- Gradio serves a file only if it is under one of ``allowed_paths``, or in its own upload /
  cache folder. ``allowed_paths`` is empty: the player and the result pictures load from the
  REST API's file routes (`tempme.app.api`), which serve only what the catalog holds now. Gradio's
  upload folder and its examples cache (which it would otherwise take from
  ``$GRADIO_EXAMPLES_CACHE`` or ``./.gradio/cached_examples``) are a fresh private temporary
  directory. Nothing else on disk is served: not the SQLite file or FAISS index beside the
  videos, not ``/etc/passwd``, whatever the environment says.
- With credentials, Gradio's login check covers the page and its gradio_client endpoints;
  failed logins are throttled (:mod:`app.auth`).

The server around it (uvicorn, the API, replicas, the advert) is `tempme.app.api.server`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr
    from tempme.app.context import AppContext
    from tempme.app.web.links import Links

# gradio itself is imported only once `private_gradio_dir` has set GRADIO_TEMP_DIR: some of its
# modules read that variable at import time.
logger = logging.getLogger(__name__)


def ready_state(ctx: AppContext) -> tuple[int, dict]:
    """``GET /ready`` (issue 25's, kept beside ``/api/v1/ready``): (HTTP status, body). 200 once the
    warm-up has loaded the model (``ready``), 503 before; ``text`` says whether text searches are
    answered without waiting for it meanwhile. No login: it says nothing of the library."""
    ready = not ctx.loading
    return (200 if ready else 503), {"ready": ready, "text": ready or ctx.text_ready()}


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


def build_page(ctx: AppContext, links: Links | None) -> gr.Blocks:
    """The page over ``ctx`` (its pictures and videos from the API's signed ``links``), queued:
    one page add at a time, up to 4 searches (`events`)."""
    from tempme.app.web.page import build_demo

    demo = build_demo(ctx, links)
    demo.queue(default_concurrency_limit=1)
    return demo


def mount_page(app, demo: gr.Blocks, *, login: Callable | None, host: str, port: int) -> None:
    """Mount the page at ``/`` of the server's ASGI ``app`` (FastAPI), after its API routes.

    Gradio serves files only from its private folder (`private_gradio_dir`): ``allowed_paths``
    is empty (no video and no library folder: the player and the pictures use the API's file
    routes, which check the catalog at each request). ``login``: the page's login check
    (`app.auth.LoginThrottle.login`), or None."""
    import gradio as gr
    from tempme.app.web.page import asset, page_script

    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=host,
        server_port=port,
        footer_links=["api"],
        auth=login,
        allowed_paths=[],
        show_error=False,
        max_file_size="4gb",
        ssr_mode=False,
        enable_monitoring=False,
        pwa=False,
        mcp_server=False,
        css=asset("page.css"),
        js=page_script(),
    )
    calm_queue(demo)


QUEUE_POLL_S = 0.01
"""How often Gradio's queue looks for a new page event while it has none, in seconds."""


def calm_queue(demo: gr.Blocks, poll_s: float = QUEUE_POLL_S) -> bool:
    """Let Gradio's queue look for page events every ``poll_s`` seconds instead of every 1 ms.

    Gradio's queue loop (`gradio.queueing.Queue.start_processing`) sleeps ``sleep_when_free``
    (1 ms on Linux, 50 ms on Windows) between looks at an empty queue: 1,000 wake-ups a second of
    the event loop that the REST API shares, each one taking the GIL from a running search
    (measured, idle server: 6.6% of a core against 1.4%; per API search 20 context switches
    against 13). A page event now waits at most ``poll_s`` more. Gradio has no setting for it:
    the attribute is set when present; False (and the loop as it was) when a Gradio version
    has none."""
    queue = getattr(demo, "_queue", None)
    if queue is None or not isinstance(getattr(queue, "sleep_when_free", None), float):
        logger.info("Gradio's queue has no sleep_when_free: it polls as it does")
        return False
    queue.sleep_when_free = max(queue.sleep_when_free, poll_s)
    return True
