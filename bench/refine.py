"""Refine an example with text: which text weight finds "this scene, but at night"? Planted vectors.

    .venv/bin/python bench/refine.py                  # the grid of settings, w = 0 .. 1
    .venv/bin/python bench/refine.py --queries 2000 --seed 1

No CLIP weights can be downloaded here, so the experiment plants vectors with the geometry that
makes the weight matter (CLIP's modality gap, Liang et al., NeurIPS 2022): every image / video
vector leans on one shared direction ``m_v`` and every text vector on another, ``m_t``; a scene
is a content direction ``c_k`` plus an attribute direction ``a_j`` (day, night, rain ...):

    video   v = normalise(g m_v + alpha c_k + beta a_j + sigma n)          (R per (k, j))
    example e = normalise(g m_v + alpha c_k* + beta a_j0 + sigma n')       (a new instance)
    text    t = normalise(g_t m_t + gamma a_j1 + sigma_t n'')              ("... at night")

with m_t . m_v = mu. Defaults give CLIP-like cosines: image-video 0.5 when unrelated, 0.75 for
the same content, 0.85 for the same scene; text-video 0.18 when unrelated. What varies
(the grid): ``beta^2``, how strongly an attribute shows in a video vector, and the text's gain on
a matching video (``delta`` = text-video cosine of a match minus an unrelated one, 0.06 .. 0.15),
and ``alpha^2``, how strongly the content does.

Relevant: the R videos with the example's content k* *and* the text's attribute j1 (j1 != j0).
Reported per setting (``alpha^2``, ``beta^2``, ``delta`` varied): R@1 of ``refine_query(e, t, w)``
(tempme/refine.py) for w from 0 (example only) to 1 (text only), plain and with library scales
(a sample of 1,024 video vectors as ``reference``), each setting's best w, and the w whose worst
loss of R@1 against each setting's best is smallest (the default's justification).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tempme.refine import DEFAULT_TEXT_WEIGHT, refine_query

WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


@dataclass(frozen=True)
class World:
    dim: int = 512
    contents: int = 100  # K
    attributes: int = 8  # J
    per_scene: int = 3  # R videos per (content, attribute)
    g2: float = 0.5  # image-side shared direction (unrelated image-video cosine)
    alpha2: float = 0.25  # content
    beta2: float = 0.1  # attribute, in images and videos
    mu: float = 0.36  # m_t . m_v: unrelated text-video cosine = g * g_t * mu
    gt2: float = 0.5  # text-side shared direction
    delta: float = 0.1  # text gain on a video with its attribute: gamma * beta


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build(world: World, rng: np.random.Generator):
    D = world.dim
    basis = np.linalg.qr(rng.standard_normal((D, world.contents + world.attributes + 2)))[0].T  # orthonormal rows
    m_v, m_perp = basis[0], basis[1]
    m_t = world.mu * m_v + np.sqrt(1 - world.mu**2) * m_perp  # m_t . m_v = mu
    c = basis[2 : 2 + world.contents]
    a = basis[2 + world.contents :]
    g, al, be = np.sqrt(world.g2), np.sqrt(world.alpha2), np.sqrt(world.beta2)
    sigma = np.sqrt(max(1.0 - world.g2 - world.alpha2 - world.beta2, 1e-6))
    gt = np.sqrt(world.gt2)
    gamma = world.delta / be
    sigma_t = np.sqrt(max(1.0 - world.gt2 - gamma**2, 1e-6))

    def image(k: np.ndarray, j: np.ndarray) -> np.ndarray:
        noise = unit(rng.standard_normal((len(k), D)))
        return unit(g * m_v + al * c[k] + be * a[j] + sigma * noise)

    def text(j: np.ndarray) -> np.ndarray:
        noise = unit(rng.standard_normal((len(j), D)))
        return unit(gt * m_t + gamma * a[j] + sigma_t * noise)

    scenes = np.array(list(itertools.product(range(world.contents), range(world.attributes))))
    scenes = np.repeat(scenes, world.per_scene, axis=0)  # (K*J*R, 2)
    videos = image(scenes[:, 0], scenes[:, 1])  # (N, D)
    return videos, scenes, image, text


def evaluate(world: World, queries: int, seed: int, sample: int = 1024) -> dict:
    """R@1 / R@5 for every w in WEIGHTS, plain sum and with library scales (a random sample of
    ``sample`` video vectors as the reference)."""
    rng = np.random.default_rng(seed)
    videos, scenes, image, text = build(world, rng)
    k = rng.integers(0, world.contents, queries)
    j0 = rng.integers(0, world.attributes, queries)
    j1 = (j0 + rng.integers(1, world.attributes, queries)) % world.attributes  # another attribute
    e, t = image(k, j0), text(j1)
    relevant = (scenes[None, :, 0] == k[:, None]) & (scenes[None, :, 1] == j1[:, None])  # (Q, N)
    reference = videos[rng.choice(len(videos), min(sample, len(videos)), replace=False)]
    stats = {
        "image-video same scene": float(np.mean(np.sum(e * image(k, j0), axis=1))),
        "image-video same content": float(np.mean(np.sum(e * image(k, j1), axis=1))),
        "image-video unrelated": float(np.mean(e @ videos[:200].T)),
        "text-video match": float(np.mean(np.sum(t * image(k, j1), axis=1))),
        "text-video unrelated": float(np.mean(t @ videos[:200].T)),
    }
    out = {"stats": stats}
    for variant, ref in (("plain", None), ("scaled", reference)):
        r1, r5 = [], []
        for w in WEIGHTS:
            q = refine_query(e, t, float(w), reference=ref)  # (Q, D)
            scores = q @ videos.T  # (Q, N)
            top5 = np.argpartition(-scores, 5, axis=1)[:, :5]
            top = np.take_along_axis(top5, np.argsort(-np.take_along_axis(scores, top5, axis=1), axis=1), axis=1)
            hit = np.take_along_axis(relevant, top, axis=1)
            r1.append(float(hit[:, 0].mean()))
            r5.append(float(hit.any(axis=1).mean()))
        out[variant] = (np.array(r1), np.array(r5))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    grid = [(a, b, d) for a in (0.15, 0.25, 0.35) for b in (0.05, 0.1, 0.2) for d in (0.06, 0.1, 0.15)]
    results = {key: evaluate(World(alpha2=key[0], beta2=key[1], delta=key[2]), args.queries, args.seed) for key in grid}
    print("cosines of the middle setting (alpha^2 0.25, beta^2 0.1, delta 0.1):")
    for name, v in results[(0.25, 0.1, 0.1)]["stats"].items():
        print(f"  {name:26s} {v:.3f}")
    shown = WEIGHTS[[0, *range(4, 19, 2), 20]]  # 0, 0.2 .. 0.9, 1
    cols = [int(np.flatnonzero(WEIGHTS == w)[0]) for w in shown]
    for variant in ("plain", "scaled"):
        print(
            f"\n{variant}: R@1 of refine_query(example, text, w{', reference=library sample' if variant == 'scaled' else ''})"
            f" ({args.queries} queries per setting, seed {args.seed})\n"
        )
        header = "| alpha^2 | beta^2 | delta | " + " | ".join(f"w={w:.1f}" for w in shown) + " | best w (R@1) |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        shortfall, mean = np.zeros(len(WEIGHTS)), np.zeros(len(WEIGHTS))
        for (a2, b2, d), res in results.items():
            r1 = res[variant][0]
            best = int(np.argmax(r1))
            shortfall = np.maximum(shortfall, r1[best] - r1)
            mean += r1 / len(results)
            cells = " | ".join(f"{r1[c]:.2f}" for c in cols)
            print(f"| {a2:.2f} | {b2:.2f} | {d:.2f} | {cells} | {WEIGHTS[best]:.2f} ({r1[best]:.2f}) |")
        robust = min(range(len(WEIGHTS)), key=lambda i: (round(shortfall[i], 2), -mean[i]))
        print(
            "\nworst loss of R@1 against each setting's best, by w: "
            + ", ".join(f"{w:.2f}: {s:.2f}" for w, s in zip(WEIGHTS, shortfall) if 0.3 <= w <= 0.9)
        )
        print(
            "mean R@1 over the settings, by w: "
            + ", ".join(f"{w:.2f}: {m:.3f}" for w, m in zip(WEIGHTS, mean) if 0.3 <= w <= 0.9)
        )
        print(
            f"{variant}: the most robust w is {WEIGHTS[robust]:.2f} (worst loss {shortfall[robust]:.2f}, mean R@1 {mean[robust]:.3f})"
        )
    print(f"\ntempme.refine.DEFAULT_TEXT_WEIGHT = {DEFAULT_TEXT_WEIGHT} (used with library scales)")


if __name__ == "__main__":
    main()
