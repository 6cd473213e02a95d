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
from tempme.index.vectors.policy import is_fast_scan, is_ivf, ivf_of, nlist_of, training_size
from tempme.index.vectors.shards import ShardRunner, add_rows, build_ondisk, open_index
from tempme.index.vectors.sources import VectorSource, training_sample

log = logging.getLogger(__name__)

_FAISS_ERROR = re.compile(r"at \S+:\d+: (?:Error: '.*?' failed: )?")  # the prefix of FAISS's messages
MAX_FACTORY_CHARS = 32  # the catalog's index_type column (catalog.models.IndexState)
_FAST_SUFFIX = re.compile(r"x4fsr?\b")


def train_empty(factory: str, sample: np.ndarray, *, seed: int = 0, by_residual: bool | None = None) -> faiss.Index:
    """An empty index of type ``factory`` (inner product) trained on the (S, D) ``sample``
    (``by_residual``: set the IVF's residual encoding first, when given).

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
    if by_residual is not None:
        ivf_of(index).by_residual = by_residual
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


def to_fast_scan(index: faiss.Index) -> faiss.Index:
    """The same IVF index with its 4-bit PQ codes repacked for FAISS's fast-scan kernels
    (``IndexIVFPQFastScan(IndexIVFPQ)``: the same codes, quantizer and ids, in blocks of 32),
    behind the same pre-transform if any; an independent copy (written and read back).

    Raises:
        ValueError: not an IVF-PQ index with 4-bit codes.
    """
    top = faiss.downcast_index(index)
    ivf = ivf_of(top)
    if not isinstance(ivf, faiss.IndexIVFPQ) or ivf.pq.nbits != 4:
        raise ValueError(f"fast-scan needs IVF-PQ with 4-bit codes, got {type(ivf).__name__}")
    out = faiss.IndexIVFPQFastScan(ivf)  # shares ivf's quantizer: serialised below while both live
    if isinstance(top, faiss.IndexPreTransform):
        wrapped = faiss.IndexPreTransform(out)
        for i in reversed(range(top.chain.size())):
            wrapped.prepend_transform(top.chain.at(i))
        out = wrapped
    return faiss.deserialize_index(faiss.serialize_index(out))


def build_fast_scan(
    factory: str,
    source: VectorSource,
    path: Path,
    *,
    n_shards: int = 1,
    runner: ShardRunner | None = None,
    seed: int = 0,
) -> faiss.Index:
    """A filled fast-scan IVF index (``IVF{n},PQ{m}x4fs`` / ``x4fsr``) in memory.

    FAISS cannot merge fast-scan lists on disk (their codes are packed in blocks of 32), so the
    same index is built as plain 4-bit PQ (``PQ{m}x4``, residual encoding as the factory asks)
    in shards merged on disk beside ``path`` (:func:`build_ondisk`), then repacked
    (:func:`to_fast_scan`) and the on-disk files removed. At 10^7 x 512 with ``PQ128x4fsr``
    the result holds 0.64 GB of codes and 0.08 GB of ids.
    """
    plain = _FAST_SUFFIX.sub("x4", factory)
    by_residual = "x4fsr" in factory  # FAISS's factory: "x4fs" encodes vectors, "x4fsr" residuals
    n = len(source)
    sample = training_sample(source, training_size(plain, n), seed=seed)
    trained = train_empty(plain, sample, seed=seed, by_residual=by_residual)
    work = path.with_name(f".{path.name}.x4")
    for stale in (work, work.with_suffix(".ivfdata")):
        stale.unlink(missing_ok=True)
    try:
        built = build_ondisk(trained, source, work, factory=plain, n_shards=n_shards, runner=runner)
        fast = to_fast_scan(open_index(built.path))
    finally:
        for done in (work, work.with_suffix(".ivfdata")):
            done.unlink(missing_ok=True)
    log.info("%s: %d vectors repacked for fast-scan", factory, fast.ntotal)
    return fast


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
    memory-mapped (:func:`open_index`); a fast-scan one (``PQ{m}x4fs``) is built that way as
    plain 4-bit PQ and repacked in memory (:func:`build_fast_scan`; nothing left on disk). Any other factory (``Flat``, ``PQ32``, ``HNSW32``) is
    trained in memory if it needs it and filled inside an ``IndexIDMap2`` (nothing written).

    Raises:
        ValueError: see :func:`check_factory` and :func:`train_empty`.
    """
    index = check_factory(factory, source.dim)
    n = len(source)
    if is_ivf(index) and is_fast_scan(factory):
        return build_fast_scan(factory, source, path, n_shards=n_shards, runner=runner, seed=seed), None
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
