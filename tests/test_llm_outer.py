"""Outer reducers: exact budgets, provenance covering every source token once, reference behaviour."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tempme.llm.bvllm import BVLLMAdapted
from tempme.llm.holitom import HoliTom, redundancy_table, segment_frames
from tempme.llm.outer import Budget, Identity, Reduction, SideInputs, group_mean, reduction_from_slots, source_coords
from tempme.llm.pooling import ToMeMerge, UniformPooling, cell_labels
from tempme.llm.vqtoken import VQToken

T, H, W, C = 6, 4, 5, 16


def _video(seed: int = 0, t: int = T) -> torch.Tensor:
    """(T, N, C) with a static background half, a moving half and noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, H * W, C, generator=g)
    x = base + 0.05 * torch.randn(t, H * W, C, generator=g)
    x[:, : H * W // 2] += torch.randn(t, H * W // 2, C, generator=g)  # dynamic positions
    return x


ALL = [UniformPooling(), ToMeMerge(), HoliTom(), VQToken(max_iter=5, fixed_k=True), BVLLMAdapted()]


def _side(t: int = T) -> SideInputs:
    return SideInputs(frame_scores=torch.linspace(0, 1, t))


def _holitom_reference_count(x: torch.Tensor, retain: float) -> int:
    """HoliTom's token count from the reference's rules, by loops over an exhaustive partition search:
    tau 0.65 at <= 10 % else 0.80; static = cosine > tau between every consecutive pair of the
    segment; the partition with the largest redundancy sum |static| * (frames - 1); r' = retain /
    ((S - R) / S); per segment round(n_static * r') clusters + every frame ceil(n_dynamic * r')."""
    t, n, _ = x.shape
    tau = 0.65 if retain <= 0.10 else 0.80
    cos = [[float(torch.cosine_similarity(x[i, p], x[i + 1, p], dim=0)) for p in range(n)] for i in range(t - 1)]

    def static(a: int, b: int) -> int:
        return sum(all(cos[i][p] > tau for i in range(a, b)) for p in range(n)) if b > a else 0

    scored = []
    for cuts in itertools.product([0, 1], repeat=t - 1):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [t]
        segments = [(a, b - 1) for a, b in zip(bounds[:-1], bounds[1:])]
        scored.append((sum(static(a, b) * (b - a) for a, b in segments), segments))
    best = max(v for v, _ in scored)
    winners = [segs for v, segs in scored if v == best]
    assert len(winners) == 1, "the test video must have one best partition"
    ratio = min(1.0, retain / ((t * n - best) / (t * n)))
    return sum(round(static(a, b) * ratio) + (b - a + 1) * math.ceil((n - static(a, b)) * ratio) for a, b in winners[0])


@pytest.mark.parametrize("reducer", ALL, ids=lambda r: r.name)
@pytest.mark.parametrize("retain", [0.25, 0.15, 0.1, 0.5])
def test_budget_met_exactly_and_provenance_complete(reducer, retain):
    x = _video()
    red = reducer(x, (H, W), Budget(retain=retain), _side())
    if reducer.name == "holitom":
        expected = _holitom_reference_count(x, retain)
    else:  # VQToken with a fixed K too: this video leaves no k-means cluster empty
        expected = Budget(retain=retain).resolve(T * H * W)
    assert red.num_tokens == expected
    assert red.tokens.shape == (expected, C)
    # every source token appears exactly once: in one slot or dropped
    assert red.slot.shape == (T * H * W,)
    counts = torch.bincount(red.slot[red.slot >= 0], minlength=expected)
    assert torch.equal(counts.float(), red.sizes)
    assert int(red.sizes.sum()) + int((red.slot < 0).sum()) == T * H * W
    # coordinates are the mean (t, y, x) of the sources, and slots are in temporal order
    coords, _ = group_mean(source_coords((T, H, W)), red.slot, expected)
    assert torch.allclose(coords, red.coords)
    if reducer.name not in ("holitom", "vqtoken"):  # their own orders (test_llm_holitom, test_llm_vqtoken)
        key = red.coords[:, 0] * H * W + red.coords[:, 1] * W + red.coords[:, 2]
        assert bool((key[1:] >= key[:-1]).all())


@pytest.mark.parametrize("reducer", [UniformPooling(), ToMeMerge()], ids=lambda r: r.name)
def test_merging_reducers_average_their_sources(reducer):
    x = _video(1)
    red = reducer(x, (H, W), Budget(max_tokens=17))
    means, _ = group_mean(x.reshape(-1, C), red.slot, red.num_tokens)
    assert torch.allclose(red.tokens, means, atol=1e-5)
    assert bool((red.slot >= 0).all())


def test_identity_and_full_budget_keep_everything():
    x = _video()
    red = Identity()(x, (H, W))
    assert torch.equal(red.tokens, x.reshape(-1, C))
    for reducer in (UniformPooling(), ToMeMerge()):
        full = reducer(x, (H, W), Budget(retain=1.0))
        # one token per source, in raster order: the reduction is the identity
        assert torch.equal(full.slot, torch.arange(T * H * W))
        assert torch.allclose(full.tokens, x.reshape(-1, C))


def test_budget_validation_and_bad_inputs():
    with pytest.raises(ValueError, match="exactly one"):
        Budget()
    with pytest.raises(ValueError, match="retain"):
        Budget(retain=1.5)
    with pytest.raises(ValueError, match="N=20 tokens per frame but grid 3x3"):
        UniformPooling()(_video(), (3, 3), Budget(retain=0.5))
    with pytest.raises(ValueError, match="saliency shape"):
        HoliTom()(_video(), (H, W), Budget(retain=0.5), SideInputs(saliency=torch.zeros(2, 2)))
    with pytest.raises(ValueError, match="frame_scores"):
        BVLLMAdapted()(_video(), (H, W), Budget(retain=0.5))
    assert Budget(retain=0.1).resolve(6272) == 627 and Budget(retain=0.25).resolve(6272) == 1568


def test_uniform_pooling_matches_average_pool_when_the_grid_divides():
    x = torch.randn(2, 16, C)  # 4x4 grid, 4 cells per frame = 2x2 average pooling
    red = UniformPooling()(x, (4, 4), Budget(max_tokens=8))
    ref = torch.nn.functional.avg_pool2d(x.view(2, 4, 4, C).permute(0, 3, 1, 2), 2)  # (2, C, 2, 2)
    assert torch.allclose(red.tokens, ref.permute(0, 2, 3, 1).reshape(8, C), atol=1e-6)
    for h, w in [(14, 14), (3, 5)]:
        for m in range(1, h * w + 1):
            assert sorted(set(cell_labels(h, w, m))) == list(range(m))


def test_tome_merges_duplicates_first():
    x = torch.randn(1, 20, C)
    x[0, 1] = x[0, 0]  # exact duplicates: A token 0 matches B token 1 with similarity 1
    x[0, 5] = x[0, 4]
    red = ToMeMerge()(x, (4, 5), Budget(max_tokens=18))
    assert red.slot[0] == red.slot[1] and red.slot[4] == red.slot[5]


def _brute_force(sim: torch.Tensor, tau: float) -> float:
    t = sim.shape[0] + 1
    table = redundancy_table(sim, tau)
    best = 0.0
    for cuts in itertools.product([0, 1], repeat=t - 1):  # 1 = a boundary after frame i
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [t]
        best = max(best, sum(float(table[a, b - 1]) for a, b in zip(bounds[:-1], bounds[1:])))
    return best


def test_redundancy_table_matches_definition():
    g = torch.Generator().manual_seed(3)
    sim = torch.rand(5, 7, generator=g)
    table = redundancy_table(sim, 0.4)
    for i in range(6):
        for j in range(i, 6):
            static = (sim[i:j].min(0).values > 0.4).sum() if j > i else 0
            assert table[i, j] == float(static) * (j - i)


@pytest.mark.parametrize("seed", range(12))
def test_holitom_segmentation_dp_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    t = 3 + seed % 6  # 3..8 frames
    sim = torch.rand(t - 1, 6, generator=g) * 0.6 + 0.4
    tau = 0.55 + 0.1 * (seed % 3)
    segments, value = segment_frames(sim, tau)
    assert value == pytest.approx(_brute_force(sim, tau))
    # the returned partition is contiguous, covers every frame and attains the value
    assert segments[0][0] == 0 and segments[-1][1] == t - 1
    assert all(b + 1 == c for (_, b), (c, _) in zip(segments[:-1], segments[1:]))
    table = redundancy_table(sim, tau)
    assert sum(float(table[a, b]) for a, b in segments) == pytest.approx(value)


def test_bvllm_selects_the_best_scored_frames_and_deduplicates():
    x = torch.randn(8, H * W, C)
    x[3] = x[2]  # frames 2 and 3 identical
    scores = torch.tensor([0.0, 0.1, 0.9, 0.8, 0.7, 0.2, 0.3, 0.0])
    red = BVLLMAdapted()(x, (H, W), Budget(max_tokens=40), SideInputs(frame_scores=scores))
    per_frame = red.slot.view(8, -1)
    used = [f for f in range(8) if bool((per_frame[f] >= 0).any())]
    assert set(used) <= {2, 3, 4, 6, 5}
    assert {2, 3, 4} <= set(used)
    assert [2, 3] in red.extra["frame_groups"]
    assert torch.equal(per_frame[2], per_frame[3])  # the duplicate frame is averaged into the same slots


def test_tome_matches_on_keys_when_given():
    x = torch.randn(1, 20, C)
    keys = torch.randn(1, 20, 4)
    keys[0, 3] = keys[0, 2]  # identical keys, different tokens
    red = ToMeMerge()(x, (4, 5), Budget(max_tokens=19), SideInputs(keys=keys))
    assert red.slot[2] == red.slot[3]
    with pytest.raises(ValueError, match="keys shape"):
        ToMeMerge()(x, (4, 5), Budget(max_tokens=19), SideInputs(keys=torch.randn(2, 20, 4)))


def test_budget_boundaries_and_ratio():
    """retain in (0, 1], max_tokens >= 1; ratio = max_tokens / S capped at 1; resolve rounds half up."""
    assert Budget(retain=1.0).resolve(7) == 7 and Budget(max_tokens=1).resolve(7) == 1
    for bad in (dict(retain=0.0), dict(retain=-0.1), dict(max_tokens=0), dict(retain=0.5, max_tokens=3)):
        with pytest.raises(ValueError):
            Budget(**bad)
    with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
        Budget(max_tokens=0)
    with pytest.raises(ValueError, match="retain must be in \\(0, 1\\], got 1.5"):
        Budget(retain=1.5)
    assert Budget(max_tokens=30).ratio(120) == 0.25 and Budget(max_tokens=300).ratio(120) == 1.0
    assert Budget(retain=0.3).ratio(120) == 0.3
    # 0.25 * 10 = 2.5 -> 3 (half up), 0.25 * 6 = 1.5 -> 2; clamped to [1, S]; a count above S gives S
    assert [Budget(retain=0.25).resolve(s) for s in (10, 6, 1)] == [3, 2, 1]
    assert Budget(max_tokens=50).resolve(20) == 20 and Budget(retain=0.01).resolve(20) == 1


def test_feature_saliency_by_hand():
    """1 - cosine to the normalised mean of the normalised tokens: tokens (2, 0), (1, 0), (0, 3) are
    the directions e0, e0, e1; their mean (2/3, 1/3) has direction (2, 1) / sqrt(5)."""
    from tempme.llm.outer import feature_saliency

    x = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]]])
    c = 2 / 5**0.5
    torch.testing.assert_close(feature_saliency(x), torch.tensor([[1 - c, 1 - c, 1 - 1 / 5**0.5]]))


