"""Scene cuts: PySceneDetect's ``ContentDetector`` score in fewer C calls, and how well two cut
lists agree (precision, recall, F1 within a tolerance; bench/ingest.py and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detector import FlashFilter


class ContentScorer:
    """PySceneDetect's ``ContentDetector`` with its default weights, in fewer C calls.

    The score of a frame is the mean over hue, saturation and value (OpenCV HSV of the BGR
    frame) of the mean absolute difference to the previous frame (0 for the first frame), as
    ``ContentDetector`` computes it with one NumPy pass per channel; here one ``cv2.absdiff``
    and one ``cv2.mean``. Cuts go through PySceneDetect's own ``FlashFilter`` (merge mode,
    ``min_scene_frames``) exactly as in ``ContentDetector.process_frame``, so the cut lists are
    the same (tests/test_cuts.py compares them).
    """

    def __init__(self, threshold: float = 27.0, min_scene_frames: int = 15):
        self.threshold = threshold
        self.flash = FlashFilter(mode=FlashFilter.Mode.MERGE, length=min_scene_frames)
        self.last: np.ndarray | None = None

    def process_frame(self, timecode: FrameTimecode, bgr: np.ndarray) -> list[FrameTimecode]:
        """``bgr``: (H, W, 3) uint8. Returns the cuts found so far (PySceneDetect's timecodes)."""
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        score = 0.0 if self.last is None else sum(cv2.mean(cv2.absdiff(hsv, self.last))[:3]) / 3.0
        self.last = hsv
        return self.flash.filter(timecode=timecode, above_threshold=score >= self.threshold)


def detection_size(width: int, height: int, detect_width: int) -> tuple[int, int]:
    """PySceneDetect's auto-downscale: factor ``width / detect_width`` (none below it), rounded."""
    if width < detect_width:
        return width, height
    factor = width / detect_width
    return max(1, round(width / factor)), max(1, round(height / factor))


@dataclass(frozen=True)
class CutAgreement:
    """Cuts matched one to one within a tolerance: ``matched`` pairs of ``found`` and ``reference``."""

    found: int
    reference: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def cut_agreement(found_s: list[float], reference_s: list[float], tolerance_s: float = 0.1) -> CutAgreement:
    """Match cut times (s) one to one, closest pairs first, within ``tolerance_s`` seconds."""
    pairs = sorted(
        (abs(a - b), i, j)
        for i, a in enumerate(found_s)
        for j, b in enumerate(reference_s)
        if abs(a - b) <= tolerance_s
    )
    used_i, used_j = set(), set()
    for _, i, j in pairs:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
    return CutAgreement(found=len(found_s), reference=len(reference_s), matched=len(used_i))
