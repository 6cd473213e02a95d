"""Which lists a search reads, and how they become one ranking (``Library.search``).

- ``visual``: the text tower's vector against TempMe's (:func:`.vector.search_moments`);
- ``speech`` / ``text``: full-text search over transcripts / on-screen lines
  (:func:`.text.search_lines`), refused on a library where no video was processed for them;
- ``all``: every list the library has data for, each fetched :data:`OVERFETCH` times as deep
  as the page needs, fused by reciprocal rank fusion (:func:`.fusion.fuse_hits`); with no
  transcripts and no on-screen text it is the visual ranking as it is (its cosine scores kept).

Every hit leaves with its ``confidence`` and ``p_value`` (:func:`.confidence.judge`: the visual
evidence against the library's text null, lines by their words); "more like this"
(:func:`search_vector`) against the video null.

A :class:`~.compound.CompoundQuery` ("A then B") searches each part this way and joins them in
time (:mod:`.parts`); a joined moment is as confident as its weakest part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.errors import LibraryError
from tempme.index.hits import Hit, SearchFilters, SearchMode, TextKind
from tempme.index.nulls import TEXT, VIDEO
from tempme.index.query.calibration import NullCache
from tempme.index.query.compound import CompoundQuery
from tempme.index.query.confidence import judge
from tempme.index.query.encoder import QueryEncoder
from tempme.index.query.fusion import fuse_hits
from tempme.index.query.parts import search_compound
from tempme.index.query.text import search_lines
from tempme.index.query.timing import stage
from tempme.index.query.vector import search_moments
from tempme.index.vectors import VectorStore

OVERFETCH = 4  # a fused list reads this many times the results a page needs from each list


@dataclass(frozen=True)
class Searchable:
    """What a search reads: the library's folder (for messages), catalog, vectors and text
    tower (``query()``: the library's current :class:`.encoder.QueryEncoder`, whose model loads
    on the first query), and the nulls its hits are judged against (:class:`.calibration.NullCache`)."""

    path: Path
    catalog: Catalog
    store: VectorStore
    query: Callable[[], QueryEncoder]
    nulls: NullCache = field(default_factory=NullCache)

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
    query: str | CompoundQuery,
    k: int,
    *,
    offset: int = 0,
    per_video: bool = False,
    filters: SearchFilters | None = None,
    mode: SearchMode | str = SearchMode.VISUAL,
) -> list[Hit]:
    """Moments matching ``query``, results ``offset`` to ``offset + k`` (see the module docstring).

    Raises:
        ValueError: an unknown mode or an empty query. LibraryError: ``speech`` / ``text`` on a
        library where no video was processed for it.
    """
    mode = SearchMode.parse(mode)
    if isinstance(query, CompoundQuery):

        def part(text: str, part_mode: str | None, depth: int) -> list[Hit]:
            return search(src, text, depth, filters=filters, mode=part_mode or mode)

        return search_compound(query, part, k, offset=offset, per_video=per_video, overfetch=OVERFETCH)
    if not query.strip():
        raise ValueError("empty query")
    if mode.kind is not None:
        hits = _one_kind(src, query, k, offset, per_video, filters, mode.kind)
    else:
        hits = _ranked(src, query, k, offset, per_video, filters, mode)
    null = src.nulls.get(src, TEXT) if any(h.visual_score is not None for h in hits) else None
    return judge(hits, query, null)


def search_vector(
    src: Searchable, vec: np.ndarray, k: int, *, offset: int = 0, per_video: bool = False,
    filters: SearchFilters | None = None, exclude_segment: int | None = None,
) -> list[Hit]:  # fmt: skip
    """ "More like this": moments nearest to the (D,) unit vector ``vec`` (results ``offset`` to
    ``offset + k``), judged against the library's video null."""
    hits = search_moments(src.catalog, src.store, vec, k, offset=offset, per_video=per_video, filters=filters,
                          exclude_segment=exclude_segment)  # fmt: skip
    return judge(hits, None, src.nulls.get(src, VIDEO) if hits else None)


def _ranked(src, query, k, offset, per_video, filters, mode: SearchMode) -> list[Hit]:
    """``visual`` or ``all``: the vector ranking, fused with the text lists the library has."""
    kinds = [kind for kind in TextKind if src.catalog.enrichment_counts(kind.value)]
    if not kinds:
        mode = SearchMode.VISUAL  # nothing to fuse with: the visual ranking and its cosine scores as they are
    visual: list[Hit] = []
    if src.store.ntotal > 0:  # nothing indexed yet: no encoder to load
        fused = mode is not SearchMode.VISUAL
        depth = OVERFETCH * (offset + k) if fused else k
        with stage("encode"):
            vec = src.encode(query)
        visual = search_moments(
            src.catalog, src.store, vec, depth,
            offset=0 if fused else offset, per_video=per_video, filters=filters,
        )  # fmt: skip
    if mode is SearchMode.VISUAL:
        return visual
    lists = {SearchMode.VISUAL.value: visual}
    for kind in kinds:
        with stage("catalog"):
            lists[kind.mode.value] = search_lines(src.catalog, query, kind, OVERFETCH * (offset + k), filters)
    return fuse_hits(lists, k, offset=offset, per_video=per_video)


def _one_kind(src, query, k, offset, per_video, filters, kind: TextKind) -> list[Hit]:
    """``speech`` or ``text`` alone: the full-text ranking (one row per video with ``per_video``)."""
    if not src.catalog.enrichment_counts(kind.value):
        flag = "--speech" if kind is TextKind.SPEECH else "--ocr"
        what = "transcripts" if kind is TextKind.SPEECH else "on-screen text"
        raise LibraryError(
            f"the library {src.path} has no {what}: no video was processed for {kind}; "
            f"add them with `tempme enrich {flag}` (or `tempme index {flag} ...`)"
        )
    with stage("catalog"):
        hits = search_lines(src.catalog, query, kind, offset + k, filters)
    if per_video:
        return fuse_hits({kind.mode.value: hits}, k, offset=offset, per_video=True)
    return hits[offset : offset + k]