def test_reduction_properties_and_invariants():
    """Hand-made provenance: 2 frames of 1x3, slots [0, 0, -1 | 1, 2, 2] -> 3 tokens of sizes 2, 1, 2."""
    x = torch.arange(12.0).view(6, 2)
    slot = torch.tensor([0, 0, -1, 1, 2, 2])
    red = reduction_from_slots(x, slot, (2, 1, 3))
    assert (red.num_tokens, red.num_source, red.retained) == (3, 6, 0.5)
    assert red.sizes.tolist() == [2.0, 1.0, 2.0]
    assert red.coords.tolist() == [[0.0, 0.0, 0.5], [1.0, 0.0, 0.0], [1.0, 0.0, 1.5]]
    torch.testing.assert_close(red.tokens, torch.tensor([[1.0, 2.0], [6.0, 7.0], [9.0, 10.0]]))
    assert red.token_hash().tolist() == [[[0, 0, -1]], [[1, 2, 2]]]
    # labels out of temporal order are renumbered by mean (t, y, x); unused labels disappear
    red2 = reduction_from_slots(x, torch.tensor([5, 5, -1, 0, 3, 3]), (2, 1, 3))
    assert red2.slot.tolist() == slot.tolist() and torch.equal(red2.tokens, red.tokens)
    # on a 2x3 grid the raster key is t * 6 + y * 3 + x: (y=1, x=0) comes after (y=0, x=2)
    red3 = reduction_from_slots(torch.randn(6, 2), torch.tensor([1, 1, 0, 2, 2, 2]), (1, 2, 3))
    assert red3.slot.tolist() == [0, 0, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="slot has 5 entries and x 6 rows for a 2x1x3 grid"):
        reduction_from_slots(x, slot[:5], (2, 1, 3))
    with pytest.raises(ValueError, match="at least one token"):
        reduction_from_slots(x, torch.full((6,), -1), (2, 1, 3))
    bad = [
        Reduction(red.tokens, torch.tensor([0, 0, -1, 1, 2]), red.sizes, red.coords, (2, 1, 3)),  # slot size
        Reduction(red.tokens, torch.tensor([0, 0, -2, 1, 2, 2]), red.sizes, red.coords, (2, 1, 3)),  # below -1
        Reduction(red.tokens, torch.tensor([0, 0, -1, 1, 3, 3]), red.sizes, red.coords, (2, 1, 3)),  # slot >= M
        Reduction(red.tokens, torch.tensor([0, 0, -1, 0, 2, 2]), red.sizes, red.coords, (2, 1, 3)),  # empty slot 1
        Reduction(red.tokens, slot, torch.tensor([2.0, 2.0, 1.0]), red.coords, (2, 1, 3)),  # wrong sizes
    ]
    for r in bad:
        with pytest.raises(AssertionError):
            r.validate()
    red.validate()


