"""`tempme reindex`: re-encode every video of a library with another (or the same) encoder.

Crash safety: **the old index stays searchable until the end, and the run resumes.** New
vectors go to a staging folder, ``<library>/reindex/`` (one ``.npz`` per video, written
atomically, under a ``target.json`` naming the new encoder); the catalog is not touched while
videos are encoded. When every video is done, one catalog transaction
(:meth:`Catalog.replace_encoding`) swaps the encoder record and every video's segments; the
FAISS file is then rebuilt and saved (a crash between the two leaves the catalog ahead of the
file, and the next open repairs the file from the catalog, as after any indexing run). A run
that is killed or interrupted before the swap leaves the library exactly as it was; running
the same ``reindex`` again reuses the staged videos whose file has not changed since (same
size, mtime and inode) and encodes only the rest. A staging folder for another encoder is
discarded.

:class:`Staging` is that folder; :func:`reindex_videos` the run (an engine as for ``add``, a
second writer into the staging folder, then the swap); the library holds its write lock around it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
from tempme.index.catalog import NewVideo
from tempme.index.errors import LibraryError
from tempme.index.filenames import printable
from tempme.index.ingest import encoders
from tempme.index.ingest.calibrate import calibrate
from tempme.index.ingest.encoders import EncoderInfo
from tempme.index.ingest.options import IngestOptions
from tempme.index.ingest.outcomes import FileStamp, SegmentsEncoded, VideoResult
from tempme.index.ingest.query_model import QUERY_MODEL_DIR, ensure_query_model
from tempme.index.ingest.run import engine_for
from tempme.index.ingest.target import IngestTarget
from tempme.index.ingest.writer import to_new_video
from tempme.index.reports import ProgressFn, ReindexReport
from tempme.index.settings import get_settings

log = logging.getLogger(__name__)

STAGING_NAME = "reindex"


class Staging:
    """The staging folder of a reindex towards the encoder ``target``.

    Opening it for another target discards what it held.
    """

    def __init__(self, library_dir: Path, target: EncoderInfo) -> None:
        self.dir = Path(library_dir) / STAGING_NAME
        marker = self.dir / "target.json"
        if self.dir.exists():
            try:
                same = EncoderInfo.from_dict(json.loads(marker.read_text())) == target
            except (OSError, ValueError, KeyError, TypeError):
                same = False
            if not same:
                log.info("discarding %s (staged for another encoder)", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(exist_ok=True)
        if not marker.exists():
            _atomic_write(marker, (json.dumps(target.to_dict(), default=str) + "\n").encode())

    def _file(self, video_id: int) -> Path:
        return self.dir / f"video-{int(video_id)}.npz"

    def put(self, video_id: int, video: NewVideo, inode: int) -> None:
        """Stage one re-encoded video (atomically: a killed writer leaves no partial file)."""
        meta = {
            "path": str(video.path),
            "size": video.size,
            "mtime_ns": video.mtime_ns,
            "inode": inode,
            "content_hash": video.content_hash,
            "duration_s": video.duration_s,
            "fps": video.fps,
            "width": video.width,
            "height": video.height,
            "codec": video.codec,
        }
        tmp = self.dir / f".video-{int(video_id)}.tmp.npz"
        np.savez(
            tmp,
            meta=np.array(json.dumps(meta)),
            spans=np.array([(a, b) for a, b, _ in video.spans], dtype=np.float64).reshape(-1, 2),
            kinds=np.array([k for _, _, k in video.spans], dtype=str),
            embeddings=np.asarray(video.embeddings, np.float32),
        )
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self._file(video_id))

    def get(self, video_id: int, stamp: tuple[int, int, int] | None) -> NewVideo | None:
        """The staged video, if it was staged from the file as it is now (``stamp``: size,
        mtime_ns, inode; None: the file is gone), else None."""
        f = self._file(video_id)
        if stamp is None or not f.is_file():
            return None
        try:
            with np.load(f) as z:
                meta = json.loads(str(z["meta"]))
                spans = [(float(a), float(b), str(k)) for (a, b), k in zip(z["spans"], z["kinds"])]
                embeddings = z["embeddings"].copy()
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the damaged staged file %s: %s", f, exc)
            return None
        if (meta["size"], meta["mtime_ns"], meta["inode"]) != tuple(stamp):
            return None
        return NewVideo(
            path=Path(meta["path"]),
            size=meta["size"],
            mtime_ns=meta["mtime_ns"],
            content_hash=meta["content_hash"],
            duration_s=meta["duration_s"],
            fps=meta["fps"],
            width=meta["width"],
            height=meta["height"],
            codec=meta["codec"],
            spans=spans,
            embeddings=embeddings,
        )

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def discard_staging(library_dir: Path) -> None:
    """Remove a leftover staging folder (e.g. one whose swap already happened)."""
    shutil.rmtree(Path(library_dir) / STAGING_NAME, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def reindex_videos(
    target: IngestTarget, spec: encoders.EncoderSpec, options: IngestOptions, progress: ProgressFn | None = None
) -> tuple[ReindexReport, object | None]:
    """Re-encode every indexed video with the encoder ``spec`` and switch to it (see the module
    docstring). Returns the report and the new encoder (None when the run stopped before the
    switch: ``report.interrupted``, the library as it was)."""
    t0 = time.perf_counter()
    encoder = encoders.load_for_library(target.catalog, target.path, spec)
    info = EncoderInfo.of(encoder)
    report = ReindexReport(encoder=info.describe())
    staging = Staging(target.path, info)
    videos = target.catalog.indexed_videos()
    done, todo = _resume(staging, videos, report)
    if progress is not None:
        progress(len(done), len(videos), "")
    failed = _encode(target, encoders.EncoderHandle(spec, encoder), options, staging, todo, done, progress, report)
    report.videos, report.failed = len(done), len(failed)
    report.segments = sum(len(v.spans) for v in done.values())
    if target.cancel.is_set() or len(done) + len(failed) < len(videos):
        report.interrupted = True
    else:
        if get_settings().query_model:  # staged beside the vectors, moved in by the switch
            report.query_model = ensure_query_model(staging.dir / QUERY_MODEL_DIR, info, lambda: encoder)
        _switch(target, spec, info, staging, done, failed)
        log.info("library %s: re-encoded with %s", target.path, report.encoder)
        calibrate(target.catalog, target.store, encoder, force=True)  # the new encoder's nulls
    report.seconds = time.perf_counter() - t0
    return report, None if report.interrupted else encoder


def _resume(
    staging: Staging, videos: list[tuple[int, Path]], report: ReindexReport
) -> tuple[dict[int, NewVideo], dict[Path, int]]:
    """The videos staged by an earlier run from the files as they are now, and the rest to encode
    (path -> video id)."""
    done: dict[int, NewVideo] = {}
    todo: dict[Path, int] = {}
    for video_id, path in videos:
        try:
            st = os.stat(path)
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            stamp = None
        staged = staging.get(video_id, stamp)
        if staged is not None:
            done[video_id] = staged
            report.resumed += 1
        else:
            todo[path] = video_id
    return done, todo


def _encode(target, handle, options, staging, todo, done, progress, report) -> list[tuple[int, str]]:
    """Run the engine over ``todo``, staging each video (the second writer); returns the failures
    as (video id, reason). Stops early when the target's ``cancel`` is set."""
    failed: list[tuple[int, str]] = []
    if not todo:
        return failed
    total = len(done) + len(todo)
    with ExitStack() as stack:
        outcomes = engine_for(options, target.cancel).run(list(todo), handle)
        stack.callback(getattr(outcomes, "close", lambda: None))  # stop the decoders on any exit
        for outcome in outcomes:
            if isinstance(outcome, SegmentsEncoded):
                continue  # part of a file: the reindex counts whole videos
            video_id = todo[outcome.path]
            if isinstance(outcome, VideoResult):
                stamp = outcome.stamp or FileStamp.of(outcome.path)
                video = to_new_video(replace(outcome, stamp=stamp))
                staging.put(video_id, video, stamp.inode)
                done[video_id] = video
            else:
                failed.append((video_id, outcome.reason))
                report.errors.append((printable(outcome.path), outcome.reason))
            if progress is not None:
                progress(len(done) + len(failed), total, printable(outcome.path))
            if target.cancel.is_set():
                break
    return failed


