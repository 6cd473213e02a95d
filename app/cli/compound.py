"""`tempme search A --then B` / `--while B`: the options of a compound query, and the query.

``--then B``: B starts within ``--within`` seconds (default 10) after A ends; ``--while B``: B
overlaps A. ``--then-mode`` searches B in another mode than ``--mode`` (e.g. ``--mode visual
--then-mode speech``). The library searches each part alone and joins them in time
(:class:`tempme.index.CompoundQuery`); the server's API has no compound queries, so they run here.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tempme.cli_errors import fail

ThenOpt = Annotated[
    Optional[str],
    typer.Option("--then", metavar="QUERY", help="Second query: its moment follows the first's within --within s."),
]
WhileOpt = Annotated[
    Optional[str], typer.Option("--while", metavar="QUERY", help="Second query: its moment overlaps the first's.")
]
WithinOpt = Annotated[float, typer.Option("--within", min=0, metavar="SECONDS", help="How soon --then must follow.")]
ThenModeOpt = Annotated[
    Optional[str], typer.Option("--then-mode", help="Mode of the --then / --while query (default: --mode).")
]


def compound_query(query: str | None, then: str | None, while_: str | None, within: float, then_mode: str | None):
    """The compound query of --then / --while, or None; exits on a bad combination."""
    if then is None and while_ is None:
        if then_mode is not None:
            fail("--then-mode needs --then or --while")
        return None
    if query is None:
        fail("--then / --while need a first query")
    from tempme.index import CompoundQuery  # here: the query room imports SQLAlchemy and FAISS

    try:
        return CompoundQuery.of(query, then=then, while_=while_, within_s=within, then_mode=then_mode)
    except ValueError as exc:
        fail(str(exc).replace("then / while", "--then or --while, not both"))
