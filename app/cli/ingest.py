"""`tempme index` and `tempme reindex`: encode videos into a library (see app/cli/__init__.py).

Both build an :class:`tempme.index.IngestOptions` from their options and run with one progress
bar (:mod:`.progress`); SIGTERM stops them cleanly. Heavy imports (torch, PyAV) happen inside
the commands, after the quick checks, so `tempme --help` and mistakes stay fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.enrich import enrich_or_fail
from tempme.app.cli.inputs import check_video_inputs, discard_new_library, has_library
from tempme.app.cli.options import (
    AsrModelOpt,
    AsrOpt,
    BatchSizeOpt,
    LanguageOpt,
    LibraryOpt,
    MinShotOpt,
    OcrFramesOpt,
    WaitIndexerOpt,
    WindowOpt,
    WorkersOpt,
    library_dir,
)
from tempme.app.cli.progress import exit_if_interrupted, seconds_bar, stop_on_sigterm, video_bar
from tempme.index import expand_home, plural, printable

from tempme.cli_errors import fail
from tempme.cli_options import AdapterOpt, QuickGeluOpt

log = logging.getLogger(__name__)


def ray_executor(params, ray_address, decoders, encoders, gpus_per_encoder, batch_size):
    """The Ray Data engine for ``--engine ray`` (one error line when Ray is not installed)."""
    try:
        import ray  # noqa: F401
        from tempme.index.ingest import RayExecutor
    except ImportError:
        fail("--engine ray needs Ray: pip install 'tempme[scale]'")
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    return RayExecutor(
        params, address=ray_address, decoders=decoders, encoders=encoders,
        gpus_per_encoder=gpus_per_encoder, batch_size=batch_size, verbose=verbose,
    )  # fmt: skip


def run_with_bar(lib, desc: str, run, bar=video_bar):
    """``run(progress)`` (``lib.add`` or ``lib.reindex``) under a progress ``bar`` and SIGTERM
    handling; a library, weights or adapter problem is one error line."""
    from tempme.index import LibraryError

    from tempme.errors import AdapterError, WeightsUnavailableError  # (no torch)

    try:
        with bar(desc) as progress, stop_on_sigterm(lib):
            return run(progress)
    except (LibraryError, WeightsUnavailableError, FileNotFoundError, AdapterError) as exc:
        fail(printable(str(exc)))


def query_model_line(what: str) -> None:
    """Say what a run did to the library's query model when it did something (docs/query.md)."""
    if what.startswith("exported"):
        typer.echo(f"query model: {what} (text queries without torch)")
    elif what.startswith("failed"):
        typer.echo(f"query model: {what}; searches load torch (`tempme rebuild --query-model` tries again)", err=True)


def _index_report(report) -> None:
    typer.echo(report.summary())
    for folder, why in report.unreadable:
        typer.echo(f"cannot read folder {folder} ({why}): its videos were kept as they were", err=True)
    query_model_line(report.query_model)
    exit_if_interrupted(report.interrupted)
    if report.failed and not (report.indexed or report.moved):
        path, why = report.errors[0] if report.errors else ("", "")
        fail(f"no video could be indexed: {report.failed} file(s) failed (first: {path}: {why})")
    if report.failed:
        typer.echo(f"{report.failed} file(s) could not be indexed (`tempme stats` lists them)")


