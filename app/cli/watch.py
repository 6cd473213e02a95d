"""`tempme watch DIR...`: keep a library current with its folders (see docs/watch.md).

An initial incremental scan, then file-system events (inotify on Linux; polling on network
shares, past the inotify limit, or with ``--polling``). Each settled batch of changes is one
``Library.add`` of a :class:`tempme.index.ingest.ChangeBatch`: new and changed videos are encoded
once they are complete, deleted ones removed, renamed and moved ones kept (same segments and
vectors, new path). SIGTERM or Ctrl+C: the video being encoded is committed, the write lock
released, exit status 0; the next start rescans what changed meanwhile.

:func:`start_watching` is the hook ``tempme serve --watch`` uses (the REST service will own it).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.inputs import discard_new_library, has_library
from tempme.app.cli.options import BatchSizeOpt, LibraryOpt, MinShotOpt, WindowOpt, WorkersOpt, library_dir
from tempme.index import expand_home, printable

from tempme.cli_errors import fail
from tempme.cli_options import AdapterOpt, QuickGeluOpt

log = logging.getLogger(__name__)


def start_watching(lib, dirs: list[Path], options, config, on_error=None):
    """A started :class:`tempme.index.ingest.Watcher` that adds each batch to ``lib`` with
    ``options`` and prints a summary line when something changed. ``on_error(message)``: told
    of a failure that retrying cannot fix (weights, adapter, storage, a different encoder); the
    watcher keeps running unless the caller stops it."""
    from tempme.index import LibraryBusyError, LibraryError
    from tempme.index.ingest import Watcher

    def sink(batch):
        from tempme.errors import AdapterError, WeightsUnavailableError

        try:
            report = lib.add(batch, options, wait=True)
        except LibraryBusyError:
            raise  # retried by the watcher with a rescan
        except (LibraryError, WeightsUnavailableError, AdapterError) as exc:
            if on_error is None:
                raise
            on_error(printable(str(exc)))
            return None
        done = [
            (report.indexed, "indexed"),
            (report.moved, "moved"),
            (report.removed, "removed"),
            (report.failed, "failed"),
        ]
        if any(n for n, _ in done):
            said = ", ".join(f"{n} {what}" for n, what in done if n)
            typer.echo(f"{time.strftime('%H:%M:%S')} {said} ({report.segments} segments, {report.seconds:.1f} s)")
        for path, why in report.errors:
            typer.echo(f"  could not index {path}: {why}", err=True)
        return [Path(p) for p in report.deferred]

    return Watcher(dirs, sink, config).start()


def watch(
    ctx: typer.Context,
    dirs: Annotated[list[Path], typer.Argument(help="Folders to follow (recursively).")],
    library: LibraryOpt = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="For a new library: the architecture (default ViT-B-32).")
    ] = None,
    pretrained: Annotated[
        Optional[str], typer.Option("--pretrained", help="For a new library: the weights (default openai).")
    ] = None,
    quick_gelu: QuickGeluOpt = None,
    adapter: AdapterOpt = None,
    polling: Annotated[
        bool, typer.Option("--polling", help="Poll instead of file-system events (network shares are polled anyway).")
    ] = False,
    poll_interval: Annotated[float, typer.Option(metavar="SECONDS", min=0.1, help="Between two polls.")] = 10.0,
    settle: Annotated[
        float,
        typer.Option(metavar="SECONDS", min=0.0, help="A file is indexed once unchanged this long (still copying?)."),
    ] = 3.0,
    window: WindowOpt = 30.0,
    min_shot: MinShotOpt = 1.0,
    workers: WorkersOpt = 2,
    batch_size: BatchSizeOpt = 8,
    database: Annotated[
        Optional[str], typer.Option("--db", envvar="TEMPME_DB", help="Catalog URL when the library is created.")
    ] = None,
) -> None:
    """Follow folders: index new and changed videos once complete, remove deleted ones, keep
    renamed and moved ones (no re-encoding). Runs until SIGTERM or Ctrl+C."""
    library = library_dir(ctx, library)
    bad = [d for d in dirs if not expand_home(d).is_dir()]
    if bad:  # before a library is created for nothing
        fail(f"not a folder: {', '.join(printable(d) for d in bad)} (watch the folders that hold the videos)")
    new_library = not has_library(library) and database is None
    from tempme.index import IngestOptions, Library, LibraryError
    from tempme.index.ingest import WatchConfig
    from tempme.index.media import SegmentParams

    try:
        lib = Library.open(library, create=True, database_url=database)
        config = WatchConfig(settle_s=settle, polling=polling, poll_interval_s=poll_interval)
        params = SegmentParams(window_s=window, min_shot_s=min_shot)
    except (ValueError, LibraryError) as exc:
        fail(printable(str(exc)))
    if lib.encoder_info() is None:
        model, pretrained = model or "ViT-B-32", pretrained or "openai"
    options = IngestOptions(
        model=model, pretrained=pretrained, adapter=adapter, quick_gelu=quick_gelu, workers=workers,
        batch_size=batch_size, segment_params=params, settle_s=settle,
    )  # fmt: skip
    with discard_new_library(lib, new_library):  # e.g. weights that cannot be had: no folder left behind
        _run(lib, [expand_home(d) for d in dirs], options, config)


def _run(lib, dirs: list[Path], options, config) -> None:
    """Watch until SIGTERM / SIGINT (or a failure retrying cannot fix), then stop cleanly."""
    stop = threading.Event()
    errors: list[str] = []

    def on_error(message: str) -> None:
        errors.append(message)
        stop.set()

    def on_signal(signum, frame) -> None:
        lib.interrupt()  # the video being encoded is committed, the rest waits for the next start
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher = start_watching(lib, dirs, options, config, on_error)
        modes = ", ".join(f"{printable(r)} ({m})" for r, m in watcher.modes.items())
        typer.echo(f"tempme: watching {modes} for {printable(lib.path)} (Ctrl+C to stop)")
        while not stop.wait(0.5):
            pass
        watcher.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if errors:
        fail(errors[0])
    typer.echo("tempme: stopped (what was indexed is kept; the next start rescans the folders)")


COMMANDS = {"watch": watch}
