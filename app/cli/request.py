"""What one `tempme search` asks for, from its options: the query (a text, ``--image``,
``--clip [--start --end]``, refined by a text), the filters (``--folder``, ``--after``,
``--before``, ``--min-score``) and the order (``--sort``), checked here so that a mistake is one
line before anything loads.

Dates are read as people type them: ``2024-06-01`` (midnight, local time), ``2024-06-01T18:30``,
``2024-06-01 18:30+02:00``. A folder is matched as typed (``holiday`` finds ``.../holiday 2023/``,
:mod:`tempme.index.folders`), except one that starts like a path from here (``./``, ``../``,
``~``), which becomes that absolute folder.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from tempme.index import (
    IMAGE_MODES,
    SORT_ORDERS,
    Query,
    SearchFilters,
    SearchMode,
    SortOrder,
    absolute,
    typed_date,
)

if TYPE_CHECKING:  # the query room imports SQLAlchemy and FAISS: not on the server path
    from tempme.index import CompoundQuery


class SearchError(Exception):
    """A query that could not be answered; the message says why (shown as ``error: ...``)."""


def check_mode(mode: str) -> None:
    """Raises SearchError for a mode that is not all, visual, speech or text."""
    try:
        SearchMode.parse(mode)
    except ValueError as exc:
        raise SearchError(str(exc)) from None


ImageOpt = Annotated[
    Optional[Path],
    typer.Option("--image", metavar="FILE", help="Find moments that look like this picture (JPEG, PNG, WebP...)."),
]
ClipOpt = Annotated[
    Optional[Path],
    typer.Option("--clip", metavar="FILE", help="Find moments like this video clip (or its --start/--end span)."),
]
StartOpt = Annotated[Optional[float], typer.Option("--start", metavar="SECONDS", help="Span of --clip: from.")]
EndOpt = Annotated[Optional[float], typer.Option("--end", metavar="SECONDS", help="Span of --clip: to.")]
IncludeSelfOpt = Annotated[
    bool, typer.Option("--include-self", help="Keep the --clip's own video in the results when it is in the library.")
]
TextWeightOpt = Annotated[
    Optional[float],
    typer.Option(
        "--text-weight", min=0.0, max=1.0, help="With --image/--clip and a text: the text's share (default 0.65)."
    ),
]
ImageModeOpt = Annotated[
    str,
    typer.Option(
        "--image-mode", help=f"{' or '.join(IMAGE_MODES)}: the image as a still clip (default) or one CLIP frame."
    ),
]
AfterOpt = Annotated[
    Optional[str], typer.Option("--after", metavar="DATE", help="Recorded on or after DATE (2024-06-01).")
]
BeforeOpt = Annotated[Optional[str], typer.Option("--before", metavar="DATE", help="Recorded before DATE.")]
SortOpt = Annotated[str, typer.Option("--sort", help=f"Order: {', '.join(SORT_ORDERS)}.")]
MinScoreOpt = Annotated[
    Optional[float],
    typer.Option(
        "--min-score",
        help="Leave out moments whose look scores below this cosine (default with a date or duration "
        "sort: 1 std above the query's mean over the library).",
    ),
]


class RequestError(ValueError):
    """An option that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class SearchRequest:
    """One search: the query, how many, per video or not, the mode, the filters, the order."""

    query: Query | CompoundQuery  # compound: --then / --while (text parts)
    k: int = 10
    per_video: bool = False
    mode: str = "all"
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: str = "relevance"

    @property
    def text_only(self) -> bool:
        """A text query with a folder at most: what a running server's `/search` answers."""
        f = self.filters
        return (
            isinstance(self.query, Query)
            and self.query.kind == "text"
            and self.sort == "relevance"
            and f.date_from is None
            and f.date_to is None
            and f.min_score is None
        )


def parse_date(text: str | None, option: str) -> dt.datetime | None:
    """``text`` as an aware datetime (no offset: local time, :func:`tempme.index.typed_date`); None for None.

    Raises:
        RequestError: not a date.
    """
    if text is None:
        return None
    try:
        return typed_date(text)
    except ValueError:
        raise RequestError(f"{option} takes a date like 2024-06-01 (or 2024-06-01T18:30), got {text!r}") from None


def folder_filter(folder: str | os.PathLike | None) -> str | None:
    """The folder as the library matches it: a path from here (``./``, ``../``, ``~``) made
    absolute, anything else as typed."""
    if folder is None or not str(folder).strip():
        return None
    text = os.fspath(folder).strip()
    if text.startswith(("./", "../", "~")) or text in (".", ".."):
        return str(absolute(text))
    return text


def build_request(text: str | None, k: int, per_video: bool, mode: str, folder, **options) -> SearchRequest:
    """A :class:`SearchRequest` from `tempme search`'s options (``image``, ``clip``, ``start``,
    ``end``, ``include_self``, ``text_weight``, ``image_mode``, ``after``, ``before``, ``sort``,
    ``min_score``; any may be absent).

    Raises:
        RequestError: a missing file, a bad date or range, a bad sort, or a query that asks for
        nothing or for two examples.
    """
    o = dict(options)
    for name in ("image", "clip"):
        if o.get(name) is not None and not Path(o[name]).is_file():
            raise RequestError(f"--{name} {o[name]}: no such file")
    try:
        query = Query(
            text=text or "", image=o.get("image"), clip=o.get("clip"), start_s=o.get("start"), end_s=o.get("end"),
            text_weight=o.get("text_weight"), include_self=bool(o.get("include_self")),
            image_mode=o.get("image_mode") or "still",
        )  # fmt: skip
        filters = SearchFilters(
            folder=folder_filter(folder), date_from=parse_date(o.get("after"), "--after"),
            date_to=parse_date(o.get("before"), "--before"), min_score=o.get("min_score"),
        )  # fmt: skip
        sort = SortOrder.parse(o.get("sort") or "relevance").value
    except ValueError as exc:
        raise RequestError(str(exc).replace("empty query", "give a query, --image or --clip")) from None
    return SearchRequest(query, k, per_video, mode, filters, sort)
