"""A video library: a thin facade that opens the catalog and the vectors, holds the write lock
(:class:`~.catalog.WriteLock`) and delegates to the rooms (:mod:`.ingest`, :mod:`.enrich`,
:mod:`.query`, :mod:`.export`); its ``shelf`` (:mod:`.shelf`) looks up what it holds. Searches
never take the lock; they see an indexer's videos when it saves its index (every few videos and
at the end). docs/library.md describes every method.
"""

from __future__ import annotations

import logging
import threading
import warnings
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from tempme.index import EnrichReport, Hit, IndexReport, LibraryStats, ProgressFn, ReindexReport, expand_home
from tempme.index.catalog import Catalog, EncoderInfo, WriteLock, locate, read_only, sqlite_url
from tempme.index.ingest import QUERY_MODEL_DIR, ChangeBatch, IngestOptions, IngestTarget, encoders, library_query_model
from tempme.index.query import Searchable, TextQueries, apply_search_threads, search, search_vector, warm
from tempme.index.shelf import FORMER_LIBRARY_METHODS, Shelf
from tempme.index.vectors import FaissStore, runner_for

if TYPE_CHECKING:  # annotations only; the export room imports tempme.video (torch): only when a library exports
    from tempme.index import Query, SearchFilters, SearchMode, SortOrder
    from tempme.index.export import ExportOptions, ExportReport
    from tempme.index.query import CompoundQuery

log = logging.getLogger(__name__)
Wait = bool | float  # for another writer: False (fail at once), True (forever) or seconds
# deprecated names (issue 21) -> where they live now: the lookups moved to Library.shelf; the parts are internal
MOVED = {"catalog": "_catalog", "store": "_store", "query": "_text.query"} | {
    name: f"shelf.{name}" for name in FORMER_LIBRARY_METHODS
}


