"""VQToken (Zhang et al., "VQToken: Neural Discrete Token Representation Learning for Extreme Token
Reduction in Video LLMs", NeurIPS 2025, arXiv:2503.16980), written from the paper and the behaviour
of its released code (Hai-chao-Zhang/VQToken: ``VQToken/cluster.py``, ``VQToken/vq_token.py``,
``llava/model/llava_arch.py``).

Inference path, as the authors' code runs it:

1. The tokens are the projector's **un-pooled** output (SigLIP-so400m: 27 x 27 = 729 per frame;
   :attr:`VQToken.uses_unpooled` makes the pipeline skip LLaVA-OV's 2x2 pooling).
2. They are L2-normalised and clustered by **cosine k-means**: k-means++ seeding (squared
   Euclidean distance + 1e-6), assignment by cosine distance, centroid = mean of the members
   (not re-normalised; an empty cluster keeps its centroid), at most 100 iterations, stopping when
   the centroids move less than 1e-4 (Frobenius norm).
3. K is chosen by the reference's **elbow rule** (the default, as the reference hard-codes it):
   distortions (squared Euclidean, on the normalised tokens) for K = 12 .. 32; with i* the argmax
   of their second difference, the reference takes K = max(12, i* + 4), an *index* offset rather
   than a K offset, so its K is always in 12 .. 22 (:func:`reference_elbow`); we cap it at the
   budget. ``VQToken(fixed_k=True)`` uses K = the budget instead: our extension, since the
   reference's fixed-K path raises TypeError (it passes ``n_clusters``/``max_iter`` keywords that
   its ``KMeansTorch`` does not take).
4. The LLM sees the K cluster means of the normalised tokens (``token_dynamics_only_base``, the
   method the released code selects); the token hash maps every (t, y, x) to its code
   (``Reduction.token_hash()``).
5. Optionally, with the authors' fine-tuned VQ-Attention weights (:class:`VQAttention`, the layout
   of ``model.cross_attention`` in their ``VQ-Token-llava-ov-0.5b`` checkpoint), the
   ``token_dynamics`` path: each frame's row of the token hash (N code ids) is projected to a
   query that cross-attends to the codebook; one token per frame.

The paper's accuracy needs the authors' fine-tuned LLM; on a stock LLaVA-OV this reducer is a
training-free approximation. TokDense (:func:`tok_dense`) is the paper's accuracy-per-token metric.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from tempme.llm.outer import Budget, OuterReducer, Reduction, SideInputs, reduction_from_slots

log = logging.getLogger(__name__)

ELBOW_KS = range(12, 33)
"""K values the reference's elbow rule tries (12 .. 32)."""


def kmeans_pp(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding as the reference: first centre uniform, then each next one drawn with
    probability proportional to (squared distance to the nearest centre + 1e-6). Returns (k, C)."""
    s = x.shape[0]
    sq = (x * x).sum(1)
    idx = [int(torch.randint(s, (1,), generator=gen))]
    nearest = (sq + sq[idx[0]] - 2 * x @ x[idx[0]]).clamp_min(0)  # squared distances to the nearest centre
    for _ in range(1, k):
        w = (nearest + 1e-6).double().cpu()
        j = int(torch.multinomial(w / w.sum(), 1, generator=gen))
        idx.append(j)
        nearest = torch.minimum(nearest, (sq + sq[j] - 2 * x @ x[j]).clamp_min(0))
    return x[torch.tensor(idx, device=x.device)].clone()


def cosine_kmeans(x: Tensor, k: int, max_iter: int = 100, tol: float = 1e-4, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Cosine k-means of ``x`` (S, C) as the reference's ``KMeansTorch``: (labels (S,), centroids (k, C)).

    Raises:
        ValueError: k < 1 or k > S.
    """
    s = x.shape[0]
    if not 1 <= k <= s:
        raise ValueError(f"k-means needs 1 <= k <= {s} points, got k={k}")
    xf = x.float()
    xn = torch.nn.functional.normalize(xf, dim=-1)
    cent = kmeans_pp(xf, k, torch.Generator().manual_seed(seed))
    labels = None
    for _ in range(max_iter):
        labels = (xn @ torch.nn.functional.normalize(cent, dim=-1).T).argmax(1)  # min cosine distance
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(cent).index_add_(0, labels, xf)
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], cent)
        moved = float(torch.linalg.norm(cent - new))
        if moved < tol:
            break
        cent = new
    return labels, cent


