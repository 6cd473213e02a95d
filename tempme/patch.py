"""Patch one open_clip ``CLIP`` instance into a TempMe video encoder.

Only the instance is changed: its vision blocks get ``__class__`` swapped to
:class:`TempMeBlock` and its vision tower to :class:`TempMeVisionTransformer` (which adds
``forward_video``; ``forward`` for images is untouched). Pretrained state dicts load unchanged
before patching; the only new parameters are the zero-initialised clip-temporal embeddings of the
ClipMe layers (``tempme_temporal``, TempMe Sec. 3.3). Written for open_clip 3.x.

TempMe (Shen et al., "TempMe: Video Temporal Token Merging for Efficient Text-Video Retrieval",
ICLR 2025): ImgMe (Sec. 3.2) merges tokens inside each frame after attention in the early
layers; ClipMe (Sec. 3.3) concatenates neighbouring clips, adds clip-temporal embeddings, merges
across clips before attention and within the clip after attention.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import nn

from tempme.config import TempMeConfig
from tempme.merge import bipartite_soft_matching, merge_wavg
from tempme.plan import LayerPlan, TokenPlan, plan_schedule
from tempme.provenance import MergeStage, MergeTrace, initial_source, stages_from_source

# (step, source (B*S, N, P), size (B*S, N, 1) or None) after one merge step, for provenance
Snapshot = tuple[str, torch.Tensor, Optional[torch.Tensor]]


def fused_qkv(attn: nn.Module) -> tuple[torch.Tensor, Optional[torch.Tensor], nn.Module]:
    """The effective fused QKV weight (3C, C), its bias and the underlying ``MultiheadAttention``.

    ``attn`` is either a plain ``nn.MultiheadAttention`` or peft's LoRA ``ParamWrapper`` around
    one (LoRA on ``in_proj_weight``); then the active adapters' ``B @ A`` updates are added.
    """
    if isinstance(attn, nn.MultiheadAttention):
        return attn.in_proj_weight, attn.in_proj_bias, attn
    base = attn.get_base_layer()
    weight = base.in_proj_weight
    if not (attn.merged or attn.disable_adapters):
        for name in attn.active_adapters:
            if name in attn.lora_A:
                weight = weight + attn.get_delta_weight(name)
    return weight, base.in_proj_bias, base


class TempMeBlock(ResidualAttentionBlock):
    """A vision block that executes one :class:`LayerPlan` (set by :func:`apply_tempme`)."""

    tempme_layer: LayerPlan
    tempme_prop_attn: bool

    def _attention(self, x: torch.Tensor, size: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Self-attention with proportional attention; returns (output, key metric).

        Args:
            x: (S, N, C) normalised tokens of S sequences.
            size: (S, N, 1) token sizes, or None when every size is 1.

        Returns:
            (S, N, C) attention output (after the output projection) and the (S, N, C/H)
            keys averaged over heads, ToMe's merge metric.
        """
        weight, bias, mha = fused_qkv(self.attn)
        S, N, C = x.shape
        H = mha.num_heads
        qkv = F.linear(x, weight, bias)  # (S, N, 3C)
        q, k, v = qkv.view(S, N, 3, H, C // H).permute(2, 0, 3, 1, 4)  # 3 x (S, H, N, C/H)
        mask = None
        if size is not None and self.tempme_prop_attn:
            mask = size.log().to(q.dtype).view(S, 1, 1, N)  # log(size) of each key, Sec. 3.2
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (S, H, N, C/H)
        out = out.transpose(1, 2).reshape(S, N, C)  # (S, H, N, C/H) -> (S, N, C)
        out = F.linear(out, mha.out_proj.weight, mha.out_proj.bias)
        return out, k.mean(dim=1)

    def forward_tempme(
        self, x: torch.Tensor, size: Optional[torch.Tensor], source: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor], tuple[Snapshot, ...]]:
        """Run this layer's plan.

        Args:
            x: (B*S_in, N, C) tokens, sequences of one video contiguous and in frame order.
            size: (B*S_in, N, 1) sizes, or None while no merge has happened.
            source: (B*S_in, N, P) 0/1 merge provenance (:mod:`tempme.provenance`), or None
                (off: nothing is tracked). It never changes ``x``.

        Returns:
            (B*S_out, N', C) tokens, their (B*S_out, N', 1) sizes (or None), the propagated
            source (or None), and one ``(step, source, size)`` snapshot per merge step of this
            layer (empty when ``source`` is None or the layer does not merge).
        """
        lp = self.tempme_layer
        snapshots: tuple[Snapshot, ...] = ()
        if lp.group > 1:
            x, size, source = self._concat_clips(x, size, lp, source)
            if source is not None:
                snapshots += (("clipme-cross", source, size),)
        attn_out, keys = self._attention(self.ln_1(x), size)
        x = x + self.ls_1(attn_out)
        if lp.intra_r > 0:
            if size is None:
                size = x.new_ones(x.shape[0], x.shape[1], 1)
            merge = bipartite_soft_matching(keys, lp.intra_r, protected=lp.protected)
            x, size = merge_wavg(merge, x, size)
            if source is not None:
                source = merge(source)  # (B*S, N, P) -> (B*S, N - r, P): rows summed like tokens
        if source is not None and lp.kind != "full":
            snapshots += (("clipme-intra" if lp.kind == "clipme" else lp.kind, source, size),)
        x = x + self.ls_2(self.mlp(self.ln_2(x)))
        return x, size, source, snapshots

    def _concat_clips(
        self, x: torch.Tensor, size: Optional[torch.Tensor], lp: LayerPlan, source: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """ClipMe's first half: concatenate, add clip-temporal embeddings, cross-clip merge
        (applied to ``source`` too when provenance is tracked)."""
        g, p_in = lp.group, lp.protected // lp.group
        SB, N, C = x.shape
        if size is None:
            size = x.new_ones(SB, N, 1)
        metric = x.detach()  # the block's input hidden states, before the temporal embedding
        if lp.temporal_vectors:
            B = SB // lp.seqs_in
            temb = self.tempme_temporal.to(x.dtype)  # (S_in, C)
            # (B*S_in, N, C) -> (B, S_in, N, C) + (1, S_in, 1, C) -> (B*S_in, N, C)
            x = (x.view(B, lp.seqs_in, N, C) + temb.view(1, lp.seqs_in, 1, C)).view(SB, N, C)
        x, metric, size = (_group_sequences(t, g, p_in) for t in (x, metric, size))
        merge = bipartite_soft_matching(metric, lp.cross_r, protected=lp.protected)
        if source is not None:
            source = merge(_group_sequences(source, g, p_in))  # (B*S_in, N, P) -> (B*S_out, g*N - r, P)
        x, size = merge_wavg(merge, x, size)
        return x, size, source


def _group_sequences(t: torch.Tensor, g: int, p: int) -> torch.Tensor:
    """(S*g, N, E) -> (S, g*N, E): the g class-token blocks first, then the g patch blocks."""
    SG, N, E = t.shape
    t = t.view(SG // g, g, N, E)  # (S*g, N, E) -> (S, g, N, E)
    head = t[:, :, :p].reshape(SG // g, g * p, E)  # (S, g*p, E)
    rest = t[:, :, p:].reshape(SG // g, g * (N - p), E)  # (S, g*(N-p), E)
    return torch.cat([head, rest], dim=1)  # (S, g*N, E)


class TempMeVisionTransformer(VisionTransformer):
    """open_clip's ``VisionTransformer`` plus :meth:`forward_video` (set by :func:`apply_tempme`)."""

    tempme_plan: TokenPlan

    def forward_video(self, frames: torch.Tensor, trace: Optional[list] = None) -> torch.Tensor:
        """Encode videos into per-frame class embeddings.

        Args:
            frames: (B, T, 3, H, W) preprocessed frames, T = ``plan.num_frames``.
            trace: if a list, one ``(layer, sequences, tokens, size_sum_per_video)`` tuple per
                layer is appended (for tests and logging of the executed plan).

        Returns:
            (B, T, D) projected class-token embeddings (not normalised), one per frame.

        Raises:
            ValueError: if T differs from the plan's frame count.
        """
        return self._forward_video(frames, trace, provenance=False)[0]

    def forward_video_traced(self, frames: torch.Tensor) -> tuple[torch.Tensor, list[MergeTrace]]:
        """:meth:`forward_video` plus the merge provenance of every video.

        Args:
            frames: (B, T, 3, H, W) preprocessed frames.

        Returns:
            The same (B, T, D) embeddings as :meth:`forward_video` (bit for bit) and one
            :class:`tempme.provenance.MergeTrace` per video, with a stage per planned merge step.
        """
        out, traces = self._forward_video(frames, None, provenance=True)
        return out, traces

    def forward_still(self, images: torch.Tensor) -> torch.Tensor:
        """Encode each image as a still video of T copies, running the per-frame layers once.

        What ``forward_video(images[:, None].expand(-1, T, -1, -1, -1))`` computes: until the
        first layer that concatenates sequences (ClipMe), every frame of a video is its own
        sequence and the T copies of an image stay identical, so those layers run on one copy and
        the result is repeated T times before it (with merging off: through the whole tower, and
        the result equals ``forward_video``'s to float rounding). With merging on, the copies'
        tokens tie exactly in ClipMe's cross-clip matching (each token has a copy, similarity 1),
        and float rounding (which differs with the batch size) decides which pairs merge first:
        the two agree to a cosine of 0.997 or more (ViT-B/32, random weights, noise images),
        not bit for bit, like two encodings of a static shot whose frames differ by noise.

        Args:
            images: (Q, 3, H, W) preprocessed images.

        Returns:
            (Q, T, D) projected class-token embeddings (not normalised), as :meth:`forward_video`.
        """
        Q, T = images.shape[0], self.tempme_plan.num_frames
        x = self._embeds(images)  # (Q, 3, H, W) -> (Q, N0, C)
        size = None
        tiled = False
        for block in self.transformer.resblocks:
            if not tiled and block.tempme_layer.group > 1:
                # (Q, N, C) -> (Q*T, N, C): the T identical sequences of each still video
                x = x.repeat_interleave(T, dim=0)
                size = size.repeat_interleave(T, dim=0) if size is not None else None
                tiled = True
            x, size, _, _ = block.forward_tempme(x, size)
        if self.attn_pool is not None:
            raise ValueError("attentional pooling towers are not supported by TempMe")
        cls = x[:, : self.tempme_plan.layers[-1].protected]  # (Q*S, T/S, C) or (Q, 1, C) untiled
        cls = cls.reshape(Q, -1, cls.shape[-1])  # -> (Q, T, C), or (Q, 1, C) when never tiled
        if not tiled:
            cls = cls.expand(-1, T, -1)  # every frame's class token is the image's
        cls = self.ln_post(cls)
        return cls @ self.proj if self.proj is not None else cls

    def _forward_video(
        self, frames: torch.Tensor, trace: Optional[list], provenance: bool
    ) -> tuple[torch.Tensor, Optional[list[MergeTrace]]]:
        B, T = frames.shape[:2]
        if T != self.tempme_plan.num_frames:
            raise ValueError(f"expected {self.tempme_plan.num_frames} frames per video, got {T}")
        x = self._embeds(frames.flatten(0, 1))  # (B*T, 3, H, W) -> (B*T, N0, C)
        N0 = x.shape[1]
        size = None
        source = initial_source(B, T, N0, x.device) if provenance else None  # (B*T, N0, T*N0)
        stages: list[list[MergeStage]] = [[] for _ in range(B)]
        for i, block in enumerate(self.transformer.resblocks):
            x, size, source, snapshots = block.forward_tempme(x, size, source)
            for step, src, sz in snapshots:
                for b, stage in enumerate(stages_from_source(src, sz, B, T, i, step)):
                    stages[b].append(stage)
            if trace is not None:
                total = float(size.sum()) / B if size is not None else x.shape[0] * x.shape[1] / B
                trace.append((i, x.shape[0] // B, x.shape[1], total))
        cls = x[:, : self.tempme_plan.layers[-1].protected]  # (B*S, T/S, C): class tokens lead
        cls = cls.reshape(B, T, -1)  # (B*S, T/S, C) -> (B, T, C)
        if self.attn_pool is not None:
            raise ValueError("attentional pooling towers are not supported by TempMe")
        cls = self.ln_post(cls)
        out = cls @ self.proj if self.proj is not None else cls
        if not provenance:
            return out, None
        grid = (int(self.grid_size[0]), int(self.grid_size[1]))
        traces = [MergeTrace(T, grid, T * N0, tuple(s)) for s in stages]
        return out, traces


def apply_tempme(model: nn.Module, config: TempMeConfig) -> TokenPlan:
    """Patch ``model`` (an open_clip ``CLIP``) in place and return the executed token plan.

    Raises:
        TypeError: if the vision tower is not open_clip's ``VisionTransformer``.
        ValueError: if the plan is infeasible for the tower's geometry (see ``plan_schedule``).
    """
    visual = model.visual
    if not isinstance(visual, VisionTransformer):
        raise TypeError(f"TempMe needs an open_clip VisionTransformer, got {type(visual).__name__}")
    gh, gw = visual.grid_size
    blocks = visual.transformer.resblocks
    plan = plan_schedule(config, gh * gw + 1, len(blocks))
    width = visual.transformer.width
    for block, lp in zip(blocks, plan.layers):
        if type(block) is not ResidualAttentionBlock and not isinstance(block, TempMeBlock):
            raise TypeError(f"unsupported block type {type(block).__name__}")
        block.__class__ = TempMeBlock
        block.tempme_layer = lp
        block.tempme_prop_attn = config.prop_attn
        if lp.temporal_vectors:
            ref = block.mlp.c_fc.weight
            block.tempme_temporal = nn.Parameter(
                torch.zeros(lp.temporal_vectors, width, device=ref.device, dtype=ref.dtype)
            )
    visual.__class__ = TempMeVisionTransformer
    visual.tempme_plan = plan
    return plan
