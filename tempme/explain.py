"""Explain a moment: TempMe's token merging drawn over the frames the encoder saw.

The picture follows the TempMe paper's Fig. 4 (Shen et al., ICLR 2025): the T sampled frames in
a grid, each patch coloured by the token that holds it after a chosen merge step, one colour per
merged group (a group can span several frames once ClipMe has merged across clips), patches that
are still alone left uncoloured; thin dark lines separate neighbouring patches of different
groups. The groups come from the encoder's real merge provenance
(:meth:`tempme.encoder.VideoEncoder.encode_video_traced`), not from a re-computation.

Layout of :func:`render_merge_groups` (pixels): ``COLUMNS`` frames per row (fewer when T is
smaller), each tile ``tile`` px square (the image size S scaled by the smallest integer factor
that reaches ``MIN_TILE``), a ``CAPTION_PX`` caption under each tile, ``PAD_PX`` between and
around tiles, a ``TITLE_PX`` title at the top: width ``cols * tile + (cols + 1) * PAD_PX``,
height ``TITLE_PX + rows * (tile + CAPTION_PX + PAD_PX) + PAD_PX``.
"""

from __future__ import annotations

import colorsys
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.v2 import functional as TF

from tempme.provenance import MergeStage, MergeTrace
from tempme.video import sample_frames, uniform_times

COLUMNS = 4
MIN_TILE = 192
PAD_PX = 6
CAPTION_PX = 18
TITLE_PX = 28
ALPHA = 0.5  # opacity of a group's colour over its patches
GOLDEN = 0.618033988749895


@dataclass(frozen=True)
class ExplainedMoment:
    """A moment as the encoder saw it, with its merge provenance.

    Attributes:
        path: the video file.
        start_s, end_s: the span the T frames were sampled from (s).
        times_s: (T,) sampling times (s), the centres of T equal bins of the span.
        frames: (T, S, S, 3) uint8 RGB, resized and centre-cropped exactly as the encoder's
            preprocessing does before normalising.
        trace: the encoder's :class:`MergeTrace` for these frames.
        embedding: (D,) float32, the video embedding the encoder computed from them.
    """

    path: Path
    start_s: float
    end_s: float
    times_s: np.ndarray
    frames: np.ndarray
    trace: MergeTrace
    embedding: np.ndarray

    def stage(self, layer: int | None = None) -> MergeStage:
        """The final tokens (``layer=None``) or the last merge step of ``layer``."""
        return self.trace.final if layer is None else self.trace.stage_at_layer(layer)


def explain_clip(encoder, path: str | os.PathLike, start_s: float, end_s: float) -> ExplainedMoment:
    """Sample ``[start_s, end_s)`` as indexing does (T frames at bin centres, shorter side S) and
    run the encoder with provenance.

    Args:
        encoder: a :class:`tempme.encoder.VideoEncoder` (merging on).
        path: the video file. start_s, end_s: the span (s).

    Raises:
        tempme.video.VideoDecodeError: the file cannot be decoded.
        ValueError: ``end_s < start_s``, or the encoder does not merge.
    """
    if not encoder.config.merging:
        raise ValueError("this encoder does not merge tokens (merging is off): there is nothing to explain")
    S, T = encoder.image_size, encoder.num_frames
    times = uniform_times(float(start_s), float(end_s), T)
    decoded = sample_frames(path, times, short_side=S)  # (T, H, W, 3), shorter side S
    x = TF.center_crop(torch.from_numpy(decoded).permute(0, 3, 1, 2), [S, S])  # (T, 3, S, S) uint8
    frames = x.permute(0, 2, 3, 1).contiguous().numpy()  # (T, S, S, 3)
    with encoder.inference():
        emb, traces = encoder.encode_video_traced(encoder.preprocess_frames(frames)[None])  # (1, T, 3, S, S)
    embedding = emb[0].float().cpu().numpy()
    return ExplainedMoment(Path(path), float(start_s), float(end_s), times, frames, traces[0], embedding)


def group_colours(stage: MergeStage) -> dict[int, tuple[int, int, int]]:
    """A colour for every token that holds two or more patches, larger groups first along a
    golden-ratio walk of hues (neighbouring ranks get far-apart hues)."""
    patch_owner = stage.patch_owner().reshape(-1)
    tokens, counts = np.unique(patch_owner, return_counts=True)
    merged = sorted((int(c), int(t)) for t, c in zip(tokens, counts) if c > 1)
    merged.reverse()  # largest first; ties by token number, descending
    colours = {}
    for rank, (_, token) in enumerate(merged):
        hue = (rank * GOLDEN) % 1.0
        sat, val = (0.85, 0.95) if rank % 2 == 0 else (0.6, 0.8)
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colours[token] = (int(r * 255), int(g * 255), int(b * 255))
    return colours


def tile_size(image_size: int) -> int:
    """Tile side (px): S times the smallest integer that reaches :data:`MIN_TILE`."""
    return image_size * max(1, math.ceil(MIN_TILE / image_size))


