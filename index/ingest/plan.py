"""Ingest, step 1: plan what changes: new, changed and deleted files under the given paths.

Pure decisions over the catalog's record of files (:meth:`Catalog.known_files`) and the files
on disk; nothing is written. Unchanged files (same size and mtime) are skipped; a changed file
is dropped and encoded again; a file that disappeared from a walked folder is dropped, unless
it lies in a folder that could not be listed this time (its videos are kept). A failure that may
pass by itself (recorded with size -1: unreadable, changed while read) is tried again, unless
the file still cannot even be stat'ed (a dangling link).
"""

from __future__ import annotations

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
    forgotten: int = 0  # of those, records of files that had failed (no video was in the library)
    skipped: int = 0  # unchanged files
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # folders not listed: (folder, reason)


def plan_ingest(
    files: list[Path], roots: list[Path], known: dict[str, KnownFile], unreadable: list[tuple[Path, str]] = ()
) -> IngestPlan:
    """Compare ``files`` (absolute, from :func:`tempme.index.media.files.walk` over ``roots``) with ``known``.

    ``unreadable``: the folders ``walk`` could not list, as ``(folder, reason)``; known videos
    under them are neither gone nor changed.
    """
    encode: list[Path] = []
    drop: list[int] = []
    skipped = 0
    on_disk = set()
    for f in files:
        key = str(f)
        on_disk.add(key)
        v = known.get(key)
        try:
            st = f.stat()
        except OSError:  # e.g. a dangling link: the executor records the failure
            st = None
        unchanged = (
            st is not None and v is not None and v.size >= 0 and (v.size, v.mtime_ns) == (st.st_size, st.st_mtime_ns)
        )
        still_unreadable = st is None and v is not None and v.status == "failed" and v.size == -1
        if unchanged or still_unreadable:  # (a file that can be stat'ed again is retried)
            skipped += 1
            continue
        if v is not None:
            drop.append(v.video_id)  # changed: drop, then encode again
        encode.append(f)
    hidden = [Path(d) for d, _ in unreadable]
    missing = [v for k, v in known.items() if is_under(k, roots) and k not in on_disk and not is_under(k, hidden)]
    gone = [v.video_id for v in missing]
    return IngestPlan(
        found=len(files), encode=encode, drop=drop + gone, gone=gone, skipped=skipped, unreadable=list(unreadable),
        forgotten=sum(v.status == "failed" for v in missing),
    )  # fmt: skip
