"""Ingest, moves the OS did not report as moves: a new file that is a video the library lost.

A rename inside one watched folder arrives as one event (``ChangeBatch.moved``); a move between
two watched roots, a move made while nobody watched, or a copy-then-delete across file systems
arrive as a deletion and a new file. :func:`match_moves` pairs them: a new file whose size
equals a removed video's, and whose content hash (:func:`~tempme.index.media.files.content_hash`, the one the
catalog stores) is the same, is that video under a new name: the ingest records the new path
and keeps its segments and vectors instead of decoding and encoding it again.

Only size-equal candidates are hashed (reading the file once, far cheaper than decoding it);
the modification time is not required to match (``cp`` without ``-p`` sets a new one), but it
and the file name break ties between identical copies.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tempme.index.media.files import content_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LostVideo:
    """A video whose file is gone from its recorded path (deleted, or moved)."""

    video_id: int
    path: Path
    size: int  # bytes, as recorded
    mtime_ns: int
    content_hash: str | None  # blake2b-256 hex; None for rows recorded without one


@dataclass(frozen=True)
class NewFile:
    """A video file on disk the library has no row for, with what ``os.stat`` said of it."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Relink:
    """``video_id`` is now at ``new`` (it was at ``old``): same bytes, no re-encoding."""

    video_id: int
    old: Path
    new: Path


def match_moves(
    new: Iterable[NewFile],
    lost: Iterable[LostVideo],
    hash_of: Callable[[Path], str] = content_hash,
) -> list[Relink]:
    """Pair new files with lost videos of the same size and content hash, each at most once.

    Among lost videos with the same hash (identical copies), the one with the new file's name,
    then its mtime, then the lowest id is taken. A file that cannot be read is not a match
    (the ingest then records its failure as for any file).

    Returns the pairs in the order of ``new``.
    """
    by_size: dict[int, list[LostVideo]] = {}
    for v in lost:
        if v.content_hash and v.size >= 0:
            by_size.setdefault(v.size, []).append(v)
    taken: set[int] = set()
    out: list[Relink] = []
    for f in new:
        candidates = [v for v in by_size.get(f.size, ()) if v.video_id not in taken]
        if not candidates:
            continue
        try:
            digest = hash_of(f.path)
        except OSError as exc:
            log.info("cannot read %s to compare it with removed videos: %s", f.path, exc)
            continue
        same = [v for v in candidates if v.content_hash == digest]
        if not same:
            continue
        best = min(same, key=lambda v: (v.path.name != f.path.name, v.mtime_ns != f.mtime_ns, v.video_id))
        taken.add(best.video_id)
        out.append(Relink(best.video_id, best.path, f.path))
    return out


def new_file(path: Path, st: os.stat_result) -> NewFile:
    return NewFile(path, st.st_size, st.st_mtime_ns)
