"""The catalog's bookkeeping: one record per indexing run, which vector file matches the
catalog (written after the file is in place), and the counts ``stats`` shows.

:class:`RunRecords` is mixed into :class:`tempme.index.catalog.Catalog`: it uses the catalog's
``session`` and ``transaction``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.models import Enrichment, IndexRun, IndexState, Segment, Video, utcnow
from tempme.index.catalog.paths import from_db
from tempme.index.nulls import from_records
from tempme.index.reports import IndexFileState, IndexReport, SearchTuning


class RunRecords:
    """Runs, the index file's state, counts; see the module docstring."""

    session: sessionmaker[Session]

    def transaction(self, what: str) -> AbstractContextManager[Session]:  # Catalog's
        raise NotImplementedError

    def score_nulls(self) -> list:  # NullRecords'
        raise NotImplementedError

    # ---- runs ------------------------------------------------------------------------------
    def start_run(self) -> int:
        with self.transaction("starting the run record") as s:
            run = IndexRun(started_at=utcnow(), videos_indexed=0, segments_added=0, failures=0, removed=0)
            s.add(run)
            s.flush()
            return run.id

    def update_run(self, run_id: int, report: IndexReport, seconds: float, finished: bool = False) -> None:
        with self.transaction("updating the run record") as s:
            run = s.get(IndexRun, run_id)
            run.videos_indexed, run.segments_added = report.indexed, report.segments
            run.failures, run.removed, run.seconds = report.failed, report.removed, seconds
            if finished:
                run.finished_at = utcnow()

    # ---- index state -----------------------------------------------------------------------
    def index_state(self) -> IndexFileState | None:
        with self.session() as s:
            st = s.get(IndexState, 1)
            if st is None:
                return None
            tuning = None
            if st.nprobe is not None:
                tuning = SearchTuning(
                    st.nprobe, st.rerank or 0, st.tuned_recall or 0.0, st.tuned_p50_ms or 0.0,
                    st.tuned_queries or 0, st.target_recall, st.max_ms,
                )  # fmt: skip
            return IndexFileState(st.faiss_version, st.faiss_file, st.index_type, st.ntotal, st.id_checksum, tuning)

    def record_index(self, state: IndexFileState) -> None:
        """Record which file matches the catalog, and its tuning (None: clears it)."""
        with self.transaction("recording the vector index file") as s:
            st = s.get(IndexState, 1)
            if st is None:
                st = IndexState(id=1)
                s.add(st)
            st.faiss_version, st.faiss_file, st.index_type = state.version, state.file, state.kind
            st.ntotal, st.id_checksum, st.updated_at = state.ntotal, state.id_checksum, utcnow()
            t = state.tuning
            st.nprobe, st.rerank = (t.nprobe, t.rerank) if t else (None, None)
            st.tuned_recall, st.tuned_p50_ms, st.tuned_queries = (t.recall, t.p50_ms, t.queries) if t else (None,) * 3
            st.target_recall, st.max_ms = (t.target_recall, t.max_ms) if t else (None, None)

    # ---- stats -----------------------------------------------------------------------------
    def counts(self) -> tuple[int, int, list[tuple[str, str]], dict | None, dict, list[str]]:
        """(indexed videos, segments, failures as (path, error), the last run as a dict or None,
        the stored nulls' summaries by query kind, the text kinds any video was processed for)."""
        with self.session() as s:
            videos = s.scalar(select(func.count(Video.id)).where(Video.status == "indexed"))
            segments = s.scalar(select(func.count(Segment.id)))
            failures = s.execute(
                select(Video.path, Video.error).where(Video.status == "failed").order_by(Video.path)
            ).all()
            run = s.scalars(select(IndexRun).order_by(IndexRun.id.desc()).limit(1)).first()
            kinds = sorted(s.scalars(select(Enrichment.kind).distinct()).all())
            last = None
            if run is not None:
                last = {
                    "started_at": run.started_at.isoformat(),
                    "seconds": run.seconds,
                    "finished": run.finished_at is not None,
                    "videos_indexed": run.videos_indexed,
                    "segments_added": run.segments_added,
                    "failures": run.failures,
                    "removed": run.removed,
                }
        calibration = {kind: null.summary() for kind, null in from_records(self.score_nulls()).items()}
        return int(videos), int(segments), [(from_db(p), e) for p, e in failures], last, calibration, kinds
