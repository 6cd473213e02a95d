"""Bipartite soft matching and size-weighted merging against a loop-based reference.

The split rule is ToMe's and the TempMe reference's (``LunarShen/TempMe``, module_tome_merge.py):
alternate over the whole sequence with the class tokens counted, so token ``i`` (``i >=
protected``) is in set A when ``i`` is even. The loop reference below decides A/B by that
position parity, one token at a time; it shares nothing with ``tempme.merge``.
"""

import pytest
import torch

from tempme.merge import bipartite_soft_matching, merge_wavg, set_a_size


def reference_merge(metric, x, size, r, protected):
    """Per-sequence loops, straight from the definition (ToMe Sec. 3)."""
    out_x, out_s = [], []
    for m, xs, ss in zip(metric, x, size):
        a = [i for i in range(protected, m.shape[0]) if i % 2 == 0]
        b = [i for i in range(protected, m.shape[0]) if i % 2 == 1]
        mn = m / m.norm(dim=-1, keepdim=True)
        edges = []
        for i in a:
            sims = torch.stack([mn[i] @ mn[j] for j in b])
            edges.append((float(sims.max()), i, b[int(sims.argmax())]))
        # stable order: strongest edges first, ties by position (argsort is stable on CPU here)
        order = sorted(range(len(a)), key=lambda k: -edges[k][0])
        merged = {edges[k][1]: edges[k][2] for k in order[:r]}
        acc = {j: (xs[j] * ss[j], ss[j].clone()) for j in b}
        for i, j in merged.items():
            acc[j] = (acc[j][0] + xs[i] * ss[i], acc[j][1] + ss[i])
        keep_a = [i for i in a if i not in merged]
        rows = [xs[i] for i in range(protected)] + [xs[i] for i in keep_a] + [acc[j][0] / acc[j][1] for j in b]
        sizes = [ss[i] for i in range(protected)] + [ss[i] for i in keep_a] + [acc[j][1] for j in b]
        out_x.append(torch.stack(rows))
        out_s.append(torch.stack(sizes))
    return torch.stack(out_x), torch.stack(out_s)


@pytest.mark.parametrize(
    "n,r,protected",
    [(17, 3, 1), (50, 2, 1), (50, 24, 1), (68, 20, 2), (30, 14, 2), (9, 1, 3), (168, 50, 12), (12, 4, 4), (10, 5, 0)],
)
def test_matches_reference(n, r, protected):
    g = torch.Generator().manual_seed(n * 100 + r)
    metric = torch.randn(3, n, 8, generator=g)
    x = torch.randn(3, n, 5, generator=g)
    size = torch.randint(1, 4, (3, n, 1), generator=g).float()
    merge = bipartite_soft_matching(metric, r, protected)
    got_x, got_s = merge_wavg(merge, x, size)
    ref_x, ref_s = reference_merge(metric, x, size, r, protected)
    assert got_x.shape == (3, n - r, 5)
    torch.testing.assert_close(got_x, ref_x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_s, ref_s)


def test_hand_computed_split_with_one_and_two_class_tokens():
    # one class token: tokens 2, 4 (patches 1, 3) are set A, tokens 1, 3 (patches 0, 2) set B
    cls, p0, p1, p2, p3 = (
        torch.tensor(v) for v in ([0.0, 0, 1], [1.0, 0, 0], [0.0, 1, 0], [0.0, 0.7, 0.7], [1.0, 0.1, 0])
    )
    x = torch.stack([cls, p0, p1, p2, p3])[None]  # (1, 5, 3)
    out, size = merge_wavg(bipartite_soft_matching(x, 1, protected=1), x, torch.ones(1, 5, 1))
    # p3's best edge (to p0, cos 0.995) beats p1's (to p2, cos 0.707): p3 merges into p0
    expected = torch.stack([cls, p1, (p0 + p3) / 2, p2])[None]
    torch.testing.assert_close(out, expected)
    assert size.flatten().tolist() == [1, 1, 2, 1]
    # two class tokens: the patches at even token positions (patches 0, 2) are set A
    c2 = torch.tensor([0.0, 0.0, -1.0])
    x2 = torch.stack([cls, c2, p0, p1, p2, p3])[None]  # (1, 6, 3): tokens 2, 4 = p0, p2 are A
    out2, size2 = merge_wavg(bipartite_soft_matching(x2, 1, protected=2), x2, torch.ones(1, 6, 1))
    # p0's best edge (to p3, 0.995) beats p2's (to p1, 0.707): p0 merges into p3
    torch.testing.assert_close(out2, torch.stack([cls, c2, p2, p1, (p3 + p0) / 2])[None])
    assert size2.flatten().tolist() == [1, 1, 1, 1, 2]


