"""The catalog's side of calibrated confidence: a library's stored null distributions
(``score_nulls``) and the segment sample they are computed from.

:class:`NullRecords` is mixed into :class:`tempme.index.catalog.Catalog` (as
:class:`~.runs.RunRecords` is): it uses the catalog's ``session`` and ``transaction``. What the
scores mean is :mod:`tempme.index.nulls`; here they are bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.models import ScoreNull, Segment, utcnow
from tempme.index.catalog.records import NullRecord


class NullRecords:
    """Stored nulls and the segment sample; see the module docstring."""

    session: sessionmaker[Session]

    def transaction(self, what: str) -> AbstractContextManager[Session]:  # Catalog's
        raise NotImplementedError

    def score_nulls(self) -> list[NullRecord]:
        """Every stored null (none before the first calibration)."""
        with self.session() as s:
            rows = s.scalars(select(ScoreNull).order_by(ScoreNull.kind)).all()
            return [NullRecord(r.kind, bytes(r.scores), int(r.segments), int(r.version)) for r in rows]

    def record_score_nulls(self, records: Sequence[NullRecord]) -> None:
        """Replace the stored nulls with ``records``, in one transaction."""
        with self.transaction("recording the score nulls") as s:
            s.execute(delete(ScoreNull))
            s.add_all(
                ScoreNull(kind=r.kind, version=r.version, segments=r.segments, size=len(r.scores) // 4,
                          scores=r.scores, computed_at=utcnow())
                for r in records
            )  # fmt: skip

    def segment_sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` segments spread over the library (every ``count // n``-th id, the same
        ones every time): (m,) int64 ids and (m, D) float32 vectors."""
        with self.session() as s:
            step = max(1, int(s.scalar(select(func.count(Segment.id)))) // max(1, n))
            rows = s.execute(
                select(Segment.id, Segment.embedding).where(Segment.id % step == 0).order_by(Segment.id).limit(n)
            ).all()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 1), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return np.array([r[0] for r in rows], dtype=np.int64), vecs

    def video_ids(self, segment_ids: Sequence[int]) -> dict[int, int]:
        """``{segment id: video id}`` of the given segments that exist."""
        out: dict[int, int] = {}
        ids = [int(i) for i in segment_ids]
        with self.session() as s:
            for a in range(0, len(ids), 10_000):
                q = select(Segment.id, Segment.video_id).where(Segment.id.in_(ids[a : a + 10_000]))
                out.update({int(i): int(v) for i, v in s.execute(q)})
        return out
