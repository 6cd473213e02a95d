"""The catalog: every SQL read and write of a library (videos, segments, encoder, runs, index state).

A :class:`Catalog` takes a SQLAlchemy database URL (SQLite by default, ``library.db`` in the
library folder; any URL SQLAlchemy accepts), migrates it to the latest Alembic revision and
hands out plain values (numpy arrays, dataclasses of :mod:`.records`), never ORM objects, so no
other module depends on the schema. It is the source of truth: segment vectors are stored here
and the vector store (:mod:`tempme.index.vectors.store`) can always be rebuilt from them. Every
write is one transaction (:meth:`Catalog.transaction`), where a storage failure becomes a
:class:`~tempme.index.errors.StorageError`. Transcripts and on-screen text: :mod:`.fulltext`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from tempme.index.catalog import db
from tempme.index.catalog.facts import VideoFacts
from tempme.index.catalog.filters import filter_videos, prefix, to_naive_utc
from tempme.index.catalog.fulltext import FullText
from tempme.index.catalog.jobs import JobBoard, KeyRing
from tempme.index.catalog.listing import VideoListing
from tempme.index.catalog.location import record_database_url
from tempme.index.catalog.models import (
    EncoderRecord,
    Enrichment,
    ScoreNull,
    Segment,
    TextLine,
    Video,
)
from tempme.index.catalog.nullrecords import NullRecords
from tempme.index.catalog.paths import from_db, to_db
from tempme.index.catalog.records import EncoderInfo, KnownFile, NewVideo, SegmentRow, StoredFile
from tempme.index.catalog.runs import RunRecords
from tempme.index.errors import StorageError, storage_boundary
from tempme.index.folders import folder_key
from tempme.index.hits import SearchFilters

log = logging.getLogger(__name__)

IN_CHUNK = 10_000  # ids per ``IN (...)``: SQLite allows 32,766 bound variables per statement


def chunks(ids, size: int = IN_CHUNK) -> Iterator[list[int]]:
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# NullRecords first: RunRecords only declares score_nulls
class Catalog(FullText, NullRecords, RunRecords, VideoFacts, VideoListing):
    """SQL side of a library; see the module docstring.

    Args:
        url: a SQLAlchemy URL (``db.sqlite_url(library_dir)`` for the default SQLite file).
        read_only: open without writing anything (a read-only folder); no migration.
        record_in: a library folder whose ``library.json`` records ``url`` once it has opened
            (:func:`~.location.record_database_url`; nothing is written for a URL that fails).
        engine_options: for ``sqlalchemy.create_engine`` (e.g. ``poolclass=NullPool``).

    Raises:
        StorageError: the database is empty (0 bytes), not SQLite, damaged, or needs a migration
            it cannot get; the file is never replaced.
    """

    def __init__(self, url: str, read_only: bool = False, record_in: Path | None = None, **engine_options) -> None:
        self.url = url
        self.read_only = read_only
        path = db.sqlite_file(url)
        if path is not None:
            db.check_sqlite_file(path)
        self.engine: Engine = db.make_engine(url, read_only, **engine_options)
        try:
            db.upgrade(self.engine, read_only=read_only)
            with Session(self.engine) as s:  # a damaged file fails here, not in the first search
                s.execute(select(func.count(Video.id))).scalar()
                s.execute(select(func.count(Segment.id))).scalar()
        except (sa_exc.DBAPIError, StorageError) as exc:
            self.engine.dispose()
            raise db.open_error(exc, path or url) from None
        if record_in is not None and not read_only:
            record_database_url(record_in, url)
        self.session = db.session_factory(self.engine)  # a sessionmaker: ``with catalog.session() as s``
        self.jobs, self.keys = JobBoard(self.session, self.transaction), KeyRing(self.session, self.transaction)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self, what: str) -> Iterator[Session]:
        """A session in one transaction, committed at the end; a storage failure (a full disk, a
        read-only or damaged database) is a :class:`StorageError` saying ``what`` failed, and
        nothing of the transaction is written."""
        with storage_boundary(what, "nothing of it was written", db.storage_problem):
            with self.session() as s, s.begin():
                yield s

    # ---- encoder ---------------------------------------------------------------------------
    def encoder_info(self) -> EncoderInfo | None:
        """The recorded encoder, or None before the first video was indexed."""
        with self.session() as s:
            rec = s.scalars(select(EncoderRecord).limit(1)).first()
            return EncoderInfo.from_dict(json.loads(rec.info_json)) if rec else None

    def record_encoder(self, info: EncoderInfo) -> None:
        with self.transaction("recording the encoder") as s:
            s.add(_encoder_row(info))

    def replace_encoding(
        self, info: EncoderInfo, videos: list[tuple[int, NewVideo]], failed: list[tuple[int, str]]
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Switch the library to another encoder in one transaction (``tempme reindex``): the
        encoder record becomes ``info``; each of ``videos`` (id, re-encoded video) gets its new
        row values and segments in place of its old ones; each of ``failed`` (id, reason) is
        dropped with its transcripts and recorded as failed. Returns the (N,) old segment ids
        and, per video id, its (S,) new segment ids. Nothing changes if anything fails."""
        old: list[int] = []
        new: dict[int, list[Segment]] = {}
        with self.transaction("switching the library to the new encoder") as s:
            s.execute(delete(EncoderRecord))
            s.execute(delete(ScoreNull))  # another encoder: its nulls are computed anew
            s.add(_encoder_row(info))
            for video_id, v in videos:
                old += s.scalars(select(Segment.id).where(Segment.video_id == video_id)).all()
                s.execute(delete(Segment).where(Segment.video_id == video_id))
                row = s.get(Video, video_id)
                for name, value in _file_fields(v).items():
                    setattr(row, name, value)
                s.add_all(new.setdefault(video_id, _segments(v, video_id=video_id)))
            for video_id, reason in failed:
                old += s.scalars(select(Segment.id).where(Segment.video_id == video_id)).all()
                s.execute(delete(TextLine).where(TextLine.video_id == video_id))  # fires the FTS triggers
                s.execute(delete(Enrichment).where(Enrichment.video_id == video_id))
                s.execute(delete(Segment).where(Segment.video_id == video_id))
                row = s.get(Video, video_id)
                row.status, row.error, row.size, row.mtime_ns = "failed", reason, -1, -1
            s.flush()
            ids = {vid: np.array([seg.id for seg in segs], dtype=np.int64) for vid, segs in new.items()}
        return np.array(old, dtype=np.int64), ids

    def indexed_videos(self) -> list[tuple[int, Path]]:
        """(video id, path) of every indexed video, by path."""
        with self.session() as s:
            rows = s.execute(select(Video.id, Video.path).where(Video.status == "indexed").order_by(Video.path)).all()
        return [(int(i), Path(from_db(p))) for i, p in rows]

    def embed_dim(self) -> int | None:
        info = self.encoder_info()
        return int(info.embed_dim) if info else None

    # ---- videos ----------------------------------------------------------------------------
    def known_files(self) -> dict[str, KnownFile]:
        """path -> :class:`KnownFile` for every video row (indexed or failed)."""
        with self.session() as s:
            rows = s.execute(select(Video.path, Video.id, Video.size, Video.mtime_ns, Video.status)).all()
        return {from_db(p): KnownFile(i, size, mtime, status) for p, i, size, mtime, status in rows}

    def videos_under(self, path: Path) -> list[int]:
        """Ids of the videos at ``path`` or inside it (absolute; compared as stored, links not followed)."""
        with self.session() as s:
            return list(s.scalars(select(Video.id).where(prefix(Video.path, str(path)))).all())

    def delete_videos(self, video_ids: list[int]) -> np.ndarray:
        """Delete videos and their segments in one transaction; returns the (N,) segment ids gone."""
        seg_ids: list[int] = []
        with self.transaction("deleting videos") as s:
            for chunk in chunks(video_ids):
                seg_ids += s.scalars(select(Segment.id).where(Segment.video_id.in_(chunk))).all()
                s.execute(delete(TextLine).where(TextLine.video_id.in_(chunk)))  # fires the FTS triggers
                s.execute(delete(Enrichment).where(Enrichment.video_id.in_(chunk)))
                s.execute(delete(Segment).where(Segment.video_id.in_(chunk)))
                s.execute(delete(Video).where(Video.id.in_(chunk)))
        return np.array(seg_ids, dtype=np.int64)

    def move_videos(self, moves: list[tuple[int, Path, int | None, int | None]]) -> int:
        """Record new paths for videos: ``(video_id, new_path, size, mtime_ns)`` (size and mtime
        None: unchanged; segments and vectors always unchanged), in one transaction; returns how
        many rows changed; the folder filter's key follows the path. Two steps (a placeholder name
        first, never an absolute path) so that swapped names never collide on the unique path."""
        with self.transaction("recording moved videos") as s:
            for vid, *_ in moves:
                s.execute(update(Video).where(Video.id == int(vid)).values(path=f"moving:{int(vid)}"))
            n = 0
            for vid, new, size, mtime in moves:
                values = {"path": to_db(new), "folder_key": to_db(folder_key(new))}
                values |= {} if size is None else {"size": size, "mtime_ns": mtime}
                n += s.execute(update(Video).where(Video.id == int(vid)).values(**values)).rowcount
        return n

    def stored_files(self, ids: list[int] | None = None, sizes: list[int] | None = None) -> list[StoredFile]:
        """Indexed videos with their content hashes: those of ``ids``, or of these ``sizes``."""
        rows = []
        with self.session() as s:
            q = select(Video.id, Video.path, Video.size, Video.mtime_ns, Video.content_hash)
            q = q.where(Video.status == "indexed")
            for chunk in chunks(ids if ids is not None else sizes or []):
                col = Video.id if ids is not None else Video.size
                rows += s.execute(q.where(col.in_(chunk))).all()
        return [StoredFile(int(i), Path(from_db(p)), size, mtime, h) for i, p, size, mtime, h in rows]

    def add_video(self, video: NewVideo) -> np.ndarray:
        """The video row and its segment rows in one transaction; returns their (S,) segment ids.

        Size and mtime are the ones stat'ed before decoding (``video.size``, ``video.mtime_ns``):
        a file replaced after that differs from its row and is indexed again by the next run.
        """
        with self.transaction(f"storing {video.path}") as s:
            row = Video(path=to_db(video.path), folder_key=to_db(folder_key(video.path)), status="indexed", error=None,
                        **_file_fields(video))  # fmt: skip
            row.segments = _segments(video)
            s.add(row)
            s.flush()
            return np.array([seg.id for seg in row.segments], dtype=np.int64)

    def add_failure(self, path: Path, reason: str, retry: bool = False) -> None:
        """Record a file that could not be indexed.

        ``retry``: the failure may pass by itself (unreadable, changed while read): stored with
        size -1 so the next run tries again; otherwise with the file's size and mtime, so that an
        unchanged broken file is skipped and a changed one retried.
        """
        size = mtime = -1
        if not retry:
            try:
                st = path.stat()
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                pass
        with self.transaction(f"recording the failure of {path}") as s:
            s.add(Video(path=to_db(path), folder_key=to_db(folder_key(path)), size=size, mtime_ns=mtime,
                        status="failed", error=reason))  # fmt: skip

    def indexed_paths(self) -> list[Path]:
        with self.session() as s:
            return [
                Path(from_db(p))
                for p in s.scalars(select(Video.path).where(Video.status == "indexed").order_by(Video.path)).all()
            ]

    def path_with_hash(self, content_hash: str) -> Path | None:
        """An indexed video whose bytes have this ``content_hash`` (``media.files.content_hash``), or None."""
        with self.session() as s:
            p = s.scalars(
                select(Video.path).where(Video.content_hash == content_hash, Video.status == "indexed").limit(1)
            ).first()
        return None if p is None else Path(from_db(p))

    def is_indexed_file(self, path: str) -> bool:
        """True when a video is stored as ``path`` (compared as stored) and indexed."""
        with self.session() as s:
            return (
                s.scalar(select(func.count(Video.id)).where(Video.path == to_db(path), Video.status == "indexed")) > 0
            )

    def video_path(self, video_id: int) -> Path:
        """Raises KeyError for an unknown id."""
        with self.session() as s:
            path = s.scalar(select(Video.path).where(Video.id == int(video_id)))
        if path is None:
            raise KeyError(f"no video {video_id}")
        return Path(from_db(path))

    # ---- segments --------------------------------------------------------------------------
    def segment_count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count(Segment.id))))

    def segment_ids(self) -> np.ndarray:
        """(N,) int64, ascending."""
        with self.session() as s:
            return np.array(s.scalars(select(Segment.id).order_by(Segment.id)).all(), dtype=np.int64)

    def stored_vectors(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N,) segment ids (ascending) and their (N, D) float32 vectors: all, or those in ``ids``."""
        q = select(Segment.id, Segment.embedding).order_by(Segment.id)
        with self.session() as s:
            if ids is None:
                rows = s.execute(q).all()
            else:
                rows = sorted(
                    (r for chunk in chunks(ids) for r in s.execute(q.where(Segment.id.in_(chunk)))), key=lambda r: r[0]
                )
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, self.embed_dim() or 1), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return np.array([r[0] for r in rows], dtype=np.int64), vecs

    def vector_chunks(self, size: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored vector in ascending id order, ``size`` rows at a time (keyset pages, so
        memory stays bounded at any library size): (n,) int64 ids and (n, D) float32 vectors."""
        last = -1
        while True:
            with self.session() as s:
                rows = s.execute(
                    select(Segment.id, Segment.embedding).where(Segment.id > last).order_by(Segment.id).limit(size)
                ).all()
            if not rows:
                return
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield np.array([r[0] for r in rows], dtype=np.int64), vecs
            last = int(rows[-1][0])

    def segment_vector(self, segment_id: int) -> np.ndarray:
        """(D,) float32. Raises KeyError for an unknown id."""
        with self.session() as s:
            blob = s.scalar(select(Segment.embedding).where(Segment.id == int(segment_id)))
        if blob is None:
            raise KeyError(f"no segment {segment_id}")
        return np.frombuffer(blob, dtype=np.float32).copy()

    def segment_at(self, path: str, t: float) -> SegmentRow | None:
        """The segment of the indexed video stored as ``path`` that contains ``t`` seconds
        (``start_s <= t < end_s``; the last segment also takes its end), or None."""
        q = _segment_select().where(Video.path == to_db(path), Video.status == "indexed", Segment.start_s <= float(t))
        with self.session() as s:
            row = s.execute(q.order_by(Segment.start_s.desc()).limit(1)).first()
        return None if row is None or float(t) > row.end_s else _segment_row(row)

    def segment_row(self, segment_id: int) -> SegmentRow:
        """The segment with this id and its video. Raises KeyError if there is none."""
        row = self.segment_rows([int(segment_id)]).get(int(segment_id))
        if row is None:
            raise KeyError(f"no segment {segment_id}")
        return row

    def segment_rows(self, ids: list[int], filters: SearchFilters | None = None) -> dict[int, SegmentRow]:
        """segment id -> :class:`SegmentRow` for those of ``ids`` whose video passes ``filters``."""
        if not len(ids):
            return {}
        q = filter_videos(_segment_select(), filters)
        with self.session() as s:
            return {r[0]: _segment_row(r) for chunk in chunks(ids) for r in s.execute(q.where(Segment.id.in_(chunk)))}

    def scene_cuts(self, video_id: int) -> list[float]:
        """Where the video's shots end at a scene cut (s, sorted): the end of every ``shot``
        segment but the last (short pieces merged at ingest drop their cuts)."""
        with self.session() as s:
            q = select(Segment.end_s, Segment.kind).where(Segment.video_id == int(video_id)).order_by(Segment.start_s)
            rows = s.execute(q).all()
        return [float(end) for end, kind in rows[:-1] if kind == "shot"]

    def video_segments(self, paths: list[Path], per_video: int) -> list[SegmentRow]:
        """The first ``per_video`` segments of each indexed video at ``paths`` (absolute,
        resolved), in the order of ``paths`` and each video's in time order."""
        q = _segment_select().order_by(Segment.start_s).limit(per_video)
        with self.session() as s:
            return [
                _segment_row(r)
                for path in paths
                for r in s.execute(q.where(Video.path == to_db(path), Video.status == "indexed"))
            ]


