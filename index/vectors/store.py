"""The vector store: the FAISS implementation of :class:`~.protocols.VectorStore`.

:class:`FaissStore` keeps one in-memory FAISS index (:class:`~.index.VectorIndex`) for a
library folder. ``save`` writes it to a new versioned file (``vectors-<N>.faiss``, atomically)
and then records that file, its size and a checksum of its bytes in the catalog; ``load`` reads
the file the catalog points at and repairs it from the catalog's stored vectors when the ids
disagree (a run killed between a commit and the next save). A file that does not match its
recorded checksum (of every byte), or that FAISS cannot read (truncated, garbage), is never
trusted: the index is rebuilt from the catalog instead. The previous file is kept for readers
that have not reloaded yet. All methods are thread-safe (one lock: searches, changes
and reloads take turns).

Every rebuild of an IVF index tunes it (:mod:`.tune`): the smallest nprobe / re-rank depth that
reaches a target recall@10 on the library's own vectors, each searching the other videos
(``target_recall``, default :data:`~.tune.TARGET_RECALL`), or the best recall within
``max_ms``; the last request is kept,
so the automatic rebuild of a library that outgrew its type tunes for the same. The result is
recorded with the file (:class:`~tempme.index.reports.SearchTuning`) and searches use it
wherever :class:`~.policy.IndexParams` does not set nprobe / rerank itself.

``rebuild(factory, shards=N)`` pins an index type given as a FAISS ``index_factory`` string:
an IVF factory is trained on a sample, added in N shards (:mod:`.build`, :mod:`.shards`; Ray tasks
or this process) and merged into ``vectors-<N>.faiss`` + ``vectors-<N>.ivfdata``, which
searches map read-only. Results of lossy indexes (PQ, SQ codes) are re-ranked exactly with the
catalog's stored vectors (``IndexParams.rerank`` candidates per result).

Writing (``add``/``remove``/``save``/``rebuild``) is for the one indexer holding the library's lock.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
from tempme.index.errors import storage_boundary
from tempme.index.reports import IndexFileState, SearchTuning
from tempme.index.vectors.build import build_factory, check_factory
from tempme.index.vectors.index import VectorIndex, file_checksum
from tempme.index.vectors.policy import AUTO_KINDS, IndexParams, is_ivf
from tempme.index.vectors.protocols import VectorLedger, VectorStore  # noqa: F401 (VectorStore's home was here)
from tempme.index.vectors.rerank import rerank
from tempme.index.vectors.shards import ShardRunner
from tempme.index.vectors.sources import NpySource
from tempme.index.vectors.tune import TARGET_RECALL, TuneResult, check_budget, tune

log = logging.getLogger(__name__)


class FaissStore:
    """FAISS files in ``directory``, recorded in ``ledger`` (the library's catalog); see the module docstring."""

    def __init__(self, directory: Path, ledger: VectorLedger, params: IndexParams | None = None) -> None:
        self.directory = Path(directory)
        self.ledger = ledger
        self.params = params if params is not None else IndexParams()
        self._index: VectorIndex | None = None
        self._version = 0
        self._fresh: tuple[int, Path] | None = None  # an on-disk index rebuild wrote, not yet recorded
        self._tuning: SearchTuning | None = None
        self._tuning_unsaved = False
        self._request: tuple[float | None, float | None] = (TARGET_RECALL, None)  # (target recall, max ms)
        self._lock = threading.RLock()

    @property
    def ntotal(self) -> int:
        return self._index.ntotal if self._index is not None else 0

    @property
    def kind(self) -> str:
        return self._index.kind if self._index is not None else "none"

    @property
    def pinned(self) -> bool:
        return self._index is not None and self._index.pinned

    @property
    def version(self) -> int:
        return self._version

    @property
    def tuning(self) -> SearchTuning | None:
        return self._tuning

    @property
    def mapped(self) -> bool:
        """True when the index's lists are memory-mapped read-only from its file."""
        return self._index is not None and self._index.mapped is not None

    def ensure(self, dim: int) -> None:
        with self._lock:
            if self._index is None:
                self._index = VectorIndex.empty(dim, self.params)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        with self._lock:
            assert self._index is not None, "ensure(dim) first"
            self._index.add(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` (N,), already deleted from the ledger. An index type that cannot remove
        vectors (``caps.removal``: HNSW, NSG) is rebuilt from the ledger instead, as the same type."""
        with self._lock:
            index = self._index
            if index is None or not len(ids):
                return 0
            if index.caps.removal:
                return index.remove(ids)
            before = index.ntotal
            log.info("a %s index cannot remove vectors: rebuilding it from the catalog", index.kind)
            return before - self.rebuild(index.kind if index.pinned else None)

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._index.ids() if self._index is not None else np.zeros(0, np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        with self._lock:
            index = self._index
            if index is None:
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            factor = index.rerank
            if not (factor > 0 and k > 0):
                return index.search(q, k)
            _, candidates = index.search(q, min(max(k * factor, k), max(index.ntotal, k)))
            return rerank(q, candidates, self.ledger.stored_vectors, k)

    def _next_version(self) -> int:
        state = self.ledger.index_state()
        return max(state.version if state else 0, self._version, self._fresh[0] if self._fresh else 0) + 1

    def save(self) -> None:
        kept = "the previous index file is kept (the next open brings it up to date from the catalog)"
        with self._lock, storage_boundary("saving the vector index", kept):
            if self._index is None:
                return
            state = self.ledger.index_state()
            old = state.file if state else None
            if self._index.mapped is not None and self._fresh is None:  # unchanged since loaded
                if self._tuning_unsaved and state is not None:
                    self.ledger.record_index(dataclasses.replace(state, tuning=self._tuning))
                    self._tuning_unsaved = False
                return
            if self._index.mapped is not None:  # the on-disk index rebuild wrote: record it as it is
                version, path = self._fresh
                name, digest = path.name, file_checksum(path)
            else:
                version = self._next_version()
                name = f"vectors-{version}.faiss"
                (self.directory / name).with_suffix(".ivfdata").unlink(missing_ok=True)  # a killed rebuild's
                digest = self._index.save(self.directory / name)
            self.ledger.record_index(
                IndexFileState(version, name, self._index.kind, self._index.ntotal, digest, self._tuning)
            )
            self._version, self._fresh, self._tuning_unsaved = version, None, False
        keep = {Path(n).stem for n in (name, old) if n}
        for pattern in ("vectors-*.faiss", "vectors-*.ivfdata"):  # keep the previous file for open readers
            for f in self.directory.glob(pattern):
                if f.stem not in keep:
                    f.unlink(missing_ok=True)
        for f in self.directory.glob(".vectors-*.faiss.tmp-*"):  # left by a killed writer (we hold the lock)
            f.unlink(missing_ok=True)
        for d in self.directory.glob(".rebuild-*"):  # a killed rebuild's exported vectors
            shutil.rmtree(d, ignore_errors=True)

    def load(self) -> bool:
        with self._lock:
            state = self.ledger.index_state()
            version, name = (state.version, state.file) if state else (0, None)
            index = None
            if name and (self.directory / name).is_file():
                index = self._read(self.directory / name, state.id_checksum, state.kind)
            elif name:
                log.warning("%s: index file %s is missing; rebuilding from stored vectors", self.directory, name)
            dim = self.ledger.embed_dim()
            if index is not None and dim is not None and index.dim != dim:  # e.g. a reindex killed after its switch
                log.warning(
                    "%s: index file v%d holds vectors of width %d, the catalog %d: rebuilding from stored vectors",
                    self.directory, version, index.dim, dim,
                )  # fmt: skip
                index = None
            if index is None and dim is not None:
                return self._rebuild_lost(state, version)
            self._index, self._version, self._fresh = index, version, None
            self._tuning, self._tuning_unsaved = (state.tuning if state else None), False
            if self._tuning is not None:
                self._request = (self._tuning.target_recall, self._tuning.max_ms)
            if index is None:
                return False
            index.set_tuning(self._tuning)
            db_ids, index_ids = self.ledger.segment_ids(), index.ids()
            missing, extra = np.setdiff1d(db_ids, index_ids), np.setdiff1d(index_ids, db_ids)
            duplicates = len(index_ids) != len(np.unique(index_ids))
            if not (len(missing) or len(extra) or duplicates):
                return False
            log.warning(
                "%s: index file v%d disagrees with the catalog (%d vectors missing, %d extra): "
                "repairing from stored vectors",
                self.directory,
                version,
                len(missing),
                len(extra),
            )
            resized = not index.pinned and self.params.kind_for(len(db_ids)) != index.kind
            if duplicates or resized or (len(extra) and not index.caps.removal):
                self.rebuild(index.kind if index.pinned else None)  # or the repaired size calls for another type
            else:
                index.remove(extra)
                ids, vecs = self.ledger.stored_vectors(missing)
                index.add(vecs, ids)
            return True

    def _rebuild_lost(self, state: IndexFileState | None, version: int) -> bool:
        """No usable file (missing, damaged, another width): a fresh index from the ledger, of the
        recorded pinned type when it still builds, else by size. Returns True (to be saved)."""
        self._index, self._version, self._fresh = None, version, None
        pinned = state.kind if state is not None and state.kind not in AUTO_KINDS else None
        try:
            self.rebuild(pinned)
        except ValueError as e:  # the pinned type does not fit (too few vectors, another width)
            log.warning("index type %s cannot be rebuilt (%s): chosen by size instead", pinned, e)
            self.rebuild()
        return True

    def _read(self, path: Path, recorded: int, kind: str) -> VectorIndex | None:
        """The index in ``path``, or None (logged) when it is damaged: its bytes do not match the
        recorded checksum, or FAISS cannot read it."""
        try:
            actual = file_checksum(path)
            if actual != recorded:
                log.warning(
                    "%s does not match its recorded checksum (damaged, or written by an older "
                    "version): rebuilding the index from the catalog's vectors",
                    path,
                )
                return None
            return VectorIndex.load(path, self.params, kind)
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("%s cannot be read (%s): rebuilding the index from the catalog's vectors", path, exc)
            return None

    def is_stale(self) -> bool:
        state = self.ledger.index_state()
        version = state.version if state else 0
        count = self.ledger.segment_count()
        with self._lock:
            return version != self._version or count != self.ntotal

    def rebuild(
        self,
        factory: str | None = None,
        *,
        shards: int = 1,
        runner: ShardRunner | None = None,
        target_recall: float | None = None,
        max_ms: float | None = None,
    ) -> int:
        if target_recall is not None or max_ms is not None:
            check_budget(target_recall, max_ms)  # before any work
        with self._lock:
            dim = self.ledger.embed_dim()
            n = self.ledger.segment_count()
            kind = None
            if factory is None:  # past the fast-scan rung: IVF-PQ on disk
                factory = self.params.rebuild_factory(n, dim)
            if factory is None and dim is not None and self.params.kind_for(n) == "ivf-fs":
                factory, kind = self.params.factory_for(n, dim), "ivf-fs"  # built in shards, bounded memory
            if factory is None:
                ids, vecs = self.ledger.stored_vectors()
                self._index, self._fresh = VectorIndex.build(vecs, ids, vecs.shape[1], self.params), None
            else:
                self._index = self._build_pinned(factory.strip(), dim, shards, runner, kind)
            self._tuning, self._tuning_unsaved = None, True
            if target_recall is not None or max_ms is not None:
                self._request = (target_recall, max_ms)
            if self._index.ntotal >= 2 and (is_ivf(self._index.index) or self._index.lossy):
                self.tune(*self._request)
            return self._index.ntotal

    def tune(self, target_recall: float | None = None, max_ms: float | None = None) -> TuneResult:
        """Tune the current index on the catalog's vectors (:func:`.tune.tune`) for
        ``target_recall`` or ``max_ms``, and search with the result from now on; the next
        :meth:`save` records it. Raises ValueError (one line) for a bad budget or an empty index."""
        check_budget(target_recall, max_ms)
        with self._lock:
            index = self._index
            if index is None or index.ntotal < 2:
                raise ValueError("the library needs at least 2 vectors before its index can be tuned")
            ledger = self.ledger

            def lookup(ids: np.ndarray) -> np.ndarray:
                got, vecs = ledger.stored_vectors(ids)
                return vecs[np.searchsorted(got, ids)]

            result = tune(
                index.index,
                ledger.vector_chunks,
                lookup,
                n_stored=index.ntotal,
                videos=ledger.segment_videos,  # each query leaves its own video out
                target_recall=target_recall,
                max_ms=max_ms,
            )
            self._tuning, self._tuning_unsaved = result.tuning, True
            self._request = (target_recall, max_ms)
            index.set_tuning(result.tuning)  # also restores nprobe where IndexParams gives one
            return result

    def _build_pinned(self, factory: str, dim: int | None, shards: int, runner, kind: str | None = None) -> VectorIndex:
        """Export the catalog's vectors to ``.npy`` files in the library folder (every shard task
        maps them: shared storage on a cluster), build ``factory`` from them, drop the export."""
        if dim is None:
            raise ValueError("the library has no vectors yet: index videos before choosing an index type")
        check_factory(factory, dim)  # before any work: a bad string leaves everything as it was
        version = self._next_version()
        path = self.directory / f"vectors-{version}.faiss"
        for stale in (path, path.with_suffix(".ivfdata")):  # unrecorded leftovers of a killed rebuild
            stale.unlink(missing_ok=True)
        work = self.directory / f".rebuild-{version}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            n = self.ledger.segment_count()
            vecs = np.lib.format.open_memmap(work / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
            ids = np.lib.format.open_memmap(work / "ids.npy", mode="w+", dtype=np.int64, shape=(n,))
            row = 0
            for chunk_ids, chunk_vecs in self.ledger.vector_chunks():
                m = min(len(chunk_ids), n - row)  # an indexer cannot add meanwhile: we hold the lock
                ids[row : row + m], vecs[row : row + m] = chunk_ids[:m], chunk_vecs[:m]
                row += m
            vecs.flush(), ids.flush()
            del vecs, ids
            source = NpySource(work / "vectors.npy", work / "ids.npy")
            index, mapped = build_factory(factory, source, path, n_shards=shards, runner=runner)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("rebuilt the index as %s: %d vectors%s", factory, index.ntotal, " (on disk)" if mapped else "")
        self._fresh = (version, path) if mapped else None
        return VectorIndex.from_factory(factory, index, self.params, mapped=mapped, kind=kind)

    def needs_rebuild(self) -> bool:
        with self._lock:
            index = self._index
            return index is not None and not index.pinned and self.params.kind_for(index.ntotal) != index.kind
