"""Ingest, step 1: plan what changes: new, changed and deleted files under the given paths.

Pure decisions over the catalog's record of files (:meth:`Catalog.known_files`) and the files
on disk (their stats, taken once by :func:`~tempme.index.media.treescan.scan_tree`); nothing is
written. Unchanged files (same size and mtime) are skipped; a changed file is dropped and
encoded again. A failure that may pass by itself (recorded with size -1: unreadable, changed
while read) is tried again, unless the file still cannot even be stat'ed (a dangling link). A
file modified after ``young_after_ns`` may still be being written (a watched folder): it is
deferred, neither encoded nor dropped. Moves (a video's bytes under a new name) are found by
:mod:`.changeset`.

Removal (:func:`gone_videos`) is for what is really gone, never for what one walk did not visit:
a known video under a walked folder that the walk did not list is dropped only when its name no
longer leads to a regular file (deleted, moved away, replaced by a folder, a FIFO or a device),
or when the walk listed the same file under another name (a folder indexed through a link
replaces the names stored under its target), or when the user asks (``prune``). Hidden files
and folders, files under a linked folder (walks do not follow folder links), files with an
extension outside the list that were indexed by naming them, and videos in folders that could
not be listed are kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tempme.index.catalog import KnownFile
from tempme.index.filenames import is_under, link_target
from tempme.index.media.files import regular_stat


@dataclass(frozen=True)
class IngestPlan:
    """What one ``Library.add`` will do."""

    found: int  # video files under the paths
    encode: list[Path] = field(default_factory=list)  # new or changed files, to decode and encode
    drop: list[int] = field(default_factory=list)  # video ids to delete first (changed + gone)
    gone: list[int] = field(default_factory=list)  # of those, files no longer on disk
    forgotten: int = 0  # of those, records of files that had failed (no video was in the library)
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


def gone_videos(
    known: dict[str, KnownFile],
    listed: dict[str, os.stat_result | None],
    roots: list[Path],
    unreadable: list[Path] = (),
    *,
    prune: bool = False,
) -> list[int]:
    """The rule for removal (see the module docstring): ids of ``known`` videos under ``roots``
    that the walk did not list (``listed``: name -> its stat, None when it has none) and that are
    gone; with ``prune``, every one the walk did not list. Videos under ``unreadable`` folders
    are always kept."""
    by_inode = {(st.st_dev, st.st_ino): name for name, st in listed.items() if st is not None}
    out = []
    for name, v in known.items():
        if name in listed or not is_under(name, roots) or is_under(name, unreadable):
            continue
        st = regular_stat(name)
        if st is None or prune:
            out.append(v.video_id)
            continue
        other = by_inode.get((st.st_dev, st.st_ino))  # the same file, listed under another name?
        if other is not None and link_target(other) == link_target(name):
            out.append(v.video_id)
    return out


def plan_ingest(
    files: list[Path],
    roots: list[Path],
    known: dict[str, KnownFile],
    unreadable: list[tuple[Path, str]] = (),
    *,
    stats: dict[Path, os.stat_result | None] | None = None,
    young_after_ns: int | None = None,
    prune: bool = False,
) -> IngestPlan:
    """Compare ``files`` (absolute, as :func:`tempme.index.media.files.walk` lists them over
    ``roots``) with ``known``.

    ``unreadable``: the folders the walk could not list, as ``(folder, reason)``; known videos
    under them are neither gone nor changed. ``stats``: each file's ``os.stat`` (None: cannot be
    stat'ed) when the walk took them; missing ones are stat'ed here. ``young_after_ns``: files
    whose mtime (ns since the epoch) is at or after it are deferred. ``prune``: drop every known
    video under ``roots`` that the walk did not list (hidden ones too), not only the gone ones
    (:func:`gone_videos`).
    """
    encode: list[Path] = []
    drop: list[int] = []
    deferred: list[Path] = []
    skipped = 0
    listed: dict[str, os.stat_result | None] = {}
    for f in files:
        key = str(f)
        v = known.get(key)
        st = stats[f] if stats is not None and f in stats else _stat(f)
        listed[key] = st
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
    gone = gone_videos(known, listed, roots, [Path(d) for d, _ in unreadable], prune=prune)
    failed = {v.video_id for v in known.values() if v.status == "failed"}
    return IngestPlan(
        found=len(files),
        encode=encode,
        drop=drop + gone,
        gone=gone,
        skipped=skipped,
        unreadable=list(unreadable),
        deferred=deferred,
        forgotten=sum(g in failed for g in gone),
    )
