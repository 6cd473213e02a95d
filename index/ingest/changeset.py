"""Ingest, step 1 for watched folders and moves: a :class:`~.batches.ChangeBatch` as a plan, and
videos found again under new names.

:func:`plan_batch` turns what a watcher saw into an :class:`~.plan.IngestPlan` in the order the
batch defines (:class:`~.batches.ChangeBatch`): deletions (videos at or under each path),
then the OS-reported moves as one substitution over the library's paths (each path takes the
move whose old side is its longest prefix), then the changed files and rescanned folders
planned as ``Library.add`` plans them (stat-only: :func:`~tempme.index.media.treescan.scan_tree`)
against the catalog as it will be after the moves.

:func:`relink` then looks at the new files of any plan (a rescan, ``tempme index`` or a batch):
one with the size and content hash of a video that is gone -- dropped by this plan, or
recorded at a path that no longer exists -- is that video moved (between two watched roots,
or while nobody watched): it is re-pathed instead of being encoded, and its segments, vectors,
transcripts and thumbnails stay (:func:`.moves.match_moves`).
"""

from __future__ import annotations

import bisect
import logging
import os
from dataclasses import replace
from pathlib import Path

from tempme.index.catalog import Catalog, KnownFile
from tempme.index.ingest.batches import ChangeBatch
from tempme.index.ingest.moves import LostVideo, NewFile, match_moves
from tempme.index.ingest.plan import IngestPlan, plan_ingest
from tempme.index.media.treescan import scan_tree

log = logging.getLogger(__name__)


def _under(keys: list[str], path: Path) -> list[str]:
    """The sorted ``keys`` equal to ``path`` or inside it (bisections, not a scan)."""
    p = str(path)
    i = bisect.bisect_left(keys, p)
    exact = [p] if i < len(keys) and keys[i] == p else []
    lo = bisect.bisect_left(keys, p + os.sep)
    hi = bisect.bisect_left(keys, p + chr(ord(os.sep) + 1))  # "/" + 1 is "0": every name below p/
    return exact + keys[lo:hi]


def _os_moves(known: dict[str, KnownFile], keys: list[str], batch: ChangeBatch, deleted: set[int]):
    """(moves, failed rows to drop, new names of failed files to plan) of ``batch.moved``."""
    moves: dict[int, Path] = {}
    failed: set[int] = set()
    retry: list[Path] = []
    for old, new in sorted(batch.moved, key=lambda m: -len(m[0].parts)):  # the longest old prefix first
        for key in _under(keys, old):
            v = known[key]
            if v.video_id in moves or v.video_id in deleted or v.video_id in failed:
                continue
            target = new if key == str(old) else new / Path(key).relative_to(old)
            if v.status == "indexed":
                moves[v.video_id] = target
            else:  # a file that failed, renamed: try it again under its new name
                failed.add(v.video_id)
                retry.append(target)
    return moves, failed, retry


def plan_batch(catalog: Catalog, batch: ChangeBatch, young_after_ns: int | None = None) -> IngestPlan:
    """The plan of one watched batch (see the module docstring); nothing is written."""
    known = catalog.known_files()
    keys = sorted(known)
    deleted = {known[k].video_id for p in batch.deleted for k in _under(keys, p)}
    moves, failed, retry = _os_moves(known, keys, batch, deleted)
    moving_from = {k for k, v in known.items() if v.video_id in moves}
    # a move onto a recorded name that is not itself moving away replaces that video
    replaced = {known[str(t)].video_id for t in moves.values() if str(t) in known and str(t) not in moving_from}
    after = {
        k: v for k, v in known.items() if v.video_id not in moves and v.video_id not in deleted | replaced | failed
    }
    after.update({str(moves[v.video_id]): v for k, v in known.items() if v.video_id in moves})

    files: list[Path] = []
    stats: dict[Path, os.stat_result | None] = {}
    for f in [*batch.changed, *retry]:
        try:
            stats[f] = f.stat()
            files.append(f)
        except FileNotFoundError:
            continue  # gone again since: its deletion comes in a later batch
        except OSError:
            stats[f] = None  # the engine records why it cannot be read
            files.append(f)
    roots = [r for r in batch.rescan if r.is_dir()]
    unreadable: list[tuple[Path, str]] = []
    for sf in scan_tree(roots, unreadable) if roots else []:
        if sf.path not in stats:
            stats[sf.path] = sf.stat
            files.append(sf.path)
    plan = plan_ingest(files, roots, after, unreadable, stats=stats, young_after_ns=young_after_ns)
    plan = replace(
        plan,
        drop=sorted(set(plan.drop) | deleted | replaced | failed),
        gone=sorted(set(plan.gone) | deleted | replaced),
        moves=[(vid, new, None, None) for vid, new in sorted(moves.items())],
    )
    return relink(catalog, plan, after)


def relink(catalog: Catalog, plan: IngestPlan, known: dict[str, KnownFile] | None = None) -> IngestPlan:
    """``plan`` with the new files that are gone videos under new names moved, not encoded.

    Candidates: the videos ``plan`` drops as gone, and the indexed videos of the same sizes
    whose recorded file no longer exists. Only size-equal files are hashed.
    """
    known = catalog.known_files() if known is None else known
    new: list[NewFile] = []
    for f in plan.encode:
        if str(f) in known:
            continue  # a changed file under its own name, not a move
        try:
            st = f.stat()
        except OSError:
            continue
        new.append(NewFile(f, st.st_size, st.st_mtime_ns))
    if not new:
        return plan
    moved_now = {m[0] for m in plan.moves}
    lost = {v.video_id: v for v in catalog.stored_files(ids=list(plan.gone))}
    for v in catalog.stored_files(sizes=sorted({f.size for f in new})):
        if v.video_id not in lost and v.video_id not in moved_now and not os.path.lexists(v.path):
            lost[v.video_id] = v
    pairs = match_moves(new, [LostVideo(v.video_id, v.path, v.size, v.mtime_ns, v.content_hash) for v in lost.values()])
    if not pairs:
        return plan
    stamps = {f.path: f for f in new}
    ids = {p.video_id for p in pairs}
    paths = {p.new for p in pairs}
    for p in pairs:
        log.info("%s is %s moved: kept (no re-encoding)", p.new, p.old)
    return replace(
        plan,
        encode=[f for f in plan.encode if f not in paths],
        drop=[i for i in plan.drop if i not in ids],
        gone=[i for i in plan.gone if i not in ids],
        moves=plan.moves + [(p.video_id, p.new, stamps[p.new].size, stamps[p.new].mtime_ns) for p in pairs],
    )
