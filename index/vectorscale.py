"""Vectors at 10^7 - 10^8: FAISS index types by size, a sharded add, one on-disk inverted-list index.

Past about 10^7 vectors of width D = 512 a flat or IVF-Flat index no longer fits comfortably in
one process (10^8 x 512 float32 is 205 GB). The recipe is FAISS's own ("Indexes that do not fit
in RAM", ``faiss/contrib/ondisk.py``, ``benchs/distributed_ondisk``):

1. pick the index type from the size with an ``index_factory`` string (:func:`factory_for`):
   ``Flat`` -> ``IVF{nlist},Flat`` -> ``IVF{nlist},SQ8`` -> ``IVF{nlist},PQ{D/8}``
   (``IVF65536,PQ64`` at 10^8 and D = 512: 64 bytes a vector, 6.4 GB of codes);
2. train the coarse quantizer (and the codebooks) once, on a random sample
   (:func:`training_sample`, :func:`train_empty`), giving an empty trained index;
3. add in parallel shards: each task deserialises a copy of the trained empty index, adds its
   contiguous range of rows (ids kept: IVF stores them in the lists) and writes a shard file
   (:func:`add_shard`); a :class:`ShardRunner` says where the tasks run (in this process, or as
   Ray tasks on a cluster: :class:`RayRunner`);
4. merge the shards' inverted lists into one ``OnDiskInvertedLists`` file
   (``faiss.contrib.ondisk.merge_ondisk``; ``NAME.ivfdata`` beside ``NAME.faiss``) and serve it
   memory-mapped (:func:`open_index`): a search process holds the coarse quantizer and the pages
   of the lists it probes, not the whole index.

Shards are contiguous row ranges taken in order, so every inverted list of the merged index holds
the same entries in the same order as a single-process add on the same trained index: searches
return the same ids and the same distances (``tests/test_vectorscale.py``). With several GPUs,
:func:`to_gpus` shards the index over them (``faiss.index_cpu_to_all_gpus`` with
``GpuMultipleClonerOptions.shard``), FAISS's own multi-GPU search.

Metric: inner product on unit vectors (cosine), as everywhere in the library.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk

log = logging.getLogger(__name__)

# Sizes (vectors) at which the index type changes; see factory_for.
IVF_FROM = 200_000  # below: exact search (IndexFlatIP) is fast enough (index.vectors.IndexParams)
SQ8_FROM = 5_000_000  # IVF with 8-bit scalar codes: D bytes a vector
PQ_FROM = 10_000_000  # IVF with product-quantizer codes: D/8 bytes a vector

ADD_CHUNK = 65_536  # rows added at a time inside a shard (bounds the float32 temporaries)


def nlist_for(n: int, *, per_sqrt: float = 4.0) -> int:
    """Inverted lists for ``n`` vectors: ``per_sqrt * sqrt(n)`` rounded to a power of two (>= 16).

    FAISS's guideline is 4 to 16 sqrt(N) lists; the library uses 4 sqrt(N) for IVF-Flat/SQ8
    (``index.vectors.IndexParams``) and 8 sqrt(N) for IVF-PQ, whose lossy codes are cheap to scan
    but whose lists should stay short at 10^8 (65,536 lists there, ~1,500 vectors a list).
    """
    return int(2 ** round(math.log2(max(per_sqrt * math.sqrt(max(n, 1)), 16))))


def factory_for(n: int, dim: int) -> str:
    """The FAISS ``index_factory`` string for ``n`` vectors of width ``dim`` (inner product).

    >>> factory_for(10**5, 512), factory_for(10**6, 512), factory_for(10**8, 512)
    ('Flat', 'IVF4096,Flat', 'IVF65536,PQ64')

    Raises:
        ValueError: ``dim`` is not a positive multiple of 8 where PQ codes are needed.
    """
    if n < IVF_FROM:
        return "Flat"
    if n < SQ8_FROM:
        return f"IVF{nlist_for(n)},Flat"
    if n < PQ_FROM:
        return f"IVF{nlist_for(n)},SQ8"
    if dim <= 0 or dim % 8:
        raise ValueError(f"IVF-PQ needs a width divisible by 8 (8 dimensions per code byte), got {dim}")
    return f"IVF{nlist_for(n, per_sqrt=8.0)},PQ{dim // 8}"


_IVF = re.compile(r"(?:^|,)IVF(\d+)")
_FAISS_ERROR = re.compile(r"at \S+:\d+: (?:Error: '.*?' failed: )?")  # the prefix of FAISS's messages


def nlist_of(factory: str) -> int | None:
    """The number of inverted lists a factory string asks for (None for a non-IVF index)."""
    m = _IVF.search(factory)
    return int(m.group(1)) if m else None


def training_size(factory: str, n: int) -> int:
    """How many vectors to train on: 64 per list (FAISS warns below 39, and samples down above
    256), at least 10,000 for PQ/SQ codebooks, never more than ``n``."""
    nlist = nlist_of(factory)
    if nlist is None:
        return 0
    return min(n, max(64 * nlist, 10_000))


# ---- where vectors come from ---------------------------------------------------------------
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


# ---- the trained empty index ----------------------------------------------------------------
def train_empty(factory: str, sample: np.ndarray, *, seed: int = 0) -> faiss.Index:
    """An empty index of type ``factory`` (inner product) trained on the (S, D) ``sample``.

    Raises:
        ValueError: the factory string is not understood by FAISS, or the sample has fewer
        vectors than lists (k-means needs one a list; below 39 a list, FAISS's own guideline,
        training goes on with a warning: a small library's lists are rough, not wrong).
    """
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    dim = sample.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"FAISS does not understand index factory {factory!r} for width {dim}: {e}") from None
    nlist = nlist_of(factory)
    if nlist is not None and len(sample) < nlist:
        raise ValueError(f"{factory}: {len(sample)} training vectors for {nlist} lists; need at least {nlist}")
    if nlist is not None and len(sample) < 39 * nlist:
        log.warning("%s: %d training vectors for %d lists (FAISS suggests 39 a list)", factory, len(sample), nlist)
    if not index.is_trained:
        ivf = _ivf(index)
        if ivf is not None:
            ivf.cp.seed = seed  # the coarse k-means
        if isinstance(ivf, faiss.IndexIVFPQ):
            # index_factory turns on polysemous training for "PQm" (without "np"); it serves only
            # Hamming-filtered search, which the library does not use, and its simulated
            # annealing takes minutes of CPU for nothing.
            ivf.do_polysemous_training = False
        log.info("training %s on %d vectors", factory, len(sample))
        try:
            index.train(sample)
        except RuntimeError as e:  # e.g. fewer training vectors than a codebook has centroids
            why = _FAISS_ERROR.split(str(e).strip().splitlines()[-1])[-1]
            raise ValueError(f"{factory}: training on {len(sample)} vectors failed: {why}") from None
    return index


def _ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF index inside ``index`` (behind a pre-transform or an id map), as its own class."""
    ivf = faiss.try_extract_index_ivf(index)
    return None if ivf is None else faiss.downcast_index(ivf)


def _serialize(index: faiss.Index) -> np.ndarray:
    return faiss.serialize_index(index)


def _deserialize(blob: np.ndarray) -> faiss.Index:
    return faiss.deserialize_index(np.asarray(blob))


# ---- shards ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """Rows ``[start, stop)`` of the source, added into the index file at ``path``."""

    start: int
    stop: int
    path: Path


def plan_shards(n: int, n_shards: int, folder: Path) -> list[Shard]:
    """``n_shards`` contiguous ranges covering rows ``0..n`` (sizes differ by at most one)."""
    if n_shards < 1:
        raise ValueError(f"need at least one shard, got {n_shards}")
    n_shards = min(n_shards, max(n, 1))
    bounds = np.linspace(0, n, n_shards + 1).round().astype(np.int64)
    return [
        Shard(int(a), int(b), Path(folder) / f"shard-{i:04d}.faiss")
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]


def add_rows(index: faiss.Index, source: VectorSource, start: int, stop: int) -> None:
    """Add rows ``[start, stop)`` of ``source`` to ``index`` with their ids, a chunk at a time."""
    for a in range(start, stop, ADD_CHUNK):
        ids, vecs = source.read(a, min(stop, a + ADD_CHUNK))
        index.add_with_ids(vecs, ids)


def add_shard(trained: np.ndarray, source: VectorSource, shard: Shard) -> int:
    """One task: a copy of the serialised trained empty index, plus rows of ``shard``, written to
    ``shard.path``. Returns the number of vectors added."""
    index = _deserialize(trained)
    add_rows(index, source, shard.start, shard.stop)
    tmp = shard.path.with_name(f".{shard.path.name}.tmp-{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, shard.path)
    return int(index.ntotal)


class ShardRunner(Protocol):
    """Where shard tasks run: ``run(fn, shared, items)`` returns ``[fn(shared..., item) for item]``
    in order. ``shared`` is a tuple of arguments common to every task (sent once)."""

    def run(self, fn: Callable[..., Any], shared: tuple, items: Sequence[Any]) -> list[Any]: ...


class LocalRunner:
    """Every task in this process, one after another."""

    def run(self, fn, shared, items):
        return [fn(*shared, item) for item in items]


class RayRunner:
    """Each task as a Ray task of ``num_cpus`` CPUs; shared arguments go into the object store
    once. Connects to ``address`` (``auto``, ``HOST:PORT``; None starts or joins a local Ray)
    unless Ray is already initialised. Needs ``tempme[scale]``."""

    def __init__(self, address: str | None = None, num_cpus: float = 1.0):
        import ray

        self.ray = ray
        self.num_cpus = num_cpus
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)

    def run(self, fn, shared, items):
        ray = self.ray
        refs = [ray.put(x) for x in shared]
        task = ray.remote(num_cpus=self.num_cpus, max_retries=2)(fn)
        return ray.get([task.remote(*refs, item) for item in items])


# ---- build, merge, open ---------------------------------------------------------------------
@dataclass(frozen=True)
class OnDiskIndex:
    """An IVF index whose lists live in ``ivfdata`` (the file ``path`` refers to)."""

    path: Path  # NAME.faiss: quantizer, codebooks, list offsets
    ivfdata: Path  # NAME.ivfdata: the inverted lists (codes + ids)
    factory: str
    ntotal: int


def build_in_memory(trained: faiss.Index, source: VectorSource) -> faiss.Index:
    """The single-process build: every row of ``source`` added to a copy of ``trained``, in order."""
    index = faiss.clone_index(trained)
    add_rows(index, source, 0, len(source))
    return index


def build_ondisk(
    trained: faiss.Index,
    source: VectorSource,
    path: Path,
    *,
    factory: str,
    n_shards: int = 1,
    runner: ShardRunner | None = None,
) -> OnDiskIndex:
    """Add ``source`` in ``n_shards`` tasks on ``runner`` and merge them into ``path`` (``.faiss``)
    + ``path.with_suffix('.ivfdata')``. Shard files go to a folder beside ``path`` (every worker
    must see it: use shared storage on a cluster) and are removed after the merge.

    Raises:
        ValueError: ``trained`` is not an empty, trained IVF index.
        FileExistsError: ``path`` or its ``.ivfdata`` already exists (files are never overwritten:
        an open reader may be mapping them).
    """
    path = Path(path)
    ivfdata = path.with_suffix(".ivfdata")
    if _ivf(trained) is None:
        raise ValueError(f"{factory}: on-disk lists need an IVF index")
    if not trained.is_trained or trained.ntotal:
        raise ValueError(
            f"{factory}: expected a trained empty index, got is_trained={trained.is_trained}, ntotal={trained.ntotal}"
        )
    for p in (path, ivfdata):
        if p.exists():
            raise FileExistsError(f"{p} exists; on-disk indexes are written once under a new name")
    work = path.with_name(f".{path.name}.shards")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        shards = plan_shards(len(source), n_shards, work)
        runner = runner or LocalRunner()
        log.info("adding %d vectors in %d shards (%s)", len(source), len(shards), type(runner).__name__)
        counts = runner.run(add_shard, (_serialize(trained), source), shards)
        assert sum(counts) == len(source), (counts, len(source))
        merged = faiss.clone_index(trained)
        merge_ondisk(merged, [str(s.path) for s in shards], str(ivfdata))
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        faiss.write_index(merged, str(tmp))
        for p in (ivfdata, tmp):
            with open(p, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        ntotal = int(merged.ntotal)
        del merged  # unmaps the lists
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return OnDiskIndex(path=path, ivfdata=ivfdata, factory=factory, ntotal=ntotal)


def open_index(path: Path, *, nprobe: int | None = None, mmap: bool = True) -> faiss.Index:
    """Read an index for searching; sets ``nprobe`` on IVF indexes when given.

    An on-disk index (a ``.ivfdata`` beside ``path``) always maps its lists, read-only, from the
    ``.ivfdata`` found beside ``path`` (so the folder may be mounted anywhere). Another index file
    is mapped with ``IO_FLAG_MMAP`` when ``mmap`` (its lists stay in the page cache, not in the
    process), else read into memory. (``IO_FLAG_MMAP`` includes ``IO_FLAG_SKIP_IVF_DATA``, which
    on an on-disk index would leave its lists unmapped: never pass it there.)
    """
    path = Path(path)
    if path.with_suffix(".ivfdata").is_file():
        flags = faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY
    else:
        flags = faiss.IO_FLAG_MMAP if mmap else 0
    index = faiss.read_index(str(path), flags)
    if nprobe is not None:
        set_nprobe(index, nprobe)
    return index


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    ivf = _ivf(index)
    if ivf is not None:
        ivf.nprobe = int(nprobe)


def inverted_lists(index: faiss.Index) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids (n_l,), codes (n_l, code_size) uint8) of every list, in list order (for tests and
    inspection; reads the whole index)."""
    ivf = faiss.extract_index_ivf(index)
    inv = ivf.invlists
    out = []
    for lst in range(ivf.nlist):
        n = inv.list_size(lst)
        if n == 0:
            out.append((np.zeros(0, np.int64), np.zeros((0, inv.code_size), np.uint8)))
            continue
        ids = faiss.rev_swig_ptr(inv.get_ids(lst), n).copy()
        codes = faiss.rev_swig_ptr(inv.get_codes(lst), n * inv.code_size).copy().reshape(n, inv.code_size)
        out.append((ids.astype(np.int64), codes))
    return out


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
    ivf = _ivf(index)
    co.useFloat16 = isinstance(ivf, faiss.IndexIVFPQ)
    gpu = faiss.index_cpu_to_all_gpus(index, co=co, ngpu=ngpu)
    if nprobe is not None and ivf is not None:
        faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", int(nprobe))
    return gpu


# ---- checking a factory string, re-ranking lossy results ------------------------------------
MAX_FACTORY_CHARS = 32  # the catalog's index_type column (index.models.IndexState)


def check_factory(factory: str, dim: int) -> faiss.Index:
    """The empty index FAISS builds from ``factory`` (inner product, width ``dim``), or a one-line
    ValueError: FAISS does not parse it, it is longer than the catalog records
    (:data:`MAX_FACTORY_CHARS`), or it asks for a refine stage (``RFlat``: full float32 copies in
    memory; the library re-ranks with the catalog's stored vectors instead, :func:`rerank`)."""
    factory = factory.strip()
    if not factory or len(factory) > MAX_FACTORY_CHARS:
        raise ValueError(f"index factory {factory!r}: expected 1 to {MAX_FACTORY_CHARS} characters")
    try:
        index = faiss.index_factory(int(dim), factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        why = _FAISS_ERROR.split(str(e).strip().splitlines()[-1])[-1]
        raise ValueError(f"FAISS does not understand index factory {factory!r} for width {dim}: {why}") from None
    if isinstance(faiss.downcast_index(index), faiss.IndexRefine):
        raise ValueError(
            f"index factory {factory!r}: refine stages (RFlat, Refine(...)) keep every vector in memory; "
            "leave them out (the library re-ranks lossy results with the catalog's stored vectors)"
        )
    return index


def is_ivf(index: faiss.Index) -> bool:
    """True for an IVF index, bare or behind a pre-transform (its ids live in its lists)."""
    top = faiss.downcast_index(index)
    return _ivf(top) is not None and isinstance(top, (faiss.IndexIVF, faiss.IndexPreTransform))


def is_lossy(index: faiss.Index) -> bool:
    """True when the index scores compressed codes (PQ, SQ, ...), not the float32 vectors."""
    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexIDMap):
        top = faiss.downcast_index(top.index)
    ivf = _ivf(top)
    if ivf is not None:
        return not isinstance(ivf, faiss.IndexIVFFlat) or isinstance(top, faiss.IndexPreTransform)
    return not isinstance(top, (faiss.IndexFlat, faiss.IndexHNSWFlat))


def rerank(
    queries: np.ndarray,
    candidates: np.ndarray,
    lookup: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact re-ranking: (Q, D) queries and (Q, K') candidate ids (-1: none) from a lossy index
    -> scores (Q, k) float32 (exact inner products), ids (Q, k) int64 (-1 / -inf where fewer).

    ``lookup(ids)`` returns ``(ids', vectors)`` for the unique ids asked (any order; ids it does
    not know are left out, e.g. removed meanwhile): the catalog's stored float32 vectors, or any
    other exact copy. Ties keep the candidates' order (stable sort).
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    candidates = np.asarray(candidates, dtype=np.int64)
    q = len(queries)
    out_s = np.full((q, k), -np.inf, np.float32)
    out_i = np.full((q, k), -1, np.int64)
    wanted = np.unique(candidates[candidates >= 0])
    if not len(wanted):
        return out_s, out_i
    known, vecs = lookup(wanted)
    known = np.asarray(known, dtype=np.int64)
    order = np.argsort(known, kind="stable")
    known, vecs = known[order], np.asarray(vecs, dtype=np.float32)[order]
    for row in range(q):
        cand = candidates[row][candidates[row] >= 0]
        pos = np.searchsorted(known, cand)
        pos = np.minimum(pos, len(known) - 1)
        ok = known[pos] == cand
        cand, pos = cand[ok], pos[ok]
        exact = vecs[pos] @ queries[row]  # (K',)
        top = np.argsort(-exact, kind="stable")[:k]
        out_s[row, : len(top)] = exact[top]
        out_i[row, : len(top)] = cand[top]
    return out_s, out_i


def build_factory(
    factory: str,
    source: VectorSource,
    path: Path,
    *,
    n_shards: int = 1,
    runner: ShardRunner | None = None,
    seed: int = 0,
) -> tuple[faiss.Index, Path | None]:
    """Build ``factory`` over every row of ``source``: returns (the filled index, the file whose
    lists it maps, or None when it lives in memory).

    An IVF factory is trained on a sample (:func:`training_size`), added in ``n_shards`` tasks on
    ``runner`` and merged on disk into ``path`` + ``.ivfdata`` (:func:`build_ondisk`), then opened
    memory-mapped (:func:`open_index`). Any other factory (``Flat``, ``PQ32``, ``HNSW32``) is
    trained in memory if it needs it and filled inside an ``IndexIDMap2`` (nothing written).

    Raises:
        ValueError: see :func:`check_factory` and :func:`train_empty`.
    """
    index = check_factory(factory, source.dim)
    n = len(source)
    if is_ivf(index):
        sample = training_sample(source, training_size(factory, n), seed=seed)
        trained = train_empty(factory, sample, seed=seed)
        built = build_ondisk(trained, source, path, factory=factory, n_shards=n_shards, runner=runner)
        return open_index(built.path), built.ivfdata
    if not index.is_trained:
        sample = training_sample(source, min(n, 100_000), seed=seed)
        try:
            index.train(sample)
        except RuntimeError as e:
            why = _FAISS_ERROR.split(str(e).strip().splitlines()[-1])[-1]
            raise ValueError(f"{factory}: training on {len(sample)} vectors failed: {why}") from None
    mapped = faiss.IndexIDMap2(index)
    add_rows(mapped, source, 0, n)
    return mapped, None
