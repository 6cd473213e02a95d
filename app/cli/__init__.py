"""The `tempme` command line: one Typer app over the library, the page, training and the LLM tools.

Each command module exports ``COMMANDS: dict[str, callable]`` (Typer-annotated functions whose
heavy imports happen inside the function body, so `tempme --help` stays fast): the library's
commands are in this package (:mod:`.library`, :mod:`.ingest`, :mod:`.enrich`, :mod:`.search`,
:mod:`.export`, :mod:`.explain`, :mod:`.watch`; shared options in :mod:`.options`, the progress bar in :mod:`.progress`),
``tempme serve`` in :mod:`tempme.app.cli.serve`, training's in :mod:`tempme.train.cli`, the LLM
reducers' in :mod:`tempme.llm.cli`. The CLI is an entry point, so it sits in the outermost
layer: ``app -> index -> tempme`` and ``app -> train``.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import typer
from tempme.app.cli.help_format import PlainCommand, PlainGroup

COMMAND_MODULES = {
    "tempme.app.cli.library": ("index", "enrich", "reindex", "rebuild", "remove", "stats"),
    "tempme.app.cli.watch": ("watch",),
    "tempme.app.cli.search": ("search", "shell"),
    "tempme.app.cli.export": ("export",),
    "tempme.app.cli.serve": ("serve",),
    "tempme.app.cli.keys": ("keys",),
    "tempme.train.cli": ("train", "eval", "synth"),
    "tempme.llm.cli": ("qa", "qa-eval"),
    "tempme.app.cli.explain": ("explain",),
}
"""Each command module and the commands its ``COMMANDS`` registers (tests/test_cli.py checks
them): `main` imports only the module of the command it runs (issue 25: a cold search)."""
ONE_SHOT = ("tempme.app.cli.search",)
"""Modules whose commands write no file: their process skips the interpreter's final garbage
collection (`gc.freeze` at exit; objects are still released by reference counting)."""
ROOT_VALUED = ("--library",)  # the root options that take a value (the others are flags)


def _typer() -> typer.Typer:
    return typer.Typer(
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


def app_with(modules: Iterable[str]) -> typer.Typer:
    """The `tempme` app with the root options and the commands of ``modules`` (names of
    `COMMAND_MODULES`): every command is declared once, in its module, whichever app runs it."""
    app = _typer()
    app.callback()(_root)
    for module_name in modules:
        for name, func in importlib.import_module(module_name).COMMANDS.items():
            app.command(name, cls=PlainCommand)(func)
    return app


def module_of(args: Sequence[str]) -> str | None:
    """The module of the command ``args`` run (its first word after the root options), or None
    (no command, ``--help`` / ``--version`` first, an unknown word: the whole app answers)."""
    words = iter(args)
    for word in words:
        if word in ROOT_VALUED:
            next(words, None)
        elif word.startswith("--library=") or word in ("-v", "--verbose") or re.fullmatch(r"-v+", word):
            continue
        else:
            return next((m for m, names in COMMAND_MODULES.items() if word in names), None)
    return None


@functools.cache
def __getattr__(name: str) -> typer.Typer:
    if name != "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return app_with(COMMAND_MODULES)  # ``cli``: every command (tests, typer.testing)


def main() -> None:
    """The console script: the app of the one command module ``sys.argv`` needs (the same
    options, help and errors as the whole app's), else the whole app."""
    module = module_of(sys.argv[1:])
    if module in ONE_SHOT:  # runs last at exit: no last collection of every object (~0.1 CPU-s), as serve
        atexit.register(gc.freeze)
    (app_with([module]) if module else __getattr__("cli"))()


if __name__ == "__main__":
    main()
