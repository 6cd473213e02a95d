"""HoliTom's outer stage on crafted inputs whose reference answer is computed by hand
(the reference being the behaviour of the authors' ``holitom/llava_arch.py``)."""

from __future__ import annotations

import math

import pytest
import torch

from tempme.llm.holitom import HoliTom, beta_merge, default_tau, dpc_knn, segment_frames
from tempme.llm.outer import Budget, SideInputs


def test_every_frame_keeps_its_own_dynamic_budget():
    """8 frames without static positions, two of them far more salient: every frame still keeps
    ceil(16 * 0.25) = 4 tokens, its own 4 most salient, in raster order; the rest are dropped (D = 0)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 32, generator=g)  # independent frames: no position is static
    sal = 0.1 * torch.rand(8, 16, generator=g)
    sal[2] += 5.0
    sal[5] += 5.0
    red = HoliTom()(x, (4, 4), Budget(retain=0.25), SideInputs(saliency=sal))
    assert red.extra["segments"] == [(f, f) for f in range(8)]
    slots = red.slot.view(8, 16)
    assert [int((slots[f] >= 0).sum()) for f in range(8)] == [4] * 8
    expected = []
    for f in range(8):
        top = torch.topk(sal[f], 4).indices.sort().values
        assert (slots[f] >= 0).nonzero().squeeze(1).tolist() == top.tolist()
        expected.append(x[f, top])
    torch.testing.assert_close(red.tokens, torch.cat(expected))
    assert red.sizes.tolist() == [1.0] * 32


def test_segmentation_ties_keep_singletons():
    # no static position anywhere: every partition has redundancy 0, the reference keeps singletons
    low = torch.full((2, 4), 0.1)  # 3 frames
    assert segment_frames(low, 0.5) == ([(0, 0), (1, 1), (2, 2)], 0.0)
    # p0 static over frames 0-1, p1 over 1-2: [0,1]+[2] and [0]+[1,2] both remove one token;
    # the window ending at frame 2 replaces the singleton only when strictly better
    sim = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    assert segment_frames(sim, 0.5) == ([(0, 1), (2, 2)], 1.0)


def test_dpc_knn_by_hand():
    """Points 0, 1, 3, 10, 10.5 on the first axis of R^4 (distances scaled by 1/sqrt(4) = 1/2), k = 2.

    rho = exp(-(0 + d_nn^2) / 2): p0, p1: e^-0.125; p2: e^-0.5; p3, p4: e^-0.03125 (ties: lower index denser).
    delta: p3 (densest) = max distance 5.25; p4 = 0.25; p0 = 5.0 (to p3); p1 = 0.5 (to p0); p2 = 1.0.
    rho * delta: p3 5.09 > p0 4.41 > p2 0.61 > p1 0.44 > p4 0.24.
    """
    x = torch.zeros(5, 4)
    x[:, 0] = torch.tensor([0.0, 1.0, 3.0, 10.0, 10.5])
    centres, labels = dpc_knn(x, 2, k=2)
    assert centres.tolist() == [0, 3] and labels.tolist() == [0, 0, 0, 1, 1]
    centres, labels = dpc_knn(x, 3, k=2)
    assert centres.tolist() == [0, 2, 3] and labels.tolist() == [0, 0, 1, 2, 2]
    # beta merge: 0.6 * centre + 0.4 * mean(other members)
    merged = beta_merge(x, torch.tensor([0, 3]), torch.tensor([0, 0, 0, 1, 1]), 0.6)
    torch.testing.assert_close(merged[:, 0], torch.tensor([0.6 * 0 + 0.4 * 2.0, 0.6 * 10 + 0.4 * 10.5]))
    # a centre without other members stays itself
    merged = beta_merge(x, torch.tensor([0, 2, 3]), torch.tensor([0, 0, 1, 2, 2]), 0.6)
    assert float(merged[1, 0]) == 3.0


def test_dpc_knn_in_llm_width_finds_one_centre_per_blob():
    """In 3584 dimensions unscaled distances make every density exp(-600) = 0 (centres by index);
    scaled by 1/sqrt(C) the densities separate the blobs."""
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(3, 3584, generator=g)
    sizes = [10, 8, 6]
    x = torch.cat([c + 0.3 * torch.randn(s, 3584, generator=g) for c, s in zip(centres, sizes)])
    blob = torch.arange(3).repeat_interleave(torch.tensor(sizes))
    found, labels = dpc_knn(x, 3, k=3)
    assert sorted(blob[found].tolist()) == [0, 1, 2]
    assert torch.equal(blob[found][labels], blob)


def test_static_clusters_dynamic_budgets_and_token_order():
    """2 frames, 2x3 grid: positions 0, 1 identical in both frames (static), 2..5 orthogonal (dynamic).

    R(0, 1) = 2 static positions x 1 = 2, so r' = 0.5 / (10 / 12) = 0.6: round(2 * 0.6) = 1 static
    cluster (centre p0, density tie broken by index) -> 0.6 * s0 + 0.4 * s1; ceil(4 * 0.6) = 3
    dynamic tokens per frame by saliency. Order: the static token, then frame 0's, then frame 1's.
    """
    e = torch.eye(16)
    x = torch.zeros(2, 6, 16)
    x[:, 0], x[:, 1] = e[0], 2 * e[1]
    x[0, 2:] = e[2:6]
    x[1, 2:] = e[6:10]
    sal = torch.tensor([[0.0, 0.0, 5.0, 1.0, 4.0, 3.0], [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]])
    red = HoliTom()(x, (2, 3), Budget(retain=0.5), SideInputs(saliency=sal))
    assert red.extra["segments"] == [(0, 1)] and red.extra["ratio"] == pytest.approx(0.6)
    assert red.slot.view(2, 6).tolist() == [[0, 0, 1, -1, 2, 3], [0, 0, -1, 4, 5, 6]]
    expected = torch.stack([0.6 * e[0] + 0.4 * 2 * e[1], e[2], e[4], e[5], e[7], e[8], e[9]])
    torch.testing.assert_close(red.tokens, expected)
    assert red.sizes.tolist() == [4.0, 1, 1, 1, 1, 1, 1]


def test_contextual_tokens_with_d():
    """D = 1: a frame's whole dynamic budget is DPC-kNN clusters of its dynamic tokens (beta-merged)."""
    x = torch.zeros(1, 5, 4)
    x[0, :, 0] = torch.tensor([0.0, 1.0, 3.0, 10.0, 10.5])
    red = HoliTom(d=1.0)(x, (1, 5), Budget(max_tokens=2))
    # ceil(5 * 0.4) = 2 clusters, k = min(7, 2): as in test_dpc_knn_by_hand the centres are p0 and p3
    assert red.slot.tolist() == [0, 0, 0, 1, 1]
    torch.testing.assert_close(red.tokens[:, 0], torch.tensor([0.4 * 2.0, 0.6 * 10 + 0.4 * 10.5]))


