"""FAISS, the vector store's one engine: inner-product search over unit vectors keyed by segment id.

Thread counts are the caller's: FAISS searches with the OpenMP threads the entry point set
(``tempme serve`` and ``tempme search`` use one; a single query gains nothing from a team).

An ``IndexIDMap2`` (ids = SQLite segment ids) wraps an inner index chosen by size:

- ``flat``: exact inner product (``IndexFlatIP``) below ``ivf_threshold`` vectors;
- ``ivf``: ``IndexIVFFlat`` with a coarse quantizer trained on the stored vectors
  (nlist ~ 4 sqrt(N)), ``nprobe`` lists probed per query, below ``sq_threshold``;
- ``ivf-sq8``: the same with 8-bit scalar-quantized codes (``IndexIVFScalarQuantizer``).

The CPU index is the master copy (written to disk atomically). On a machine with a GPU the inner
index is cloned to GPU 0 for searching (``faiss.index_cpu_to_gpu``); positions it returns are
mapped to ids through the id map, so both paths give the same interface.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexParams:
    ivf_threshold: int = 200_000  # vectors; at or above this, IVF
    sq_threshold: int = 5_000_000  # vectors; at or above this, IVF with SQ8 codes
    nprobe: int = 128  # inverted lists probed per query (recall@10 0.96 at 1e6, bench/search.py)
    nlist: int | None = None  # default: 4 * sqrt(N) rounded to a power of two (>= 16)
    use_gpu: bool = True  # search on GPU 0 when faiss sees one

    def kind_for(self, n: int) -> str:
        if n >= self.sq_threshold:
            return "ivf-sq8"
        if n >= self.ivf_threshold:
            return "ivf"
        return "flat"

    def nlist_for(self, n: int) -> int:
        if self.nlist:
            return self.nlist
        return int(2 ** round(math.log2(max(4 * math.sqrt(n), 16))))


def _as_f32(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (N, {dim}), got {x.shape}")
    return x


class VectorIndex:
    """FAISS ``IndexIDMap2`` over inner product; see the module docstring."""

    def __init__(self, index: faiss.IndexIDMap2, kind: str, params: IndexParams):
        self.index = index
        self.kind = kind
        self.params = params
        self._gpu = None  # GPU clone of the inner index, rebuilt lazily after changes
        self._set_nprobe()

    @property
    def dim(self) -> int:
        return self.index.d

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @classmethod
    def empty(cls, dim: int, params: IndexParams = IndexParams()) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat", params)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, dim: int, params: IndexParams = IndexParams()) -> VectorIndex:
        """Build the index type that fits ``len(ids)`` and add (N, D) ``vectors`` under ``ids``."""
        vectors = _as_f32(vectors, dim)
        n = len(vectors)
        kind = params.kind_for(n)
        if kind == "flat":
            out = cls.empty(dim, params)
        else:
            nlist = min(params.nlist_for(n), max(n // 39, 1))
            quantizer = faiss.IndexFlatIP(dim)
            if kind == "ivf":
                inner = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                inner = faiss.IndexIVFScalarQuantizer(
                    quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
            rng = np.random.default_rng(0)
            train = vectors if n <= 64 * nlist else vectors[rng.choice(n, 64 * nlist, replace=False)]
            log.info("training %s index: %d lists on %d of %d vectors", kind, nlist, len(train), n)
            inner.train(train)
            inner.own_fields = False
            out = cls(faiss.IndexIDMap2(inner), kind, params)
            out._keep = (quantizer, inner)  # keep the SWIG objects alive
        out.add(vectors, ids)
        return out

    def _set_nprobe(self) -> None:
        if self.kind != "flat":
            faiss.extract_index_ivf(self.index.index).nprobe = self.params.nprobe

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add (N, D) unit vectors with int64 ``ids`` (N,)."""
        vectors = _as_f32(vectors, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
        if len(ids):
            self.index.add_with_ids(vectors, ids)
            self._gpu = None

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return 0
        removed = self.index.remove_ids(faiss.IDSelectorBatch(ids))
        self._gpu = None
        return int(removed)

    def ids(self) -> np.ndarray:
        """(N,) int64 ids in storage order."""
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def reconstruct(self, segment_id: int) -> np.ndarray:
        return self.index.reconstruct(int(segment_id))

    def _searcher(self):
        if not (self.params.use_gpu and faiss.get_num_gpus() > 0):
            return None
        if self._gpu is None:
            res = faiss.StandardGpuResources()
            self._gpu = (res, faiss.index_cpu_to_gpu(res, 0, self.index.index))
            if self.kind != "flat":
                faiss.GpuParameterSpace().set_index_parameter(self._gpu[1], "nprobe", self.params.nprobe)
        return self._gpu[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by inner product: (Q, D) queries -> scores (Q, K) float32, ids (Q, K) int64.

        Missing results (fewer than ``k`` vectors) have id -1 and score -inf.
        """
        queries = _as_f32(queries, self.dim)
        k = int(k)
        if self.ntotal == 0 or k <= 0:
            return (
                np.full((len(queries), max(k, 0)), -np.inf, np.float32),
                np.full((len(queries), max(k, 0)), -1, np.int64),
            )
        gpu = self._searcher()
        if gpu is None:
            scores, ids = self.index.search(queries, k)
        else:
            scores, pos = gpu.search(queries, min(k, 2048))  # GPU k limit
            id_map = self.ids()
            ids = np.where(pos >= 0, id_map[np.clip(pos, 0, None)], -1)
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> int:
        """Write atomically: a temporary file in the same folder, fsync, then rename. Returns the
        file's :func:`file_checksum`. On failure (a full disk) the temporary file is removed and
        ``path`` is untouched."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            faiss.write_index(self.index, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            digest = file_checksum(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    @classmethod
    def load(cls, path: Path, params: IndexParams = IndexParams()) -> VectorIndex:
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIDMap2):
            index = faiss.downcast_index(index)
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"{path}: expected an IndexIDMap2, got {type(index).__name__}")
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexIVFScalarQuantizer):
            kind = "ivf-sq8"
        elif isinstance(inner, faiss.IndexIVF):
            kind = "ivf"
        else:
            kind = "flat"
        return cls(index, kind, params)


def file_checksum(path: Path, chunk: int = 1 << 22) -> int:
    """63-bit fingerprint of a file's bytes (blake2b): every id and every vector component of a
    saved index is in it, so a truncated, overwritten or zeroed file does not match."""
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return int.from_bytes(h.digest(), "little") >> 1


def checksum(ids: np.ndarray) -> int:
    """Order-free fingerprint of an id set (its sum and size, mod 2**61 - 1)."""
    ids = np.asarray(ids, dtype=np.int64)
    m = (1 << 61) - 1
    return (int(ids.sum()) % m * 1_000_003 + len(ids)) % m
