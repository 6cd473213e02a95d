"""`tempme search` and `tempme shell`: text queries from the command line, through a running
`tempme serve` when one serves the library, else with the model loaded once in this process.

Two backends with one method, ``search(query, k, per_video=, mode=, folder=) -> list[Hit]``:

- :class:`RemoteSearch`: the server's REST API (``POST /api/v1/search`` with plain httpx; the
  server advertises itself in the library folder, :mod:`app.advert`); no torch here, and no
  gradio_client. ``--api-key`` / ``$TEMPME_API_KEY`` for a server that asks for a key.
- :class:`LocalSearch`: :meth:`Library.search` here (the text tower loads on the first query).

:func:`open_search` picks one: the server when its advert is live and it needs no login (or it
has a key); otherwise local, with a note on stderr saying why when a server was there but could
not be used (a login or key, no answer, ``--nprobe``: the server searches with its own setting,
or ``--then`` / ``--while``) (:class:`ServerFirst`). `tempme shell` (or
``tempme search -i``) keeps either backend for repeated queries: a :class:`cmd.Cmd` loop
(readline line editing and history on a terminal; plain lines from a pipe).
"""

from __future__ import annotations

import cmd
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from tempme.app.cli.backends import (
    DEFAULT_NPROBE,
    RemoteUnavailable,
    SearchError,
    open_search,
)
from tempme.app.cli.compound import ThenModeOpt, ThenOpt, WhileOpt, WithinOpt, compound_query
from tempme.app.cli.export import ClipModeOpt, ExportDirOpt, OrderOpt, PadOpt, SrtOpt, TimelineOpt, export_hits
from tempme.app.cli.options import LibraryOpt, checked_path, library_dir
from tempme.app.cli.results import MinConfidenceOpt, Output, output_of
from tempme.index import Hit, SearchMode

from tempme.cli_errors import fail

if TYPE_CHECKING:  # the query room imports SQLAlchemy and FAISS: not on the server path
    from tempme.index import CompoundQuery

log = logging.getLogger(__name__)


def _check_mode(mode: str) -> None:
    try:
        SearchMode.parse(mode)
    except ValueError as exc:
        raise SearchError(str(exc)) from None


def run_query(
    backend, query: str | CompoundQuery, k: int, per_video: bool, mode: str, folder: Path | None
) -> list[Hit]:
    """One query on `backend` (a :class:`ServerFirst` replaces a server that stops answering by a
    local search, said on stderr). Raises SearchError."""
    _check_mode(mode)
    for part in () if isinstance(query, str) else query.parts:  # a CompoundQuery's parts
        _check_mode(part.mode or mode)
    try:
        return backend.search(query, k, per_video=per_video, mode=mode, folder=folder)
    except RemoteUnavailable as exc:
        raise SearchError(f"the server at {backend.where} stopped answering ({exc})") from None


class SearchShell(cmd.Cmd):
    """The `tempme shell` loop: each line is a query; ``:k N``, ``:mode M``, ``:help``; a blank
    line, end of input or ``:q`` ends it. A query that fails prints its error and the loop goes on."""

    def __init__(self, backend, *, k: int, per_video: bool, mode: str, folder: Path | None, out: Output) -> None:
        interactive = sys.stdin.isatty()
        super().__init__()
        self.use_rawinput = True  # input(): readline editing and history on a terminal
        self.prompt = "search> " if interactive else ""
        self.backend, self.k, self.per_video, self.mode, self.folder = backend, k, per_video, mode, folder
        self.out = out

    def emptyline(self) -> bool:
        return True  # a blank line ends the shell

    def onecmd(self, line: str) -> bool:  # every line is a query, never a cmd "command"
        line = line.strip()
        if line in ("", "EOF", ":q", ":quit", ":exit"):
            return True
        try:
            if line.startswith(":"):
                self._setting(line)
            else:
                hits = run_query(self.backend, line, self.k, self.per_video, self.mode, self.folder)
                self.out.show(line, hits, self.backend.weights_note)
        except SearchError as exc:
            typer.echo(f"error: {exc}", err=True)
        except Exception as exc:  # one bad query never ends the shell
            log.debug("query %r failed", line, exc_info=True)
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.stdout.flush()
        return False

    def _setting(self, line: str) -> None:
        name, _, value = line[1:].partition(" ")
        value = value.strip()
        if name == "k":
            try:
                k = int(value)
            except ValueError:
                raise SearchError(f":k takes a whole number of results (1-1000), got {value!r}") from None
            if not 1 <= k <= 1000:
                raise SearchError(f":k must be 1-1000, got {k}")
            self.k = k
        elif name == "mode":
            _check_mode(value)
            self.mode = value
        elif name == "help":
            typer.echo(
                f"type a query; :k N results (now {self.k}), :mode all|visual|speech|text (now {self.mode}); "
                "blank line, Ctrl-D or :q to quit"
            )
        else:
            raise SearchError(f"unknown setting {line!r}; :help lists them")

    def loop(self) -> None:
        while True:
            try:
                self.cmdloop()
                return
            except KeyboardInterrupt:  # Ctrl-C drops the line being typed, not the shell
                typer.echo("")


