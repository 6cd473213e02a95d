"""A library's parts opened on their own, for checks the facade does not offer (test helper).

Tests look inside a library through the rooms' public classes, never through ``Library``'s
private attributes: a second :class:`~tempme.index.catalog.Catalog` on the same database (the
source of truth), and the ids the library's own (in-memory) index can return.
"""

from __future__ import annotations

import atexit
import weakref

import numpy as np
from sqlalchemy.pool import NullPool
from tempme.index.catalog import Catalog

_catalogs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def catalog_of(lib) -> Catalog:
    """A catalog on ``lib``'s database (one per library object). It keeps no connection open
    between uses (``NullPool``), so SQLite folds its write-ahead log into ``library.db`` when the
    library closes, and a test's PostgreSQL database can be dropped."""
    catalog = _catalogs.get(lib)
    if catalog is None:
        catalog = _catalogs[lib] = Catalog(lib.database_url, read_only=lib.read_only, poolclass=NullPool)
        atexit.register(catalog.close)
    return catalog


def index_ids(lib) -> np.ndarray:
    """(N,) sorted ids that ``lib``'s index holds now (in this process): every id a search for
    all N vectors returns (exact, or IVF probing every list: the libraries of the tests)."""
    n, dim = lib.stats().vectors, lib.embed_dim()
    if not n:
        return np.zeros(0, np.int64)
    query = np.full((1, dim), 1.0 / np.sqrt(dim), np.float32)
    _, ids = lib.search_segments(query, n)
    return np.sort(ids[0][ids[0] >= 0])
