"""The library's state in plain words: the status line and an indexing run's summary.

Shown by the page (the status line is Markdown: counts in bold) and returned by its ``/status``
and ``/add`` API endpoints; the run's rates stay in the server log.
"""

from __future__ import annotations

from pathlib import Path

from tempme.index import IndexReport, LibraryStats, plural, printable


def summarize_report(report: IndexReport) -> str:
    """An indexing run in plain words for the page: what was added, what was already there,
    what could not be read and why (the run's rates stay in the server log)."""
    text = f"Added {plural(report.indexed, 'video')} ({plural(report.segments, 'moment')}) in {report.seconds:.0f} s."
    if report.skipped:
        text += f" {report.skipped} {'was' if report.skipped == 1 else 'were'} already in the library."
    if report.errors:
        text += f" {len(report.errors)} could not be read: " + "; ".join(
            f"{printable(Path(p).name)}: {printable(why)}" for p, why in report.errors[:5]
        )
        if len(report.errors) > 5:
            text += f"; and {len(report.errors) - 5} more"
        text += "."
    return text


def format_stats(stats: LibraryStats, last_add: str | None = None) -> str:
    """The status line from `LibraryStats` (+ the page's own last indexing summary)."""
    parts = [f"**{stats.videos}** videos · **{stats.segments}** moments"]
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
        parts.append(f"{stats.failed} failed files ({names}{', …' if stats.failed > 3 else ''})")
    line = " · ".join(parts)
    return line if not last_add else f"{line}  \nLast upload: {last_add}"
