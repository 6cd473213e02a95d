"""Library commands of the `tempme` CLI: index, enrich, rebuild, remove, stats (see app/cli.py;
`search` and `shell` are in app/search_cli.py: they may go through a running server).

Heavy imports (torch, faiss, PyAV) happen inside the commands so `tempme --help` stays fast.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.index.files import printable

from tempme.cli_errors import fail
from tempme.cli_options import AdapterOpt, QuickGeluOpt

log = logging.getLogger(__name__)

DEFAULT_LIBRARY = Path("tempme-library")
LibraryOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--library",
        help="Library directory (SQLite + FAISS); default: the --library given before "
        "the command, else $TEMPME_LIBRARY, else ./tempme-library.",
    ),
]


AsrOpt = Annotated[
    Optional[str],
    typer.Option(
        "--asr",
        help="Speech recogniser: faster-whisper or pocketsphinx (default: faster-whisper "
        "when its model is on this machine, else pocketsphinx, said in the log).",
    ),
]
AsrModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--asr-model",
        help="faster-whisper model name (tiny, base, small, medium, large-v3, ...; "
        "must be in the Hugging Face cache) or a local CTranslate2 model directory. Default: small.",
    ),
]
LanguageOpt = Annotated[Optional[str], typer.Option("--language", help="Spoken language (ISO code); default: detect.")]
OcrFramesOpt = Annotated[int, typer.Option("--ocr-frames", help="Frames read by OCR per segment.")]


def _enrich(
    lib,
    speech: bool,
    ocr: bool,
    asr: str | None,
    asr_model: str | None,
    language: str | None,
    ocr_frames: int,
    wait: bool,
) -> None:
    """Transcripts and/or on-screen text for the videos that lack them, with a progress bar per stage."""
    from tempme.index.ocr import OcrConfig
    from tempme.index.speech import SpeechConfig
    from tqdm import tqdm

    kinds = tuple(k for k, on in (("speech", speech), ("ocr", ocr)) if on)
    if not kinds:
        return
    scfg = SpeechConfig(backend=asr, model=asr_model, language=language)
    ocfg = OcrConfig(frames_per_segment=ocr_frames)
    bars: dict[str, tqdm] = {}

    def progress(kind: str, done: int, total: int, path: str) -> None:
        bar = bars.get(kind)
        if bar is None:
            bar = bars[kind] = tqdm(
                total=total, unit="video", desc="speech" if kind == "speech" else "on-screen text", dynamic_ncols=True
            )
        bar.update(done - bar.n)
        bar.set_postfix_str(Path(path).name[-40:])

    try:
        reports = lib.enrich(kinds, speech=scfg, ocr=ocfg, progress=progress, wait=wait)
    finally:
        for bar in bars.values():
            bar.close()
    for r in reports:
        typer.echo(r.summary())


def library_dir(ctx: typer.Context, library: Path | None) -> Path:
    """The library a command works on: its own ``--library``, else the global one (the root
    callback's ``--library``, which also reads ``TEMPME_LIBRARY``), else ``./tempme-library``."""
    if library is not None:
        return library
    return ctx.find_root().params.get("library") or DEFAULT_LIBRARY


@contextmanager
def _stop_on_sigterm(lib):
    """While indexing, SIGTERM (systemd, docker stop, kill) interrupts the run cleanly: the
    current batch finishes, committed videos are saved, the lock is released, exit status 143."""
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: lib.interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _video_bar(desc: str):
    """One tqdm bar over videos, on a terminal only (a log or CI gets the summary line; log lines
    print above it), and the ``progress(done, total, path)`` callback of ``Library.add`` /
    ``Library.reindex`` that drives it."""
    from tqdm import tqdm

    bar = tqdm(
        total=None, unit="video", desc=desc, dynamic_ncols=True, file=sys.stderr, disable=not sys.stderr.isatty()
    )

    def progress(done: int, total: int, path: str) -> None:
        bar.total = total
        bar.update(done - bar.n)
        if path:
            bar.set_postfix_str(f"done: {Path(path).name[-40:]}")
        else:
            bar.refresh()

    return bar, progress


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
    window: Annotated[float, typer.Option(metavar="SECONDS", help="Longest segment before fixed windows.")] = 30.0,
    min_shot: Annotated[
        float, typer.Option(metavar="SECONDS", help="Shots shorter than this merge with a neighbour.")
    ] = 1.0,
    workers: Annotated[int, typer.Option(min=1, help="Decoding threads.")] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Segments per encoder batch.")] = 8,
    wait: Annotated[bool, typer.Option(help="Wait for another indexer instead of exiting.")] = False,
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
) -> None:
    """Index videos: shots and windows encoded by TempMe into the catalog + FAISS (incremental);
    with --speech / --ocr also transcripts and on-screen text for every video that lacks them.

    A library remembers its encoder (its activation included): encoder flags are needed only
    for a new library.
    """
    library = library_dir(ctx, library)
    missing = [p for p in paths if not p.expanduser().exists()]
    if missing:  # before a library is created for nothing
        fail(f"no such file or folder: {', '.join(map(str, missing))}")

    from tempme.index.library import Library, LibraryError
    from tempme.index.segment import SegmentParams
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    executor = None
    try:
        params = SegmentParams(window_s=window, min_shot_s=min_shot)
        if engine == "ray":
            try:
                import ray  # noqa: F401
                from tempme.index.ray_executor import RayExecutor
            except ImportError:
                fail("--engine ray needs Ray: pip install 'tempme[scale]'")
            executor = RayExecutor(
                params,
                address=ray_address,
                decoders=decoders,
                encoders=encoders,
                gpus_per_encoder=gpus_per_encoder,
                batch_size=batch_size,
                verbose=logging.getLogger().isEnabledFor(logging.INFO),
            )
        lib = Library.open(library, create=True, database_url=database)
    except (ValueError, LibraryError) as exc:
        fail(str(exc))
    from tempme.lora import AdapterError  # torch: after the quick checks
    from tempme.weights import WeightsUnavailableError

    if lib.encoder_info() is None:  # a new library: the defaults start it
        model, pretrained = model or "ViT-B-32", pretrained or "openai"
    bar, progress = _video_bar("indexing")
    try:
        with _stop_on_sigterm(lib), logging_redirect_tqdm(tqdm_class=tqdm):
            report = lib.add(
                paths,
                model=model,
                pretrained=pretrained,
                adapter=adapter,
                quick_gelu=quick_gelu,
                progress=progress,
                wait=wait,
                workers=workers,
                batch_size=batch_size,
                segment_params=params,
                executor=executor,
            )
    except (LibraryError, WeightsUnavailableError, FileNotFoundError, AdapterError) as exc:
        bar.close()
        fail(printable(str(exc)))
    bar.close()
    typer.echo(report.summary())
    for folder, why in report.unreadable:
        typer.echo(f"cannot read folder {folder} ({why}): its videos were kept as they were", err=True)
    if report.failed:
        typer.echo(f"{report.failed} file(s) could not be indexed (`tempme stats` lists them)")
    if report.interrupted:
        raise typer.Exit(128 + signal.SIGTERM)
    _enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait)