def _encoder_row(info: EncoderInfo) -> EncoderRecord:
    return EncoderRecord(
        arch=info.arch,
        pretrained=info.pretrained,
        adapter_hash=info.adapter_hash,
        embed_dim=info.embed_dim,
        info_json=json.dumps(info.to_dict()),
    )


def _file_fields(v: NewVideo) -> dict:
    """A video row's columns that describe the file as it was decoded, and when it was recorded
    if that was read (a re-encoded video without one keeps its row's)."""
    fields = dict(
        size=v.size, mtime_ns=v.mtime_ns, content_hash=v.content_hash, duration_s=v.duration_s,
        fps=v.fps, width=v.width, height=v.height, codec=v.codec,
    )  # fmt: skip
    if v.recorded_at is not None:
        fields.update(recorded_at=to_naive_utc(v.recorded_at), recorded_source=v.recorded_source)
    return fields


def _segments(v: NewVideo, **keys) -> list[Segment]:
    """One row per span, its (D,) vector as float32 bytes (``keys``: e.g. the ``video_id``)."""
    return [
        Segment(start_s=a, end_s=b, kind=kind, embedding=np.asarray(e, np.float32).tobytes(), **keys)
        for (a, b, kind), e in zip(v.spans, v.embeddings)
    ]


def _segment_select():
    """Segments joined with their video: the columns of a :class:`SegmentRow`."""
    columns = (Segment.id, Segment.video_id, Segment.start_s, Segment.end_s, Video.path, Video.duration_s)
    return select(*columns).join(Video, Segment.video_id == Video.id)


def _segment_row(row) -> SegmentRow:
    sid, vid, a, b, path, duration = row
    return SegmentRow(sid, vid, a, b, Path(from_db(path)), float(duration or 0.0))
