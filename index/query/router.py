"""Which lists a search reads, and how they become one ranking (``Library.search``).

- ``visual``: the text tower's vector against TempMe's (:func:`.vector.search_moments`);
- ``speech`` / ``text``: full-text search over transcripts / on-screen lines
  (:func:`.text.search_lines`), refused on a library where no video was processed for them;
- ``all``: every list the library has data for, each fetched :data:`OVERFETCH` times as deep
  as the page needs, fused by reciprocal rank fusion (:func:`.fusion.fuse_hits`); with no
  transcripts and no on-screen text it is the visual ranking as it is (its cosine scores kept).

A :class:`~.compound.CompoundQuery` ("A then B") searches each part this way and joins them in
time (:mod:`.parts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.errors import LibraryError
from tempme.index.hits import Hit, SearchFilters, SearchMode, TextKind
from tempme.index.query.compound import CompoundQuery
from tempme.index.query.fusion import fuse_hits
from tempme.index.query.parts import search_compound
from tempme.index.query.text import search_lines
from tempme.index.query.timing import stage
from tempme.index.query.vector import search_moments
from tempme.index.vectors import VectorStore

OVERFETCH = 4  # a fused list reads this many times the results a page needs from each list


@dataclass(frozen=True)
class Searchable:
    """What a search reads: the library's folder (for messages), catalog, vectors and text tower
    (``encode(text) -> (D,)`` unit vector, loaded on the first call)."""

    path: Path
    catalog: Catalog
    store: VectorStore
    encode: Callable[[str], np.ndarray]


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
        return _one_kind(src, query, k, offset, per_video, filters, mode.kind)
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
