"""Cut a video into moments: shots from PySceneDetect, fixed windows as a fallback.

One decoding pass per video (:func:`scan_video`) feeds PySceneDetect's ``ContentDetector`` with
small frames, keeps a bounded buffer of frames at the encoder's resolution, and yields each
segment with the frames sampled inside it as soon as the segment is final. The segmentation
rule lives in :class:`SegmentPlanner`, a pure state machine also used offline by
:func:`plan_segments`:

- a scene cut closes a shot;
- a shot that grows past ``window_s`` without a cut is closed every ``window_s`` seconds
  (fixed windows; also what a video without cuts becomes);
- a piece shorter than ``min_shot_s`` merges with its neighbour (the previous one, or the next
  one when it comes first), as long as the result stays within ``window_s + min_shot_s``.

Every second of the video lies in exactly one segment: segments are contiguous from 0 to the
duration.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_right
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import av
from av.video.reformatter import VideoReformatter
import numpy as np
from scenedetect import ContentDetector
from scenedetect.common import FrameTimecode

from tempme.video import VideoDecodeError, VideoMeta, _open, _stream_start, uniform_times

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentSpan:
    """``[start_s, end_s)`` in seconds; ``kind`` is ``shot`` (closed by scene cuts) or ``window``."""

    start_s: float
    end_s: float
    kind: str

    @property
    def length(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SegmentParams:
    window_s: float = 30.0  # longest segment before falling back to fixed windows (s)
    min_shot_s: float = 1.0  # shorter pieces merge with a neighbour (s)
    threshold: float = 27.0  # ContentDetector threshold (PySceneDetect's default)
    detect_width: int = 256  # frames are shrunk to this width for cut detection (PySceneDetect's auto)
    grid_fps: float = 6.0  # frames kept per second for sampling segments
    fast: bool = True  # decode reference frames only (skip_frame=NONREF): ~2x faster decoding

    def __post_init__(self) -> None:
        if not 0 < self.min_shot_s < self.window_s:
            raise ValueError(f"need 0 < min_shot_s ({self.min_shot_s}) < window_s ({self.window_s})")
        if self.grid_fps <= 0 or self.detect_width < 16:
            raise ValueError(f"grid_fps ({self.grid_fps}) must be > 0 and detect_width ({self.detect_width}) >= 16")


class SegmentPlanner:
    """Incremental segmentation (see the module docstring); emits final spans in time order."""

    def __init__(self, window_s: float, min_shot_s: float):
        self.window_s, self.min_shot_s = window_s, min_shot_s
        self.open_start = 0.0
        self.held: SegmentSpan | None = None  # closed, but a short next piece may still join it

    def _push(self, piece: SegmentSpan) -> list[SegmentSpan]:
        if piece.length <= 0:
            return []
        if self.held is None:
            self.held = piece
            return []
        short = piece.length < self.min_shot_s or self.held.length < self.min_shot_s
        if short and self.held.length + piece.length <= self.window_s + self.min_shot_s:
            kind = "shot" if piece.kind == self.held.kind == "shot" else "window"
            self.held = SegmentSpan(self.held.start_s, piece.end_s, kind)
            return []
        out, self.held = self.held, piece
        return [out]

    def cut(self, t: float) -> list[SegmentSpan]:
        """A scene cut at ``t`` seconds closes the open shot."""
        if t <= self.open_start:
            return []
        piece = SegmentSpan(self.open_start, t, "shot")
        self.open_start = t
        return self._push(piece)

    def advance(self, t: float) -> list[SegmentSpan]:
        """Decoding reached ``t`` seconds without a cut: close full windows."""
        out: list[SegmentSpan] = []
        while t - self.open_start >= self.window_s:
            end = self.open_start + self.window_s
            out += self._push(SegmentSpan(self.open_start, end, "window"))
            self.open_start = end
        return out

    def finish(self, duration_s: float) -> list[SegmentSpan]:
        out = self.advance(duration_s)
        out += self._push(SegmentSpan(self.open_start, max(duration_s, self.open_start), "shot"))
        if self.held is not None:
            out.append(self.held)
            self.held = None
        if out and out[-1].end_s < duration_s:
            out[-1] = replace(out[-1], end_s=duration_s)
        return out


def plan_segments(duration_s: float, cuts_s: list[float], window_s: float = 30.0,
                  min_shot_s: float = 1.0) -> list[SegmentSpan]:
    """Segments of a video of ``duration_s`` seconds with scene cuts at ``cuts_s`` (seconds)."""
    planner = SegmentPlanner(window_s, min_shot_s)
    out: list[SegmentSpan] = []
    for t in sorted(c for c in cuts_s if 0 < c < duration_s):
        out += planner.advance(t)
        out += planner.cut(t)
    return out + planner.finish(duration_s)


@dataclass
class ScannedSegment:
    span: SegmentSpan
    frames: np.ndarray  # (T, H, W, 3) uint8, shorter side = the encoder's image size


@dataclass
class VideoScan:
    """What :func:`scan_video` found besides the segments (filled in when the scan ends)."""

    cuts_s: list[float]
    whole_frames: np.ndarray | None = None  # (T, H, W, 3) uint8 uniform over the whole video
    decoded_frames: int = 0


def scan_video(
    path: str | os.PathLike, meta: VideoMeta, num_frames: int, short_side: int,
    params: SegmentParams = SegmentParams(), result: VideoScan | None = None,
) -> Iterator[ScannedSegment]:
    """Decode ``path`` once; yield each segment with ``num_frames`` frames uniformly inside it.

    Frame sampling: for each time of :func:`tempme.video.uniform_times` over the segment, the last
    kept frame at or before it (kept frames are spaced ``1 / grid_fps`` s apart; the first frame
    stands in for earlier times). ``result`` (if given) receives the cut list and the frames for
    the whole-video embedding.

    Raises:
        VideoDecodeError: the file cannot be decoded or has no frame.
    """
    p = Path(path)
    scan = result if result is not None else VideoScan(cuts_s=[])
    planner = SegmentPlanner(params.window_s, params.min_shot_s)
    detector = ContentDetector(threshold=params.threshold)
    fps = meta.fps if meta.fps > 0 else 25.0
    whole_t = uniform_times(0.0, meta.duration_s, num_frames)
    whole: list[np.ndarray | None] = [None] * num_frames
    kept_t: list[float] = []  # times of buffered frames (ascending)
    kept: list[np.ndarray] = []
    small_size = None
    big_size = None
    last_t = 0.0
    prev = None  # (last decoded frame, its big array if converted)
    next_whole = 0

    def sample(span: SegmentSpan) -> ScannedSegment:
        idx = [max(bisect_right(kept_t, t) - 1, 0) for t in uniform_times(span.start_s, span.end_s, num_frames)]
        return ScannedSegment(span, np.stack([kept[i] for i in idx]))

    def emit(spans: list[SegmentSpan]) -> Iterator[ScannedSegment]:
        for span in spans:
            yield sample(span)
            # drop frames no later segment can use (keep the one on screen at span.end_s)
            drop = max(bisect_right(kept_t, span.end_s) - 1, 0)
            del kept_t[:drop], kept[:drop]

    # one swscale context per output size (a shared one would be rebuilt for every frame)
    small_fmt, big_fmt = VideoReformatter(), VideoReformatter()

    def to_big(frame: av.VideoFrame) -> np.ndarray:
        return big_fmt.reformat(frame, big_size[0], big_size[1], "rgb24").to_ndarray()

    container = _open(p)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if params.fast:
            stream.codec_context.skip_frame = "NONREF"
        start = _stream_start(stream)
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = frame.time - start
                if big_size is None:
                    w, h = frame.width, frame.height
                    scale = short_side / min(w, h)
                    big_size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
                    sw = min(params.detect_width, w)
                    small_size = (max(2, sw // 2 * 2), max(2, round(h * sw / w / 2) * 2))
                scan.decoded_frames += 1
                big = None
                if not kept_t or t - kept_t[-1] >= 1.0 / params.grid_fps - 1e-6:
                    big = to_big(frame)
                    kept_t.append(t)
                    kept.append(big)
                # whole-video frames: the one on screen at whole_t[i] is the last with time <= it
                while next_whole < num_frames and whole_t[next_whole] < t:
                    if prev is None:
                        prev = (frame, big)
                    if prev[1] is None:
                        prev = (prev[0], to_big(prev[0]))
                    whole[next_whole] = prev[1]
                    next_whole += 1
                prev = (frame, big)
                small = small_fmt.reformat(frame, small_size[0], small_size[1], "bgr24").to_ndarray()
                spans = planner.advance(t)
                for tc in detector.process_frame(FrameTimecode(float(t), fps=fps), small):
                    cut = float(tc.seconds)
                    scan.cuts_s.append(cut)
                    spans += planner.cut(cut)
                last_t = t
                yield from emit(spans)
        except av.FFmpegError as exc:
            if not kept:
                raise VideoDecodeError(p, f"decoding failed: {exc}") from exc
            log.warning("%s: decoding stopped at %.2fs (%s); indexing what was decoded", p, last_t, exc)
    finally:
        container.close()
    if not kept:
        raise VideoDecodeError(p, "no decodable video frame")
    for tc in detector.post_process(FrameTimecode(float(last_t), fps=fps)):
        scan.cuts_s.append(float(tc.seconds))
        yield from emit(planner.cut(float(tc.seconds)))
    yield from emit(planner.finish(max(meta.duration_s, last_t)))
    while next_whole < num_frames:
        if prev[1] is None:
            prev = (prev[0], to_big(prev[0]))
        whole[next_whole] = prev[1]
        next_whole += 1
    scan.whole_frames = np.stack(whole)
