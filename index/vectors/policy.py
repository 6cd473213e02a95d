"""One ladder: which FAISS index a library of N vectors gets, and how it is searched.

Sizes (vectors) at which the type changes, for unit vectors searched by inner product; every
rung measured on the realistic generator of bench/scale_data.py (docs/scale.md, issue 30):

- below :data:`IVF_FROM`: exact search (``Flat``; ``IndexFlatIP`` behind an ``IndexIDMap2``);
- from :data:`IVF_FROM`: ``IVF{nlist},Flat``, nlist ~ 4 sqrt(N) (FAISS's guideline is 4-16 sqrt(N));
- from :data:`FS_FROM`: ``IVF{nlist},PQ{D/4}x4fsr``, nlist ~ 2 sqrt(N): 4-bit product-quantizer
  codes of D/8 bytes scanned with FAISS's fast-scan kernels (André et al., "Quicker ADC", 2019;
  FAISS's ``IndexIVFPQFastScan``) and re-ranked exactly with the catalog's vectors. At 10^6 x
  512 it reaches recall@10 0.98 with 10 x k candidates at under 1 ms, in 81 MB (IVF-Flat: 2 GB,
  IVF-SQ8: 0.5 GB); at 10^7 the codes and ids take 0.7 GB;
- from :data:`PQ_FROM` (``rebuild()`` only): ``IVF{nlist}_HNSW32,PQ{D/8}`` with nlist ~ 8 sqrt(N)
  (``IVF65536_HNSW32,PQ64`` at 10^8 and D = 512), on disk and memory-mapped; an HNSW graph over
  the centroids, as FAISS's guidelines advise past 65,536 lists. Not measured here.

``ivf-sq8`` (8-bit scalar codes, D bytes a vector) is no longer a rung: at 10^6 fast-scan PQ
matches its recall after re-ranking in a sixth of the memory. Libraries that have it keep it
until they are rebuilt; ``IndexParams(sq_threshold=N)`` brings the rung back.

The rungs are the *automatic kinds* (``flat``, ``ivf``, ``ivf-fs``, and the old ``ivf-sq8``):
chosen again as the library grows (:meth:`IndexParams.kind_for`). Any other kind is a FAISS
``index_factory`` string a user pinned with ``tempme rebuild --index``. Searches probe
``nprobe`` lists and re-rank ``rerank`` x k candidates: the values given in :class:`IndexParams`,
else those the library measured for itself (:mod:`.tune`, recorded in the catalog), else the
settings' nprobe and :data:`RERANK`. The helpers at the end say what a FAISS index is (IVF?
lossy codes? fast-scan?) for the builder, the store and the re-ranker.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import faiss
from tempme.index.reports import SearchTuning
from tempme.index.settings import get_settings

# Sizes (vectors) at which the index type changes; see the module docstring.
IVF_FROM = 100_000  # below: exact search (IndexFlatIP); at 10^5 x 512 it is 20-60 ms a query here, IVF < 1 ms
FS_FROM = 1_000_000  # IVF with 4-bit fast-scan PQ codes, re-ranked: D/8 bytes a vector
SQ8_FROM = 5_000_000  # the former rung of 8-bit scalar codes (only with IndexParams(sq_threshold=...))
PQ_FROM = 100_000_000  # rebuild(): IVF-PQ with an HNSW quantizer, on disk

AUTO_KINDS = ("flat", "ivf", "ivf-sq8", "ivf-fs")  # chosen by size; any other kind is a pinned factory string
RERANK = 10  # lossy indexes, untuned: k * RERANK candidates re-scored exactly with the catalog's vectors


def nlist_for(n: int, *, per_sqrt: float = 4.0) -> int:
    """Inverted lists for ``n`` vectors: ``per_sqrt * sqrt(n)`` rounded to a power of two (>= 16).

    FAISS's guideline is 4 to 16 sqrt(N) lists; the library uses 4 sqrt(N) for IVF-Flat/SQ8
    and 8 sqrt(N) for IVF-PQ, whose lossy codes are cheap to scan but whose lists should stay
    short at 10^8 (65,536 lists there, ~1,500 vectors a list).
    """
    return int(2 ** round(math.log2(max(per_sqrt * math.sqrt(max(n, 1)), 16))))


@dataclass(frozen=True)
class IndexParams:
    """The ladder's thresholds (vectors) and how an index is searched.

    ``nprobe``: inverted lists probed per query, ``rerank``: lossy indexes (PQ, SQ codes)
    re-score ``k * rerank`` candidates exactly (0: off); None (the default) for both: what the
    library measured for itself (:mod:`.tune`), else ``get_settings().nprobe`` and
    :data:`RERANK`. ``nlist``: lists of an automatic IVF (default: :func:`nlist_for`);
    ``use_gpu``: search on the GPUs FAISS sees. ``sq_threshold``: the former IVF-SQ8 rung
    (None: off).
    """

    ivf_threshold: int = IVF_FROM
    sq_threshold: int | None = None
    fs_threshold: int = FS_FROM
    pq_threshold: int = PQ_FROM
    nprobe: int | None = None
    nlist: int | None = None
    use_gpu: bool = True
    rerank: int | None = None

    def search_nprobe(self, tuning: SearchTuning | None) -> int:
        """nprobe to search with: given here, else tuned, else the settings'."""
        if self.nprobe is not None:
            return int(self.nprobe)
        return tuning.nprobe if tuning is not None and tuning.nprobe > 0 else get_settings().nprobe

    def search_rerank(self, tuning: SearchTuning | None) -> int:
        """Re-rank factor to search with: given here, else tuned, else :data:`RERANK`."""
        if self.rerank is not None:
            return int(self.rerank)
        return tuning.rerank if tuning is not None else RERANK

    def kind_for(self, n: int) -> str:
        """The automatic kind for ``n`` vectors: ``flat``, ``ivf``, (``ivf-sq8``,) ``ivf-fs``."""
        if n >= self.fs_threshold:
            return "ivf-fs"
        if self.sq_threshold is not None and n >= self.sq_threshold:
            return "ivf-sq8"
        if n >= self.ivf_threshold:
            return "ivf"
        return "flat"

    def nlist_for(self, n: int) -> int:
        return self.nlist or nlist_for(n)

    def factory_for(self, n: int, dim: int) -> str:
        """The FAISS ``index_factory`` string for ``n`` vectors of width ``dim`` (inner product).

        >>> p = IndexParams(nprobe=1)
        >>> p.factory_for(5 * 10**4, 512), p.factory_for(10**6, 512), p.factory_for(10**7, 512)
        ('Flat', 'IVF2048,PQ128x4fsr', 'IVF8192,PQ128x4fsr')
        >>> p.factory_for(5 * 10**5, 512), p.factory_for(10**8, 512)
        ('IVF2048,Flat', 'IVF65536_HNSW32,PQ64')

        A width that is not a multiple of 8 gets 8-bit scalar codes instead of fast-scan PQ.

        Raises:
            ValueError: ``dim`` is not a positive multiple of 8 where IVF-PQ on disk is needed.
        """
        kind = self.kind_for(n)
        if n >= self.pq_threshold:
            if dim <= 0 or dim % 8:
                raise ValueError(f"IVF-PQ needs a width divisible by 8 (8 dimensions per code byte), got {dim}")
            return f"IVF{nlist_for(n, per_sqrt=8.0)}_HNSW32,PQ{dim // 8}"
        if kind == "flat":
            return "Flat"
        if kind == "ivf":
            return f"IVF{self.nlist_for(n)},Flat"
        if kind == "ivf-fs" and dim > 0 and dim % 8 == 0:
            return f"IVF{self.nlist or nlist_for(n, per_sqrt=2.0)},PQ{dim // 4}x4fsr"
        return f"IVF{self.nlist_for(n)},SQ8"

    def rebuild_factory(self, n: int, dim: int | None) -> str | None:
        """What ``rebuild()`` without a type builds: None (the automatic kind for ``n``) below
        ``pq_threshold``, else :meth:`factory_for`'s IVF-PQ (pinned, on disk)."""
        if dim is None or n < self.pq_threshold:
            return None
        return self.factory_for(n, dim)


