"""Query by example: an image or a clip's frames encoded into a library's embedding space.

A library stores one vector per segment (TempMe Sec. 3.1, :meth:`tempme.encoder.VideoEncoder.encode_video`):
12 frames, open_clip's transform for the model, the TempMe tower (ImgMe, ClipMe, LoRA folded),
the 12 class tokens -> ln_post -> proj -> L2-normalise -> mean -> L2-normalise. An example query
must land in that space, so it goes through the same steps:

- **a clip** (a video file or a span of one): its (T, H, W, 3) frames, picked and decoded as
  indexing picks them (``index`` does the decoding), then :func:`encode_clip_frames`:
  :meth:`~tempme.encoder.VideoEncoder.preprocess_frames` and ``encode_video``, exactly the
  indexing path;
- **an image**, two mappings (``ImageMode``):

  - ``still`` (the default): the image as a still clip, T copies of the same frame through the
    library's video tower with merging. This is exactly the vector the library would store for
    a segment that shows the picture without motion, so a still image and an indexed static
    moment are compared like for like (ImgMe's per-frame merges, ClipMe's cross-clip merges of
    identical tokens, LoRA and clip-temporal embeddings included). The layers before ClipMe run
    on one copy (:meth:`~tempme.encoder.VideoEncoder.encode_still`): their T sequences would be
    identical, so the cost is one frame through ImgMe plus the ClipMe layers (ViT-B/32: 7.1
    GMACs in the transformer layers against 33.3 for a video; one image through the stock
    tower: 4.3).
  - ``frame``: open_clip's image tower on the one frame (``model.encode_image``, no token
    merging, LoRA folded), L2-normalised. T times cheaper; it differs from ``still`` only by
    what merging changes in a frame's class token and by the clip-temporal embeddings.

  With merging off (``TempMeConfig.merging=False``) the two are the same vector: the mean of T
  identical unit vectors is that vector, which is open_clip's ``encode_image`` on the same
  preprocessed pixels, normalised (tests/test_example_query.py checks both against a stock
  open_clip model to 1e-5).

Images are read with Pillow (JPEG, PNG, WebP, GIF's first frame, BMP, TIFF ...), turned upright
by their EXIF orientation (as phones store photos), converted to RGB (alpha dropped) and then
preprocessed by the same function as video frames (:func:`tempme.video.resize_short_side`:
bicubic, antialiased, shorter side to the model's size, centre crop, the model's mean/std), which
agrees with open_clip's PIL transform to well under one grey level.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from tempme.encoder import VideoEncoder

log = logging.getLogger(__name__)

ImageMode = Literal["still", "frame"]
IMAGE_MODES: tuple[str, ...] = ("still", "frame")
DEFAULT_IMAGE_MODE: ImageMode = "still"
MAX_IMAGE_PIXELS = 100_000_000
"""Largest image accepted (pixels, 10^8: a 10,000 x 10,000 photo); Pillow's own guard against
decompression bombs is 89 million with a warning, twice that an error."""
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""Lower-case suffixes offered as images (other files Pillow can read are accepted too)."""


class ExampleQueryError(ValueError):
    """An example (image, clip) that cannot be used as a query; the message says why, in one line."""


