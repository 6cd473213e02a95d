"""What was said and written, as hits.

:func:`search_lines`: the catalog's full-text search (FTS5 BM25 / PostgreSQL ``ts_rank``) over
utterances (``speech``) or on-screen lines (``ocr``) -> :class:`~tempme.index.hits.Hit` per
line. An on-screen line's moment is the time it was read on screen (at least 1 s), with
``ocr_text`` and ``ocr_box``, ranked by the engine's relevance.

A spoken line's moment is the utterance, ``[first word, last word)``. Utterances are found three
ways and ranked as one list by :func:`tempme.index.query.spoken.rank_lines`: the query's words in
the text as recognised or in its stored search form (the query is searched in its own search
form too, so "forty dollars" reaches "$40"), and the query's phones in the stored phones of the
utterances (:class:`tempme.index.words.phonetic.PhoneIndex`, built once per state of the
catalog's utterances and kept). Each hit says how it matched (``match_kind`` exact / normalised /
phonetic, ``match_score`` in [0, 1], ``heard_as`` for phonetic matches), with ``words`` the words
that carry it and their times. Fusing them with the visual hits:
:func:`tempme.index.query.fusion.fuse_hits`.
"""

from __future__ import annotations

import logging
import re
import threading

from tempme.index.catalog import Catalog, TextMatch, query_terms
from tempme.index.hits import Hit, MatchedWord, SearchFilters, TextKind
from tempme.index.query.spoken import MIN_PHONETIC, SpeechMatch, SpokenLine, rank_lines
from tempme.index.words.forms import default_pronouncer
from tempme.index.words.phonetic import PhoneIndex, PhoneticMatch, decode_phones, query_variants
from tempme.index.words.wordnorm import search_form

log = logging.getLogger(__name__)

PHONETIC_FETCH = 64  # phonetic matches considered per query variant
VARIANTS = 4  # pronunciations of the query tried (bench/speech.py measured with 4)
_indexes: dict[str, tuple[tuple[int, int], PhoneIndex]] = {}  # catalog URL -> (speech_version, index)
_lock = threading.Lock()


def stem(word: str) -> str:
    """A crude English stem, to tell which words of a line matched (FTS5 used Porter's); also
    how :mod:`.confidence` compares a line's words with the query's."""
    w = word.casefold().strip("'’.,!?;:\"")
    return re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w


def matched_words(match: TextMatch, query: str) -> tuple[MatchedWord, ...]:
    """The words of a spoken line that are words of ``query`` (stop words aside), in time order."""
    stems = {stem(t) for t in query_terms(query)}
    return tuple(MatchedWord(w, a, b) for w, a, b in match.words if stem(w) in stems)


def phone_index(catalog: Catalog) -> PhoneIndex:
    """The phonetic index of the catalog's stored utterance phones, rebuilt only when they
    changed (:meth:`Catalog.speech_version`); lines whose stored phones do not decode are left
    out (said in the log)."""
    key = catalog.engine.url.render_as_string(hide_password=True)
    version = catalog.speech_version()
    with _lock:
        cached = _indexes.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        utterances = []
        for line_id, text in catalog.speech_phones():
            try:
                utterances.append((line_id, decode_phones(text)))
            except ValueError as e:
                log.warning("speech line %d: stored phones left out of phonetic search (%s)", line_id, e)
        index = PhoneIndex(utterances)
        _indexes[key] = (version, index)
        return index


def phonetic_matches(catalog: Catalog, query: str) -> list[PhoneticMatch]:
    """The best phonetic window of each utterance scoring at least :data:`MIN_PHONETIC`, over the
    query's first :data:`VARIANTS` pronunciations, best first (keys: line ids)."""
    index = phone_index(catalog)
    if not len(index):
        return []
    best: dict[int, PhoneticMatch] = {}
    for variant in query_variants(query, default_pronouncer(), limit=VARIANTS):
        for m in index.search(variant, k=PHONETIC_FETCH, min_score=MIN_PHONETIC):
            if m.key not in best or m.score > best[m.key].score:
                best[m.key] = m
    return sorted(best.values(), key=lambda m: -m.score)


def spoken_line(m: TextMatch) -> SpokenLine:
    """A stored utterance for :func:`rank_lines` (its search form computed if it was stored
    without one; its text as one timed word per word if stored without words)."""
    words = m.words or tuple((w, m.start_s, m.end_s) for w in m.text.split())
    return SpokenLine(m.line_id, words, m.search_text if m.search_text is not None else search_form(m.text))


def speech_hit(line: TextMatch, match: SpeechMatch, query: str, seg, rank: int) -> Hit:
    """The hit of one ranked utterance: its moment, the words carrying the match, the evidence."""
    window = spoken_line(line).words[match.first_word : match.last_word + 1]
    found = matched_words(line, query) if match.kind == "exact" else ()  # else the words carrying it
    words = found or tuple(MatchedWord(w, a, b) for w, a, b in window)
    return Hit(
        segment_id=line.segment_id,
        video_id=line.video_id,
        path=seg.path,
        start_s=line.start_s,
        end_s=line.end_s,
        score=match.score,
        rank=rank,
        duration_s=seg.duration_s,
        words=words,
        transcript=line.text,
        matched=(TextKind.SPEECH.mode.value,),
        match_kind=match.kind,
        match_score=match.score,
        heard_as=match.heard_as,
    )


def search_speech(catalog: Catalog, query: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
    """Up to ``k`` utterances for ``query``, ranked by :func:`rank_lines` (see the module docstring)."""
    fetch = max(4 * k, 64)
    found = catalog.search_text(f"{query} {search_form(query)}", ("speech",), fetch, filters)
    lines = {m.line_id: m for m in found}
    phon = phonetic_matches(catalog, query)
    lines.update(catalog.text_lines_by_id([m.key for m in phon if m.key not in lines], filters))
    phon = [m for m in phon if m.key in lines]
    if not lines:
        return []
    spoken = {i: spoken_line(m) for i, m in lines.items()}
    ranked = rank_lines(query, spoken, [m.line_id for m in found], phon, k=k)
    info = catalog.segment_rows(sorted({lines[r.key].segment_id for r in ranked}), None)
    hits = []
    for r in ranked:
        seg = info.get(lines[r.key].segment_id)
        if seg is not None:
            hits.append(speech_hit(lines[r.key], r, query, seg, len(hits) + 1))
    return hits


def search_lines(
    catalog: Catalog, query: str, kind: TextKind | str, k: int, filters: SearchFilters | None = None
) -> list[Hit]:
    """Up to ``k`` lines of ``kind`` (``speech`` / ``ocr``) matching ``query``, most relevant first."""
    kind = TextKind(kind)
    if kind is TextKind.SPEECH:
        return search_speech(catalog, query, k, filters)
    matches = catalog.search_text(query, (kind.value,), k, filters)
    if not matches:
        return []
    info = catalog.segment_rows(sorted({m.segment_id for m in matches}), None)
    hits = []
    for m in matches:
        seg = info.get(m.segment_id)
        if seg is None:
            continue
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
