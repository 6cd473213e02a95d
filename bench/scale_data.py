"""Synthetic embedding libraries for the scale benchmarks, on disk, with cached exact ground truth.

Two generators of unit vectors (D = 512, ViT-B/32's width), both written in chunks to a
memory-mapped ``vectors.npy`` (never whole in RAM):

``clustered`` (the hard one; bench/search.py's, and docs/scale.md's first table)
    N/50 random centres uniform on the sphere, each vector a centre plus isotropic Gaussian
    noise of norm ~1. Noise as large as the centre spreads a vector's true neighbours over many
    Voronoi cells of a k-means quantizer, and the isotropic spectrum gives PQ nothing to
    exploit: the worst case for IVF-PQ, far from real embeddings.

``clip`` (the realistic one)
    ``x = normalise(c * mu + U diag(sqrt(lam)) z)``, z ~ N(0, I_D):

    - a common mean direction ``mu`` (a random unit vector) with offset ``c``: CLIP's
      embeddings of one modality sit in a narrow cone ("Mind the Gap", Liang et al., NeurIPS
      2022, Sec. 3: the cone effect), on an ellipsoid shell whose centre is away from the
      origin (Levi & Gilboa, "The Double-Ellipsoid Geometry of CLIP", ICML 2025: a vector's
      mean cosine to the others equals its cosine to the modality mean). The brief's range for
      the mean cosine between random CLIP ViT-B/32 image embeddings is 0.4-0.6; with
      E|y|^2 = 1 the expected cosine between two vectors is c^2 / (c^2 + 1), so the default
      ``c = 1`` gives ~0.5 (:func:`describe` measures it: 0.50).
    - an anisotropic part with power-law eigenvalues ``lam_i ~ i**-alpha`` (i = 1..D, summing
      to 1) in a random orthonormal basis U (so no axis is special, as in a trained
      projection). ``alpha = 1`` gives a participation ratio (sum lam)^2 / sum lam^2 of ~28
      effective dimensions out of 512, the order of the intrinsic dimension reported for CLIP
      features (tens, not hundreds), while every one of the 512 dimensions carries some
      variance (PCA of CLIP embeddings needs hundreds of components for ~95 % of the energy).
    - topics and videos: the mean-plus-spectrum part above is a *topic centre* (N / topic_size
      of them); around it a video's segments vary in a ``rank``-dimensional local subspace of
      the topic (``local`` of the variance; ``video_share`` of it is the video's, shared by its
      ``per_video`` consecutive rows, the rest the segment's), plus full-rank isotropic
      ``noise``. Real libraries have semantic clusters and near-duplicate segments of one video;
      :func:`describe` reports the local intrinsic dimension (Levina-Bickel MLE on the 10
      nearest neighbours: ~24 here) of both generators, so the difficulty is a measured number.

    Not reproduced: the modality gap (text queries sit in another cone). Queries here are
    image-side vectors, as are the tuner's (it samples the library's own stored vectors).

Queries are held-out draws from the same generator (``queries.npy``, never in the library), as
a new video's segments would be. Ground truth: exact top-``k`` by inner product (``gt_ids.npy``
(Q, k) int64 row numbers, ``gt_scores.npy``), computed over the memory-mapped vectors in chunks
of ``CHUNK`` rows (``faiss.contrib.exhaustive_search.knn_ground_truth``, a heap merge) and cached
in the folder with the parameters in ``meta.json``.

Storage: ``--dtype float16`` (2 bytes a component: 10^7 x 512 is 10.2 GB) or ``float32`` (20.5
GB). With float16 the library *is* the rounded vectors: ground truth and re-ranking use the
same float16 values widened to float32, so ground truth stays exact. Every chunk comes from its
own seed (``SeedSequence([seed, chunk])``), so :func:`regenerate` reproduces the float32 rows
exactly, which is how the float16 score error is measured.

    python bench/scale_data.py --gen clip --n 10000000 --dtype float16 --dir /work/scale-data/clip-1e7
    python bench/scale_data.py --describe --dir /work/scale-data/clip-1e6
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.exhaustive_search import knn_ground_truth

log = logging.getLogger(__name__)

CHUNK = 100_000  # rows (a multiple of every per_video used) generated / scanned at a time (a float32 chunk is 205 MB at D = 512)


@dataclass(frozen=True)
class GenSpec:
    """Everything that defines a synthetic library (saved as ``meta.json`` beside it)."""

    gen: str  # "clip" | "clustered"
    n: int
    dim: int = 512
    dtype: str = "float32"
    queries: int = 1000
    k: int = 100  # ground-truth depth (recall@10 needs 10; re-ranking studies use more)
    seed: int = 0
    alpha: float = 1.0  # clip: eigenvalue decay lam_i ~ i**-alpha
    offset: float = 1.245  # clip: c, the mean direction's norm; c^2 = 1 + local + noise gives mean cosine 0.5
    topic_size: int = 2000  # clip: segments per topic (N / topic_size topic centres)
    rank: int = 24  # clip: dimension of a topic's local subspace (where its videos and segments vary)
    local: float = 0.5  # clip: E|within-topic part|^2 (the topic centre part has 1)
    video_share: float = 0.7  # clip: share of the local variance that is the video's (the rest, the segment's)
    noise: float = 0.05  # clip: E|isotropic noise|^2 (full rank)
    per_video: int = 10  # clip: consecutive rows that are segments of one video
    per_cluster: int = 50  # clustered: vectors per centre
    spread: float = 1.0  # clustered: noise norm

    def __post_init__(self) -> None:
        if self.gen not in ("clip", "clustered"):
            raise ValueError(f"unknown generator {self.gen!r}: expected 'clip' or 'clustered'")
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be float16 or float32, got {self.dtype!r}")
        if self.n < 1 or self.dim < 1 or self.queries < 1 or self.k < 1:
            raise ValueError(f"n, dim, queries and k must be positive: {self}")


class ClipGenerator:
    """The ``clip`` generator (module docstring); ``chunk(i, rows)`` is a pure function of the
    spec and ``i`` (``rows`` a multiple of ``per_video`` except at the end)."""

    POOL = 64  # distinct topic subspaces (topic t uses subspace t % POOL, rotated by its own signs)

    def __init__(self, spec: GenSpec):
        self.spec = spec
        d = spec.dim
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 10**9]))
        basis, _ = np.linalg.qr(rng.standard_normal((d, d)))  # (D, D) orthonormal
        lam = np.arange(1, d + 1, dtype=np.float64) ** -spec.alpha
        lam /= lam.sum()  # E|topic centre|^2 = 1
        self.lam = lam
        mix = (np.sqrt(lam)[:, None] * basis.T).astype(np.float32)  # (D, D): z @ mix ~ N(0, U L U^T)
        mu = rng.standard_normal(d)
        self.mu = (spec.offset * mu / np.linalg.norm(mu)).astype(np.float32)
        n_topics = max(-(-(spec.n + spec.queries) // spec.topic_size), 1)
        self.topics = rng.standard_normal((n_topics, d), dtype=np.float32) @ mix + self.mu  # (K, D)
        pool = rng.standard_normal((self.POOL, d, spec.rank))
        # (P, r, D): orthonormal rows, scaled so that E|a @ sub|^2 = local for a ~ N(0, I_r)
        self.subspaces = np.stack([np.linalg.qr(b)[0].T for b in pool]).astype(np.float32)
        self.subspaces *= np.float32(np.sqrt(spec.local / spec.rank))

    def chunk(self, i: int, rows: int) -> np.ndarray:
        """(rows, D) float32 unit vectors of chunk ``i``: videos of ``per_video`` segments."""
        spec = self.spec
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, i]))
        videos = -(-rows // spec.per_video)
        topic = rng.integers(0, len(self.topics), videos)  # (V,)
        f = spec.video_share
        a = np.sqrt(f) * rng.standard_normal(
            (videos, spec.rank), dtype=np.float32
        )  # (V, r) a video's place in its topic
        a = np.repeat(a, spec.per_video, axis=0)[:rows]  # (rows, r)
        a += np.sqrt(1 - f) * rng.standard_normal((rows, spec.rank), dtype=np.float32)  # a segment's, around it
        seg_topic = np.repeat(topic, spec.per_video)[:rows]
        x = np.repeat(self.topics[topic], spec.per_video, axis=0)[:rows]  # (rows, D)
        pool = seg_topic % self.POOL
        for p in range(self.POOL):  # (n_p, r) @ (r, D): each subspace's rows at once
            rows_p = np.flatnonzero(pool == p)
            x[rows_p] += a[rows_p] @ self.subspaces[p]
        x += rng.standard_normal((rows, spec.dim), dtype=np.float32) * np.float32(np.sqrt(spec.noise / spec.dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


class ClusteredGenerator:
    """The ``clustered`` generator (bench/search.py's ``clustered``: centre + isotropic noise)."""

    def __init__(self, spec: GenSpec):
        self.spec = spec
        n_centres = max((spec.n + spec.queries) // spec.per_cluster, 1)
        c = np.random.default_rng(np.random.SeedSequence([spec.seed, 10**9])).standard_normal(
            (n_centres, spec.dim), dtype=np.float32
        )
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)

    def chunk(self, i: int, rows: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.spec.seed, i]))
        x = self.centres[rng.integers(0, len(self.centres), rows)]
        x = x + rng.standard_normal((rows, self.spec.dim), dtype=np.float32) * (
            self.spec.spread / np.sqrt(self.spec.dim)
        )
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def generator(spec: GenSpec) -> ClipGenerator | ClusteredGenerator:
    return ClipGenerator(spec) if spec.gen == "clip" else ClusteredGenerator(spec)