def test_reducers_reject_bad_shapes():
    with pytest.raises(ValueError, match="uniform: expected \\(T, N, C\\) tokens, got shape \\(20, 16\\)"):
        UniformPooling()(torch.randn(20, 16), (H, W), Budget(retain=0.5))
    with pytest.raises(ValueError, match=r"frame_scores shape \(3,\) != \(T,\) = \(6,\)"):
        BVLLMAdapted()(_video(), (H, W), Budget(retain=0.5), SideInputs(frame_scores=torch.zeros(3)))
    with pytest.raises(ValueError, match=r"saliency shape \(2, 2\) != \(T, N\) = \(6, 20\)"):
        HoliTom()(_video(), (H, W), Budget(retain=0.5), SideInputs(saliency=torch.zeros(2, 2)))
    ident = Identity()(_video(), (H, W), Budget(retain=0.1))  # the budget is ignored
    assert ident.num_tokens == T * H * W and ident.sizes.tolist() == [1.0] * (T * H * W)
    assert torch.equal(ident.coords, source_coords((T, H, W)))


def test_uniform_pooling_cells_and_frame_shares_by_hand():
    from tempme.llm.pooling import frame_budgets

    # 6 tokens over 4 frames: 1 each, the 2 extra ones at frames 0 and 4 * 1 // 2 = 2
    assert frame_budgets(4, 6) == [2, 1, 2, 1] and frame_budgets(5, 3) == [1, 1, 0, 1, 0]
    assert frame_budgets(3, 9) == [3, 3, 3]
    # 3x5 grid, 4 cells: round(sqrt(4 * 3 / 5)) = 2 bands of heights 2 and 1; the 2 cells beyond one
    # per band go by largest remainder of 2 * (2, 1) / 3 = (1.33, 0.67): one each; columns 3 + 2
    assert cell_labels(3, 5, 4) == (0, 0, 0, 1, 1) * 2 + (2, 2, 2, 3, 3)
    assert cell_labels(1, 5, 3) == (0, 0, 1, 1, 2)
    assert cell_labels(2, 2, 4) == (0, 1, 2, 3) and cell_labels(4, 4, 1) == (0,) * 16
    # 6x2 grid, 5 cells: round(sqrt(5 * 6 / 2)) = 4 bands of heights 2, 2, 1, 1; the one cell beyond
    # one per band goes to the largest remainder of (2, 2, 1, 1) / 6, the first band on the tie
    assert cell_labels(6, 2, 5) == (0, 1, 0, 1, 2, 2, 2, 2, 3, 3, 4, 4)
    for bad in (0, 16):
        with pytest.raises(ValueError, match=f"cannot split a 3x5 grid into {bad} cells"):
            cell_labels(3, 5, bad)
    # budget below T: frames without a share are dropped
    x = torch.randn(4, 6, 3)
    red = UniformPooling()(x, (2, 3), Budget(max_tokens=2))
    assert red.slot.view(4, 6).tolist() == [[0] * 6, [-1] * 6, [1] * 6, [-1] * 6]
    torch.testing.assert_close(red.tokens, torch.stack([x[0].mean(0), x[2].mean(0)]))


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_merge_destinations_sum_each_token_into_its_output(chunk):
    """Wherever merge_destinations says a token went, the merge summed it there (any chunking)."""
    from tempme.llm.pooling import merge_destinations
    from tempme.merge import bipartite_soft_matching

    g = torch.Generator().manual_seed(2)
    metric = torch.randn(1, 11, 4, generator=g)
    merge = bipartite_soft_matching(metric, 4, protected=0)
    dest = merge_destinations(merge, 11, chunk=chunk)
    x = torch.randn(1, 11, 5, generator=g)
    expected = torch.zeros(7, 5).index_add_(0, dest, x[0])
    torch.testing.assert_close(merge(x)[0], expected)
    assert sorted(set(dest.tolist())) == list(range(7))
    # on the merge's device (meta: shapes only, no data)
    meta = bipartite_soft_matching(torch.empty(1, 11, 4, device="meta"), 4, protected=0)
    assert merge_destinations(meta, 11, "meta", chunk=chunk).device.type == "meta"


