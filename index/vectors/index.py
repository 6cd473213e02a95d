"""FAISS, the vector store's one engine: inner-product search over unit vectors keyed by segment id.

Thread counts are the caller's: FAISS searches with the OpenMP threads the entry point set
(``tempme serve`` and ``tempme search`` use one; a single query gains nothing from a team), in
whichever thread searches (:mod:`.threads`).

An ``IndexIDMap2`` (ids = SQLite segment ids) wraps an inner index chosen by size:

- ``flat``: exact inner product (``IndexFlatIP``) below ``ivf_threshold`` vectors;
- ``ivf``: ``IndexIVFFlat`` with a coarse quantizer trained on the stored vectors
  (nlist ~ 4 sqrt(N)), ``nprobe`` lists probed per query, below ``sq_threshold``;
- ``ivf-sq8``: the same with 8-bit scalar-quantized codes (``IndexIVFScalarQuantizer``; only
  libraries built before issue 30, or with ``IndexParams(sq_threshold=...)``);
- ``ivf-fs``: IVF with 4-bit fast-scan PQ codes (``IndexIVFPQFastScan``, built by the store
  from :meth:`~.policy.IndexParams.factory_for`'s string, ids in its lists, no id map), held
  in memory (FAISS cannot map fast-scan lists from disk).

Or the type a user pinned with ``tempme rebuild --index FACTORY`` (:meth:`VectorIndex.from_factory`,
built by :mod:`.build`): its ``kind`` is the FAISS ``index_factory`` string itself.
An IVF factory (``IVF1024,Flat``, ``IVF4096,PQ64``, ``OPQ16,IVF256,PQ16``) keeps the segment
ids in its inverted lists (no id map) and is usually served memory-mapped from an on-disk file
(``vectors-N.faiss`` + ``vectors-N.ivfdata``); the first change (add, remove) copies its lists
into memory, and the next save writes an ordinary file. Other factories (``Flat``, ``PQ32``,
``HNSW32``) sit inside an ``IndexIDMap2`` in memory.

The CPU index is the master copy (written to disk atomically). On a machine with a GPU the inner
index is cloned to GPU 0 for searching (``faiss.index_cpu_to_gpu``), or sharded over every GPU
when there are several (:func:`to_gpus`, FAISS's ``index_cpu_to_all_gpus`` with
``shard=True``); positions it returns are
mapped to ids through the id map, so both paths give the same interface.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import faiss
import numpy as np
from tempme.index.reports import SearchTuning
from tempme.index.vectors.caps import IndexCaps, caps_for, quiet_faiss
from tempme.index.vectors.policy import AUTO_KINDS, IndexParams, is_fast_scan, is_ivf, is_lossy, ivf_of
from tempme.index.vectors.shards import open_index
from tempme.index.vectors.threads import faiss_threads_here

log = logging.getLogger(__name__)


def _as_f32(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (N, {dim}), got {x.shape}")
    return x


class VectorIndex:
    """FAISS over inner product (an ``IndexIDMap2``, or a bare IVF for pinned IVF factories);
    see the module docstring.

    Attributes:
        kind: ``flat`` / ``ivf`` / ``ivf-fs`` / ``ivf-sq8`` (chosen by size) or the pinned factory string.
        mapped: the file whose lists are memory-mapped read-only (None: all in memory).
        tuning: what the library measured for this index (:mod:`.tune`), or None.
    """

    def __init__(
        self,
        index: faiss.Index,
        kind: str,
        params: IndexParams | None,
        *,
        mapped: Path | None = None,
        tuning: SearchTuning | None = None,
    ):
        self.index = index
        self.kind = kind
        self.params = params if params is not None else IndexParams()
        self.mapped = mapped
        self.tuning = tuning
        self._gpu = None  # GPU clone of the inner index, rebuilt lazily after changes
        self._set_nprobe()

    @property
    def nprobe(self) -> int:
        """Lists probed per query: :meth:`IndexParams.search_nprobe` (given, tuned, or the settings')."""
        return self.params.search_nprobe(self.tuning)

    @property
    def rerank(self) -> int:
        """Re-rank factor of a lossy index: :meth:`IndexParams.search_rerank`; 0 for an exact one."""
        return self.params.search_rerank(self.tuning) if self.lossy else 0

    def set_tuning(self, tuning: SearchTuning | None) -> None:
        """Search with ``tuning`` (where :class:`IndexParams` does not say otherwise)."""
        self.tuning = tuning
        self._set_nprobe()
        self._gpu = None

    @property
    def pinned(self) -> bool:
        """True when the type is a factory chosen by the user (kept as the library grows)."""
        return self.kind not in AUTO_KINDS

    @property
    def caps(self) -> IndexCaps:
        """What this index type supports (removal, training, GPU search): :func:`.caps.caps_for`."""
        return caps_for(self.kind, self.dim)

    @property
    def lossy(self) -> bool:
        """True when search scores compressed codes (re-rank with exact vectors)."""
        return self.kind in ("ivf-sq8", "ivf-fs") or (self.pinned and is_lossy(self.index))

    @property
    def _id_mapped(self) -> bool:
        return isinstance(self.index, faiss.IndexIDMap2)

    @property
    def dim(self) -> int:
        return self.index.d

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @classmethod
    def empty(cls, dim: int, params: IndexParams | None = None) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat", params)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, dim: int, params: IndexParams | None = None) -> VectorIndex:
        """Build the index type that fits ``len(ids)`` and add (N, D) ``vectors`` under ``ids``."""
        params = params if params is not None else IndexParams()
        vectors = _as_f32(vectors, dim)
        n = len(vectors)
        kind = params.kind_for(n)
        if kind == "flat":
            out = cls.empty(dim, params)
        elif kind == "ivf-fs":  # in memory here; the store builds it in shards (build_factory)
            inner = faiss.index_factory(dim, params.factory_for(n, dim), faiss.METRIC_INNER_PRODUCT)
            nlist = ivf_of(inner).nlist
            rng = np.random.default_rng(0)
            train = vectors if n <= 64 * nlist else vectors[rng.choice(n, 64 * nlist, replace=False)]
            inner.train(train)
            out = cls(inner, kind, params)
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

    @classmethod
    def from_factory(
        cls,
        factory: str,
        index: faiss.Index,
        params: IndexParams | None = None,
        *,
        mapped=None,
        kind: str | None = None,
    ):
        """Wrap a filled index built from ``factory`` (:mod:`.build`): an IVF as it is (ids
        in its lists), anything else must already be an ``IndexIDMap2``. ``kind``: an automatic
        kind the factory implements (``ivf-fs``); default: the factory string (pinned)."""
        if not (is_ivf(index) or isinstance(index, faiss.IndexIDMap2)):
            raise ValueError(f"{factory}: expected an IVF index or an IndexIDMap2, got {type(index).__name__}")
        return cls(index, kind or factory, params, mapped=mapped)

    def _set_nprobe(self) -> None:
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None:
            ivf.nprobe = self.nprobe

    def _in_memory(self) -> None:
        """Before a change: copy memory-mapped (read-only) lists into memory."""
        if self.mapped is None:
            return
        ivf = faiss.extract_index_ivf(self.index)
        mapped = ivf.invlists
        lists = faiss.ArrayInvertedLists(ivf.nlist, mapped.code_size)
        for lst in range(ivf.nlist):
            n = mapped.list_size(lst)
            if n:
                lists.add_entries(lst, n, mapped.get_ids(lst), mapped.get_codes(lst))
        ivf.replace_invlists(lists, True)  # frees (unmaps) the mapped lists
        lists.this.disown()
        log.info("copied the memory-mapped lists of %s into memory (%d vectors)", self.mapped.name, self.ntotal)
        self.mapped = None

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add (N, D) unit vectors with int64 ``ids`` (N,)."""
        vectors = _as_f32(vectors, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
        if len(ids):
            self._in_memory()
            self.index.add_with_ids(vectors, ids)
            self._gpu = None

    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` (N,); returns how many were there.

        Raises:
            NotImplementedError: the type cannot remove vectors (``caps.removal`` is False: HNSW,
                NSG); the store rebuilds such an index from the catalog instead."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return 0
        if not self.caps.removal:
            raise NotImplementedError(f"a {self.kind} index cannot remove vectors")
        self._in_memory()
        removed = self.index.remove_ids(faiss.IDSelectorBatch(ids))
        self._gpu = None
        return int(removed)

    def ids(self) -> np.ndarray:
        """(N,) int64 ids in storage order (list by list for a bare IVF)."""
        if self._id_mapped:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        inv = faiss.extract_index_ivf(self.index).invlists
        parts = [
            faiss.rev_swig_ptr(inv.get_ids(lst), inv.list_size(lst)).astype(np.int64)
            for lst in range(inv.nlist)
            if inv.list_size(lst)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def reconstruct(self, segment_id: int) -> np.ndarray:
        return self.index.reconstruct(int(segment_id))

    @property
    def fast_scan(self) -> bool:
        """True for 4-bit fast-scan codes (searched on the CPU: FAISS has no GPU fast-scan)."""
        return isinstance(ivf_of(self.index), faiss.IndexIVFFastScan)

    def _searcher(self):
        if not (self.params.use_gpu and faiss.get_num_gpus() > 0 and self.caps.gpu) or self.fast_scan:
            return None
        if self._gpu is None:
            inner = self.index.index if self._id_mapped else self.index
            if faiss.get_num_gpus() > 1:  # FAISS's own sharding: each GPU holds 1/G of the lists' entries
                nprobe = self.nprobe if faiss.try_extract_index_ivf(self.index) is not None else None
                self._gpu = (None, to_gpus(inner, nprobe=nprobe))
                return self._gpu[1]
            res = faiss.StandardGpuResources()
            self._gpu = (res, faiss.index_cpu_to_gpu(res, 0, inner))
            if faiss.try_extract_index_ivf(self.index) is not None:
                faiss.GpuParameterSpace().set_index_parameter(self._gpu[1], "nprobe", self.nprobe)
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
            faiss_threads_here()  # OpenMP's count is per thread (a server searches in a thread pool)
            scores, ids = self.index.search(queries, k)
        else:
            scores, pos = gpu.search(queries, min(k, 2048))  # GPU k limit
            if self._id_mapped:  # positions -> ids
                id_map = self.ids()
                ids = np.where(pos >= 0, id_map[np.clip(pos, 0, None)], -1)
            else:  # a bare IVF stores the ids themselves
                ids = pos
        scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> int:
        """Write atomically: a temporary file in the same folder, fsync, then rename. Returns the
        file's :func:`file_checksum`. On failure (a full disk) the temporary file is removed and
        ``path`` is untouched. Memory-mapped lists are copied into memory first (the new file
        holds them all)."""
        path = Path(path)
        self._in_memory()
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with quiet_faiss(f"writing {path.name}", fds=(1, 2)):  # "close error: No space left on device"
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
    def load(cls, path: Path, params: IndexParams | None = None, kind: str | None = None) -> VectorIndex:
        """Read ``path``. ``kind``: the type the catalog recorded; a pinned factory is opened
        memory-mapped (its ``.ivfdata`` beside it, or the file itself), the others are read
        into memory and their kind comes from the file."""
        path = Path(path)
        if kind == "ivf-fs" or (kind is not None and kind not in AUTO_KINDS and is_fast_scan(kind)):
            index = faiss.read_index(str(path))  # fast-scan lists: read into memory (no mapping in FAISS)
            if not is_ivf(index):
                raise ValueError(f"{path}: expected an IVF index for {kind}, got {type(index).__name__}")
            return cls.from_factory(kind, index, params, kind=kind)
        if kind is not None and kind not in AUTO_KINDS:
            with open(path, "rb") as fh:
                fourcc = fh.read(4)
            if fourcc == b"IxM2":  # the IndexIDMap2 of a non-IVF factory: read into memory
                with quiet_faiss(f"reading {path.name}"):
                    return cls.from_factory(kind, faiss.read_index(str(path)), params)  # read_index downcasts
            ondisk = path.with_suffix(".ivfdata")
            index = open_index(path)  # an IVF: its lists mapped read-only (from .ivfdata, or this file)
            if not is_ivf(index):
                raise ValueError(f"{path}: expected an IVF index for {kind}, got {type(index).__name__}")
            return cls.from_factory(kind, index, params, mapped=ondisk if ondisk.is_file() else path)
        with quiet_faiss(f"reading {path.name}"):
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
    saved index is in it, so a truncated, overwritten or zeroed file does not match. An on-disk
    index's lists (``NAME.ivfdata`` beside ``NAME.faiss``) are part of it."""
    h = hashlib.blake2b(digest_size=8)
    path = Path(path)
    for part in (path, path.with_suffix(".ivfdata")):
        if part is not path and not part.is_file():
            continue
        with open(part, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return int.from_bytes(h.digest(), "little") >> 1


def checksum(ids: np.ndarray) -> int:
    """Order-free fingerprint of an id set (its sum and size, mod 2**61 - 1)."""
    ids = np.asarray(ids, dtype=np.int64)
    m = (1 << 61) - 1
    return (int(ids.sum()) % m * 1_000_003 + len(ids)) % m


def to_gpus(index: faiss.Index, *, ngpu: int | None = None, nprobe: int | None = None) -> faiss.Index:
    """The index sharded over ``ngpu`` GPUs (all by default): each holds 1/ngpu of the lists'
    entries and a query's results are merged on the host (``faiss.index_cpu_to_all_gpus`` with
    ``shard=True``). PQ lookup tables in float16 (needed past 48 KiB of shared memory).

    Raises:
        RuntimeError: FAISS sees no GPU.
    """
    available = faiss.get_num_gpus()
    if available == 0:
        raise RuntimeError("no GPU visible to FAISS (faiss.get_num_gpus() == 0); search on the CPU instead")
    ngpu = available if ngpu is None else min(int(ngpu), available)
    co = faiss.GpuMultipleClonerOptions()
    co.shard = True
    ivf = ivf_of(index)
    co.useFloat16 = isinstance(ivf, faiss.IndexIVFPQ)
    gpu = faiss.index_cpu_to_all_gpus(index, co=co, ngpu=ngpu)
    if nprobe is not None and ivf is not None:
        faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", int(nprobe))
    return gpu
