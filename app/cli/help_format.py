"""Help without type tags: flags show none, other options a short metavar (``PATH``, ``N``, ``SECONDS``).

Typer prints a ``<bool>``, ``<int>`` or ``<path>`` tag beside every option unless the option
has a metavar. :class:`PlainCommand` and :class:`PlainGroup` (the `tempme` app's command
classes) give every parameter that declares none a metavar from its type when the command
lists its parameters, so a command module needs no help-only boilerplate; an option that
means something more specific declares it (``typer.Option(metavar="SECONDS")``).
"""

from __future__ import annotations

import re

from typer.core import TyperCommand, TyperGroup

# the type tag Typer would print (``<int>``, ``<float range>``, ``<list[path]>``) -> our word
_WORDS = {"int": "N", "float": "NUMBER", "str": "TEXT", "path": "PATH", "file": "FILE", "datetime": "TIME"}


def plain_metavar(param, ctx) -> str:
    """The metavar `tempme` help shows for a Typer parameter: "" for flags and counters, else a
    short upper-case word for its type (``N``, ``NUMBER``, ``TEXT``, ``PATH``, ``a|b`` for
    choices, ``PATH...`` for lists); arguments show their name (``QUERY``, ``PATHS...``)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    many = "..." if param.nargs != 1 or getattr(param, "multiple", False) else ""
    if param.param_type_name == "argument":
        return (param.name or "value").upper() + many
    tag = (param.display_type(ctx) if hasattr(param, "display_type") else "") or ""
    label = tag.strip("<>")
    inner = re.fullmatch(r"list\[(.*)\]", label)
    if inner:
        label, many = inner.group(1), "..."
    label = label.removesuffix(" range")
    if "|" in label:  # choices as they are
        return label + many
    return _WORDS.get(label.lower(), label.upper() or "VALUE") + many


class _PlainParams:
    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if p.metavar is None:
                p.metavar = plain_metavar(p, ctx)
            if p.param_type_name == "argument" and "display_type_rich" not in vars(p):
                # Typer prints an argument's type beside its name whatever its metavar: the
                # name (QUERY, PATHS...) says enough. Set on this instance only.
                p.display_type_rich = _no_type
        return params


def _no_type(ctx) -> None:
    return None


class PlainCommand(_PlainParams, TyperCommand):
    """A Typer command whose help shows :func:`plain_metavar` metavars."""


class PlainGroup(_PlainParams, TyperGroup):
    """A Typer group (the root `tempme`) whose help shows :func:`plain_metavar` metavars."""
