"""Bipartite soft matching and size-weighted merging against a loop-based reference."""

import pytest
import torch

from tempme.merge import bipartite_soft_matching, merge_wavg


def reference_merge(metric, x, size, r, protected):
    """Per-sequence loops, straight from the definition (ToMe Sec. 3)."""
    out_x, out_s = [], []
    for m, xs, ss in zip(metric, x, size):
        tokens = list(range(protected, m.shape[0]))
        a, b = tokens[::2], tokens[1::2]
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


@pytest.mark.parametrize("n,r,protected", [(17, 3, 1), (50, 2, 1), (68, 20, 2), (30, 14, 2), (9, 1, 3)])
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


def test_rejects_r_larger_than_set_a():
    with pytest.raises(ValueError, match="set A has 5"):
        bipartite_soft_matching(torch.randn(1, 11, 4), 6, protected=1)


def test_r_zero_is_identity():
    x = torch.randn(2, 9, 4)
    size = torch.ones(2, 9, 1)
    out, out_size = merge_wavg(bipartite_soft_matching(x, 0, protected=1), x, size)
    assert out is x and out_size is size
