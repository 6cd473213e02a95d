"""What was said and written, as hits.

:func:`search_lines`: the catalog's full-text search (FTS5 BM25 / PostgreSQL ``ts_rank``) over
utterances (``speech``) or on-screen lines (``ocr``) -> :class:`~tempme.index.hits.Hit` per
line: a spoken line's moment is the utterance, ``[first word, last word)``, and ``words`` the
query's words in it with their times; an on-screen line's moment is the time it was read on
screen (at least 1 s), with ``ocr_text`` and ``ocr_box``. Fusing them with the visual hits:
:func:`tempme.index.query.fusion.fuse_hits`.
"""

from __future__ import annotations

import re

from tempme.index.catalog import Catalog, TextMatch, query_terms
from tempme.index.hits import Hit, MatchedWord, SearchFilters, TextKind


def stem(word: str) -> str:
    """A crude English stem, to tell which words of a line matched (FTS5 used Porter's); also
    how :mod:`.confidence` compares a line's words with the query's."""
    w = word.casefold().strip("'’.,!?;:\"")
    return re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w


def matched_words(match: TextMatch, query: str) -> tuple[MatchedWord, ...]:
    """The words of a spoken line that are words of ``query`` (stop words aside), in time order."""
    stems = {stem(t) for t in query_terms(query)}
    return tuple(MatchedWord(w, a, b) for w, a, b in match.words if stem(w) in stems)


def search_lines(
    catalog: Catalog, query: str, kind: TextKind | str, k: int, filters: SearchFilters | None = None
) -> list[Hit]:
    """Up to ``k`` lines of ``kind`` (``speech`` / ``ocr``) matching ``query``, most relevant first."""
    kind = TextKind(kind)
    matches = catalog.search_text(query, (kind.value,), k, filters)
    if not matches:
        return []
    info = catalog.segment_rows(sorted({m.segment_id for m in matches}), None)
    hits = []
    for m in matches:
        seg = info.get(m.segment_id)
        if seg is None:
            continue
        if kind is TextKind.SPEECH:
            words = matched_words(m, query)
            hits.append(
                Hit(
                    segment_id=m.segment_id,
                    video_id=m.video_id,
                    path=seg.path,
                    start_s=m.start_s,
                    end_s=m.end_s,
                    score=m.relevance,
                    rank=len(hits) + 1,
                    duration_s=seg.duration_s,
                    words=words,
                    transcript=m.text,
                    matched=(kind.mode.value,),
                )
            )
        else:
            end = min(max(m.end_s, m.start_s + 1.0), seg.duration_s or m.start_s + 1.0)
            hits.append(
                Hit(
                    segment_id=m.segment_id,
                    video_id=m.video_id,
                    path=seg.path,
                    start_s=m.start_s,
                    end_s=end,
                    score=m.relevance,
                    rank=len(hits) + 1,
                    duration_s=seg.duration_s,
                    ocr_text=m.text,
                    ocr_box=m.box,
                    matched=(kind.mode.value,),
                )
            )
    return hits
