"""Which lists a search reads, and how they become one ranking (``Library.search``).

Every query kind goes through :func:`search`: a text, an image, a clip or a span (alone or
refined by a text, :class:`~tempme.index.queries.Query`), with the same filters, paging and
:class:`~tempme.index.hits.Hit`. The query becomes one vector (the text tower, or
:mod:`.example`); then by ``mode``:

- ``visual``: that vector against TempMe's (:func:`.vector.search_moments`);
- ``speech`` / ``text``: full-text search of the query's text over transcripts / on-screen lines
  (:func:`.text.search_lines`), refused on a library where no video was processed for them, and
  for an example without a text;
- ``all``: every list the library has data for, each fetched :data:`OVERFETCH` times as deep
  as the page needs, fused by reciprocal rank fusion (:func:`.fusion.fuse_hits`); the text side
  of a query (if any) searches speech and on-screen text. With no transcripts and no on-screen
  text (or no text in the query) it is the visual ranking as it is (its cosine scores kept).

Order (:class:`~tempme.index.hits.SortOrder`): by relevance, pages of the ranking. By date or
duration, the :data:`SORT_POOL` most relevant moments are fetched, those below the score cutoff
dropped, the rest ordered and paged, so a sort never surfaces junk. The cutoff is
``filters.min_score`` (a cosine, on the moments found by their look); without one, a sort uses
:data:`CUTOFF_STDS` standard deviations above the mean cosine of the query's vector over a sample
of the library (:func:`default_cutoff`). Every hit carries its video's recording date.

Every hit leaves with its ``confidence`` and ``p_value`` (:func:`.confidence.judge`: the visual
evidence against the library's text null (an example's: the video null), lines by their words);
"more like this" (:func:`search_vector`) against the video null.

A :class:`~.compound.CompoundQuery` ("A then B") searches each part this way and joins them in
time (:mod:`.parts`); it is ordered by relevance only, and a joined moment is as confident as its
weakest part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.errors import LibraryError
from tempme.index.hits import Hit, SearchFilters, SearchMode, TextKind
from tempme.index.nulls import TEXT, VIDEO
from tempme.index.queries import Query, SortOrder
from tempme.index.query.calibration import NullCache
from tempme.index.query.compound import CompoundQuery
from tempme.index.query.confidence import judge
from tempme.index.query.encoder import QueryEncoder
from tempme.index.query.example import VectorSample, query_vector
from tempme.index.query.fusion import fuse_hits
from tempme.index.query.parts import search_compound
from tempme.index.query.text import search_lines
from tempme.index.query.timing import stage
from tempme.index.query.vector import search_moments
from tempme.index.vectors import VectorStore

log = logging.getLogger(__name__)
OVERFETCH = 4  # a fused list reads this many times the results a page needs from each list
SORT_POOL = 200  # a sorted search orders at most this many of the most relevant moments
CUTOFF_STDS = 1.0  # a sort's default cutoff: this many standard deviations above the mean cosine


@dataclass(frozen=True)
class Searchable:
    """What a search reads: the library's folder (for messages), catalog, vectors and text
    tower (``query()``: the library's current :class:`.encoder.QueryEncoder`, whose model loads
    on the first query), the nulls its hits are judged against (:class:`.calibration.NullCache`),
    the library's encoder (``encoder()``, for examples) and a sample of its vectors
    (``sample() -> (N, D)``)."""

    path: Path
    catalog: Catalog
    store: VectorStore
    query: Callable[[], QueryEncoder]
    nulls: NullCache = field(default_factory=NullCache)
    encoder: Callable[[], object] | None = None
    sample: Callable[[], np.ndarray] | None = None  # default: a VectorSample of the catalog and store

    def __post_init__(self) -> None:
        if self.sample is None:
            object.__setattr__(self, "sample", VectorSample(self.catalog, self.store))

    def encode(self, text: str) -> np.ndarray:
        """(D,) unit vector of ``text``."""
        return self.query().encode(text)


def warm(src: Searchable) -> None:
    """Load the text tower and the text null now, so that the first query does not wait."""
    if src.store.ntotal:
        src.encode("warm up")
        src.nulls.get(src, TEXT)


def search(
    src: Searchable,
    query: str | Query | CompoundQuery,
    k: int,
    *,
    offset: int = 0,
    per_video: bool = False,
    filters: SearchFilters | None = None,
    mode: SearchMode | str = SearchMode.VISUAL,
    sort: SortOrder | str = SortOrder.RELEVANCE,
) -> list[Hit]:
    """Moments matching ``query``, results ``offset`` to ``offset + k`` (see the module docstring).

    Raises:
        ValueError: an unknown mode or sort, an empty query, speech / text for an example without
        words. LibraryError: ``speech`` / ``text`` on a library where no video was processed for
        it. tempme.example_query.ExampleQueryError, tempme.video.VideoDecodeError: an example that
        cannot be read.
    """
    mode, sort = SearchMode.parse(mode), SortOrder.parse(sort)
    if isinstance(query, CompoundQuery):
        if sort is not SortOrder.RELEVANCE:
            raise ValueError("a compound query (then / while) is ordered by relevance only")

        def part(text: str, part_mode: str | None, depth: int) -> list[Hit]:
            return search(src, text, depth, filters=filters, mode=part_mode or mode)

        return search_compound(query, part, k, offset=offset, per_video=per_video, overfetch=OVERFETCH)
    q, filters = Query.of(query), filters or SearchFilters()
    if mode.kind is not None and not q.text:
        raise ValueError(
            f"{q.describe()} has no words to search {mode.kind.label} with: use --mode visual or add a text"
        )
    sorted_ = sort is not SortOrder.RELEVANCE
    depth, start = (SORT_POOL, 0) if sorted_ else (k, offset)
    vec = None
    if mode.kind is None and src.store.ntotal > 0:  # nothing indexed yet: no encoder to load
        with stage("encode"):
            vec, source = query_vector(q, src.encoder, src.encode, src.catalog, src.sample)
        if source is not None and not q.include_self:
            filters = replace(filters, exclude_videos=filters.exclude_videos | {source})
    hits = _ranked(src, q, vec, depth, start, per_video, filters, mode)
    cutoff = filters.min_score
    if cutoff is None and sorted_ and vec is not None:
        cutoff = default_cutoff(vec, src.sample())
    if cutoff is not None:
        hits = [h for h in hits if h.visual_score is None or h.visual_score >= cutoff or h.matched != ("visual",)]
    hits = with_dates(src.catalog, hits)
    if sorted_:
        hits = [replace(h, rank=i) for i, h in enumerate(ordered(hits, sort)[offset : offset + k], start=offset + 1)]
    kind = VIDEO if q.example else TEXT  # an example's cosines are the video tower's against itself
    null = src.nulls.get(src, kind) if any(h.visual_score is not None for h in hits) else None
    return judge(hits, q.text, null)


def search_vector(
    src: Searchable, vec: np.ndarray, k: int, *, offset: int = 0, per_video: bool = False,
    filters: SearchFilters | None = None, exclude_segment: int | None = None,
) -> list[Hit]:  # fmt: skip
    """ "More like this": moments nearest to the (D,) unit vector ``vec`` (results ``offset`` to
    ``offset + k``), judged against the library's video null."""
    hits = search_moments(src.catalog, src.store, vec, k, offset=offset, per_video=per_video, filters=filters,
                          exclude_segment=exclude_segment)  # fmt: skip
    hits = with_dates(src.catalog, hits)
    return judge(hits, None, src.nulls.get(src, VIDEO) if hits else None)


