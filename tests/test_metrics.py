"""Retrieval metrics on similarity matrices with known ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tempme.train.metrics import format_table, metrics_from_ranks, ranks, retrieval_metrics


def matrix_with_ranks(true_ranks: list[int], k: int, seed: int = 0) -> torch.Tensor:
    """A (Q, K) matrix whose diagonal entry in row i is the true_ranks[i]-th largest, no ties."""
    g = torch.Generator().manual_seed(seed)
    q = len(true_ranks)
    sim = torch.empty(q, k)
    for i, r in enumerate(true_ranks):
        values = torch.randperm(k, generator=g).float()  # distinct scores
        others = [j for j in range(k) if j != i]
        order = torch.argsort(values, descending=True)
        # put the (r-1) largest values on other columns, the r-th on the diagonal
        sim[i, i] = values[order[r - 1]]
        rest = torch.cat([order[: r - 1], order[r:]])
        sim[i, others] = values[rest]
    return sim


def test_known_ranks_recovered():
    true = [1, 2, 5, 6, 10, 11, 1, 3]
    sim = matrix_with_ranks(true, k=12)
    assert ranks(sim).tolist() == true


def test_metrics_values_from_known_ranks():
    m = metrics_from_ranks(np.array([1, 2, 5, 6, 10, 11, 1, 3]))
    assert m.r1 == pytest.approx(25.0)
    assert m.r5 == pytest.approx(62.5)
    assert m.r10 == pytest.approx(87.5)
    assert m.mdr == pytest.approx(4.0)
    assert m.mnr == pytest.approx(39 / 8)
    assert m.rsum == pytest.approx(25.0 + 62.5 + 87.5)


def test_ties_never_count_as_hits():
    assert ranks(torch.zeros(4, 4)).tolist() == [4, 4, 4, 4]
    sim = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.5, 0.5, 0.5]])
    assert ranks(sim).tolist() == [2, 1, 3]
    assert retrieval_metrics(torch.ones(5, 5))["t2v"].r1 == 0.0


def test_directions_are_transposes():
    sim = torch.tensor([[0.9, 0.8, 0.1], [0.95, 0.5, 0.2], [0.0, 0.1, 0.3]])
    # t2v: row 0 rank 1, row 1 rank 2, row 2 rank 1; v2t (columns): col 0 -> rank 2, col 1 -> 2, col 2 -> 1
    res = retrieval_metrics(sim)
    assert ranks(sim).tolist() == [1, 2, 1]
    assert ranks(sim.T).tolist() == [2, 2, 1]
    assert res["t2v"].r1 == pytest.approx(200 / 3) and res["v2t"].r1 == pytest.approx(100 / 3)


def test_random_matrix_matches_argsort_reference():
    sim = torch.randn(50, 50, generator=torch.Generator().manual_seed(1))
    order = torch.argsort(sim, dim=1, descending=True)
    ref = [int((order[i] == i).nonzero()) + 1 for i in range(50)]
    assert ranks(sim).tolist() == ref


def test_rectangular_with_gt_and_errors():
    sim = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]])
    assert ranks(sim, gt=[1, 2]).tolist() == [1, 2]
    with pytest.raises(ValueError, match="2 entries for 3"):
        ranks(torch.zeros(3, 3), gt=[0, 1])
    with pytest.raises(ValueError, match="range"):
        ranks(sim, gt=[0, 3])
    with pytest.raises(ValueError, match="NaN"):
        ranks(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="square"):
        retrieval_metrics(sim)
    with pytest.raises(ValueError, match="no queries"):
        metrics_from_ranks(np.array([]))


def test_table_has_all_columns():
    text = format_table(retrieval_metrics(torch.eye(3)), title="1k-A")
    assert "R@1" in text and "MdR" in text and "R-Sum" in text and "t2v" in text and "v2t" in text
    assert "100.0" in text
