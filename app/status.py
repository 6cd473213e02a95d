"""The library's state in plain words: the status line and an indexing run's summary.

Shown by the page (the status line is Markdown: counts in bold) and returned by its ``/status``
and ``/add`` API endpoints; the run's rates stay in the server log.
"""

from __future__ import annotations

import re
from pathlib import Path

from tempme.index import SEARCH_MODES, IndexReport, LibraryStats, TextKind, plural, printable


def bold_count(n: int, noun: str) -> str:
    """``**12** videos`` (Markdown): :func:`plural` with the number in bold."""
    return re.sub(r"^(\S+)", r"**\1**", plural(n, noun))


def took(seconds: float) -> str:
    """``in 2 s``; ``in under a second`` (never ``in 0 s``)."""
    return "in under a second" if seconds < 0.5 else f"in {seconds:.0f} s"


def summarize_report(report: IndexReport) -> str:
    """An indexing run in plain words for the page: what was added, what was already there,
    what could not be read and why (the run's rates stay in the server log)."""
    text = f"Added {plural(report.indexed, 'video')} ({plural(report.segments, 'moment')}) {took(report.seconds)}."
    if report.skipped:
        text += f" {report.skipped} {'was' if report.skipped == 1 else 'were'} already in the library."
    if report.errors:
        text += f" {plural(len(report.errors), 'file')} could not be read: " + "; ".join(
            f"{printable(Path(p).name)}: {printable(why)}" for p, why in report.errors[:5]
        )
        if len(report.errors) > 5:
            text += f"; and {len(report.errors) - 5} more"
        text += "."
    return text


def format_stats(stats: LibraryStats, last_add: str | None = None) -> str:
    """The status line from `LibraryStats` (+ the page's own last indexing summary)."""
    parts = [f"{bold_count(stats.videos, 'video')} · {bold_count(stats.segments, 'moment')}"]
    enc = stats.encoder
    if enc:
        adapter = f", adapter {enc['adapter_hash'][:8]}" if enc.get("adapter_hash") else ", no adapter"
        weights = "random" if str(enc["pretrained"]) == "none" else Path(str(enc["pretrained"])).name
        parts.append(f"encoder {enc['arch']} ({weights} weights{adapter})")
    else:
        parts.append("no encoder yet")
    tuned = stats.search_tuning
    recall = f", recall@10 {tuned['recall']:.2f} at nprobe {tuned['nprobe']}" if tuned else ""
    parts.append(f"index {stats.index_type} ({stats.vectors} vectors{recall})")
    run = stats.last_run
    if run:
        when = str(run["started_at"]).replace("T", " ")[:16]
        parts.append(
            f"last run {when} UTC: {run['videos_indexed']} indexed, {run['failures']} failed"
            + ("" if run.get("finished", True) else " (unfinished)")
        )
    if stats.failed:
        names = ", ".join(printable(Path(p).name) for p, _ in stats.failures[:3])
        parts.append(f"{plural(stats.failed, 'failed file')} ({names}{', …' if stats.failed > 3 else ''})")
    line = " · ".join(parts)
    return line if not last_add else f"{line}  \nLast upload: {last_add}"


def format_summary(stats: LibraryStats) -> str:
    """The status in one short line (the page's collapsed status): ``**5** videos · **47**
    moments``, and ``random weights`` when they are."""
    line = f"{bold_count(stats.videos, 'video')} · {bold_count(stats.segments, 'moment')}"
    return line + (" · ⚠️ random weights" if stats.weights == "random" else "")


def front_info(stats: LibraryStats | None) -> dict:
    """What front ends say beside results (the API's ``/info``): ``weights`` (random / named /
    file / unknown), ``weights_warning`` (for random weights, or None), ``modes`` (those the
    library has data for: ``speech`` / ``text`` once transcripts / on-screen text exist),
    ``videos``. ``stats`` None: no library yet. The modes keep :data:`SEARCH_MODES`' order
    whatever order the catalog lists its text kinds in: the page's radio is built with that order,
    and with its choices reordered by an update Gradio 6.31's page sent the value at the same
    position among the first choices (``speech`` clicked, ``text`` searched)."""
    if stats is None:
        return {"weights": "unknown", "weights_warning": None, "modes": ["all", "visual"], "videos": 0}
    return {
        "weights": stats.weights,
        "weights_warning": stats.weights_warning,
        "modes": [
            m for m in SEARCH_MODES if m in {"all", "visual", *(TextKind(k).mode.value for k in stats.text_kinds)}
        ],
        "videos": stats.videos,
    }
