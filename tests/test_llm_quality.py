"""Quality proxies: perfect for the identity, worse for coarser reductions."""

from __future__ import annotations

import pytest
import torch

from tempme.llm.outer import Budget, Identity
from tempme.llm.pooling import UniformPooling
from tempme.llm.quality import readout_cosine, reconstruction_cosine


def test_identity_scores_one_and_pooling_degrades_with_the_budget():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 36, 16, generator=g)
    full = Identity()(x, (6, 6))
    assert reconstruction_cosine(x, full) == pytest.approx(1.0, abs=1e-6)
    assert readout_cosine(x, full) == pytest.approx(1.0, abs=1e-6)
    scores = [
        (reconstruction_cosine(x, r), readout_cosine(x, r))
        for r in (UniformPooling()(x, (6, 6), Budget(retain=k)) for k in (0.5, 0.25, 0.05))
    ]
    assert scores[0][0] > scores[1][0] > scores[2][0]
    assert scores[0][1] > scores[2][1]
    assert all(s < 0.999 for pair in scores for s in pair)
