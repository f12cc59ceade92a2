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


def _graph_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of found distances within the exact k-th (ties count as found)."""
    kth = truth[:, -1:]
    return float(np.mean(found <= kth * (1 + 1e-5) + 1e-7))


def _stages(calls: list[str]):
    def callback(stage: str, done: int, total: int) -> None:
        if not calls or calls[-1] != stage:
            calls.append(stage)

    return callback


def _hard_rows(n: int, intrinsic: int, dim: int) -> np.ndarray:
    """Gaussian noise of a few dimensions, rotated into many: nothing for NN-descent to follow."""
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((dim, intrinsic)))[0]
    return (rng.standard_normal((n, intrinsic)) @ basis.T).astype(np.float32)


def test_nndescent_small_hard_data_takes_the_exact_graph() -> None:
    """Small float data whose search falls short: the exact graph costs less than a search that
    may need a second one (scikit-learn's exact neighbours as the reference)."""
    from sklearn.neighbors import NearestNeighbors

    from umapc import _core

    data = _hard_rows(3000, 32, 32)
    truth = NearestNeighbors(n_neighbors=15).fit(data).kneighbors(data)[0]
    once = _core.nndescent_knn_graph(data, 15, n_jobs=2, min_recall=0.0)[1]
    stages: list[str] = []
    index = NNIndex(data, n_neighbors=15, backend="hnsw", n_jobs=2)
    checked = _core.nndescent_knn_graph(data, 15, n_jobs=2, progress=_stages(stages))[1]
    assert _graph_recall(once, truth) < 0.985
    assert stages == ["exact search"]
    np.testing.assert_allclose(checked, truth, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(index.neighbor_graph[1], checked)


def test_nndescent_restarts_with_larger_heaps_on_hard_data() -> None:
    """A search that the sampled check finds short of 0.99 starts again with larger heaps (too
    large for exact search to be cheaper): the recall then passes 0.99 on rows checked against
    scikit-learn."""
    from sklearn.neighbors import NearestNeighbors

    from umapc import _core

    data = _hard_rows(30000, 16, 128)
    rows = np.arange(0, data.shape[0], 61)
    truth = NearestNeighbors(n_neighbors=15).fit(data).kneighbors(data[rows])[0]
    once = _core.nndescent_knn_graph(data, 15, n_jobs=2, min_recall=0.0)[1]
    stages: list[str] = []
    checked = _core.nndescent_knn_graph(data, 15, n_jobs=2, progress=_stages(stages))[1]
    assert _graph_recall(once[rows], truth) < 0.985
    assert stages == ["nndescent trees", "nndescent"] * 2
    assert _graph_recall(checked[rows], truth) >= 0.99


def test_nndescent_effort_keywords_reach_the_graph() -> None:
    # integer rows: searched as codes (small float data would take the exact graph either way)
    data = np.round(np.abs(_blobs(3000, 24)) * 10)
    default = NNIndex(data, n_neighbors=10, backend="hnsw", n_jobs=1).neighbor_graph[0]
    frugal = NNIndex(
        data, n_neighbors=10, backend="hnsw", n_jobs=1, n_trees=1, n_iters=1, max_candidates=2
    ).neighbor_graph[0]
    assert not np.array_equal(default, frugal)
    for bad in ({"n_trees": 0}, {"n_iters": -1}, {"max_candidates": 1.5}, {"delta": 2.0}):
        with pytest.raises(ValueError):
            NNIndex(data, n_neighbors=10, **bad)


def test_nndescent_pixels_divided_by_255_search_as_codes() -> None:
    """Pixels / 255 (float32 division, or float64 then cast) take the same search as the pixels
    themselves, and the distances returned are the float rows' own (vs float64 numpy)."""
    from umapc import _core

    rng = np.random.default_rng(5)
    centres = rng.integers(0, 256, size=(10, 64))
    pixels = np.clip(centres[rng.integers(0, 10, 3000)] + rng.integers(-40, 41, (3000, 64)), 0, 255)
    pixels = pixels.astype(np.float32)
    ind_px, dist_px = _core.nndescent_knn_graph(pixels, 10, n_jobs=2)
    for scaled in (pixels / np.float32(255), (pixels.astype(np.float64) / 255).astype(np.float32)):
        ind, dist = _core.nndescent_knn_graph(scaled, 10, n_jobs=2)
        np.testing.assert_allclose(dist * 255, dist_px, rtol=1e-5)
        assert np.mean(ind == ind_px) > 0.99  # equal but for the order of exact ties
        x = scaled.astype(np.float64)
        own = np.linalg.norm(x[:, None, :] - x[ind], axis=2)
        np.testing.assert_allclose(dist, own, rtol=2e-6, atol=1e-6)
    off_grid = pixels / np.float32(255)
    off_grid[7, 3] = np.nextafter(off_grid[7, 3], np.float32(1))  # one value off: floats
    dist = _core.nndescent_knn_graph(off_grid, 10, n_jobs=2)[1]
    # small float data takes the exact graph: a search on codes would have found the pixels' one
    np.testing.assert_allclose(dist, _core.exact_knn_graph(off_grid, 10)[1], rtol=1e-5)
    assert not np.allclose(dist * 255, dist_px, rtol=1e-4)


def test_graph_method_is_a_parameter_and_reported() -> None:
    """Which algorithm made the graph is chosen by graph_method, not by whether query() ran,
    and graph_info_ / repr say which one did; every method finds the exact graph's neighbours."""
    from umapc import _core

    data = np.round(np.abs(_blobs(1500, 12)) * 10)  # integer rows: NN-descent searches as codes
    exact = _core.exact_knn_graph(data, 10)[1]
    for method, made in (
        ("auto", "nndescent"),
        ("nndescent", "nndescent"),
        ("hnsw", "hnsw"),
        ("exact", "exact"),
    ):
        index = NNIndex(data, n_neighbors=10, backend="hnsw", graph_method=method, n_jobs=1)
        index.query(data[:5], k=3)  # a built HNSW graph no longer changes the method
        assert index.graph_info_ is None
        assert _graph_recall(index.neighbor_graph[1], exact) >= 0.99
        assert index.graph_info_["method"] == made
        assert f"graph made by {made!r}" in repr(index)
    small_float = _blobs(1500, 12)
    index = NNIndex(small_float, n_neighbors=10, backend="hnsw", n_jobs=1)
    assert index.neighbor_graph[0].shape == (1500, 10)
    assert index.graph_info_["method"] == "exact"  # cheaper than a search on this data
    assert NNIndex(data, n_neighbors=10, backend="exact").neighbor_graph is not None
    # "dot" normalises the rows, as pynndescent does: 1 - cos, scikit-learn's cosine distance
    from sklearn.neighbors import NearestNeighbors

    dot = NNIndex(small_float, n_neighbors=10, metric="dot", backend="hnsw", graph_method="exact")
    cosine = NearestNeighbors(n_neighbors=10, metric="cosine").fit(small_float)
    np.testing.assert_allclose(dot.neighbor_graph[1], cosine.kneighbors(small_float)[0], atol=1e-5)
    assert dot.graph_info_["method"] == "exact"
    with pytest.raises(ValueError):
        NNIndex(data, graph_method="annoy")


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_dot_is_the_same_rows_for_every_search(backend: str) -> None:
    """Metric "dot" L2-normalises the rows in every search (exact, NN-descent, HNSW, queries),
    as pynndescent's NNDescent does, so all of them agree with scikit-learn's cosine neighbours
    on data whose dot products are positive (where pynndescent's 1 - <a, b> is 1 - cos)."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    # rows of very different lengths: unnormalised dot products would rank by length
    data = (np.abs(_blobs(1200, 16)) + 0.5) * rng.uniform(0.1, 10.0, size=(1200, 1))
    data = data.astype(np.float32)
    reference = NearestNeighbors(n_neighbors=10, metric="cosine").fit(data.astype(np.float64))
    ref_dist = reference.kneighbors(data.astype(np.float64))[0]
    pairwise = cdist(data.astype(np.float64), data.astype(np.float64), "cosine")
    for method in ("exact", "nndescent", "hnsw"):
        index = NNIndex(data, n_neighbors=10, metric="dot", backend=backend, graph_method=method)
        ind, dist = index.neighbor_graph
        assert _graph_recall(dist, ref_dist) >= 0.99, method
        np.testing.assert_allclose(dist, np.take_along_axis(pairwise, ind, axis=1), atol=2e-6)
    queries = data[:50] * 3.0
    q_ind, q_dist = NNIndex(data, n_neighbors=10, metric="dot", backend=backend).query(
        queries, k=10
    )
    assert _graph_recall(q_dist, ref_dist[:50]) >= 0.99
    np.testing.assert_allclose(q_dist, np.take_along_axis(pairwise[:50], q_ind, axis=1), atol=2e-6)
    from umapc import _core

    for graph in (
        _core.exact_knn_graph(data, 10, metric="dot"),
        _core.nndescent_knn_graph(data, 10, metric="dot"),
    ):
        assert _graph_recall(graph[1], ref_dist) >= 0.99


def test_min_recall_zero_keeps_nndescents_first_graph() -> None:
    """min_recall=0 (what UMAP asks for) takes NN-descent's first graph, as pynndescent does; the
    default checks the recall and may search again or take the exact graph."""
    data = _hard_rows(6000, 12, 40)
    first = NNIndex(data, n_neighbors=15, backend="hnsw", min_recall=0.0, random_state=0)
    assert first.neighbor_graph[0].shape == (6000, 15)
    assert first.graph_info_["method"] == "nndescent" and first.graph_info_["searches"] == 1
    with pytest.raises(ValueError, match="min_recall"):
        NNIndex(data, n_neighbors=15, min_recall=1.5)
