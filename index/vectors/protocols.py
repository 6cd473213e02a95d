"""What the vector store needs and offers, as protocols: :class:`VectorLedger` (the catalog's
side: the recorded index file and the stored vectors) and :class:`VectorStore` (what the rest
of the library calls; :class:`~.store.FaissStore` implements it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
from tempme.index.reports import IndexFileState, SearchTuning
from tempme.index.vectors.shards import ShardRunner


class VectorLedger(Protocol):
    """The records a store keeps its files true to: the catalog (:class:`tempme.index.catalog.Catalog`),
    which holds every vector (the source of truth) and which file matches them."""

    def index_state(self) -> IndexFileState | None: ...

    def record_index(self, state: IndexFileState) -> None: ...

    def embed_dim(self) -> int | None: ...

    def segment_count(self) -> int: ...

    def segment_ids(self) -> np.ndarray:
        """(N,) int64, ascending."""

    def stored_vectors(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N,) ids (ascending) and their (N, D) float32 vectors: all, or those in ``ids``."""

    def vector_chunks(self, size: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored vector in ascending id order, ``size`` rows at a time."""

    def segment_videos(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every segment of the videos holding ``ids``: (M,) segment ids, (M,) their video ids."""


class VectorStore(Protocol):
    """Vectors keyed by int64 segment id, searched by inner product."""

    @property
    def ntotal(self) -> int: ...

    @property
    def kind(self) -> str: ...  # "none" before the first vector's dimension is known

    @property
    def pinned(self) -> bool: ...  # True when ``kind`` was chosen at rebuild, not by size

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

    @property
    def tuning(self) -> SearchTuning | None: ...  # how the index is searched, as measured (None: not tuned)

    def rebuild(
        self,
        factory: str | None = None,
        *,
        shards: int = 1,
        runner: ShardRunner | None = None,
        target_recall: float | None = None,
        max_ms: float | None = None,
    ) -> int:
        """A fresh index from the catalog's vectors: of type ``factory`` (pinned), or by size
        when None, tuned for ``target_recall`` or ``max_ms`` (None: the last request); returns N.
        Raises ValueError for a factory FAISS cannot build here or a bad budget (the old index
        is kept)."""

    def needs_rebuild(self) -> bool:
        """True when the library outgrew (or shrank below) its index type."""
