"""What an index type can do, declared once: remove vectors, needs training, search on a GPU;
and FAISS's own prints kept off stdout.

Not every FAISS index can delete vectors: HNSW and NSG graphs raise "remove_ids not implemented"
(``faiss::Index::remove_ids``). The store asks :func:`caps_for` before it removes anything and
rebuilds such an index from the catalog's vectors instead (:meth:`~.store.FaissStore.remove`).
Removal is found by asking FAISS itself: an empty index of the type is built and an empty id set
removed from it (cheap, and true for whatever FAISS version is installed).

GPU search follows FAISS's GPU cloner (``faiss/gpu/GpuCloner.cpp``): flat, IVF-Flat, IVF-SQ and
IVF-PQ indexes (behind an id map or a pre-transform) go to the GPU; others (HNSW, NSG, fast-scan
PQ) are searched on the CPU.

FAISS's C++ code prints some notes with ``printf`` (``IO_FLAG_ONDISK_SAME_DIR: updating ondisk
filename``, ``resizing ...``): on stdout, where ``--json`` output goes. :func:`quiet_faiss`
catches them at the file-descriptor level and logs them at DEBUG instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import faiss
import numpy as np
from tempme.index.vectors.policy import AUTO_KINDS

log = logging.getLogger(__name__)

_GPU_TYPES = ("IndexFlat", "IndexIVFFlat", "IndexIVFScalarQuantizer", "IndexIVFPQ")


@dataclass(frozen=True)
class IndexCaps:
    """What an index type supports: ``removal`` (``remove_ids``), ``training`` (it must be
    trained before vectors are added), ``gpu`` (FAISS can clone it to a GPU for searching)."""

    removal: bool
    training: bool
    gpu: bool


def _innermost(index: faiss.Index) -> faiss.Index:
    top = faiss.downcast_index(index)
    while True:
        if isinstance(top, faiss.IndexIDMap):
            top = faiss.downcast_index(top.index)
        elif isinstance(top, faiss.IndexPreTransform):
            top = faiss.downcast_index(top.index)
        else:
            return top


@functools.lru_cache(maxsize=64)
def caps_for(kind: str, dim: int) -> IndexCaps:
    """The capabilities of index type ``kind`` (an automatic kind or a FAISS factory string) at width ``dim``.

    Raises:
        ValueError: FAISS cannot build ``kind`` at width ``dim``.
    """
    if kind in AUTO_KINDS:  # IndexFlatIP, IVF-Flat, IVF-SQ8 behind an IndexIDMap2
        return IndexCaps(removal=True, training=kind != "flat", gpu=True)
    try:
        empty = faiss.index_factory(int(dim), kind, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"FAISS cannot build {kind!r} at width {dim}") from e
    probe = empty if faiss.try_extract_index_ivf(empty) is not None else faiss.IndexIDMap2(empty)
    try:
        probe.remove_ids(faiss.IDSelectorBatch(np.zeros(0, np.int64)))
        removal = True
    except RuntimeError:  # "remove_ids not implemented for this type of index"
        removal = False
    return IndexCaps(removal=removal, training=not empty.is_trained, gpu=type(_innermost(empty)).__name__ in _GPU_TYPES)


_quiet_lock = threading.RLock()
_libc = ctypes.CDLL(None)


@contextlib.contextmanager
def quiet_faiss(what: str = "faiss", fds: tuple[int, ...] = (1,)) -> Iterator[None]:
    """Run FAISS calls with file descriptors ``fds`` (stdout; add 2 for stderr, where FAISS's
    writer complains about a full disk mid-line) pointed at a temporary file; what they printed
    is logged at DEBUG. One at a time in a process (file descriptors are process-wide)."""
    with _quiet_lock, tempfile.TemporaryFile() as sink:
        sys.stdout.flush(), sys.stderr.flush()
        _libc.fflush(None)
        saved = [os.dup(fd) for fd in fds]
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            _libc.fflush(None)  # C's buffers into the sink, before the descriptors are given back
            for fd, old in zip(fds, saved):
                os.dup2(old, fd)
                os.close(old)
            sink.seek(0)
            printed = sink.read().decode("utf-8", "replace").strip()
            if printed:
                log.debug("%s printed: %s", what, printed)
