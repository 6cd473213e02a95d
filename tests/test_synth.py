"""`tempme synth`: the synthetic dataset has the MSR-VTT layout and says what moves, where, when."""

from __future__ import annotations

import numpy as np
import pytest
from tempme.train.frames import load_clip
from tempme.train.msrvtt import find_video, load_msrvtt
from tempme.train.synth import COLOURS, SynthConfig, read_twins, write_synth


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return write_synth(out, SynthConfig(num_train=12, num_test_twins=3, num_test_single=2, seed=3))


def _centroid(frame: np.ndarray, colour: str):
    rgb = np.array(COLOURS[colour], dtype=np.int32)
    mask = np.abs(frame.astype(np.int32) - rgb).sum(-1) < 60
    ys, xs = np.nonzero(mask)
    return (xs.mean(), ys.mean()) if len(xs) > 10 else None


def test_layout_reads_as_msrvtt(synth_dir):
    ds = load_msrvtt(synth_dir, "9k", n_val=2, seed=0)
    assert len(ds.videos("train")) == 10 and len(ds.videos("val")) == 2
    assert len(ds.test) == 8 and [p.key for p in ds.test] == [f"ret{i}" for i in range(8)]
    assert all(find_video(synth_dir / "videos", v) for v in ds.videos("test") + ds.videos("train"))
    assert all("," not in p.caption for p in ds.test)


def test_twins_differ_only_in_order(synth_dir):
    ds = load_msrvtt(synth_dir, "9k", n_val=0)
    by_key = {p.key: p.caption for p in ds.test}
    twins = read_twins(synth_dir)
    assert len(twins) == 6
    for k, t in twins.items():
        first, second = by_key[k].split(" then ")
        assert by_key[t] == f"{second} then {first}"


def test_video_shows_the_caption_in_order(synth_dir):
    ds = load_msrvtt(synth_dir, "9k", n_val=0)
    for pair in ds.test[:4]:
        words = pair.caption.split()
        first_colour, second_colour = words[1], words[words.index("then") + 2]
        first_side, second_side = words[6], words[words.index("then") + 7]
        clip = load_clip(find_video(synth_dir / "videos", pair.video_id), 12)  # (12, 64, 64, 3)
        assert clip.shape == (12, 64, 64, 3)
        early, late = clip[1], clip[10]
        assert _centroid(early, first_colour) is not None and _centroid(early, second_colour) is None
        assert _centroid(late, second_colour) is not None and _centroid(late, first_colour) is None
        x, y = _centroid(early, first_colour)
        assert {"top": y < 24, "bottom": y > 40, "left": x < 24, "right": x > 40}[first_side]
        x, y = _centroid(late, second_colour)
        assert {"top": y < 24, "bottom": y > 40, "left": x < 24, "right": x > 40}[second_side]


def test_refuses_to_overwrite_and_bad_config(synth_dir):
    with pytest.raises(FileExistsError, match="already holds"):
        write_synth(synth_dir, SynthConfig(num_train=1))
    with pytest.raises(ValueError, match="size"):
        SynthConfig(size=33)


def test_half_of_the_training_videos_are_order_twins(synth_dir):
    ds = load_msrvtt(synth_dir, "9k", n_val=0)
    first = {}
    for p in ds.train:
        first.setdefault(p.video_id, p.caption)  # the canonical "x then y" caption
    captions = list(first.values())
    assert len(captions) == 12
    swapped = {" then ".join(c.split(" then ")[::-1]) for c in captions}
    assert len(swapped & set(captions)) == 6  # 3 twin pairs out of 12 videos
