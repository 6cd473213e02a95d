"""Where vectors come from when an index is built: rows of (id, vector) in a fixed order that
shard tasks can read a range of (picklable: in memory, or two ``.npy`` files every worker maps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

ADD_CHUNK = 65_536  # rows added at a time inside a shard (bounds the float32 temporaries)


class VectorSource(Protocol):
    """Rows of (id, vector) in a fixed order; picklable, so that shard tasks can read their range.

    ``read(start, stop)`` returns ids (n,) int64 and vectors (n, D) float32 of rows
    ``start <= row < stop``.
    """

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ArraySource:
    """Vectors (N, D) float32 and ids (N,) int64 held in memory (or ``np.memmap``)."""

    vectors: np.ndarray
    ids: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.ids):
            raise ValueError(f"expected vectors (N, D) and ids (N,), got {self.vectors.shape} and {self.ids.shape}")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.ascontiguousarray(self.ids[start:stop], dtype=np.int64),
            np.ascontiguousarray(self.vectors[start:stop], dtype=np.float32),
        )


@dataclass(frozen=True)
class NpySource:
    """Vectors and ids in two ``.npy`` files on storage every worker sees, opened memory-mapped
    by each reader (only paths travel to the tasks)."""

    vectors_path: Path
    ids_path: Path

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        vecs = np.load(self.vectors_path, mmap_mode="r")
        ids = np.load(self.ids_path, mmap_mode="r")
        if vecs.ndim != 2 or len(vecs) != len(ids):
            raise ValueError(f"{self.vectors_path}: shape {vecs.shape} does not match {self.ids_path}: {ids.shape}")
        return vecs, ids

    @property
    def dim(self) -> int:
        return int(self._open()[0].shape[1])

    def __len__(self) -> int:
        return len(self._open()[1])

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        vecs, ids = self._open()
        return (
            np.ascontiguousarray(ids[start:stop], dtype=np.int64),
            np.ascontiguousarray(vecs[start:stop], dtype=np.float32),
        )


def training_sample(source: VectorSource, size: int, *, seed: int = 0) -> np.ndarray:
    """(size, D) float32 rows drawn uniformly without replacement (in row order, read in runs)."""
    n = len(source)
    size = min(int(size), n)
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    out = np.empty((size, source.dim), np.float32)
    for a in range(0, size, ADD_CHUNK):  # one read per chunk of sampled rows, from its first to last row
        part = rows[a : a + ADD_CHUNK]
        _, vecs = source.read(int(part[0]), int(part[-1]) + 1)
        out[a : a + len(part)] = vecs[part - part[0]]
    return out
