"""Which videos (and moments) a search may return: :class:`SearchFilters` (re-exported by
:mod:`tempme.index.hits`, where it was defined before the merge of issues 24 and 27)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class SearchFilters:
    """Which videos (and moments) a search may return (all bounds optional).

    ``folder``: as people type it (:mod:`tempme.index.folders`: ``holiday`` finds
    ``.../holiday 2023/``; an absolute path, that folder and those inside it). ``date_from`` /
    ``date_to``: the recording date (:mod:`tempme.index.media.dates`) on or after / before
    (aware datetimes; naive ones are UTC). ``min_score``: the least cosine a moment found by its
    look (``visual_score``) needs; moments found only by what was said or written are kept (they
    hold the words). ``exclude_videos``: video ids left out (a clip query leaves out the video
    it came from).
    """

    folder: str | None = None
    min_duration_s: float | None = None  # video duration bounds (s)
    max_duration_s: float | None = None
    extensions: tuple[str, ...] = ()  # e.g. (".mp4", "webm"); case-insensitive
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    min_score: float | None = None
    exclude_videos: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            when = getattr(self, name)
            if when is not None and when.tzinfo is None:
                object.__setattr__(self, name, when.replace(tzinfo=dt.UTC))
        if self.date_from is not None and self.date_to is not None and self.date_to < self.date_from:
            raise ValueError(
                f"the date range ends ({self.date_to:%Y-%m-%d}) before it starts ({self.date_from:%Y-%m-%d})"
            )
        object.__setattr__(self, "exclude_videos", frozenset(int(v) for v in self.exclude_videos))

    @property
    def empty(self) -> bool:
        return self == SearchFilters()

    def suffixes(self) -> frozenset[str]:
        """The extensions, lower case with a leading dot."""
        return frozenset("." + e.lower().lstrip(".") for e in self.extensions)
