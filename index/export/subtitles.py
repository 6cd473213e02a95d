"""Subtitles for an exported clip: the transcript words inside its span, as SubRip (``.srt``).

:func:`clip_subtitles` keeps the words that overlap the clip ``[start_s, end_s)`` (source
seconds), moves their times onto the clip's clock (``t - start_s``, clamped to the clip) and
groups them into cues: a new cue starts after a pause longer than :data:`CUE_GAP_S`, or when a
cue would hold more than :data:`CUE_WORDS` words or last longer than :data:`CUE_S` seconds (the
usual limits of subtitle style guides: about two short lines, a few seconds on screen). A cue
runs from its first word's start to its last word's end. The file is composed by the ``srt``
package (SubRip times are whole milliseconds, truncated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Sequence

import srt

CUE_GAP_S = 1.0  # a pause longer than this starts a new cue (s)
CUE_WORDS = 7
CUE_S = 4.0


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``[start_s, end_s)`` on the clip's clock (s) and its words."""

    start_s: float
    end_s: float
    text: str


def clip_cues(words: Sequence[tuple[str, float, float]], start_s: float, end_s: float) -> list[Cue]:
    """Cues of the ``(word, start_s, end_s)`` words (source seconds, any order) that overlap
    ``[start_s, end_s)``, on the clip's clock (see the module docstring).

    Raises:
        ValueError: ``end_s <= start_s``.
    """
    if not end_s > start_s:
        raise ValueError(f"clip {start_s:.3f}–{end_s:.3f} s: the end is not after the start")
    length = end_s - start_s
    inside = sorted(
        ((w, max(0.0, a - start_s), min(length, b - start_s)) for w, a, b in words if b > start_s and a < end_s),
        key=lambda x: x[1],
    )
    cues: list[Cue] = []
    group: list[tuple[str, float, float]] = []

    def close() -> None:
        cues.append(Cue(group[0][1], max(group[-1][2], group[0][1]), " ".join(w for w, _, _ in group)))

    for word in inside:
        if group and (word[1] - group[-1][2] > CUE_GAP_S or len(group) >= CUE_WORDS or word[2] - group[0][1] > CUE_S):
            close()
            group = []
        group.append(word)
    if group:
        close()
    return cues


def to_srt(cues: Sequence[Cue]) -> str:
    """The cues as SubRip text (numbered from 1)."""
    return srt.compose(
        [
            srt.Subtitle(i, timedelta(seconds=c.start_s), timedelta(seconds=c.end_s), c.text)
            for i, c in enumerate(cues, 1)
        ],
        reindex=False,
    )


def write_clip_srt(
    path: str | os.PathLike, words: Sequence[tuple[str, float, float]], start_s: float, end_s: float
) -> Path | None:
    """Write the ``.srt`` of the words inside the clip; None (nothing written) when no word is.

    Raises:
        OSError: the file cannot be written.
    """
    cues = clip_cues(words, start_s, end_s)
    if not cues:
        return None
    out = Path(path)
    out.write_text(to_srt(cues), encoding="utf-8")
    return out
