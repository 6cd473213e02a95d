"""The module paths of ``tempme.index`` before its rooms, kept as deprecated aliases.

``import tempme.index.types`` or ``from tempme.index.segment import SegmentParams`` still work:
each old path is a module whose names resolve, on first use, in the modules that now define
them (a ``DeprecationWarning`` says where). :func:`install` (called by ``tempme.index``) adds
the finder to ``sys.meta_path``; the real modules always win, so nothing that exists is shadowed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

PACKAGE = "tempme.index"
# old module -> the modules that now hold its names (searched in order)
MOVED: dict[str, tuple[str, ...]] = {
    "types": ("hits", "errors", "reports", "catalog"),
    "files": ("media.files", "filenames"),
    "db": ("catalog.db",),
    "models": ("catalog.models",),
    "pglock": ("catalog.pglock",),
    "vectorscale": ("vectors",),
    "store": ("vectors.store",),
    "segment": ("media.segments", "media.scan", "media.cuts"),
    "scan_pool": ("media.scan_pool",),
    "thumbnails": ("media.thumbnails",),
    "audio": ("media.audio",),
    "planner": ("ingest.plan",),
    "executor": ("ingest.executor", "ingest.outcomes"),
    "ray_executor": ("ingest.ray",),
    "committer": ("ingest.writer", "reports"),
    "reindex": ("ingest.reindex", "reports"),
    "encoders": ("ingest.encoders", "catalog"),
    "speech": ("enrich.speech",),
    "ocr": ("enrich.ocr",),
    "textbatch": ("query.encoder",),
    "search": ("query.vector",),
    "moments": ("query.vector",),
    "textsearch": ("query.text", "query.fusion"),
    "fusion": ("query.fusion",),
}
RENAMED = {"TextLine": "ScreenLine"}  # ocr.TextLine, the dataclass (not the catalog's table)


class MovedModule(types.ModuleType):
    """An old module path: its names are looked up in the modules that hold them now."""

    def __init__(self, name: str, homes: tuple[str, ...]) -> None:
        super().__init__(name, f"Deprecated alias of {', '.join(homes)}.")
        self.__homes = homes

    def __getattr__(self, name: str) -> object:
        for home in self.__homes:
            module = importlib.import_module(home)
            for candidate in (name, RENAMED.get(name)):
                if candidate is not None and hasattr(module, candidate):
                    return getattr(module, candidate)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (it moved: see CHANGELOG.md)")


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module paths of :data:`MOVED` (asked only after the real finders failed)."""

    def find_spec(self, fullname: str, path=None, target=None):
        old = fullname.removeprefix(PACKAGE + ".")
        if old == fullname or old not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec) -> types.ModuleType:
        old = spec.name.removeprefix(PACKAGE + ".")
        return MovedModule(spec.name, tuple(f"{PACKAGE}.{home}" for home in MOVED[old]))

    def exec_module(self, module: types.ModuleType) -> None:
        homes = MOVED[module.__name__.removeprefix(PACKAGE + ".")]
        warnings.warn(
            f"{module.__name__} moved to {', '.join(f'{PACKAGE}.{h}' for h in homes)}; import from tempme.index",
            DeprecationWarning,
            stacklevel=2,
        )


def install() -> None:
    """Add the finder once (after the real ones)."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