class Library:
    """Use :meth:`open`. ``path``, ``database_url`` (its catalog), ``read_only``, ``lock`` (the write lock),
    ``shelf`` (:class:`~.shelf.Shelf`: its videos, segments, served files and thumbnails, read-only),
    ``jobs`` and ``keys`` (the API's jobs and keys in the catalog: :class:`~.catalog.JobBoard`, :class:`~.catalog.KeyRing`)."""

    def __init__(self, path: Path, *, database_url: str | None = None, index_params=None, encoder=None) -> None:
        self.path = Path(path).resolve()
        self.database_url = database_url or sqlite_url(self.path)
        self.read_only = read_only(self.path, database_url)
        if self.read_only:
            log.warning("%s is read-only: searching only (indexing, remove and rebuild are refused)", self.path)
        self._catalog = Catalog(self.database_url, self.read_only, self.path if database_url else None)
        self._store = FaissStore(self.path, self._catalog, index_params)
        self._write_lock = WriteLock(self._catalog.engine, self.path, self.read_only)
        self.lock, self.jobs, self.keys = self._write_lock.lock, self._catalog.jobs, self._catalog.keys
        self.shelf = Shelf(self.path, self._catalog, writable=not self.read_only)
        self._encoder, self._encoder_lock, self._writing, self._run_only = encoder, threading.Lock(), False, False
        self._text = TextQueries(self.path / QUERY_MODEL_DIR, self._catalog.encoder_info, self.encoder)
        self._cancel = threading.Event()
        self._searchable = Searchable(self.path, self._catalog, self._store, lambda: self._text.query, encoder=self.encoder)  # fmt: skip
        thumbs = self.shelf.thumbnails
        self._target = IngestTarget(self.path, self._catalog, self._store, self._cancel, thumbs.drop, thumbs.put)
        self._load()

    @classmethod
    def open(
        cls, path: Path, create: bool = False, *, database_url: str | None = None, index_params=None, encoder=None
    ) -> Library:
        """Open (``create``: make) the library at ``path``, migrating its catalog (:func:`~.catalog.locate`)."""
        url = locate(expand_home(path), database_url, create, more_files=Shelf.FILES)  # wrong kinds: one line
        return cls(expand_home(path), database_url=url, index_params=index_params, encoder=encoder)

    def close(self) -> None:
        self._catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _load(self) -> None:  # the recorded vectors; a repair saved when no indexer holds the lock
        if self._store.load() and not self._writing:  # else the indexer's next save writes the repair
            self._write_lock.when_free(self._store.save, "the repaired index")

    def interrupt(self, *, this_run_only: bool = False) -> None:
        """Stop a running (or, unless ``this_run_only``, later) ``add``/``reindex`` within a batch (signal-safe)."""
        self._run_only = this_run_only and self._writing and not self._cancel.is_set()
        self._cancel.set()

    def refresh(self) -> None:
        """Reload the vectors (and after another process's ``reindex``, the text tower and the
        encoder) when stale; cheap when not."""
        if not self._writing and self._store.is_stale():
            with self._encoder_lock:
                info = self._catalog.encoder_info()
                if self._text.changed(info) and self._encoder is not None and EncoderInfo.of(self._encoder) != info:
                    log.info("%s was re-encoded: loading its new encoder", self.path)
                    self._encoder = None
            self._load()

    @contextmanager
    def _writer(self, wait: Wait) -> Iterator[None]:
        with self._write_lock.hold(wait):
            if self._store.is_stale():
                self._load()  # start from what other processes saved
            self._writing = True
            try:
                yield
            finally:
                self._writing = False
                if self._run_only:  # a cancelled job: the next run goes ahead
                    self._run_only = False
                    self._cancel.clear()

    def encoder_info(self, *, in_use: bool = False) -> dict | None:
        """The recorded ``EncoderInfo.to_dict()``, None before the first video; ``in_use``: searches' (no query)."""
        info = self._text.in_use() if in_use else self._catalog.encoder_info()
        return None if info is None else info.to_dict()

    def embed_dim(self) -> int | None:
        return self._catalog.embed_dim()

    def encoder(self):
        """The library's encoder, loaded once from the record (LibraryError: none, or it differs)."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = encoders.load_recorded(self._catalog, self.path)
                apply_search_threads()
            return self._encoder

    @property
    def model_loaded(self) -> bool:
        """True once the encoder is loaded (a text query does not wait for it)."""
        return self._encoder is not None

    def warm_up(self) -> None:
        """Load the text tower and confidence null now if the library holds vectors (the first query then does not wait)."""
        warm(self._searchable)

    def text_ready(self) -> bool:
        """True when a text query needs no torch model loaded first (a fresh query model, or a tower loaded)."""
        return self._text.ready()

    text_backend = property(lambda self: self._text.backend, doc='"onnx" or "torch" once a text query loaded a tower')

    def rebuild_query_model(self, *, wait: Wait = False) -> str:
        """Export the text tower unless the query model is fresh (its files hashed): what happened."""
        with self._writer(wait):
            return library_query_model(self._target, self._encoder, verify=True)

    def add(self, paths: list[Path] | ChangeBatch, options: IngestOptions | None = None, *,
            progress: ProgressFn | None = None, wait: Wait = False, **keywords) -> IndexReport:  # fmt: skip
        """Index the videos under ``paths`` (or a watcher's ``ChangeBatch``) with ``options`` (or keywords), :mod:`.ingest.run`."""
        from tempme.index.ingest import add_videos, request_spec

        options = IngestOptions.of(options, keywords)
        spec = request_spec(self._target, options)
        with self._writer(wait):
            report, encoder = add_videos(self._target, paths, spec, options, progress, self._encoder)
        with self._encoder_lock:
            self._encoder = encoder if self._encoder is None else self._encoder
        return report

    def reindex(self, options: IngestOptions | None = None, *, progress: ProgressFn | None = None,
                wait: Wait = False, **keywords) -> ReindexReport:  # fmt: skip
        """Re-encode every video with another encoder, then switch at once (:mod:`.ingest.reindex`)."""
        from tempme.index.ingest import reindex_spec, reindex_videos

        options = IngestOptions.of(options, keywords)
        spec = reindex_spec(self._target, options)
        with self._writer(wait):
            report, encoder = reindex_videos(self._target, spec, options, progress)
            if encoder is not None:
                with self._encoder_lock:
                    self._encoder, _ = encoder, self._text.renew(self._catalog.encoder_info())
        return report

    def remove(self, path: Path, *, wait: Wait = False, confirm: Callable[[list[Path]], bool] | None = None) -> int:
        """Remove a video, or the videos under a folder (``confirm(paths)`` first); returns how many."""
        from tempme.index.ingest import remove_videos

        with self._writer(wait):
            return remove_videos(self._target, path, confirm)

    def rebuild(self, index: str | None = None, *, shards: int = 1, ray_address: str | None = None,
                wait: Wait = False, target_recall: float | None = None, max_ms: float | None = None) -> int:  # fmt: skip
        """As ``index`` (a FAISS factory to pin; None: by size), tuned for ``target_recall`` | ``max_ms``; returns N."""
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        with self._writer(wait):
            if self._catalog.embed_dim() is None:
                if index is not None:
                    raise ValueError("the library has no vectors yet: index videos before choosing an index type")
                return 0
            n = self._store.rebuild(index, shards=shards, runner=runner_for(shards, ray_address), target_recall=target_recall, max_ms=max_ms)  # fmt: skip
            self._store.save()
            return n

    def enrich(self, kinds: tuple[str, ...], *, speech=None, ocr=None, progress: ProgressFn | None = None,
               wait: Wait = False, redo: bool = False) -> list[EnrichReport]:  # fmt: skip
        """Transcripts and on-screen text for the videos that lack them (``redo``: for every video,
        replacing what is stored) (:mod:`.enrich`), a report per kind."""
        from tempme.index.enrich import enrich_library

        with self._writer(wait):
            return [
                enrich_library(self._catalog, k, speech=speech, ocr=ocr, progress=progress, redo=redo) for k in kinds
            ]

    def search(self, query: str | Query | CompoundQuery, k: int = 10, *, offset: int = 0, per_video: bool = False,
               sort: SortOrder | str = "relevance", filters: SearchFilters | None = None,
               mode: SearchMode | str = "visual") -> list[Hit]:  # fmt: skip
        """Moments matching ``query`` (a text, a :class:`Query`: image, clip or span, or a compound query:
        :mod:`.query.parts`) by ``mode`` in ``sort`` order, each saying why it matched (:mod:`.query.router`)."""
        self.refresh()
        return search(self._searchable, query, k, offset=offset, per_video=per_video, filters=filters, mode=mode, sort=sort)  # fmt: skip

    def export(self, hits: list[Hit], out_dir: Path, options: ExportOptions | None = None) -> ExportReport:
        """Hits as MP4 clips (+ ``.srt``) in ``out_dir`` and a timeline (:mod:`.export.moments`)."""
        from tempme.index.export import ExportOptions, export_moments

        return export_moments(self._catalog, hits, Path(out_dir), options or ExportOptions())

    def search_vector(self, vec: np.ndarray, k: int = 10, *, offset: int = 0, per_video: bool = False,
                      filters: SearchFilters | None = None, exclude_segment: int | None = None) -> list[Hit]:  # fmt: skip
        """ "More like this": moments nearest to the (D,) unit vector ``vec``, results ``offset`` to ``offset + k``."""
        self.refresh()
        return search_vector(self._searchable, vec, k, offset=offset, per_video=per_video, filters=filters,
                             exclude_segment=exclude_segment)  # fmt: skip

    def search_segments(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw vector search: (Q, D) -> scores (Q, K), segment ids (Q, K) (-1 where none)."""
        self.refresh()
        return self._store.search(vecs, k)

    def stats(self) -> LibraryStats:
        self.refresh()
        return LibraryStats.of(self.path, self._catalog.counts(), self._store, self.encoder_info(), self._text.state(),
                               folders=self._catalog.folders())  # fmt: skip

    def __getattr__(self, name: str) -> object:  # asked only for what is not an attribute: the moved names
        if name not in MOVED:
            raise AttributeError(f"'Library' object has no attribute {name!r}")
        new = f"Library.{MOVED[name]}" if name in FORMER_LIBRARY_METHODS else "its methods or tempme.index's names"
        warnings.warn(f"Library.{name} is deprecated: use {new}", DeprecationWarning, 2)  # once per calling line
        return attrgetter(MOVED[name])(self)
