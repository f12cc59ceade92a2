"""umapc.NNIndex: pynndescent's interface, exact answers vs scikit-learn, lifecycle, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from umapc import NNIndex


def _blobs(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(8, dim))
    return (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def _reference(data: np.ndarray, queries: np.ndarray, k: int, metric: str = "euclidean"):
    """Exact neighbours from scipy in float64, ties by lower index (stable sort)."""
    scipy_name = {"manhattan": "cityblock"}.get(metric, metric)
    d = cdist(queries.astype(np.float64), data.astype(np.float64), metric=scipy_name)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "correlation"])
def test_exact_query_matches_scipy(metric: str) -> None:
    data = _blobs(700, 13)
    queries = _blobs(50, 13, seed=1)
    index = NNIndex(data, n_neighbors=5, metric=metric, backend="exact")
    indices, distances = index.query(queries, k=7)
    ref_idx, ref_dist = _reference(data, queries, 7, metric)
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    np.testing.assert_allclose(distances, ref_dist, rtol=1e-4, atol=1e-5)
    assert (indices == ref_idx).mean() > 0.999  # only exact distance ties may swap


def test_neighbor_graph_has_self_first_and_matches_sklearn() -> None:
    from sklearn.neighbors import NearestNeighbors

    data = _blobs(900, 20)
    index = NNIndex(data, n_neighbors=10, backend="exact")
    indices, distances = index.neighbor_graph
    assert indices.shape == (900, 10)
    np.testing.assert_array_equal(indices[:, 0], np.arange(900))
    np.testing.assert_array_equal(distances[:, 0], 0.0)
    ref_dist, _ = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(data).kneighbors(data)
    np.testing.assert_allclose(distances, ref_dist, rtol=1e-4, atol=1e-3)
    assert index.neighbor_graph[0] is indices  # cached


def test_filter_mask_restricts_and_pads() -> None:
    data = _blobs(300, 8)
    queries = _blobs(20, 8, seed=3)
    mask = np.zeros(300, dtype=bool)
    allowed = np.array([5, 77, 150])
    mask[allowed] = True
    index = NNIndex(data, n_neighbors=4, backend="exact")
    indices, distances = index.query(queries, k=5, filter_mask=mask)
    assert np.isin(indices[:, :3], allowed).all()
    np.testing.assert_array_equal(indices[:, 3:], -1)
    assert np.isinf(distances[:, 3:]).all()
    ref_idx, _ = _reference(data[allowed], queries, 3)
    np.testing.assert_array_equal(indices[:, :3], allowed[ref_idx])


def test_update_appends_and_invalidates_graph() -> None:
    data = _blobs(400, 6)
    extra = _blobs(100, 6, seed=9)
    index = NNIndex(data[:], n_neighbors=6, backend="exact")
    _ = index.neighbor_graph
    index.prepare()
    index.update(extra)
    assert index._raw_data.shape == (500, 6)
    indices, _ = index.neighbor_graph
    assert indices.shape == (500, 6)
    full = NNIndex(np.concatenate([data, extra]), n_neighbors=6, backend="exact")
    np.testing.assert_array_equal(indices, full.neighbor_graph[0])


def test_save_load_and_pickle_round_trip(tmp_path) -> None:
    data = _blobs(500, 10)
    queries = _blobs(30, 10, seed=4)
    index = NNIndex(data, n_neighbors=5, metric="cosine", backend="exact")
    expected = index.query(queries, k=6)
    path = tmp_path / "index.umapc"
    index.save(path)
    loaded = NNIndex.load(path)
    for got, want in zip(loaded.query(queries, k=6), expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded._raw_data, index._raw_data)
    assert loaded._angular_trees and loaded.metric == "cosine"
    clone = pickle.loads(pickle.dumps(index))
    for got, want in zip(clone.query(queries, k=6), expected):
        np.testing.assert_array_equal(got, want)


def test_corrupt_and_truncated_files_raise_oserror(tmp_path) -> None:
    index = NNIndex(_blobs(200, 4), n_neighbors=3, backend="exact")
    path = tmp_path / "good.umapc"
    index.save(path)
    raw = path.read_bytes()
    cases = {
        "truncated": raw[: len(raw) // 2],
        "flipped": raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:],
        "empty": b"",
        "garbage": b"not an index at all" * 10,
        "longer": raw + b"\0",
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.umapc"
        bad.write_bytes(content)
        with pytest.raises(OSError):
            NNIndex.load(bad)
    with pytest.raises(OSError):
        NNIndex.load(tmp_path / "missing.umapc")


def test_accepts_pynndescent_keywords() -> None:
    data = _blobs(100, 5)
    index = NNIndex(
        data,
        n_neighbors=10,
        metric="euclidean",
        n_trees=8,
        n_iters=5,
        max_candidates=60,
        low_memory=True,
        compressed=False,
        verbose=False,
        random_state=42,
        n_jobs=1,
        backend="exact",
    )
    assert index.neighbor_graph[0].shape == (100, 10)
    assert not index._angular_trees
    with pytest.raises(TypeError):
        NNIndex(data, not_a_keyword=1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"data": np.array([[1.0, np.nan]])}, ValueError),
        ({"data": np.array([[1.0, np.inf], [0.0, 1.0]])}, ValueError),
        ({"data": np.zeros((0, 3))}, ValueError),
        ({"data": np.zeros(5)}, ValueError),
        ({"data": np.array([["a", "b"]])}, TypeError),
        ({"data": np.ones((5, 2)), "n_neighbors": 0}, ValueError),
        ({"data": np.ones((5, 2)), "n_neighbors": 6}, ValueError),
        ({"data": np.ones((5, 2)), "metric": "no_such_metric"}, ValueError),
        ({"data": np.ones((5, 2)), "metric": "minkowski", "metric_kwds": {"p": -1}}, ValueError),
        # p=True is a numbers.Real but a mistake (found by test_properties.py)
        (
            {
                "data": np.ones((5, 2)),
                "n_neighbors": 1,
                "metric": "minkowski",
                "metric_kwds": {"p": True},
            },
            ValueError,
        ),
        ({"data": np.ones((5, 2)), "metric_kwds": {"q": 1}}, ValueError),
        ({"data": np.ones((5, 2)), "backend": "annoy"}, ValueError),
    ],
)
def test_bad_construction_raises(kwargs, error) -> None:
    with pytest.raises(error):
        NNIndex(**kwargs)


def test_bad_queries_raise() -> None:
    index = NNIndex(_blobs(50, 4), n_neighbors=3, backend="exact")
    good = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="columns"):
        index.query(np.zeros((2, 5)), k=3)
    with pytest.raises(ValueError):
        index.query(good, k=0)
    with pytest.raises(ValueError):
        index.query(good, k=51)
    with pytest.raises(ValueError, match="NaN"):
        index.query(np.array([[0.0, np.nan, 0.0, 0.0]]), k=3)
    with pytest.raises(ValueError):
        index.query(good, k=3, filter_mask=np.ones(49, dtype=bool))
    with pytest.raises(TypeError):
        index.query(good, k=3, filter_mask=np.ones(50, dtype=np.int64))
    with pytest.raises(ValueError):
        index.update(np.zeros((3, 2)))


def test_umap_learn_uses_nnindex_as_precomputed_knn() -> None:
    umap = pytest.importorskip("umap")
    data = _blobs(600, 10)
    index = NNIndex(data, n_neighbors=15, backend="exact", random_state=0)
    indices, distances = index.neighbor_graph
    with pytest.warns(UserWarning):  # umap-learn warns that the index is not an NNDescent
        model = umap.UMAP(
            n_neighbors=15, precomputed_knn=(indices, distances, index), random_state=0, n_epochs=30
        ).fit(data)
    calls = []
    original = index.query

    def spy(*args, **kwargs):
        calls.append(kwargs.get("epsilon"))
        return original(*args, **kwargs)

    index.query = spy  # type: ignore[method-assign]
    new = model.transform(_blobs(20, 10, seed=5))
    assert new.shape == (20, 2) and np.isfinite(new).all()
    assert calls, "umap-learn's transform did not query the index"


def test_exact_cosine_of_tiny_rows_is_the_cosine() -> None:
    """Rows of magnitude 1e-30 have float squares that underflow; the exact backend measured them
    as zero rows (distance 1 to everything else) while HNSW and pairwise distances, which
    normalise in double, had the true cosine."""
    rng = np.random.default_rng(4)
    data = rng.normal(size=(60, 5)).astype(np.float32)
    data[:30] *= np.float32(1e-30)  # the same directions as rows 30..59, tiny
    data[30:] = data[:30] * np.float32(1e30)
    want = cdist(data.astype(np.float64), data.astype(np.float64), "cosine")
    indices, distances = NNIndex(data, n_neighbors=1, metric="cosine", backend="exact").query(
        data, k=3
    )
    np.testing.assert_allclose(distances, np.sort(want, axis=1)[:, :3], atol=1e-6)
    np.testing.assert_allclose(distances, np.take_along_axis(want, indices, axis=1), atol=1e-6)
