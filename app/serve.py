"""`tempme serve`: the search page for one library, safe by default.

- Binds 127.0.0.1 unless ``--host`` says otherwise (a warning when exposed without auth).
- ``--auth user:password`` or ``--auth-file FILE`` (one ``user:password`` a line) protects the
  page, the API and every file URL (Gradio's login check covers all of them); failed logins
  are throttled (:mod:`app.auth`).
- Gradio serves a file only if it is under one of ``allowed_paths``, or in its own upload /
  cache folder. We allow exactly the library's video files and its thumbnail folder (the list
  grows as videos are added from the page; thumbnails have unguessable names and exist only for
  videos still in the catalog), and point Gradio's upload folder and its examples cache (which
  it would otherwise take from ``$GRADIO_EXAMPLES_CACHE`` or ``./.gradio/cached_examples``) at a
  fresh private temporary directory. Nothing else on disk is served: not the SQLite file or
  FAISS index beside the videos, not ``/etc/passwd``, whatever the environment says.
- SIGTERM stops a page add within a batch (committed videos kept, the lock released) and exits.
- Once it listens it prints one line with its URL (Gradio's own banner is silenced) and
  advertises itself in ``<library>/serving.json`` (:mod:`app.advert`, removed at exit) so that
  `tempme search` / `tempme shell` use its loaded model.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.advert import local_url, remove_advert, write_advert
from tempme.app.auth import LoginThrottle
from tempme.app.cli.options import LibraryOpt, library_dir

logger = logging.getLogger(__name__)


def parse_auth(auth: str | None, auth_file: Path | None) -> list[tuple[str, str]] | None:
    """Credentials from ``--auth user:password`` and/or ``--auth-file`` (``user:password`` per
    line; blank lines and ``#`` comments ignored). None when neither is given.

    Raises:
        typer.BadParameter: a missing file, or an entry without ``:``, an empty user or password.
    """
    entries: list[tuple[str, str]] = []

    def parse(text: str, where: str) -> None:
        user, sep, password = text.partition(":")
        if not sep or not user.strip() or not password:
            raise typer.BadParameter(f"{where}: expected user:password with both parts non-empty.")
        entries.append((user.strip(), password))

    if auth is not None:
        parse(auth, "--auth")
    if auth_file is not None:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise typer.BadParameter(f"--auth-file {auth_file}: {e.strerror}.") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                parse(line, f"{auth_file} line {n}")
        if not entries:
            raise typer.BadParameter(f"--auth-file {auth_file}: no user:password line.")
    return entries or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    from tempme.app.handlers import AppContext
    from tempme.app.ui import build_demo

    remux = Path(media_dir) / "tempme-remux" if media_dir is not None else None
    ctx = AppContext(library, allow_folder_add=allow_folder_add, remux_dir=remux)
    demo = build_demo(ctx)
    allowed = _extend([], ctx.media_paths())
    # launch() replaces demo.allowed_paths with our list (or a fresh one when it is empty);
    # Gradio's file route reads that attribute on every request, so later additions count.
    ctx.on_new_files = lambda paths: _extend(demo.allowed_paths, paths)
    return demo, allowed, ctx


def _warm_up(page) -> None:
    """Load the text tower now, so that the first search (page or CLI) does not wait for it."""
    try:
        page.library().warm_up()
    except Exception as exc:  # no library yet, weights unavailable: the first search says so
        logger.info("model not loaded at start: %s", exc)


def serve_command(
    ctx: typer.Context,
    library: LibraryOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the page to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 7860,
    auth: Annotated[
        Optional[str], typer.Option("--auth", help="user:password required for the page and the API.")
    ] = None,
    auth_file: Annotated[Optional[Path], typer.Option("--auth-file", help="File of user:password lines.")] = None,
    allow_folder_add: Annotated[
        bool, typer.Option("--allow-folder-add", help="Let page users index a folder on this server by path.")
    ] = False,
    torch_threads: Annotated[
        int, typer.Option("--torch-threads", help="torch threads (text queries; videos added from the page).")
    ] = 1,
) -> None:
    """Open the search page for a library (Gradio): type a sentence, play the moments found."""
    library = library_dir(ctx, library)
    credentials = parse_auth(auth, auth_file)
    if not (Path(library).expanduser() / "library.db").is_file():  # e.g. a misspelled --library
        typer.echo(
            f"warning: there is no library at {Path(library).expanduser().resolve()} (check the path). "
            f"The page offers to start one there (Add videos: choose the encoder, upload videos), "
            f"or make it first: tempme --library {library} index VIDEO_DIR",
            err=True,
        )
    if not is_loopback(host) and credentials is None:
        logger.warning(
            "serving on %s without --auth: anyone who can reach port %d can search and add videos", host, port
        )
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)  # only the library's files, never more
    private = private_gradio_dir()
    page = None

    def on_sigterm(signum, frame) -> None:
        # SIGTERM (systemd, docker stop, tests): stop a page add first (its decoding threads
        # would hold the exit), then exit normally so that the private folder is removed.
        if page is not None:
            page.interrupt()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    logger.info("uploads and served copies go to %s (removed at exit)", private)
    from tempme.app.ui import CSS, PLAYER_JS
    from tempme.index import set_search_threads

    # Set once for the process. Every search is one query vector: waking OpenMP threads costs
    # more than it saves (measured: 44 -> 23 ms per search on 2 shared cores; the text tower
    # 57 ms on one thread against 1.2 s on two busy cores).
    set_search_threads(torch_threads=torch_threads)  # FAISS: the settings' (1)

    demo, allowed, page = build_app(library, allow_folder_add=allow_folder_add, media_dir=private)
    demo.queue(default_concurrency_limit=1)
    logger.info(
        "serving library %s on http://%s:%d (%d files allowed)", Path(library).resolve(), host, port, len(allowed)
    )
    demo.launch(
        server_name=host,
        server_port=port,
        auth=LoginThrottle(credentials).login if credentials else None,
        allowed_paths=allowed,
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        pwa=False,
        max_file_size="4gb",
        footer_links=["api"],
        css=CSS,
        js=PLAYER_JS,
        quiet=True,  # Gradio's banner ("Running on local URL", "set `share=True`"): ours below
        prevent_thread_lock=True,
    )
    url = local_url(host, demo.server_port or port)
    if write_advert(library, url, auth=credentials is not None) is not None:
        atexit.register(remove_advert, library)  # also on SIGTERM (sys.exit) and Ctrl-C
    typer.echo(f"tempme: serving {Path(library).expanduser().resolve()} at {url} (Ctrl+C to stop)")
    threading.Thread(target=_warm_up, args=(page,), name="tempme-warm-up", daemon=True).start()
    sys.stdout.flush()
    try:  # Gradio's block_thread() would print its own line on Ctrl-C
        while demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        typer.echo("tempme: stopped")
    finally:
        with contextlib.redirect_stdout(io.StringIO()):  # "Closing server running on port: ..."
            demo.close()


COMMANDS = {"serve": serve_command}