def grid_shape(num_frames: int) -> tuple[int, int]:
    """(rows, columns) of the frame grid."""
    cols = min(COLUMNS, num_frames)
    return math.ceil(num_frames / cols), cols


def _font(px: int):
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, float(seconds)), 60.0)
    return f"{int(m)}:{s:04.1f}"


def render_merge_groups(
    frames: np.ndarray,
    stage: MergeStage,
    grid: tuple[int, int],
    times_s: np.ndarray | None = None,
    title: str | None = None,
) -> Image.Image:
    """Draw ``stage``'s token groups over ``frames`` (see the module docstring for the layout).

    Args:
        frames: (T, S, S, 3) uint8 RGB, the frames the encoder saw.
        stage: which token holds every (frame, position) (:class:`MergeStage`).
        grid: (gh, gw) patches per frame; S must be a multiple of both.
        times_s: (T,) frame times for the captions (s), optional.
        title: the line at the top; default: the stage and its token count.

    Returns:
        An RGB PIL image.

    Raises:
        ValueError: frames and stage disagree in T, or S is not a multiple of the grid.
    """
    T, S = frames.shape[0], frames.shape[1]
    gh, gw = grid
    if frames.shape != (T, S, S, 3) or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, S, S, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    if stage.owner.shape != (T, gh * gw + 1):
        raise ValueError(
            f"stage covers {stage.owner.shape} (frames, positions), frames and grid give {(T, gh * gw + 1)}"
        )
    if S % gh or S % gw:
        raise ValueError(f"image size {S} is not a multiple of the {gh}x{gw} patch grid")
    colours = group_colours(stage)
    owner = stage.patch_owner().reshape(T, gh, gw)  # (T, gh*gw) -> (T, gh, gw)
    tile = tile_size(S)
    k = tile // S
    ph, pw = tile // gh, tile // gw  # patch size on the tile (px)
    rows, cols = grid_shape(T)
    width = cols * tile + (cols + 1) * PAD_PX
    height = TITLE_PX + rows * (tile + CAPTION_PX + PAD_PX) + PAD_PX
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    groups = len(colours)
    draw.text(
        (PAD_PX, 6),
        title or f"{stage.label}: {stage.token_count} tokens, {groups} merged groups drawn (one colour each)",
        fill=(0, 0, 0),
        font=_font(15),
    )
    small = _font(12)
    for t in range(T):
        img = frames[t].repeat(k, axis=0).repeat(k, axis=1).astype(np.float32)  # (tile, tile, 3)
        colour = np.zeros((gh, gw, 3), np.float32)
        alpha = np.zeros((gh, gw, 1), np.float32)
        for gy in range(gh):
            for gx in range(gw):
                c = colours.get(int(owner[t, gy, gx]))
                if c is not None:
                    colour[gy, gx], alpha[gy, gx] = c, ALPHA
        # (gh, gw, E) -> (tile, tile, E): every patch spread over its ph x pw pixels
        colour = colour.repeat(ph, axis=0).repeat(pw, axis=1)
        alpha = alpha.repeat(ph, axis=0).repeat(pw, axis=1)
        img = img * (1 - alpha) + colour * alpha
        tile_img = Image.fromarray(img.round().clip(0, 255).astype(np.uint8))
        td = ImageDraw.Draw(tile_img)
        line = (20, 20, 20)
        for gy in range(gh):  # borders between neighbouring patches of different tokens
            for gx in range(gw):
                if gx + 1 < gw and owner[t, gy, gx] != owner[t, gy, gx + 1]:
                    x = (gx + 1) * pw
                    td.line([(x, gy * ph), (x, (gy + 1) * ph - 1)], fill=line)
                if gy + 1 < gh and owner[t, gy, gx] != owner[t, gy + 1, gx]:
                    y = (gy + 1) * ph
                    td.line([(gx * pw, y), ((gx + 1) * pw - 1, y)], fill=line)
        r, c = divmod(t, cols)
        x0 = PAD_PX + c * (tile + PAD_PX)
        y0 = TITLE_PX + r * (tile + CAPTION_PX + PAD_PX)
        canvas.paste(tile_img, (x0, y0))
        caption = f"frame {t + 1}" + (f" · {_clock(times_s[t])}" if times_s is not None else "")
        draw.text((x0, y0 + tile + 2), caption, fill=(60, 60, 60), font=small)
    return canvas


def render_moment(moment: ExplainedMoment, layer: int | None = None) -> Image.Image:
    """:func:`render_merge_groups` for a moment: the final tokens, or the last step of ``layer``."""
    stage = moment.stage(layer)
    title = (
        f"{moment.path.name} {_clock(moment.start_s)}-{_clock(moment.end_s)} · {stage.label}: "
        f"{stage.token_count} of {moment.trace.tokens_in} tokens"
    )
    return render_merge_groups(moment.frames, stage, moment.trace.grid, moment.times_s, title)
