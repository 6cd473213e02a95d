"""What the catalog knows of videos beyond their rows' use in indexing: recording dates (read
at ingest, or later for videos indexed before they were kept), the library's folders (choices
for the folder filter), dates of search results, a sample of the stored vectors (the
score statistics of example queries and of a sorted search's cutoff), and which segments share
a video (the index tuner leaves a query's own video out of its truth).

:class:`VideoFacts` is mixed into :class:`tempme.index.catalog.Catalog`: it uses the catalog's
``session`` and ``transaction``.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.filters import to_naive_utc
from tempme.index.catalog.models import Segment, Video
from tempme.index.catalog.paths import from_db


class VideoFacts:
    """Dates, folders, a vector sample, segments by video; see the module docstring."""

    session: sessionmaker[Session]

    def transaction(self, what: str) -> AbstractContextManager[Session]:  # Catalog's
        raise NotImplementedError

    def undated_videos(self) -> list[tuple[int, Path]]:
        """(video id, path) of the indexed videos without a recording date, by path."""
        q = select(Video.id, Video.path).where(Video.status == "indexed", Video.recorded_at.is_(None))
        with self.session() as s:
            return [(int(i), Path(from_db(p))) for i, p in s.execute(q.order_by(Video.path)).all()]

    def set_recorded_dates(self, dates: Iterable[tuple[int, dt.datetime, str]]) -> int:
        """Store (video id, recorded at, source) for each video; returns how many were stored."""
        rows = [{"vid": int(i), "at": to_naive_utc(when), "src": src} for i, when, src in dates]
        if not rows:
            return 0
        stmt = (
            update(Video.__table__)
            .where(Video.__table__.c.id == bindparam("vid"))
            .values(recorded_at=bindparam("at"), recorded_source=bindparam("src"))
        )
        with self.transaction("storing recording dates") as s:
            s.connection().execute(stmt, rows)
        return len(rows)

    def video_dates(self, video_ids: Iterable[int]) -> dict[int, tuple[dt.datetime, str]]:
        """video id -> (recorded at, aware UTC; its source) for those of ``video_ids`` that have
        one (a page of results, or a sorted search's pool: far fewer ids than SQLite's limit)."""
        ids = sorted({int(i) for i in video_ids})
        if not ids:
            return {}
        q = select(Video.id, Video.recorded_at, Video.recorded_source).where(
            Video.id.in_(ids), Video.recorded_at.is_not(None)
        )
        with self.session() as s:
            return {int(i): (at.replace(tzinfo=dt.UTC), src) for i, at, src in s.execute(q)}

    def folders(self) -> list[Path]:
        """The folders holding indexed videos, one per folder key (a spelling as stored), sorted."""
        q = select(func.min(Video.path)).where(Video.status == "indexed").group_by(Video.folder_key)
        with self.session() as s:
            return sorted({Path(posixpath.dirname(from_db(p))) for p in s.scalars(q)})

    def vector_sample(self, n: int = 1024) -> np.ndarray:
        """(n', D) float32: about ``n`` stored vectors spread evenly over the ids (every m-th row,
        m = count // n); all of them in a library of at most ``n`` segments."""
        with self.session() as s:
            total = int(s.scalar(select(func.count(Segment.id))) or 0)
            if total == 0:
                return np.zeros((0, 0), np.float32)
            every = max(1, total // n)
            q = select(Segment.embedding).order_by(Segment.id)
            if every > 1:
                q = q.where(Segment.id % every == 0)
            blobs = s.scalars(q.limit(n)).all()
        if not blobs:  # ids with gaps: no multiple of `every` left
            with self.session() as s:
                blobs = s.scalars(select(Segment.embedding).order_by(Segment.id).limit(n)).all()
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()

    def segment_videos(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every segment of the videos that hold the segments ``ids``: (M,) segment ids
        (ascending) and (M,) int64 their video ids; unknown ids add nothing."""
        wanted = sorted({int(i) for i in np.asarray(ids).ravel()})
        rows: set[tuple[int, int]] = set()
        with self.session() as s:
            for a in range(0, len(wanted), 10_000):  # SQLite: at most 32,766 bound variables
                videos = select(Segment.video_id).where(Segment.id.in_(wanted[a : a + 10_000]))
                q = select(Segment.id, Segment.video_id).where(Segment.video_id.in_(videos))
                rows.update((int(i), int(v)) for i, v in s.execute(q))
        got = np.array(sorted(rows), dtype=np.int64).reshape(-1, 2)
        return got[:, 0].copy(), got[:, 1].copy()
