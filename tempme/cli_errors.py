"""The one way a `tempme` command reports failure: ``error: <message>`` on stderr and exit code 1.

Exit codes of the `tempme` CLI: 0 done; 1 the command could not do what was asked (the message
says why: a missing or busy library, weights that cannot be loaded, bad data or config); 2 the
command line itself is wrong (Typer/Click usage errors: unknown option, missing argument).
"""

from __future__ import annotations

from typing import NoReturn

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2  # what Typer/Click use for usage errors


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit with :data:`EXIT_FAILED`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=EXIT_FAILED)
