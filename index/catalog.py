"""The catalog: every SQL read and write of a library (videos, segments, encoder, runs, index state).

A :class:`Catalog` takes a SQLAlchemy database URL (SQLite by default, ``library.db`` in the
library folder; any URL SQLAlchemy accepts), migrates it to the latest Alembic revision and
hands out plain values (numpy arrays, dataclasses), never ORM objects, so no other module
depends on the schema. It is the source of truth: segment vectors are stored here and the
vector store (:mod:`index.store`) can always be rebuilt from them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from sqlalchemy import Engine, delete, func, or_, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from tempme.index import db
from tempme.index.files import absolute, link_target
from tempme.index.models import EncoderRecord, Enrichment, IndexRun, IndexState, Segment, TextLine, Video, utcnow
from tempme.index.types import TEXT_KINDS, IndexReport, SearchFilters, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownFile:
    """What the catalog remembers of a file, to tell unchanged files from changed ones."""

    video_id: int
    size: int  # bytes; -1 for a file that could not even be stat'ed
    mtime_ns: int
    status: str  # "indexed" or "failed"


@dataclass(frozen=True)
class IndexFileState:
    """Which vector-store file matches the catalog (written after the file is in place)."""

    version: int
    file: str | None
    kind: str
    ntotal: int
    id_checksum: int


@dataclass(frozen=True)
class SegmentRow:
    """A segment with its video, as a search needs it."""

    segment_id: int
    video_id: int
    start_s: float
    end_s: float
    path: Path
    duration_s: float


@dataclass(frozen=True)
class NewVideo:
    """A decoded and encoded video to store: S segments ``[start_s, end_s)`` with (S, D) vectors."""

    path: Path
    size: int  # bytes, stat'ed before the file was read (what was decoded, not what is there now)
    mtime_ns: int
    content_hash: str
    duration_s: float
    fps: float
    width: int
    height: int
    codec: str
    spans: list[tuple[float, float, str]]  # (start_s, end_s, kind) per segment
    embeddings: np.ndarray  # (S, D) float32


IN_CHUNK = 10_000  # ids per ``IN (...)``: SQLite allows 32,766 bound variables per statement


def _filter_videos(q, filters: SearchFilters | None):
    """``q`` (a select joined with Video) restricted by the SQL side of ``filters``: folder
    (compared literally) and duration bounds; extensions are checked in Python by the callers."""
    if filters is None:
        return q
    if filters.folder:
        spelled = absolute(filters.folder)  # videos are stored under the names they were indexed by
        target = link_target(spelled)
        q = q.where(or_(_prefix(Video.path, str(spelled)), _prefix(Video.path, str(target or spelled))))
    if filters.min_duration_s is not None:
        q = q.where(Video.duration_s >= filters.min_duration_s)
    if filters.max_duration_s is not None:
        q = q.where(Video.duration_s <= filters.max_duration_s)
    return q


def _chunks(ids, size: int = IN_CHUNK) -> Iterator[list[int]]:
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# File names are bytes on POSIX; Python shows the bytes that are not UTF-8 as lone surrogates
# U+DC80..U+DCFF (surrogateescape), which neither SQLite nor PostgreSQL can store. The catalog
# stores them as the code points U+10FF80..U+10FFFF (plane 16, private use): one character per
# byte, so the mapping is lossless and keeps path prefixes (folder filters) working. A real name
# that contains one of those 128 code points is refused (recorded as failed) to keep it one-to-one.
_TO_DB = {0xDC80 + b: 0x10FF80 + b for b in range(128)}
_FROM_DB = {v: k for k, v in _TO_DB.items()}


class UnstorablePathError(ValueError):
    """A file name with a code point the catalog reserves for undecodable bytes."""


def to_db(path: str | os.PathLike) -> str:
    """The catalog's spelling of a path (see the comment above)."""
    text = os.fspath(path)
    if text.isascii():
        return text
    if any(0x10FF80 <= ord(c) for c in text):
        raise UnstorablePathError(
            f"{text.encode('utf-8', 'surrogateescape')!r}: the name contains a code point "
            "in U+10FF80..U+10FFFF, which the catalog reserves; rename the file"
        )
    return text.translate(_TO_DB)


