"""VQToken: k-means against a reference, the elbow rule, the token hash, quantisation attention, TokDense."""

from __future__ import annotations

import pytest
import torch

from tempme.llm.outer import Budget, source_coords
from tempme.llm.vqtoken import QuantisationAttention, VQToken, elbow_k, kmeans, tok_dense


def _blobs(k: int, per: int, c: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 10 * torch.randn(k, c, generator=g)
    labels = torch.arange(k).repeat_interleave(per)
    return centres[labels] + 0.1 * torch.randn(k * per, c, generator=g), labels


def test_kmeans_recovers_separated_blobs_and_is_a_fixed_point():
    x, truth = _blobs(5, 30)
    cent, labels, inertia = kmeans(x, 5, iters=20, seed=1)
    # the partition equals the ground truth up to relabelling
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 5
    # Lloyd fixed point: every point is nearest its own centroid, centroids are the member means
    assert torch.equal(torch.cdist(x, cent).argmin(1), labels)
    for j in range(5):
        torch.testing.assert_close(cent[j], x[labels == j].mean(0))
    assert inertia == pytest.approx(float(((x - cent[labels]) ** 2).sum()), rel=1e-5)


def test_kmeans_always_returns_k_nonempty_clusters():
    x = torch.zeros(20, 4)
    x[:2] = 1.0  # 18 identical points: most random centroids start on top of each other
    _, labels, _ = kmeans(x, 6, iters=3)
    assert torch.bincount(labels, minlength=6).min() >= 1
    with pytest.raises(ValueError, match="1 <= k <= 20"):
        kmeans(x, 21)


def test_elbow_finds_the_number_of_blobs():
    x, _ = _blobs(6, 25)
    assert elbow_k(x, k_max=48, k_min=2, points=12, iters=10) in (5, 6, 7)


def test_vqtoken_token_hash_and_centroids():
    t, h, w, c = 4, 3, 3, 8
    x, truth = _blobs(4, 9, c)
    tokens = x[torch.randperm(36, generator=torch.Generator().manual_seed(0))].view(t, h * w, c)
    red = VQToken(iters=20)(tokens, (h, w), Budget(max_tokens=4))
    hashed = red.token_hash()
    assert hashed.shape == (t, h, w)
    # each code's token is the mean of the source tokens hashed to it
    flat = tokens.reshape(-1, c)
    for j in range(4):
        torch.testing.assert_close(red.tokens[j], flat[red.slot == j].mean(0))
    assert red.extra["codebook_size"] == 4
    adaptive = VQToken(min_tokens=2)(tokens, (h, w), Budget(max_tokens=24, adaptive=True))
    assert 2 <= adaptive.num_tokens <= 24


def test_quantisation_attention_starts_as_identity_and_trains():
    t, h, w, c = 2, 3, 3, 8
    tokens = torch.randn(t, h * w, c)
    qa = QuantisationAttention(c, heads=2)
    plain = VQToken()(tokens, (h, w), Budget(max_tokens=5))
    refined = VQToken(refine=qa)(tokens, (h, w), Budget(max_tokens=5))
    torch.testing.assert_close(refined.tokens, plain.tokens)
    # one step on a reconstruction loss changes the module and its output
    flat = tokens.reshape(-1, c)
    coords = source_coords((t, h, w))
    opt = torch.optim.SGD(qa.parameters(), lr=0.5)
    out = qa(plain.tokens, flat, plain.slot, coords, plain.coords, (t, h, w))
    loss = ((out[plain.slot] - flat) ** 2).mean() + out.pow(2).mean()
    loss.backward()
    opt.step()
    after = qa(plain.tokens, flat, plain.slot, coords, plain.coords, (t, h, w))
    assert not torch.allclose(after, plain.tokens)
    # a centroid only reads its own members: perturbing a token changes only its code's output
    j = int(plain.slot[0])
    bumped = flat.clone()
    bumped[0] += 5.0
    moved = qa(plain.tokens, bumped, plain.slot, coords, plain.coords, (t, h, w))
    changed = (moved - after).abs().sum(1) > 1e-6
    assert changed.nonzero().squeeze(1).tolist() == [j]


def test_tok_dense():
    assert tok_dense(0.6, 30) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="at least one token"):
        tok_dense(0.5, 0)