def distortion(x: Tensor, labels: Tensor, centroids: Tensor) -> float:
    """Sum of squared Euclidean distances of the points to their centroids."""
    return float(((x.float() - centroids[labels]) ** 2).sum())


def reference_elbow(distortions: list[float]) -> int:
    """The reference's K from distortions over K = 12, 13, ...: ``max(12, argmax(second difference) + 4)``."""
    d = torch.tensor(distortions, dtype=torch.float64)
    second = (d[2:] - d[1:-1]) - (d[1:-1] - d[:-2])
    return max(12, int(second.argmax()) + 4)


class VQAttention(nn.Module):
    """VQ-Attention with the layout of the authors' ``model.cross_attention`` weights.

    ``to_q_proj`` maps a frame's token-hash row (N code ids, as floats) to the LLM width; one
    ``nn.TransformerDecoderLayer`` (post-norm, ReLU, feed-forward 2048) attends from those queries
    to the codebook. Shapes: hash (T, N), codebook (K, D) -> (max(T, K), D); the shorter input is
    tiled to the longer one's length, as the reference does.

    Args:
        tokens_per_frame: N (729 for SigLIP-so400m at 384 px).
        dim: D, the LLM width (896 for the 0.5B model).
        heads: attention heads (8).
    """

    def __init__(self, tokens_per_frame: int = 729, dim: int = 896, heads: int = 8, layers: int = 1):
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model=dim, nhead=heads)
        self.transformer_decoder = nn.TransformerDecoder(layer, num_layers=layers)
        self.to_q_proj = nn.Linear(tokens_per_frame, dim)

    @classmethod
    def from_checkpoint(cls, path: str | Path, prefix: str = "model.cross_attention.") -> VQAttention:
        """Load the VQ-Attention weights from a checkpoint file or directory (safetensors or torch),
        keys under ``prefix`` (the authors' layout) or bare.

        Raises:
            FileNotFoundError: no checkpoint file.
            KeyError: no VQ-Attention weights in it.
        """
        path = Path(path)
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")) if path.is_dir() else [path]
        if not files or not all(f.exists() for f in files):
            raise FileNotFoundError(f"no checkpoint file at {path}")
        state: dict[str, Tensor] = {}
        for f in files:
            if f.suffix == ".safetensors":
                from safetensors.torch import load_file

                part = load_file(str(f))
            else:
                part = torch.load(f, map_location="cpu", weights_only=True)
            for key, value in part.items():
                if key.startswith(prefix):
                    state[key[len(prefix) :]] = value
                elif key.startswith(("to_q_proj.", "transformer_decoder.")):
                    state[key] = value
        if "to_q_proj.weight" not in state:
            raise KeyError(f"no VQ-Attention weights ({prefix}to_q_proj.weight) in {path}")
        dim, n = state["to_q_proj.weight"].shape
        layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("transformer_decoder.layers."))
        module = cls(n, dim, layers=layers)
        module.load_state_dict({k: v.float() for k, v in state.items()})
        return module.eval()

    def forward(self, token_hash: Tensor, codebook: Tensor) -> Tensor:
        q = token_hash.float()
        ctx = codebook.float()
        if q.shape[0] < ctx.shape[0]:
            q = q.repeat(ctx.shape[0] // q.shape[0] + 1, 1)[: ctx.shape[0]]
        elif ctx.shape[0] < q.shape[0]:
            ctx = ctx.repeat(q.shape[0] // ctx.shape[0] + 1, 1)[: q.shape[0]]
        tgt = self.to_q_proj(q)[:, None]  # (L, 1, D): sequence first
        return self.transformer_decoder(tgt=tgt, memory=ctx[:, None])[:, 0]


class VQToken(OuterReducer):
    """VQToken: cosine k-means codebook of all un-pooled tokens as the reduced sequence, with a token hash.

    Args:
        max_iter, tol: the reference's k-means limits (100, 1e-4).
        attention: the authors' :class:`VQAttention` (``token_dynamics``: one token per frame).
        seed: k-means++ seed (one seed for every k-means run; the reference draws from torch's
            global generator).
        fixed_k: K = the budget (``budget.resolve(S)``) instead of the reference's elbow rule;
            our extension (the reference's fixed-K path does not run). ``Budget(adaptive=True)``
            asks for the elbow rule even then.

    By default K is the reference's elbow choice (12 .. 22), capped by the budget.
    """

    name = "vqtoken"
    uses_unpooled = True

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-4,
        attention: VQAttention | None = None,
        seed: int = 0,
        fixed_k: bool = False,
    ):
        self.max_iter, self.tol, self.attention, self.seed = max_iter, tol, attention, seed
        self.fixed_k = fixed_k

    exact_budget = False
    """At most the budget: the elbow's K, or with ``fixed_k`` K minus the clusters k-means leaves
    empty (identical tokens: a still black video), and one token per frame with VQ-Attention."""

    def choose_k(self, x: Tensor, cap: int) -> tuple[int, list[float]]:
        """The reference's elbow K for normalised tokens ``x`` (S, C), at most ``cap``; and the distortions."""
        ks = [k for k in ELBOW_KS if k <= x.shape[0]]
        if len(ks) < 3:
            return min(cap, x.shape[0]), []
        dist = []
        for k in ks:
            labels, cent = cosine_kmeans(x, k, self.max_iter, self.tol, self.seed)
            dist.append(distortion(x, labels, cent))
        return min(cap, reference_elbow(dist)), dist

    def reduce(self, tokens: Tensor, grid, budget: Budget, side: SideInputs) -> Reduction:
        t, n, c = tokens.shape
        x = torch.nn.functional.normalize(tokens.reshape(t * n, c).float(), dim=-1)  # (T, N, C) -> (S, C)
        k = budget.resolve(t * n)
        extra: dict = {}
        if budget.adaptive or not self.fixed_k:
            k, extra["distortions"] = self.choose_k(x, k)
            log.debug("vqtoken: elbow chose K=%d", k)
        labels, _ = cosine_kmeans(x, k, self.max_iter, self.tol, self.seed)
        used = torch.bincount(labels, minlength=k) > 0
        if not bool(used.all()):  # the reference feeds an empty cluster as a zero token; we drop it
            labels = (torch.cumsum(used.long(), 0) - 1)[labels]
            k = int(used.sum())
        extra.update(codebook_size=k)
        codes = torch.zeros(k, c).index_add_(0, labels, x) / torch.bincount(labels, minlength=k)[:, None].float()
        red = reduction_from_slots(
            tokens.reshape(t * n, c),
            labels.to(tokens.device),
            (t, *grid),
            tokens=codes.to(tokens.dtype).to(tokens.device),
            extra=extra,
            keep_order=True,
        )
        if self.attention is None:
            return red
        if t < k:
            raise ValueError(f"vqtoken: VQ-Attention gives one token per frame only when T >= K (T={t}, K={k})")
        hashes = labels.view(t, n).float()  # (T, N) token hash rows, code ids as the reference feeds them
        with torch.no_grad():
            out = self.attention.to(tokens.device)(hashes.to(tokens.device), codes.to(tokens.device))  # (T, D)
        frame = torch.arange(t, device=tokens.device).repeat_interleave(n)
        framed = reduction_from_slots(
            tokens.reshape(t * n, c),
            frame,
            (t, *grid),
            tokens=out.to(tokens.dtype),
            extra={**extra, "token_hash": red.slot.view(t, *grid)},
            keep_order=True,
        )
        return framed


def tok_dense(accuracy: float, num_tokens: int) -> float:
    """TokDense (VQToken paper): task accuracy per visual token, ``accuracy / num_tokens``.

    Raises:
        ValueError: num_tokens < 1.
    """
    if num_tokens < 1:
        raise ValueError(f"TokDense needs at least one token, got {num_tokens}")
    return accuracy / num_tokens
