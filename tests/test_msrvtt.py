"""MSR-VTT readers on the real annotation files in ../shared/data/msrvtt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tempme.train.msrvtt import (
    MSRVTTFormatError,
    carve_validation,
    find_video,
    load_msrvtt,
    read_captions,
    read_test,
    read_train_ids,
)

MSRVTT_DIR = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "msrvtt").resolve()
pytestmark = pytest.mark.skipif(not (MSRVTT_DIR / "MSRVTT_data.json").is_file(), reason="no MSR-VTT annotations")


@pytest.fixture(scope="module")
def ds9k():
    return load_msrvtt(MSRVTT_DIR, "9k", n_val=500, seed=0)


def test_9k_counts_and_disjoint_splits(ds9k):
    assert len(ds9k.train) + len(ds9k.val) == 180_000
    assert len(ds9k.videos("train")) == 8_500 and len(ds9k.videos("val")) == 500
    assert len(ds9k.val) == 500 * 20
    assert not set(ds9k.videos("train")) & set(ds9k.videos("val"))
    assert not set(ds9k.videos("train") + ds9k.videos("val")) & set(ds9k.videos("test"))


def test_train_pairs_are_every_caption_of_the_json(ds9k):
    data = json.loads((MSRVTT_DIR / "MSRVTT_data.json").read_text())
    expected = {(s["video_id"], s["caption"]) for s in data["sentences"] if s["video_id"] == "video0"}
    got = {(p.video_id, p.caption) for p in ds9k.train + ds9k.val if p.video_id == "video0"}
    assert got == expected and len(expected) > 0


def test_7k_counts():
    ids = read_train_ids(MSRVTT_DIR, "7k")
    assert len(ids) == 7010
    ds = load_msrvtt(MSRVTT_DIR, "7k", n_val=10, seed=1)
    assert len(ds.train) + len(ds.val) == 140_200


def test_test_rows_in_file_order_with_csv_sentences():
    test = read_test(MSRVTT_DIR)
    assert len(test) == 1000 and len({p.video_id for p in test}) == 1000
    assert test[0].key == "ret0" and test[0].video_id == "video9770"
    assert test[0].caption == "a person is connecting something to system"
    lines = (MSRVTT_DIR / "MSRVTT_JSFUSION_test.csv").read_text().splitlines()[1:]
    assert [p.caption for p in test] == [line.split(",", 3)[3] for line in lines]


def test_validation_carve_is_seeded_and_order_preserving():
    ids = [f"video{i}" for i in range(100)]
    a = carve_validation(ids, 10, seed=3)
    assert a == carve_validation(ids, 10, seed=3)
    assert a != carve_validation(ids, 10, seed=4)
    train, val = a
    assert len(val) == 10 and sorted(train + val, key=ids.index) == ids
    assert val == sorted(val, key=ids.index)
    with pytest.raises(ValueError, match="n_val=100"):
        carve_validation(ids, 100, seed=0)


def test_captions_cover_all_videos():
    caps = read_captions(MSRVTT_DIR)
    assert len(caps) == 10_000 and all(len(v) == 20 for v in caps.values())


def test_bad_layout_errors(tmp_path):
    with pytest.raises(MSRVTTFormatError, match="MSRVTT_data.json not found"):
        load_msrvtt(tmp_path)
    (tmp_path / "MSRVTT_data.json").write_text('{"videos": []}')
    with pytest.raises(MSRVTTFormatError, match="'sentences'"):
        read_captions(tmp_path)
    (tmp_path / "MSRVTT_JSFUSION_test.csv").write_text("key,video\nret0,video1\n")
    with pytest.raises(MSRVTTFormatError, match="lacks column"):
        read_test(tmp_path)


def test_find_video_prefers_mp4_then_webm(tmp_path):
    (tmp_path / "video1.webm").write_bytes(b"x")
    assert find_video(tmp_path, "video1") == tmp_path / "video1.webm"
    (tmp_path / "video1.mp4").write_bytes(b"x")
    assert find_video(tmp_path, "video1") == tmp_path / "video1.mp4"
    assert find_video(tmp_path, "video2") is None
