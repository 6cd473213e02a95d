"""Ingest, step 3: the one committer, the only writer of a run's rows and vectors.

Crash safety: a video's rows (the video, its segments with their vectors) are committed in one
catalog transaction; then its vectors go into the vector store, which is saved as a new
versioned file every ``flush_every`` videos and at the end. A run killed in between leaves the
catalog ahead of the file, and the next ``load`` repairs the file from the catalog. Runs are
recorded (``runs`` table) as they go, so ``stats`` shows an interrupted one.

It runs in the thread that iterates the executor, with the library's write lock held.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from tempme.index.catalog import Catalog, NewVideo
from tempme.index.executor import Outcome, VideoFailure, VideoResult
from tempme.index.planner import IngestPlan
from tempme.index.store import VectorStore
from tempme.index.types import IndexReport

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]  # (done, total, path)


class Committer:
    """Stores one run's outcomes; use :meth:`begin`, then :meth:`commit` per outcome, then :meth:`finish`."""

    def __init__(self, catalog: Catalog, store: VectorStore, *, flush_every: int = 16,
                 progress: ProgressFn | None = None) -> None:
        self.catalog = catalog
        self.store = store
        self.flush_every = flush_every
        self.progress = progress
        self.report = IndexReport()
        self._t0 = time.perf_counter()
        self._run_id: int | None = None
        self._total = 0
        self._unsaved = 0

    def begin(self, plan: IngestPlan) -> None:
        """Record the run and apply the plan's deletions (rows, then vectors, then a saved file)."""
        self.report.found, self.report.skipped = plan.found, plan.skipped
        self._total = len(plan.encode)
        self._run_id = self.catalog.start_run()
        if plan.drop:
            seg_ids = self.catalog.delete_videos(plan.drop)
            self.report.removed = len(plan.gone)
            self.store.remove(seg_ids)
            self.store.save()
        if plan.gone:
            log.info("removed %d deleted files from the library", len(plan.gone))

    def commit(self, outcome: Outcome) -> None:
        if isinstance(outcome, VideoResult):
            self._video(outcome)
        else:
            self._failure(outcome)
        if self.progress is not None:
            self.progress(self.report.indexed + self.report.failed, self._total, str(outcome.path))

    def _video(self, v: VideoResult) -> None:
        m = v.meta
        ids = self.catalog.add_video(NewVideo(
            path=v.path, content_hash=v.content_hash, duration_s=m.duration_s, fps=m.fps, width=m.width,
            height=m.height, codec=m.codec, spans=[(s.start_s, s.end_s, s.kind) for s in v.spans],
            embeddings=v.embeddings))
        self.store.add(np.asarray(v.embeddings, np.float32), ids)
        r = self.report
        r.indexed += 1
        r.segments += len(ids)
        r.decode_s += v.decode_s
        r.encode_s += v.encode_s
        self._unsaved += 1
        if self._unsaved >= self.flush_every:
            self._flush()

    def _failure(self, f: VideoFailure) -> None:
        self.catalog.add_failure(Path(f.path), f.reason)
        log.warning("failed: %s: %s", f.path, f.reason)
        self.report.failed += 1
        self.report.decode_s += f.decode_s
        self.report.errors.append((str(f.path), f.reason))

    def _flush(self) -> None:
        if self._unsaved:
            self.store.save()
            self.catalog.update_run(self._run_id, self.report, time.perf_counter() - self._t0)
            self._unsaved = 0

    def finish(self) -> IndexReport:
        """Rebuild the index if the library outgrew its type, save, close the run record."""
        if self.store.needs_rebuild():
            log.info("library reached %d vectors: rebuilding its index", self.store.ntotal)
            self.store.rebuild()
            self._unsaved += 1
        self._flush()
        self.report.seconds = time.perf_counter() - self._t0
        self.catalog.update_run(self._run_id, self.report, self.report.seconds, finished=True)
        return self.report
