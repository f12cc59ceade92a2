"""Sparse (CSR) kernels and searches of the C library against independent references: the dense
metric on the densified rows (scipy where it has the metric), pynndescent's sparse distances, and
exact search on the dense rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from umapc import _core

# Metrics equal to the dense metric on the densified rows; the divergences follow pynndescent's
# sparse definition instead (see test_divergences_follow_pynndescent).
DENSE_EQUAL = [
    "euclidean", "sqeuclidean", "manhattan", "chebyshev", "minkowski", "cosine", "correlation",
    "canberra", "braycurtis", "hamming", "jaccard", "dice", "kulsinski", "matching",
    "rogerstanimoto", "russellrao", "sokalmichener", "sokalsneath", "yule", "hellinger",
]  # fmt: skip
SCIPY_NAMES = {
    "euclidean", "sqeuclidean", "cityblock", "chebyshev", "minkowski", "cosine", "correlation",
    "canberra", "braycurtis", "hamming", "jaccard",
}  # fmt: skip


def rows(m: sp.spmatrix) -> tuple:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    m.sort_indices()
    return (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data, m.shape[1])


@pytest.fixture(scope="module")
def data() -> sp.csr_matrix:
    x = sp.random(120, 300, density=0.06, random_state=1, format="csr", dtype=np.float32)
    x.data = np.abs(x.data) + 0.01
    x = sp.lil_matrix(x)
    x[5] = 0  # an empty row
    x = sp.csr_matrix(x)
    x.eliminate_zeros()
    return x


@pytest.mark.parametrize("metric", DENSE_EQUAL)
def test_sparse_equals_dense_metric(data: sp.csr_matrix, metric: str) -> None:
    dense = data.toarray()
    got = _core.sparse_pairwise_distances(rows(data), rows(data[:30]), metric=metric, p=3.0)
    want = _core.pairwise_distances(dense, dense[:30], metric=metric, p=3.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    name = "cityblock" if metric == "manhattan" else metric
    if name in SCIPY_NAMES and metric not in ("cosine", "correlation", "jaccard"):
        kw = {"p": 3.0} if metric == "minkowski" else {}
        ref = cdist(dense.astype(np.float64), dense[:30].astype(np.float64), name, **kw)
        defined = np.isfinite(ref)  # scipy's 0/0 for two empty rows, where pynndescent gives 0
        np.testing.assert_allclose(got[defined], ref[defined], rtol=1e-5, atol=1e-6)


def test_divergences_follow_pynndescent(data: sp.csr_matrix) -> None:
    pynn_sparse = pytest.importorskip("pynndescent.sparse")
    r = rows(data)
    for metric, fn in (
        ("jensen_shannon", pynn_sparse.sparse_jensen_shannon_divergence),
        ("symmetric_kl", pynn_sparse.sparse_symmetric_kl_divergence),
        ("hellinger", pynn_sparse.sparse_hellinger),
        ("cosine", pynn_sparse.sparse_cosine),
    ):
        got = _core.sparse_pairwise_distances(r, rows(data[:10]), metric=metric)
        for i in range(0, 120, 7):
            for j in range(10):
                a, b = data[i], data[j]
                want = fn(a.indices, a.data, b.indices, b.data)
                assert got[i, j] == pytest.approx(want, rel=1e-4, abs=1e-5), (metric, i, j)


def test_ll_dirichlet_follows_umap_learn_sparse_form() -> None:
    """umap-learn's sparse ll_dirichlet (every stored coordinate counts) on count rows, where it
    also equals the dense kernel on the densified rows (counts >= 1 pass its 0.9 threshold)."""
    umap_sparse = pytest.importorskip("umap.sparse")
    rng = np.random.default_rng(5)
    counts = sp.csr_matrix(rng.poisson(0.3, size=(60, 80)).astype(np.float32))
    counts[np.asarray(counts.sum(1)).ravel() == 0, 0] = 1.0  # ll_dirichlet needs mass in every row
    counts = sp.csr_matrix(counts)
    counts.eliminate_zeros()
    got = _core.sparse_pairwise_distances(rows(counts), rows(counts[:12]), metric="ll_dirichlet")
    dense = counts.toarray()
    np.testing.assert_allclose(
        got, _core.pairwise_distances(dense, dense[:12], metric="ll_dirichlet"), rtol=1e-5
    )
    fn = umap_sparse.sparse_ll_dirichlet
    for i in range(0, 60, 5):
        for j in range(12):
            a, b = counts[i], counts[j]
            want = fn(a.indices, a.data.astype(np.float64), b.indices, b.data.astype(np.float64))
            if np.isfinite(want):  # umap-learn's NaN where the radicand falls below 0
                assert got[i, j] == pytest.approx(want, rel=1e-4, abs=1e-5), (i, j)
    empty = sp.csr_matrix(np.vstack([dense[:3], np.zeros((1, 80), np.float32)]))
    with pytest.raises(ValueError, match="positive sum"):
        _core.sparse_check_data(rows(empty), metric="ll_dirichlet")


def test_unsorted_and_duplicate_indices_are_refused() -> None:
    indptr = np.array([0, 2], dtype=np.int64)
    for cols in ([3, 1], [2, 2]):
        bad = (indptr, np.array(cols, dtype=np.int32), np.ones(2, np.float32), 5)
        with pytest.raises(ValueError, match="strictly"):
            _core.sparse_check_data(bad)
    with pytest.raises(ValueError, match="outside"):
        _core.sparse_check_data((indptr, np.array([1, 9], np.int32), np.ones(2, np.float32), 5))
    nan = (indptr, np.array([1, 2], np.int32), np.array([1, np.nan], np.float32), 5)
    with pytest.raises(ValueError, match="non-finite"):
        _core.sparse_check_data(nan)
    with pytest.raises(ValueError, match="nonnegative"):
        neg = (indptr, np.array([1, 2], np.int32), np.array([1, -1], np.float32), 5)
        _core.sparse_check_data(neg, metric="hellinger")
    with pytest.raises(ValueError, match="no sparse kernel"):
        _core.sparse_check_data(rows(sp.eye(3)), metric="spearmanr")


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "hellinger"])
def test_exact_search_matches_dense(data: sp.csr_matrix, metric: str) -> None:
    dense = data.toarray()
    gi, gd = _core.sparse_exact_search(rows(data), None, 8, metric=metric, self=True)
    di, dd = _core.exact_knn_graph(dense, 8, metric=metric)
    np.testing.assert_allclose(gd, dd, rtol=1e-5, atol=1e-6)
    qi, qd = _core.sparse_exact_search(rows(data), rows(data[:20]), 5, metric=metric)
    full = _core.pairwise_distances(dense[:20], dense, metric=metric)
    np.testing.assert_allclose(qd, np.sort(full, axis=1)[:, :5], rtol=1e-5, atol=1e-6)


def clustered(n: int, d: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    centers = sp.random(12, d, density=0.03, random_state=seed, format="csr")
    noise = sp.random(n, d, density=0.01, random_state=seed + 1, format="csr")
    return sp.csr_matrix(centers[rng.integers(0, 12, n)] + noise, dtype=np.float32)


@pytest.mark.parametrize("metric", ["cosine", "hellinger", "euclidean"])
def test_nndescent_recall_against_exact(metric: str) -> None:
    x = clustered(3000, 800, 7)
    r = rows(x)
    ei, ed = _core.sparse_exact_search(r, None, 10, metric=metric, self=True)
    ni, nd, outcome = _core.nndescent_knn_graph(r, 10, metric=metric, outcome=True, seed=3)
    kth = ed[:, -1:] * (1 + 1e-5) + 1e-7
    recall = float(np.mean(nd[:, 1:] <= kth))
    assert recall >= 0.99, (recall, outcome)
    again = _core.nndescent_knn_graph(r, 10, metric=metric, seed=3, n_jobs=1)
    np.testing.assert_array_equal(again[0], ni)


def test_dense_pairwise_of_a_leading_slice(data: sp.csr_matrix) -> None:
    # x = dense[:20] starts where y = dense does: y must still be prepared on its own.
    dense = data.toarray()
    got = _core.pairwise_distances(dense[:20], dense, metric="cosine")
    ref = cdist(dense[:20].astype(np.float64), dense.astype(np.float64), "cosine")
    defined = np.isfinite(ref)
    np.testing.assert_allclose(got[defined], ref[defined], rtol=1e-5, atol=1e-6)
