"""What the page is showing, and the next page of it ("load more")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tempme.app.context import AppContext
from tempme.app.validate import InputError
from tempme.index import CompoundQuery, Hit, SearchFilters, format_time


@dataclass
class SearchState:
    """What the page is showing: the search that made it (a text, an image refined by a text, a
    span of a video, or a segment's vector) and its results so far, so that "load more" can
    fetch the next page."""

    query: str | None = None
    image: str | None = None  # the image query's file (with ``query`` as its text, if any)
    clip: str | None = None  # the clip query's file (an upload; with ``query`` as its text, if any)
    span: tuple[str, float, float] | None = None  # (video, start_s, end_s) of "like this span"
    sort: str = "relevance"
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
        examples = (self.image, self.span, self.clip)
        return self.query is not None or self.similar_to is not None or any(e is not None for e in examples)

    @property
    def what(self) -> str:
        """What was searched, for people: ``“a dog”``, ``like the image + “at night”``, ``like
        clip.mp4 0:10.0–0:14.0``, ``like clip.mp4 at 0:41``."""
        if self.span is not None:
            video, start, end = self.span
            return f"like {Path(video).name} {format_time(start)}–{format_time(end)}"
        if self.image is not None or self.clip is not None:
            what = "the image" if self.clip is None else Path(self.clip).name
            return f"like {what}" + (f" + “{self.query}”" if self.query else "")
        if self.query is not None:
            return f"“{self.query}”"
        return f"like {self.similar_label}"

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
    if state.span is not None:
        return ctx.like_span(*state.span, state.k, state.filters, offset, state.sort)
    if state.clip is not None:
        return ctx.search_clip(state.clip, state.query, state.k, state.filters, offset, state.mode, state.sort)
    return ctx.search(state.query, state.k, state.filters, offset, state.mode, state.sort, state.image,
                      compound=state.compound)  # fmt: skip