def _enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait) -> None:
    from tempme.index.library import LibraryError
    from tempme.index.speech import SpeechModelUnavailable

    try:
        _enrich(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait)
    except (LibraryError, SpeechModelUnavailable, ValueError) as exc:
        fail(str(exc))


def enrich(
    ctx: typer.Context,
    library: LibraryOpt = None,
    speech: Annotated[bool, typer.Option("--speech", help="Transcribe what is said.")] = False,
    ocr: Annotated[bool, typer.Option("--ocr", help="Read on-screen text.")] = False,
    asr: AsrOpt = None,
    asr_model: AsrModelOpt = None,
    language: LanguageOpt = None,
    ocr_frames: OcrFramesOpt = 3,
    wait: Annotated[bool, typer.Option(help="Wait for a running indexer.")] = False,
) -> None:
    """Add transcripts (--speech) and on-screen text (--ocr) to an indexed library: only videos
    that lack them are processed, and no video is re-encoded."""
    library = library_dir(ctx, library)
    from tempme.index.library import Library, LibraryError

    if not (speech or ocr):
        fail("nothing to do: give --speech, --ocr or both")
    try:
        lib = Library.open(library)
    except LibraryError as exc:
        fail(str(exc))
    _enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait)


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
    window: Annotated[float, typer.Option(metavar="SECONDS", help="Longest segment before fixed windows.")] = 30.0,
    min_shot: Annotated[
        float, typer.Option(metavar="SECONDS", help="Shots shorter than this merge with a neighbour.")
    ] = 1.0,
    workers: Annotated[int, typer.Option(min=1, help="Decoding threads.")] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Segments per encoder batch.")] = 8,
    wait: Annotated[bool, typer.Option(help="Wait for another indexer instead of exiting.")] = False,
) -> None:
    """Re-encode every video of the library with another encoder (or the recorded one again),
    then switch to it at once; asks first (or give --yes).

    Until the switch the old index answers searches; an interrupted run resumes where it stopped
    when run again with the same encoder.
    """
    library = library_dir(ctx, library)
    from tempme.index.library import Library, LibraryError
    from tempme.index.segment import SegmentParams
    from tempme.index.types import describe_encoder

    try:
        params = SegmentParams(window_s=window, min_shot_s=min_shot)
        lib = Library.open(library)
        info = lib.encoder_info()
        if info is None:
            fail(f"the library {lib.path} is empty: nothing to re-encode (index videos first)")
        n = lib.stats().videos
    except (ValueError, LibraryError) as exc:
        fail(printable(str(exc)))
    new = (
        ", ".join(
            f"{name} {value}"
            for name, value in (("--model", model), ("--pretrained", pretrained), ("--adapter", adapter))
            if value is not None
        )
        or "the same encoder"
    )
    question = (
        f"re-encode {n} video(s) of {lib.path} (built with {describe_encoder(info)}) with {new}? "
        "Searches keep the old index until every video is done."
    )
    if not yes:
        if not sys.stdin.isatty():
            fail(f"{question}\nnothing changed; pass --yes to re-encode")
        if not typer.confirm(question, default=False):
            typer.echo("nothing changed")
            return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from tempme.lora import AdapterError  # torch: after the quick checks
    from tempme.weights import WeightsUnavailableError

    bar, progress = _video_bar("re-encoding")
    try:
        with _stop_on_sigterm(lib), logging_redirect_tqdm(tqdm_class=tqdm):
            report = lib.reindex(
                model=model,
                pretrained=pretrained,
                adapter=adapter,
                progress=progress,
                wait=wait,
                workers=workers,
                batch_size=batch_size,
                segment_params=params,
            )
    except (LibraryError, WeightsUnavailableError, FileNotFoundError, AdapterError) as exc:
        bar.close()
        fail(printable(str(exc)))
    bar.close()
    typer.echo(report.summary())
    for path, why in report.errors:
        typer.echo(f"dropped {path}: {why}", err=True)
    if report.interrupted:
        raise typer.Exit(128 + signal.SIGTERM)


