"""Past 10^7 vectors: add in parallel shards, merge them into one on-disk inverted-list index.

Past about 10^7 vectors of width D = 512 a flat or IVF-Flat index no longer fits comfortably in
one process (10^8 x 512 float32 is 205 GB). The recipe is FAISS's own ("Indexes that do not fit
in RAM", ``faiss/contrib/ondisk.py``, ``benchs/distributed_ondisk``), after the trained empty
index (:mod:`.build`):

1. add in parallel shards: each task deserialises a copy of the trained empty index, adds its
   contiguous range of rows (ids kept: IVF stores them in the lists) and writes a shard file
   (:func:`add_shard`); a :class:`ShardRunner` says where the tasks run (in this process, or as
   Ray tasks on a cluster: :class:`RayRunner`);
2. merge the shards' inverted lists into one ``OnDiskInvertedLists`` file
   (``faiss.contrib.ondisk.merge_ondisk``; ``NAME.ivfdata`` beside ``NAME.faiss``) and serve it
   memory-mapped (:func:`open_index`): a search process holds the coarse quantizer and the pages
   of the lists it probes, not the whole index.

Shards are contiguous row ranges taken in order, so every inverted list of the merged index holds
the same entries in the same order as a single-process add on the same trained index: searches
return the same ids and the same distances (``tests/test_vectorscale.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk
from tempme.index.vectors.caps import quiet_faiss
from tempme.index.vectors.policy import ivf_of, set_nprobe
from tempme.index.vectors.sources import ADD_CHUNK, VectorSource

log = logging.getLogger(__name__)


def serialize(index: faiss.Index) -> np.ndarray:
    return faiss.serialize_index(index)


def deserialize(blob: np.ndarray) -> faiss.Index:
    return faiss.deserialize_index(np.asarray(blob))


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
    index = deserialize(trained)
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


def runner_for(shards: int, address: str | None = None) -> ShardRunner | None:
    """Where ``shards`` shard tasks run: Ray tasks (on ``address``, or a local Ray) when there
    are several and Ray is installed, else None (this process, said in the log)."""
    if shards <= 1:
        return None
    try:
        return RayRunner(address)
    except ImportError:
        log.warning("Ray is not installed (pip install 'tempme[scale]'): adding %d shards here", shards)
        return None


@dataclass(frozen=True)
class OnDiskIndex:
    """An IVF index whose lists live in ``ivfdata`` (the file ``path`` refers to)."""

    path: Path  # NAME.faiss: quantizer, codebooks, list offsets
    ivfdata: Path  # NAME.ivfdata: the inverted lists (codes + ids)
    factory: str
    ntotal: int


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
    if ivf_of(trained) is None:
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
        counts = runner.run(add_shard, (serialize(trained), source), shards)
        assert sum(counts) == len(source), (counts, len(source))
        merged = faiss.clone_index(trained)
        with quiet_faiss("merging on-disk lists"):  # FAISS prints "resizing ..." on stdout
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
    with quiet_faiss(f"reading {path.name}"):  # "IO_FLAG_ONDISK_SAME_DIR: updating ..." on stdout
        index = faiss.read_index(str(path), flags)
    if nprobe is not None:
        set_nprobe(index, nprobe)
    return index


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
