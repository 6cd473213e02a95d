"""How `tempme search` and `tempme shell` print a query's results: the verdict first ("2 good
matches for “dog”", or "no good match for “zxqv”" and the closest moments), then one row per
moment with its confidence (docs/confidence.md); or one JSON object per query.

Random weights are said on stderr before every query's results (and in the JSON), whether the
search ran here or through a server: a routing choice never hides them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Optional

import typer
from tempme.index import CONFIDENCES, GOOD_FROM, Confidence, Hit, printable, quoted, verdict

from tempme.cli_errors import fail

MinConfidenceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--min-confidence",
        help=f"Only moments at this confidence or above ({', '.join(CONFIDENCES)}); "
        "none passing prints “no good match” (exit 0). See docs/confidence.md.",
    ),
]


@dataclass(frozen=True)
class Output:
    """How to print: JSON or a table; the lowest confidence shown (None: every moment)."""

    as_json: bool = False
    min_confidence: Confidence | None = None

    @classmethod
    def of(cls, as_json: bool, min_confidence: str | None) -> Output:
        """Raises ValueError for a level that is not one (the message lists them)."""
        return cls(as_json, Confidence.parse(min_confidence) if min_confidence else None)

    def show(
        self, query: str, hits: list[Hit], weights_note: str | None = None, *, what: str | None = None,
        dates: bool = False,
    ) -> list[Hit]:  # fmt: skip
        """Print ``query``'s ``hits``: see the module docstring (``what``: the search for people,
        default ``quoted(query)``, e.g. ``moments like clip.mp4 at 0:41`` for an example;
        ``dates``: a column with each video's recording date). JSON: ``{"query", "verdict":
        Verdict.to_dict(), "weights_warning", "hits": [Hit.to_dict()]}``. Returns the hits shown
        (those at ``min_confidence`` or above)."""
        floor = self.min_confidence
        if floor is not None:
            hits = [h for h in hits if h.confidence is not None and h.confidence >= floor]
        v = verdict(what or quoted(query), hits, floor or GOOD_FROM)
        if self.as_json:
            rows = [h.to_dict() for h in hits]  # names in the one text spelling (index.path_text, issue 22)
            typer.echo(
                json.dumps({"query": query, "verdict": v.to_dict(), "weights_warning": weights_note, "hits": rows})
            )
            return hits
        if weights_note:
            typer.echo(f"warning: {weights_note}", err=True)
        if not hits:
            typer.echo(v.message + (f" (nothing at {floor} confidence or above)" if floor else ""))
            return hits
        typer.echo(v.message + (":" if v.found else "; the closest moments:"))
        typer.echo(
            f"{'rank':>4}  {'confidence':<10}  {'score':>7}  {'start-end (s)':>17}  "
            + ("recorded    " if dates else "")
            + "path"
        )
        for h in hits:
            span = f"{h.start_s:7.2f}-{h.end_s:<7.2f}"
            conf = f"{h.confidence.dots} {h.confidence.value}" if h.confidence is not None else "?"
            when = (f"{h.recorded_at.astimezone():%Y-%m-%d}  " if h.recorded_at else f"{'-':10}  ") if dates else ""
            typer.echo(f"{h.rank:>4}  {conf:<10}  {h.score:7.4f}  {span:>17}  {when}{printable(h.path)}")
            if h.matched != ("visual",) or h.parts:
                typer.echo(f"{'':>4}  {'':<10}  {'':>7}  {'':>17}  {h.why}")
        return hits


def output_of(as_json: bool, min_confidence: str | None) -> Output:
    """:meth:`Output.of`, a bad ``--min-confidence`` one ``error:`` line."""
    try:
        return Output.of(as_json, min_confidence)
    except ValueError as exc:
        fail(f"--min-confidence: {exc}")
