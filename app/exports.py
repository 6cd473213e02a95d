"""What the page does with moments beyond playing them: "then / while" queries, "Download this
moment" (an MP4 clip) and the timeline of the ticked moments (``.otio`` / ``.edl``).

:func:`compound_query` turns the page's "then / while" row into a
:class:`tempme.index.CompoundQuery` (None when its text is empty); :class:`PageExports` writes
clips and timelines with ``Library.export`` into a private folder of this process under the
system temp folder (Gradio serves files from there), each export in a folder of its own, so a
download is never another's file. Mistakes are :class:`~tempme.app.validate.InputError` lines.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tempme.app.context import AppContext
from tempme.app.validate import InputError, clean_query
from tempme.index import CompoundQuery, Hit, LibraryError

if TYPE_CHECKING:  # the export room imports tempme.video (torch): only when the page exports
    from tempme.index import ExportOptions

RELATIONS = ("then", "while")
TIMELINE_FORMATS = (".otio", ".edl")
MAX_TIMELINE_MOMENTS = 200


def compound_query(
    query: str, then: str | None, relation: str = "then", within_s: float | None = 10.0, then_mode: str | None = None
) -> CompoundQuery | None:
    """The compound query of the page's row, or None when ``then`` is empty.

    Raises:
        InputError: a bad relation, a negative or missing window, or a bad second query."""
    if not (then or "").strip():
        return None
    if relation not in RELATIONS:
        raise InputError(f"The relation must be “then” or “while”, not {relation!r}.")
    if relation == "then" and (within_s is None or not 0 <= float(within_s) <= 3600):
        raise InputError(f"“Within” must be 0 to 3600 seconds, got {within_s}.")
    second = clean_query(then)
    within = float(within_s) if within_s is not None else 10.0
    kind = {"then": second} if relation == "then" else {"while_": second}
    return CompoundQuery.of(clean_query(query), **kind, within_s=within, then_mode=then_mode or None)


class PageExports:
    """Clips and timelines of the page's moments, for download."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @functools.cached_property
    def folder(self) -> Path:
        """A private folder of this process (unguessable name, removed at exit)."""
        path = Path(tempfile.mkdtemp(prefix="tempme-export-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        return path

    def _export(self, hits: list[Hit], options: ExportOptions):
        from tempme.index import TimelineError

        out = Path(tempfile.mkdtemp(dir=self.folder))
        try:
            report = self.ctx.library().export(hits, out, options)
        except (LibraryError, TimelineError) as e:
            raise InputError(str(e)) from None
        if report.errors:
            raise InputError(report.errors[0][1])
        return report

    def clip(self, hit: Hit | None, pad_s: float = 1.0, mode: str = "auto") -> Path:
        """``hit`` as an MP4 (padded, snapped to cuts; ``copy`` / ``exact`` / ``auto``).

        Raises InputError: no moment, or one that cannot be cut."""
        if hit is None:
            raise InputError("Select a result first, then “Download this moment”.")
        from tempme.index import ExportOptions

        return self._export([hit], ExportOptions(pad_s=pad_s, mode=mode, subtitles=False)).clips[0].path

    def timeline(self, hits: list[Hit], fmt: str = ".otio", query: str = "") -> Path:
        """The ``hits`` (in the order given) as one timeline file of format ``fmt``.

        Raises InputError: no moments, too many, or an unknown format."""
        if not hits:
            raise InputError("Tick the moments to put on the timeline first.")
        if len(hits) > MAX_TIMELINE_MOMENTS:
            raise InputError(f"A timeline takes at most {MAX_TIMELINE_MOMENTS} moments, got {len(hits)}.")
        if fmt not in TIMELINE_FORMATS:
            raise InputError(f"Timeline format must be .otio or .edl, not {fmt!r}.")
        out = Path(tempfile.mkdtemp(dir=self.folder)) / f"tempme-moments{fmt}"
        from tempme.index import ExportOptions

        return self._export(hits, ExportOptions(timeline=out, query=query, clips=False)).timeline
