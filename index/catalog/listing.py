"""The catalog's videos as people list them: paged rows with their segment counts
(:class:`~tempme.index.reports.VideoRecord`), and one row by id (what a server checks before it
serves a file). :class:`VideoListing` is mixed into :class:`tempme.index.catalog.Catalog`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.models import Segment, Video
from tempme.index.catalog.paths import from_db
from tempme.index.reports import VideoRecord


def _select():
    count = select(func.count(Segment.id)).where(Segment.video_id == Video.id).scalar_subquery()
    return select(Video, count)


def _record(row: Video, segments: int) -> VideoRecord:
    when = row.indexed_at.isoformat(timespec="seconds") + "Z" if row.indexed_at else ""
    return VideoRecord(row.id, Path(from_db(row.path)), row.status, row.error, row.duration_s, int(segments or 0),
                       int(row.size), int(row.mtime_ns), row.content_hash, when)  # fmt: skip


class VideoListing:
    """Paged video rows; see the module docstring."""

    session: sessionmaker[Session]

    def video_total(self, status: str | None = None) -> int:
        """Videos in the catalog (``status``: only ``indexed`` or ``failed`` ones)."""
        q = select(func.count(Video.id))
        with self.session() as s:
            return int(s.scalar(q if status is None else q.where(Video.status == status)))

    def video_records(self, offset: int = 0, limit: int = 50, status: str | None = None) -> list[VideoRecord]:
        """Videos ``offset`` to ``offset + limit`` in path order (``status``: only those)."""
        q = _select().order_by(Video.path).offset(max(0, int(offset))).limit(max(0, int(limit)))
        with self.session() as s:
            return [_record(v, n) for v, n in s.execute(q if status is None else q.where(Video.status == status))]

    def video_record(self, video_id: int, missing_ok: bool = False) -> VideoRecord | None:
        """Raises KeyError for an unknown id (``missing_ok``: returns None)."""
        with self.session() as s:
            row = s.execute(_select().where(Video.id == int(video_id))).first()
        if row is None and not missing_ok:
            raise KeyError(f"no video {video_id}")
        return None if row is None else _record(*row)
