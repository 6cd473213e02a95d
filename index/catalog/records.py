"""The plain values the catalog takes and hands out (never ORM objects, so nothing else
depends on the schema): the encoder record, files it knows, videos to store, segment rows, text
lines, enrichment."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

# The activation of libraries recorded without one: tempme forced QuickGELU onto every weight
# source until the encoder recorded its activation (TempMeConfig.quick_gelu).
LEGACY_QUICK_GELU = True


@dataclass(frozen=True, eq=False)
class EncoderInfo:
    """What produced a library's vectors: ``tempme.encoder.EncoderInfo.to_dict()`` as recorded in
    the catalog, typed, without importing torch. ``==`` is :meth:`identity`."""

    arch: str
    pretrained: str
    adapter_hash: str | None = None
    embed_dim: int = 0
    num_frames: int | None = None
    image_size: int | None = None
    merging: bool | None = None
    config: dict = field(default_factory=dict)  # TempMeConfig.to_dict(), quick_gelu included

    @classmethod
    def from_dict(cls, d: dict) -> EncoderInfo:
        """From a recorded ``to_dict()`` (keys it does not know are ignored).

        Raises:
            KeyError: ``arch`` or ``pretrained`` is missing."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["pretrained"] = str(d["pretrained"])
        values["config"] = dict(d.get("config") or {})
        return cls(**values)

    @classmethod
    def of(cls, encoder) -> EncoderInfo:
        """The record of a loaded ``tempme.encoder.VideoEncoder``."""
        return cls.from_dict(encoder.info.to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def quick_gelu(self) -> bool | None:
        """The recorded activation: QuickGELU (True), GELU (False), None when not recorded."""
        return self.config.get("quick_gelu")

    def identity(self) -> tuple:
        """Every field that shapes a vector; a record without an activation counts as
        :data:`LEGACY_QUICK_GELU` (what made its vectors)."""
        cfg = dict(self.config)
        if cfg and cfg.get("quick_gelu") is None:
            cfg["quick_gelu"] = LEGACY_QUICK_GELU
        return (
            self.arch, self.pretrained, self.adapter_hash, self.embed_dim, self.num_frames, self.merging,
            json.dumps(cfg, sort_keys=True, default=str),
        )  # fmt: skip

    def query_identity(self):
        """The :class:`tempme.query_model.QueryModelIdentity` of this encoder's exported text
        tower (docs/query.md); a record without an activation counts as :data:`LEGACY_QUICK_GELU`,
        as :meth:`identity` does, so it matches the tower its reloaded encoder exports.

        Raises:
            KeyError: a record without ``embed_dim``."""
        from tempme.query_model import QueryModelIdentity  # numpy only: no torch, no onnxruntime

        record = self.to_dict()
        if self.config and self.quick_gelu is None:
            record["config"] = {**self.config, "quick_gelu": LEGACY_QUICK_GELU}
        return QueryModelIdentity.from_encoder_record(record)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncoderInfo) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())

    def describe(self) -> str:
        """``"ViT-B-32 (openai, no adapter, TempMe, 12 frames, QuickGELU)"``, as
        ``tempme.encoder.EncoderInfo.describe`` says it; ``activation not recorded`` for a
        library recorded before the activation was."""
        mode = "TempMe" if self.merging else "mean pooling"
        qg = self.quick_gelu
        act = "activation not recorded" if qg is None else ("QuickGELU" if qg else "GELU")
        return f"{self.arch} ({self.pretrained}, {self.adapter_hash or 'no adapter'}, {mode}, {self.num_frames} frames, {act})"


def describe_encoder(info: dict) -> str:
    """:meth:`EncoderInfo.describe` of a recorded ``to_dict()`` (e.g. ``LibraryStats.encoder``)."""
    return EncoderInfo.from_dict(info).describe()


@dataclass(frozen=True)
class KnownFile:
    """What the catalog remembers of a file, to tell unchanged files from changed ones."""

    video_id: int
    size: int  # bytes; -1 for a file that could not even be stat'ed
    mtime_ns: int
    status: str  # "indexed" or "failed"


@dataclass(frozen=True)
class StoredFile:
    """An indexed video's file as recorded: to recognise its bytes under another name (a move)."""

    video_id: int
    path: Path
    size: int  # bytes
    mtime_ns: int
    content_hash: str | None  # blake2b-256 hex (``media.files.content_hash``)


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
    recorded_at: dt.datetime | None = None  # when it was recorded (aware), and where that came from
    recorded_source: str | None = None  # (tempme.index.media.dates: container:creation_time, ..., mtime)


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
    search_text: str | None = None  # speech: the search form of the words (words.forms)
    phones: str | None = None  # speech: their phones, one |-separated group per word


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
    search_text: str | None = None  # speech: the stored search form (None: stored before 0005)


@dataclass(frozen=True)
class NullRecord:
    """A stored null distribution (``tempme.index.nulls.NullDistribution`` as bytes): its query
    ``kind``, the scores as little-endian float32 bytes, the segment count it was computed for and
    the prompt-set ``version``."""

    kind: str
    scores: bytes
    segments: int
    version: int
