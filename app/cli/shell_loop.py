"""The `tempme shell` loop (and ``tempme search -i``): one query per line on a search backend."""

from __future__ import annotations

import cmd
import logging
import sys
from collections.abc import Callable

import typer
from tempme.app.cli.request import SearchError, SearchRequest, check_mode
from tempme.index import Query, SearchFilters

log = logging.getLogger(__name__)


class QueryShell(cmd.Cmd):
    """The `tempme shell` loop: each line is a query; ``:k N``, ``:mode M``, ``:help``; a blank
    line, end of input or ``:q`` ends it. A query that fails prints its error and the loop goes on."""

    def __init__(
        self, backend, *, k: int, per_video: bool, mode: str, folder: str | None, out: object,
        show: Callable[[object, SearchRequest, object], object],
    ) -> None:  # fmt: skip
        interactive = sys.stdin.isatty()
        super().__init__()
        self.use_rawinput = True  # input(): readline editing and history on a terminal
        self.prompt = "search> " if interactive else ""
        self.backend, self.k, self.per_video, self.mode, self.folder = backend, k, per_video, mode, folder
        self.out, self.show = out, show  # show(backend, request, out): runs and prints (out: results.Output)

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
                request = SearchRequest(Query(text=line), self.k, self.per_video, self.mode, SearchFilters(self.folder))
                self.show(self.backend, request, self.out)
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
            check_mode(value)
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
