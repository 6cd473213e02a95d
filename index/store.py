"""The vector store: a small :class:`VectorStore` protocol and its FAISS implementation.

:class:`FaissStore` keeps one in-memory FAISS index (:class:`index.vectors.VectorIndex`) for a
library folder. ``save`` writes it to a new versioned file (``vectors-<N>.faiss``, atomically)
and then records that file, its size and a checksum of its bytes in the catalog; ``load`` reads
the file the catalog points at and repairs it from the catalog's stored vectors when the ids
disagree (a run killed between a commit and the next save). A file that does not match its
recorded checksum (of every byte: ids and vectors), or that FAISS cannot read (truncated,
garbage), is never trusted: the index is rebuilt from the catalog instead. The previous file is kept for
readers that have not reloaded yet. All methods are thread-safe (one lock: searches, changes
and reloads take turns).

Writing (``add``/``remove``/``save``/``rebuild``) is for the one indexer that holds the
library's lock; the store itself does not lock files.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
from tempme.index.catalog import Catalog, IndexFileState
from tempme.index.vectors import IndexParams, VectorIndex, file_checksum

log = logging.getLogger(__name__)


class VectorStore(Protocol):
    """Vectors keyed by int64 segment id, searched by inner product."""

    @property
    def ntotal(self) -> int: ...

    @property
    def kind(self) -> str: ...  # "none" before the first vector's dimension is known

    @property
    def version(self) -> int: ...  # of the file last loaded or saved (0: none)

    def ensure(self, dim: int) -> None:
        """Make an empty index of width ``dim`` if there is none yet."""

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """(N, D) unit vectors under (N,) ids."""

    def remove(self, ids: np.ndarray) -> int: ...

    def ids(self) -> np.ndarray:
        """(N,) int64."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) -> scores (Q, K) float32, ids (Q, K) int64 (-1 / -inf where none)."""

    def save(self) -> None:
        """Persist as a new version and record it in the catalog."""

    def load(self) -> bool:
        """Load the recorded version, repaired from the catalog; True if it had to be repaired."""

    def is_stale(self) -> bool:
        """True when the catalog records a newer version (or another number of vectors)."""

    def rebuild(self) -> int:
        """A fresh index, of the type that fits the size, from the catalog's vectors; returns N."""

    def needs_rebuild(self) -> bool:
        """True when the library outgrew (or shrank below) its index type."""


class FaissStore:
    """FAISS files in ``directory``, recorded in ``catalog``; see the module docstring."""

    def __init__(self, directory: Path, catalog: Catalog, params: IndexParams = IndexParams()) -> None:
        self.directory = Path(directory)
        self.catalog = catalog
        self.params = params
        self._index: VectorIndex | None = None
        self._version = 0
        self._lock = threading.RLock()

    @property
    def ntotal(self) -> int:
        return self._index.ntotal if self._index is not None else 0

    @property
    def kind(self) -> str:
        return self._index.kind if self._index is not None else "none"

    @property
    def version(self) -> int:
        return self._version

    def ensure(self, dim: int) -> None:
        with self._lock:
            if self._index is None:
                self._index = VectorIndex.empty(dim, self.params)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        with self._lock:
            assert self._index is not None, "ensure(dim) first"
            self._index.add(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        with self._lock:
            return self._index.remove(ids) if self._index is not None else 0

    def ids(self) -> np.ndarray:
        with self._lock:
            return self._index.ids() if self._index is not None else np.zeros(0, np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        with self._lock:
            if self._index is None:
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            return self._index.search(q, k)

    def save(self) -> None:
        with self._lock:
            if self._index is None:
                return
            state = self.catalog.index_state()
            old = state.file if state else None
            version = max(state.version if state else 0, self._version) + 1
            name = f"vectors-{version}.faiss"
            digest = self._index.save(self.directory / name)
            self.catalog.record_index(IndexFileState(version, name, self._index.kind, self._index.ntotal, digest))
            self._version = version
        for f in self.directory.glob("vectors-*.faiss"):  # keep the previous file for open readers
            if f.name not in (name, old):
                f.unlink(missing_ok=True)
        for f in self.directory.glob(".vectors-*.faiss.tmp-*"):  # left by a killed writer (we hold the lock)
            f.unlink(missing_ok=True)

    def load(self) -> bool:
        with self._lock:
            state = self.catalog.index_state()
            version, name = (state.version, state.file) if state else (0, None)
            index = None
            if name and (self.directory / name).is_file():
                index = self._read(self.directory / name, state.id_checksum)
            elif name:
                log.warning("%s: index file %s is missing; rebuilding from stored vectors", self.directory, name)
            dim = self.catalog.embed_dim()
            if index is None and dim is not None:
                index = VectorIndex.empty(dim, self.params)
            self._index, self._version = index, version
            if index is None:
                return False
            db_ids, index_ids = self.catalog.segment_ids(), index.ids()
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
            if duplicates or self.params.kind_for(len(db_ids)) != index.kind:
                self.rebuild()  # also when the repaired size calls for another index type
            else:
                index.remove(extra)
                ids, vecs = self.catalog.stored_vectors(missing)
                index.add(vecs, ids)
            return True

    def _read(self, path: Path, recorded: int) -> VectorIndex | None:
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
            return VectorIndex.load(path, self.params)
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("%s cannot be read (%s): rebuilding the index from the catalog's vectors", path, exc)
            return None

    def is_stale(self) -> bool:
        state = self.catalog.index_state()
        version = state.version if state else 0
        count = self.catalog.segment_count()
        with self._lock:
            return version != self._version or count != self.ntotal

    def rebuild(self) -> int:
        with self._lock:
            ids, vecs = self.catalog.stored_vectors()
            self._index = VectorIndex.build(vecs, ids, vecs.shape[1], self.params)
            return self._index.ntotal

    def needs_rebuild(self) -> bool:
        with self._lock:
            return self._index is not None and self.params.kind_for(self._index.ntotal) != self._index.kind
