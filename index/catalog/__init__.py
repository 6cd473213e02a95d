"""The catalog room: the only importer of SQLAlchemy. Every SQL read and write of a library, the
schema (:mod:`.models`) and its Alembic migrations, one indexer per library on PostgreSQL
(:mod:`.pglock`). Storage failures become :class:`~tempme.index.errors.StorageError` here, on
every write."""

from tempme.index.catalog.catalog import IN_CHUNK, Catalog
from tempme.index.catalog.db import disk_full, read_only, sqlite_url, storage_problem
from tempme.index.catalog.fulltext import STOP_WORDS, query_terms
from tempme.index.catalog.jobs import JobBoard, KeyRing
from tempme.index.catalog.location import (
    DB_NAME,
    SETTINGS_NAME,
    locate,
    masked_url,
    record_database_url,
    recorded_database_url,
    same_database,
)
from tempme.index.catalog.locks import LOCK_NAME, WriteLock
from tempme.index.catalog.paths import UnstorablePathError, from_db, to_db
from tempme.index.catalog.pglock import AdvisoryLock
from tempme.index.catalog.records import (
    LEGACY_QUICK_GELU,
    EncoderInfo,
    EnrichmentRecord,
    KnownFile,
    NewTextLine,
    NewVideo,
    NullRecord,
    SegmentRow,
    StoredFile,
    TextMatch,
    VideoToEnrich,
    describe_encoder,
)
from tempme.index.reports import IndexFileState

__all__ = [
    "DB_NAME",
    "IN_CHUNK",
    "LOCK_NAME",
    "SETTINGS_NAME",
    "LEGACY_QUICK_GELU",
    "EncoderInfo",
    "describe_encoder",
    "STOP_WORDS",
    "AdvisoryLock",
    "Catalog",
    "EnrichmentRecord",
    "IndexFileState",
    "JobBoard",
    "KeyRing",
    "KnownFile",
    "NewTextLine",
    "NewVideo",
    "NullRecord",
    "SegmentRow",
    "StoredFile",
    "TextMatch",
    "UnstorablePathError",
    "VideoToEnrich",
    "WriteLock",
    "disk_full",
    "from_db",
    "locate",
    "masked_url",
    "query_terms",
    "read_only",
    "record_database_url",
    "recorded_database_url",
    "same_database",
    "sqlite_url",
    "storage_problem",
    "to_db",
]
