"""Transcripts and on-screen text in a real library: espeak-ng speech and drawn words muxed into
real clips, indexed with the tiny random encoder, enriched with pocketsphinx and RapidOCR, found
by the catalog's full-text search and fused with the vector hits by RRF. Every library test runs
twice: on SQLite (FTS5, BM25) and on a throw-away PostgreSQL server (``to_tsvector`` GIN index,
``ts_rank``), and must find the same moments on both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from parts import catalog_of, index_ids
from pg import new_database
from tempme.index import Library, LibraryError
from tempme.index.catalog.models import TextLine
from tempme.index.enrich import SpeechConfig
from tempme.index.media import SegmentParams

TINY = dict(model="tempme-tiny", pretrained="none")
PS = SpeechConfig(backend="pocketsphinx")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog_url(request):
    """None (the library's SQLite file) or a fresh PostgreSQL database, for a module's library."""
    if request.param == "sqlite":
        yield None
        return
    with new_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture
def new_catalog_url(request, catalog_url):
    """A fresh catalog of the same kind as ``catalog_url``, for a test's own library."""
    if catalog_url is None:
        yield None
        return
    with new_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture(scope="module")
def enriched(tmp_path_factory, videos_dir, speech_clip, broken_audio_clip, text_clip, catalog_url):
    folder = tmp_path_factory.mktemp("clips")
    for src in (
        speech_clip[0],
        broken_audio_clip,
        text_clip[0],
        videos_dir / "mmaction2__test.mp4",
        videos_dir / "moviepy__chaplin.mp4",
    ):
        shutil.copy(src, folder / src.name)
    lib = Library.open(tmp_path_factory.mktemp("lib") / "library", create=True, database_url=catalog_url)
    assert catalog_of(lib).engine.dialect.name == ("sqlite" if catalog_url is None else "postgresql")
    lib.add([folder], **TINY, segment_params=SegmentParams(window_s=30.0))
    calls = []

    class Progress:  # a ProgressFn with seconds(): what the CLI's bar and the page implement
        def __call__(self, done, total, path):
            calls.append((done, total, path))

        def seconds(self, p):
            calls.append(p)

    reports = lib.enrich(("speech", "ocr"), speech=PS, progress=Progress())
    return lib, folder, reports, calls


def _by_name(hits):
    return [h.path.name for h in hits]


def test_enrich_records_every_video_and_its_audio_status(enriched):
    lib, folder, (speech, ocr), calls = enriched
    assert speech.videos == ocr.videos == 5
    assert speech.statuses == {"ok": 2, "no_audio": 2, "broken_audio": 1}  # cup_text.mp4 has no audio either
    assert ocr.statuses == {"ok": 5}
    # progress(done, total, path): the total first, then after every video; speech, then ocr
    counts = [c for c in calls if isinstance(c, tuple)]
    assert [c[:2] for c in counts] == [(i, 5) for i in range(6)] * 2
    assert {Path(c[2]).name for c in counts[1:6]} == {Path(c[2]).name for c in counts[7:]} == set(os.listdir(folder))
    _check_seconds(calls, folder)
    vid = {p.name: i for i, p in enumerate(lib.shelf.video_paths())}
    assert len(vid) == 5  # the videos without (usable) audio are indexed visually all the same
    for name, status in [("mmaction2__test.mp4", "no_audio"), ("bikes_broken_audio.mp4", "broken_audio")]:
        video_id = catalog_of(lib).videos_under(folder / name)[0]
        rec = catalog_of(lib).enrichment(video_id, "speech")
        assert rec.status == status and rec.backend == "pocketsphinx"
        assert catalog_of(lib).text_lines(video_id, "speech") == []
    assert lib.stats().segments >= 5


def _check_seconds(calls, folder):
    """Each kind's progress in seconds of video (issue 28): the total is the sum of the files'
    durations by their headers (tempme.probe), done_s only grows to it, a file is named as
    current before its count moves (not after), and OCR moves within a file."""
    from tempme.probe import probe

    expected = sum(probe(f).duration_s for f in folder.iterdir())
    starts = [i for i, c in enumerate(calls) if c == (0, 5, "")]  # speech's run, then ocr's
    kinds = [[p for p in calls[a:b] if not isinstance(p, tuple)] for a, b in zip(starts, starts[1:] + [len(calls)])]
    assert len(kinds) == 2
    for seen in kinds:
        assert {round(p.total_s, 3) for p in seen} == {round(expected, 3)}
        done = [p.done_s for p in seen]
        assert done == sorted(done) and done[0] == 0.0 and abs(done[-1] - expected) < 1e-6
        for before, after in zip(seen, seen[1:]):  # a count moves only once its file was current
            if after.videos_done > before.videos_done:
                assert before.current and not after.current
    assert any(0 < p.current_done_s < p.current_total_s for p in kinds[1])  # OCR, segment by segment


def test_speech_search_finds_the_sentence_and_when_it_is_said(enriched, speech_clip):
    lib, folder, _, _ = enriched
    _, (beach, coffee) = speech_clip
    hits = lib.search(beach.text, k=5, mode="speech")
    top = hits[0]
    assert top.path.name == "bikes_speech.mp4" and top.matched == ("speech",)
    assert abs(top.start_s - beach.start_s) < 1.0 and abs(top.seek_s - beach.start_s) < 1.0
    assert {"beach", "tomorrow", "morning"} <= {w.word for w in top.words}
    assert all(beach.start_s - 0.5 <= w.start_s <= beach.end_s + 0.5 for w in top.words)
    assert "beach" in top.transcript
    # a paraphrase with a few of the words of the other sentence
    top = lib.search("coffee in a cup", k=5, mode="speech")[0]
    assert top.path.name == "bikes_speech.mp4" and abs(top.seek_s - coffee.start_s) < 1.0
    assert [w.word for w in top.words] == ["cup", "coffee"]
    d = top.to_dict()
    assert d["words"][0]["word"] == "cup" and d["seek_s"] == top.words[0].start_s and d["matched"] == ["speech"]
    assert lib.search("lighthouse zebra", mode="speech") == []


def test_text_search_finds_the_drawn_words_where_they_are_shown(enriched, text_clip):
    lib, _, _, _ = enriched
    _, (title, sign) = text_clip
    top = lib.search("summer holiday", k=3, mode="text")[0]
    assert top.path.name == "cup_text.mp4" and top.ocr_text == "SUMMER HOLIDAY" and top.matched == ("text",)
    assert title.start_s <= top.start_s < title.end_s
    top = lib.search("open", k=3, mode="text")[0]
    assert top.ocr_text == "OPEN DAILY" and sign.start_s <= top.start_s < sign.end_s
    assert top.ocr_box[0] > 0.5 and top.ocr_box[3] < 0.25  # the top-right corner


def test_all_mode_ranks_the_spoken_moment_first_over_random_visual_scores(enriched, speech_clip):
    lib, _, _, _ = enriched
    _, (_, coffee) = speech_clip
    visual = lib.search("i would like a cup of coffee", k=10, mode="visual")
    assert visual and all(h.matched == ("visual",) and h.visual_score == h.score for h in visual)
    hits = lib.search("i would like a cup of coffee", k=5, mode="all")
    top = hits[0]
    assert top.path.name == "bikes_speech.mp4" and "speech" in top.matched
    assert abs(top.seek_s - coffee.start_s) < 1.0 and "coffee" in [w.word for w in top.words]
    # its fused score is the RRF of its ranks: 1/(60 + speech rank 1) + 1/(60 + its visual rank)
    seg_rank = {h.segment_id: h.rank for h in visual}
    expected = 1 / 61 + (1 / (60 + seg_rank[top.segment_id]) if top.segment_id in seg_rank else 0.0)
    assert top.score == pytest.approx(expected)
    assert top.visual_score == (
        next(h.score for h in visual if h.segment_id == top.segment_id) if top.segment_id in seg_rank else None
    )
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_enrich_again_does_nothing_and_never_touches_vectors(enriched):
    lib, _, _, _ = enriched
    ids = sorted(index_ids(lib).tolist())
    again = lib.enrich(("speech", "ocr"), speech=PS)
    assert [r.videos for r in again] == [0, 0]
    assert sorted(index_ids(lib).tolist()) == ids


def test_an_interrupted_enrich_resumes_with_what_is_missing(tmp_path, videos_dir, speech_clip, new_catalog_url):
    folder = tmp_path / "clips"
    folder.mkdir()
    for src in (speech_clip[0], videos_dir / "moviepy__chaplin.mp4", videos_dir / "moviepy__fire2.mp4"):
        shutil.copy(src, folder / src.name)
    lib = Library.open(tmp_path / "lib", create=True, database_url=new_catalog_url)
    lib.add([folder], **TINY)

    def crash(done, total, path):
        if done == 1:
            raise KeyboardInterrupt  # killed after the first video's transaction

    with pytest.raises(KeyboardInterrupt):
        lib.enrich(("speech",), speech=PS, progress=crash)
    assert catalog_of(lib).enrichment_counts("speech") == {"ok": 1}
    (report,) = lib.enrich(("speech",), speech=PS)
    assert report.videos == 2 and sum(catalog_of(lib).enrichment_counts("speech").values()) == 3
    # removing a video removes its lines from the full-text index
    assert lib.search("beach tomorrow", mode="speech")
    lib.remove(folder / "bikes_speech.mp4")
    assert lib.search("beach tomorrow", mode="speech") == []
    with catalog_of(lib).session() as s:
        assert s.query(TextLine).filter(TextLine.text.like("%beach%")).count() == 0


def test_speech_mode_on_a_library_without_speech_says_so(tmp_path, videos_dir, new_catalog_url):
    lib = Library.open(tmp_path / "lib", create=True, database_url=new_catalog_url)
    lib.add([videos_dir / "moviepy__fire2.mp4"], **TINY)
    with pytest.raises(LibraryError, match="has no transcripts.*tempme enrich --speech"):
        lib.search("hello", mode="speech")
    with pytest.raises(LibraryError, match="has no on-screen text.*--ocr"):
        lib.search("hello", mode="text")
    assert [h.matched for h in lib.search("hello", mode="all")] == [("visual",)]  # all: what there is
    with pytest.raises(ValueError, match="mode must be one of"):
        lib.search("hello", mode="audio")


def test_page_handlers_show_why_and_seek_to_the_first_word(enriched, speech_clip, tmp_path):
    from tempme.app.context import AppContext
    from tempme.app.validate import InputError
    from tempme.app.web.render import evidence_html, evidence_list

    lib, _, _, _ = enriched
    ctx = AppContext(lib.path, remux_dir=tmp_path)
    hits = ctx.search("i would like a cup of coffee", 3, mode="all")
    top = hits[0]
    assert top.path.name == "bikes_speech.mp4" and top.thumbnail  # the gallery shows it
    html = evidence_html(top)
    assert "<mark>cup</mark>" in html and "<mark>coffee</mark>" in html and "<mark>like</mark>" in html
    assert "<mark>a</mark>" not in html and "<mark>of</mark>" not in html  # stop words are not matches
    assert "<mark>cup</mark>" in evidence_list(hits)
    assert abs(top.seek_s - speech_clip[1][1].start_s) < 1.0 and top.seek_s == top.words[0].start_s
    assert "said “would like cup coffee”" in top.caption
    text_hit = ctx.search("summer holiday", 3, mode="text")[0]
    assert "<mark>SUMMER HOLIDAY</mark>" in evidence_html(text_hit)
    with pytest.raises(InputError, match="mode must be one of"):
        ctx.search("x", 3, mode="audio")


def test_odd_queries_are_safe_on_both_full_text_engines(enriched):
    """Quotes, operators and underscores are words or nothing to either engine's query parser."""
    lib, _, _, _ = enriched
    for q in ["coffee's", "_", "cup_of", "coffee | beach", "cup & !coffee", "'", "café:*", "(coffee"]:
        hits = lib.search(q, k=3, mode="speech")
        assert all(h.path.name == "bikes_speech.mp4" for h in hits), q
    assert lib.search("coffee's", k=3, mode="speech")[0].words[0].word == "coffee"
    # only stop words (PostgreSQL's 'english' list is longer than ours): both engines match them
    for q, line in [("a the of", "i would like a cup of coffee"), ("would", "i would like a cup of coffee")]:
        hits = lib.search(q, k=5, mode="speech")
        assert line in [h.transcript for h in hits], (q, hits)
