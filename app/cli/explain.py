"""`tempme explain`: a picture of TempMe's token merging for one moment of a video (see app/cli/__init__.py).

The moment is the library segment that contains ``--at`` when the video is in the library (the
frames the index encoded), else a ``--window`` seconds long span around it. The encoder is the
library's, or the one given by ``--model`` / ``--pretrained``. Heavy imports happen inside the
command so `tempme --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.options import LibraryOpt, library_dir

from tempme.cli_errors import fail
from tempme.cli_options import AdapterOpt


def window_around(at_s: float, window_s: float, duration_s: float) -> tuple[float, float]:
    """``[start, end)`` of ``window_s`` seconds centred on ``at_s``, shifted to fit ``[0, duration_s]``."""
    end = min(duration_s, max(0.0, at_s - window_s / 2) + window_s)
    return max(0.0, end - window_s), end


def probed_duration(video: Path, at: float) -> float:
    """The video's duration (s) from its headers (no torch), checked against ``--at``; one error
    line for a file that is no video or a time past its end."""
    from tempme.probe import VideoDecodeError, probe

    try:
        duration = probe(video).duration_s
    except VideoDecodeError as exc:
        fail(str(exc))
    if at > duration:
        fail(f"--at {at:g} s is past the end of {video.name} ({duration:.2f} s)")
    return duration


def explain(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="A video file.")],
    at: Annotated[float, typer.Option("--at", min=0.0, help="A time in the moment to explain (seconds).")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="PNG to write; default: VIDEO-at-SECONDS-merges.png.")
    ] = None,
    library: LibraryOpt = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            help="Explain with this architecture (ViT-B-32, ViT-B-16, tempme-tiny) instead of the library's encoder.",
        ),
    ] = None,
    pretrained: Annotated[
        Optional[str],
        typer.Option("--pretrained", help="Weights for --model: 'openai', a checkpoint file, or 'none' (random)."),
    ] = None,
    adapter: AdapterOpt = None,
    stage: Annotated[
        Optional[int],
        typer.Option(
            "--stage", min=0, help="Draw the tokens after this layer's merge (0-based); default: the final tokens."
        ),
    ] = None,
    window: Annotated[
        float, typer.Option("--window", min=0.1, help="Span (s) around --at when the video is not in the library.")
    ] = 4.0,
) -> None:
    """Draw how TempMe merged the tokens of the moment at --at: the sampled frames with every merged
    token group in its own colour (the TempMe paper's Fig. 4); prints the tokens left after each merge."""
    if not video.is_file():
        fail(f"{video}: no such file")
    if pretrained is not None and model is None:
        fail("--pretrained needs --model (without them the library's encoder is used)")
    duration = probed_duration(video, at)
    lib_path = library_dir(ctx, library)
    explicit_library = library is not None or ctx.find_root().params.get("library") is not None
    from tempme.index import Library, LibraryError

    lib = None
    try:  # never created here; with --model and no library given, a missing one is fine
        lib = Library.open(lib_path)
    except LibraryError as exc:
        if model is None:
            fail(f"{exc}; or pass --model and --pretrained to explain without a library")
        if explicit_library:
            fail(str(exc))
    from tempme.index.ingest import encoders

    from tempme.explain import explain_clip, render_moment
    from tempme.probe import VideoDecodeError
    from tempme.weights import WeightsUnavailableError

    try:
        row = lib.shelf.segment_at(video, at) if lib is not None else None
        if row is not None:
            start_s, end_s, where = row.start_s, row.end_s, f"library segment {row.segment_id}"
        else:
            start_s, end_s = window_around(at, window, duration)
            where = f"a {end_s - start_s:.1f} s window" + (" (the video is not in the library)" if lib else "")
        if model is not None:
            enc = encoders.load(model, pretrained or "openai", adapter)
        elif lib.encoder_info() is None:
            fail(f"the library {lib.path} has no encoder yet (no video indexed); pass --model and --pretrained")
        else:
            enc = lib.encoder()
        moment = explain_clip(enc, video, start_s, end_s)
        image = render_moment(moment, stage)
    except (LibraryError, WeightsUnavailableError, VideoDecodeError, ValueError) as exc:
        fail(str(exc))
    out = output or Path(f"{video.stem}-at-{at:g}s-merges.png")
    try:
        image.save(out, format="PNG")
    except (OSError, ValueError) as exc:
        fail(f"cannot write {out}: {exc}")
    typer.echo(f"moment: {video.name} {start_s:.2f}-{end_s:.2f} s ({where}), encoder {enc.info.describe()}")
    typer.echo("tokens per video after each merge:")
    shown = moment.stage(stage)
    for label, n in moment.trace.counts():
        mark = "  <- drawn" if label == shown.label else ""
        typer.echo(f"  {label:<28} {n:5d}{mark}")
    typer.echo(f"wrote {out} ({image.width}x{image.height} px)")


COMMANDS = {"explain": explain}
