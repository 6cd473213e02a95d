"""Embeddings at rest: a video library of catalog rows (SQLite by default) and FAISS vectors.

The public API is this package's names (``from tempme.index import Library, Hit, SearchFilters``);
start at :class:`Library`, a thin facade over the rooms (its ``shelf``, a :class:`Shelf`, looks
up the videos, segments, served files and thumbnails it holds):

- :mod:`.catalog` (SQLAlchemy: rows, full text, filters, locks), :mod:`.vectors` (FAISS: one
  size ladder, build, rerank, store), :mod:`.media` (files, segments, scan, cuts, thumbnails,
  audio): each the only importer of its library;
- :mod:`.ingest` (plan, engines, writer, reindex, encoders), :mod:`.enrich` (speech, on-screen
  text), :mod:`.query` (text tower, vector and full-text search, fusion, the search router);
- the vocabulary every room shares: :mod:`.hits`, :mod:`.reports`, :mod:`.errors`,
  :mod:`.settings`, :mod:`.filenames`, :mod:`.folders`.

docs/architecture.md walks a video and a query through them. The command line is
``tempme.app.cli``.
"""

from tempme.index.compat import install as install_moved_paths
from tempme.index.errors import LibraryBusyError, LibraryError, NotServableError, StorageError
from tempme.index.filenames import (
    absolute,
    expand_home,
    is_under,
    link_target,
    path_text,
    printable,
    stored_names,
    text_path,
    wrong_kind,
)
from tempme.index.folders import FolderQuery, folder_labels, folder_matches, no_folder_message
from tempme.index.hits import (
    CONFIDENCES,
    GOOD_FROM,
    NO_GOOD_MATCH,
    SEARCH_MODES,
    TEXT_KINDS,
    Confidence,
    Hit,
    MatchedWord,
    SearchFilters,
    SearchMode,
    TextKind,
    Verdict,
    best_confidence,
    format_clock,
    format_time,
    quoted,
    verdict,
)
from tempme.index.lazy import lazy_exports
from tempme.index.media.files import VIDEO_EXTENSIONS, content_hash, is_video_name
from tempme.index.queries import IMAGE_MODES, SORT_ORDERS, Query, SortOrder, typed_date
from tempme.index.reports import (
    JOB_KINDS,
    JOB_STATES,
    ApiKeyInfo,
    EnrichReport,
    IndexFileState,
    IndexReport,
    IngestProgress,
    JobRecord,
    LibraryStats,
    ProgressFn,
    ReindexReport,
    SearchTuning,
    VideoRecord,
    weights_of,
    weights_warning,
)
from tempme.index.settings import Settings, get_settings
from tempme.index.wording import plural

_LAZY = {  # modules that import SQLAlchemy, FAISS or torch: loaded on first use
    "Library": "library",
    "Shelf": "shelf",
    "EncoderInfo": "catalog",
    "describe_encoder": "catalog",
    "EncoderSpec": "ingest.encoders",
    "IngestOptions": "ingest.options",
    "IndexParams": "vectors",
    "set_search_threads": "query",
    "search_timings": "query",
    "CompoundQuery": "query",
    "QueryPart": "query",
    "Relation": "query",
    "ExportOptions": "export",
    "ExportReport": "export",
    "TimelineError": "export",
}
__getattr__ = lazy_exports(__name__, _LAZY)
install_moved_paths()  # tempme.index.types, .segment, ...: deprecated aliases (CHANGELOG.md)

__all__ = [
    "IMAGE_MODES",
    "CONFIDENCES",
    "GOOD_FROM",
    "JOB_KINDS",
    "JOB_STATES",
    "NO_GOOD_MATCH",
    "SEARCH_MODES",
    "SORT_ORDERS",
    "TEXT_KINDS",
    "VIDEO_EXTENSIONS",
    "ApiKeyInfo",
    "CompoundQuery",
    "Confidence",
    "EncoderInfo",
    "EncoderSpec",
    "EnrichReport",
    "ExportOptions",
    "ExportReport",
    "FolderQuery",
    "Hit",
    "IndexFileState",
    "IndexParams",
    "IndexReport",
    "IngestOptions",
    "IngestProgress",
    "JobRecord",
    "Library",
    "LibraryBusyError",
    "LibraryError",
    "LibraryStats",
    "MatchedWord",
    "NotServableError",
    "ProgressFn",
    "Query",
    "QueryPart",
    "ReindexReport",
    "Relation",
    "SearchFilters",
    "SearchMode",
    "SortOrder",
    "SearchTuning",
    "Settings",
    "Shelf",
    "StorageError",
    "TextKind",
    "VideoRecord",
    "TimelineError",
    "Verdict",
    "absolute",
    "expand_home",
    "best_confidence",
    "content_hash",
    "describe_encoder",
    "folder_labels",
    "folder_matches",
    "format_clock",
    "format_time",
    "get_settings",
    "is_under",
    "is_video_name",
    "link_target",
    "no_folder_message",
    "plural",
    "path_text",
    "printable",
    "quoted",
    "search_timings",
    "set_search_threads",
    "stored_names",
    "text_path",
    "typed_date",
    "wrong_kind",
    "verdict",
    "weights_of",
    "weights_warning",
]