QUERY_CHUNK = 2**31 - 1  # the chunk index the held-out queries come from (no library chunk has it)


def regenerate(spec: GenSpec, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of the library exactly as generated (float32, before storage)."""
    gen = generator(spec)
    out = []
    for c in range(start // CHUNK, (stop - 1) // CHUNK + 1):
        a = c * CHUNK
        rows = gen.chunk(c, min(CHUNK, spec.n - a))
        out.append(rows[max(start - a, 0) : stop - a])
    return np.concatenate(out)


def regenerate_rows(spec: GenSpec, rows: np.ndarray) -> np.ndarray:
    """(len(rows), D) float32: the given rows exactly as generated (each chunk made once)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), spec.dim), np.float32)
    gen = generator(spec)
    for c in np.unique(rows // CHUNK):
        sel = np.flatnonzero(rows // CHUNK == c)
        out[sel] = gen.chunk(int(c), min(CHUNK, spec.n - int(c) * CHUNK))[rows[sel] - c * CHUNK]
    return out


@dataclass(frozen=True)
class Dataset:
    """A generated library in ``folder``: vectors (N, D) memory-mapped, queries (Q, D) float32,
    ground truth row numbers (Q, k) int64 and scores (Q, k) float32."""

    folder: Path
    spec: GenSpec

    @property
    def vectors_path(self) -> Path:
        return self.folder / "vectors.npy"

    def vectors(self) -> np.ndarray:
        return np.load(self.vectors_path, mmap_mode="r")

    def queries(self) -> np.ndarray:
        return np.load(self.folder / "queries.npy")

    def gt(self) -> tuple[np.ndarray, np.ndarray]:
        return np.load(self.folder / "gt_scores.npy"), np.load(self.folder / "gt_ids.npy")

    def chunks(self, size: int = CHUNK):
        """(start, (n, D) float32) for every chunk of stored rows, in order."""
        vecs = self.vectors()
        for a in range(0, len(vecs), size):
            yield a, np.ascontiguousarray(vecs[a : a + size], dtype=np.float32)


def make(spec: GenSpec, folder: Path) -> Dataset:
    """Generate (or reuse, when ``meta.json`` matches) the library, its queries and ground truth."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / "meta.json"
    ds = Dataset(folder, spec)
    if meta.is_file():
        saved = json.loads(meta.read_text())
        if GenSpec(**saved["spec"]) != spec:
            raise ValueError(f"{folder} holds another library ({saved['spec']}); use another --dir")
        if saved.get("complete"):
            return ds
    gen = generator(spec)
    info: dict = {"spec": asdict(spec)}
    t0 = time.perf_counter()
    out = np.lib.format.open_memmap(ds.vectors_path, mode="w+", dtype=spec.dtype, shape=(spec.n, spec.dim))
    for c, a in enumerate(range(0, spec.n, CHUNK)):
        out[a : a + CHUNK] = gen.chunk(c, min(CHUNK, spec.n - a))
        if c % 20 == 19:
            log.info("generated %d / %d rows", a + CHUNK, spec.n)
    out.flush()
    del out
    info["generate_s"] = time.perf_counter() - t0
    q = gen.chunk(QUERY_CHUNK, spec.queries)
    np.save(folder / "queries.npy", q)
    t0 = time.perf_counter()
    scores, ids = knn_ground_truth(q, (x for _, x in ds.chunks()), spec.k, metric_type=faiss.METRIC_INNER_PRODUCT)
    info["ground_truth_s"] = time.perf_counter() - t0
    np.save(folder / "gt_scores.npy", scores.astype(np.float32))
    np.save(folder / "gt_ids.npy", ids.astype(np.int64))
    info["complete"] = True
    meta.write_text(json.dumps(info, indent=1))
    return ds


def load(folder: Path) -> Dataset:
    saved = json.loads((Path(folder) / "meta.json").read_text())
    if not saved.get("complete"):
        raise ValueError(f"{folder}: generation did not finish; run bench/scale_data.py again")
    return Dataset(Path(folder), GenSpec(**saved["spec"]))


def describe(ds: Dataset, *, sample: int = 2000, seed: int = 0) -> dict:
    """Statistics of a library that can be compared with real embeddings: mean cosine between
    random pairs, participation ratio of the covariance spectrum, local intrinsic dimension
    (Levina-Bickel MLE on the 10 nearest neighbours of the held-out queries, from the ground
    truth), and the float16 storage error when the library is stored in float16."""
    rng = np.random.default_rng(seed)
    vecs = ds.vectors()
    rows = np.sort(rng.choice(len(vecs), min(sample, len(vecs)), replace=False))
    x = np.asarray(vecs[rows], dtype=np.float64)
    cos = x @ x.T
    off = cos[~np.eye(len(x), dtype=bool)]
    lam = np.linalg.eigvalsh(np.cov(x.T))[::-1]
    gt_scores, _ = ds.gt()
    d = np.sqrt(np.maximum(2 - 2 * gt_scores[:, :10].astype(np.float64), 1e-12))  # unit vectors: L2 from IP
    lid = 1.0 / np.mean(np.log(d[:, -1:] / d[:, :-1]), axis=1)
    out = {
        "mean_cos": float(off.mean()),
        "cos_p5_p95": [float(np.percentile(off, 5)), float(np.percentile(off, 95))],
        "participation_ratio": float(lam.sum() ** 2 / (lam**2).sum()),
        "components_for_90pct": int(np.searchsorted(np.cumsum(lam) / lam.sum(), 0.9) + 1),
        "lid_mle_k10": float(np.median(lid)),
        "top1_cos_median": float(np.median(gt_scores[:, 0])),
        "top10_cos_median": float(np.median(gt_scores[:, 9])),
    }
    # float16 storage: score error against float32 on the queries' 100 exact candidates, and
    # how often re-ranking those candidates with float16 rows changes the top 10
    _, gt_ids = ds.gt()
    q = ds.queries()
    nq = min(len(q), 200)
    errs, same = [], []
    wanted = np.unique(gt_ids[:nq])
    if ds.spec.dtype == "float16":  # the float32 rows as generated
        original = regenerate_rows(ds.spec, wanted)
    for i in range(nq):
        rows = np.sort(gt_ids[i])
        if ds.spec.dtype == "float16":
            f32 = original[np.searchsorted(wanted, rows)]
            f16 = np.asarray(vecs[rows], dtype=np.float32)
        else:
            f32 = np.asarray(vecs[rows], dtype=np.float32)
            f16 = f32.astype(np.float16).astype(np.float32)
        s32, s16 = f32 @ q[i], f16 @ q[i]
        errs.append(np.abs(s32 - s16))
        same.append(len(set(rows[np.argsort(-s32)[:10]]) & set(rows[np.argsort(-s16)[:10]])) / 10)
    errs = np.concatenate(errs)
    out["float16_score_err_max"] = float(errs.max())
    out["float16_score_err_p99"] = float(np.percentile(errs, 99))
    out["float16_top10_agreement"] = float(np.mean(same))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gen", choices=["clip", "clustered"], default="clip")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float32")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=1.0)
    for f in ("offset", "topic_size", "rank", "local", "video_share", "noise", "per_video"):
        ap.add_argument("--" + f.replace("_", "-"), type=type(getattr(GenSpec, f)), default=getattr(GenSpec, f))
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--describe", action="store_true", help="print the statistics of an existing library")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    faiss.omp_set_num_threads(args.threads)
    if args.describe:
        print(json.dumps(describe(load(args.dir)), indent=1))
        return
    spec = GenSpec(
        args.gen,
        args.n,
        args.dim,
        args.dtype,
        args.queries,
        args.k,
        alpha=args.alpha,
        **{f: getattr(args, f) for f in ("offset", "topic_size", "rank", "local", "video_share", "noise", "per_video")},
    )
    ds = make(spec, args.dir)
    print(json.loads((ds.folder / "meta.json").read_text()))


if __name__ == "__main__":
    main()
