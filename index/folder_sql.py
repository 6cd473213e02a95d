"""The SQL form of the folder filter (:mod:`index.folder_match`), for SQLite and PostgreSQL.

``column`` holds :func:`index.folder_match.folder_key` of each video (folded folder, trailing
``/``). The clause is SQLAlchemy's ``contains`` / ``startswith`` with ``autoescape=True``:

- partial: ``column LIKE '%' || :needle || '%' ESCAPE '/'``
- absolute: ``column LIKE :needle || '%' ESCAPE '/'``

with ``%``, ``_`` and ``/`` in the needle escaped by ``/``, so the needle is literal. Both sides
are folded in Python (the column when it is written, the needle here), so SQLite's LIKE (which
ignores ASCII case) and PostgreSQL's LIKE (which does not) give the same rows as
:meth:`index.folder_match.FolderQuery.matches_key`. Nothing is folded by the database.

This module moves into the catalog (the only SQLAlchemy importer) when the rooms land.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy.sql.elements import ColumnElement
from tempme.index.folder_match import FolderQuery


def folder_clause(column, query: FolderQuery, spell: Callable[[str], str] = str) -> ColumnElement[bool]:
    """SQL: the video whose ``column`` (its folder key) passes ``query``.

    ``spell``: how the catalog spells text (``catalog.to_db`` for names with undecodable bytes);
    applied to the needle as it was applied to the stored keys.
    """
    needle = spell(query.needle)
    return column.startswith(needle, autoescape=True) if query.absolute else column.contains(needle, autoescape=True)
