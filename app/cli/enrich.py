"""`tempme enrich` (and `tempme index --speech/--ocr`): transcripts and on-screen text for the
videos of a library that lack them, one progress bar per stage (see app/cli/__init__.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from tempme.app.cli.options import AsrModelOpt, AsrOpt, LanguageOpt, LibraryOpt, OcrFramesOpt, WaitOpt, library_dir
from tempme.app.cli.progress import video_bar

from tempme.cli_errors import fail


def run_enrich(lib, kinds: tuple[str, ...], speech_config, ocr_config, wait: bool, redo: bool = False) -> None:
    """Each kind in turn under its own bar; prints one summary line per kind."""
    from tempme.index import TextKind

    for kind in map(TextKind, kinds):
        with video_bar(kind.label) as progress:
            (report,) = lib.enrich(
                (kind.value,), speech=speech_config, ocr=ocr_config, progress=progress, wait=wait, redo=redo
            )
        typer.echo(report.summary())


def enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait, redo: bool = False) -> None:
    """The stages asked for (none: nothing to do); a library or recogniser problem is one error line."""
    from tempme.index import LibraryError
    from tempme.index.enrich import OcrConfig, SpeechConfig, SpeechModelUnavailable

    kinds = tuple(k for k, on in (("speech", speech), ("ocr", ocr)) if on)
    if not kinds:
        return
    try:
        speech_config = SpeechConfig(backend=asr, model=asr_model, language=language)
        run_enrich(lib, kinds, speech_config, OcrConfig(frames_per_segment=ocr_frames), wait, redo)
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
    wait: WaitOpt = False,
    redo: Annotated[
        bool,
        typer.Option("--redo", help="Process every video again, replacing its lines (e.g. with a better recogniser)."),
    ] = False,
) -> None:
    """Add transcripts (--speech) and on-screen text (--ocr) to an indexed library: only videos
    that lack them are processed (--redo: all of them), and no video is re-encoded."""
    library = library_dir(ctx, library)
    from tempme.index import Library, LibraryError

    if not (speech or ocr):
        fail("nothing to do: give --speech, --ocr or both")
    try:
        lib = Library.open(library)
    except LibraryError as exc:
        fail(str(exc))
    enrich_or_fail(lib, speech, ocr, asr, asr_model, language, ocr_frames, wait, redo)