def from_db(text: str) -> str:
    """Inverse of :func:`to_db`: the path as Python opens it (surrogateescape)."""
    return text if text.isascii() else text.translate(_FROM_DB)


@dataclass(frozen=True)
class NewTextLine:
    """An utterance (``speech``, with its ``words`` as (word, start_s, end_s)) or a line of
    on-screen text (``ocr``, with its ``box`` (x0, y0, x1, y1) in frame fractions) to store."""

    kind: str
    start_s: float
    end_s: float
    text: str
    score: float | None = None
    words: tuple[tuple[str, float, float], ...] = ()
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class EnrichmentRecord:
    """How a video was processed for a kind: ``status`` ok / no_audio / broken_audio."""

    status: str
    backend: str
    model: str
    language: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class VideoToEnrich:
    """An indexed video not yet processed for some kind, with its segments (id, start_s, end_s)."""

    video_id: int
    path: Path
    duration_s: float
    segments: list[tuple[int, float, float]]


@dataclass(frozen=True)
class TextMatch:
    """A stored line that matched a full-text query; ``rank`` 1-based by the engine's relevance
    (BM25 on SQLite FTS5, ``ts_rank`` on PostgreSQL), ``relevance`` higher is better."""

    line_id: int
    video_id: int
    segment_id: int
    kind: str
    start_s: float
    end_s: float
    text: str
    words: tuple[tuple[str, float, float], ...]
    box: tuple[float, float, float, float] | None
    relevance: float
    rank: int


# words too common to say anything about a moment (FTS5 has no stop list; PostgreSQL's
# 'english' configuration drops these itself)
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its me my of on or our "
    "she so that the their them they this to was we were what when where who will with you your".split()
)


def query_terms(query: str) -> list[str]:
    """The words of a free-text query, lower case, stop words dropped (all kept if only those)."""
    words = re.findall(r"\w+", query.casefold())
    kept = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(kept or words))


def _prefix(column, folder: str):
    """SQL: ``column`` is ``folder`` or a path inside it (a literal prefix: ``_`` and ``%`` in
    ``folder`` match only themselves)."""
    root = to_db(folder.rstrip(os.sep) or os.sep)
    return or_(column == root, column.startswith(root.rstrip(os.sep) + os.sep, autoescape=True))


