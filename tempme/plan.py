"""The token schedule: planned once from the config and the model's real geometry.

``plan_schedule`` is a pure function; the patched model only executes the plan, so the token
counts of the paper's Fig. 2 / Sec. 3 (ViT-B/32, 12 frames: 50 -> 34 per frame after ImgMe,
then 68 -> 48 -> 44, 88 -> 62 -> 56, 168 -> 118 -> 107 in ClipMe, 97 after the last layer) are
tested on the plan itself and then on the tensors that flow through the model.

Layer roles for a depth-L tower with G = len(clip_groups) ClipMe layers:
``0 .. L-G-2`` ImgMe (merge r tokens per frame after attention), ``L-G-1 .. L-2`` ClipMe
(concatenate neighbouring sequences, cross-clip merge before attention, intra-clip merge after),
``L-1`` the last layer (one more intra merge). With ``merging=False`` every layer is ``full``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from tempme.config import TempMeConfig
from tempme.merge import set_a_size

log = logging.getLogger(__name__)


def keep_to_r(n_tokens: int, keep: float) -> int:
    """Tokens removed by a merge that keeps ``keep`` of ``n_tokens``: ``floor(N * (1 - keep))``."""
    return int(math.floor(n_tokens * (1.0 - keep) + 1e-6))


@dataclass(frozen=True)
class LayerPlan:
    """What one transformer layer does, per video.

    Token counts are per sequence; ``seqs_in``/``seqs_out`` are sequences per video.
    """

    index: int
    kind: str  # "full" | "imgme" | "clipme" | "last"
    group: int  # sequences concatenated before attention (1 = none)
    seqs_in: int
    seqs_out: int
    tokens_in: int  # per incoming sequence
    protected: int  # class tokens per outgoing sequence (never merged)
    cross_r: int  # removed by the cross-clip merge before attention
    tokens_attn: int  # attention runs over this many tokens
    intra_r: int  # removed after attention (ImgMe r, or the intra-clip merge)
    tokens_out: int  # per outgoing sequence, the MLP's token count
    temporal_vectors: int  # clip-temporal embedding vectors (0 if none)


@dataclass(frozen=True)
class TokenPlan:
    layers: tuple[LayerPlan, ...]
    num_frames: int
    tokens_per_frame: int

    @property
    def tokens_in(self) -> int:
        """Tokens per video entering the tower (T * N0)."""
        return self.num_frames * self.tokens_per_frame

    @property
    def tokens_out(self) -> int:
        """Tokens per video leaving the last layer."""
        last = self.layers[-1]
        return last.seqs_out * last.tokens_out

    def macs(self, width: int, mlp_ratio: float = 4.0) -> int:
        """Analytic multiply-accumulates of the transformer layers for one video.

        Per layer and sequence with n attention tokens and n' MLP tokens:
        ``4 n C^2`` (QKV + output projections) ``+ 2 n^2 C`` (QK^T and AV) ``+ 2 r C^2 n'``
        (MLP, r = mlp_ratio). Patch embedding, merges and heads are not included.
        """
        total = 0
        for lp in self.layers:
            n, n2 = lp.tokens_attn, lp.tokens_out
            per_seq = 4 * n * width**2 + 2 * n * n * width + int(2 * mlp_ratio * n2 * width**2)
            total += lp.seqs_out * per_seq
        return total

    def table(self) -> str:
        rows = ["layer kind    group seqs tok_in  cross attn  intra out  temb"]
        for lp in self.layers:
            rows.append(
                f"{lp.index:5d} {lp.kind:7s} {lp.group:5d} {lp.seqs_out:4d} "
                f"{lp.tokens_in * lp.group:6d} {lp.cross_r:6d} {lp.tokens_attn:5d} "
                f"{lp.intra_r:5d} {lp.tokens_out:4d} {lp.temporal_vectors:5d}"
            )
        rows.append(f"tokens per video: {self.tokens_in} -> {self.tokens_out}")
        return "\n".join(rows)


def plan_schedule(config: TempMeConfig, tokens_per_frame: int, depth: int) -> TokenPlan:
    """Plan every layer of a ``depth``-layer tower for ``config.num_frames`` frames.

    Args:
        config: the TempMe configuration.
        tokens_per_frame: N0 = grid_h * grid_w + 1 (patch tokens and one class token).
        depth: number of transformer layers L.

    Raises:
        ValueError: if the tower is too shallow for the ClipMe groups, or a merge would remove
            more tokens than bipartite matching can (more than half the unprotected tokens).
    """
    T = config.num_frames
    groups = config.clip_groups if config.merging else ()
    n_clip = len(groups)
    if config.merging and depth < n_clip + 2:
        raise ValueError(f"depth {depth} is too shallow for {n_clip} ClipMe layers plus ImgMe and a last layer")
    first_clip = depth - 1 - n_clip

    layers: list[LayerPlan] = []
    seqs, n, protected = T, tokens_per_frame, 1
    for i in range(depth):
        if not config.merging:
            kind, group, cross_r, intra_r = "full", 1, 0, 0
        elif i < first_clip:
            kind, group, cross_r = "imgme", 1, 0
            intra_r = config.imgme_r
        elif i < depth - 1:
            kind, group = "clipme", groups[i - first_clip]
            cross_r = keep_to_r(n * group, config.cross_keep)
            intra_r = keep_to_r(n * group - cross_r, config.intra_keep)
        else:
            kind, group, cross_r = "last", 1, 0
            intra_r = keep_to_r(n, config.intra_keep)
        if seqs % group:
            raise ValueError(f"layer {i}: {seqs} sequences cannot be grouped by {group}")
        prot_out = protected * group
        n_cat = n * group
        for what, r, count in (("cross", cross_r, n_cat), ("intra", intra_r, n_cat - cross_r)):
            set_a = set_a_size(count, prot_out)
            if r > set_a:
                raise ValueError(
                    f"layer {i}: {what} merge of r={r} exceeds set A ({set_a} of {count} tokens, "
                    f"{prot_out} protected); lower imgme_r or raise the keep ratios"
                )
        tokens_attn = n_cat - cross_r
        layers.append(
            LayerPlan(
                index=i,
                kind=kind,
                group=group,
                seqs_in=seqs,
                seqs_out=seqs // group,
                tokens_in=n,
                protected=prot_out,
                cross_r=cross_r,
                tokens_attn=tokens_attn,
                intra_r=intra_r,
                tokens_out=tokens_attn - intra_r,
                temporal_vectors=seqs if (kind == "clipme" and config.temporal_embed) else 0,
            )
        )
        seqs, n, protected = seqs // group, tokens_attn - intra_r, prot_out
    plan = TokenPlan(layers=tuple(layers), num_frames=T, tokens_per_frame=tokens_per_frame)
    log.debug("TempMe token plan for %s:\n%s", config.arch, plan.table())
    return plan
