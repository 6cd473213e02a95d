"""The catalog's transcripts and on-screen text: full-text search (SQLite FTS5 BM25, PostgreSQL
``ts_rank``), the query terms both engines search for, and the per-video enrichment records.

:class:`FullText` is mixed into :class:`tempme.index.catalog.Catalog`: it uses the catalog's
``session``, ``transaction`` and ``engine``.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from tempme.index.catalog.filters import filter_videos
from tempme.index.catalog.models import Enrichment, Segment, TextLine, Video, utcnow
from tempme.index.catalog.paths import from_db
from tempme.index.catalog.records import EnrichmentRecord, NewTextLine, TextMatch, VideoToEnrich
from tempme.index.hits import TEXT_KINDS, SearchFilters

# words too common to say anything about a moment (FTS5 has no stop list; PostgreSQL's
# 'english' configuration drops these itself)
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its me my of on or our "
    "she so that the their them they this to was we were what when where who will with you your".split()
)


def query_terms(query: str) -> list[str]:
    """The words of a free-text query, lower case, stop words dropped (all kept if only those)."""
    words = re.findall(r"\w+", query.casefold())
    kept = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(kept or words))


def text_match(row: TextLine, relevance: float, rank: int) -> TextMatch:
    words = tuple((w, float(a), float(b)) for w, a, b in json.loads(row.words_json)) if row.words_json else ()
    box = tuple(float(v) for v in json.loads(row.box_json)) if row.box_json else None
    return TextMatch(
        row.id,
        row.video_id,
        row.segment_id,
        row.kind,
        row.start_s,
        row.end_s,
        row.text,
        words,
        box,
        relevance,
        rank,
        row.search_text,
    )


class FullText:
    """What was said and written, per video; see the module docstring."""

    engine: Engine
    session: sessionmaker[Session]

    def transaction(self, what: str) -> AbstractContextManager[Session]:  # Catalog's
        raise NotImplementedError

    def videos_missing(self, kind: str, redo: bool = False) -> list[VideoToEnrich]:
        """Indexed videos with no ``kind`` enrichment yet (with ``redo``: every indexed video),
        by path, each with its segments."""
        if kind not in TEXT_KINDS:
            raise ValueError(f"kind must be one of {TEXT_KINDS}, got {kind!r}")
        done = select(Enrichment.video_id).where(Enrichment.kind == kind)
        with self.session() as s:
            videos = s.execute(
                select(Video.id, Video.path, Video.duration_s)
                .where(Video.status == "indexed", *([] if redo else [Video.id.not_in(done)]))
                .order_by(Video.path)
            ).all()
            segs: dict[int, list[tuple[int, float, float]]] = {}
            if videos:
                for sid, vid, a, b in s.execute(
                    select(Segment.id, Segment.video_id, Segment.start_s, Segment.end_s)
                    .where(Segment.video_id.in_([v[0] for v in videos]))
                    .order_by(Segment.video_id, Segment.start_s)
                ):
                    segs.setdefault(vid, []).append((sid, a, b))
        return [VideoToEnrich(vid, Path(from_db(p)), float(d or 0.0), segs.get(vid, [])) for vid, p, d in videos]

    def add_enrichment(self, video_id: int, kind: str, record: EnrichmentRecord, lines: list[NewTextLine]) -> int:
        """Store a video's lines of ``kind`` and the record that it was processed, in one
        transaction (a crash leaves the video unprocessed, never half done). Each line goes to
        the segment where it starts. Returns the number of lines stored.

        Raises:
            KeyError: the video is gone (or has no segments).
        """
        with self.transaction(f"storing the {kind} lines of video {video_id}") as s:
            segs = s.execute(
                select(Segment.id, Segment.start_s).where(Segment.video_id == int(video_id)).order_by(Segment.start_s)
            ).all()
            if not segs:
                raise KeyError(f"no video {video_id} with segments")
            starts = [a for _, a in segs]
            s.execute(delete(TextLine).where(TextLine.video_id == int(video_id), TextLine.kind == kind))
            s.execute(delete(Enrichment).where(Enrichment.video_id == int(video_id), Enrichment.kind == kind))
            for ln in lines:
                if ln.kind != kind:
                    raise ValueError(f"a {ln.kind} line in a {kind} enrichment")
                i = max(sum(1 for a in starts if a <= ln.start_s) - 1, 0)
                s.add(
                    TextLine(
                        video_id=int(video_id),
                        segment_id=segs[i][0],
                        kind=kind,
                        start_s=ln.start_s,
                        end_s=ln.end_s,
                        text=ln.text,
                        score=ln.score,
                        words_json=json.dumps([list(w) for w in ln.words]) if ln.words else None,
                        box_json=json.dumps(list(ln.box)) if ln.box is not None else None,
                        search_text=ln.search_text,
                        phones=ln.phones,
                    )
                )
            s.add(
                Enrichment(
                    video_id=int(video_id),
                    kind=kind,
                    status=record.status,
                    backend=record.backend,
                    model=record.model,
                    language=record.language,
                    error=record.error,
                    lines=len(lines),
                    seconds=record.seconds,
                    created_at=utcnow(),
                )
            )
        return len(lines)

    def enrichment_counts(self, kind: str) -> dict[str, int]:
        """status -> number of videos processed for ``kind`` (empty: none processed)."""
        with self.session() as s:
            rows = s.execute(
                select(Enrichment.status, func.count()).where(Enrichment.kind == kind).group_by(Enrichment.status)
            ).all()
        return {st: int(n) for st, n in rows}

    def enrichment(self, video_id: int, kind: str) -> EnrichmentRecord | None:
        with self.session() as s:
            e = s.get(Enrichment, (int(video_id), kind))
            return None if e is None else EnrichmentRecord(e.status, e.backend, e.model, e.language, e.error, e.seconds)

    def text_lines(self, video_id: int, kind: str) -> list[TextMatch]:
        """Every stored line of a video, in time order (``rank`` = position, ``relevance`` 0)."""
        with self.session() as s:
            rows = s.scalars(
                select(TextLine)
                .where(TextLine.video_id == int(video_id), TextLine.kind == kind)
                .order_by(TextLine.start_s, TextLine.id)
            ).all()
            return [text_match(r, 0.0, i) for i, r in enumerate(rows, 1)]

    def search_text(
        self, query: str, kinds: tuple[str, ...], limit: int, filters: SearchFilters | None = None
    ) -> list[TextMatch]:
        """Lines of ``kinds`` matching any word of ``query`` (stop words dropped) in their text or
        their search form (``search_text``), most relevant first: FTS5 BM25 over both columns on
        SQLite, ``ts_rank`` over ``to_tsvector('english', text || ' ' || search_text)`` on
        PostgreSQL (the expression migration 0005 indexes)."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        kinds = tuple(kinds)
        fetch = max(4 * limit, 64)
        with self.session() as s:
            if self.engine.dialect.name == "sqlite":
                match = " OR ".join(f'"{t}"' for t in terms)  # terms are \w+ only: quoting is enough
                sql = text(
                    "SELECT rowid, -bm25(text_lines_fts) FROM text_lines_fts WHERE text_lines_fts MATCH :q "
                    "ORDER BY bm25(text_lines_fts) LIMIT :n"
                )
                scored = s.execute(sql, {"q": match, "n": fetch}).all()
            else:
                q_or = " | ".join(terms)  # terms are \w+ only: no tsquery operators
                # 'english' drops its (longer) stop list; a query of only those words ("would",
                # "the who") would match nothing, where FTS5 matches them: search those with the
                # 'simple' configuration instead (no index: a scan, for rare queries only)
                empty = s.execute(text("SELECT numnode(to_tsquery('english', :q)) = 0"), {"q": q_or}).scalar()
                cfg = "simple" if empty else "english"
                tsv = f"to_tsvector('{cfg}', text || ' ' || coalesce(search_text, ''))"
                sql = text(
                    f"SELECT id, ts_rank({tsv}, q) AS r FROM text_lines, "
                    f"to_tsquery('{cfg}', :q) q WHERE {tsv} @@ q "
                    "ORDER BY r DESC, id LIMIT :n"
                )
                scored = s.execute(sql, {"q": q_or, "n": fetch}).all()
            if not scored:
                return []
            relevance = {int(i): float(r) for i, r in scored}
            q = (
                select(TextLine, Video.path, Video.duration_s)
                .join(Video, TextLine.video_id == Video.id)
                .where(TextLine.id.in_(list(relevance)), TextLine.kind.in_(kinds))
            )
            q = filter_videos(q, filters)
            rows = s.execute(q).all()
        rows.sort(key=lambda r: (-relevance[r[0].id], r[0].id))
        return [text_match(r[0], relevance[r[0].id], i) for i, r in enumerate(rows[:limit], 1)]

    def speech_phones(self) -> list[tuple[int, str]]:
        """(line id, phones) of every utterance stored with phones, in id order: what the phonetic
        index (:class:`tempme.index.words.phonetic.PhoneIndex`) is built from."""
        with self.session() as s:
            rows = s.execute(
                select(TextLine.id, TextLine.phones)
                .where(TextLine.kind == "speech", TextLine.phones.is_not(None))
                .order_by(TextLine.id)
            ).all()
        return [(int(i), p) for i, p in rows if p]

    def speech_version(self) -> tuple[int, int]:
        """(number, highest id) of the stored utterances: changes whenever any are added or
        replaced (ids are never reused), so a phonetic index built from them can be kept."""
        with self.session() as s:
            n, top = s.execute(select(func.count(), func.max(TextLine.id)).where(TextLine.kind == "speech")).one()
        return int(n), int(top or 0)

    def text_lines_by_id(self, ids: list[int], filters: SearchFilters | None = None) -> dict[int, TextMatch]:
        """line id -> the stored line (``relevance`` 0), for those of ``ids`` whose video passes
        ``filters``."""
        if not ids:
            return {}
        with self.session() as s:
            q = select(TextLine).join(Video, TextLine.video_id == Video.id).where(TextLine.id.in_(list(ids)))
            rows = s.scalars(filter_videos(q, filters)).all()
            return {r.id: text_match(r, 0.0, 0) for r in rows}
