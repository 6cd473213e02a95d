"""The segmentation rule: where a video's moments start and end (pure; no decoding).

Shots from scene cuts (PySceneDetect's ``ContentDetector``, :mod:`.cuts`), fixed windows as a
fallback. :class:`SegmentPlanner` is a pure state machine, fed by the decoding pass
(:func:`tempme.index.media.scan.scan_video`) and used offline by :func:`plan_segments`:

- a scene cut closes a shot;
- a shot that grows past ``window_s`` without a cut is closed every ``window_s`` seconds
  (fixed windows; also what a video without cuts becomes);
- a piece shorter than ``min_shot_s`` merges with its neighbour (the previous one, or the next
  one when it comes first), as long as the result stays within ``window_s + min_shot_s``.

Every second of the video lies in exactly one segment: segments are contiguous from 0 to the
duration. Fixed windows are cut only where frames were decoded: a gap in the timestamps longer
than ``window_s`` (two frames 10^7 s apart, or a container claiming hours past its last frame)
becomes one segment, so a video has at most about two segments per decoded frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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
    """How :func:`~tempme.index.media.scan.scan_video` cuts and samples (times in seconds).

    Raises:
        ValueError: ``min_shot_s`` not in ``(0, window_s)``, ``detect_width < 16`` or
            ``decode_threads < 0``.
    """

    window_s: float = 30.0  # longest segment before falling back to fixed windows (s)
    min_shot_s: float = 1.0  # shorter pieces merge with a neighbour (s)
    threshold: float = 27.0  # ContentDetector threshold (PySceneDetect's default)
    min_scene_frames: int = 15  # ContentDetector min_scene_len (PySceneDetect's default, frames)
    detect_width: int = 256  # detection frames are this wide (PySceneDetect's auto-downscale width)
    skip_nonref: bool = False  # fast mode: decode reference frames only (see the module docstring)
    skip_loop_filter: bool = False  # skip FFmpeg's deblocking filter (faster, blockier frames)
    decode_threads: int = 0  # FFmpeg threads for the stream (0: FFmpeg's choice, one per core)
    held_mb: float = 128.0  # decoded frames held unconverted until sampled (MB); older ones are converted

    def __post_init__(self) -> None:
        if not 0 < self.min_shot_s < self.window_s:
            raise ValueError(f"need 0 < min_shot_s ({self.min_shot_s}) < window_s ({self.window_s})")
        if self.detect_width < 16:
            raise ValueError(f"detect_width ({self.detect_width}) must be >= 16")
        if self.decode_threads < 0 or self.held_mb < 0:
            raise ValueError(f"decode_threads ({self.decode_threads}) and held_mb ({self.held_mb}) must be >= 0")


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

    def advance(self, t: float, seen: float | None = None) -> list[SegmentSpan]:
        """Decoding reached ``t`` seconds without a cut: close full windows.

        ``seen``: the time of the previous decoded frame; when ``t`` is more than ``window_s``
        after it, no frame lies in between and the whole open piece up to ``t`` is one segment
        (a gap in the timestamps is not hours of content).
        """
        if seen is not None and t - seen > self.window_s:
            out = self.advance(seen)
            piece = SegmentSpan(self.open_start, t, "window")
            self.open_start = t
            return out + self._push(piece)
        out: list[SegmentSpan] = []
        while t - self.open_start >= self.window_s:
            end = self.open_start + self.window_s
            out += self._push(SegmentSpan(self.open_start, end, "window"))
            self.open_start = end
        return out

    def finish(self, duration_s: float, seen: float | None = None) -> list[SegmentSpan]:
        """The video ends at ``duration_s``; ``seen``: the time of the last decoded frame."""
        out = self.advance(duration_s, seen)
        out += self._push(SegmentSpan(self.open_start, max(duration_s, self.open_start), "shot"))
        if self.held is not None:
            out.append(self.held)
            self.held = None
        if out and out[-1].end_s < duration_s:
            out[-1] = replace(out[-1], end_s=duration_s)
        return out


def plan_segments(
    duration_s: float, cuts_s: list[float], window_s: float = 30.0, min_shot_s: float = 1.0
) -> list[SegmentSpan]:
    """Segments of a video of ``duration_s`` seconds with scene cuts at ``cuts_s`` (seconds)."""
    planner = SegmentPlanner(window_s, min_shot_s)
    out: list[SegmentSpan] = []
    for t in sorted(c for c in cuts_s if 0 < c < duration_s):
        out += planner.advance(t)
        out += planner.cut(t)
    return out + planner.finish(duration_s)
