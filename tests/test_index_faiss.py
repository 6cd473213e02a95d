"""VectorIndex against brute-force numpy: exact search, IVF recall, persistence, removal."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from tempme.index import IndexParams
from tempme.index.vectors import VectorIndex, checksum


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``clusters`` fixed centres (the same centres for every seed)."""
    centres = unit(np.random.default_rng(1234).normal(size=(clusters, d)))
    rng = np.random.default_rng(seed)
    return unit(centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, d)) / np.sqrt(d))


def brute(vecs, ids, q, k):
    s = q @ vecs.T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), ids[order]


def test_flat_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng.normal(size=(3000, 32)))
    ids = rng.permutation(10_000)[:3000].astype(np.int64) + 5
    index = VectorIndex.build(vecs, ids, 32)
    assert index.kind == "flat" and index.ntotal == 3000
    q = unit(rng.normal(size=(20, 32)))
    scores, got = index.search(q, 10)
    ref_s, ref_i = brute(vecs, ids, q, 10)
    np.testing.assert_array_equal(got, ref_i)
    np.testing.assert_allclose(scores, ref_s, atol=1e-5)


def test_ivf_past_threshold_has_high_recall_and_nprobe_matters() -> None:
    vecs = clustered(20_000, 32, 200)
    ids = np.arange(20_000, dtype=np.int64) * 3
    params = IndexParams(ivf_threshold=10_000, nprobe=16)
    index = VectorIndex.build(vecs, ids, 32, params)
    assert index.kind == "ivf"
    q = clustered(100, 32, 200, seed=5)
    _, exact = brute(vecs, ids, q, 10)
    _, got = index.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
    assert recall >= 0.95
    low = VectorIndex.build(vecs, ids, 32, IndexParams(ivf_threshold=10_000, nprobe=1))
    _, got1 = low.search(q, 10)
    recall1 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got1, exact)])
    assert recall1 < recall


def test_sq8_past_second_threshold() -> None:
    vecs = clustered(5000, 16, 50)
    ids = np.arange(5000, dtype=np.int64)
    index = VectorIndex.build(vecs, ids, 16, IndexParams(ivf_threshold=1000, sq_threshold=2000, nprobe=64))
    assert index.kind == "ivf-sq8"
    _, got = index.search(vecs[:50], 1)
    assert (got[:, 0] == ids[:50]).mean() >= 0.9


def test_save_load_remove_roundtrip(tmp_path) -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng.normal(size=(500, 16)))
    ids = np.arange(100, 600, dtype=np.int64)
    index = VectorIndex.build(vecs, ids, 16)
    assert index.remove(ids[:100]) == 100
    path = tmp_path / "v.faiss"
    index.save(path)
    assert not list(tmp_path.glob(".*tmp*"))
    back = VectorIndex.load(path)
    assert checksum(back.ids()) == checksum(ids[100:]) != checksum(ids)
    q = unit(rng.normal(size=(5, 16)))
    _, got = back.search(q, 5)
    _, ref = brute(vecs[100:], ids[100:], q, 5)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(back.reconstruct(int(ids[200])), vecs[200], atol=1e-6)


def test_fewer_vectors_than_k_and_bad_shapes() -> None:
    index = VectorIndex.build(unit(np.ones((3, 4))), np.arange(3), 4)
    scores, got = index.search(unit(np.ones((1, 4))), 5)
    assert list(got[0, 3:]) == [-1, -1] and np.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        index.search(np.ones((1, 5), np.float32), 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_search_equals_cpu() -> None:
    import faiss

    if faiss.get_num_gpus() == 0:
        pytest.skip("faiss sees no GPU")
    vecs = clustered(20_000, 64, 100)
    ids = np.arange(20_000, dtype=np.int64) + 7
    for params in (IndexParams(use_gpu=True), IndexParams(ivf_threshold=1000, use_gpu=True)):
        gpu = VectorIndex.build(vecs, ids, 64, params)
        cpu = VectorIndex.build(vecs, ids, 64, IndexParams(**{**params.__dict__, "use_gpu": False}))
        q = vecs[:20]
        gs, gi = gpu.search(q, 10)
        cs, ci = cpu.search(q, 10)
        assert (gi == ci).mean() > 0.97
        np.testing.assert_allclose(gs, cs, atol=1e-3)


def test_search_threads_apply_in_every_searching_thread() -> None:
    """OpenMP's thread count is per thread (its spec: ``omp_set_num_threads`` sets the calling
    thread's nthreads-var): the count a search process chose must reach a pool thread's search."""
    import threading

    import faiss
    from tempme.index.vectors import set_faiss_threads

    before = faiss.omp_get_max_threads()
    rng = np.random.default_rng(0)
    index = VectorIndex.build(unit(rng.standard_normal((20, 8))), np.arange(20, dtype=np.int64), 8)
    seen: dict[str, int] = {}

    def in_a_new_thread() -> None:
        seen["fresh"] = faiss.omp_get_max_threads()
        index.search(unit(rng.standard_normal((1, 8))), 3)
        seen["searched"] = faiss.omp_get_max_threads()

    try:
        set_faiss_threads(1)
        worker = threading.Thread(target=in_a_new_thread)
        worker.start()
        worker.join()
    finally:
        set_faiss_threads(before)
    if (os.cpu_count() or 1) > 1 and "OMP_NUM_THREADS" not in os.environ:
        assert seen["fresh"] > 1  # OpenMP's default in a new thread: why the count is applied per thread
    assert seen["searched"] == 1