class Catalog:
    """SQL side of a library; see the module docstring.

    Args:
        url: a SQLAlchemy URL (``db.sqlite_url(library_dir)`` for the default SQLite file).
        read_only: open without writing anything (a read-only folder); no migration.

    Raises:
        StorageError: the database is empty (0 bytes), not SQLite, damaged, or needs a migration
            it cannot get; the file is never replaced.
    """

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        path = db.sqlite_file(url)
        if path is not None:
            db.check_sqlite_file(path)
        self.engine: Engine = db.make_engine(url, read_only)
        try:
            db.upgrade(self.engine, read_only=read_only)
            with Session(self.engine) as s:  # a damaged file fails here, not in the first search
                s.execute(select(func.count(Video.id))).scalar()
                s.execute(select(func.count(Segment.id))).scalar()
        except sa_exc.DBAPIError as exc:
            self.engine.dispose()
            raise StorageError(
                f"{path or url} cannot be read as a library database ({exc.orig}). It was left "
                "as it is: restore it from a backup, or move it away to start a new library."
            ) from None
        self.session = db.session_factory(self.engine)  # a sessionmaker: ``with catalog.session() as s``

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.session() as s, s.begin():
            yield s

    # ---- encoder ---------------------------------------------------------------------------
    def encoder_info(self) -> dict | None:
        """The recorded ``EncoderInfo.to_dict()``, or None before the first video was indexed."""
        with self.session() as s:
            rec = s.scalars(select(EncoderRecord).limit(1)).first()
            return json.loads(rec.info_json) if rec else None

    def record_encoder(self, info: dict) -> None:
        with self._tx() as s:
            s.add(
                EncoderRecord(
                    arch=info["arch"],
                    pretrained=str(info["pretrained"]),
                    adapter_hash=info.get("adapter_hash"),
                    embed_dim=info["embed_dim"],
                    info_json=json.dumps(info),
                )
            )

    def replace_encoding(
        self, info: dict, videos: list[tuple[int, NewVideo]], failed: list[tuple[int, str]]
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Switch the library to another encoder in one transaction (``tempme reindex``): the
        encoder record becomes ``info``; each of ``videos`` (id, re-encoded video) gets its new
        row values and segments in place of its old ones; each of ``failed`` (id, reason) is
        dropped with its transcripts and recorded as failed. Returns the (N,) old segment ids
        and, per video id, its (S,) new segment ids. Nothing changes if anything fails."""
        old: list[int] = []
        new: dict[int, list[Segment]] = {}
        with self._tx() as s:
            s.execute(delete(EncoderRecord))
            s.add(
                EncoderRecord(
                    arch=info["arch"],
                    pretrained=str(info["pretrained"]),
                    adapter_hash=info.get("adapter_hash"),
                    embed_dim=info["embed_dim"],
                    info_json=json.dumps(info),
                )
            )
            for video_id, v in videos:
                old += s.scalars(select(Segment.id).where(Segment.video_id == video_id)).all()
                s.execute(delete(Segment).where(Segment.video_id == video_id))
                row = s.get(Video, video_id)
                row.size, row.mtime_ns, row.content_hash = v.size, v.mtime_ns, v.content_hash
                row.duration_s, row.fps, row.width, row.height, row.codec = (
                    v.duration_s,
                    v.fps,
                    v.width,
                    v.height,
                    v.codec,
                )
                segs = [
                    Segment(
                        video_id=video_id, start_s=a, end_s=b, kind=kind, embedding=np.asarray(e, np.float32).tobytes()
                    )
                    for (a, b, kind), e in zip(v.spans, v.embeddings)
                ]
                s.add_all(segs)
                new[video_id] = segs
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
        return int(info["embed_dim"]) if info else None

    # ---- videos ----------------------------------------------------------------------------
    def known_files(self) -> dict[str, KnownFile]:
        """path -> :class:`KnownFile` for every video row (indexed or failed)."""
        with self.session() as s:
            rows = s.execute(select(Video.path, Video.id, Video.size, Video.mtime_ns, Video.status)).all()
        return {from_db(p): KnownFile(i, size, mtime, status) for p, i, size, mtime, status in rows}

    def videos_under(self, path: Path) -> list[int]:
        """Ids of the videos at ``path`` or inside it (absolute; compared as stored, links not followed)."""
        with self.session() as s:
            return list(s.scalars(select(Video.id).where(_prefix(Video.path, str(path)))).all())

    def delete_videos(self, video_ids: list[int]) -> np.ndarray:
        """Delete videos and their segments in one transaction; returns the (N,) segment ids gone."""
        seg_ids: list[int] = []
        with self._tx() as s:
            for chunk in _chunks(video_ids):
                seg_ids += s.scalars(select(Segment.id).where(Segment.video_id.in_(chunk))).all()
                s.execute(delete(TextLine).where(TextLine.video_id.in_(chunk)))  # fires the FTS triggers
                s.execute(delete(Enrichment).where(Enrichment.video_id.in_(chunk)))
                s.execute(delete(Segment).where(Segment.video_id.in_(chunk)))
                s.execute(delete(Video).where(Video.id.in_(chunk)))
        return np.array(seg_ids, dtype=np.int64)

    def add_video(self, video: NewVideo) -> np.ndarray:
        """The video row and its segment rows in one transaction; returns their (S,) segment ids.

        Size and mtime are the ones stat'ed before decoding (``video.size``, ``video.mtime_ns``):
        a file replaced after that differs from its row and is indexed again by the next run.
        """
        with self._tx() as s:
            row = Video(
                path=to_db(video.path),
                size=video.size,
                mtime_ns=video.mtime_ns,
                content_hash=video.content_hash,
                duration_s=video.duration_s,
                fps=video.fps,
                width=video.width,
                height=video.height,
                codec=video.codec,
                status="indexed",
                error=None,
            )
            row.segments = [
                Segment(start_s=a, end_s=b, kind=kind, embedding=np.asarray(e, np.float32).tobytes())
                for (a, b, kind), e in zip(video.spans, video.embeddings)
            ]
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
        with self._tx() as s:
            s.add(Video(path=to_db(path), size=size, mtime_ns=mtime, status="failed", error=reason))

    def indexed_paths(self) -> list[Path]:
        with self.session() as s:
            return [
                Path(from_db(p))
                for p in s.scalars(select(Video.path).where(Video.status == "indexed").order_by(Video.path)).all()
            ]

    def path_with_hash(self, content_hash: str) -> Path | None:
        """An indexed video whose bytes have this ``content_hash`` (``files.content_hash``), or None."""
        with self.session() as s:
            p = s.scalars(
                select(Video.path).where(Video.content_hash == content_hash, Video.status == "indexed").limit(1)
            ).first()
        return None if p is None else Path(p)

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
                    (r for chunk in _chunks(ids) for r in s.execute(q.where(Segment.id.in_(chunk)))), key=lambda r: r[0]
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
        q = (
            select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s, Video.path, Video.duration_s)
            .join(Video, Segment.video_id == Video.id)
            .where(Video.path == to_db(path), Video.status == "indexed", Segment.start_s <= float(t))
            .order_by(Segment.start_s.desc())
            .limit(1)
        )
        with self.session() as s:
            row = s.execute(q).first()
        if row is None or float(t) > row.end_s:
            return None
        sid, vid, a, b, path, dur = row
        return SegmentRow(sid, vid, a, b, Path(from_db(path)), float(dur or 0.0))

    def segment_rows(self, ids: list[int], filters: SearchFilters | None = None) -> dict[int, SegmentRow]:
        """segment id -> :class:`SegmentRow` for those of ``ids`` whose video passes ``filters``."""
        if not len(ids):
            return {}
        q = select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s, Video.path, Video.duration_s).join(
            Video, Segment.video_id == Video.id
        )
        q = _filter_videos(q, filters)
        with self.session() as s:
            rows = {
                sid: SegmentRow(sid, vid, a, b, Path(from_db(path)), float(dur or 0.0))
                for chunk in _chunks(ids)
                for sid, vid, a, b, path, dur in s.execute(q.where(Segment.id.in_(chunk)))
            }
        if filters is not None and filters.extensions:
            keep = filters.suffixes()
            rows = {k: r for k, r in rows.items() if r.path.suffix.lower() in keep}
        return rows

    def video_segments(self, paths: list[Path], per_video: int) -> list[SegmentRow]:
        """The first ``per_video`` segments of each indexed video at ``paths`` (absolute,
        resolved), in the order of ``paths`` and each video's in time order."""
        out: list[SegmentRow] = []
        q = select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s, Video.path, Video.duration_s).join(
            Video, Segment.video_id == Video.id
        )
        with self.session() as s:
            for path in paths:
                rows = s.execute(
                    q.where(Video.path == to_db(path), Video.status == "indexed")
                    .order_by(Segment.start_s)
                    .limit(per_video)
                ).all()
                out += [
                    SegmentRow(sid, vid, a, b, Path(from_db(vp)), float(d or 0.0)) for sid, vid, a, b, vp, d in rows
                ]
        return out

    # ---- transcripts and on-screen text ---------------------------------------------------
    def videos_missing(self, kind: str) -> list[VideoToEnrich]:
        """Indexed videos with no ``kind`` enrichment yet (by path), each with its segments."""
        if kind not in TEXT_KINDS:
            raise ValueError(f"kind must be one of {TEXT_KINDS}, got {kind!r}")
        done = select(Enrichment.video_id).where(Enrichment.kind == kind)
        with self.session() as s:
            videos = s.execute(
                select(Video.id, Video.path, Video.duration_s)
                .where(Video.status == "indexed", Video.id.not_in(done))
                .order_by(Video.path)
            ).all()
            segs: dict[int, list[tuple[int, float, float]]] = {}
            if videos:
                for sid, vid, a, b in s.execute(
                    select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s)
                    .where(Segment.video_id.in_([v[0] for v in videos]))
                    .order_by(Segment.video_id, Segment.start_s)
                ):
                    segs.setdefault(vid, []).append((sid, a, b))
        return [VideoToEnrich(vid, Path(from_db(p)), float(d or 0.0), segs.get(vid, [])) for vid, p, d in videos]

    def add_enrichment(self, video_id: int, kind: str, record: EnrichmentRecord, lines: list[NewTextLine]) -> int:
        """Store a video's lines of ``kind`` and the record that it was processed, in one
        transaction (a crash leaves the video unprocessed, never half done). Each line goes to
        the segment where it starts. Returns the number of lines stored.

        Raises:
            KeyError: the video is gone (or has no segments).
        """
        with self._tx() as s:
            segs = s.execute(
                select(Segment.id, Segment.start_s).where(Segment.video_id == int(video_id)).order_by(Segment.start_s)
            ).all()
            if not segs:
                raise KeyError(f"no video {video_id} with segments")
            starts = [a for _, a in segs]
            s.execute(delete(TextLine).where(TextLine.video_id == int(video_id), TextLine.kind == kind))
            s.execute(delete(Enrichment).where(Enrichment.video_id == int(video_id), Enrichment.kind == kind))
            for ln in lines:
                if ln.kind != kind:
                    raise ValueError(f"a {ln.kind} line in a {kind} enrichment")
                i = max(sum(1 for a in starts if a <= ln.start_s) - 1, 0)
                s.add(
                    TextLine(
                        video_id=int(video_id),
                        segment_id=segs[i][0],
                        kind=kind,
                        start_s=ln.start_s,
                        end_s=ln.end_s,
                        text=ln.text,
                        score=ln.score,
                        words_json=json.dumps([list(w) for w in ln.words]) if ln.words else None,
                        box_json=json.dumps(list(ln.box)) if ln.box is not None else None,
                    )
                )
            s.add(
                Enrichment(
                    video_id=int(video_id),
                    kind=kind,
                    status=record.status,
                    backend=record.backend,
                    model=record.model,
                    language=record.language,
                    error=record.error,
                    lines=len(lines),
                    seconds=record.seconds,
                    created_at=utcnow(),
                )
            )
        return len(lines)

    def enrichment_counts(self, kind: str) -> dict[str, int]:
        """status -> number of videos processed for ``kind`` (empty: none processed)."""
        with self.session() as s:
            rows = s.execute(
                select(Enrichment.status, func.count()).where(Enrichment.kind == kind).group_by(Enrichment.status)
            ).all()
        return {st: int(n) for st, n in rows}

    def enrichment(self, video_id: int, kind: str) -> EnrichmentRecord | None:
        with self.session() as s:
            e = s.get(Enrichment, (int(video_id), kind))
            return None if e is None else EnrichmentRecord(e.status, e.backend, e.model, e.language, e.error, e.seconds)

    def text_lines(self, video_id: int, kind: str) -> list[TextMatch]:
        """Every stored line of a video, in time order (``rank`` = position, ``relevance`` 0)."""
        with self.session() as s:
            rows = s.scalars(
                select(TextLine)
                .where(TextLine.video_id == int(video_id), TextLine.kind == kind)
                .order_by(TextLine.start_s, TextLine.id)
            ).all()
            return [_match(r, 0.0, i) for i, r in enumerate(rows, 1)]

    def search_text(
        self, query: str, kinds: tuple[str, ...], limit: int, filters: SearchFilters | None = None
    ) -> list[TextMatch]:
        """Lines of ``kinds`` matching any word of ``query`` (stop words dropped), most relevant
        first: FTS5 BM25 on SQLite, ``ts_rank`` over ``to_tsvector('english', text)`` on PostgreSQL."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        kinds = tuple(kinds)
        fetch = max(4 * limit, 64)
        with self.session() as s:
            if self.engine.dialect.name == "sqlite":
                match = " OR ".join(f'"{t}"' for t in terms)  # terms are \w+ only: quoting is enough
                sql = text(
                    "SELECT rowid, -bm25(text_lines_fts) FROM text_lines_fts WHERE text_lines_fts MATCH :q "
                    "ORDER BY bm25(text_lines_fts) LIMIT :n"
                )
                scored = s.execute(sql, {"q": match, "n": fetch}).all()
            else:
                q_or = " | ".join(terms)  # terms are \w+ only: no tsquery operators
                # 'english' drops its (longer) stop list; a query of only those words ("would",
                # "the who") would match nothing, where FTS5 matches them: search those with the
                # 'simple' configuration instead (no index: a scan, for rare queries only)
                empty = s.execute(text("SELECT numnode(to_tsquery('english', :q)) = 0"), {"q": q_or}).scalar()
                cfg = "simple" if empty else "english"
                sql = text(
                    f"SELECT id, ts_rank(to_tsvector('{cfg}', text), q) AS r FROM text_lines, "
                    f"to_tsquery('{cfg}', :q) q WHERE to_tsvector('{cfg}', text) @@ q "
                    "ORDER BY r DESC, id LIMIT :n"
                )
                scored = s.execute(sql, {"q": q_or, "n": fetch}).all()
            if not scored:
                return []
            relevance = {int(i): float(r) for i, r in scored}
            q = (
                select(TextLine, Video.path, Video.duration_s)
                .join(Video, TextLine.video_id == Video.id)
                .where(TextLine.id.in_(list(relevance)), TextLine.kind.in_(kinds))
            )
            q = _filter_videos(q, filters)
            rows = s.execute(q).all()
        if filters is not None and filters.extensions:
            keep = filters.suffixes()
            rows = [r for r in rows if Path(r[1]).suffix.lower() in keep]
        rows.sort(key=lambda r: (-relevance[r[0].id], r[0].id))
        return [_match(r[0], relevance[r[0].id], i) for i, r in enumerate(rows[:limit], 1)]

    # ---- runs ------------------------------------------------------------------------------
    def start_run(self) -> int:
        with self._tx() as s:
            run = IndexRun(started_at=utcnow(), videos_indexed=0, segments_added=0, failures=0, removed=0)
            s.add(run)
            s.flush()
            return run.id

    def update_run(self, run_id: int, report: IndexReport, seconds: float, finished: bool = False) -> None:
        with self._tx() as s:
            run = s.get(IndexRun, run_id)
            run.videos_indexed, run.segments_added = report.indexed, report.segments
            run.failures, run.removed, run.seconds = report.failed, report.removed, seconds
            if finished:
                run.finished_at = utcnow()

    # ---- index state -----------------------------------------------------------------------
    def index_state(self) -> IndexFileState | None:
        with self.session() as s:
            st = s.get(IndexState, 1)
            if st is None:
                return None
            return IndexFileState(st.faiss_version, st.faiss_file, st.index_type, st.ntotal, st.id_checksum)

    def record_index(self, state: IndexFileState) -> None:
        with self._tx() as s:
            st = s.get(IndexState, 1)
            if st is None:
                st = IndexState(id=1)
                s.add(st)
            st.faiss_version, st.faiss_file, st.index_type = state.version, state.file, state.kind
            st.ntotal, st.id_checksum, st.updated_at = state.ntotal, state.id_checksum, utcnow()

    # ---- stats -----------------------------------------------------------------------------
    def counts(self) -> tuple[int, int, list[tuple[str, str]], dict | None]:
        """(indexed videos, segments, failures as (path, error), the last run as a dict or None)."""
        with self.session() as s:
            videos = s.scalar(select(func.count(Video.id)).where(Video.status == "indexed"))
            segments = s.scalar(select(func.count(Segment.id)))
            failures = s.execute(
                select(Video.path, Video.error).where(Video.status == "failed").order_by(Video.path)
            ).all()
            run = s.scalars(select(IndexRun).order_by(IndexRun.id.desc()).limit(1)).first()
            last = None
            if run is not None:
                last = {
                    "started_at": run.started_at.isoformat(),
                    "seconds": run.seconds,
                    "finished": run.finished_at is not None,
                    "videos_indexed": run.videos_indexed,
                    "segments_added": run.segments_added,
                    "failures": run.failures,
                    "removed": run.removed,
                }
        return int(videos), int(segments), [(from_db(p), e) for p, e in failures], last


def _match(row: TextLine, relevance: float, rank: int) -> TextMatch:
    words = tuple((w, float(a), float(b)) for w, a, b in json.loads(row.words_json)) if row.words_json else ()
    box = tuple(float(v) for v in json.loads(row.box_json)) if row.box_json else None
    return TextMatch(
        row.id, row.video_id, row.segment_id, row.kind, row.start_s, row.end_s, row.text, words, box, relevance, rank
    )
