"""One decoding pass per video: segments and their sampled frames, as soon as each is final.

:func:`scan_video` decodes a video once with PyAV, scores small frames for scene cuts
(:class:`~.cuts.ContentScorer`), feeds the cuts to the segmentation rule
(:class:`~.segments.SegmentPlanner`), keeps a bounded buffer of frames at the encoder's
resolution, and yields each segment with the frames sampled inside it as soon as it is final.

Work per frame (what ingest waits for when the encoder runs on a GPU; see docs/ingest.md):

- FFmpeg decodes every frame (the default), or in the fast mode (``skip_nonref``) reference
  frames only (``skip_frame=NONREF``, about half the decoding of H.264 with B-frames) while that
  keeps decoded frames within 3 frame durations of each other; a file whose frames come further
  apart is scanned again decoding every frame (or, past its first segment, switches over). In the
  fast mode cuts are found on the decoded frames only (F1 0.96 against PySceneDetect's full-frame
  detection on the long test film, 0.1 s tolerance, against 0.99 decoding every frame), and a
  sample next to a cut can be two frames from the one on screen (one elsewhere).
- Cut detection: the decoded picture is shrunk by swscale straight from its YUV planes to
  PySceneDetect's detection size (``detect_width``, as its auto-downscale) and scored as
  PySceneDetect's ``ContentDetector`` scores it (:class:`~.cuts.ContentScorer`, the same cuts in a
  quarter of the time).
- Sampling: a frame is converted to the encoder's resolution only when it may be sampled:
  frames are kept no more than 3 frame durations apart (a frame is converted when the next
  one would leave a wider gap), so that the kept frame nearest to any time is within one frame
  of the frame on screen at that time; each segment takes, for each of its
  :func:`tempme.video.uniform_times`, that nearest kept frame.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from scenedetect.common import FrameTimecode
from tempme.index.media.cuts import ContentScorer, detection_size
from tempme.index.media.segments import SegmentParams, SegmentPlanner, SegmentSpan

from tempme.video import VideoDecodeError, VideoMeta, open_container, resize_short_side, stream_start, uniform_times

log = logging.getLogger(__name__)

# Kept frames are at most this many frame durations apart: the nearest one to any frame is then
# at most one frame away (frames k and k+3 cover k+1 and k+2).
MAX_KEPT_GAP = 3
# Decoded frames are put back in time order through a buffer this long (some damaged files come
# out of the decoder out of order; a player shows them by timestamp).
REORDER_FRAMES = 4
# A frame whose timestamp is within this of a time t counts as on screen at t (timestamps are
# rationals; t and a frame time that are equal can differ by float rounding).
TIME_EPS = 1e-6


@dataclass
class ScannedSegment:
    """A final segment and its frames.

    ``frames``: (T, H, W, 3) uint8 RGB, shorter side = the encoder's image size; frame ``i`` is
    the decoded frame nearest to ``times_s[i]`` (within one frame of the one on screen then);
    ``frame_times_s`` (T,) are those frames' own timestamps (s).
    """

    span: SegmentSpan
    frames: np.ndarray
    times_s: np.ndarray
    frame_times_s: np.ndarray


@dataclass
class VideoScan:
    """What :func:`scan_video` found besides the segments (filled in when the scan ends)."""

    cuts_s: list[float]
    decoded_frames: int = 0  # frames FFmpeg returned (all passes)
    converted_frames: int = 0  # frames shrunk to the encoder's size
    every_frame: bool = False  # True when the final pass decoded every frame (no NONREF skipping)
    rescans: int = 0  # passes restarted because reference frames alone came too far apart
    notes: list[str] = field(default_factory=list)


class _RescanAllFrames(Exception):
    """Reference frames alone leave gaps wider than MAX_KEPT_GAP frames (raised before any yield)."""


def encoder_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """Frame size with the shorter side ``short_side`` (even sides), or unchanged for ``None``."""
    if short_side is None:
        return width, height
    scale = short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class _Pass:
    """One decoding pass over a file (see :func:`scan_video`)."""

    def __init__(
        self,
        path: Path,
        meta: VideoMeta,
        num_frames: int,
        short_side: int | None,
        params: SegmentParams,
        scan: VideoScan,
        nonref: bool,
    ):
        self.path, self.params, self.scan, self.nonref = path, params, scan, nonref
        self.num_frames, self.short_side = num_frames, short_side
        self.duration_s = meta.duration_s
        self.fps = meta.fps if meta.fps > 0 else 25.0
        self.dt = 1.0 / self.fps  # nominal frame duration (s)
        self.planner = SegmentPlanner(params.window_s, params.min_shot_s)
        self.detector = ContentScorer(params.threshold, params.min_scene_frames)
        # one swscale context per output size (a shared one would be rebuilt for every frame)
        self.small_fmt, self.big_fmt = VideoReformatter(), VideoReformatter()
        self.small_size: tuple[int, int] | None = None
        self.big_size: tuple[int, int] | None = None
        self.kept_t: list[float] = []  # times of kept frames (ascending)
        # kept frames: converted (H, W, 3) uint8, or decoded frames not converted yet
        self.kept: list[np.ndarray | av.VideoFrame] = []
        self.first_raw = 0  # kept[:first_raw] are all converted
        self.raw_limit = 0  # how many decoded frames fit in params.held_mb
        self.held: av.VideoFrame | None = None  # the last decoded frame, not yet converted
        self.held_t = -math.inf
        self.yielded = False
        # the last decoded frames (ContentDetector may report a cut up to min_scene_frames late)
        self.times: list[float] = []  # times of decoded frames from the first kept one on
        self.recent: deque[tuple[float, av.VideoFrame]] = deque(maxlen=params.min_scene_frames + 2)

    def convert(self, frame: av.VideoFrame) -> np.ndarray:
        """(H', W', 3) uint8 RGB of one sampled frame: converted at full resolution, then resized
        as open_clip's transform does (bicubic, antialiased, shorter side ``short_side``:
        :func:`tempme.video.resize_short_side`), so indexed frames match open_clip's preprocess."""
        self.scan.converted_frames += 1
        rgb = self.big_fmt.reformat(frame, format="rgb24").to_ndarray()  # (H, W, 3), no scaling
        if self.short_side is None:
            return rgb
        return resize_short_side(rgb[None], self.short_side)[0].permute(1, 2, 0).numpy()  # (3,H',W')->(H',W',3)

    def keep_held(self) -> None:
        if self.held is not None and (not self.kept_t or self.held_t > self.kept_t[-1]):
            self.kept_t.append(self.held_t)
            self.kept.append(self.held)
            while len(self.kept) - self.first_raw > self.raw_limit:  # over the memory budget
                self.kept_array(self.first_raw)

    def kept_array(self, i: int) -> np.ndarray:
        x = self.kept[i]
        if isinstance(x, av.VideoFrame):
            x = self.kept[i] = self.convert(x)
        while self.first_raw < len(self.kept) and not isinstance(self.kept[self.first_raw], av.VideoFrame):
            self.first_raw += 1
        return x

    def sample(self, span: SegmentSpan) -> ScannedSegment:
        times = uniform_times(span.start_s, span.end_s, self.num_frames)
        lo = bisect_left(self.kept_t, span.start_s - 0.5 * self.dt)  # frames of this segment only
        hi = max(bisect_left(self.kept_t, span.end_s), lo + 1)
        kt = self.kept_t[lo:hi]
        idx = []
        for t in times:
            j = bisect_right(kt, t + TIME_EPS) - 1
            if j < 0:
                idx.append(0)
            elif j + 1 >= len(kt):
                idx.append(j)
            elif not self.nonref:  # every frame decoded: count frames between them
                on_screen = bisect_right(self.times, t + TIME_EPS) - 1
                before = on_screen - bisect_left(self.times, kt[j])
                after = bisect_left(self.times, kt[j + 1]) - on_screen
                idx.append(j if before <= after else j + 1)
            else:  # the frame on screen at t is about floor((t - kt[j]) / dt) frames after kt[j]
                on_screen = math.floor((t - kt[j] + TIME_EPS) / self.dt)
                after = round((kt[j + 1] - kt[j]) / self.dt)
                idx.append(j if on_screen <= after - on_screen else j + 1)
        idx = [min(i, len(kt) - 1) + lo for i in idx]
        return ScannedSegment(
            span, np.stack([self.kept_array(i) for i in idx]), times, np.array([self.kept_t[i] for i in idx])
        )

    def keep_near(self, boundary_s: float) -> None:
        """Keep the recent frames next to a segment boundary: the nearest ones to the last samples
        of one segment and the first of the next (a cut can be reported a few frames late)."""
        for t, frame in self.recent:
            if abs(t - boundary_s) <= (MAX_KEPT_GAP + 0.5) * self.dt:
                i = bisect_left(self.kept_t, t)
                if i == len(self.kept_t) or self.kept_t[i] != t:
                    self.kept_t.insert(i, t)
                    self.kept.insert(i, frame)
                    self.first_raw = min(self.first_raw, i)

    def emit(self, spans: list[SegmentSpan]) -> Iterator[ScannedSegment]:
        for span in spans:
            self.keep_near(span.end_s)
            yield self.sample(span)
            self.yielded = True
            drop = bisect_left(self.kept_t, span.end_s - (MAX_KEPT_GAP + 0.5) * self.dt)
            del self.kept_t[:drop], self.kept[:drop]
            del self.times[: bisect_left(self.times, self.kept_t[0] if self.kept_t else span.end_s)]
            self.first_raw = max(self.first_raw - drop, 0)

    def frame(self, frame: av.VideoFrame, t: float) -> Iterator[ScannedSegment]:
        """Feed one decoded frame at ``t`` seconds."""
        if self.big_size is None:
            self.big_size = encoder_size(frame.width, frame.height, self.short_side)
            self.small_size = detection_size(frame.width, frame.height, self.params.detect_width)
            frame_bytes = sum(p.buffer_size for p in frame.planes)
            self.raw_limit = int(self.params.held_mb * 2**20 // max(frame_bytes, 1))
        gap = t - self.held_t
        if self.nonref and self.held is not None and gap > (MAX_KEPT_GAP + 0.5) * self.dt:
            if not self.yielded:
                raise _RescanAllFrames(f"reference frames {gap:.3f}s apart at {t:.2f}s")
            self.nonref = False
            self.container_stream.codec_context.skip_frame = "DEFAULT"
            self.scan.notes.append(f"every frame decoded from {t:.2f}s (reference frames {gap:.3f}s apart)")
        w, h = self.small_size
        small = self.small_fmt.reformat(frame, w, h, "bgr24", interpolation="FAST_BILINEAR").to_ndarray()
        self.recent.append((t, frame))
        self.times.append(t)
        window_start = self.planner.open_start
        spans = self.planner.advance(t, self.held_t if self.held is not None else 0.0)
        if self.planner.open_start != window_start:
            self.keep_near(self.planner.open_start)
        for tc in self.detector.process_frame(FrameTimecode(t, fps=self.fps), small):
            cut = float(tc.seconds)
            self.scan.cuts_s.append(cut)
            self.keep_near(cut)
            spans += self.planner.cut(cut)
        # segments that end by now are sampled while the held frame is still the previous one
        yield from self.emit(spans)
        # keep the held frame if this one would leave a gap wider than MAX_KEPT_GAP frames
        if self.kept_t and t - self.kept_t[-1] > (MAX_KEPT_GAP + 0.01) * self.dt:
            self.keep_held()
        self.held, self.held_t = frame, t
        if not self.kept_t:
            self.keep_held()

    def feed(self, frame: av.VideoFrame, t: float) -> Iterator[ScannedSegment]:
        if t <= self.held_t:  # later than the reorder buffer, or a repeated timestamp
            if self.nonref and not self.yielded:
                raise _RescanAllFrames(f"frame times go back at {t:.2f}s")
            return
        self.scan.decoded_frames += 1
        yield from self.frame(frame, t)

    def run(self) -> Iterator[ScannedSegment]:
        container = open_container(self.path)
        try:
            stream = self.container_stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.params.decode_threads:
                stream.codec_context.thread_count = self.params.decode_threads
            if self.nonref:
                stream.codec_context.skip_frame = "NONREF"
            if self.params.skip_loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            start = stream_start(stream)
            pending: list[tuple[float, int, av.VideoFrame]] = []  # reorder buffer (a heap by time)
            error: av.FFmpegError | None = None
            try:
                for n, frame in enumerate(container.decode(stream)):
                    if frame.time is not None:
                        heapq.heappush(pending, (frame.time - start, n, frame))
                    if len(pending) > REORDER_FRAMES:
                        t, _, f = heapq.heappop(pending)
                        yield from self.feed(f, t)
            except av.FFmpegError as exc:
                error = exc
            while pending:
                t, _, f = heapq.heappop(pending)
                yield from self.feed(f, t)
            if error is not None:
                if self.held is None:
                    raise VideoDecodeError(self.path, f"decoding failed: {error}") from error
                log.warning(
                    "%s: decoding stopped at %.2fs (%s); indexing what was decoded", self.path, self.held_t, error
                )
        finally:
            container.close()
        if self.held is None:
            raise VideoDecodeError(self.path, "no decodable video frame")
        last_t = self.held_t
        self.keep_held()
        yield from self.emit(self.planner.finish(max(self.duration_s, last_t), last_t))
        self.scan.every_frame = not self.nonref


def scan_video(
    path: str | os.PathLike,
    meta: VideoMeta,
    num_frames: int,
    short_side: int | None,
    params: SegmentParams = SegmentParams(),
    result: VideoScan | None = None,
) -> Iterator[ScannedSegment]:
    """Decode ``path`` once; yield each segment with ``num_frames`` frames as soon as it is final.

    Frame sampling: for each time of :func:`tempme.video.uniform_times` over the segment, the
    kept frame nearest to the frame on screen at that time (one frame away at most; see the
    module docstring). ``short_side`` scales frames so that their shorter side has that many
    pixels (``None``: native size). ``result`` (if given) receives the cut list, the frames for
    frame counts.

    Raises:
        VideoDecodeError: the file cannot be decoded or has no frame.
    """
    p = Path(path)
    scan = result if result is not None else VideoScan(cuts_s=[])
    nonref = params.skip_nonref
    while True:
        try:
            yield from _Pass(p, meta, num_frames, short_side, params, scan, nonref).run()
            return
        except _RescanAllFrames as why:  # nothing was yielded: start again, decoding every frame
            log.debug("%s: %s; decoding every frame", p, why)
            scan.cuts_s.clear()
            scan.rescans += 1
            scan.notes.append(f"decoded every frame: {why}")
            nonref = False
