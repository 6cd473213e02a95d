"""`tempme keys create NAME | list | revoke NAME`: the library's API keys.

Only each key's SHA-256 is stored (in the catalog); ``create`` prints the secret once. Once a
library has an active key, its `tempme serve` asks every API call for one
(``Authorization: Bearer <key>``), and `tempme search` sends ``--api-key`` / ``$TEMPME_API_KEY``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Optional

import typer
from tempme.app.cli.options import LibraryOpt, library_dir
from tempme.index import LibraryError, printable

from tempme.cli_errors import fail


class Action(StrEnum):
    create = "create"
    list = "list"
    revoke = "revoke"


def keys(
    ctx: typer.Context,
    action: Annotated[Action, typer.Argument(help="create NAME, list, or revoke NAME.")],
    name: Annotated[Optional[str], typer.Argument(help="The key's name (create, revoke).")] = None,
    library: LibraryOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create, list or revoke the API keys of a library (the secret is shown once, at creation)."""
    from tempme.index import Library

    if action is not Action.list and not name:
        fail(f"give the key's name: tempme keys {action.value} NAME")
    try:
        lib = Library.open(library_dir(ctx, library))
    except LibraryError as exc:
        fail(str(exc))
    with lib:
        try:
            if action is Action.create:
                info, secret = lib.keys.create(name)
                out = {"name": info.name, "prefix": info.prefix, "key": secret}
                typer.echo(json.dumps(out) if as_json else f"{secret}\n(key {info.name!r}: shown once; store it now)")
            elif action is Action.revoke:
                info = lib.keys.revoke(name)
                typer.echo(json.dumps(info.__dict__) if as_json else f"revoked {info.name!r} ({info.prefix}…)")
            else:
                rows = lib.keys.list()
                if as_json:
                    typer.echo(json.dumps([r.__dict__ for r in rows]))
                for r in [] if as_json else rows:
                    state = "active" if r.active else f"revoked {r.revoked_at}"
                    used = r.last_used_at or "never used"
                    typer.echo(f"{printable(r.name)}\t{r.prefix}…\tcreated {r.created_at}\t{used}\t{state}")
        except (ValueError, KeyError) as exc:
            fail(str(exc.args[0]) if exc.args else str(exc))


COMMANDS = {"keys": keys}