KOpt = Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Number of results (1-1000).")]
PerVideoOpt = Annotated[bool, typer.Option("--per-video", help="One row per video (its best moment).")]
FolderOpt = Annotated[Optional[Path], typer.Option(help="Only videos under this folder.")]
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
ApiKeyOpt = Annotated[
    Optional[str],
    typer.Option(
        "--api-key", envvar="TEMPME_API_KEY", help="API key for a server that asks for one (tempme keys create)."
    ),
]
ServerOpt = Annotated[
    bool,
    typer.Option(
        "--server/--no-server",
        help="Use a running `tempme serve` of this library when there is one (its model is loaded).",
    ),
]


def _start(
    library: Path, nprobe: int | None, per_video: bool, server: bool, api_key: str | None = None, compound: bool = False
):
    try:
        return open_search(
            library, nprobe=nprobe, per_video=per_video, use_server=server, api_key=api_key, compound=compound
        )
    except SearchError as exc:
        fail(str(exc))


def _folder(folder: Path | None) -> Path | None:
    from tempme.index import absolute

    return (
        absolute(checked_path(folder, "--folder")) if folder else None
    )  # links kept as stored  # absolute, links kept as stored: the same here and on the server


def _shell(backend, k, per_video, mode, folder, out: Output) -> None:
    try:
        backend.warm()
    except SearchError as exc:
        fail(str(exc))
    typer.echo(f"ready: searching through {backend.where}; a blank line or :q quits, :help", err=True)
    SearchShell(backend, k=k, per_video=per_video, mode=mode, folder=folder, out=out).loop()


def search(
    ctx: typer.Context,
    query: Annotated[Optional[str], typer.Argument(help="What to look for, in words.")] = None,
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
    """Search the library by text; prints the verdict (good matches, or “no good match” and the
    closest moments), then rank, confidence, score, path, the moment's start-end and why it
    matched. Uses a running `tempme serve` of the library when there is one. --then / --while
    join a second query in time ("a goal" --then "crowd cheers"); --export and --timeline write
    the results as clips and a timeline for editors."""
    library = library_dir(ctx, library)
    if query is None and not interactive:
        fail("give a query (or -i for a shell)")
    out = output_of(as_json, min_confidence)
    compound = compound_query(query, then, while_, within, then_mode)
    backend = _start(library, nprobe, per_video, server, api_key, compound=compound is not None)
    folder = _folder(folder)
    if query is not None:
        text = compound.text if compound else query
        try:
            hits = run_query(backend, compound or query, k, per_video, mode, folder)
        except SearchError as exc:
            fail(str(exc))
        hits = out.show(text, hits, backend.weights_note)
        if (export_dir or timeline) and hits:
            export_hits(library, hits, export_dir, timeline=timeline, pad=pad, clip_mode=clip_mode, order=order,
                        srt=srt, query=text)  # fmt: skip
    if interactive:
        _shell(backend, k, per_video, mode, folder, out)


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
    _shell(_start(library, nprobe, per_video, server, api_key), k, per_video, mode, _folder(folder), out)


COMMANDS = {"search": search, "shell": shell}
