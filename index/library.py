"""A video library: a thin facade over its catalog, vector store, ingest steps and query encoder.

>>> lib = Library.open(Path("tempme-library"), create=True)
>>> lib.add([Path("~/Videos")], model="ViT-B-32", pretrained="openai")
>>> lib.search("a dog catching a frisbee", k=10)

The parts, each its own module with explicit types between them:

- :mod:`index.catalog` -- every SQL read and write (SQLite ``library.db`` by default, any
  SQLAlchemy URL), the source of truth;
- :mod:`index.store` -- the vectors (FAISS files, versioned, repaired from the catalog);
- ingest: :mod:`index.planner` (what changed) -> an executor (:mod:`index.executor`; the local
  threaded one unless another is passed) -> :mod:`index.committer` (one transaction per video,
  then vectors);
- :mod:`index.query` (text -> vector, batched and cached) and :mod:`index.search` (vector ->
  hits).

One indexer at a time: ``index.lock`` (filelock) with SQLite, a PostgreSQL advisory lock
(:mod:`index.pglock`) with PostgreSQL, taken only by ``add``, ``remove`` and ``rebuild``. Searches never take it; they see an indexer's videos when it saves its index
(every few videos and at the end), or at once when the indexer is this same object.

A library on a read-only folder (or file system) opens read-only: searches and stats work, and
``add``/``remove``/``rebuild`` raise :class:`StorageError`. ``interrupt`` (e.g. from a SIGTERM
handler) stops a running ``add`` within a batch, keeping what was committed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from filelock import FileLock, Timeout
from tempme.index import db, encoders
from tempme.index.catalog import Catalog, NewVideo, SegmentRow
from tempme.index.encoders import EncoderSpec
from tempme.index.files import absolute, link_target, printable, walk
from tempme.index.pglock import AdvisoryLock
from tempme.index.planner import plan_ingest
from tempme.index.query import QueryEncoder
from tempme.index.reindex import ReindexReport, same_encoder
from tempme.index.search import search_moments
from tempme.index.store import FaissStore
from tempme.index.textsearch import fuse_hits, search_lines
from tempme.index.thumbnails import drop_thumbnails, load_key, purge_legacy, thumbnail
from tempme.index.types import (  # noqa: F401  (re-exported: the public API lives here)
    SEARCH_MODES,
    Hit,
    IndexReport,
    LibraryBusyError,
    LibraryError,
    LibraryStats,
    MatchedWord,
    SearchFilters,
    StorageError,
)
from tempme.index.vectors import IndexParams

if TYPE_CHECKING:  # ingest (torch, PyAV) is imported by `add` only: `stats` and `remove` stay quick
    from tempme.index.committer import ProgressFn
    from tempme.index.executor import Executor
    from tempme.index.segment import SegmentParams

log = logging.getLogger(__name__)

SETTINGS_NAME = "library.json"  # {"database_url": ...} for a catalog outside the folder


def recorded_database_url(path: Path) -> str | None:
    """The catalog URL stored in the library folder's settings (None: SQLite ``library.db``)."""
    f = Path(path) / SETTINGS_NAME
    if not f.is_file():
        return None
    return json.loads(f.read_text()).get("database_url") or None


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Library:
    """See the module docstring. Use :meth:`open`.

    Attributes:
        path: the library folder (FAISS files, lock, thumbnails, adapter; ``library.db`` by default).
        catalog: :class:`index.catalog.Catalog`.
        store: :class:`index.store.FaissStore` (a :class:`index.store.VectorStore`).
        query: :class:`index.query.QueryEncoder` (loads the encoder on the first text query).
    """

    def __init__(
        self, path: Path, *, database_url: str | None = None, index_params: IndexParams = IndexParams(), encoder=None
    ) -> None:
        self.path = Path(path).resolve()
        self.index_params = index_params
        db_file = self.path / db.DB_NAME
        self.read_only = not os.access(self.path, os.W_OK) or (
            database_url is None and db_file.exists() and not os.access(db_file, os.W_OK)
        )
        if self.read_only:
            log.warning("%s is read-only: searching only (indexing, remove and rebuild are refused)", self.path)
        self.catalog = Catalog(database_url or db.sqlite_url(self.path), read_only=self.read_only)
        self.store = FaissStore(self.path, self.catalog, index_params)
        if self.catalog.engine.dialect.name == "postgresql":  # across hosts, freed if the holder dies
            self.lock = AdvisoryLock(self.catalog.engine, f"tempme:{self.catalog.engine.url.database}")
        else:
            self.lock = FileLock(str(self.path / "index.lock"))
        self.query = QueryEncoder(self.encoder)
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self._write_mutex = threading.Lock()  # one writer per object (the file lock: per process)
        self._writing = False
        self._cancel = threading.Event()
        self._thumb_key = load_key(self.path, writable=not self.read_only)
        if not self.read_only:
            purge_legacy(self.thumbnail_dir)
        self._load()

    @classmethod
    def open(
        cls,
        path: Path,
        create: bool = False,
        *,
        database_url: str | None = None,
        index_params: IndexParams = IndexParams(),
        encoder=None,
    ) -> Library:
        """Open (or with ``create``, make) the library at ``path``; migrates its database.

        ``database_url``: a SQLAlchemy URL for the catalog (default: SQLite ``path/library.db``).
        ``encoder``: an already loaded :class:`tempme.encoder.VideoEncoder` to use instead of
        loading the recorded one (it must match the record).

        Raises:
            LibraryError: ``path`` has no library and ``create`` is False.
            StorageError: ``library.db`` is empty (0 bytes) or not a readable SQLite database
                (it is left as it is, never replaced).
        """
        path = Path(path).expanduser()
        recorded = recorded_database_url(path)
        if database_url and recorded and database_url != recorded:
            raise LibraryError(
                f"the library {path} keeps its catalog at {_masked(recorded)}, not {_masked(database_url)}"
            )
        database_url = database_url or recorded
        exists = (path / SETTINGS_NAME).is_file() if database_url else (path / db.DB_NAME).is_file()
        if not exists:
            if not create:
                raise LibraryError(
                    f"no library at {path} (no {db.DB_NAME}); index videos first: "
                    f"tempme --library {path} index VIDEO_DIR"
                )
            path.mkdir(parents=True, exist_ok=True)
            if database_url:  # later opens find the catalog through the folder alone
                (path / SETTINGS_NAME).write_text(json.dumps({"database_url": database_url}, indent=1) + "\n")
        return cls(path, database_url=database_url, index_params=index_params, encoder=encoder)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- consistency -----------------------------------------------------------------------
    def _load(self) -> None:
        """Load the recorded vectors; write a repaired index back when no indexer holds the lock."""
        if not self.store.load():
            return
        if self._writing:
            return  # this object is the indexer: its next save writes the repair
        if self.read_only:
            log.info("read-only library: the repaired index stays in memory")
            return
        try:
            with self.lock.acquire(timeout=0):
                self.store.save()
        except Timeout:
            log.info("an indexer is running; the repaired index stays in memory")
        except (OSError, RuntimeError) as exc:  # e.g. a full disk: searching still works
            log.warning("cannot save the repaired index (%s); it stays in memory", exc)

    def interrupt(self) -> None:
        """Stop a running (or later) ``add`` after the current batch; committed videos are kept
        and the lock is released when ``add`` returns. Safe from a signal handler."""
        self._cancel.set()

    def refresh(self) -> None:
        """Reload the vectors if another process saved a newer index (cheap when not); after a
        ``reindex`` by another process the next text query loads the new encoder."""
        if not self._writing and self.store.is_stale():
            with self._encoder_lock:
                if self._encoder is not None and not same_encoder(
                    self._encoder.info.to_dict(), self.catalog.encoder_info() or {}
                ):
                    log.info("%s was re-encoded: loading its new encoder", self.path)
                    self._encoder = None
                    self.query = QueryEncoder(self.encoder)
            self._load()

    # ---- encoder ---------------------------------------------------------------------------
    def encoder_info(self) -> dict | None:
        """The recorded ``EncoderInfo.to_dict()``; None before the first video."""
        return self.catalog.encoder_info()

    def embed_dim(self) -> int | None:
        return self.catalog.embed_dim()

    def encoder(self):
        """The library's encoder (loaded once from the record, checked against it).

        Raises:
            LibraryError: an empty library, a missing adapter, a reloaded encoder that differs.
        """
        with self._encoder_lock:
            if self._encoder is None:
                spec = encoders.recorded_spec(self.catalog, self.path)
                enc = encoders.load_for_library(self.catalog, self.path, spec)
                self._encoder = encoders.bind(self.catalog, self.path, enc, spec).model
            return self._encoder

    # ---- writing ---------------------------------------------------------------------------
    @contextmanager
    def _writer(self, wait: bool | float) -> Iterator[None]:
        if self.read_only:
            raise StorageError(f"the library {self.path} is read-only: it can be searched, not changed")
        timeout = -1 if wait is True else (0 if wait is False else float(wait))
        busy = LibraryBusyError(
            f"another tempme process is indexing {self.path} (lock {self.lock.lock_file}); "
            "wait for it to finish or pass --wait"
        )
        if not self._write_mutex.acquire(timeout=timeout):
            raise busy
        try:
            try:
                self.lock.acquire(timeout=timeout)
            except Timeout:
                raise busy from None
            try:
                if self.store.is_stale():
                    self._load()  # start from what other processes saved
                self._writing = True
                yield
            finally:
                self._writing = False
                self.lock.release()
        finally:
            self._write_mutex.release()

    def _spec(
        self, model: str | None, pretrained: str | None, adapter: Path | None, quick_gelu: bool | None, encoder
    ) -> EncoderSpec:
        if encoder is not None:
            info = encoder.info.to_dict()
            return EncoderSpec(
                info["arch"],
                str(info["pretrained"]),
                Path(adapter) if adapter else None,
                info.get("config"),
                encoders.recorded_quick_gelu(info),
            )
        return encoders.resolve_request(self.catalog, self.path, model, pretrained, adapter, quick_gelu)

    def add(
        self,
        paths: list[Path],
        *,
        model: str | None = None,
        pretrained: str | None = None,
        adapter: Path | None = None,
        quick_gelu: bool | None = None,
        encoder=None,
        executor: Executor | None = None,
        progress: ProgressFn | None = None,
        wait: bool | float = False,
        workers: int = 2,
        batch_size: int = 8,
        segment_params: SegmentParams | None = None,
        flush_every: int = 16,
    ) -> IndexReport:
        """Index the videos under ``paths`` (folders are walked recursively).

        Unchanged files (same size and mtime) are skipped; changed ones are dropped and
        re-encoded; files that disappeared from the walked folders are removed (not those in a
        folder that could not be listed: ``IndexReport.unreadable``). Any file that cannot be
        indexed is recorded as failed with its error and counted; it never stops the run. A file
        that changes while it is read is read again. ``progress(done, total, path)`` is called
        once planned (``done`` 0, ``path`` "") and after every video. After :meth:`interrupt`
        the run stops early (``report.interrupted``).

        ``model``/``pretrained``/``adapter``/``quick_gelu``: the encoder; any left None comes from
        the library's record (:func:`index.encoders.resolve_request`), so only a new library needs
        ``model``. ``quick_gelu`` is the activation where the weights cannot tell (a local state
        dict; :mod:`tempme.weights`); the library records the activation its encoder was built with.
        ``encoder``: an already loaded encoder to use. ``executor``: the engine that decodes and
        encodes (default: ``LocalExecutor(segment_params, workers, batch_size)``).

        Raises:
            LibraryBusyError: another indexer holds the lock (and ``wait`` is False or ran out).
            LibraryError: the encoder (or its activation) differs from the library's, none is given
                for a new library, or the activation contradicts the weights.
            StorageError: the disk is full, the library is read-only or its database is damaged
                (the message says what was kept).
            FileNotFoundError: a path does not exist.
        """
        from tempme.index.committer import Committer
        from tempme.index.executor import LocalExecutor
        from tempme.index.segment import SegmentParams

        spec = self._spec(model, pretrained, adapter, quick_gelu, encoder)
        with self._writer(wait):
            if encoder is None:
                encoders.check_request(self.catalog, self.path, spec)
            roots = [absolute(p) for p in paths]  # as spelled: links keep their names (index.files.walk)
            unreadable: list[tuple[Path, str]] = []
            files = walk(roots, errors=unreadable)
            # videos stored under a walked folder's target (indexed by another name, or before links
            # kept their names) and not walked now are replaced by the names walked now, not doubled
            targets = [t for r in roots if r.is_dir() and (t := link_target(r)) is not None and t not in roots]
            plan = plan_ingest(files, roots + targets, self.catalog.known_files(), unreadable)
            if progress is not None:
                progress(0, len(plan.encode), "")  # the total, before the encoder loads
            handle = None
            if plan.encode:
                if encoder is None:
                    encoder = (
                        self._encoder
                        if self._encoder is not None and self.catalog.encoder_info()
                        else encoders.load_for_library(self.catalog, self.path, spec)
                    )
                handle = encoders.bind(self.catalog, self.path, encoder, spec)
                with self._encoder_lock:
                    self._encoder = self._encoder or encoder
                self.store.ensure(encoder.embed_dim)
            committer = Committer(self.catalog, self.store, flush_every=flush_every, progress=progress)
            self._drop_thumbnails(committer.begin(plan))
            if handle is not None:
                engine = executor or LocalExecutor(
                    segment_params or SegmentParams(), workers, batch_size, cancel=self._cancel
                )
                for outcome in engine.run(plan.encode, handle):
                    committer.commit(outcome)
                    if self._cancel.is_set():
                        break
            return committer.finish(interrupted=self._cancel.is_set())

    def reindex(
        self,
        *,
        model: str | None = None,
        pretrained: str | None = None,
        adapter: Path | None = None,
        executor: Executor | None = None,
        progress: ProgressFn | None = None,
        wait: bool | float = False,
        workers: int = 2,
        batch_size: int = 8,
        segment_params: SegmentParams | None = None,
    ) -> ReindexReport:
        """Re-encode every indexed video with another encoder (any of ``model`` / ``pretrained`` /
        ``adapter`` left None comes from the record; all None: the recorded encoder again), then
        switch the library to it at once. Crash safety and resuming: :mod:`index.reindex` (the
        old index stays searchable until the switch; a rerun resumes). ``progress(done, total,
        path)`` as for :meth:`add`; :meth:`interrupt` stops it before the switch.

        Raises:
            LibraryError: an empty library (nothing to re-encode), a missing recorded adapter.
            LibraryBusyError: another indexer holds the lock. tempme.weights.WeightsUnavailableError,
            tempme.lora.AdapterError: the new encoder cannot be loaded.
        """
        import time

        from tempme.index.executor import FileStamp as Stamp
        from tempme.index.executor import LocalExecutor, VideoResult
        from tempme.index.reindex import Staging
        from tempme.index.segment import SegmentParams

        t0 = time.perf_counter()
        if self.catalog.encoder_info() is None:
            raise LibraryError(f"the library {self.path} is empty: nothing to re-encode (index videos first)")
        spec = encoders.resolve_request(self.catalog, self.path, model, pretrained, adapter)
        with self._writer(wait), ExitStack() as stack:
            encoder = encoders.load_for_library(self.catalog, self.path, spec)
            target = encoder.info.to_dict()
            report = ReindexReport(encoder=encoder.info.describe())
            staging = Staging(self.path, target)
            videos = self.catalog.indexed_videos()
            done: dict[int, object] = {}
            todo: list[Path] = []
            ids_by_path: dict[Path, int] = {}
            for video_id, path in videos:
                try:
                    st = os.stat(path)
                    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
                except OSError:
                    stamp = None
                staged = staging.get(video_id, stamp)
                if staged is not None:
                    done[video_id] = staged
                    report.resumed += 1
                else:
                    todo.append(path)
                    ids_by_path[path] = video_id
            failed: list[tuple[int, str]] = []
            if progress is not None:
                progress(len(done), len(videos), "")
            if todo:
                engine = executor or LocalExecutor(
                    segment_params or SegmentParams(), workers, batch_size, cancel=self._cancel
                )
                handle = encoders.EncoderHandle(spec, encoder)
                outcomes = engine.run(todo, handle)
                stack.callback(getattr(outcomes, "close", lambda: None))  # stop the decoders on any exit
                for outcome in outcomes:
                    video_id = ids_by_path[outcome.path]
                    if isinstance(outcome, VideoResult):
                        m, st = outcome.meta, outcome.stamp or Stamp.of(outcome.path)
                        video = NewVideo(
                            path=outcome.path,
                            size=st.size,
                            mtime_ns=st.mtime_ns,
                            content_hash=outcome.content_hash,
                            duration_s=m.duration_s,
                            fps=m.fps,
                            width=m.width,
                            height=m.height,
                            codec=m.codec,
                            spans=[(sp.start_s, sp.end_s, sp.kind) for sp in outcome.spans],
                            embeddings=outcome.embeddings,
                        )
                        staging.put(video_id, video, st.inode)
                        done[video_id] = video
                    else:
                        failed.append((video_id, outcome.reason))
                        report.errors.append((printable(outcome.path), outcome.reason))
                    if progress is not None:
                        progress(len(done) + len(failed), len(videos), printable(outcome.path))
                    if self._cancel.is_set():
                        break
            report.videos, report.failed = len(done), len(failed)
            report.segments = sum(len(v.spans) for v in done.values())
            if self._cancel.is_set() or len(done) + len(failed) < len(videos):
                report.interrupted = True
                report.seconds = time.perf_counter() - t0
                return report
            if spec.adapter is not None:  # the library keeps its own copy of the adapter
                staged_adapter = staging.dir / "adapter"
                if Path(spec.adapter).resolve() != (self.path / "adapter").resolve():
                    shutil.copytree(spec.adapter, staged_adapter, dirs_exist_ok=True)
            pinned = self.store.kind if self.store.pinned else None  # a type chosen at rebuild stays
            old_ids, _ = self.catalog.replace_encoding(target, sorted(done.items()), failed)
            if spec.adapter is not None and (staging.dir / "adapter").is_dir():
                shutil.rmtree(self.path / "adapter", ignore_errors=True)
                os.replace(staging.dir / "adapter", self.path / "adapter")
            try:
                self.store.rebuild(pinned)
            except ValueError as e:  # the pinned type does not fit the new encoder's width
                log.warning("index type %s does not fit the new encoder (%s): chosen by size instead", pinned, e)
                self.store.rebuild()
            self.store.save()
            self._drop_thumbnails(old_ids)
            with self._encoder_lock:
                self._encoder = encoder
            self.query = QueryEncoder(self.encoder)
            staging.clear()
            report.seconds = time.perf_counter() - t0
            log.info("library %s: re-encoded with %s", self.path, encoder.info.describe())
            return report

    def _drop_thumbnails(self, segment_ids: np.ndarray) -> None:
        try:
            drop_thumbnails(self.thumbnail_dir, self._thumb_key, segment_ids)
        except OSError as exc:
            log.warning("cannot delete thumbnails of removed segments: %s", exc)

    def remove(
        self, path: Path, *, wait: bool | float = False, confirm: Callable[[list[Path]], bool] | None = None
    ) -> int:
        """Remove a video (or every video under a folder, compared literally: ``_`` and ``%``
        are plain characters); returns how many were removed.

        ``confirm(paths)``: asked (with the write lock held) when more than one video would go;
        if it returns False nothing is removed and 0 is returned.

        Raises:
            LibraryError: nothing in the library matches ``path`` (nothing is removed).
            StorageError: a read-only library.
        """
        p = absolute(path)
        with self._writer(wait):
            video_ids = self.catalog.videos_under(p)
            target = link_target(p)
            if not video_ids and target not in (None, p):  # the target's own name, for older records
                p = target
                video_ids = self.catalog.videos_under(p)
            if not video_ids:
                raise LibraryError(f"{printable(p)} is not in the library {printable(self.path)}: nothing removed")
            if len(video_ids) > 1 and confirm is not None:
                if not confirm([self.catalog.video_path(v) for v in video_ids]):
                    return 0
            seg_ids = self.catalog.delete_videos(video_ids)
            self.store.remove(seg_ids)
            self.store.save()
            self._drop_thumbnails(seg_ids)
            return len(video_ids)

    def rebuild(
        self,
        index: str | None = None,
        *,
        shards: int = 1,
        ray_address: str | None = None,
        wait: bool | float = False,
    ) -> int:
        """Rebuild the vector index from the vectors stored in the catalog (no decoding).
        Returns the number of vectors.

        ``index``: a FAISS ``index_factory`` string (``Flat``, ``IVF4096,Flat``,
        ``IVF65536,PQ64``, ...), pinned: later runs add to it and keep it, ``stats`` shows it.
        None: the type that fits the size (``flat`` / ``ivf`` / ``ivf-sq8``, and past 10^7
        vectors ``vectorscale.factory_for``'s IVF-PQ), chosen again as the library grows.
        An IVF factory is trained on a sample, added in ``shards`` parallel shards (Ray tasks
        when ``shards`` > 1 and Ray is installed, on ``ray_address`` or a local Ray; else in
        this process) and merged into one on-disk index that searches map read-only.

        Raises:
            ValueError: FAISS cannot build ``index`` here (the message says why; the old index
                is kept). LibraryBusyError: another indexer holds the lock.
        """
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        with self._writer(wait):
            if self.catalog.embed_dim() is None:
                if index is not None:
                    raise ValueError("the library has no vectors yet: index videos before choosing an index type")
                return 0
            runner = None
            if shards > 1:
                from tempme.index.vectorscale import RayRunner

                try:
                    runner = RayRunner(ray_address)
                except ImportError:
                    log.warning("Ray is not installed (pip install 'tempme[scale]'): adding %d shards here", shards)
            n = self.store.rebuild(index, shards=shards, runner=runner)
            self.store.save()
            return n

    # ---- reading ---------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        offset: int = 0,
        per_video: bool = False,
        filters: SearchFilters | None = None,
        mode: str = "visual",
    ) -> list[Hit]:
        """Moments matching ``query``.

        ``mode``: ``visual`` (the text tower's vector against TempMe's, :attr:`query`),
        ``speech`` (full-text search over transcripts), ``text`` (over on-screen text), or
        ``all`` (the three fused by reciprocal rank fusion; lists the library has no data for
        are left out). Every hit says why it matched (:class:`Hit`).

        Raises:
            ValueError: empty query or unknown mode. LibraryError: ``speech`` / ``text`` on a
            library where no video was processed for it. tempme.weights.WeightsUnavailableError:
            the recorded weights cannot be loaded.
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, got {mode!r}")
        if not query.strip():
            raise ValueError("empty query")
        self.refresh()
        if mode in ("speech", "text"):
            kind = "speech" if mode == "speech" else "ocr"
            if not self.catalog.enrichment_counts(kind):
                flag = "--speech" if kind == "speech" else "--ocr"
                what = "transcripts" if kind == "speech" else "on-screen text"
                raise LibraryError(
                    f"the library {self.path} has no {what}: no video was processed for {kind}; "
                    f"add them with `tempme enrich {flag}` (or `tempme index {flag} ...`)"
                )
            hits = search_lines(self.catalog, query, kind, offset + k, filters)
            if per_video:
                return fuse_hits({mode: hits}, k, offset=offset, per_video=True)
            return hits[offset : offset + k]
        text_kinds = [kind for kind in ("speech", "ocr") if self.catalog.enrichment_counts(kind)]
        if not text_kinds:
            mode = "visual"  # nothing to fuse with: the visual ranking and its cosine scores as they are
        visual = []
        if self.store.ntotal > 0:  # nothing indexed yet: no encoder to load
            depth = k if mode == "visual" else 4 * (offset + k)
            visual = search_moments(
                self.catalog,
                self.store,
                self.query.encode(query),
                depth,
                offset=offset if mode == "visual" else 0,
                per_video=per_video,
                filters=filters,
            )
        if mode == "visual":
            return visual
        lists = {"visual": visual}
        for kind in text_kinds:
            lists["speech" if kind == "speech" else "text"] = search_lines(
                self.catalog, query, kind, 4 * (offset + k), filters
            )
        return fuse_hits(lists, k, offset=offset, per_video=per_video)

    def enrich(
        self, kinds: tuple[str, ...], *, speech=None, ocr=None, progress=None, wait: bool | float = False
    ) -> list:
        """Add transcripts (``speech``) and on-screen text (``ocr``) to the indexed videos that
        lack them; never re-encodes video. ``speech``: a :class:`index.speech.SpeechConfig`
        (default: auto choice), ``ocr``: an :class:`index.ocr.OcrConfig`. ``progress(kind, done,
        total, path)``. Returns one :class:`index.enrich.EnrichReport` per kind.

        Raises:
            LibraryBusyError: another indexer holds the lock. index.speech.SpeechModelUnavailable:
            the requested recogniser or model is not available.
        """
        from tempme.index.enrich import enrich
        from tempme.index.ocr import TextReader
        from tempme.index.speech import make_recognizer

        info = self.catalog.encoder_info() or {}
        # OCR reads the frames at the encoder's resolution, but never below 224 (tiny test models
        # have 32-pixel frames, where nothing is legible)
        num_frames, short_side = int(info.get("num_frames", 12)), max(int(info.get("image_size", 224)), 224)
        reports = []
        with self._writer(wait):
            for kind in kinds:
                if kind not in ("speech", "ocr"):
                    raise ValueError(f"kind must be speech or ocr, got {kind!r}")
                step = (lambda d, t, p, kind=kind: progress(kind, d, t, p)) if progress else None
                if kind == "speech":
                    reports.append(enrich(self.catalog, "speech", recognizer=make_recognizer(speech), progress=step))
                else:
                    reports.append(
                        enrich(
                            self.catalog,
                            "ocr",
                            reader=TextReader(ocr),
                            num_frames=num_frames,
                            short_side=short_side,
                            progress=step,
                        )
                    )
        return reports

    def search_vector(
        self,
        vec: np.ndarray,
        k: int = 10,
        *,
        offset: int = 0,
        per_video: bool = False,
        filters: SearchFilters | None = None,
        exclude_segment: int | None = None,
    ) -> list[Hit]:
        """Moments nearest to the (D,) unit vector ``vec``: results ``offset`` to ``offset + k``."""
        self.refresh()
        return search_moments(
            self.catalog,
            self.store,
            vec,
            k,
            offset=offset,
            per_video=per_video,
            filters=filters,
            exclude_segment=exclude_segment,
        )

    def video_moments(self, paths: list[Path], per_video: int = 12) -> list[Hit]:
        """The first ``per_video`` segments of each video at ``paths`` as hits, each video's in
        time order (no query: ``score`` 0, ``rank`` their position); e.g. to show videos just added.
        Paths that are not indexed videos give nothing."""
        names = list(dict.fromkeys(Path(n) for p in paths for n in _catalog_names(p)))  # link names kept
        rows = self.catalog.video_segments(names, per_video)
        return [
            Hit(r.segment_id, r.video_id, r.path, r.start_s, r.end_s, 0.0, rank, r.duration_s)
            for rank, r in enumerate(rows, start=1)
        ]

    def search_segments(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw vector search: (Q, D) -> scores (Q, K), segment ids (Q, K) (-1 where none)."""
        self.refresh()
        return self.store.search(vecs, k)

    def segment_vector(self, segment_id: int) -> np.ndarray:
        """The stored (D,) embedding of a segment. Raises KeyError if there is none."""
        return self.catalog.segment_vector(segment_id)

    def video_path(self, video_id: int) -> Path:
        """Raises KeyError for an unknown id."""
        return self.catalog.video_path(video_id)

    def segment_at(self, path: str | os.PathLike, t: float) -> SegmentRow | None:
        """The indexed segment of the video at ``path`` that contains ``t`` seconds, or None
        (the video is not in the library, or ``t`` is past its end)."""
        for name in _catalog_names(path):
            row = self.catalog.segment_at(name, t)
            if row is not None:
                return row
        return None

    def segment(self, segment_id: int) -> SegmentRow:
        """The segment with this id and its video. Raises KeyError if there is none."""
        row = self.catalog.segment_rows([int(segment_id)]).get(int(segment_id))
        if row is None:
            raise KeyError(f"no segment {segment_id}")
        return row

    def video_paths(self) -> list[Path]:
        """Every indexed video, sorted."""
        return self.catalog.indexed_paths()

    def is_library_file(self, path: str | os.PathLike) -> bool:
        """True when ``path`` exists and is an indexed video, under the name it was indexed by
        (a link's) or with every link resolved (for serving files safely)."""
        return any(self.catalog.is_indexed_file(name) for name in _catalog_names(path))

    @property
    def thumbnail_dir(self) -> Path:
        return self.path / "thumbs"

    def thumbnail(self, segment_id: int, max_side: int = 320) -> Path:
        """JPEG of the frame at the segment's start, cached in :attr:`thumbnail_dir` under an
        unguessable name (:mod:`index.thumbnails`).

        Raises:
            KeyError: unknown segment (or one no longer in the catalog); tempme.video.VideoDecodeError: the file is gone or broken.
        """
        return thumbnail(self.catalog, self.thumbnail_dir, self._thumb_key, segment_id, max_side)

    def stats(self) -> LibraryStats:
        self.refresh()
        videos, segments, failures, last = self.catalog.counts()
        return LibraryStats(
            path=self.path,
            videos=videos,
            segments=segments,
            failed=len(failures),
            failures=failures,
            index_type=self.store.kind,
            vectors=self.store.ntotal,
            index_version=self.store.version,
            encoder=self.catalog.encoder_info(),
            last_run=last,
            index_mapped=self.store.mapped,
        )


def _catalog_names(path: str | os.PathLike) -> list[str]:
    """The names an existing file may be stored under: as given (absolute, links kept, as
    :func:`index.files.walk` stores it), then with every link resolved; [] if it does not exist."""
    try:
        resolved = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    return list(dict.fromkeys((str(absolute(path)), str(resolved))))
