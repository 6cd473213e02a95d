"""`tempme search` and `tempme shell`: queries from the command line (a text, or an image, a clip
or a span refined by a text, with filters and an order: :mod:`.request`), through a running
`tempme serve` when one serves the library and the query is a text, else with the model loaded
once in this process (the backends and how one is picked: :mod:`.backends`).

`tempme shell` (or ``tempme search -i``) keeps either backend for repeated queries:
:class:`SearchShell`, a :class:`cmd.Cmd` loop (:mod:`.shell_loop`; readline line editing and
history on a terminal; plain lines from a pipe). --export / --timeline write the hits as clips
and a timeline (:mod:`.export`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from tempme.app.cli import request as req_opts
from tempme.app.cli.backends import (
    DEFAULT_NPROBE,
    LocalSearch,
    RemoteSearch,
    RemoteUnavailable,
    ServerFirst,
    open_search,
    query_errors,
)
from tempme.app.cli.compound import ThenModeOpt, ThenOpt, WhileOpt, WithinOpt, compound_query
from tempme.app.cli.export import ClipModeOpt, ExportDirOpt, OrderOpt, PadOpt, SrtOpt, TimelineOpt, export_hits
from tempme.app.cli.options import (
    ApiKeyOpt,
    FolderOpt,
    JsonOpt,
    KOpt,
    LibraryOpt,
    ModeOpt,
    NprobeOpt,
    PerVideoOpt,
    ServerOpt,
    checked_path,
    library_dir,
)  # fmt: skip
from tempme.app.cli.request import RequestError, SearchError, SearchRequest, build_request, check_mode
from tempme.app.cli.results import MinConfidenceOpt, Output, output_of
from tempme.app.cli.shell_loop import QueryShell
from tempme.index import Hit, Query, no_folder_message

from tempme.cli_errors import fail

log = logging.getLogger(__name__)

__all__ = [  # the backends, where they were before .backends
    "DEFAULT_NPROBE",
    "LocalSearch",
    "RemoteSearch",
    "RemoteUnavailable",
    "ServerFirst",
    "open_search",
    "query_errors",
    "run_query",
    "search",
    "shell",
]


def run_query(backend, request: SearchRequest) -> list[Hit]:
    """One query on `backend` (a :class:`ServerFirst` replaces a server that stops answering by a
    local search, said on stderr). Raises SearchError."""
    check_mode(request.mode)
    for part in () if isinstance(request.query, Query) else request.query.parts:  # a CompoundQuery's parts
        check_mode(part.mode or request.mode)
    try:
        return backend.search(request)
    except RemoteUnavailable as exc:
        raise SearchError(f"the server at {backend.where} stopped answering ({exc})") from None


def show(backend, request: SearchRequest, out: Output) -> list[Hit]:
    """Run ``request`` and print its verdict and hits (:class:`.results.Output`; with a date
    filter or sort, each hit's recording date too); returns the hits shown. When nothing was found
    in a folder filter that matches none of the library's folders, say so and list them (stderr)."""
    hits = run_query(backend, request)
    f, q = request.filters, request.query
    dates = request.sort.startswith("date") or f.date_from is not None or f.date_to is not None
    example = isinstance(q, Query) and q.example
    hits = out.show(q.text or q.describe(), hits, backend.weights_note, what=f"moments like {q.describe()}" if example else None,
                    dates=dates)  # fmt: skip
    if not hits and f.folder:
        message = no_folder_message(f.folder, backend.folders())
        if message:
            typer.echo(message, err=True)
    return hits


class SearchShell(QueryShell):
    """The `tempme shell` loop over ``backend``, each query run and printed by :func:`show`."""

    def __init__(self, backend, **options) -> None:
        super().__init__(backend, show=show, **options)


def _start(library: Path, nprobe: int | None, per_video: bool, server: bool, api_key: str | None = None,
           text_only: bool = True):  # fmt: skip
    try:
        return open_search(library, nprobe=nprobe, per_video=per_video, use_server=server, api_key=api_key,
                           text_only=text_only)  # fmt: skip
    except SearchError as exc:
        fail(str(exc))


def _shell(backend, k, per_video, mode, folder, out: Output) -> None:
    try:
        backend.warm()
    except SearchError as exc:
        fail(str(exc))
    typer.echo(f"ready: searching through {backend.where}; a blank line or :q quits, :help", err=True)
    SearchShell(backend, k=k, per_video=per_video, mode=mode, folder=folder, out=out).loop()


def search(
    ctx: typer.Context,
    query: Annotated[
        Optional[str], typer.Argument(help="What to look for, in words (with --image/--clip: how to refine it).")
    ] = None,
    library: LibraryOpt = None,
    k: KOpt = 10,
    per_video: PerVideoOpt = False,
    folder: FolderOpt = None,
    nprobe: NprobeOpt = DEFAULT_NPROBE,
    mode: ModeOpt = "all",
    as_json: JsonOpt = False,
    min_confidence: MinConfidenceOpt = None,
    server: ServerOpt = True,
    api_key: ApiKeyOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="Keep going: read more queries (as `tempme shell`).")
    ] = False,
    image: req_opts.ImageOpt = None,
    clip: req_opts.ClipOpt = None,
    start: req_opts.StartOpt = None,
    end: req_opts.EndOpt = None,
    include_self: req_opts.IncludeSelfOpt = False,
    text_weight: req_opts.TextWeightOpt = None,
    image_mode: req_opts.ImageModeOpt = "still",
    after: req_opts.AfterOpt = None,
    before: req_opts.BeforeOpt = None,
    sort: req_opts.SortOpt = "relevance",
    min_score: req_opts.MinScoreOpt = None,
    then: ThenOpt = None,
    while_: WhileOpt = None,
    within: WithinOpt = 10.0,
    then_mode: ThenModeOpt = None,
    export_dir: ExportDirOpt = None,
    timeline: TimelineOpt = None,
    pad: PadOpt = 1.0,
    clip_mode: ClipModeOpt = "auto",
    order: OrderOpt = "result",
    srt: SrtOpt = True,
) -> None:
    """Search the library by text, by example (--image, --clip [--start --end]) or both; filter by
    folder and recording date, sort by relevance, date or duration. Prints the verdict (good
    matches, or “no good match” and the closest moments), then rank, confidence, score, the
    moment's start-end, path and why it matched. Uses a running `tempme serve` of the library for
    text queries when there is one. --then / --while join a second query in time ("a goal"
    --then "crowd cheers"); --export and --timeline write the results as clips and a timeline."""
    library = library_dir(ctx, library)
    out = output_of(as_json, min_confidence)
    folder = checked_path(folder, "--folder") if folder else folder
    request = None
    if query is not None or image is not None or clip is not None:
        try:
            request = build_request(query, k, per_video, mode, folder, image=image, clip=clip, start=start, end=end,
                                    include_self=include_self, text_weight=text_weight, image_mode=image_mode,
                                    after=after, before=before, sort=sort, min_score=min_score)  # fmt: skip
        except RequestError as exc:
            fail(str(exc))
        compound = compound_query(query, then, while_, within, then_mode)
        if compound is not None:
            if request.query.example:
                fail("--then / --while join text queries; not with --image or --clip")
            request = replace(request, query=compound)
    elif not interactive:
        fail("give a query, --image or --clip (or -i for a shell)")
    backend = _start(library, nprobe, per_video, server, api_key, request is None or request.text_only)
    if request is not None:
        try:
            hits = show(backend, request, out)
        except SearchError as exc:
            fail(str(exc))
        if (export_dir or timeline) and hits:
            text = request.query.text or request.query.describe()
            export_hits(library, hits, export_dir, timeline=timeline, pad=pad, clip_mode=clip_mode, order=order,
                        srt=srt, query=text)  # fmt: skip
    if interactive:
        _shell(backend, k, per_video, mode, req_opts.folder_filter(folder), out)


def shell(
    ctx: typer.Context,
    library: LibraryOpt = None,
    k: KOpt = 10,
    per_video: PerVideoOpt = False,
    folder: FolderOpt = None,
    nprobe: NprobeOpt = DEFAULT_NPROBE,
    mode: ModeOpt = "all",
    as_json: JsonOpt = False,
    min_confidence: MinConfidenceOpt = None,
    server: ServerOpt = True,
    api_key: ApiKeyOpt = None,
) -> None:
    """Search interactively: the model loads once (or a running `tempme serve` answers), then
    each line is a query. `:k N` and `:mode M` change the search; a blank line or :q quits."""
    library = library_dir(ctx, library)
    out = output_of(as_json, min_confidence)
    folder = checked_path(folder, "--folder") if folder else folder
    _shell(_start(library, nprobe, per_video, server, api_key), k, per_video, mode, req_opts.folder_filter(folder), out)


COMMANDS = {"search": search, "shell": shell}
