"""What a search may return, in SQL: a folder (compared literally, under its spelled name and
its link target), duration bounds and file extensions, added to a select joined with ``videos``."""

from __future__ import annotations

import os

from sqlalchemy import and_, func, or_
from tempme.index.catalog.models import Video
from tempme.index.catalog.paths import to_db
from tempme.index.filenames import absolute, link_target
from tempme.index.hits import SearchFilters


def prefix(column, folder: str):
    """SQL: ``column`` is ``folder`` or a path inside it (a literal prefix: ``_`` and ``%`` in
    ``folder`` match only themselves)."""
    root = to_db(folder.rstrip(os.sep) or os.sep)
    return or_(column == root, column.startswith(root.rstrip(os.sep) + os.sep, autoescape=True))


def filter_videos(q, filters: SearchFilters | None):
    """``q`` (a select joined with Video) restricted by ``filters``: folder (compared
    literally), duration bounds, extensions."""
    if filters is None:
        return q
    if filters.folder:
        spelled = absolute(filters.folder)  # videos are stored under the names they were indexed by
        target = link_target(spelled)
        q = q.where(or_(prefix(Video.path, str(spelled)), prefix(Video.path, str(target or spelled))))
    if filters.min_duration_s is not None:
        q = q.where(Video.duration_s >= filters.min_duration_s)
    if filters.max_duration_s is not None:
        q = q.where(Video.duration_s <= filters.max_duration_s)
    if filters.extensions:
        q = q.where(has_suffix(Video.path, filters.suffixes()))
    return q


def has_suffix(column, suffixes: frozenset[str]):
    """SQL: the file name in ``column`` has one of ``suffixes`` (lower case, with the dot), as
    ``Path(name).suffix.lower()`` would say: case-insensitive, and a name that is only the
    suffix (``.mp4``, a hidden file) has none."""
    name = func.lower(column)
    return or_(
        *(
            and_(name.endswith(s, autoescape=True), ~name.endswith(os.sep + s, autoescape=True))
            for s in sorted(suffixes)
        )
    )
