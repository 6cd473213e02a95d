"""Package exports resolved on first use (PEP 562 module ``__getattr__``).

A room's ``__init__`` names its public types without importing the modules that define them,
so that importing a light module of a room (``media.files``) does not import its heavy ones
(PyAV, OpenCV, torch): ``__getattr__ = lazy_exports(__name__, {"ScanPool": "scan_pool"})``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each public name to the
    submodule of ``package`` that defines it (imported on the first access).

    Raises (the returned function):
        AttributeError: ``name`` is not one of ``exports``.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
