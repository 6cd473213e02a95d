"""Vectors at scale (index.vectorscale): factory strings by size, sharded add merged into one
on-disk inverted-list index, memory-mapped search, GPU sharding.

References: a single-process add on the same trained index (same lists, same ids and distances);
exact search by numpy (IVF-Flat probing every list); FAISS's own in-memory read of the same file.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import tempme.index.vectors as vs

DIM = 64


@pytest.fixture(autouse=True, scope="module")
def _one_faiss_thread():
    """One OpenMP thread: on 2 shared, busy cores FAISS's k-means with 2 spinning threads runs
    ~15x slower than with one (measured 10 s vs 0.7 s for this module's training)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


def clustered(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 100, 1), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    x = clustered(12_000)
    ids = np.random.default_rng(1).choice(10**12, len(x), replace=False).astype(np.int64)  # beyond 32 bits
    queries = clustered(40, seed=2)
    return vs.ArraySource(x, ids), queries


@pytest.fixture(scope="module")
def trained_pq(data):
    src, _ = data
    factory = "IVF32,PQ16x4"  # 4-bit codes: cheap to train on 2 busy cores
    return factory, vs.train_empty(factory, vs.training_sample(src, vs.training_size(factory, len(src))))


def test_factory_by_size():
    """The ladder of docs/scale.md (issue 30's measurements): exact, IVF-Flat, fast-scan PQ re-ranked, IVF-PQ on disk."""
    assert vs.factory_for(1000, 512) == "Flat"
    assert vs.factory_for(99_999, 512) == "Flat"
    assert vs.factory_for(100_000, 512) == "IVF1024,Flat"  # 4 sqrt(N) = 1265 -> 1024
    assert vs.factory_for(500_000, 512) == "IVF2048,Flat"  # 4 sqrt(N) = 2828 -> 2048
    assert vs.factory_for(1_000_000, 512) == "IVF2048,PQ128x4fsr"  # 2 sqrt(N) = 2000 -> 2048; D/8 bytes
    assert vs.factory_for(10**7, 512) == "IVF8192,PQ128x4fsr"  # 6325 -> 8192, as measured at 10^7
    assert vs.factory_for(10**7, 100) == "IVF16384,SQ8"  # no PQ for a width that is not a multiple of 8
    assert vs.factory_for(10**8, 512) == "IVF65536_HNSW32,PQ64"  # on disk, an HNSW graph over 65,536 centroids
    old = vs.IndexParams(sq_threshold=5_000_000, fs_threshold=10**7)  # the old rung, on request
    assert [old.kind_for(n) for n in (10**4, 10**6, 5 * 10**6, 10**7)] == ["flat", "ivf", "ivf-sq8", "ivf-fs"]
    assert vs.nlist_of("OPQ64,IVF65536,PQ64") == 65536 and vs.nlist_of("Flat") is None
    assert vs.is_fast_scan("IVF8192,PQ128x4fsr") and vs.is_fast_scan("IVF64,PQ16x4fs")
    assert not vs.is_fast_scan("IVF8192,PQ128") and not vs.is_fast_scan("IVF64,PQ16x4")
    with pytest.raises(ValueError, match="divisible by 8"):
        vs.factory_for(10**8, 100)
    for n in (5 * 10**5, 10**6, 10**7, 10**8):  # every string is one FAISS builds
        assert faiss.index_factory(512, vs.factory_for(n, 512), faiss.METRIC_INNER_PRODUCT).d == 512


def test_plan_shards_cover_rows_in_order(tmp_path):
    shards = vs.plan_shards(10, 3, tmp_path)
    assert [(s.start, s.stop) for s in shards] == [(0, 3), (3, 7), (7, 10)]
    assert len(vs.plan_shards(2, 5, tmp_path)) == 2
    with pytest.raises(ValueError):
        vs.plan_shards(10, 0, tmp_path)


def _same_search(a: faiss.Index, b: faiss.Index, queries: np.ndarray, k: int = 10) -> None:
    da, ia = a.search(queries, k)
    db, ib = b.search(queries, k)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(da, db)


def _same_lists(a: faiss.Index, b: faiss.Index) -> None:
    la, lb = vs.inverted_lists(a), vs.inverted_lists(b)
    assert len(la) == len(lb)
    for (ids_a, codes_a), (ids_b, codes_b) in zip(la, lb):
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(codes_a, codes_b)


def test_sharded_ondisk_equals_single_process(tmp_path, data, trained_pq):
    src, queries = data
    factory, trained = trained_pq
    single = vs.build_in_memory(trained, src)
    built = vs.build_ondisk(trained, src, tmp_path / "v-1.faiss", factory=factory, n_shards=3)
    assert built.ntotal == len(src) == single.ntotal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-1.faiss", "v-1.ivfdata"]  # shards removed
    assert built.ivfdata.stat().st_size == len(src) * (8 + 8)  # PQ16x4 codes (8 bytes) + int64 ids
    ondisk = vs.open_index(built.path, nprobe=8)
    assert isinstance(faiss.downcast_InvertedLists(faiss.extract_index_ivf(ondisk).invlists), faiss.OnDiskInvertedLists)
    vs.set_nprobe(single, 8)
    _same_lists(single, ondisk)
    _same_search(single, ondisk, queries)
    assert trained.ntotal == 0  # the trained template is never filled


def test_sharded_on_ray_equals_single_process(tmp_path, data, trained_pq, ray_local):
    src, queries = data
    factory, trained = trained_pq
    np.save(tmp_path / "x.npy", src.vectors)
    np.save(tmp_path / "ids.npy", src.ids)
    npy = vs.NpySource(tmp_path / "x.npy", tmp_path / "ids.npy")  # tasks map the files themselves
    built = vs.build_ondisk(trained, npy, tmp_path / "v-2.faiss", factory=factory, n_shards=4, runner=vs.RayRunner())
    single = vs.build_in_memory(trained, src)
    ondisk = vs.open_index(built.path, nprobe=32)
    vs.set_nprobe(single, 32)
    _same_lists(single, ondisk)
    _same_search(single, ondisk, queries)


def test_ondisk_ivf_flat_probing_all_lists_is_exact(tmp_path, data):
    src, queries = data
    factory = "IVF16,Flat"
    trained = vs.train_empty(factory, vs.training_sample(src, 2000))
    built = vs.build_ondisk(trained, src, tmp_path / "flat.faiss", factory=factory, n_shards=2)
    index = vs.open_index(built.path, nprobe=16)
    scores, ids = index.search(queries, 10)
    exact = queries @ src.vectors.T  # (Q, N) inner products, numpy
    order = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, src.ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(exact, order, 1), atol=1e-5)


