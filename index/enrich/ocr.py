"""What is written on screen: RapidOCR on a few of the frames sampled for each segment.

:class:`TextReader` runs RapidOCR (PP-OCR detection + recognition ONNX models shipped in the
``rapidocr`` wheel, through onnxruntime; nothing is downloaded) on ``frames_per_segment`` of a
segment's T frames, spread evenly (:func:`pick_frames`). A frame almost identical to the previous
one read (mean absolute difference under ``same_frame_mad`` grey levels on a 64-pixel-wide
thumbnail: a title card that stays up) is not read again. Lines read on neighbouring frames are
merged when their text is the same (after case and whitespace folding) or nearly the same at the
same place (similarity >= 0.8 and boxes overlapping), so a title held for five seconds is one
:class:`ScreenLine` with the first and last time it was read. Boxes are kept, as fractions of the
frame's width and height, for the page.

The frames are the encoder's (short side 224 by default): PP-OCR's detector is not given
upscaled frames (``limit_type: max``), which reads title cards and signs of a few percent of the
frame height and costs a fraction of reading full-resolution frames (see ``bench/enrich.py``).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass

import numpy as np

from tempme.config import JsonConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrConfig(JsonConfig):
    """How on-screen text is read.

    Attributes:
        frames_per_segment: frames read per segment, spread evenly over its T sampled frames.
        min_score: lines recognised with lower confidence (0..1) are dropped.
        det_max_side: the detector sees frames shrunk so that the longer side is at most this
            (never enlarged).
        same_frame_mad: a frame whose thumbnail differs from the previous read frame's by less
            than this mean absolute difference (grey levels, 0..255) reuses its lines.
        threads: onnxruntime intra-op threads (0 = onnxruntime's default: all cores).
    """

    frames_per_segment: int = 3
    min_score: float = 0.6
    det_max_side: int = 960
    same_frame_mad: float = 2.0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.frames_per_segment < 1:
            raise ValueError(f"frames_per_segment must be >= 1, got {self.frames_per_segment}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.det_max_side < 32 or self.threads < 0 or self.same_frame_mad < 0:
            raise ValueError(
                f"need det_max_side >= 32 ({self.det_max_side}), threads >= 0 ({self.threads}), "
                f"same_frame_mad >= 0 ({self.same_frame_mad})"
            )


@dataclass(frozen=True)
class ScreenLine:
    """One line of on-screen text, read on frames from ``start_s`` to ``end_s`` (video clock, s).

    ``box`` is ``(x0, y0, x1, y1)``, fractions of the frame's width and height, where it was
    read with the best ``score`` (0..1).
    """

    text: str
    start_s: float
    end_s: float
    score: float
    box: tuple[float, float, float, float]


def pick_frames(num_frames: int, k: int) -> np.ndarray:
    """Indices of ``k`` of ``num_frames`` frames, spread evenly (centres of k equal bins): (min(k, T),)."""
    k = min(k, num_frames)
    return np.floor((np.arange(k) + 0.5) * num_frames / k).astype(np.int64)


def normalise(text: str) -> str:
    """Case- and whitespace-folded text: what "the same line" compares."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def same_line(a: ScreenLine, b: ScreenLine) -> bool:
    """Whether two readings are one line of text (see the module docstring)."""
    na, nb = normalise(a.text), normalise(b.text)
    if na == nb:
        return True
    return _iou(a.box, b.box) > 0.3 and difflib.SequenceMatcher(None, na, nb).ratio() >= 0.8


def merge_readings(frames: list[list[ScreenLine]]) -> list[ScreenLine]:
    """Lines read on consecutive frames (time order) -> distinct lines; a line seen on the frame
    before extends its time span and keeps its best-scored text and box."""
    done: list[ScreenLine] = []
    open_: list[ScreenLine] = []  # lines seen on the previous frame
    for lines in frames:
        nxt: list[ScreenLine] = []
        for line in lines:
            match = next((o for o in open_ if same_line(o, line)), None)
            if match is None:
                nxt.append(line)
                continue
            open_.remove(match)
            best = line if line.score > match.score else match
            nxt.append(ScreenLine(best.text, match.start_s, max(match.end_s, line.end_s), best.score, best.box))
        done.extend(open_)
        open_ = nxt
    done.extend(open_)
    return sorted(done, key=lambda ln: (ln.start_s, ln.box[1], ln.box[0]))


class TextReader:
    """RapidOCR with the models in its wheel; one engine per reader (loaded on first use)."""

    def __init__(self, config: OcrConfig | None = None):
        self.config = config or OcrConfig()
        self._engine = None

    @property
    def model(self) -> str:
        from importlib.metadata import version

        return f"rapidocr {version('rapidocr')} PP-OCR (det max side {self.config.det_max_side})"

    def _load(self):
        if self._engine is None:
            from rapidocr import RapidOCR

            cfg = self.config
            self._engine = RapidOCR(
                params={
                    "Global.log_level": "error",
                    "Global.use_cls": False,  # text in videos is upright; the 180-degree classifier costs time
                    "Global.text_score": cfg.min_score,
                    "Det.limit_type": "max",
                    "Det.limit_side_len": cfg.det_max_side,
                    "EngineConfig.onnxruntime.intra_op_num_threads": cfg.threads or -1,
                }
            )
        return self._engine

    def read_frame(self, frame: np.ndarray, time_s: float) -> list[ScreenLine]:
        """Lines on one RGB frame ``(H, W, 3)`` uint8, in reading order."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        out = self._load()(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR, OpenCV's order
        if out.boxes is None or out.txts is None:
            return []
        lines = []
        for box, text, score in zip(out.boxes, out.txts, out.scores):
            text = text.strip()
            if not text or score < self.config.min_score:
                continue
            pts = np.asarray(box, dtype=np.float64)  # (4, 2) pixel corners
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0)
            frac = (max(float(x0) / w, 0.0), max(float(y0) / h, 0.0), min(float(x1) / w, 1.0), min(float(y1) / h, 1.0))
            lines.append(ScreenLine(text, time_s, time_s, float(score), tuple(round(v, 4) for v in frac)))
        return lines

    def read(self, frames: np.ndarray, times_s: np.ndarray) -> list[ScreenLine]:
        """Distinct lines on ``frames`` (F, H, W, 3) uint8 RGB shown at ``times_s`` (F,) seconds
        (every frame is read; pick them with :func:`pick_frames` first)."""
        if len(frames) != len(times_s):
            raise ValueError(f"{len(frames)} frames but {len(times_s)} times")
        order = np.argsort(np.asarray(times_s), kind="stable")
        readings: list[list[ScreenLine]] = []
        prev_thumb = None
        for i in order:
            t = float(times_s[i])
            thumb = _thumbnail(frames[i])
            if prev_thumb is not None and np.abs(thumb - prev_thumb).mean() < self.config.same_frame_mad:
                readings.append([ScreenLine(ln.text, t, t, ln.score, ln.box) for ln in readings[-1]])
                continue
            prev_thumb = thumb
            readings.append(self.read_frame(frames[i], t))
        return merge_readings(readings)

    def read_segment(self, frames: np.ndarray, times_s: np.ndarray) -> list[ScreenLine]:
        """Lines on ``frames_per_segment`` of a segment's T frames ``(T, H, W, 3)`` at ``times_s`` (T,)."""
        idx = pick_frames(len(frames), self.config.frames_per_segment)
        return self.read(frames[idx], np.asarray(times_s)[idx])


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """A grey thumbnail about 64 pixels wide, float32, for the same-frame test."""
    step = max(frame.shape[1] // 64, 1)
    return frame[::step, ::step].mean(axis=2, dtype=np.float32)  # (H, W, 3) -> (H/step, W/step)
