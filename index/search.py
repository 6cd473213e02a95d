"""Searching: a query vector -> vector store -> catalog re-fetch in rank order -> moments -> hits.

Fetches more segments than needed from the store (4x, growing until enough moments survive the
filters and the grouping, or the store is exhausted); filters are applied by the catalog's
query, grouping by :func:`index.moments.group_moments`.
"""

from __future__ import annotations

import numpy as np
from tempme.index.catalog import Catalog
from tempme.index.moments import SegmentHit, group_moments
from tempme.index.store import VectorStore
from tempme.index.types import Hit, SearchFilters


def search_moments(
    catalog: Catalog,
    store: VectorStore,
    vec: np.ndarray,
    k: int,
    *,
    offset: int = 0,
    per_video: bool = False,
    filters: SearchFilters | None = None,
    exclude_segment: int | None = None,
) -> list[Hit]:
    """Moments nearest to the (D,) unit vector ``vec``, ranked: results ``offset .. offset + k``."""
    total = store.ntotal
    if k <= 0 or total == 0:
        return []
    vec = np.asarray(vec, dtype=np.float32).reshape(1, -1)  # (D,) -> (1, D)
    want = offset + k
    fetch = min(max(4 * want, 32), total)
    while True:
        scores, ids = store.search(vec, fetch)  # (1, K) each
        found = [(int(i), float(sc)) for i, sc in zip(ids[0], scores[0]) if i >= 0 and i != exclude_segment]
        rows = catalog.segment_rows([i for i, _ in found], filters)
        hits = [SegmentHit(i, rows[i].video_id, rows[i].start_s, rows[i].end_s, sc) for i, sc in found if i in rows]
        moments = group_moments(hits, per_video=per_video)
        if len(moments) >= want + 1 or fetch >= total:
            break
        fetch = min(fetch * 4, total)
    return [
        Hit(
            segment_id=m.segment_id,
            video_id=m.video_id,
            path=rows[m.segment_id].path,
            start_s=m.start_s,
            end_s=m.end_s,
            score=m.score,
            rank=rank,
            duration_s=rows[m.segment_id].duration_s,
            visual_score=m.score,
        )
        for rank, m in enumerate(moments[offset:want], start=offset + 1)
    ]
