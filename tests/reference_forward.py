"""A deliberately plain TempMe video forward, the independent reference for ``tempme.patch``.

Written from the TempMe paper (Shen et al., ICLR 2025, Sec. 3) and DESIGN.md ("TempMe, as the
reference code and paper define it"), with the bipartite split of ToMe / the TempMe reference
code (alternation over the whole sequence, class tokens counted). It shares no code with
``tempme`` beyond reading the weights out of a model: one video at a time, one sequence at a
time, loops over frames, clips, layers and heads, explicit concatenation, its own layer norm,
attention, activations, patch embedding and bipartite matching, all in float64.

Only ``load_weights`` knows about module layouts (open_clip's, peft's LoRA wrapper, the
patched model's ``tempme_temporal``); everything after it works on a plain dict of tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

F64 = torch.float64


@dataclass(frozen=True)
class Schedule:
    """The TempMe settings the reference follows (the paper's names)."""

    tome_r: int  # ImgMe: tokens merged per frame and layer
    clip_groups: tuple[int, ...]  # ClipMe: sequences concatenated per layer
    cross_keep: float  # ClipMe: kept by the cross-clip merge before attention
    intra_keep: float  # ClipMe and the last layer: kept by the merge after attention
    prop_attn: bool = True
    merging: bool = True


# ------------------------------------------------------------------------------------------
# Weights: the only part that knows module layouts.
# ------------------------------------------------------------------------------------------


def load_weights(model: torch.nn.Module) -> dict:
    """Plain float64 tensors of an open_clip CLIP's vision tower, LoRA applied as ``W + B A``.

    Accepts the patched model with peft's LoRA wrapper (``attn.base_layer.in_proj_weight`` and
    ``attn.lora_A.<adapter>.weight`` / ``attn.lora_B.<adapter>.weight``) or a plain / folded
    one (``attn.in_proj_weight``).
    """
    sd = {k: v.detach().to("cpu", F64) for k, v in model.state_dict().items()}
    vis = model.visual
    first = vis.transformer.resblocks[0]
    mha = first.attn if isinstance(first.attn, torch.nn.MultiheadAttention) else first.attn.get_base_layer()
    w = {
        "heads": mha.num_heads,
        "patch": vis.conv1.weight.shape[-1],
        "conv": sd["visual.conv1.weight"],
        "cls": sd["visual.class_embedding"],
        "pos": sd["visual.positional_embedding"],
        "ln_pre": (sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"]),
        "ln_post": (sd["visual.ln_post.weight"], sd["visual.ln_post.bias"]),
        "proj": sd["visual.proj"],
        "layers": [],
    }
    for i, block in enumerate(vis.transformer.resblocks):
        p = f"visual.transformer.resblocks.{i}."
        if p + "attn.in_proj_weight" in sd:
            qkv_w, qkv_b = sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"]
            out_w, out_b = sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"]
        else:
            qkv_w, qkv_b = sd[p + "attn.base_layer.in_proj_weight"], sd[p + "attn.base_layer.in_proj_bias"]
            out_w, out_b = sd[p + "attn.base_layer.out_proj.weight"], sd[p + "attn.base_layer.out_proj.bias"]
            for a_key in [k for k in sd if k.startswith(p + "attn.lora_A.")]:
                b_key = a_key.replace(".lora_A.", ".lora_B.")
                qkv_w = qkv_w + sd[b_key] @ sd[a_key]  # (3C, r) @ (r, C): no alpha scaling
        act = type(block.mlp.gelu).__name__
        assert act in ("QuickGELU", "GELU"), act
        w["layers"].append(
            {
                "ln_1": (sd[p + "ln_1.weight"], sd[p + "ln_1.bias"]),
                "ln_2": (sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]),
                "qkv": (qkv_w, qkv_b),
                "out": (out_w, out_b),
                "fc": (sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]),
                "fc2": (sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"]),
                "act": act,
                "temporal": sd.get(p + "tempme_temporal"),  # (S_in, C) in ClipMe layers, else None
            }
        )
    return w


# ------------------------------------------------------------------------------------------
# Plain building blocks.
# ------------------------------------------------------------------------------------------


def layer_norm(x, wb, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * wb[0] + wb[1]


def activation(x, kind):
    if kind == "QuickGELU":
        return x * torch.sigmoid(1.702 * x)
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # exact GELU


def embed_frame(w, image):
    """(3, H, W) -> (1 + gh*gw, C): class token, then patches in row-major order, + positions."""
    p = w["patch"]
    _, H, W = image.shape
    conv = w["conv"].reshape(w["conv"].shape[0], -1)  # (C, 3*p*p) in (c_in, kh, kw) order
    rows = [w["cls"]]
    for gy in range(H // p):
        for gx in range(W // p):
            patch = image[:, gy * p : (gy + 1) * p, gx * p : (gx + 1) * p].reshape(-1)  # (3*p*p,)
            rows.append(conv @ patch)
    x = torch.stack(rows) + w["pos"]
    return layer_norm(x, w["ln_pre"])


def attention(lw, x, size, heads, prop_attn):
    """One sequence: x (n, C), size (n,) -> (output (n, C), keys averaged over heads (n, C/H))."""
    n, C = x.shape
    d = C // heads
    qkv = x @ lw["qkv"][0].T + lw["qkv"][1]  # (n, 3C)
    q, k, v = qkv[:, :C], qkv[:, C : 2 * C], qkv[:, 2 * C :]
    outs, keys = [], []
    for h in range(heads):
        qh, kh, vh = q[:, h * d : (h + 1) * d], k[:, h * d : (h + 1) * d], v[:, h * d : (h + 1) * d]
        logits = qh @ kh.T / math.sqrt(d)  # (n, n)
        if prop_attn:
            logits = logits + torch.log(size)[None, :]  # log(size) of each key
        outs.append(torch.softmax(logits, dim=-1) @ vh)
        keys.append(kh)
    out = torch.cat(outs, dim=1) @ lw["out"][0].T + lw["out"][1]
    return out, sum(keys) / heads


def mlp(lw, x):
    h = activation(x @ lw["fc"][0].T + lw["fc"][1], lw["act"])
    return h @ lw["fc2"][0].T + lw["fc2"][1]


def merge_one(metric, x, size, r, protected, src=None):
    """ToMe bipartite soft matching on ONE sequence, by the definition.

    Token ``i >= protected`` is in set A when ``i`` is even, else in B. Each A token's edge is
    its most similar B token (cosine of ``metric``); the ``r`` A tokens with the strongest edges
    are averaged (weighted by size) into their B partners. Output order: protected tokens,
    the unmerged A tokens in input order, then the B tokens.

    Args: metric (n, Cm), x (n, C), size (n,); src: optionally, per token the set of original
    (frame, position) tokens it holds. Returns (x (n - r, C), size (n - r,), src (n - r sets) or None).
    """
    n = x.shape[0]
    if r == 0:
        return x, size, src
    set_a = [i for i in range(protected, n) if i % 2 == 0]
    set_b = [i for i in range(protected, n) if i % 2 == 1]
    assert r <= len(set_a), (r, len(set_a))
    unit = metric / metric.norm(dim=-1, keepdim=True)
    b_unit = unit[set_b]  # (|B|, Cm)
    edges = []  # (similarity, a token, its best b token)
    for i in set_a:
        sims = (b_unit @ unit[i]).tolist()  # cosine similarity to every B token
        best = max(range(len(set_b)), key=lambda k: sims[k])
        edges.append((sims[best], i, set_b[best]))
    strongest = sorted(range(len(set_a)), key=lambda k: -edges[k][0])[:r]
    into = {edges[k][1]: edges[k][2] for k in strongest}
    total = {j: x[j] * size[j] for j in set_b}
    weight = {j: size[j].clone() for j in set_b}
    holds = {j: set(src[j]) for j in set_b} if src is not None else {}
    for i, j in into.items():
        total[j] = total[j] + x[i] * size[i]
        weight[j] = weight[j] + size[i]
        if src is not None:
            holds[j] |= src[i]
    order_x = [x[i] for i in range(protected)] + [x[i] for i in set_a if i not in into]
    order_s = [size[i] for i in range(protected)] + [size[i] for i in set_a if i not in into]
    order_x += [total[j] / weight[j] for j in set_b]
    order_s += [weight[j] for j in set_b]
    if src is not None:
        src = [src[i] for i in range(protected)] + [src[i] for i in set_a if i not in into] + [holds[j] for j in set_b]
    return torch.stack(order_x), torch.stack(order_s), src


def removed(n_tokens, keep):
    """Tokens a merge keeping ``keep`` removes: int(n * removed fraction), as the reference code."""
    return int(n_tokens * round(1.0 - keep, 6))


# ------------------------------------------------------------------------------------------
# The forward.
# ------------------------------------------------------------------------------------------


def video_forward(w, frames, sched: Schedule, merges=None):
    """One video: frames (T, 3, H, W) -> per-frame features (T, D), L2-normalised, float64.

    Layers 0 .. L-len(groups)-2: ImgMe (each frame alone, merge tome_r after attention);
    the next len(groups) layers: ClipMe (concatenate ``g`` neighbouring sequences, class tokens
    first; add each incoming sequence's clip-temporal vector; cross-clip merge on the block's
    input hidden states; attention over the clip; intra-clip merge on the keys); last layer:
    one intra merge.

    ``merges``: if a list, one ``(layer, step, groups)`` entry is appended after every merge
    step, ``groups`` a list (sequences in order, tokens in order) of the sets of original
    (frame, position) tokens each token holds (position 0 the class token, then the patches in
    row-major order).
    """
    frames = frames.to(F64)
    T = frames.shape[0]
    heads = w["heads"]
    L = len(w["layers"])
    groups = list(sched.clip_groups) if sched.merging else []
    first_clip = L - 1 - len(groups)
    # one entry per sequence: [x (n, C), size (n,), class tokens at the front, sources per token]
    seqs = []
    for t in range(T):
        x = embed_frame(w, frames[t])
        seqs.append([x, torch.ones(x.shape[0], dtype=F64), 1, [{(t, n)} for n in range(x.shape[0])]])

    def record(layer, step):
        if merges is not None:
            merges.append((layer, step, [set(s) for seq in seqs for s in seq[3]]))

    for li, lw in enumerate(w["layers"]):
        if not sched.merging:
            kind = "full"
        elif li < first_clip:
            kind = "imgme"
        elif li < L - 1:
            kind = "clipme"
        else:
            kind = "last"

        if kind == "clipme":
            g = groups[li - first_clip]
            grouped = []
            for c in range(len(seqs) // g):
                members = seqs[c * g : (c + 1) * g]
                p = members[0][2]
                xs, ms, ss, srcs = [], [], [], []
                for m_i, (x, s, _, src) in enumerate(members):
                    ms.append(x)  # metric: the block's input, before the temporal embedding
                    if lw["temporal"] is not None:
                        x = x + lw["temporal"][c * g + m_i]
                    xs.append(x)
                    ss.append(s)
                    srcs.append(src)
                # class tokens of every member first, then every member's other tokens
                cat = lambda parts: torch.cat([q[:p] for q in parts] + [q[p:] for q in parts])
                x, metric, size = cat(xs), cat(ms), cat(ss)
                src = [h for q in srcs for h in q[:p]] + [h for q in srcs for h in q[p:]]
                n_cat, p_cat = x.shape[0], p * g
                r0 = min(removed(n_cat, sched.cross_keep), (n_cat - p_cat) // 2)
                x, size, src = merge_one(metric, x, size, r0, p_cat, src)
                grouped.append([x, size, p_cat, src])
            seqs = grouped
            record(li, "clipme-cross")

        new = []
        for x, size, p, src in seqs:
            out, keys = attention(lw, layer_norm(x, lw["ln_1"]), size, heads, sched.prop_attn)
            x = x + out
            if kind == "imgme":
                r = sched.tome_r
            elif kind in ("clipme", "last"):
                r = min(removed(x.shape[0], sched.intra_keep), (x.shape[0] - p) // 2)
            else:
                r = 0
            x, size, src = merge_one(keys, x, size, r, p, src)
            x = x + mlp(lw, layer_norm(x, lw["ln_2"]))
            new.append([x, size, p, src])
        seqs = new
        if kind != "full":
            record(li, "clipme-intra" if kind == "clipme" else kind)

    cls = torch.cat([x[:p] for x, _, p, _ in seqs])  # (T, C), frames in order
    feats = layer_norm(cls, w["ln_post"]) @ w["proj"]  # (T, D)
    return feats / feats.norm(dim=-1, keepdim=True)


def reference_encode(model, frames, sched: Schedule):
    """frames (B, T, 3, H, W) -> (per-frame (B, T, D), video (B, D)) float64, one video at a time."""
    w = load_weights(model)
    per_frame = torch.stack([video_forward(w, video, sched) for video in frames])
    video = per_frame.mean(dim=1)
    return per_frame, video / video.norm(dim=-1, keepdim=True)
