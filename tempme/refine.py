"""Refine an example query with text: "like this, but at night".

The example (an image, a clip or a span, :mod:`tempme.example_query`) and the text (the CLIP
text tower) are unit vectors in the library's space. The refined query is one vector, searched
like any other::

    q = normalise((1 - w) * e / s_e + w * t / s_t),   w = text_weight in [0, 1]

where ``s_e`` and ``s_t`` are the standard deviations of the example's and the text's cosines
over a sample of the library's vectors (``reference``; without one, ``s_e = s_t = 1``: the plain
sum of the normalised embeddings). ``w = 0`` is the example alone, ``w = 1`` the text alone.
Against a unit video vector v the score is ``(1 - w) <e, v> / s_e + w <t, v> / s_t`` over a
constant, so the ranking is that of a weighted sum of the two cosines, each measured in units
of its own spread over the library (z-scores: the means add the same to every video and do not
change the ranking). The plain sum is the "Image + Text" baseline of zero-shot composed image
retrieval (Saito et al., Pic2Word, CVPR 2023, Sec. 4.2).

Why the scales: CLIP's image and text embeddings lie in separate cones ("the modality gap",
Liang et al., NeurIPS 2022), and a picture's cosines with a library spread over a few tenths
while a caption's spread over a few hundredths, so in the plain sum the example decides the
ranking unless ``w`` is tuned to the library (and to the text). ``bench/refine.py`` plants
vectors with that geometry and varies how strongly content and attributes show in videos and
how much the text gains on a match: the plain sum's best ``w`` moves from 0.45 to 0.8 and no
single ``w`` stays near the best everywhere, while with the scales the best ``w`` stays within
0.45 .. 0.7 and :data:`DEFAULT_TEXT_WEIGHT` has the smallest worst-case loss of R@1
(docs/search-by-example.md has the tables).
"""

from __future__ import annotations

import numpy as np

DEFAULT_TEXT_WEIGHT = 0.65
"""Weight of the text in a refined query, with library scales (bench/refine.py)."""
MIN_SPREAD = 1e-6  # below this a cosine spread is no scale (a reference of identical vectors)


def score_spread(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(Q, D) unit queries, (N, D) library vectors -> (Q,) standard deviation of their cosines."""
    return (np.asarray(queries, np.float32) @ np.asarray(reference, np.float32).T).std(axis=1)


def refine_query(
    example: np.ndarray,
    text: np.ndarray,
    text_weight: float = DEFAULT_TEXT_WEIGHT,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Combine an example embedding with a text embedding (see the module docstring).

    Args:
        example: (D,) or (Q, D) example embeddings (normalised here again).
        text: the same shape, text embeddings.
        text_weight: w in [0, 1], the text's share (0: example only, 1: text only).
        reference: (N, D) vectors of the library (a sample; N >= 2) whose cosine spreads scale
            the two sides; None (or a spread below :data:`MIN_SPREAD`): no scaling.

    Returns:
        float32 unit vectors of the input's shape.

    Raises:
        ValueError: shapes differ, ``text_weight`` outside [0, 1], ``reference`` not (N, D),
            or a zero / non-finite vector (opposite example and text at equal weights).
    """
    e = np.asarray(example, dtype=np.float32)
    t = np.asarray(text, dtype=np.float32)
    if e.shape != t.shape or e.ndim not in (1, 2):
        raise ValueError(f"example {e.shape} and text {t.shape} must both be (D,) or (Q, D)")
    if not 0.0 <= float(text_weight) <= 1.0:
        raise ValueError(f"text_weight must be in [0, 1], got {text_weight}")
    single = e.ndim == 1
    e, t = _unit(e.reshape(-1, e.shape[-1])), _unit(t.reshape(-1, t.shape[-1]))  # (Q, D)
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float32)
        if ref.ndim != 2 or ref.shape[1] != e.shape[1]:
            raise ValueError(f"reference must be (N, {e.shape[1]}), got {ref.shape}")
        if len(ref) >= 2:
            s_e, s_t = score_spread(e, ref)[:, None], score_spread(t, ref)[:, None]  # (Q, 1)
            ok = (s_e > MIN_SPREAD) & (s_t > MIN_SPREAD)
            e = np.where(ok, e / np.maximum(s_e, MIN_SPREAD), e)
            t = np.where(ok, t / np.maximum(s_t, MIN_SPREAD), t)
    w = np.float32(text_weight)
    q = _unit((1 - w) * e + w * t)
    return q[0] if single else q


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if not np.all(np.isfinite(x)) or np.any(n < 1e-12):
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return (x / n).astype(np.float32)
