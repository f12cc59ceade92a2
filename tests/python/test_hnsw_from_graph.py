"""The HNSW index linked from the k-NN graph NNIndex already holds (the UMAP fit path) instead of
built by insertion: the same recall at the same ef, an index like any other (save/load, update),
bad graphs refused. Build time is measured in bench/bench_hnsw_from_graph.py, not here.

Recall counts ties as hits (a result is right when within the exact k-th distance), against the
exact backend. Real data comes from ../shared/data; tests that need it skip when it is absent.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

import umapc
import umapc.index
from umapc import _core

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _data  # noqa: E402  (the shared-data helpers the benchmarks use)

DATA = _data.shared_data_dir()


@functools.lru_cache(maxsize=1)
def _fashion_all() -> tuple[np.ndarray, np.ndarray]:
    train, _, test, _ = _data.load_fashion_mnist(DATA)
    return train / np.float32(255), test / np.float32(255)


def _fashion(n: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    if DATA is None or not (DATA / "fashion-mnist").is_dir():
        pytest.skip("shared Fashion-MNIST data not available")
    train, test = _fashion_all()
    return np.ascontiguousarray(train[:n]), np.ascontiguousarray(test[:nq])


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 4, size=(30, dim))
    rows = centres[rng.integers(0, 30, size=n)] + rng.normal(size=(n, dim))
    return rows.astype(np.float32)


def _tie_recall(ref_dist: np.ndarray, got_dist: np.ndarray) -> float:
    k = ref_dist.shape[1]
    kth = ref_dist[:, -1:]
    hits = (got_dist <= kth * (1 + 1e-4) + 1e-4).sum(axis=1).clip(max=k)
    return float(hits.mean() / k)


class _BuildSpy:
    """Wraps _core.Index to record whether each HNSW build was given a k-NN graph."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.graph_builds: list[bool] = []
        real = _core.Index

        def build(*args, **kwargs):
            if kwargs.get("backend") == "hnsw":
                self.graph_builds.append(kwargs.get("knn_indices") is not None)
            return real(*args, **kwargs)

        monkeypatch.setattr(umapc.index._core, "Index", build)
        monkeypatch.setattr(umapc.index, "_load_core_index", lambda path: real.load(path))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_recall_matches_the_insertion_build(metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    base, queries = _fashion(20000, 500)
    _, ref = _core.Index(base, metric=metric, backend="exact").query(queries, 10)
    spy = _BuildSpy(monkeypatch)
    from_graph = umapc.NNIndex(base, metric=metric, backend="hnsw", random_state=0, n_jobs=2)
    from_graph.neighbor_graph  # noqa: B018  (the fit path: the graph first, then queries)
    inserted = umapc.NNIndex(base, metric=metric, backend="hnsw", random_state=0, n_jobs=2)
    recalls = {}
    for name, index in [("graph", from_graph), ("insertion", inserted)]:
        _, dist = index.query(queries, k=10, ef=40)
        recalls[name] = _tie_recall(ref, dist)
    assert spy.graph_builds == [True, False]
    print(f"{metric} recall@10 at ef 40: {recalls}")
    assert recalls["graph"] >= recalls["insertion"] - 0.01


def test_save_load_and_update_after_a_graph_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _clustered(6000, 32)
    base, new = rows[:5000], rows[5000:]
    spy = _BuildSpy(monkeypatch)
    index = umapc.NNIndex(base, backend="hnsw", random_state=0, n_jobs=2)
    index.neighbor_graph  # noqa: B018
    index.prepare()
    assert spy.graph_builds == [True]
    ind, dist = index.query(new, k=10)
    index.save(tmp_path / "graph.umapc")
    loaded = umapc.NNIndex.load(tmp_path / "graph.umapc")
    ind2, dist2 = loaded.query(new, k=10)
    np.testing.assert_array_equal(ind, ind2)
    np.testing.assert_array_equal(dist, dist2)
    # Rows inserted later into the graph-built index are found, themselves first.
    index.update(new)
    got, _ = index.query(new, k=5)
    assert np.mean(got[:, 0] == np.arange(5000, 6000)) >= 0.99
    _, ref = _core.Index(rows, backend="exact").query(new, 10)
    _, dist = index.query(new, k=10)
    assert _tie_recall(ref, dist) >= 0.95


def test_few_neighbours_or_no_graph_take_the_insertion_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _clustered(3000, 16)
    spy = _BuildSpy(monkeypatch)
    few = umapc.NNIndex(rows, n_neighbors=5, backend="hnsw", random_state=0, n_jobs=2)
    few.neighbor_graph  # noqa: B018
    few.prepare()
    umapc.NNIndex(rows, backend="hnsw", random_state=0, n_jobs=2).prepare()
    assert spy.graph_builds == [False, False]


def test_bad_graphs_are_refused() -> None:
    rows = _clustered(500, 8)
    knn, _ = _core.nndescent_knn_graph(rows, 10, seed=0)
    high, low = knn.copy(), knn.copy()
    high[7, 3] = 500
    low[7, 3] = -2
    wraps = knn.astype(np.int64)
    wraps[7, 3] = 2**32 + 5  # would be id 5 once narrowed to int32
    for graph in (high, low, wraps, knn[:-1], knn[:, 0], np.zeros((500, 0), np.int32)):
        with pytest.raises(ValueError):
            _core.Index(rows, backend="hnsw", knn_indices=graph)
    with pytest.raises(TypeError):
        _core.Index(rows, backend="hnsw", knn_indices=knn.astype(np.float64))
    # NumPy's default int64 is taken, and builds the same index as int32 ids.
    same = _core.Index(rows, backend="hnsw", knn_indices=knn.astype(np.int64))
    assert same.serialize(b"") == _core.Index(rows, backend="hnsw", knn_indices=knn).serialize(b"")
    padded = knn.copy()
    padded[7, 3] = -1  # a missing neighbour is allowed
    index = _core.Index(rows, backend="hnsw", knn_indices=padded)
    assert index.size == 500


def test_umap_fit_then_transform_links_from_the_fit_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _clustered(9000, 64, seed=1)
    spy = _BuildSpy(monkeypatch)
    model = umapc.UMAP(
        n_neighbors=15, n_epochs=30, random_state=0, force_approximation_algorithm=True
    ).fit(rows[:8000])
    placed = model.transform(rows[8000:])
    assert placed.shape == (1000, 2) and np.isfinite(placed).all()
    assert spy.graph_builds == [True]
