"""Schema of a video library's catalog (SQLAlchemy 2 typed ORM models; SQLite by default).

The catalog is the source of truth: every segment's embedding is stored here as float32 bytes
and the vector store (``tempme.index.vectors``) is keyed by ``Segment.id``. Only this room reads
and writes these tables. The schema itself is created only
by the Alembic revisions in ``migrations/``; these classes must match the latest revision.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import numpy as np
from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# 64-bit columns: BIGINT on PostgreSQL (its INTEGER is 32-bit); SQLite's INTEGER already stores
# 8 bytes, so there the column stays INTEGER (revision 0004).
Int64 = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class EncoderRecord(Base):
    """The one encoder that produced every vector of the library."""

    __tablename__ = "encoder"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch: Mapped[str] = mapped_column(String(64))
    pretrained: Mapped[str] = mapped_column(Text)
    adapter_hash: Mapped[Optional[str]] = mapped_column(String(128))
    embed_dim: Mapped[int] = mapped_column(Integer)
    info_json: Mapped[str] = mapped_column(Text)  # EncoderInfo.to_dict() as JSON
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Video(Base):
    """One file under an indexed folder. ``status``: ``indexed`` or ``failed`` (with ``error``)."""

    __tablename__ = "videos"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)  # absolute, resolved
    size: Mapped[int] = mapped_column(Int64)  # bytes
    mtime_ns: Mapped[int] = mapped_column(Int64)
    content_hash: Mapped[Optional[str]] = mapped_column(String(64))  # blake2b-256 hex of the bytes
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    fps: Mapped[Optional[float]] = mapped_column(Float)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    codec: Mapped[Optional[str]] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[Optional[str]] = mapped_column(Text)
    indexed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # when it was recorded (naive UTC) and where that came from (media.dates: container:..., mtime);
    # NULL until read (videos indexed before revision 0006 get theirs at the next `tempme index`)
    recorded_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, index=True)
    recorded_source: Mapped[Optional[str]] = mapped_column(String(48))
    # the folder filter's key: the folder holding the file, case-folded, ending in "/" (folders.folder_key)
    folder_key: Mapped[Optional[str]] = mapped_column(Text)

    segments: Mapped[list[Segment]] = relationship(
        back_populates="video",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Segment.start_s",
    )


class Segment(Base):
    """A moment of a video, ``[start_s, end_s)`` seconds, with its (D,) float32 embedding.

    ``kind``: ``shot`` (between two scene cuts), ``window`` (a fixed-length piece of a long shot or
    of a video without cuts).
    """

    __tablename__ = "segments"
    # AUTOINCREMENT: ids are never reused, so a FAISS id always means the same vector
    __table_args__ = (Index("ix_segments_video_id", "video_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)

    video: Mapped[Video] = relationship(back_populates="segments")

    def vector(self) -> np.ndarray:
        return np.frombuffer(self.embedding, dtype=np.float32)


class IndexState(Base):
    """Single row: which FAISS file matches this database (written after the file is in place)."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    faiss_version: Mapped[int] = mapped_column(Integer, default=0)
    faiss_file: Mapped[Optional[str]] = mapped_column(Text)
    index_type: Mapped[str] = mapped_column(String(32), default="flat")
    ntotal: Mapped[int] = mapped_column(Integer, default=0)
    # vectors.file_checksum of the file's bytes (ids and vectors; older libraries: of the ids only, rebuilt once)
    id_checksum: Mapped[int] = mapped_column(Int64, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # how the index is searched, as tuned (reports.SearchTuning; revision 0007); NULL: not tuned
    nprobe: Mapped[Optional[int]] = mapped_column(Integer)
    rerank: Mapped[Optional[int]] = mapped_column(Integer)
    tuned_recall: Mapped[Optional[float]] = mapped_column(Float)
    tuned_p50_ms: Mapped[Optional[float]] = mapped_column(Float)
    tuned_queries: Mapped[Optional[int]] = mapped_column(Integer)
    target_recall: Mapped[Optional[float]] = mapped_column(Float)
    max_ms: Mapped[Optional[float]] = mapped_column(Float)


class IndexRun(Base):
    """One ``tempme index`` run, for ``stats``."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    videos_indexed: Mapped[int] = mapped_column(Integer, default=0)
    segments_added: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[Optional[float]] = mapped_column(Float)


class Enrichment(Base):
    """That a video was processed for ``kind`` (``speech`` or ``ocr``), and with what result.

    ``status``: ``ok``, ``no_audio`` or ``broken_audio`` (speech), ``ok`` (ocr). A video without a
    row for a kind has not been processed for it; ``tempme enrich`` does exactly those.
    """

    __tablename__ = "enrichments"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(Text)
    language: Mapped[Optional[str]] = mapped_column(String(16))
    error: Mapped[Optional[str]] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # processing time
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TextLine(Base):
    """A line of what was said (``kind`` ``speech``: an utterance) or written (``ocr``: a line of
    on-screen text), ``[start_s, end_s)`` seconds, in the segment where it starts.

    ``words_json``: speech only, ``[[word, start_s, end_s], ...]``. ``box_json``: ocr only,
    ``[x0, y0, x1, y1]`` as fractions of the frame. ``search_text`` and ``phones``: speech only,
    the utterance's search form and phones (:func:`tempme.index.words.forms.speech_forms`; None
    for lines stored without them). Full-text search runs over ``text`` and ``search_text``: the
    FTS5 table ``text_lines_fts`` on SQLite (kept in step by triggers), a GIN-indexed ``tsvector``
    expression on PostgreSQL (migrations 0004, 0005).
    """

    __tablename__ = "text_lines"
    __table_args__ = (
        Index("ix_text_lines_video_kind", "video_id", "kind"),
        Index("ix_text_lines_segment", "segment_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    score: Mapped[Optional[float]] = mapped_column(Float)  # OCR confidence
    words_json: Mapped[Optional[str]] = mapped_column(Text)
    box_json: Mapped[Optional[str]] = mapped_column(Text)
    search_text: Mapped[Optional[str]] = mapped_column(Text)  # speech: wordnorm.search_form (0005)
    phones: Mapped[Optional[str]] = mapped_column(Text)  # speech: phonetic.encode_phones (0005)


class ScoreNull(Base):
    """A library's null distribution (revision 0008) for one query kind (``text`` or ``video``): the sorted
    top-1 cosines of content-free queries (``tempme.index.nulls``), float32 little-endian
    bytes, computed for ``segments`` segments with prompt set ``version``. Dropped when the
    encoder changes (``Catalog.replace_encoding``)."""

    __tablename__ = "score_nulls"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    segments: Mapped[int] = mapped_column(Int64)
    size: Mapped[int] = mapped_column(Integer)
    scores: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    """A long task started through the API (an upload's indexing, a server folder), in the
    catalog so every server process of the library sees it (revision 0006).

    ``kind``: ``upload`` or ``folder``; ``status``: ``queued``, ``running``, ``done``,
    ``failed`` or ``cancelled``. Progress in video-seconds (``done_s`` of ``total_s``) and
    videos; ``cancel_requested`` is set by any process and read by the one running it
    (``owner``: host and pid)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    videos_total: Mapped[int] = mapped_column(Integer, default=0)
    videos_done: Mapped[int] = mapped_column(Integer, default=0)
    total_s: Mapped[float] = mapped_column(Float, default=0.0)  # video seconds to index
    done_s: Mapped[float] = mapped_column(Float, default=0.0)
    current: Mapped[Optional[str]] = mapped_column(Text)  # the file just indexed
    summary: Mapped[Optional[str]] = mapped_column(Text)
    error: Mapped[Optional[str]] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    paths_json: Mapped[str] = mapped_column(Text, default="[]")  # what it indexes
    videos_json: Mapped[str] = mapped_column(Text, default="[]")  # the videos it added


class ApiKey(Base):
    """An API key (revision 0006): only the SHA-256 of the secret is stored, with its first
    characters (``prefix``) to find and show it. Revoked keys keep their row (``revoked_at``)."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole key
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
