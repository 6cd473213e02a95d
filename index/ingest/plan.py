"""Ingest, step 1: plan what changes: new, changed and deleted files under the given paths.

Pure decisions over the catalog's record of files (:meth:`Catalog.known_files`) and the files
on disk (their stats, taken once by :func:`~tempme.index.media.treescan.scan_tree`); nothing is
written. Unchanged files (same size and mtime) are skipped; a changed file is dropped and
encoded again; a file that disappeared from a walked folder is dropped, unless it lies in a
folder that could not be listed this time (its videos are kept). A failure that may pass by
itself (recorded with size -1: unreadable, changed while read) is tried again, unless the file
still cannot even be stat'ed (a dangling link). A file modified after ``young_after_ns`` may
still be being written (a watched folder): it is deferred, neither encoded nor dropped.
Moves (a video's bytes under a new name) are found by :mod:`.changeset`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tempme.index.catalog import KnownFile
from tempme.index.filenames import is_under


@dataclass(frozen=True)
class IngestPlan:
    """What one ``Library.add`` will do."""

    found: int  # video files under the paths
    encode: list[Path] = field(default_factory=list)  # new or changed files, to decode and encode
    drop: list[int] = field(default_factory=list)  # video ids to delete first (changed + gone)
    gone: list[int] = field(default_factory=list)  # of those, files no longer on disk
    skipped: int = 0  # unchanged files
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # folders not listed: (folder, reason)
    # (video_id, new path, size, mtime_ns): re-pathed, segments and vectors kept; size None: unchanged
    moves: list[tuple[int, Path, int | None, int | None]] = field(default_factory=list)
    deferred: list[Path] = field(default_factory=list)  # modified too recently: left for a later run
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # no video by their headers: (file, why)
    durations: dict[Path, float] = field(default_factory=dict)  # seconds, from the headers (.screen)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:  # e.g. a dangling link: the executor records the failure
        return None


def plan_ingest(
    files: list[Path],
    roots: list[Path],
    known: dict[str, KnownFile],
    unreadable: list[tuple[Path, str]] = (),
    *,
    stats: dict[Path, os.stat_result | None] | None = None,
    young_after_ns: int | None = None,
) -> IngestPlan:
    """Compare ``files`` (absolute, as :func:`tempme.index.media.files.walk` lists them over
    ``roots``) with ``known``.

    ``unreadable``: the folders the walk could not list, as ``(folder, reason)``; known videos
    under them are neither gone nor changed. ``stats``: each file's ``os.stat`` (None: cannot be
    stat'ed) when the walk took them; missing ones are stat'ed here. ``young_after_ns``: files
    whose mtime (ns since the epoch) is at or after it are deferred.
    """
    encode: list[Path] = []
    drop: list[int] = []
    deferred: list[Path] = []
    skipped = 0
    on_disk = set()
    for f in files:
        key = str(f)
        on_disk.add(key)
        v = known.get(key)
        st = stats[f] if stats is not None and f in stats else _stat(f)
        unchanged = (
            st is not None and v is not None and v.size >= 0 and (v.size, v.mtime_ns) == (st.st_size, st.st_mtime_ns)
        )
        still_unreadable = st is None and v is not None and v.status == "failed" and v.size == -1
        if unchanged or still_unreadable:  # (a file that can be stat'ed again is retried)
            skipped += 1
            continue
        if young_after_ns is not None and st is not None and st.st_mtime_ns >= young_after_ns:
            deferred.append(f)
            continue
        if v is not None:
            drop.append(v.video_id)  # changed: drop, then encode again
        encode.append(f)
    hidden = [Path(d) for d, _ in unreadable]
    gone = [v.video_id for k, v in known.items() if is_under(k, roots) and k not in on_disk and not is_under(k, hidden)]
    return IngestPlan(
        found=len(files),
        encode=encode,
        drop=drop + gone,
        gone=gone,
        skipped=skipped,
        unreadable=list(unreadable),
        deferred=deferred,
    )
