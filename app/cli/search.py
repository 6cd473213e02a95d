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
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from tempme.app.advert import find_server
from tempme.app.cli.compound import ThenModeOpt, ThenOpt, WhileOpt, WithinOpt, compound_query
from tempme.app.cli.export import ClipModeOpt, ExportDirOpt, OrderOpt, PadOpt, SrtOpt, TimelineOpt, export_hits
from tempme.app.cli.options import LibraryOpt, checked_path, library_dir
from tempme.app.cli.remote import NeedsKey, RemoteSearch, RemoteUnavailable, SearchError
from tempme.index import Hit, LibraryError, SearchMode, printable

from tempme.cli_errors import fail

if TYPE_CHECKING:  # the query room imports SQLAlchemy and FAISS: not on the server path
    from tempme.index import CompoundQuery

log = logging.getLogger(__name__)

DEFAULT_NPROBE = None  # None: the library's tuned nprobe (tempme rebuild), else the settings' (as the server)


def query_errors() -> tuple[type[Exception], ...]:
    """What a local query's failure can be, each one line: LibraryError, ValueError, and
    ``tempme.weights.WeightsUnavailableError`` once that module is loaded (only the torch text
    path loads it: importing it here would load torch for every search, ~9 s of a speech search)."""
    weights = sys.modules.get("tempme.weights")
    return (LibraryError, ValueError) + ((weights.WeightsUnavailableError,) if weights is not None else ())


class LocalSearch:
    """Searches with :class:`Library` in this process (model loaded on the first query, once)."""

    where = "this process"

    def __init__(self, library: Path, nprobe: int | None = DEFAULT_NPROBE) -> None:
        from tempme.index import IndexParams, Library

        try:
            self.lib = Library.open(library, index_params=IndexParams(nprobe=nprobe))  # missing: no torch
        except LibraryError as exc:
            raise SearchError(str(exc)) from None
        self._threads_set = False

    def _threads(self, one_shot: bool = True) -> None:
        if not self._threads_set:  # once per process, from the settings (one query: one thread)
            from tempme.index import set_search_threads

            set_search_threads(one_shot=one_shot)
            self._threads_set = True

    def warm(self) -> None:
        """Load the text tower now (for the shell: the first query then costs what the others do)."""
        self._threads(one_shot=False)
        try:
            self.lib.warm_up()
        except query_errors() as exc:
            raise SearchError(printable(str(exc))) from None

    def search(
        self,
        query: str | CompoundQuery,
        k: int,
        *,
        per_video: bool = False,
        mode: str = "all",
        folder: Path | None = None,
    ) -> list[Hit]:
        from tempme.index import SearchFilters

        self._threads()
        try:
            return self.lib.search(
                query, k, per_video=per_video, mode=mode, filters=SearchFilters(folder=str(folder)) if folder else None
            )
        except query_errors() as exc:
            raise SearchError(printable(str(exc))) from None


def _note(text: str) -> None:
    typer.echo(f"note: {text}", err=True)


class ServerFirst:
    """The server while it answers; when it cannot be used (it needs a key this command does not
    have, or it does not answer), a note on stderr and a :class:`LocalSearch` from then on."""

    def __init__(self, remote: RemoteSearch, library: Path, nprobe: int) -> None:
        self.remote, self.library, self.nprobe, self.local = remote, library, nprobe, None

    @property
    def where(self) -> str:
        return self.local.where if self.local else self.remote.where

    def warm(self) -> None:
        (self.local or self.remote).warm()

    def search(self, query: str, k: int, **how) -> list[Hit]:
        if self.local is None:
            try:
                return self.remote.search(query, k, **how)
            except RemoteUnavailable as exc:
                why = str(exc) if isinstance(exc, NeedsKey) else f"did not answer ({exc})"
                _note(f"the server at {self.remote.where} {why}; searching here instead (loading the model)")
                self.local = LocalSearch(self.library, self.nprobe)
        return self.local.search(query, k, **how)


