"""What a search looks for (:class:`Query`): a text, an image, a video clip or a span of one,
or an example refined by a text; one value for every entry point (``Library.search``, the CLI,
the page, the REST API); the order of its results (:class:`SortOrder`) and dates as people type
them (:func:`typed_date`). Issue 27; the encoding of each kind: :mod:`tempme.index.query.example`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tempme.index.wording import format_time

IMAGE_MODES = ("still", "frame")  # tempme.example_query.IMAGE_MODES (no torch here)
SPAN_TOLERANCE_S = 0.01  # a span within this of a stored segment's bounds is that segment


class SortOrder(StrEnum):
    """How a page of results is ordered: ``relevance`` (the query's ranking, the default), by
    recording date (``date``: newest first, ``date-asc``) or by the video's duration
    (``duration``: longest first, ``duration-asc``). A sort other than relevance orders the
    moments that pass the score cutoff (:attr:`tempme.index.hits.SearchFilters.min_score`, or the router's default
    for a sort) among the :data:`tempme.index.query.router.SORT_POOL` most relevant."""

    RELEVANCE = "relevance"
    DATE = "date"
    DATE_ASC = "date-asc"
    DURATION = "duration"
    DURATION_ASC = "duration-asc"

    @classmethod
    def parse(cls, value: str | SortOrder) -> SortOrder:
        """Raises ValueError naming the orders."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"sort must be one of {', '.join(SORT_ORDERS)}, got {value!r}") from None


SORT_ORDERS = tuple(s.value for s in SortOrder)


def typed_date(text: str) -> dt.datetime:
    """A date as people type it (``2024-06-01``, ``2024-06-01T18:30``, ``2024-06-01 18:30+02:00``)
    as an aware datetime; without an offset, the local time of this machine. Raises ValueError."""
    when = dt.datetime.fromisoformat(str(text).strip())
    return when if when.tzinfo is not None else when.astimezone()


@dataclass(frozen=True)
class Query:
    """What to look for: a text, an example (an image, a video clip, or a span ``[start_s,
    end_s)`` of a video), or an example refined by a text ("like this, but at night").

    ``image``: a file path or the file's bytes (an upload). ``clip``: a video file, the whole of
    it or the span; a video of the library is left out of its own results unless
    ``include_self``. ``text_weight``: the text's share of a refined query (None: the default,
    ``tempme.refine.DEFAULT_TEXT_WEIGHT``). ``image_mode``: ``still`` or ``frame`` (``tempme.example_query``).

    Raises:
        ValueError: nothing to look for, an image and a clip at once, a span without a clip,
            a weight outside [0, 1], an unknown image mode.
    """

    text: str = ""
    image: str | Path | bytes | None = None
    clip: str | Path | None = None
    start_s: float | None = None
    end_s: float | None = None
    text_weight: float | None = None
    include_self: bool = False
    image_mode: str = "still"

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", (self.text or "").strip())
        if self.image is not None and self.clip is not None:
            raise ValueError("give an image or a clip, not both")
        if not self.text and self.image is None and self.clip is None:
            raise ValueError("empty query")
        if self.clip is None and (self.start_s is not None or self.end_s is not None):
            raise ValueError("--start / --end need a clip (--clip FILE)")
        if self.text_weight is not None and not 0.0 <= self.text_weight <= 1.0:
            raise ValueError(f"the text weight must be in [0, 1], got {self.text_weight}")
        if self.image_mode not in IMAGE_MODES:
            raise ValueError(f"image mode must be one of {', '.join(IMAGE_MODES)}, got {self.image_mode!r}")

    @classmethod
    def of(cls, value: str | Query) -> Query:
        """``value`` if it is a query, else a text query (ValueError for blank text)."""
        return value if isinstance(value, Query) else cls(text=str(value))

    @property
    def kind(self) -> str:
        """``text``, ``image``, ``clip`` (a whole file) or ``span``."""
        if self.image is not None:
            return "image"
        if self.clip is not None:
            return "span" if self.start_s is not None or self.end_s is not None else "clip"
        return "text"

    @property
    def example(self) -> bool:
        return self.kind != "text"

    def describe(self) -> str:
        """For messages: ``“a dog”``, ``photo.jpg``, ``clip.mp4 0:10.0–0:14.0``, ``… + “at night”``."""
        if self.kind == "text":
            return f"“{self.text}”"
        if self.kind == "image":
            what = "the image" if isinstance(self.image, bytes) else Path(self.image).name
        else:
            what = Path(self.clip).name
            if self.kind == "span":
                what += f" {format_time(self.start_s or 0.0)}–" + (
                    "end" if self.end_s is None else format_time(self.end_s)
                )
        return f"{what} + “{self.text}”" if self.text else what