def _ranked(src, q: Query, vec, k, offset, per_video, filters, mode: SearchMode) -> list[Hit]:
    """The relevance ranking of ``mode``'s lists, results ``offset .. offset + k``."""
    if mode.kind is not None:
        return _one_kind(src, q.text, k, offset, per_video, filters, mode.kind)
    kinds = [kind for kind in TextKind if src.catalog.enrichment_counts(kind.value)] if q.text else []
    fused = bool(kinds) and mode is not SearchMode.VISUAL
    visual: list[Hit] = []
    if vec is not None:
        depth = OVERFETCH * (offset + k) if fused else k
        visual = search_moments(
            src.catalog, src.store, vec, depth,
            offset=0 if fused else offset, per_video=per_video, filters=filters,
        )  # fmt: skip
    if not fused:  # nothing to fuse with: the visual ranking and its cosine scores as they are
        return visual
    lists = {SearchMode.VISUAL.value: visual}
    for kind in kinds:
        with stage("catalog"):
            lists[kind.mode.value] = search_lines(src.catalog, q.text, kind, OVERFETCH * (offset + k), filters)
    return fuse_hits(lists, k, offset=offset, per_video=per_video)


def _one_kind(src, text, k, offset, per_video, filters, kind: TextKind) -> list[Hit]:
    """``speech`` or ``text`` alone: the full-text ranking (one row per video with ``per_video``)."""
    if not src.catalog.enrichment_counts(kind.value):
        flag = "--speech" if kind is TextKind.SPEECH else "--ocr"
        what = "transcripts" if kind is TextKind.SPEECH else "on-screen text"
        raise LibraryError(
            f"the library {src.path} has no {what}: no video was processed for {kind}; "
            f"add them with `tempme enrich {flag}` (or `tempme index {flag} ...`)"
        )
    with stage("catalog"):
        hits = search_lines(src.catalog, text, kind, offset + k, filters)
    if per_video:
        return fuse_hits({kind.mode.value: hits}, k, offset=offset, per_video=True)
    return hits[offset : offset + k]


def default_cutoff(vec: np.ndarray, sample: np.ndarray) -> float | None:
    """A sort's cutoff without ``min_score``: the mean cosine of ``vec`` over the library
    ``sample`` plus :data:`CUTOFF_STDS` standard deviations (None for fewer than 2 vectors)."""
    if len(sample) < 2:
        return None
    cos = sample @ np.asarray(vec, np.float32)  # (N,)
    return float(cos.mean() + CUTOFF_STDS * cos.std())


def with_dates(catalog: Catalog, hits: list[Hit]) -> list[Hit]:
    """``hits`` with their videos' recording dates (and sources)."""
    dates = catalog.video_dates(h.video_id for h in hits)
    return [replace(h, recorded_at=dates[h.video_id][0], recorded_source=dates[h.video_id][1]) if h.video_id in dates
            else h for h in hits]  # fmt: skip


def ordered(hits: list[Hit], sort: SortOrder) -> list[Hit]:
    """``hits`` by recording date or video duration (relevance breaks ties; undated videos last)."""
    if sort in (SortOrder.DATE, SortOrder.DATE_ASC):
        sign = -1 if sort is SortOrder.DATE else 1
        return sorted(hits, key=lambda h: (h.recorded_at is None, sign * h.recorded_at.timestamp() if h.recorded_at
                                           else 0.0, h.rank))  # fmt: skip
    sign = -1 if sort is SortOrder.DURATION else 1
    return sorted(hits, key=lambda h: (sign * h.duration_s, h.rank))
