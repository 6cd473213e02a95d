"""What the page is showing, and the next page of it ("load more")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tempme.app.context import AppContext
from tempme.app.validate import InputError
from tempme.index import CompoundQuery, Hit, SearchFilters


@dataclass
class SearchState:
    """What the page is showing: the search that made it (text or a segment's vector) and its
    results so far, so that "load more" can fetch the next page."""

    query: str | None = None
    similar_to: int | None = None
    similar_label: str = ""  # "clip.mp4 at 0:41": the source moment, for people
    new_videos: tuple[Path, ...] = ()  # showing the moments of these just-added videos
    k: int = 12
    filters: SearchFilters = field(default_factory=SearchFilters)
    moments: list[Hit] = field(default_factory=list)
    mode: str = "all"
    compound: CompoundQuery | None = None  # a "then / while" search (its first part is `query`)

    @property
    def active(self) -> bool:
        return self.query is not None or self.similar_to is not None

    def moment(self, segment_id: int | None) -> Hit | None:
        """The shown moment of ``segment_id`` (None when none is shown)."""
        if segment_id is None:
            return None
        return next((m for m in self.moments if m.segment_id == segment_id), None)


def next_page(ctx: AppContext, state: SearchState) -> list[Hit]:
    """The results after those already in `state` (same search, same K and filters).

    Raises InputError when nothing was searched yet, or as `AppContext.search` / `similar` do."""
    if not state.active:
        raise InputError("Search first; then “load more” fetches the next results.")
    offset = len(state.moments)
    if state.similar_to is not None:
        return ctx.similar(state.similar_to, state.k, state.filters, offset)
    return ctx.search(state.query, state.k, state.filters, offset, state.mode, state.compound)
