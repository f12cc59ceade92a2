"""The HNSW backend of umapc.NNIndex against exact references (scikit-learn brute force).

Real data comes from ../shared/data (small subsets, so each test takes a few seconds); tests that
need it skip when it is absent. Recall counts ties as hits: a returned point is right when its
distance is within the exact k-th distance.
"""

from __future__ import annotations

import functools
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

import umapc
from umapc import _io

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _data  # noqa: E402  (the shared-data helpers the benchmarks use)

DATA = _data.shared_data_dir()


@functools.lru_cache(maxsize=1)
def _fashion_all() -> tuple[np.ndarray, np.ndarray]:
    train, _, test, _ = _data.load_fashion_mnist(DATA)
    return train, test


def _fashion(n: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    if DATA is None or not (DATA / "fashion-mnist").is_dir():
        pytest.skip("shared Fashion-MNIST data not available")
    train, test = _fashion_all()
    return np.ascontiguousarray(train[:n]), np.ascontiguousarray(test[:nq])


def _glove() -> np.ndarray:
    if DATA is None or not (DATA / "glove25").is_dir():
        pytest.skip("shared GloVe data not available")
    return _io.read_fvecs(DATA / "glove25" / "glove_twitter_25d_12k.fvecs")


def _tie_recall(ref_dist: np.ndarray, got_dist: np.ndarray) -> float:
    k = ref_dist.shape[1]
    kth = ref_dist[:, -1:]
    hits = (got_dist <= kth * (1 + 1e-4) + 1e-4).sum(axis=1).clip(max=k)
    return float(hits.mean() / k)


def _exact(base: np.ndarray, queries: np.ndarray, k: int, metric: str = "euclidean"):
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(base)
    dist, ind = nn.kneighbors(queries)
    return ind, dist


def test_query_recall_on_fashion_mnist() -> None:
    base, queries = _fashion(10000, 300)
    index = umapc.NNIndex(base, backend="hnsw", random_state=0, n_jobs=2)
    _, ref = _exact(base, queries, 10)
    ind, dist = index.query(queries, k=10)
    assert ind.dtype == np.int32 and ind.shape == (300, 10)
    assert _tie_recall(ref, dist) >= 0.95
    # Returned distances are the true ones.
    true = np.linalg.norm(queries[:, None, :] - base[ind], axis=2)
    np.testing.assert_allclose(dist, true, rtol=1e-4, atol=1e-2)
    _, dist_wide = index.query(queries, k=10, ef=200)
    assert _tie_recall(ref, dist_wide) >= 0.99


def test_epsilon_widths_umap_learn_passes_reach_recall_095() -> None:
    base, queries = _fashion(10000, 300)
    index = umapc.NNIndex(base, backend="hnsw", random_state=0, n_jobs=2)
    _, ref = _exact(base, queries, 10)
    for epsilon in (0.0, 0.12, 0.24):
        _, dist = index.query(queries, k=10, epsilon=epsilon)
        assert _tie_recall(ref, dist) >= 0.95, epsilon


def test_off_grid_queries_on_pixel_rows() -> None:
    # Pixel rows are stored as lossless 8-bit codes; queries that are not integers are measured
    # as floats against them and must still get true distances.
    base, queries = _fashion(8000, 200)
    queries = queries * 0.9 + 0.3
    index = umapc.NNIndex(base, backend="hnsw", random_state=0, n_jobs=2)
    _, ref = _exact(base, queries, 10)
    ind, dist = index.query(queries, k=10)
    assert _tie_recall(ref, dist) >= 0.95
    true = np.linalg.norm(queries[:, None, :] - base[ind], axis=2)
    np.testing.assert_allclose(dist, true, rtol=1e-4, atol=1e-2)


def test_neighbor_graph_recall_and_self_first() -> None:
    base, _ = _fashion(6000, 1)
    index = umapc.NNIndex(base, n_neighbors=15, backend="hnsw", random_state=0, n_jobs=2)
    ind, dist = index.neighbor_graph
    assert ind.shape == (6000, 15)
    np.testing.assert_array_equal(ind[:, 0], np.arange(6000))
    assert np.all(dist[:, 0] == 0)
    assert np.all(np.diff(dist, axis=1) >= 0)
    _, ref = _exact(base, base, 15)
    assert _tie_recall(ref, dist) >= 0.99


def test_cosine_recall_on_glove() -> None:
    words = _glove()
    base, queries = words[:-300], words[-300:]
    index = umapc.NNIndex(base, metric="cosine", backend="hnsw", random_state=0, n_jobs=2)
    _, ref = _exact(base, queries, 10, metric="cosine")
    _, dist = index.query(queries, k=10, ef=100)
    assert _tie_recall(ref, dist) >= 0.98


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3, size=(20, dim))
    return (centres[rng.integers(0, 20, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def test_same_graph_for_any_thread_count() -> None:
    x = _clustered(3000, 16, 1)
    results = []
    for jobs in (1, 2, 3):
        index = umapc.NNIndex(x, n_neighbors=10, backend="hnsw", random_state=7, n_jobs=jobs)
        results.append((index.query(x[:200], k=10, n_jobs=1), index.neighbor_graph))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_save_load_pickle_preserve_results(tmp_path) -> None:
    x = _clustered(2000, 12, 2)
    index = umapc.NNIndex(x, backend="hnsw", random_state=0)
    expected = index.query(x[:100], k=8)
    path = tmp_path / "index.umapc"
    index.save(path)
    for other in (umapc.NNIndex.load(path), pickle.loads(pickle.dumps(index))):
        got = other.query(x[:100], k=8)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_update_inserts_without_rebuild() -> None:
    x = _clustered(4000, 16, 3)
    index = umapc.NNIndex(x[:2000], backend="hnsw", random_state=0)
    index.update(x[2000:])
    ind, dist = index.query(x[2000:2100], k=1)
    np.testing.assert_array_equal(ind[:, 0], np.arange(2000, 2100))
    queries = _clustered(200, 16, 4)
    _, ref = _exact(x, queries, 10)
    assert _tie_recall(ref, index.query(queries, k=10)[1]) >= 0.95


@pytest.mark.parametrize("keep_every", [3, 50, 1000])
def test_filter_mask_inside_search(keep_every: int) -> None:
    x = _clustered(5000, 16, 5)
    queries = _clustered(100, 16, 6)
    mask = np.arange(len(x)) % keep_every == 0
    index = umapc.NNIndex(x, backend="hnsw", random_state=0)
    ind, dist = index.query(queries, k=10, filter_mask=mask)
    allowed = np.flatnonzero(mask)
    k_ref = min(10, len(allowed))
    _, ref = _exact(x[allowed], queries, k_ref)
    assert np.all(mask[ind[:, :k_ref]])
    assert _tie_recall(ref, dist[:, :k_ref]) >= 0.95
    if k_ref < 10:
        assert np.all(ind[:, k_ref:] == -1) and np.all(np.isinf(dist[:, k_ref:]))


def test_duplicates_do_not_break_search() -> None:
    base = _clustered(800, 12, 7)
    x = np.concatenate([np.repeat(base[:300], 6, axis=0), base[300:], np.repeat(base[:1], 300, 0)])
    index = umapc.NNIndex(x, n_neighbors=10, backend="hnsw", random_state=0)
    queries = _clustered(200, 12, 8)
    _, ref = _exact(x, queries, 10)
    assert _tie_recall(ref, index.query(queries, k=10)[1]) >= 0.95
    ind, dist = index.neighbor_graph
    np.testing.assert_array_equal(ind[:, 0], np.arange(len(x)))
    _, ref_graph = _exact(x, x, 10)
    assert _tie_recall(ref_graph, dist) >= 0.97


@pytest.mark.parametrize("metric", ["cosine", "correlation", "hellinger"])
def test_zero_rows_and_near_pairs_follow_the_metric(metric: str) -> None:
    """Rows that prepare to all zeros (zero rows; constant rows for correlation) are at 0 from each
    other and 1 from the rest, as umapc_distance and the exact backend have them; they neither
    spoil the graph nor get lost. Found by test_properties.py: HNSW put two zero rows at 1, its
    8-bit build codes made zero rows hubs that pruned real links (self-recall 84% under
    correlation with 5 constant rows among 2,000), and 1 - <a,a> in float put rows at up to
    3e-4 from themselves under hellinger."""
    rng = np.random.default_rng(1)
    x = np.abs(rng.normal(size=(3000, 33))).astype(np.float32)
    degenerate = np.array([0, 7, 1500, 2998, 2999])
    x[degenerate] = 2.0 if metric == "correlation" else 0.0
    index = umapc.NNIndex(x, n_neighbors=8, metric=metric, backend="hnsw", random_state=0)
    indices, distances = index.query(x, k=8, ef=64)
    regular = np.setdiff1d(np.arange(len(x)), degenerate)
    assert (indices[regular, 0] == regular).mean() > 0.99
    assert distances[regular, 0].max() <= 1e-6  # a row is at 0 from itself (or a duplicate)
    # a degenerate query: the degenerate rows at 0, then other rows at 1
    np.testing.assert_array_equal(indices[degenerate, :5], np.tile(degenerate, (5, 1)))
    np.testing.assert_array_equal(distances[degenerate, :5], 0.0)
    np.testing.assert_array_equal(distances[degenerate, 5:], 1.0)
    assert not np.isin(indices[degenerate, 5:], degenerate).any()
    mask = np.ones(len(x), dtype=bool)
    mask[[7, 2999]] = False
    masked_i, masked_d = index.query(x[:1], k=4, filter_mask=mask)
    np.testing.assert_array_equal(masked_i[0, :3], [0, 1500, 2998])
    np.testing.assert_array_equal(masked_d[0], [0.0, 0.0, 0.0, 1.0])
    assert mask[masked_i].all()
    # the all-points graph from the HNSW graph agrees
    index.prepare()
    graph_i, graph_d = index.neighbor_graph
    np.testing.assert_array_equal(graph_i[degenerate, 0], degenerate)
    for row in degenerate:
        assert set(graph_i[row, :5]) == set(degenerate)
    np.testing.assert_array_equal(graph_d[degenerate, :5], 0.0)
    np.testing.assert_array_equal(graph_d[degenerate, 5:], 1.0)
    assert (graph_i[regular, 0] == regular).all()


def test_inner_product_graph_keeps_negative_distances() -> None:
    """inner_product distances (-<a,b>) are negative for most pairs; the NN-descent and HNSW
    graphs report them as the exact backend does instead of clamping them to 0 (found by
    test_properties.py)."""
    x = np.abs(np.random.default_rng(3).normal(size=(300, 6))).astype(np.float32)
    exact = umapc.NNIndex(x, n_neighbors=5, metric="inner_product", backend="exact")
    _, exact_d = exact.neighbor_graph
    assert (exact_d[:, 1:] < 0).all()
    index = umapc.NNIndex(x, n_neighbors=5, metric="inner_product", backend="hnsw", random_state=0)
    for source in ("NN-descent", "HNSW graph"):
        if source == "HNSW graph":
            index.prepare()
            index._neighbor_graph = None  # recomputed from the HNSW index
        graph_i, graph_d = index.neighbor_graph
        np.testing.assert_array_equal(graph_i[:, 0], np.arange(len(x)))
        want = -np.einsum("ij,ikj->ik", x.astype(np.float64), x[graph_i[:, 1:]].astype(np.float64))
        np.testing.assert_allclose(graph_d[:, 1:], want, rtol=1e-5, err_msg=source)
        assert (graph_d[:, 1:] >= exact_d[:, 1:] - 1e-4).all(), source  # never beats exact
