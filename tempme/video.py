"""Video decoding with PyAV, by timestamp.

Shared by ``index`` (ingest) and ``train`` (MSR-VTT clips). Frames are picked by presentation
time, never by the frame count in the header (variable frame rate, damaged or header-less files
make that count wrong): the frame for time ``t`` is the last decoded frame whose timestamp is
``<= t`` -- the frame a player shows at ``t``.

Times are seconds from the start of the video stream (its ``start_time`` is subtracted).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from tempme.probe import (  # noqa: F401  (re-exported: the header half of this module, torch-free)
    TEXT_FORMATS,
    VideoDecodeError,
    VideoMeta,
    open_container,
    probe,
    stream_start,
)

log = logging.getLogger(__name__)

# Seek instead of decoding forward when the next wanted time is this far ahead (seconds).
SEEK_GAP_S = 4.0


def uniform_times(start_s: float, end_s: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal bins over ``[start_s, end_s)``: shape (n,), seconds.

    Raises:
        ValueError: ``n < 1`` or ``end_s < start_s``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if end_s < start_s:
        raise ValueError(f"end_s ({end_s}) < start_s ({start_s})")
    step = (end_s - start_s) / n
    return start_s + step * (np.arange(n, dtype=np.float64) + 0.5)


def _out_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    # even sizes keep swscale's chroma handling exact
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``short_side``, as torchvision's ``Resize(S)``
    computes it (the longer side is ``int(S * long / short)``)."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def resize_short_side(frames: np.ndarray | torch.Tensor, short_side: int) -> torch.Tensor:
    """CLIP's resize: the shorter side to ``short_side`` pixels, bicubic with antialiasing.

    The resize of open_clip's image transform (torchvision ``Resize(S, BICUBIC)`` on PIL
    images), done by torchvision on tensors; on uint8 RGB frames the two agree to well under one
    grey level (tests/test_video.py measures it on real clips).

    Args:
        frames: (T, H, W, 3) uint8 RGB.

    Returns:
        (T, 3, H', W') uint8, ``min(H', W') == short_side``; the input itself when already that size.
    """
    x = torch.as_tensor(frames).permute(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W)
    w, h = short_side_size(x.shape[-1], x.shape[-2], short_side)
    if (h, w) == tuple(x.shape[-2:]):
        return x
    return TF.resize(x, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)


def sample_frames(
    path: str | os.PathLike,
    times_s: np.ndarray | list[float],
    max_side: int | None = None,
    *,
    short_side: int | None = None,
) -> np.ndarray:
    """Decode the frame shown at each timestamp.

    Args:
        path: a video file.
        times_s: (T,) seconds from the stream start, any order; times past the end give the
            last frame, times before the first frame give the first frame.
        max_side: if set, shrink so that the longer side is at most this many pixels (swscale,
            for previews).
        short_side: if set (takes precedence), resize so that the shorter side is this many
            pixels with CLIP's resize (:func:`resize_short_side`, bicubic, antialiased), each
            frame as it is decoded at full resolution.

    Returns:
        (T, H, W, 3) uint8 RGB, in the order of ``times_s``.

    Raises:
        VideoDecodeError: the file cannot be opened or yields no frame.
    """
    p = Path(path)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    if times.size == 0:
        raise ValueError("times_s is empty")
    order = np.argsort(times, kind="stable")
    n = times.size
    out: list[np.ndarray | None] = [None] * n
    container = open_container(p)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = stream_start(stream)
        size: tuple[int, int] | None = None
        fmt = VideoReformatter()  # keeps its swscale context between frames

        def convert(frame: av.VideoFrame) -> np.ndarray:
            nonlocal size
            if short_side is not None:
                rgb = frame.to_ndarray(format="rgb24")[None]  # (1, H, W, 3) at full resolution
                return resize_short_side(rgb, short_side)[0].permute(1, 2, 0).numpy()  # (H', W', 3)
            if size is None:
                size = _out_size(frame.width, frame.height, max_side)
            return fmt.reformat(frame, size[0], size[1], "rgb24").to_ndarray()

        def seek(at: float):
            if at > 0 and stream.time_base:
                offset = int((at + start) / stream.time_base)
                container.seek(offset, stream=stream, backward=True, any_frame=False)
            else:
                container.seek(0)
            return container.decode(stream)

        frames = seek(float(times[order[0]]))
        prev_t: float | None = None
        prev_frame = None
        prev_arr: np.ndarray | None = None
        from_start = float(times[order[0]]) <= 0
        sought = float(times[order[0]])  # never seek twice towards the same time
        done = 0
        while done < n:
            want = float(times[order[done]])
            if prev_t is not None and want - prev_t > SEEK_GAP_S and want > sought:
                sought = want
                frames, prev_t, prev_frame, prev_arr = seek(want), None, None, None
            try:
                frame = next(frames)
            except StopIteration:
                frame = None
            except av.FFmpegError as exc:
                if prev_frame is None and from_start:
                    raise VideoDecodeError(p, f"decoding failed near {want:.2f}s: {exc}") from exc
                log.warning("%s: decode error near %.2fs (%s)", p, want, exc)
                frame = None
            if frame is None:
                if prev_frame is None:
                    if from_start:
                        raise VideoDecodeError(p, "no decodable video frame")
                    # a seek landed past the last frame (or failed): decode from the start
                    frames, from_start = seek(0.0), True
                    continue
                arr = prev_arr if prev_arr is not None else convert(prev_frame)
                while done < n:  # past the end: the last frame stays on screen
                    out[order[done]] = arr
                    done += 1
                break
            t = frame.time - start if frame.time is not None else (prev_t or 0.0)
            if t > want:
                # this frame comes after the wanted time: the previous one was on screen
                # (before the first frame, the first frame stands in)
                if prev_frame is None:
                    arr = convert(frame)
                else:
                    prev_arr = arr = prev_arr if prev_arr is not None else convert(prev_frame)
                while done < n and float(times[order[done]]) < t:
                    out[order[done]] = arr
                    done += 1
            prev_t, prev_frame, prev_arr = t, frame, None
        return np.stack(out)
    finally:
        container.close()
