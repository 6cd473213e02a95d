"""The options every library command shares, and where a command finds its library.

A command's library is its own ``--library``, else the one given before the command (the root
callback's ``--library``, which also reads ``$TEMPME_LIBRARY``), else ``./tempme-library``
(:func:`library_dir`). ``tempme serve`` and ``tempme explain`` use the same options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_LIBRARY = Path("tempme-library")
LibraryOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--library",
        help="Library directory (SQLite + FAISS); default: the --library given before "
        "the command, else $TEMPME_LIBRARY, else ./tempme-library.",
    ),
]
WindowOpt = Annotated[float, typer.Option(metavar="SECONDS", help="Longest segment before fixed windows.")]
MinShotOpt = Annotated[float, typer.Option(metavar="SECONDS", help="Shots shorter than this merge with a neighbour.")]
WorkersOpt = Annotated[int, typer.Option(min=1, help="Decoding threads.")]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Segments per encoder batch.")]
WaitIndexerOpt = Annotated[bool, typer.Option(help="Wait for another indexer instead of exiting.")]
WaitOpt = Annotated[bool, typer.Option(help="Wait for a running indexer.")]
AsrOpt = Annotated[
    Optional[str],
    typer.Option(
        "--asr",
        help="Speech recogniser: faster-whisper or pocketsphinx (default: faster-whisper with a model "
        "from the Hugging Face cache, else the bundled Whisper tiny.en, else pocketsphinx; said in the log).",
    ),
]
AsrModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--asr-model",
        help="faster-whisper model name (tiny, base, small, medium, large-v3, ...; "
        "must be in the Hugging Face cache) or a local CTranslate2 model directory. "
        "Default: a cached model, else the bundled tiny.en (English only).",
    ),
]
LanguageOpt = Annotated[
    Optional[str],
    typer.Option("--language", help="Spoken language (ISO code); default: detect (English for English-only models)."),
]
OcrFramesOpt = Annotated[int, typer.Option("--ocr-frames", help="Frames read by OCR per segment.")]


def library_dir(ctx: typer.Context, library: Path | None) -> Path:
    """The library a command works on: its own ``--library``, else the global one (the root
    callback's ``--library``, which also reads ``TEMPME_LIBRARY``), else ``./tempme-library``."""
    if library is not None:
        return library
    return ctx.find_root().params.get("library") or DEFAULT_LIBRARY


# the options of `tempme search` and `tempme shell`
KOpt = Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Number of results (1-1000).")]
PerVideoOpt = Annotated[bool, typer.Option("--per-video", help="One row per video (its best moment).")]
FolderOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Only videos in folders matching this, as typed (holiday finds .../holiday 2023/; "
        "case-insensitive, no wildcards); ./x, ../x, ~/x or /x: that folder and those inside it."
    ),
]
NprobeOpt = Annotated[
    Optional[int],
    typer.Option(min=1, help="IVF lists probed per query (default: the library's tuned value, see `tempme stats`)."),
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        help="all (fused by reciprocal rank fusion), visual (TempMe), speech (transcripts) or text (on-screen text).",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per query: query, verdict, weights_warning, hits.")
]
ServerOpt = Annotated[
    bool,
    typer.Option(
        "--server/--no-server",
        help="Use a running `tempme serve` of this library when there is one (its model is loaded).",
    ),
]
ApiKeyOpt = Annotated[
    Optional[str],
    typer.Option(
        "--api-key", envvar="TEMPME_API_KEY", help="API key for a server that asks for one (tempme keys create)."
    ),
]


def checked_path(path: Path, what: str) -> Path:
    """``path`` as given on the command line, if :func:`tempme.app.validate.clean_path` accepts
    it (length, control characters, reserved code points); else the one-line error and exit 1."""
    from tempme.app.validate import InputError, clean_path

    from tempme.cli_errors import fail

    try:
        clean_path(str(path), what)
    except InputError as exc:
        fail(str(exc))
    return path
