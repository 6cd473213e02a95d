"""Merge provenance: which original (frame, position) tokens every merged token stands for.

ToMe calls this source tracing (Bolya et al., ICLR 2023, Sec. 4.4 / Fig. 6): next to the tokens,
carry a 0/1 *source* matrix with one row per current token and one column per original token of
the video; every merge is applied to it as to the features (a merged token's row is the sum of
the rows merged into it, which stays 0/1 because merges never share a source). Written for tempme;
no code from ToMe's or TempMe's repositories.

Original positions are numbered per frame as the tower numbers them: position 0 is the frame's
class token, positions 1 .. gh*gw the patches in row-major order (patch ``(gy, gx)`` is position
``1 + gy * gw + gx``). The encoder records one :class:`MergeStage` per planned merge step
(:meth:`tempme.patch.TempMeVisionTransformer.forward_video_traced`); a :class:`MergeTrace` holds
them for one video. Tracking is off unless asked for and never changes the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

STEP_NAMES = {
    "imgme": "ImgMe",
    "clipme-cross": "ClipMe cross-clip",
    "clipme-intra": "ClipMe intra-clip",
    "last": "last layer",
}


@dataclass(frozen=True)
class MergeStage:
    """The tokens of one video right after one merge step.

    Attributes:
        layer: the transformer layer (0-based) the step belongs to.
        step: ``imgme`` (after attention), ``clipme-cross`` (before attention), ``clipme-intra``
            (after attention) or ``last`` (the last layer's merge).
        sequences: sequences per video at this point (12, 6, 3, 1 for ViT-B/32).
        tokens: tokens per sequence at this point (class tokens included).
        owner: (T, N0) int64: for every original (frame, position), the token that holds it,
            numbered over the whole video as ``sequence * tokens + index in the sequence``.
        sizes: (sequences * tokens,) float64: the encoder's own token sizes (ToMe's ``size``), in
            the same numbering; each equals the number of sources of that token.
    """

    layer: int
    step: str
    sequences: int
    tokens: int
    owner: np.ndarray
    sizes: np.ndarray

    @property
    def token_count(self) -> int:
        """Tokens per video after this step (``sequences * tokens``)."""
        return self.sequences * self.tokens

    @property
    def label(self) -> str:
        """``"layer 8, ClipMe cross-clip"``."""
        return f"layer {self.layer}, {STEP_NAMES.get(self.step, self.step)}"

    def sources(self) -> list[list[tuple[int, int]]]:
        """For every token (in the numbering of :attr:`owner`), its (frame, position) sources,
        sorted; every original (frame, position) appears in exactly one list."""
        out: list[list[tuple[int, int]]] = [[] for _ in range(self.token_count)]
        T, N0 = self.owner.shape
        for t in range(T):
            for n in range(N0):
                out[int(self.owner[t, n])].append((t, n))
        return out

    def patch_owner(self) -> np.ndarray:
        """(T, N0 - 1) int64: the owner of every patch (the class-token column dropped)."""
        return self.owner[:, 1:]


@dataclass(frozen=True)
class MergeTrace:
    """The merge provenance of one video: every merge step's :class:`MergeStage`, in order.

    Attributes:
        num_frames: T.
        grid: (gh, gw) patches per frame; N0 = gh * gw + 1 positions per frame.
        tokens_in: T * N0, the video's tokens before any merge.
        stages: one per planned merge step (none when merging is off).
    """

    num_frames: int
    grid: tuple[int, int]
    tokens_in: int
    stages: tuple[MergeStage, ...]

    @property
    def final(self) -> MergeStage:
        """The last stage: the tokens that leave the tower.

        Raises:
            ValueError: the encoder does not merge (there is no stage).
        """
        if not self.stages:
            raise ValueError("this encoder does not merge tokens (merging is off): there is nothing to explain")
        return self.stages[-1]

    def stage_at_layer(self, layer: int) -> MergeStage:
        """The last stage of ``layer`` (a ClipMe layer's intra-clip merge).

        Raises:
            ValueError: no merge step ran in that layer (the message lists the layers that have one).
        """
        found = [s for s in self.stages if s.layer == layer]
        if not found:
            layers = sorted({s.layer for s in self.stages})
            raise ValueError(f"no merge in layer {layer}; layers with a merge: {layers}")
        return found[-1]

    def counts(self) -> list[tuple[str, int]]:
        """``[(label, tokens per video), ...]``, starting with the tokens entering the tower."""
        return [("input", self.tokens_in)] + [(s.label, s.token_count) for s in self.stages]


# ------------------------------------------------------------------------------------------
# Propagation helpers used by tempme.patch (torch, batched).
# ------------------------------------------------------------------------------------------


def initial_source(videos: int, frames: int, positions: int, device: torch.device) -> torch.Tensor:
    """The source matrix before any merge: (B*T, N0, T*N0) float32, token n of frame t is the
    one-hot of column ``t * N0 + n``."""
    eye = torch.eye(frames * positions, device=device)  # (T*N0, T*N0)
    # (T*N0, T*N0) -> (T, N0, T*N0) -> (B*T, N0, T*N0)
    return eye.view(frames, positions, frames * positions).repeat(videos, 1, 1)


def stages_from_source(
    source: torch.Tensor, size: torch.Tensor | None, videos: int, frames: int, layer: int, step: str
) -> list[MergeStage]:
    """One :class:`MergeStage` per video from the batched source matrix.

    Args:
        source: (B*S, N, T*N0) 0/1 float, sequences of one video contiguous.
        size: (B*S, N, 1) the encoder's token sizes, or None (every size 1).
        videos: B. frames: T.
    """
    BS, N, P = source.shape
    S = BS // videos
    src = source.detach().float().reshape(videos, S * N, P)  # (B*S, N, P) -> (B, S*N, P)
    counts = src.sum(dim=1)  # (B, P): how many tokens hold each original token
    assert bool((counts == 1).all()), "merge provenance lost or duplicated an original token"
    owner = src.argmax(dim=1).cpu().numpy().reshape(videos, frames, P // frames)  # (B, T, N0)
    sizes = (
        np.ones((videos, S * N))
        if size is None
        else size.detach().double().reshape(videos, S * N).cpu().numpy()  # (B*S, N, 1) -> (B, S*N)
    )
    return [MergeStage(layer, step, S, N, owner[b].astype(np.int64), sizes[b]) for b in range(videos)]