def test_tome_reaches_small_budgets_round_after_round():
    """40 tokens to 3: rounds of at most half the tokens (20, 10, 5, 2 removed), sizes sum to 40 and
    every token is the size-weighted mean of its sources."""
    x = torch.randn(2, 20, C, generator=torch.Generator().manual_seed(8))
    red = ToMeMerge()(x, (4, 5), Budget(max_tokens=3))
    assert red.num_tokens == 3 and int(red.sizes.sum()) == 40
    means, _ = group_mean(x.reshape(-1, C), red.slot, 3)
    torch.testing.assert_close(red.tokens, means, atol=1e-5, rtol=1e-5)


def test_identity_keeps_every_token_in_place_on_any_device():
    """Identity: slot s for source s, sizes 1, coordinates on the tokens' device (meta: no data needed);
    it still validates side inputs although it ignores the budget."""
    x = torch.empty(T, H * W, C, device="meta")
    red = Identity()(x, (H, W))
    assert red.slot.dtype == torch.long and red.coords.device.type == "meta" and red.sizes.device.type == "meta"
    assert source_coords((T, H, W), "meta").device.type == "meta"
    cpu = Identity()(_video(), (H, W))
    assert torch.equal(cpu.slot, torch.arange(T * H * W))
    with pytest.raises(ValueError, match="saliency shape"):
        Identity()(_video(), (H, W), side=SideInputs(saliency=torch.zeros(2, 2)))


def test_group_mean_keeps_the_dtype():
    x = torch.arange(8, dtype=torch.float64).view(4, 2)
    means, counts = group_mean(x, torch.tensor([1, -1, 1, 0]), 2)
    assert means.dtype == torch.float64 and counts.tolist() == [1.0, 2.0]
    assert means.tolist() == [[6.0, 7.0], [2.0, 3.0]]
