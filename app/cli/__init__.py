"""The `tempme` command line: one Typer app over the library, the page, training and the LLM tools.

Each command module exports ``COMMANDS: dict[str, callable]`` (Typer-annotated functions whose
heavy imports happen inside the function body, so `tempme --help` stays fast): the library's
commands are in this package (:mod:`.library`, :mod:`.ingest`, :mod:`.enrich`, :mod:`.search`,
:mod:`.export`, :mod:`.explain`; shared options in :mod:`.options`, the progress bar in :mod:`.progress`),
``tempme serve`` in :mod:`tempme.app.cli.serve`, training's in :mod:`tempme.train.cli`, the LLM
reducers' in :mod:`tempme.llm.cli`. The CLI is an entry point, so it sits in the outermost
layer: ``app -> index -> tempme`` and ``app -> train``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Optional

import typer
from tempme.app.cli.help_format import PlainCommand, PlainGroup

COMMAND_MODULES = (
    "tempme.app.cli.library",
    "tempme.app.cli.search",
    "tempme.app.cli.export",
    "tempme.app.cli.serve",
    "tempme.app.cli.keys",
    "tempme.train.cli",
    "tempme.llm.cli",
    "tempme.app.cli.explain",
)

cli = typer.Typer(
    name="tempme",
    cls=PlainGroup,
    help="Text-to-video moment search with TempMe (open_clip + token merging + LoRA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from tempme import __version__

        typer.echo(f"tempme {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    library: Optional[Path] = typer.Option(
        None,
        "--library",
        envvar="TEMPME_LIBRARY",
        help="Library directory for the library commands (each also takes --library after its name).",
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="-v: progress notes (INFO); -vv: debug logging, third-party libraries too.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    # Warnings only by default (the commands print their own results); our packages at INFO with
    # -v; everything at DEBUG with -vv. `library` is read by the commands (tempme.app.cli.options.library_dir).
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("tempme").setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)


for _module_name in COMMAND_MODULES:
    for _name, _func in importlib.import_module(_module_name).COMMANDS.items():
        cli.command(_name, cls=PlainCommand)(_func)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
