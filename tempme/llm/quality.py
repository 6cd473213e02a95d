"""Quality proxies for a reduced token set, computed the same way for every outer reducer.

Both work on tokens centred by the source mean (the component every token shares would otherwise
make any reduction look perfect).

* :func:`reconstruction_cosine` — how well the reduced set represents the source: the mean over
  source tokens of the best cosine similarity to any reduced token (1.0 when every source token
  survives unchanged).
* :func:`readout_cosine` — how close an attention read-out over the reduced set is to the one over
  the full set: queries are random source tokens plus equal-norm Gaussian noise; logits are
  ``beta * cos(q, k)``; the reduced side uses proportional attention (``+ log size``, ToMe Sec. 3)
  so a merged token counts for the tokens it stands for; the score is the mean cosine between
  the two read-outs.

Shapes: source (S, C), reduced tokens (M, C), sizes (M,), Q queries.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tempme.llm.outer import Reduction


def reconstruction_cosine(source: Tensor, red: Reduction, chunk: int = 4096) -> float:
    """Mean over source tokens of max cosine similarity to the reduced tokens."""
    x = source.reshape(-1, source.shape[-1]).float()
    mu = x.mean(0)
    s = torch.nn.functional.normalize(x - mu, dim=-1)
    r = torch.nn.functional.normalize(red.tokens.float() - mu, dim=-1)
    best = torch.cat([(s[i : i + chunk] @ r.T).max(1).values for i in range(0, s.shape[0], chunk)])
    return float(best.mean())


def readout_cosine(source: Tensor, red: Reduction, queries: int = 64, beta: float = 30.0, seed: int = 0) -> float:
    """Mean cosine between attention read-outs over the full and the reduced token sets."""
    x = source.reshape(-1, source.shape[-1]).float()
    mu = x.mean(0)
    x = x - mu
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(x.shape[0], (queries,), generator=gen)
    noise = torch.randn(queries, x.shape[1], generator=gen)
    q = x[pick] + noise * (x[pick].norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True))
    qn = torch.nn.functional.normalize(q, dim=-1)

    def read(k: Tensor, log_size: Tensor | None) -> Tensor:
        logits = beta * qn @ torch.nn.functional.normalize(k, dim=-1).T  # (Q, K)
        if log_size is not None:
            logits = logits + log_size[None, :]
        return logits.softmax(-1) @ k

    full = read(x, None)
    reduced = read(red.tokens.float() - mu, red.sizes.float().log())
    return float(torch.nn.functional.cosine_similarity(full, reduced, dim=-1).mean())
