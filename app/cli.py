"""The `tempme` command line: one Typer app whose commands live beside the code they drive.

Each command module exports ``COMMANDS: dict[str, callable]`` (Typer-annotated functions whose
heavy imports happen inside the function body, so `tempme --help` stays fast). The CLI is an
entry point, so it sits in the outermost layer: ``app -> index -> tempme`` and ``app -> train``.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

COMMAND_MODULES = ("tempme.index.cli", "tempme.app.serve", "tempme.train.cli", "tempme.llm.cli")

cli = typer.Typer(
    name="tempme",
    help="Text-to-video moment search with TempMe (open_clip + token merging + LoRA).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    # Our packages at INFO (DEBUG with -v); third-party libraries (open_clip, alembic, faiss's
    # loader) only when they warn.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("tempme", "index", "app", "train"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


for _module_name in COMMAND_MODULES:
    for _name, _func in importlib.import_module(_module_name).COMMANDS.items():
        cli.command(_name)(_func)


def _hoist_global_options(argv: list[str]) -> list[str]:
    """Move ``--library DIR`` given before the command name to after it.

    `tempme --library L search q` and `tempme search q --library L` then mean the same; each
    library command declares the option itself (with the ``TEMPME_LIBRARY`` fallback).
    """
    out: list[str] = []
    moved: list[str] = []
    i = 0
    seen_command = False
    while i < len(argv):
        arg = argv[i]
        if not seen_command and arg == "--library" and i + 1 < len(argv):
            moved += [arg, argv[i + 1]]
            i += 2
            continue
        if not seen_command and arg.startswith("--library="):
            moved.append(arg)
            i += 1
            continue
        out.append(arg)
        if not arg.startswith("-"):
            seen_command = True
            out += moved
            moved = []
        i += 1
    return out + moved


def main() -> None:
    sys.argv[1:] = _hoist_global_options(sys.argv[1:])
    cli()


if __name__ == "__main__":
    main()