def test_moved_folder_still_opens(tmp_path, data, trained_pq):
    """The .ivfdata is looked up beside the .faiss (shared storage mounted elsewhere)."""
    src, queries = data
    factory, trained = trained_pq
    (tmp_path / "a").mkdir()
    built = vs.build_ondisk(trained, src, tmp_path / "a" / "v.faiss", factory=factory, n_shards=2)
    (tmp_path / "a").rename(tmp_path / "b")
    moved = vs.open_index(tmp_path / "b" / "v.faiss", nprobe=8)
    assert moved.ntotal == built.ntotal
    single = vs.build_in_memory(trained, src)
    vs.set_nprobe(single, 8)
    _same_search(single, moved, queries)


def test_mmap_search_equals_in_memory(tmp_path, data, trained_pq):
    src, queries = data
    _, trained = trained_pq
    index = vs.build_in_memory(trained, src)
    faiss.write_index(index, str(tmp_path / "plain.faiss"))
    mapped = vs.open_index(tmp_path / "plain.faiss", nprobe=8, mmap=True)
    loaded = vs.open_index(tmp_path / "plain.faiss", nprobe=8, mmap=False)
    assert isinstance(
        faiss.downcast_InvertedLists(faiss.extract_index_ivf(mapped).invlists), faiss.OnDiskInvertedLists
    )  # FAISS maps an ArrayInvertedLists file this way
    assert isinstance(faiss.downcast_InvertedLists(faiss.extract_index_ivf(loaded).invlists), faiss.ArrayInvertedLists)
    _same_search(loaded, mapped, queries)


def test_bad_input_is_refused(tmp_path, data, trained_pq):
    src, _ = data
    factory, trained = trained_pq
    with pytest.raises(ValueError, match="does not understand"):
        vs.train_empty("IVF32,Nonsense", src.vectors[:2000])
    with pytest.raises(ValueError, match="need at least 32"):
        vs.train_empty("IVF32,PQ16", src.vectors[:20])
    with pytest.raises(ValueError, match="training on 100 vectors failed"):  # 256 centroids a code
        vs.train_empty("IVF4,PQ16", src.vectors[:100])
    with pytest.raises(ValueError, match="refine stages"):
        vs.check_factory("IVF4,PQ16,RFlat", DIM)
    with pytest.raises(ValueError, match="could not parse") as e:
        vs.check_factory("IVF4,Nonsense", DIM)
    assert "\n" not in str(e.value) and "index_factory.cpp" not in str(e.value)
    with pytest.raises(ValueError, match="IVF"):
        vs.build_ondisk(faiss.IndexFlatIP(DIM), src, tmp_path / "f.faiss", factory="Flat")
    filled = vs.build_in_memory(trained, src)
    with pytest.raises(ValueError, match="empty"):
        vs.build_ondisk(filled, src, tmp_path / "g.faiss", factory=factory)
    (tmp_path / "h.faiss").write_bytes(b"")
    with pytest.raises(FileExistsError):
        vs.build_ondisk(trained, src, tmp_path / "h.faiss", factory=factory)
    with pytest.raises(ValueError, match=r"ids \(N,\)"):
        vs.ArraySource(src.vectors, src.ids[:-1])


@pytest.mark.skipif(faiss.get_num_gpus() == 0, reason="needs a GPU visible to FAISS")
def test_gpu_sharded_search_matches_cpu(tmp_path, data):
    src, queries = data
    factory = "IVF16,Flat"
    trained = vs.train_empty(factory, vs.training_sample(src, 2000))
    cpu = vs.build_in_memory(trained, src)
    vs.set_nprobe(cpu, 16)
    gpu = vs.to_gpus(cpu, nprobe=16)
    dc, ic = cpu.search(queries, 10)
    dg, ig = gpu.search(queries, 10)
    np.testing.assert_allclose(dg, dc, atol=1e-4)
    assert (ig == ic).mean() > 0.99  # ties may order differently


def test_gpu_sharding_needs_a_gpu(data):
    if faiss.get_num_gpus():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no GPU"):
        vs.to_gpus(faiss.IndexFlatIP(DIM))