def load_image(image: str | os.PathLike | bytes | Image.Image | np.ndarray) -> np.ndarray:
    """Read an image as a (H, W, 3) uint8 RGB array, upright.

    Args:
        image: a file path, the file's bytes (an upload), a PIL image, or a (H, W, 3) uint8 array
            (returned as is).

    Returns:
        (H, W, 3) uint8 RGB: EXIF orientation applied, alpha dropped, palette and grey images
        expanded; an animated image gives its first frame.

    Raises:
        ExampleQueryError: missing, empty or unreadable file, not an image, larger than
            :data:`MAX_IMAGE_PIXELS`, or an array of another shape or dtype.
    """
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ExampleQueryError(f"expected a (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        return image
    name = "the image"
    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, (bytes, bytearray, memoryview)):
            if not len(image):
                raise ExampleQueryError("the image is empty (0 bytes)")
            pil = Image.open(io.BytesIO(bytes(image)))
        else:
            path = Path(image)
            name = str(path)
            if not path.is_file():
                raise ExampleQueryError(f"{path}: no such image file")
            if path.stat().st_size == 0:
                raise ExampleQueryError(f"{path}: empty file (0 bytes)")
            pil = Image.open(path)
        w, h = pil.size
        if w * h > MAX_IMAGE_PIXELS:
            raise ExampleQueryError(f"{name} is {w}x{h} pixels, more than {MAX_IMAGE_PIXELS:,}")
        if w < 1 or h < 1:
            raise ExampleQueryError(f"{name} has no pixels ({w}x{h})")
        pil.seek(0)  # the first frame of an animated GIF / WebP
        pil = ImageOps.exif_transpose(pil)  # phones store photos sideways plus an orientation tag
        return np.asarray(pil.convert("RGB"), dtype=np.uint8).copy()
    except ExampleQueryError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ExampleQueryError(f"{name} is not an image Pillow can read ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged files
        raise ExampleQueryError(f"{name} cannot be read: {exc}") from None


def preprocess_image(encoder: VideoEncoder, image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, S, S) float32, the preprocessing of indexed frames."""
    return encoder.preprocess_frames(image[None])  # (1, H, W, 3) -> (1, 3, S, S)


def encode_image_pixels(
    encoder: VideoEncoder, pixels: torch.Tensor, mode: ImageMode = DEFAULT_IMAGE_MODE
) -> np.ndarray:
    """Encode preprocessed images into the library's space.

    Args:
        encoder: the library's encoder (LoRA folded or not).
        pixels: (Q, 3, S, S) preprocessed images (:func:`preprocess_image`).
        mode: ``still`` (each image as a still clip of T frames through the video tower) or
            ``frame`` (the CLIP image tower, no merging); see the module docstring.

    Returns:
        (Q, D) float32 unit vectors (numpy).

    Raises:
        ValueError: unknown mode or a shape other than (Q, 3, S, S).
    """
    if mode not in IMAGE_MODES:
        raise ValueError(f"image mode must be one of {IMAGE_MODES}, got {mode!r}")
    if pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"expected (Q, 3, S, S) preprocessed images, got {tuple(pixels.shape)}")
    x = pixels.to(encoder.device)
    with encoder.inference():
        if mode == "still":
            out = encoder.encode_still(x)  # (Q, D): encode_video on T copies, per-frame layers once
        else:
            out = F.normalize(encoder.model.encode_image(x).float(), dim=-1)  # (Q, D)
    return out.float().cpu().numpy()


def encode_image(
    encoder: VideoEncoder,
    image: str | os.PathLike | bytes | Image.Image | np.ndarray,
    mode: ImageMode = DEFAULT_IMAGE_MODE,
) -> np.ndarray:
    """An image (path, bytes, PIL image or (H, W, 3) uint8 array) -> (D,) float32 unit vector.

    Raises:
        ExampleQueryError: the image cannot be read (see :func:`load_image`).
        ValueError: unknown ``mode``.
    """
    pixels = preprocess_image(encoder, load_image(image))
    return encode_image_pixels(encoder, pixels, mode)[0]


def encode_clip_frames(encoder: VideoEncoder, frames: np.ndarray) -> np.ndarray:
    """A clip's sampled frames -> (D,) float32 unit vector, exactly as indexing encodes a segment.

    Args:
        frames: (T, H, W, 3) uint8 RGB, T = ``encoder.num_frames``, picked as indexing picks a
            segment's frames (``index`` decodes them).

    Raises:
        ValueError: wrong shape, dtype or frame count.
    """
    if frames.ndim != 4 or frames.shape[0] != encoder.num_frames:
        raise ValueError(f"expected ({encoder.num_frames}, H, W, 3) frames, got {frames.shape}")
    x = encoder.preprocess_frames(frames)  # (T, H, W, 3) -> (T, 3, S, S)
    with encoder.inference():
        return encoder.encode_video(x[None]).float().cpu().numpy()[0]  # (1, T, 3, S, S) -> (D,)