def index(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Video files or folders (walked recursively).")],
    library: LibraryOpt = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            help="open_clip architecture with a TempMe preset (ViT-B-32, ViT-B-16, tempme-tiny); "
            "default: the library's recorded encoder, ViT-B-32 for a new library.",
        ),
    ] = None,
    pretrained: Annotated[
        Optional[str],
        typer.Option(
            "--pretrained",
            help="'openai', a local checkpoint file, or 'none' (random weights: results are "
            "not semantic); default: the library's recorded weights, 'openai' for a new library.",
        ),
    ] = None,
    quick_gelu: QuickGeluOpt = None,
    adapter: AdapterOpt = None,
    window: WindowOpt = 30.0,
    min_shot: MinShotOpt = 1.0,
    workers: WorkersOpt = 2,
    batch_size: BatchSizeOpt = 8,
    wait: WaitIndexerOpt = False,
    database: Annotated[
        Optional[str],
        typer.Option(
            "--db",
            envvar="TEMPME_DB",
            help="SQLAlchemy URL of the catalog when the library is created, e.g. "
            "postgresql+psycopg://user@host/db (stored in the library's library.json; default: SQLite library.db).",
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="local (threads in this process) or ray (a Ray Data pipeline; needs tempme[scale]).")
    ] = "local",
    ray_address: Annotated[
        Optional[str], typer.Option(help="Ray cluster: auto or HOST:PORT (default: a local Ray).")
    ] = None,
    decoders: Annotated[int, typer.Option(help="Ray: decode tasks at a time.")] = 2,
    encoders: Annotated[int, typer.Option(help="Ray: encoder actors.")] = 1,
    gpus_per_encoder: Annotated[float, typer.Option(metavar="GPUS", help="Ray: GPUs per encoder actor.")] = 0.0,
    speech: Annotated[
        bool, typer.Option("--speech", help="Also transcribe what is said (see `tempme enrich`).")
    ] = False,
    ocr: Annotated[bool, typer.Option("--ocr", help="Also read on-screen text (see `tempme enrich`).")] = False,
    asr: AsrOpt = None,
    asr_model: AsrModelOpt = None,
    language: LanguageOpt = None,
    ocr_frames: OcrFramesOpt = 3,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also drop indexed videos under the folders that this walk skips although they are still on "
            "disk (hidden files and folders, other extensions, linked folders). Without it only videos whose "
            "files are gone are removed.",
        ),
    ] = False,
) -> None:
    """Index videos: shots and windows encoded by TempMe into the catalog + FAISS (incremental);
    with --speech / --ocr also transcripts and on-screen text for every video that lacks them.
    Videos whose files are gone are removed; those still on disk are kept (--prune drops them too).

    A library remembers its encoder (its activation included): encoder flags are needed only
    for a new library.
    """
    library = library_dir(ctx, library)
    missing = [p for p in paths if not expand_home(p).exists()]
    if missing:  # before a library is created for nothing
        fail(f"no such file or folder: {', '.join(map(str, missing))}")
    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    new_library = not has_library(library) and database is None
    check_video_inputs(paths, new_library)  # headers only: no model, no library for nothing
    from tempme.index import IngestOptions, Library, LibraryError
    from tempme.index.media import SegmentParams

    try:
        params = SegmentParams(window_s=window, min_shot_s=min_shot)
        executor = None
        if engine == "ray":
            executor = ray_executor(params, ray_address, decoders, encoders, gpus_per_encoder, batch_size)
        lib = Library.open(library, create=True, database_url=database)
    except (ValueError, LibraryError) as exc:
        fail(str(exc))
    if lib.encoder_info() is None:  # a new library: the defaults start it
        model, pretrained = model or "ViT-B-32", pretrained or "openai"
    options = IngestOptions(
        model=model, pretrained=pretrained, adapter=adapter, quick_gelu=quick_gelu, executor=executor,
        workers=workers, batch_size=batch_size, segment_params=params, prune=prune,
    )  # fmt: skip
    with discard_new_library(lib, new_library):
        _index_report(
            run_with_bar(lib, "indexing", lambda p: lib.add(paths, options, progress=p, wait=wait), seconds_bar)
        )
    enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait)


def _confirm_reindex(lib, n: int, model, pretrained, adapter, yes: bool) -> bool:
    """Ask before re-encoding (``--yes`` skips it; without a terminal, refuse)."""
    from tempme.index import describe_encoder

    chosen = (("--model", model), ("--pretrained", pretrained), ("--adapter", adapter))
    new = ", ".join(f"{name} {value}" for name, value in chosen if value is not None) or "the same encoder"
    question = (
        f"re-encode {plural(n, 'video')} of {lib.path} (built with {describe_encoder(lib.encoder_info())}) with {new}? "
        "Searches keep the old index until every video is done."
    )
    if yes:
        return True
    if not sys.stdin.isatty():
        fail(f"{question}\nnothing changed; pass --yes to re-encode")
    return typer.confirm(question, default=False)


def reindex(
    ctx: typer.Context,
    library: LibraryOpt = None,
    model: Annotated[
        Optional[str],
        typer.Option("--model", help="open_clip architecture with a TempMe preset; default: the recorded one."),
    ] = None,
    pretrained: Annotated[
        Optional[str],
        typer.Option(
            "--pretrained",
            help="'openai', 'hf-hub:org/repo', a local checkpoint file or 'none'; default: the recorded weights.",
        ),
    ] = None,
    adapter: AdapterOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-encoding.")] = False,
    window: WindowOpt = 30.0,
    min_shot: MinShotOpt = 1.0,
    workers: WorkersOpt = 2,
    batch_size: BatchSizeOpt = 8,
    wait: WaitIndexerOpt = False,
) -> None:
    """Re-encode every video of the library with another encoder (or the recorded one again),
    then switch to it at once; asks first (or give --yes).

    Until the switch the old index answers searches; an interrupted run resumes where it stopped
    when run again with the same encoder.
    """
    library = library_dir(ctx, library)
    from tempme.index import IngestOptions, Library, LibraryError
    from tempme.index.media import SegmentParams

    try:
        params = SegmentParams(window_s=window, min_shot_s=min_shot)
        lib = Library.open(library)
        if lib.encoder_info() is None:
            fail(f"the library {lib.path} is empty: nothing to re-encode (index videos first)")
        n = lib.stats().videos
    except (ValueError, LibraryError) as exc:
        fail(printable(str(exc)))
    if not _confirm_reindex(lib, n, model, pretrained, adapter, yes):
        typer.echo("nothing changed")
        return
    options = IngestOptions(
        model=model, pretrained=pretrained, adapter=adapter, workers=workers, batch_size=batch_size,
        segment_params=params,
    )  # fmt: skip
    report = run_with_bar(lib, "re-encoding", lambda progress: lib.reindex(options, progress=progress, wait=wait))
    typer.echo(report.summary())
    for path, why in report.errors:
        typer.echo(f"dropped {path}: {why}", err=True)
    query_model_line(report.query_model)
    exit_if_interrupted(report.interrupted)
