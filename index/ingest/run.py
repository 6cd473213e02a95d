"""``Library.add`` as a pipeline: plan what changed, bind the encoder, run an engine, commit;
and its inverse, ``Library.remove``.

Shaped like clip-retrieval's inference: what a step does is one module (:mod:`.plan`,
:mod:`.encoders`, :mod:`.writer`), *where it runs* is the injected engine
(:class:`~.outcomes.Executor`: :class:`~.executor.LocalExecutor` unless the options name
another). The library hands over an :class:`IngestTarget` (its folder, catalog, store and stop
event) while it holds its write lock; this module never takes a lock itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tempme.index.catalog import Catalog
from tempme.index.errors import LibraryError
from tempme.index.filenames import absolute, link_target, printable
from tempme.index.ingest import encoders
from tempme.index.ingest.batches import ChangeBatch
from tempme.index.ingest.calibrate import calibrate
from tempme.index.ingest.changeset import plan_batch, relink
from tempme.index.ingest.options import IngestOptions
from tempme.index.ingest.outcomes import Executor
from tempme.index.ingest.plan import IngestPlan, plan_ingest
from tempme.index.ingest.target import IngestTarget, library_query_model
from tempme.index.ingest.writer import Committer, backfill_dates
from tempme.index.media.treescan import scan_tree
from tempme.index.reports import IndexReport, IngestProgress, ProgressFn
from tempme.index.settings import get_settings

log = logging.getLogger(__name__)


def request_spec(target: IngestTarget, options: IngestOptions) -> encoders.EncoderSpec:
    """The encoder an ``add`` asks for: the loaded ``options.encoder``'s, else the options' names
    completed from the record (:func:`.encoders.resolve_request`).

    Raises:
        LibraryError: no encoder is recorded yet and none is named; the recorded adapter is missing.
    """
    if options.encoder is not None:
        return encoders.loaded_spec(options.encoder, options.adapter)
    return encoders.resolve_request(
        target.catalog, target.path, options.model, options.pretrained, options.adapter, options.quick_gelu
    )


def plan_paths(
    catalog: Catalog, paths: list[Path], young_after_ns: int | None = None, prune: bool = False
) -> IngestPlan:
    """Walk ``paths`` (links keep their names; one stat per file, :func:`.media.treescan.scan_tree`)
    and plan against the catalog, moved videos found by content hash (:func:`.changeset.relink`).

    Videos stored under a walked folder's target (indexed by another name, or before links kept
    their names) and walked now under the link's name are replaced by the names walked now, not
    doubled. Known videos the walk did not list are removed only when gone, or with ``prune``
    (:func:`.plan.gone_videos`).

    Raises:
        FileNotFoundError: a path does not exist.
    """
    roots = [absolute(p) for p in paths]
    unreadable: list[tuple[Path, str]] = []
    scanned = scan_tree(roots, errors=unreadable)
    targets = [t for r in roots if r.is_dir() and (t := link_target(r)) is not None and t not in roots]
    known = catalog.known_files()
    plan = plan_ingest(
        [f.path for f in scanned],
        roots + targets,
        known,
        unreadable,
        stats={f.path: f.stat for f in scanned},
        young_after_ns=young_after_ns,
        prune=prune,
    )
    return relink(catalog, plan, known)


def plan_run(
    catalog: Catalog, paths: list[Path] | ChangeBatch, settle_s: float = 0.0, prune: bool = False
) -> IngestPlan:
    """The plan of an ``add`` of ``paths``, or of a watcher's batch (:func:`.changeset.plan_batch`);
    files modified less than ``settle_s`` ago are deferred; ``prune``: see :func:`.plan.plan_ingest`."""
    young = time.time_ns() - int(settle_s * 1e9) if settle_s > 0 else None
    if isinstance(paths, ChangeBatch):
        return plan_batch(catalog, paths, young)
    return plan_paths(catalog, paths, young, prune)


def engine_for(options: IngestOptions, cancel: threading.Event, parts: bool = False) -> Executor:
    """``options.executor``, else a local threaded engine (imported here: torch, PyAV); ``parts``:
    it also yields ``SegmentsEncoded`` within files (the progress in seconds of ``add``)."""
    if options.executor is not None:
        return options.executor
    from tempme.index.ingest.executor import LocalExecutor

    return LocalExecutor(
        options.segment_params, options.workers, options.batch_size, cancel=cancel, segment_progress=parts
    )


def add_videos(
    target: IngestTarget,
    paths: list[Path] | ChangeBatch,
    spec: encoders.EncoderSpec,
    options: IngestOptions,
    progress: ProgressFn | None = None,
    loaded: object | None = None,
) -> tuple[IndexReport, object | None]:
    """Index ``paths`` with the encoder ``spec`` (see ``Library.add``); ``loaded``: the library's
    encoder if it already has one in memory. Returns the report and the encoder used (None when
    nothing needed encoding). Then the library's query model is made fresh (exported when missing
    or stale, unless ``TEMPME_QUERY_MODEL=0``: :func:`.query_model.ensure_query_model`)."""
    if options.encoder is None:
        encoders.check_request(target.catalog, target.path, spec)
    from tempme.index.ingest.screen import screen  # PyAV: only when a run indexes

    plan = screen(plan_run(target.catalog, paths, options.settle_s, options.prune))  # headers: no model for non-videos
    backfill_dates(target.catalog)  # videos indexed before recording dates were kept (headers only)
    if progress is not None:  # the totals, before the encoder loads
        progress(0, len(plan.encode) + len(plan.rejected), "")
        if hasattr(progress, "seconds"):
            total_s = sum(plan.durations.get(f, 0.0) for f in plan.encode)
            progress.seconds(IngestProgress(0, len(plan.encode) + len(plan.rejected), 0.0, total_s, "", 0.0, 0.0, 0.0))
    encoder = handle = None
    if plan.encode:
        encoder = options.encoder
        if encoder is None:
            recorded = target.catalog.encoder_info() is not None
            encoder = loaded if loaded is not None and recorded else encoders.load_for_library(
                target.catalog, target.path, spec
            )  # fmt: skip
        handle = encoders.bind(target.catalog, target.path, encoder, spec)
        target.store.ensure(encoder.embed_dim)
    committer = Committer(
        target.catalog, target.store, flush_every=options.flush_every, progress=progress, thumbnails=target.thumbnails
    )
    target.dropped(committer.begin(plan))
    if handle is not None:
        for outcome in engine_for(options, target.cancel, parts=True).run(plan.encode, handle):
            committer.commit(outcome)
            if target.cancel.is_set():
                break
    report = committer.finish(interrupted=target.cancel.is_set())
    if encoder is not None and not report.interrupted:
        calibrate(target.catalog, target.store, encoder)  # confidence's nulls (docs/confidence.md)
    if get_settings().query_model and not report.interrupted:
        report.query_model = library_query_model(target, encoder or loaded)
    return report, encoder


def remove_videos(target: IngestTarget, path: Path, confirm: Callable[[list[Path]], bool] | None = None) -> int:
    """Remove the video at ``path`` (or every video under a folder, compared literally) from the
    catalog and the vectors; returns how many went (0 when ``confirm`` refused more than one).

    Raises:
        LibraryError: nothing in the library matches ``path`` (nothing is removed).
    """
    p = absolute(path)
    video_ids = target.catalog.videos_under(p)
    link = link_target(p)
    if not video_ids and link not in (None, p):  # the target's own name, for older records
        p = link
        video_ids = target.catalog.videos_under(p)
    if not video_ids:
        raise LibraryError(f"{printable(p)} is not in the library {printable(target.path)}: nothing removed")
    if len(video_ids) > 1 and confirm is not None:
        if not confirm([target.catalog.video_path(v) for v in video_ids]):
            return 0
    seg_ids = target.catalog.delete_videos(video_ids)
    target.store.remove(seg_ids)
    target.store.save()
    target.dropped(seg_ids)
    return len(video_ids)
