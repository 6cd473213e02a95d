"""Refining an example with text (tempme/refine.py) against hand-computed cases and the
definitions written out as plain score sums."""

from __future__ import annotations

import numpy as np
import pytest

from tempme.refine import DEFAULT_TEXT_WEIGHT, refine_query


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_hand_computed_cases() -> None:
    e, t = np.array([2.0, 0.0]), np.array([0.0, 0.5])  # normalised inside
    np.testing.assert_allclose(refine_query(e, t, 0.0), [1, 0], atol=1e-7)
    np.testing.assert_allclose(refine_query(e, t, 1.0), [0, 1], atol=1e-7)
    np.testing.assert_allclose(refine_query(e, t, 0.5), [2**-0.5, 2**-0.5], atol=1e-7)
    np.testing.assert_allclose(refine_query(e, t, 0.25), [0.75 / 0.625**0.5, 0.25 / 0.625**0.5], atol=1e-7)
    assert refine_query(e, t).dtype == np.float32 and 0 < DEFAULT_TEXT_WEIGHT < 1


def test_ranking_is_the_weighted_sum_of_cosines() -> None:
    rng = np.random.default_rng(0)
    videos = _unit(rng.standard_normal((300, 16)))
    e, t = _unit(rng.standard_normal(16)), _unit(rng.standard_normal(16))
    for w in (0.1, 0.5, 0.65, 0.9):
        ref = (1 - w) * (videos @ e) + w * (videos @ t)  # the plain sum, score by score
        got = videos @ refine_query(e, t, w)
        assert np.array_equal(np.argsort(-got, kind="stable"), np.argsort(-ref, kind="stable"))
        np.testing.assert_allclose(got * np.linalg.norm((1 - w) * e + w * t), ref, atol=1e-5)


def test_library_scales_are_z_scores_of_each_side() -> None:
    rng = np.random.default_rng(1)
    videos = _unit(rng.standard_normal((400, 16)) + 3 * np.eye(16)[0])  # a shared cone, like CLIP's
    sample = videos[::3]
    e = _unit(rng.standard_normal(16) + 3 * np.eye(16)[0])
    t = _unit(rng.standard_normal(16) * 0.2 + np.eye(16)[1])
    se, st = np.std(sample @ e), np.std(sample @ t)
    for w in (0.3, 0.65):
        ref = (1 - w) * (videos @ e) / se + w * (videos @ t) / st  # z-scores up to a constant
        got = videos @ refine_query(e, t, w, reference=sample)
        assert np.array_equal(np.argsort(-got, kind="stable"), np.argsort(-ref, kind="stable"))
        assert np.corrcoef(got, ref)[0, 1] > 1 - 1e-6
    # a reference without spread (identical vectors) scales nothing
    flat = np.repeat(videos[:1], 5, axis=0)
    np.testing.assert_allclose(refine_query(e, t, 0.4, reference=flat), refine_query(e, t, 0.4), atol=1e-7)


def test_batches_equal_rows() -> None:
    rng = np.random.default_rng(2)
    E, T, ref = rng.standard_normal((4, 8)), rng.standard_normal((4, 8)), rng.standard_normal((50, 8))
    batch = refine_query(E, T, 0.3, reference=ref)
    for i in range(4):
        np.testing.assert_allclose(batch[i], refine_query(E[i], T[i], 0.3, reference=ref), atol=1e-6)


@pytest.mark.parametrize(
    "e,t,w,ref,says",
    [
        (np.ones(4), np.ones(5), 0.5, None, "must both be"),
        (np.ones(4), np.ones(4), 1.5, None, r"\[0, 1\]"),
        (np.ones(4), np.ones(4), -0.1, None, r"\[0, 1\]"),
        (np.zeros(4), np.ones(4), 0.5, None, "zero"),
        (np.array([1.0, 0]), np.array([-1.0, 0]), 0.5, None, "zero"),
        (np.ones(4), np.full(4, np.nan), 0.5, None, "non-finite"),
        (np.ones(4), np.ones(4), 0.5, np.ones((3, 5)), "reference"),
    ],
)
def test_bad_input_is_a_clear_error(e, t, w, ref, says) -> None:
    with pytest.raises(ValueError, match=says):
        refine_query(e, t, w, reference=ref)