def test_tau_per_budget_and_knobs():
    assert (default_tau(0.10), default_tau(0.15), default_tau(0.25)) == (0.65, 0.80, 0.80)
    x = torch.randn(4, 16, 8)
    for retain, tau in [(0.1, 0.65), (0.2, 0.8)]:
        assert HoliTom()(x, (4, 4), Budget(retain=retain)).extra["tau"] == tau
    assert HoliTom(tau=0.5)(x, (4, 4), Budget(retain=0.1)).extra["tau"] == 0.5
    with pytest.raises(ValueError, match="beta"):
        HoliTom(beta=1.5)
    with pytest.raises(ValueError, match="D is a fraction"):
        HoliTom(d=-0.1)


def test_token_count_is_the_references_rounding():
    """Without static positions: T * ceil(N * r); LLaVA-OV-7B's 32 x 196 at 10 % gives 32 x 20 = 640 (not 627)."""
    x = torch.randn(32, 196, 256, generator=torch.Generator().manual_seed(2))  # no cosine near tau
    red = HoliTom()(x, (14, 14), Budget(retain=0.1))
    assert red.num_tokens == 32 * math.ceil(196 * 0.1) == 640


def test_static_tokens_are_segment_means_clustered_with_k_at_most_the_clusters():
    """3 frames on a 1x6 grid. Positions 0-4 are static (cosine > 0.8 between frames) but move along
    e2 by 0.2 per frame, so their segment means sit at z = 0.2 (frame 0 alone: z = 0); along e0 the
    means are 0, 1, 3, 10, 10.5 (+10 e1): test_dpc_knn_by_hand's points. Position 5 flips sign:
    dynamic. One segment, R = 5 x 2 = 10 of S = 18; at 3 tokens (retain 1/6) r' = (1/6) / (8/18) =
    0.375, so round(5 x 0.375) = 2 static clusters with DPC-kNN's k = min(7, 2) = 2: centres p0 and p3
    (with k = 5 they would be p1 and p2), then ceil(1 x 0.375) = 1 dynamic token per frame."""
    x = torch.zeros(3, 6, 4)
    for t in range(3):
        x[t, :5, 0] = torch.tensor([0.0, 1.0, 3.0, 10.0, 10.5])
        x[t, :5, 1] = 10.0
        x[t, :5, 2] = 0.2 * t
        x[t, 5, 3] = 10.0 if t % 2 == 0 else -10.0
    red = HoliTom()(x, (1, 6), Budget(max_tokens=3))
    assert red.extra["segments"] == [(0, 2)] and red.extra["tau"] == 0.8
    assert red.extra["ratio"] == pytest.approx(0.375)
    assert red.slot.view(3, 6).tolist() == [[0, 0, 0, 1, 1, 2], [0, 0, 0, 1, 1, 3], [0, 0, 0, 1, 1, 4]]
    expected = torch.tensor(
        [
            [0.6 * 0 + 0.4 * (1 + 3) / 2, 10, 0.2, 0],  # beta * centre + (1 - beta) * mean(members)
            [0.6 * 10 + 0.4 * 10.5, 10, 0.2, 0],
            [0, 0, 0, 10.0],
            [0, 0, 0, -10.0],
            [0, 0, 0, 10.0],
        ]
    )
    torch.testing.assert_close(red.tokens, expected)
    assert red.sizes.tolist() == [9.0, 6.0, 1.0, 1.0, 1.0]


