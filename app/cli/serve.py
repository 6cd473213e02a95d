"""`tempme serve`: the REST API and the search page for one library, safe by default.

The command checks its options and starts the server (`tempme.app.api.server`, which says what
is served and how); this module imports neither Gradio nor FastAPI.

- Binds 127.0.0.1 unless ``--host`` says otherwise (a warning when exposed without auth).
- ``--auth user:password`` or ``--auth-file FILE`` (one ``user:password`` a line) protects the
  page, the API and every file URL; failed logins are throttled (:mod:`app.auth`). API keys of
  the library (`tempme keys`) protect the API too.
- ``--workers N``: N processes over the library (the page in one, the API in all).
- Once it listens it prints one line with its URL.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.options import LibraryOpt, library_dir
from tempme.index import expand_home

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
    watch: Annotated[
        Optional[list[Path]],
        typer.Option("--watch", metavar="DIR", help="Also follow this folder (repeatable), as `tempme watch` does."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Server processes (the API in each, the page in one).")
    ] = 1,
    cors_origin: Annotated[
        Optional[list[str]],
        typer.Option("--cors-origin", help="Let web pages of this origin call the API (repeatable; off by default)."),
    ] = None,
) -> None:
    """Serve a library: the REST API (/api/v1, docs at /docs) and the search page (type a
    sentence, play the moments found)."""
    library = library_dir(ctx, library)
    credentials = parse_auth(auth, auth_file)
    if not (expand_home(library) / "library.db").is_file():  # e.g. a misspelled --library
        typer.echo(
            f"warning: there is no library at {expand_home(library).resolve()} (check the path). "
            f"The page offers to start one there (Add videos: choose the encoder, upload videos), "
            f"or make it first: tempme --library {library} index VIDEO_DIR",
            err=True,
        )
    if not is_loopback(host) and credentials is None:
        logger.warning(
            "serving on %s without --auth: anyone who can reach port %d can search and add videos", host, port
        )
    watcher = _watch_for_serve(Path(library), watch) if watch else None
    if workers > 1:  # before prometheus-client is imported: every process counts into one folder
        metrics = tempfile.mkdtemp(prefix="tempme-metrics-")
        atexit.register(shutil.rmtree, metrics, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
    from tempme.app.api.server import ServeOptions, serve

    level = logging.getLogger("tempme").getEffectiveLevel()
    options = ServeOptions(
        Path(library),
        host,
        port,
        credentials,
        allow_folder_add,
        torch_threads,
        workers,
        tuple(cors_origin or ()),
        level,
    )
    where = expand_home(library).resolve()

    def announce(url: str) -> None:
        typer.echo(f"tempme: serving {where} at {url} (Ctrl+C to stop)")
        sys.stdout.flush()

    try:
        serve(options, announce)
    except KeyboardInterrupt:
        typer.echo("tempme: stopped")
    finally:
        if watcher is not None:
            watcher.stop()


def _watch_for_serve(library: Path, dirs: list[Path]):
    """``--watch``: a thin hook (the REST service will own watching): a watcher in this process
    adding to its own handle on the library; the library must already have its encoder."""
    from tempme.app.cli.watch import start_watching
    from tempme.index import IngestOptions, Library, LibraryError
    from tempme.index.ingest import WatchConfig

    bad = [d for d in dirs if not expand_home(d).is_dir()]
    if bad:
        raise typer.BadParameter(f"not a folder: {', '.join(map(str, bad))}", param_hint="--watch")
    try:
        lib = Library.open(library)
    except LibraryError as exc:
        raise typer.BadParameter(f"{exc} (--watch follows an existing library)", param_hint="--watch") from None
    if lib.encoder_info() is None:
        raise typer.BadParameter(f"{library} has no encoder yet: index some videos first", param_hint="--watch")
    config = WatchConfig()
    return start_watching(lib, [expand_home(d) for d in dirs], IngestOptions(settle_s=config.settle_s), config)


COMMANDS = {"serve": serve_command}
