"""Query latency and recall of the library's FAISS index: exact (flat) against IVF, same run.

For each size N (default 1e5 and 1e6 stored unit vectors of width D = 512, ViT-B/32's): p50
and p99 milliseconds per single query (batch 1, as the app searches) for exact inner-product
search and for IVF at each ``--nprobe``, and IVF recall@10 against exact search.
Vectors are clustered (Gaussian blobs, ~50 per random centre) so that recall is meaningful;
queries come from the same distribution and are not stored. Text encoding time per query is
measured separately with the text tower of ``--text-model`` (random weights).

    python bench/search.py [--sizes 100000 1000000] [--queries 200] [--nprobe 32 64 128] [--nlist L] [--json]
    python bench/search.py --sizes 20000 --queries 50 --text-model tempme-tiny   # quick check

Target on a 2-core CPU at 1e6 vectors: IVF p50 < 10 ms per query with recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
from tempme.index import IndexParams
from tempme.index.vectors import VectorIndex


def clustered(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    """(n, dim) float32 unit vectors: a random centre plus Gaussian noise of norm ~``spread``."""
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 100_000):  # chunks keep the float temporaries small
        b = min(n, a + 100_000)
        x = centres[rng.integers(0, len(centres), b - a)]
        x = x + rng.standard_normal((b - a, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def latencies_ms(index: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query wall times (ms) at batch 1, and the (Q, k) ids found."""
    index.search(queries[:1], k)  # warm-up
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return np.array(times), np.stack(ids)


def text_encode_ms(model: str, repeats: int) -> float:
    import torch
    from tempme.index.ingest import load
    from tempme.index.query import QueryEncoder

    enc = load(model, "none")
    times = []
    torch.set_num_threads(1)  # as `tempme search` and `tempme serve` run the text tower
    query = QueryEncoder(lambda: enc)  # the library's own query path (unique texts: no cache hits)
    query.encode("warm up")
    for i in range(repeats):
        t0 = time.perf_counter()
        query.encode(f"a dog catching a frisbee on the beach {i}")
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def run(
    sizes: list[int],
    dim: int,
    n_queries: int,
    k: int,
    nprobes: list[int],
    per_cluster: int,
    spread: float,
    seed: int,
    nlist: int | None = None,
) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        # the same difficulty at every size: about ``per_cluster`` vectors around each centre
        centres = np.random.default_rng(seed + 1).standard_normal((max(n // per_cluster, 1), dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        vecs = clustered(n, dim, centres, rng, spread)
        queries = clustered(n_queries, dim, centres, rng, spread)
        ids = np.arange(n, dtype=np.int64)
        t0 = time.perf_counter()
        exact = VectorIndex.build(vecs, ids, dim, IndexParams(ivf_threshold=n + 1))
        exact_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        ivf = VectorIndex.build(vecs, ids, dim, IndexParams(ivf_threshold=1, nprobe=nprobes[0], nlist=nlist))
        ivf_build = time.perf_counter() - t0
        del vecs
        t_exact, i_exact = latencies_ms(exact, queries, k)
        base = {
            "n": n,
            "index": "exact",
            "p50_ms": float(np.percentile(t_exact, 50)),
            "p99_ms": float(np.percentile(t_exact, 99)),
            "recall_at_10": 1.0,
            "build_s": exact_build,
            "speedup_p50": 1.0,
        }
        rows.append(base)
        for nprobe in nprobes:
            ivf.params = IndexParams(ivf_threshold=1, nprobe=nprobe, nlist=nlist)
            ivf._set_nprobe()
            t_ivf, i_ivf = latencies_ms(ivf, queries, k)
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(i_ivf, i_exact)]))
            p50 = float(np.percentile(t_ivf, 50))
            rows.append(
                {
                    "n": n,
                    "index": f"ivf{IndexParams(nlist=nlist).nlist_for(n)},nprobe={nprobe}",
                    "p50_ms": p50,
                    "p99_ms": float(np.percentile(t_ivf, 99)),
                    "recall_at_10": recall,
                    "build_s": ivf_build,
                    "speedup_p50": base["p50_ms"] / p50,
                }
            )
        del exact, ivf
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, IndexParams().nprobe])
    ap.add_argument("--nlist", type=int, default=None, help="IVF lists (default: the library's, 4 sqrt(N))")
    ap.add_argument("--per-cluster", type=int, default=50, help="stored vectors per cluster centre")
    ap.add_argument("--spread", type=float, default=1.0, help="noise norm around a centre")
    ap.add_argument("--text-model", default="ViT-B-32", help="text tower timed for query encoding ('' to skip)")
    ap.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0: FAISS default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    rows = run(
        args.sizes, args.dim, args.queries, args.k, args.nprobe, args.per_cluster, args.spread, args.seed, args.nlist
    )
    text_ms = text_encode_ms(args.text_model, 20) if args.text_model else None
    if args.json:
        print(
            json.dumps(
                {
                    "rows": rows,
                    "text_encode_ms_p50": text_ms,
                    "text_model": args.text_model,
                    "dim": args.dim,
                    "queries": args.queries,
                }
            )
        )
        return
    print(f"FAISS search, D={args.dim}, {args.queries} single queries, k={args.k}")
    print(f"{'N':>9}  {'index':<22} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9} {'build s':>8} {'p50 speed-up':>12}")
    for r in rows:
        sp = f"{r['speedup_p50']:.1f}x"
        print(
            f"{r['n']:>9}  {r['index']:<22} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['recall_at_10']:9.3f} "
            f"{r['build_s']:8.1f} {sp:>12}"
        )
    if text_ms is not None:
        print(
            f"text encoding ({args.text_model}, random weights): p50 {text_ms:.1f} ms per query "
            f"(add to the search latency above)"
        )


if __name__ == "__main__":
    main()
