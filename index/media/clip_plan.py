"""Which span of a video a clip covers, what it is called, and what an export reports.

Pure (no decoding): :func:`plan_span` pads a moment, clamps it to the file and stops each padding
at a scene cut; :func:`choose_mode` resolves ``auto``; :func:`clip_name` and
:func:`reserve_path` name the file without ever overwriting one. The export itself is
:func:`tempme.index.media.clips.export_clip` (its docstring has the whole rule).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MODES = ("auto", "copy", "exact")
DEFAULT_PAD_S = 1.0
NEAR_KEYFRAME_S = 1.0  # auto mode copies when the keyframe is at most this far before the start (s)
EPS = 1e-6  # seconds: times this close are equal (timestamps are rationals)


class ClipExportError(ValueError):
    """A clip that cannot be exported as asked; the message is one line with the numbers."""


@dataclass(frozen=True)
class ClipSpan:
    """The window to export, in source seconds, and whether a scene cut stopped each padding."""

    start_s: float
    end_s: float
    snapped_start: bool = False
    snapped_end: bool = False


@dataclass(frozen=True)
class ClipExport:
    """What :func:`export_clip` did. Times are source seconds (the video stream's clock).

    ``start_s`` / ``end_s`` are where the written clip really starts and ends in the source
    (copy: ``start_s`` is the keyframe, ``end_s`` the end of the last kept frame; exact: the
    first and after the last written frame). ``audio`` is ``copied``, ``encoded`` or ``none``.
    """

    path: Path
    mode: str  # "copy" or "exact"
    start_s: float
    end_s: float
    span: ClipSpan  # the padded, snapped window that was asked for
    moment_start_s: float
    moment_end_s: float
    audio: str
    frames: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def describe(self) -> str:
        """One line: ``copy 83.000–90.250 s (asked 83.400–90.200) -> clip.mp4``."""
        return (
            f"{self.mode} {self.start_s:.3f}–{self.end_s:.3f} s "
            f"(asked {self.span.start_s:.3f}–{self.span.end_s:.3f}, audio {self.audio}) -> {self.path}"
        )

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "mode": self.mode,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "asked_start_s": self.span.start_s,
            "asked_end_s": self.span.end_s,
            "moment_start_s": self.moment_start_s,
            "moment_end_s": self.moment_end_s,
            "audio": self.audio,
            "frames": self.frames,
        }


def plan_span(
    start_s: float,
    end_s: float,
    duration_s: float,
    pad_before_s: float = DEFAULT_PAD_S,
    pad_after_s: float = DEFAULT_PAD_S,
    cuts_s: Sequence[float] = (),
) -> ClipSpan:
    """The moment ``[start_s, end_s)`` padded, clamped to ``[0, duration_s]``, snapped to cuts
    (see the module docstring).

    Raises:
        ClipExportError: a negative padding, ``end_s <= start_s``, or a moment outside the video.
    """
    if pad_before_s < 0 or pad_after_s < 0:
        raise ClipExportError(f"padding must be >= 0 s, got {pad_before_s} s before and {pad_after_s} s after")
    if not end_s > start_s:
        raise ClipExportError(f"moment {start_s:.3f}–{end_s:.3f} s: the end is not after the start")
    if start_s < -EPS or start_s >= duration_s:
        raise ClipExportError(f"moment {start_s:.3f}–{end_s:.3f} s starts outside the video (0–{duration_s:.3f} s)")
    start_s, end_s = max(start_s, 0.0), min(end_s, duration_s)
    lo, hi = max(0.0, start_s - pad_before_s), min(duration_s, end_s + pad_after_s)
    before = [c for c in cuts_s if lo - EPS <= c <= start_s + EPS]
    after = [c for c in cuts_s if end_s - EPS <= c <= hi + EPS]
    new_start = max(before) if before else lo
    new_end = min(after) if after else hi
    return ClipSpan(max(new_start, 0.0), min(new_end, duration_s), bool(before), bool(after))


def _clock(seconds: float, up: bool) -> str:
    total = math.ceil(seconds - 1e-3) if up else math.floor(seconds + 1e-3)
    hours, rest = divmod(max(0, total), 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}-{minutes:02d}-{sec:02d}" if hours else f"{minutes:02d}-{sec:02d}"


def clip_name(video: str | os.PathLike, start_s: float, end_s: float) -> str:
    """``bbb.mp4``, 83.4, 90.2 -> ``bbb_01-23-01-31.mp4`` (start floored, end rounded up)."""
    return f"{Path(video).stem}_{_clock(start_s, up=False)}-{_clock(end_s, up=True)}.mp4"


def reserve_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Create ``out_dir/name`` empty and exclusively (``name_2.mp4``, ``name_3.mp4``, ... when
    taken) and return it: an existing file is never overwritten, even by a concurrent export.

    Raises:
        ClipExportError: ``out_dir`` cannot be created or written.
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClipExportError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from exc
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        path = folder / (name if n == 1 else f"{stem}_{n}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise ClipExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    raise ClipExportError(f"{folder}: 9999 files named {stem}_N{suffix} exist already")


def choose_mode(mode: str, can_copy: bool, asked_start_s: float, keyframe_s: float | None, near_s: float) -> str:
    """``copy`` or ``exact`` for ``mode``: ``auto`` copies when the codec can be copied and the
    keyframe at or before the asked start is at most ``near_s`` seconds before it.

    Raises:
        ClipExportError: an unknown mode.
    """
    if mode not in MODES:
        raise ClipExportError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    near = can_copy and keyframe_s is not None and asked_start_s - keyframe_s <= near_s + EPS
    return "copy" if near else "exact"
