"""`tempme export`: moments out of the library as MP4 clips (+ ``.srt``) and editors' timelines;
also what `tempme search --export DIR --timeline FILE` does with its results.

- ``tempme export 12 57 --out clips/``: the segments with these ids (the ``segment_id`` of
  ``tempme search --json``), each a clip of its span;
- ``tempme export --hits results.json --out clips/``: the moments of a ``search --json`` object
  (its ``hits``; an array of hits as older versions printed is read too; ``-``: standard input) as they were found, spans of merged or compound results included;
- ``--timeline cut.otio`` / ``cut.edl``: the same moments as one OpenTimelineIO timeline or CMX
  3600 EDL (``--no-clips``: only the timeline).

Padding (``--pad``, snapped to scene cuts), ``--clip-mode auto|copy|exact`` and the naming rule
are :func:`tempme.index.media.clips.export_clip`'s. Each clip prints one line saying the mode it
used and its actual start and end; a moment that cannot be exported is one ``error:`` line and
the others are still written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli.options import LibraryOpt, library_dir
from tempme.index import Hit, printable

from tempme.cli_errors import fail

ExportDirOpt = Annotated[
    Optional[Path], typer.Option("--export", metavar="DIR", help="Write each result as an MP4 clip (+ .srt) into DIR.")
]
TimelineOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--timeline", metavar="FILE", help="Write the results as a timeline: FILE.otio or FILE.edl (CMX 3600)."
    ),
]
PadOpt = Annotated[float, typer.Option("--pad", min=0, metavar="SECONDS", help="Padding before and after each clip.")]
ClipModeOpt = Annotated[
    str,
    typer.Option(
        "--clip-mode",
        help="copy (stream copy from the keyframe before), exact (re-encode, frame-exact) or auto "
        "(copy when a keyframe is within 1 s before the start).",
    ),
]
OrderOpt = Annotated[str, typer.Option("--order", help="Timeline clip order: result (rank) or time.")]
SrtOpt = Annotated[bool, typer.Option("--srt/--no-srt", help="Write a .srt of the transcript beside each clip.")]


def export_hits(
    library: Path,
    hits: list[Hit],
    out_dir: Path | None,
    *,
    timeline: Path | None = None,
    pad: float = 1.0,
    clip_mode: str = "auto",
    order: str = "result",
    srt: bool = True,
    query: str = "",
) -> None:
    """Export ``hits`` with the library at ``library`` (opened here; no model is loaded) and print
    a line per clip, per failure and for the timeline. Exits with an error line on bad options."""
    from tempme.index import ExportOptions, Library, LibraryError, TimelineError

    try:
        options = ExportOptions(pad, clip_mode, srt, timeline, order, query, clips=out_dir is not None)
    except ValueError as exc:
        fail(str(exc))
    try:
        with Library.open(library) as lib:
            report = lib.export(hits, out_dir or Path("."), options)
    except (LibraryError, TimelineError) as exc:
        fail(printable(str(exc)))
    for clip, sub in zip(report.clips, report.subtitles):
        typer.echo(f"clip: {clip.describe()}" + (f" + {sub.name}" if sub else ""))
    for segment_id, error in report.errors:
        typer.echo(f"error: moment {segment_id}: {error}", err=True)
    if report.timeline is not None:
        typer.echo(f"timeline: {report.timeline} ({len(hits)} clips)")
    if report.errors:
        raise typer.Exit(1)


def _read_hits(source: Path) -> list[Hit]:
    try:
        text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
        rows = json.loads(text)
        if isinstance(rows, dict):  # `tempme search --json` since issue 24: {"query", "verdict", ..., "hits"}
            rows = rows["hits"]
        return [Hit.from_dict(r) for r in rows]
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or exc}")
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{source}: not the JSON of `tempme search --json` ({type(exc).__name__}: {exc})")


def _segment_hits(library: Path, ids: list[int]) -> list[Hit]:
    from tempme.index import Library, LibraryError

    try:
        with Library.open(library) as lib:
            out = []
            for rank, segment_id in enumerate(ids, start=1):
                try:
                    out.append(Hit.of_segment(lib.shelf.segment(segment_id), rank))
                except KeyError:
                    fail(f"no segment {segment_id} in {library} (ids are the segment_id of `tempme search --json`)")
            return out
    except LibraryError as exc:
        fail(printable(str(exc)))


def export(
    ctx: typer.Context,
    segment_ids: Annotated[Optional[list[int]], typer.Argument(metavar="[SEGMENT_ID]...", help="Segment ids.")] = None,
    library: LibraryOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the clips.")] = None,
    hits_file: Annotated[
        Optional[Path], typer.Option("--hits", metavar="FILE", help="Moments from `tempme search --json` (- = stdin).")
    ] = None,
    timeline: TimelineOpt = None,
    clips: Annotated[bool, typer.Option("--clips/--no-clips", help="Write the clips (else only --timeline).")] = True,
    pad: PadOpt = 1.0,
    clip_mode: ClipModeOpt = "auto",
    order: OrderOpt = "result",
    srt: SrtOpt = True,
) -> None:
    """Export moments as MP4 clips (+ .srt of what is said in them) and/or a timeline for editors
    (.otio, .edl). Moments are segment ids or a `tempme search --json` file; names are
    <video>_<mm-ss>-<mm-ss>.mp4, never overwriting."""
    library = library_dir(ctx, library)
    if bool(segment_ids) == (hits_file is not None):
        fail("give segment ids or --hits FILE (one of them)")
    if not clips and timeline is None:
        fail("--no-clips writes nothing without --timeline")
    hits = _read_hits(hits_file) if hits_file is not None else _segment_hits(library, segment_ids or [])
    out_dir = (out or Path(".")) if clips else None
    export_hits(library, hits, out_dir, timeline=timeline, pad=pad, clip_mode=clip_mode, order=order, srt=srt)


COMMANDS = {"export": export}