def rebuild(
    ctx: typer.Context,
    library: LibraryOpt = None,
    index: Annotated[
        Optional[str],
        typer.Option(
            "--index",
            help="FAISS index_factory string to pin, e.g. Flat, IVF4096,Flat, IVF65536,PQ64 "
            "(default: chosen by size: flat, IVF, IVF-SQ8, past 10^7 vectors IVF-PQ).",
        ),
    ] = None,
    shards: Annotated[int, typer.Option(min=1, help="Parallel add shards (Ray tasks when Ray is installed).")] = 1,
    ray_address: Annotated[
        Optional[str], typer.Option(help="Ray cluster for the shards: auto or HOST:PORT (default: a local Ray).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for a running indexer.")] = False,
) -> None:
    """Rebuild the FAISS index from the vectors stored in the catalog (no decoding); --index
    pins its type (IVF types are trained on a sample, added in --shards shards and merged into
    one on-disk index that searches map read-only)."""
    library = library_dir(ctx, library)
    from tempme.index.library import Library, LibraryError

    try:
        lib = Library.open(library)
        n = lib.rebuild(index, shards=shards, ray_address=ray_address, wait=wait)
    except (LibraryError, ValueError) as exc:
        fail(printable(str(exc)))
    typer.echo(f"rebuilt {lib.stats().index_type} index with {n} vectors")


def remove(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A video (or a folder) to drop from the library.")],
    library: LibraryOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait for a running indexer.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before removing more than one video.")] = False,
) -> None:
    """Remove a video (or every video under a folder) from the library; asks before removing
    more than one (or give --yes)."""
    library = library_dir(ctx, library)
    from tempme.index.library import Library, LibraryError

    def confirm(paths: list[Path]) -> bool:
        if yes:
            return True
        shown = "\n".join(f"  {printable(p)}" for p in paths[:10]) + (
            f"\n  ... and {len(paths) - 10} more" if len(paths) > 10 else ""
        )
        if not sys.stdin.isatty():
            fail(
                f"{printable(path)} matches {len(paths)} videos:\n{shown}\nnothing removed; pass --yes to remove them all"
            )
        typer.echo(f"{printable(path)} matches {len(paths)} videos:\n{shown}")
        return typer.confirm(f"remove these {len(paths)} videos?", default=False)

    try:
        n = Library.open(library).remove(path, wait=wait, confirm=confirm)
    except LibraryError as exc:
        fail(printable(str(exc)))
    typer.echo(f"removed {n} video(s)" if n else "nothing removed")


def stats(
    ctx: typer.Context,
    library: LibraryOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Library size, index type, encoder, last run, failures."""
    library = library_dir(ctx, library)
    from tempme.index.library import Library, LibraryError
    from tempme.index.types import describe_encoder

    try:
        st = Library.open(library).stats()
    except LibraryError as exc:
        fail(printable(str(exc)))
    if as_json:
        d = st.to_dict()
        d["failures"] = [{"path": printable(f["path"]), "error": f["error"]} for f in d["failures"]]
        typer.echo(json.dumps(d, default=str))
        return
    enc = describe_encoder(st.encoder) if st.encoder else "none yet"
    typer.echo(f"library:  {st.path}")
    typer.echo(f"videos:   {st.videos} indexed, {st.failed} failed")
    typer.echo(
        f"segments: {st.segments}; index: {st.index_type}{' (memory-mapped)' if st.index_mapped else ''}, "
        f"{st.vectors} vectors (file v{st.index_version})"
    )
    typer.echo(f"encoder:  {enc}")
    if st.last_run:
        r = st.last_run
        typer.echo(
            f"last run: {r['started_at']}, {r['videos_indexed']} videos, {r['segments_added']} segments, "
            f"{r['failures']} failures, {r['removed']} removed, {r['seconds'] or 0:.1f} s"
            + ("" if r["finished"] else " (interrupted)")
        )
    for path, error in st.failures:
        typer.echo(f"failed:   {printable(path)}: {printable(error)}")


COMMANDS = {"index": index, "enrich": enrich, "reindex": reindex, "rebuild": rebuild, "remove": remove, "stats": stats}