def factory_for(n: int, dim: int) -> str:
    """:meth:`IndexParams.factory_for` with the default thresholds."""
    return IndexParams(nprobe=1).factory_for(n, dim)


_IVF = re.compile(r"(?:^|,)IVF(\d+)")


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


def ivf_of(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF index inside ``index`` (behind a pre-transform or an id map), as its own class."""
    ivf = faiss.try_extract_index_ivf(index)
    return None if ivf is None else faiss.downcast_index(ivf)


def is_ivf(index: faiss.Index) -> bool:
    """True for an IVF index, bare or behind a pre-transform (its ids live in its lists)."""
    top = faiss.downcast_index(index)
    return ivf_of(top) is not None and isinstance(top, (faiss.IndexIVF, faiss.IndexPreTransform))


def is_lossy(index: faiss.Index) -> bool:
    """True when the index scores compressed codes (PQ, SQ, ...), not the float32 vectors."""
    top = faiss.downcast_index(index)
    if isinstance(top, faiss.IndexIDMap):
        top = faiss.downcast_index(top.index)
    ivf = ivf_of(top)
    if ivf is not None:
        return not isinstance(ivf, faiss.IndexIVFFlat) or isinstance(top, faiss.IndexPreTransform)
    return not isinstance(top, (faiss.IndexFlat, faiss.IndexHNSWFlat))


_FAST_SCAN = re.compile(r"(?:^|,)PQ\d+x4fsr?(?:$|,)")


def is_fast_scan(factory: str) -> bool:
    """True for a factory whose codes are 4-bit fast-scan PQ (``...,PQ64x4fs``)."""
    return bool(_FAST_SCAN.search(factory))


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    ivf = ivf_of(index)
    if ivf is not None:
        ivf.nprobe = int(nprobe)
