"""Build any FAISS index the library can hold from a :class:`~.sources.VectorSource`.

:func:`check_factory` refuses, in one line, a factory string FAISS does not parse, one longer
than the catalog records, or one with a refine stage; :func:`train_empty` trains the coarse
quantizer (and codebooks) once, on a random sample (:func:`~.sources.training_sample`), giving
an empty trained index; :func:`build_factory` fills it: an IVF in shards merged on disk
(:mod:`.shards`), anything else in memory inside an ``IndexIDMap2``.

Metric: inner product on unit vectors (cosine), as everywhere in the library.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import faiss
import numpy as np
from tempme.index.vectors.policy import is_ivf, ivf_of, nlist_of, training_size
from tempme.index.vectors.shards import ShardRunner, add_rows, build_ondisk, open_index
from tempme.index.vectors.sources import VectorSource, training_sample

log = logging.getLogger(__name__)

_FAISS_ERROR = re.compile(r"at \S+:\d+: (?:Error: '.*?' failed: )?")  # the prefix of FAISS's messages
MAX_FACTORY_CHARS = 32  # the catalog's index_type column (catalog.models.IndexState)


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
        ivf = ivf_of(index)
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


def build_in_memory(trained: faiss.Index, source: VectorSource) -> faiss.Index:
    """The single-process build: every row of ``source`` added to a copy of ``trained``, in order."""
    index = faiss.clone_index(trained)
    add_rows(index, source, 0, len(source))
    return index


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