def test_sizes_sum_and_protected_tokens_stay_first():
    metric = torch.randn(4, 40, 16)
    x = torch.randn(4, 40, 16)
    size = torch.ones(4, 40, 1)
    merged, s = merge_wavg(bipartite_soft_matching(metric, 10, protected=3), x, size)
    assert merged.shape == (4, 30, 16)
    torch.testing.assert_close(s.sum(1), torch.full((4, 1), 40.0))
    torch.testing.assert_close(merged[:, :3], x[:, :3])
    assert torch.all(s[:, :3] == 1)


def test_identical_tokens_merge_to_themselves():
    x = torch.randn(1, 1, 6).expand(2, 21, 6).clone()
    merged, size = merge_wavg(bipartite_soft_matching(x, 10, protected=1), x, torch.ones(2, 21, 1))
    torch.testing.assert_close(merged, x[:, :11])
    assert float(size.sum()) == 42


def test_defaults_small_metrics_and_size_dtype():
    """One class token by default (ToMe's ``class_token=True``); the cosine does not depend on the
    metric's scale (vectors of norm 1e-3 match as their directions do); sizes take x's dtype."""
    g = torch.Generator().manual_seed(11)
    metric = 1e-3 * torch.randn(2, 15, 6, generator=g)
    x = torch.randn(2, 15, 4, generator=g)
    size = torch.ones(2, 15, 1)
    got_x, got_s = merge_wavg(bipartite_soft_matching(metric, 5), x, size)
    ref_x, ref_s = reference_merge(metric, x, size, 5, 1)
    torch.testing.assert_close(got_x, ref_x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_s, ref_s)
    _, int_size = merge_wavg(bipartite_soft_matching(metric, 5), x, torch.ones(2, 15, 1, dtype=torch.long))
    assert int_size.dtype == x.dtype


def test_set_a_size_by_hand():
    # 49 patches after 1 class token: A = tokens 2, 4, ..., 48 (24); after 2: tokens 2, ..., 50 (25)
    assert [set_a_size(50, 1), set_a_size(51, 2), set_a_size(10, 0), set_a_size(12, 3)] == [24, 25, 5, 4]
    assert all(isinstance(set_a_size(n, p), int) for n, p in [(50, 1), (51, 2), (12, 3)])


def test_rejects_r_larger_than_set_a():
    with pytest.raises(ValueError, match="protected=5 tokens but the sequence has N=4"):
        bipartite_soft_matching(torch.randn(1, 4, 4), 1, protected=5)
    with pytest.raises(ValueError, match="set A has 0"):  # every token protected: nothing to merge
        bipartite_soft_matching(torch.randn(1, 4, 4), 1, protected=4)
    # 10 patches after 1 class token: A = tokens 2, 4, ..., 10 (5); after 2: tokens 2, ..., 10 (5)
    with pytest.raises(ValueError, match="set A has 5"):
        bipartite_soft_matching(torch.randn(1, 11, 4), 6, protected=1)
    # 9 patches after 2 class tokens: A = tokens 2, 4, 6, 8, 10 (5); after 1 class token: 4
    with pytest.raises(ValueError, match="set A has 4"):
        bipartite_soft_matching(torch.randn(1, 10, 4), 5, protected=1)
    bipartite_soft_matching(torch.randn(1, 11, 4), 5, protected=2)


def test_r_zero_is_identity():
    x = torch.randn(2, 9, 4)
    size = torch.ones(2, 9, 1)
    out, out_size = merge_wavg(bipartite_soft_matching(x, 0, protected=1), x, size)
    assert out is x and out_size is size