def open_search(
    library: Path,
    *,
    nprobe: int | None = DEFAULT_NPROBE,
    per_video: bool = False,
    use_server: bool = True,
    api_key: str | None = None,
    compound: bool = False,
) -> LocalSearch | RemoteSearch:
    """The backend for `library`: its running server when usable, else a :class:`LocalSearch`
    (``per_video`` goes through the server; ``compound``, a --then / --while query, does not).

    Raises:
        SearchError: no library at `library` (local backend).
    """
    advert = find_server(library) if use_server else None
    if advert is not None:
        if advert.auth and not api_key:
            _note(
                f"the server at {advert.url} asks for a login or an API key (--api-key or $TEMPME_API_KEY); "
                "searching here instead (loading the model)"
            )
        elif nprobe is not None:
            _note(f"the server at {advert.url} searches with its own nprobe (the library's tuned one, else its"
                  f" settings'), not --nprobe {nprobe}; searching here instead")  # fmt: skip
        elif compound:
            _note(f"the server at {advert.url} does not take --then / --while (not in its API); searching here instead")
        else:
            return ServerFirst(RemoteSearch(advert, api_key), library, nprobe)
    return LocalSearch(library, nprobe)


def print_hits(hits: list[Hit], as_json: bool) -> None:
    """Rank, score, the moment (m:ss-m:ss of the video), path; a second line says why a hit
    found by speech or on-screen text matched. ``--json``: one array of ``Hit.to_dict()``."""
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits]))  # names in the one text spelling (index.path_text)
        return
    if not hits:
        typer.echo("no results")
        return
    typer.echo(f"{'rank':>4}  {'score':>7}  {'start-end (s)':>17}  path")
    for h in hits:
        span = f"{h.start_s:7.2f}-{h.end_s:<7.2f}"
        typer.echo(f"{h.rank:>4}  {h.score:7.4f}  {span:>17}  {printable(h.path)}")
        if h.matched != ("visual",) or h.parts:
            typer.echo(f"{'':>4}  {'':>7}  {'':>17}  {h.why}")


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

    def __init__(self, backend, *, k: int, per_video: bool, mode: str, folder: Path | None, as_json: bool) -> None:
        interactive = sys.stdin.isatty()
        super().__init__()
        self.use_rawinput = True  # input(): readline editing and history on a terminal
        self.prompt = "search> " if interactive else ""
        self.backend, self.k, self.per_video, self.mode, self.folder = backend, k, per_video, mode, folder
        self.as_json = as_json

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
                print_hits(run_query(self.backend, line, self.k, self.per_video, self.mode, self.folder), self.as_json)
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON array per query.")]
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


def _shell(backend, k, per_video, mode, folder, as_json) -> None:
    try:
        backend.warm()
    except SearchError as exc:
        fail(str(exc))
    typer.echo(f"ready: searching through {backend.where}; a blank line or :q quits, :help", err=True)
    SearchShell(backend, k=k, per_video=per_video, mode=mode, folder=folder, as_json=as_json).loop()


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
    """Search the library by text; prints rank, score, path, the moment's start-end and why it
    matched. Uses a running `tempme serve` of the library when there is one. --then / --while
    join a second query in time ("a goal" --then "crowd cheers"); --export and --timeline write
    the results as clips and a timeline for editors."""
    library = library_dir(ctx, library)
    if query is None and not interactive:
        fail("give a query (or -i for a shell)")
    compound = compound_query(query, then, while_, within, then_mode)
    backend = _start(library, nprobe, per_video, server, api_key, compound=compound is not None)
    folder = _folder(folder)
    if query is not None:
        try:
            hits = run_query(backend, compound or query, k, per_video, mode, folder)
        except SearchError as exc:
            fail(str(exc))
        print_hits(hits, as_json)
        if (export_dir or timeline) and hits:
            text = compound.text if compound else query
            export_hits(library, hits, export_dir, timeline=timeline, pad=pad, clip_mode=clip_mode, order=order,
                        srt=srt, query=text)  # fmt: skip
    if interactive:
        _shell(backend, k, per_video, mode, folder, as_json)


def shell(
    ctx: typer.Context,
    library: LibraryOpt = None,
    k: KOpt = 10,
    per_video: PerVideoOpt = False,
    folder: FolderOpt = None,
    nprobe: NprobeOpt = DEFAULT_NPROBE,
    mode: ModeOpt = "all",
    as_json: JsonOpt = False,
    server: ServerOpt = True,
    api_key: ApiKeyOpt = None,
) -> None:
    """Search interactively: the model loads once (or a running `tempme serve` answers), then
    each line is a query. `:k N` and `:mode M` change the search; a blank line or :q quits."""
    library = library_dir(ctx, library)
    _shell(_start(library, nprobe, per_video, server, api_key), k, per_video, mode, _folder(folder), as_json)


COMMANDS = {"search": search, "shell": shell}
