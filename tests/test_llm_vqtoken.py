"""VQToken as the reference code: cosine k-means fixed point, its elbow rule, un-pooled tokens,
the token hash, VQ-Attention in the authors' weight layout, TokDense."""

from __future__ import annotations

import pytest
import torch

from tempme.llm.outer import Budget
from tempme.llm.vqtoken import (
    ELBOW_KS,
    VQAttention,
    VQToken,
    cosine_kmeans,
    kmeans_pp,
    reference_elbow,
    tok_dense,
)


def _directions(k: int, per: int, c: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points along k random directions with random norms (cosine clusters, not Euclidean ones)."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(k, c, generator=g), dim=-1)
    labels = torch.arange(k).repeat_interleave(per)
    norms = 0.5 + 5 * torch.rand(k * per, 1, generator=g)
    return norms * (dirs[labels] + 0.05 * torch.randn(k * per, c, generator=g)), labels


def test_cosine_kmeans_groups_directions_whatever_the_norm():
    x, truth = _directions(5, 30)
    labels, cent = cosine_kmeans(torch.nn.functional.normalize(x, dim=-1), 5, seed=1)
    assert len(set(zip(truth.tolist(), labels.tolist()))) == 5  # the partition is the truth up to relabelling
    # the reference's fixed point: every point takes the centroid of largest cosine, and each
    # centroid is the (not re-normalised) mean of its normalised members
    xn = torch.nn.functional.normalize(x, dim=-1)
    assert torch.equal((xn @ torch.nn.functional.normalize(cent, dim=-1).T).argmax(1), labels)
    for j in range(5):
        torch.testing.assert_close(cent[j], xn[labels == j].mean(0))
    with pytest.raises(ValueError, match="1 <= k <= 150"):
        cosine_kmeans(x, 151)


def _reference_lloyd(x: torch.Tensor, seeds: torch.Tensor, max_iter: int, tol: float = 1e-4):
    """The reference's ``KMeansTorch.fit`` after seeding, point by point: cosine assignment (both
    sides normalised), centroid = mean of the members' raw vectors (an empty cluster keeps its
    centroid), stop before updating when the centroids move less than ``tol``."""
    cent = seeds.clone()
    labels = None
    for _ in range(max_iter):
        labels = torch.tensor(
            [max(range(len(cent)), key=lambda j: float(torch.cosine_similarity(p, cent[j], dim=0))) for p in x]
        )
        new = torch.stack([x[labels == j].mean(0) if bool((labels == j).any()) else cent[j] for j in range(len(cent))])
        if float(torch.linalg.norm(cent - new)) < tol:
            break
        cent = new
    return labels, cent


@pytest.mark.parametrize("max_iter", [1, 2, 5, 100])
def test_cosine_kmeans_equals_the_references_loop_on_raw_vectors(max_iter):
    """Points of very different norms (not normalised): the assignment is by cosine, the centroids
    are raw means, and the iteration count is the reference's."""
    g = torch.Generator().manual_seed(9)  # this draw takes 10 Lloyd iterations to converge
    x = torch.randn(60, 3, generator=g) * (0.1 + 5 * torch.rand(60, 1, generator=g))
    seeds = kmeans_pp(x, 4, torch.Generator().manual_seed(7))
    labels, cent = cosine_kmeans(x, 4, max_iter=max_iter, seed=7)
    ref_labels, ref_cent = _reference_lloyd(x, seeds, max_iter)
    assert torch.equal(labels, ref_labels)
    torch.testing.assert_close(cent, ref_cent)
    if max_iter < 100:  # the run has not converged yet: one more iteration changes the answer
        assert not torch.allclose(cent, _reference_lloyd(x, seeds, max_iter + 1)[1])


def test_defaults_are_the_references():
    """KMeansTorch(max_iteration=100, tol=1e-4) as AdaptiveKMeansTorch builds it; K from 12 to 32."""
    import inspect

    v = VQToken()
    assert (v.max_iter, v.tol, v.fixed_k, v.seed, v.exact_budget) == (100, 1e-4, False, 0, False)
    defaults = {k: p.default for k, p in inspect.signature(cosine_kmeans).parameters.items()}
    assert (defaults["max_iter"], defaults["tol"], defaults["seed"]) == (100, 1e-4, 0)
    assert list(ELBOW_KS) == list(range(12, 33))


def test_a_lone_point_is_its_own_centroid_and_empty_clusters_are_dropped():
    """k = 3 on two tight groups and one far point: the far point's cluster is that point (the mean of
    one member). Identical tokens leave k-means++'s second seed on the first: its cluster is empty
    and dropped (the reference would feed it as a zero token), so a fixed K of 2 gives 1 code."""
    g = torch.Generator().manual_seed(0)
    e = torch.eye(3)
    x = torch.cat([e[0] + 0.01 * torch.randn(10, 3, generator=g), e[1] + 0.01 * torch.randn(10, 3, generator=g)])
    x = torch.cat([x, 3 * e[2][None]])
    labels, cent = cosine_kmeans(x, 3, seed=0)
    lone = int(labels[-1])
    assert int((labels == lone).sum()) == 1
    torch.testing.assert_close(cent[lone], 3 * e[2])
    same = torch.ones(2, 4, 5)
    red = VQToken(fixed_k=True)(same, (2, 2), Budget(max_tokens=2))
    assert red.num_tokens == 1 and red.extra["codebook_size"] == 1 and red.slot.tolist() == [0] * 8
    torch.testing.assert_close(red.tokens, torch.full((1, 5), 5**-0.5))


def test_kmeans_pp_seeds_one_point_per_far_cluster():
    x = torch.cat([torch.zeros(50, 2), torch.full((1, 2), 100.0)])  # one far point: squared distance dominates
    seeds = kmeans_pp(x, 2, torch.Generator().manual_seed(0))
    assert sorted(seeds[:, 0].tolist()) == [0.0, 100.0]


def test_reference_elbow_by_hand():
    """K = max(12, argmax(second difference) + 4): an index offset, as the reference computes it."""
    d = [100.0, 50.0, 10.0] + [9.0 - 0.01 * i for i in range(18)]  # knee at the second difference index 1
    assert reference_elbow(d) == 12
    # first differences: -1 (x15), -15 (d[15] -> d[16]), -0.5 (x4); the second difference peaks at
    # index 15 (-0.5 - (-15) = 14.5), so K = 15 + 4 = 19 (the curve's knee is at K = 12 + 16 = 28)
    d = [100.0 - i for i in range(16)] + [70.0, 69.5, 69.0, 68.5, 68.0]
    assert reference_elbow(d) == 19
    assert all(12 <= reference_elbow(torch.rand(21).tolist()) <= 22 for _ in range(20))


def test_vqtoken_codes_are_normalised_means_and_the_hash_covers_every_token():
    t, h, w, c = 4, 3, 3, 16
    x, _ = _directions(4, 9, c)
    tokens = x[torch.randperm(36, generator=torch.Generator().manual_seed(0))].view(t, h * w, c)
    red = VQToken(fixed_k=True)(tokens, (h, w), Budget(max_tokens=4))
    assert red.token_hash().shape == (t, h, w) and red.num_tokens == 4
    flat = torch.nn.functional.normalize(tokens.reshape(-1, c), dim=-1)
    for j in range(4):
        torch.testing.assert_close(red.tokens[j], flat[red.slot == j].mean(0))
    assert int(red.sizes.sum()) == 36


def test_vqtoken_default_is_the_references_elbow_rule():
    """Without options K is the reference's elbow choice over K = 12 .. 32 on the normalised tokens:
    the K that reference_elbow gives for the distortions of cosine k-means at each K; fixed_k=True
    (our extension) gives the budget instead, and Budget(adaptive=True) asks for the elbow anyway."""
    g = torch.Generator().manual_seed(4)
    tokens = torch.randn(3, 16, 16, generator=g) * (0.2 + 3 * torch.rand(3, 16, 1, generator=g))
    red = VQToken(seed=3)(tokens, (4, 4), Budget(max_tokens=48))
    xn = torch.nn.functional.normalize(tokens.reshape(-1, 16), dim=-1)  # (48, 16)
    dist = []
    for k in range(12, 33):
        labels, cent = cosine_kmeans(xn, k, seed=3)
        dist.append(float(((xn - cent[labels]) ** 2).sum()))
    assert red.extra["distortions"] == pytest.approx(dist)
    assert red.num_tokens == reference_elbow(dist) and 12 <= red.num_tokens <= 22
    assert VQToken(seed=3)(tokens, (4, 4), Budget(max_tokens=5)).num_tokens == 5  # capped by the budget
    assert VQToken(fixed_k=True)(tokens, (4, 4), Budget(max_tokens=30)).num_tokens == 30
    adaptive = VQToken(fixed_k=True, seed=3)(tokens, (4, 4), Budget(max_tokens=48, adaptive=True))
    assert adaptive.num_tokens == red.num_tokens
    few = VQToken()(tokens[:, :3], (1, 3), Budget(max_tokens=7))  # 12 points: too few K to try, K = budget
    assert few.num_tokens == 7 and "distortions" not in few.extra or few.extra["distortions"] == []


AUTHORS_KEYS = [  # model.cross_attention.* in VQ-Token-llava-ov-0.5b: VQAttn(query_dim=729, context_dim=896, num_heads=8)
    "to_q_proj.weight",
    "to_q_proj.bias",
    "transformer_decoder.layers.0.self_attn.in_proj_weight",
    "transformer_decoder.layers.0.self_attn.in_proj_bias",
    "transformer_decoder.layers.0.self_attn.out_proj.weight",
    "transformer_decoder.layers.0.self_attn.out_proj.bias",
    "transformer_decoder.layers.0.multihead_attn.in_proj_weight",
    "transformer_decoder.layers.0.multihead_attn.in_proj_bias",
    "transformer_decoder.layers.0.multihead_attn.out_proj.weight",
    "transformer_decoder.layers.0.multihead_attn.out_proj.bias",
    "transformer_decoder.layers.0.linear1.weight",
    "transformer_decoder.layers.0.linear1.bias",
    "transformer_decoder.layers.0.linear2.weight",
    "transformer_decoder.layers.0.linear2.bias",
    "transformer_decoder.layers.0.norm1.weight",
    "transformer_decoder.layers.0.norm1.bias",
    "transformer_decoder.layers.0.norm2.weight",
    "transformer_decoder.layers.0.norm2.bias",
    "transformer_decoder.layers.0.norm3.weight",
    "transformer_decoder.layers.0.norm3.bias",
]


def test_vq_attention_loads_the_authors_layout(tmp_path):
    from safetensors.torch import save_file

    assert sorted(VQAttention().state_dict()) == sorted(AUTHORS_KEYS)
    g = torch.Generator().manual_seed(0)
    shapes = {k: v.shape for k, v in VQAttention(tokens_per_frame=9, dim=16).state_dict().items()}
    state = {f"model.cross_attention.{k}": torch.randn(s, generator=g) for k, s in shapes.items()}
    state["model.embed_tokens.weight"] = torch.randn(4, 16)  # the rest of the checkpoint is ignored
    save_file(state, str(tmp_path / "model.safetensors"))
    module = VQAttention.from_checkpoint(tmp_path)
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[f"model.cross_attention.{k}"])
    # token_dynamics: one output token per frame, standing for that frame's tokens
    tokens = torch.randn(6, 9, 16, generator=g)
    red = VQToken(attention=module, fixed_k=True)(tokens, (3, 3), Budget(max_tokens=4))
    assert red.num_tokens == 6 and red.sizes.tolist() == [9.0] * 6
    assert red.extra["token_hash"].shape == (6, 3, 3)
    with pytest.raises(ValueError, match="T >= K"):
        VQToken(attention=module, fixed_k=True)(tokens, (3, 3), Budget(max_tokens=8))
    # a directory of torch .bin files loads the same way
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    torch.save(state, bin_dir / "pytorch_model.bin")
    again = VQAttention.from_checkpoint(bin_dir)
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in again.state_dict().items())
    # fewer frames than codes: the queries are tiled to the codebook's length, max(T, K) outputs
    assert module(torch.zeros(2, 9), torch.randn(4, 16, generator=g)).shape == (4, 16)
    assert module(torch.zeros(5, 9), torch.randn(4, 16, generator=g)).shape == (5, 16)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        VQAttention.from_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(KeyError, match="no VQ-Attention weights"):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
        VQAttention.from_checkpoint(tmp_path / "other.safetensors")


@pytest.mark.parametrize("frames", [2, 5, 22])
def test_vq_attention_tiles_the_shorter_input(frames):
    """Queries (one per frame's hash row) and the codebook are tiled to the longer one's length, as
    the reference does: 2 frames against 4 codes give 4 outputs, 22 frames against 4 codes 22 (the
    codebook 5 times and 2 codes more, so the attention weights differ from one copy)."""
    g = torch.Generator().manual_seed(frames)
    module = VQAttention(tokens_per_frame=3, dim=16).eval()
    q, codes = torch.randint(0, 4, (frames, 3), generator=g).float(), torch.randn(4, 16, generator=g)
    length = max(frames, 4)
    tiled_q = torch.cat([q] * (length // frames + 1))[:length]
    tiled_c = torch.cat([codes] * (length // 4 + 1))[:length]
    with torch.no_grad():
        ref = module.transformer_decoder(tgt=module.to_q_proj(tiled_q)[:, None], memory=tiled_c[:, None])[:, 0]
        torch.testing.assert_close(module(q, codes), ref)


def test_tok_dense():
    assert tok_dense(0.6, 30) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="at least one token"):
        tok_dense(0.5, 0)
