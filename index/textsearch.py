"""What was said and written, as hits; and every list fused with the visual one into moments.

- :func:`search_lines`: the catalog's full-text search (FTS5 BM25 / PostgreSQL ``ts_rank``) over
  utterances (``speech``) or on-screen lines (``ocr``) -> :class:`~tempme.index.types.Hit` per
  line: a spoken line's moment is the utterance, ``[first word, last word)``, and ``words`` the
  query's words in it with their times; an on-screen line's moment is the time it was read on
  screen (at least 1 s), with ``ocr_text`` and ``ocr_box``.
- :func:`fuse_hits`: visual, speech and text hits -> one ranking by reciprocal rank fusion
  (:mod:`index.fusion`, k = 60) over moments: a moment found by several lists gathers the
  evidence of each (visual score, matched words, OCR line) in one hit, whose span is the
  spoken line's if there is one, else the on-screen line's, else the visual moment's.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tempme.index.catalog import Catalog, TextMatch, query_terms
from tempme.index.fusion import RRF_K, reciprocal_rank_fusion
from tempme.index.types import Hit, MatchedWord, SearchFilters

LIST_OF_KIND = {"speech": "speech", "ocr": "text"}  # catalog kind -> search mode / list name


def _stem(word: str) -> str:
    """A crude English stem, to tell which words of a line matched (FTS5 used Porter's)."""
    w = word.casefold().strip("'’.,!?;:\"")
    return re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w


def matched_words(match: TextMatch, query: str) -> tuple[MatchedWord, ...]:
    """The words of a spoken line that are words of ``query`` (stop words aside), in time order."""
    stems = {_stem(t) for t in query_terms(query)}
    return tuple(MatchedWord(w, a, b) for w, a, b in match.words if _stem(w) in stems)


def search_lines(catalog: Catalog, query: str, kind: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
    """Up to ``k`` lines of ``kind`` (``speech`` / ``ocr``) matching ``query``, most relevant first."""
    matches = catalog.search_text(query, (kind,), k, filters)
    if not matches:
        return []
    info = catalog.segment_rows(sorted({m.segment_id for m in matches}), None)
    hits = []
    for m in matches:
        seg = info.get(m.segment_id)
        if seg is None:
            continue
        if kind == "speech":
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
                    matched=("speech",),
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
                    matched=("text",),
                )
            )
    return hits


def fuse_hits(
    lists: dict[str, list[Hit]], k: int, *, offset: int = 0, per_video: bool = False, rrf_k: float = RRF_K
) -> list[Hit]:
    """Fuse ranked hit lists (``visual``, ``speech``, ``text``) by RRF; results ``offset ..
    offset + k``, ``score`` = the RRF score, ``matched`` = the lists that found it.

    The items fused are moments: a visual hit is keyed by its segment; a spoken or on-screen
    line by the visual moment of the same video whose span holds the line's start (a visual
    moment may span several segments), else by its own segment. Each list counts an item once,
    at its best rank. Equal RRF scores go to the item seen first in speech, then text, then
    visual (a word match over a look-alike).
    """
    visual = lists.get("visual", [])

    def key(h: Hit, name: str) -> int:
        if name != "visual":
            for v in visual:
                if v.video_id == h.video_id and v.start_s <= h.start_s < v.end_s:
                    return v.segment_id
        return h.segment_id

    order = [n for n in ("speech", "text", "visual") if n in lists] + [
        n for n in lists if n not in ("speech", "text", "visual")
    ]
    best: dict[str, dict[int, Hit]] = {}
    rankings: dict[str, list[int]] = {}
    for name in order:
        first: dict[int, Hit] = {}
        for h in lists[name]:
            first.setdefault(key(h, name), h)
        best[name], rankings[name] = first, list(first)
    fused = reciprocal_rank_fusion(rankings, k=rrf_k)
    out: list[Hit] = []
    seen_videos: set[int] = set()
    for f in fused:
        found = {name: best[name][f.key] for name in f.ranks}
        base = found.get("speech") or found.get("text") or found["visual"]
        if per_video and base.video_id in seen_videos:
            continue
        seen_videos.add(base.video_id)
        v, sp, tx = found.get("visual"), found.get("speech"), found.get("text")
        out.append(
            replace(
                base,
                segment_id=f.key if v is not None else base.segment_id,
                score=f.score,
                rank=len(out) + 1,
                visual_score=v.visual_score if v else None,
                words=sp.words if sp else (),
                transcript=sp.transcript if sp else None,
                ocr_text=tx.ocr_text if tx else None,
                ocr_box=tx.ocr_box if tx else None,
                matched=tuple(name for name in ("visual", "speech", "text") if name in found),
            )
        )
        if len(out) >= offset + k:
            break
    return [replace(h, rank=i) for i, h in enumerate(out[offset : offset + k], start=offset + 1)]