def _switch(target: IngestTarget, spec, record: EncoderInfo, staging: Staging, done: dict, failed: list) -> None:
    """One catalog transaction to the new encoder, its adapter into the library, the index
    rebuilt (keeping a pinned type when it still fits) and saved."""
    if spec.adapter is not None and Path(spec.adapter).resolve() != (target.path / "adapter").resolve():
        shutil.copytree(spec.adapter, staging.dir / "adapter", dirs_exist_ok=True)  # the library's own copy
    pinned = target.store.kind if target.store.pinned else None  # a type chosen at rebuild stays
    old_ids, _ = target.catalog.replace_encoding(record, sorted(done.items()), failed)
    if spec.adapter is not None and (staging.dir / "adapter").is_dir():
        shutil.rmtree(target.path / "adapter", ignore_errors=True)
        os.replace(staging.dir / "adapter", target.path / "adapter")
    try:
        target.store.rebuild(pinned)
    except ValueError as e:  # the pinned type does not fit the new encoder's width
        log.warning("index type %s does not fit the new encoder (%s): chosen by size instead", pinned, e)
        target.store.rebuild()
    target.store.save()
    target.dropped(old_ids)
    _move_query_model(staging.dir / QUERY_MODEL_DIR, target.path / QUERY_MODEL_DIR)
    staging.clear()


def _move_query_model(staged: Path, folder: Path) -> None:
    """The new encoder's query model in place of the old one (which no search uses any more: the
    record changed); without a staged one, the old one goes (stale: the torch path answers)."""
    shutil.rmtree(folder, ignore_errors=True)
    if staged.is_dir():
        os.replace(staged, folder)


def reindex_spec(target: IngestTarget, options: IngestOptions) -> encoders.EncoderSpec:
    """The encoder a reindex asks for: the options' names, the rest from the record.

    Raises:
        LibraryError: an empty library (nothing to re-encode), a missing recorded adapter.
    """
    if target.catalog.encoder_info() is None:
        raise LibraryError(f"the library {target.path} is empty: nothing to re-encode (index videos first)")
    return encoders.resolve_request(target.catalog, target.path, options.model, options.pretrained, options.adapter)
