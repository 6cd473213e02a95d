"""What a search may return, in SQL: a folder as people type it (:mod:`tempme.index.folders`,
on the stored ``folder_key``; an absolute one also under its link target), duration and
recording-date bounds, file extensions and left-out videos, added to a select joined with
``videos``."""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import and_, func, or_
from sqlalchemy.sql.elements import ColumnElement
from tempme.index.catalog.models import Video
from tempme.index.catalog.paths import to_db
from tempme.index.filenames import link_target
from tempme.index.folders import FolderQuery
from tempme.index.hits import SearchFilters


def prefix(column, folder: str):
    """SQL: ``column`` is ``folder`` or a path inside it (a literal prefix: ``_`` and ``%`` in
    ``folder`` match only themselves)."""
    root = to_db(folder.rstrip(os.sep) or os.sep)
    return or_(column == root, column.startswith(root.rstrip(os.sep) + os.sep, autoescape=True))


def folder_clause(column, query: FolderQuery) -> ColumnElement[bool]:
    """SQL: the folder key in ``column`` (:func:`tempme.index.folders.folder_key`, as stored)
    passes ``query``: ``LIKE '%' || :needle || '%' ESCAPE '/'`` (partial) or ``LIKE :needle ||
    '%' ESCAPE '/'`` (absolute), the needle's ``%``, ``_`` and ``/`` escaped; both sides folded
    in Python, so SQLite (whose LIKE ignores ASCII case) and PostgreSQL (whose LIKE does not)
    return the rows :meth:`FolderQuery.matches_key` accepts."""
    needle = to_db(query.needle)
    return column.startswith(needle, autoescape=True) if query.absolute else column.contains(needle, autoescape=True)


def folder_filter(folder: str) -> ColumnElement[bool] | None:
    """SQL for a typed folder (None: blank). An absolute folder also matches under its link
    target (videos are stored under the names they were indexed by), and the video it names
    when it is a video's own path."""
    query = FolderQuery.parse(folder)
    if query is None:
        return None
    clause = folder_clause(Video.folder_key, query)
    if query.file is not None:
        clause = or_(clause, Video.path == to_db(query.file))
    if query.absolute:
        target = link_target(query.text)
        resolved = FolderQuery.parse(str(target)) if target is not None else None
        if resolved is not None and resolved.needle != query.needle:
            clause = or_(clause, folder_clause(Video.folder_key, resolved))
    return clause


def filter_videos(q, filters: SearchFilters | None):
    """``q`` (a select joined with Video) restricted by ``filters``: folder, duration and date
    bounds, extensions, left-out videos (``min_score`` is the router's)."""
    if filters is None:
        return q
    if filters.folder and (clause := folder_filter(filters.folder)) is not None:
        q = q.where(clause)
    if filters.min_duration_s is not None:
        q = q.where(Video.duration_s >= filters.min_duration_s)
    if filters.max_duration_s is not None:
        q = q.where(Video.duration_s <= filters.max_duration_s)
    if filters.date_from is not None:
        q = q.where(Video.recorded_at >= to_naive_utc(filters.date_from))
    if filters.date_to is not None:
        q = q.where(Video.recorded_at < to_naive_utc(filters.date_to))
    if filters.extensions:
        q = q.where(has_suffix(Video.path, filters.suffixes()))
    if filters.exclude_videos:
        q = q.where(Video.id.notin_(sorted(filters.exclude_videos)))
    return q


def to_naive_utc(when: dt.datetime) -> dt.datetime:
    """How the catalog stores a moment in time: naive UTC (the ``DateTime`` columns, as ``utcnow``)."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo is not None else when


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
