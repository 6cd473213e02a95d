"""What ``GET /api/v1/ready`` checks: named checks, each ``() -> (ok, why not)``, all of which
must pass. The server lists ``catalog`` (the library opens and its catalog answers), ``index``
(the vector index is loaded) and ``model`` (a text query is answered without waiting: the torch
text tower is loaded, or the library's query model is fresh, ``AppContext.text_ready``).
"""

from __future__ import annotations

from collections.abc import Callable

from tempme.app.context import AppContext
from tempme.app.validate import InputError

Check = Callable[[], tuple[bool, str]]


class Readiness:
    """An ordered set of named checks."""

    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Add (or replace) the check called ``name``."""
        self.checks[name] = check

    def run(self) -> tuple[bool, dict[str, bool], dict[str, str]]:
        """(all passed, name -> passed, name -> why not for those that did not)."""
        passed, why = {}, {}
        for name, check in self.checks.items():
            try:
                ok, reason = check()
            except Exception as exc:  # a check that fails is a check not passed, with its reason
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            passed[name] = ok
            if not ok:
                why[name] = reason
        return all(passed.values()), passed, why


def for_library(ctx: AppContext) -> Readiness:
    """The checks of a served library: catalog, index, model (see the module docstring)."""
    ready = Readiness()

    def catalog() -> tuple[bool, str]:
        try:
            ctx.library().encoder_info()  # one query on the catalog
        except InputError as e:
            return False, str(e)
        return True, ""

    def index() -> tuple[bool, str]:
        try:
            stats = ctx.library().stats()
        except InputError as e:
            return False, str(e)
        return (stats.vectors > 0 or stats.segments == 0), "the vector index is not loaded"

    def model() -> tuple[bool, str]:
        if ctx.model_loaded() or ctx.text_ready():  # a torch tower loaded, or a fresh query model (no torch)
            return True, ""
        if ctx.warmed_up:
            return False, ctx.warm_up_error or "the library has no videos yet, so no encoder to load"
        return False, "loading the model"

    for name, check in (("catalog", catalog), ("index", index), ("model", model)):
        ready.add(name, check)
    return ready