def test_defaults_are_the_references():
    """beta 0.6, D = 0, K = 7, windows up to 1024 frames (cokeshao/HoliTom's LLaVA-OV scripts)."""
    h = HoliTom()
    assert (h.tau, h.beta, h.d, h.k, h.max_window) == (None, 0.6, 0.0, 7, 1024)


def test_consecutive_similarity_and_knob_limits():
    """Cosines between frames t and t + 1 (not frame 0): (1, 0) -> (0, 1) -> (0, 2) gives 0 then 1."""
    from tempme.llm.holitom import consecutive_similarity

    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 2.0]]])
    torch.testing.assert_close(consecutive_similarity(x), torch.tensor([[0.0], [1.0]]))
    # max_window = 1: no temporal merge (every frame its own segment); k and windows below 1 are refused
    x = torch.randn(3, 4, 8).expand(3, 4, 8).clone()
    x[1:] = x[0]
    assert HoliTom(max_window=1)(x, (2, 2), Budget(retain=0.5)).extra["segments"] == [(0, 0), (1, 1), (2, 2)]
    assert HoliTom()(x, (2, 2), Budget(retain=0.5)).extra["segments"] == [(0, 2)]
    for bad in (dict(k=0), dict(max_window=0)):
        with pytest.raises(ValueError, match="k and max_window must be >= 1"):
            HoliTom(**bad)
    with pytest.raises(ValueError, match="tau is a cosine threshold"):
        HoliTom(tau=1.5)


def test_a_static_token_averages_its_own_segment_only():
    """Frames 0-1 share a static position 0 ((10, 0, 0, 0) then (10, 0, 1, 0)); frame 2 is a cut.
    Segments [0, 1] and [2]; R = 1 of S = 6, r' = 0.5 / (5 / 6) = 0.6: one static token, the mean
    of frames 0 and 1 only (10, 0, 0.5, 0); ceil(0.6) = 1 dynamic token per frame in [0, 1], and
    ceil(2 x 0.6) = 2 in frame 2."""
    x = torch.zeros(3, 2, 4)
    x[0, 0, 0], x[1, 0, 0], x[1, 0, 2], x[2, 0, 1] = 10.0, 10.0, 1.0, 10.0
    x[:, 1, 3] = torch.tensor([10.0, -10.0, 10.0])
    red = HoliTom()(x, (1, 2), Budget(max_tokens=3))
    assert red.extra["segments"] == [(0, 1), (2, 2)] and red.extra["ratio"] == pytest.approx(0.6)
    assert red.slot.view(3, 2).tolist() == [[0, 1], [0, 2], [3, 4]]
    expected = torch.tensor([[10, 0, 0.5, 0], [0, 0, 0, 10], [0, 0, 0, -10], [0, 10, 0, 0], [0, 0, 0, 10]])
    torch.testing.assert_close(red.tokens, expected.float())


def test_density_is_the_mean_squared_distance_to_the_k_nearest():
    """1-d points -1, 0, 1, 8.7, 10, 10.2 with k = 3 (the point itself and two neighbours):
    mean squared distances 0 -> (0 + 1 + 1) / 3 = 0.667 and 10 -> (0 + 0.04 + 1.69) / 3 = 0.577,
    so 10 is the densest point and the single centre (with cubes, 0.667 < 0.735, it would be 0)."""
    x = torch.tensor([-1.0, 0.0, 1.0, 8.7, 10.0, 10.2]).view(6, 1)
    assert dpc_knn(x, 1, k=3)[0].tolist() == [4]
    # HoliTom keeps the tokens' dtype
    video = torch.randn(4, 6, 8, generator=torch.Generator().manual_seed(3)).bfloat16()
    assert HoliTom()(video, (2, 3), Budget(retain=0.5)).tokens.dtype == torch.bfloat16
