"""A video library on disk: ``library.db`` (SQLite, the truth) + ``vectors-N.faiss`` (FAISS).

>>> lib = Library.open(Path("tempme-library"), create=True)
>>> lib.add([Path("~/Videos")], model="ViT-B-32", pretrained="openai")
>>> lib.search("a dog catching a frisbee", k=10)

Consistency (crash safety): a video's rows are committed in one transaction; its vectors then go
into the in-memory FAISS index, which is written to a new versioned file atomically every few
videos and at the end, after which ``index_state`` records that file and a checksum of its ids.
On opening, the FAISS ids are compared with the segment ids in SQLite; any difference (a run
killed between a commit and the next index write) is repaired from the stored vectors and, when
no indexer holds the lock, written back. One indexer at a time: ``index.lock`` (filelock).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock, Timeout
from sqlalchemy import delete, func, select

from tempme.index import db
from tempme.index.models import IndexRun, IndexState, Segment, Video, utcnow
from tempme.index.types import (  # noqa: F401  (re-exported: the public API lives here)
    Hit, IndexReport, LibraryBusyError, LibraryError, LibraryStats, SearchFilters,
)
from tempme.index.vectors import IndexParams, VectorIndex, checksum

log = logging.getLogger(__name__)


class Library:
    """See the module docstring. Use :meth:`open`."""

    def __init__(self, path: Path, *, index_params: IndexParams = IndexParams(), encoder=None):
        self.path = Path(path).resolve()
        self.index_params = index_params
        self.engine = db.make_engine(self.path)
        db.upgrade(self.engine)
        self.Session = db.session_factory(self.engine)
        self.lock = FileLock(str(self.path / "index.lock"))
        self._encoder = encoder
        self._mutex = threading.RLock()  # app handlers search from several threads
        self._vectors: VectorIndex | None = None
        self._loaded_version = -1
        self._load_vectors()

    # ---- opening, consistency -------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, create: bool = False, *, index_params: IndexParams = IndexParams(),
             encoder=None) -> "Library":
        """Open (or with ``create``, make) the library at ``path``; migrates its database.

        ``encoder``: an already loaded :class:`tempme.encoder.VideoEncoder` to use instead of
        loading the recorded one (it must match the record).

        Raises:
            LibraryError: ``path`` has no library and ``create`` is False.
        """
        path = Path(path).expanduser()
        if not (path / db.DB_NAME).is_file():
            if not create:
                raise LibraryError(f"no library at {path} (no {db.DB_NAME}); index videos first: "
                                   f"tempme --library {path} index VIDEO_DIR")
            path.mkdir(parents=True, exist_ok=True)
        return cls(path, index_params=index_params, encoder=encoder)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _state(self, session) -> IndexState:
        state = session.get(IndexState, 1)
        if state is None:
            state = IndexState(id=1, faiss_version=0, faiss_file=None, index_type="flat", ntotal=0,
                               id_checksum=0, updated_at=utcnow())
            session.add(state)
        return state

    def _stored(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N,) segment ids and (N, D) vectors from SQLite (all, or those in ``ids``)."""
        with self.Session() as s:
            q = select(Segment.id, Segment.embedding).order_by(Segment.id)
            if ids is not None:
                q = q.where(Segment.id.in_([int(i) for i in ids]))
            rows = s.execute(q).all()
        dim = self.embed_dim()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, dim or 1), np.float32)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return np.array([r[0] for r in rows], dtype=np.int64), vecs

    def _db_ids(self) -> np.ndarray:
        with self.Session() as s:
            return np.array(s.scalars(select(Segment.id)).all(), dtype=np.int64)

    def embed_dim(self) -> int | None:
        info = self.encoder_info()
        return info["embed_dim"] if info else None

    def _load_vectors(self) -> None:
        """Load the FAISS file the database points at; repair it if the ids disagree."""
        with self.Session() as s:
            state = s.get(IndexState, 1)
            version, name = (state.faiss_version, state.faiss_file) if state else (0, None)
        dim = self.embed_dim()
        vectors = None
        if name and (self.path / name).is_file():
            vectors = VectorIndex.load(self.path / name, self.index_params)
        elif name:
            log.warning("%s: index file %s is missing; rebuilding from stored vectors", self.path, name)
        if vectors is None and dim is not None:
            vectors = VectorIndex.empty(dim, self.index_params)
        self._vectors, self._loaded_version = vectors, version
        if vectors is None:
            return
        db_ids, index_ids = self._db_ids(), vectors.ids()
        missing = np.setdiff1d(db_ids, index_ids)
        extra = np.setdiff1d(index_ids, db_ids)
        if len(missing) or len(extra) or len(index_ids) != len(np.unique(index_ids)):
            log.warning("%s: index file v%d disagrees with the database (%d vectors missing, %d extra): "
                        "repairing from stored vectors", self.path, version, len(missing), len(extra))
            if len(index_ids) != len(np.unique(index_ids)):
                self._rebuild_vectors()
            else:
                vectors.remove(extra)
                ids, vecs = self._stored(missing)
                vectors.add(vecs, ids)
            try:
                with self.lock.acquire(timeout=0):
                    self._save_vectors()
            except Timeout:
                log.info("an indexer is running; the repaired index stays in memory")

    def _rebuild_vectors(self) -> None:
        """A new index of the type that fits the library's size, from the stored vectors."""
        ids, vecs = self._stored()
        self._vectors = VectorIndex.build(vecs, ids, vecs.shape[1], self.index_params)

    def _save_vectors(self) -> None:
        """Write the index to a new version file, then record it in the database (lock held)."""
        assert self.lock.is_locked
        with self.Session() as s:
            state = self._state(s)
            version = max(state.faiss_version, self._loaded_version) + 1
            name = f"vectors-{version}.faiss"
            self._vectors.save(self.path / name)
            old = state.faiss_file
            state.faiss_version, state.faiss_file = version, name
            state.index_type, state.ntotal = self._vectors.kind, self._vectors.ntotal
            state.id_checksum, state.updated_at = checksum(self._vectors.ids()), utcnow()
            s.commit()
        self._loaded_version = version
        for f in self.path.glob("vectors-*.faiss"):  # keep the previous file for open readers
            if f.name not in (name, old):
                f.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Reload the index if an indexer has written a newer one since (cheap when not)."""
        with self._mutex, self.Session() as s:
            state = s.get(IndexState, 1)
            version = state.faiss_version if state else 0
            count = s.scalar(select(func.count(Segment.id)))
            if version != self._loaded_version or (self._vectors is not None and count != self._vectors.ntotal) \
                    or (self._vectors is None and count):
                self._load_vectors()

    # ---- encoder ---------------------------------------------------------------------------
    def encoder_info(self) -> dict | None:
        from tempme.index.encoders import recorded_info
        return recorded_info(self)

    def encoder(self):
        """The library's encoder (loaded once from the record)."""
        from tempme.index.encoders import load_recorded
        if self._encoder is None:
            self._encoder = load_recorded(self)
        return self._encoder

    # ---- writing ---------------------------------------------------------------------------
    def _acquire(self, wait: bool | float) -> None:
        timeout = -1 if wait is True else (0 if wait is False else float(wait))
        try:
            self.lock.acquire(timeout=timeout)
        except Timeout:
            raise LibraryBusyError(
                f"another tempme process is indexing {self.path} (lock {self.lock.lock_file}); "
                "wait for it to finish or pass --wait") from None

    def add(self, paths: list[Path], *, model: str = "ViT-B-32", pretrained: str = "openai",
            adapter: Path | None = None, encoder=None,
            progress: Callable[[int, int, str], None] | None = None, wait: bool | float = False,
            workers: int = 2, batch_size: int = 8, segment_params=None,
            flush_every: int = 16) -> IndexReport:
        """Index the videos under ``paths`` (folders are walked recursively).

        Unchanged files (same size and mtime) are skipped; changed ones are dropped and
        re-encoded; files that disappeared from the walked folders are removed. Files that cannot
        be decoded are recorded as failed with their error and counted; they never stop the run.
        ``progress(done, total, path)`` is called after every video.

        Raises:
            LibraryBusyError: another indexer holds the lock (and ``wait`` is False).
            LibraryError: ``model``/``pretrained``/``adapter`` differ from the library's encoder.
            FileNotFoundError: a path does not exist.
        """
        from tempme.index.writer import add_videos
        self._acquire(wait)
        try:
            return add_videos(self, paths, model=model, pretrained=pretrained, adapter=adapter,
                              encoder=encoder, progress=progress, workers=workers,
                              batch_size=batch_size, segment_params=segment_params,
                              flush_every=flush_every)
        finally:
            self.lock.release()

    def remove(self, path: Path, *, wait: bool | float = False) -> int:
        """Remove a video (or every video under a folder); returns how many were removed.

        Raises:
            LibraryError: nothing in the library matches ``path``.
        """
        p = Path(path).expanduser().resolve()
        self._acquire(wait)
        try:
            with self.Session() as s:
                videos = s.scalars(select(Video).where(
                    (Video.path == str(p)) | Video.path.startswith(str(p) + os.sep))).all()
                if not videos:
                    raise LibraryError(f"{p} is not in the library {self.path}")
                self.refresh()
                seg_ids = self._delete_videos(s, [v.id for v in videos])
                s.commit()
            if self._vectors is not None:
                self._vectors.remove(seg_ids)
                self._save_vectors()
            return len(videos)
        finally:
            self.lock.release()

    def _delete_videos(self, session, video_ids: list[int]) -> np.ndarray:
        seg_ids = np.array(session.scalars(select(Segment.id).where(Segment.video_id.in_(video_ids))).all(),
                           dtype=np.int64)
        session.execute(delete(Segment).where(Segment.video_id.in_(video_ids)))
        session.execute(delete(Video).where(Video.id.in_(video_ids)))
        return seg_ids

    def rebuild(self, *, wait: bool | float = False) -> int:
        """Rebuild FAISS from the vectors stored in SQLite (no decoding); the index type follows
        the current size. Returns the number of vectors."""
        self._acquire(wait)
        try:
            if self.embed_dim() is None:
                return 0
            self._rebuild_vectors()
            self._save_vectors()
            return self._vectors.ntotal
        finally:
            self.lock.release()

    # ---- reading ---------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, offset: int = 0, per_video: bool = False,
               filters: SearchFilters | None = None) -> list[Hit]:
        """Moments matching ``query``, encoded by the library's text tower (see :meth:`search_vector`).

        Raises:
            ValueError: empty query. tempme.weights.WeightsUnavailableError: the recorded weights
            cannot be loaded.
        """
        from tempme.index.query import encode_query
        self.refresh()
        if self._vectors is None or self._vectors.ntotal == 0:
            return []  # nothing indexed yet: no encoder to load
        return self.search_vector(encode_query(self, query), k, offset=offset, per_video=per_video,
                                  filters=filters)

    def search_vector(self, vec: np.ndarray, k: int = 10, *, offset: int = 0, per_video: bool = False,
                      filters: SearchFilters | None = None, exclude_segment: int | None = None) -> list[Hit]:
        """Moments nearest to the (D,) unit vector ``vec``: results ``offset`` to ``offset + k``."""
        from tempme.index.query import search_moments
        return search_moments(self, vec, k, offset=offset, per_video=per_video, filters=filters,
                              exclude_segment=exclude_segment)

    def search_segments(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw FAISS search: (Q, D) -> scores (Q, K), segment ids (Q, K) (-1 where none)."""
        self.refresh()
        with self._mutex:
            if self._vectors is None:
                q = np.atleast_2d(vecs)
                return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
            return self._vectors.search(np.atleast_2d(vecs), k)

    def video_vector(self, video_id: int) -> np.ndarray:
        """The stored whole-video (D,) embedding (12 frames over the whole video). KeyError if none."""
        with self.Session() as s:
            v = s.get(Video, int(video_id))
            if v is None or v.embedding is None:
                raise KeyError(f"no indexed video {video_id} in {self.path}")
            return np.frombuffer(v.embedding, dtype=np.float32).copy()

    def segment_vector(self, segment_id: int) -> np.ndarray:
        """The stored (D,) embedding of a segment. Raises KeyError if there is none."""
        with self.Session() as s:
            seg = s.get(Segment, int(segment_id))
            if seg is None:
                raise KeyError(f"no segment {segment_id} in {self.path}")
            return seg.vector().copy()

    def video_path(self, video_id: int) -> Path:
        with self.Session() as s:
            v = s.get(Video, int(video_id))
            if v is None:
                raise KeyError(f"no video {video_id} in {self.path}")
            return Path(v.path)

    def is_library_file(self, path: str | os.PathLike) -> bool:
        """True when ``path`` resolves to an indexed video (for serving files safely)."""
        try:
            p = str(Path(path).expanduser().resolve(strict=True))
        except (OSError, RuntimeError):
            return False
        with self.Session() as s:
            return s.scalar(select(func.count(Video.id)).where(
                Video.path == p, Video.status == "indexed")) > 0

    def thumbnail(self, segment_id: int, max_side: int = 320) -> Path:
        """JPEG of the frame at the segment's start, cached in ``thumbs/``.

        Raises:
            KeyError: unknown segment; tempme.video.VideoDecodeError: the file is gone or broken.
        """
        from PIL import Image
        from tempme.video import sample_frames
        out = self.path / "thumbs" / f"{int(segment_id)}.jpg"
        if out.is_file():
            return out
        with self.Session() as s:
            seg = s.get(Segment, int(segment_id))
            if seg is None:
                raise KeyError(f"no segment {segment_id} in {self.path}")
            path, t = seg.video.path, min(seg.start_s + 0.05, (seg.start_s + seg.end_s) / 2)
        frame = sample_frames(path, [t], max_side=max_side)[0]
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        Image.fromarray(frame).save(tmp, format="JPEG", quality=85)
        os.replace(tmp, out)
        return out

    def stats(self) -> LibraryStats:
        self.refresh()
        with self.Session() as s:
            videos = s.scalar(select(func.count(Video.id)).where(Video.status == "indexed"))
            segments = s.scalar(select(func.count(Segment.id)))
            failures = s.execute(select(Video.path, Video.error).where(Video.status == "failed")
                                 .order_by(Video.path)).all()
            run = s.scalars(select(IndexRun).order_by(IndexRun.id.desc()).limit(1)).first()
        last = None
        if run is not None:
            last = {"started_at": run.started_at.isoformat(), "seconds": run.seconds,
                    "finished": run.finished_at is not None, "videos_indexed": run.videos_indexed,
                    "segments_added": run.segments_added, "failures": run.failures, "removed": run.removed}
        vec = self._vectors
        return LibraryStats(path=self.path, videos=videos, segments=segments, failed=len(failures),
                            failures=[(p, e) for p, e in failures],
                            index_type=vec.kind if vec else "none", vectors=vec.ntotal if vec else 0,
                            index_version=self._loaded_version, encoder=self.encoder_info(), last_run=last)
