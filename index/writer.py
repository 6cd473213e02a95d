"""``Library.add``: decide what to (re)index, run the pipeline, commit video by video.

Runs with the library lock held. Per video: one SQLite transaction (the video row, its segment
rows with their embeddings), then its vectors go into the in-memory FAISS index, which is saved
every ``flush_every`` videos and at the end (see ``index.library`` for the consistency rule).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from tempme.index.encoders import check_request, ensure_encoder
from tempme.index.ingest import DecodedVideo, run_pipeline, walk
from tempme.index.models import IndexRun, Segment, Video, utcnow
from tempme.index.segment import SegmentParams
from tempme.index.vectors import VectorIndex

log = logging.getLogger(__name__)


def _under(path: str, roots: list[Path]) -> bool:
    return any(path == str(r) or path.startswith(str(r) + os.sep) for r in roots)


def add_videos(lib, paths: list[Path], *, model: str, pretrained: str, adapter: Path | None, encoder,
               progress, workers: int, batch_size: int, segment_params: SegmentParams | None,
               flush_every: int):
    from tempme.index.library import IndexReport
    t0 = time.perf_counter()
    report = IndexReport()
    check_request(lib, model, pretrained, adapter, encoder)
    roots = [Path(p).expanduser().resolve() for p in paths]
    files = walk(roots)
    report.found = len(files)
    lib.refresh()

    # what changed since the last run
    with lib.Session() as s:
        known = {v.path: v for v in s.scalars(select(Video)).all()}
    todo: list[Path] = []
    drop: list[int] = []
    on_disk = set()
    for f in files:
        key = str(f)
        on_disk.add(key)
        v = known.get(key)
        try:
            st = f.stat()
        except OSError:  # e.g. a dangling link: the pipeline records the failure
            st = None
        unchanged = st is not None and v is not None and (v.size, v.mtime_ns) == (st.st_size, st.st_mtime_ns)
        still_unreadable = st is None and v is not None and v.status == "failed" and v.size == -1
        if unchanged or still_unreadable:
            report.skipped += 1
            continue
        if v is not None:
            drop.append(v.id)  # changed: drop, then re-encode
        todo.append(f)
    gone = [v.id for k, v in known.items() if _under(k, roots) and k not in on_disk]
    drop += gone

    encoder = ensure_encoder(lib, model, pretrained, adapter, encoder) if todo else None
    if lib._vectors is None and encoder is not None:
        lib._vectors = VectorIndex.empty(encoder.embed_dim, lib.index_params)

    with lib.Session() as s:
        run = IndexRun(started_at=utcnow(), videos_indexed=0, segments_added=0, failures=0, removed=0)
        s.add(run)
        if drop:
            seg_ids = lib._delete_videos(s, drop)
            report.removed = len(gone)
        s.commit()
        run_id = run.id
    if drop and lib._vectors is not None:
        lib._vectors.remove(seg_ids)
        lib._save_vectors()
    if gone:
        log.info("removed %d deleted files from the library", len(gone))

    unsaved = 0

    def save_run(finished: bool = False) -> None:
        with lib.Session() as s:
            run = s.get(IndexRun, run_id)
            run.videos_indexed, run.segments_added = report.indexed, report.segments
            run.failures, run.removed = report.failed, report.removed
            run.seconds = time.perf_counter() - t0
            if finished:
                run.finished_at = utcnow()
            s.commit()

    def flush() -> None:
        nonlocal unsaved
        if unsaved:
            lib._save_vectors()
            save_run()
            unsaved = 0

    def tick(path: Path) -> None:
        if progress is not None:
            progress(report.indexed + report.failed, len(todo), str(path))

    def on_video(v: DecodedVideo) -> None:
        nonlocal unsaved
        st = v.path.stat()
        with lib.Session() as s:
            row = Video(path=str(v.path), size=st.st_size, mtime_ns=st.st_mtime_ns,
                        content_hash=v.content_hash, duration_s=v.meta.duration_s, fps=v.meta.fps,
                        width=v.meta.width, height=v.meta.height, codec=v.meta.codec, status="indexed",
                        error=None, embedding=np.asarray(v.whole, np.float32).tobytes())
            row.segments = [Segment(start_s=sp.start_s, end_s=sp.end_s, kind=sp.kind,
                                    embedding=np.asarray(e, np.float32).tobytes())
                            for sp, e in zip(v.spans, v.embeddings)]
            s.add(row)
            s.commit()
            ids = np.array([seg.id for seg in row.segments], dtype=np.int64)
        lib._vectors.add(v.embeddings, ids)
        report.indexed += 1
        report.segments += len(ids)
        unsaved += 1
        if unsaved >= flush_every:
            flush()
        tick(v.path)

    def on_failure(path: Path, reason: str) -> None:
        nonlocal unsaved
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        with lib.Session() as s:
            s.add(Video(path=str(path), size=size, mtime_ns=mtime, status="failed", error=reason))
            s.commit()
        log.warning("failed: %s: %s", path, reason)
        report.failed += 1
        report.errors.append((str(path), reason))
        tick(path)

    if todo:
        times = run_pipeline(todo, encoder, on_video, on_failure, params=segment_params or SegmentParams(),
                             workers=workers, batch_size=batch_size)
        report.decode_s, report.encode_s = times.decode_s, times.encode_s
    if lib._vectors is not None and lib.index_params.kind_for(lib._vectors.ntotal) != lib._vectors.kind:
        log.info("library reached %d vectors: rebuilding as %s", lib._vectors.ntotal,
                 lib.index_params.kind_for(lib._vectors.ntotal))
        lib._rebuild_vectors()
        unsaved += 1
    flush()
    report.seconds = time.perf_counter() - t0
    save_run(finished=True)
    return report
