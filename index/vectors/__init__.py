"""The vectors room: the only importer of FAISS. One size ladder (:mod:`.policy`), the index
(:mod:`.index`: flat / IVF / IVF-SQ8 or a pinned factory, on CPU or GPUs), building any factory
(:mod:`.build`, sharded and merged on disk by :mod:`.shards`, from :mod:`.sources`), exact
re-ranking of lossy results (:mod:`.rerank`), tuning nprobe / re-ranking on the library's own
vectors (:mod:`.tune`), and the versioned, self-repairing store
(:mod:`.store`) that the library keeps its vectors in."""

from tempme.index.vectors.build import (
    MAX_FACTORY_CHARS,
    build_factory,
    build_fast_scan,
    build_in_memory,
    check_factory,
    to_fast_scan,
    train_empty,
)
from tempme.index.vectors.caps import IndexCaps, caps_for, quiet_faiss
from tempme.index.vectors.index import VectorIndex, checksum, file_checksum, to_gpus
from tempme.index.vectors.policy import (
    AUTO_KINDS,
    FS_FROM,
    IVF_FROM,
    PQ_FROM,
    SQ8_FROM,
    IndexParams,
    factory_for,
    is_fast_scan,
    is_ivf,
    is_lossy,
    nlist_for,
    nlist_of,
    set_nprobe,
    training_size,
)
from tempme.index.vectors.protocols import VectorLedger, VectorStore
from tempme.index.vectors.rerank import rerank
from tempme.index.vectors.shards import (
    LocalRunner,
    OnDiskIndex,
    RayRunner,
    Shard,
    ShardRunner,
    add_rows,
    add_shard,
    build_ondisk,
    inverted_lists,
    open_index,
    plan_shards,
    runner_for,
)
from tempme.index.vectors.sources import ArraySource, NpySource, VectorSource, training_sample
from tempme.index.vectors.store import FaissStore
from tempme.index.vectors.threads import set_faiss_threads
from tempme.index.vectors.tune import TARGET_RECALL, TunePoint, TuneResult, check_budget, exact_neighbours, tune

__all__ = [
    "AUTO_KINDS",
    "FS_FROM",
    "TARGET_RECALL",
    "TunePoint",
    "TuneResult",
    "build_fast_scan",
    "check_budget",
    "exact_neighbours",
    "is_fast_scan",
    "to_fast_scan",
    "tune",
    "IVF_FROM",
    "MAX_FACTORY_CHARS",
    "PQ_FROM",
    "SQ8_FROM",
    "ArraySource",
    "FaissStore",
    "IndexCaps",
    "IndexParams",
    "LocalRunner",
    "NpySource",
    "OnDiskIndex",
    "RayRunner",
    "Shard",
    "ShardRunner",
    "VectorIndex",
    "VectorLedger",
    "VectorSource",
    "VectorStore",
    "add_rows",
    "add_shard",
    "build_factory",
    "build_in_memory",
    "build_ondisk",
    "caps_for",
    "check_factory",
    "checksum",
    "factory_for",
    "file_checksum",
    "inverted_lists",
    "is_ivf",
    "is_lossy",
    "nlist_for",
    "nlist_of",
    "open_index",
    "plan_shards",
    "quiet_faiss",
    "rerank",
    "runner_for",
    "set_nprobe",
    "set_faiss_threads",
    "to_gpus",
    "train_empty",
    "training_sample",
    "training_size",
]
