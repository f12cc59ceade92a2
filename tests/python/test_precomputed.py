"""metric="precomputed": dense distance matrices and sparse ones (stored entries = candidate
neighbours), against exact search, the plain fit and umap-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from umapc import UMAP, _core

pytestmark = pytest.mark.filterwarnings("ignore:.*precomputed metric:UserWarning")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    return x, y, cdist(x, x).astype(np.float32)


def _sparse_knn_distances(x: np.ndarray, k: int) -> scipy.sparse.csr_matrix:
    g = NearestNeighbors(n_neighbors=k).fit(x).kneighbors_graph(mode="distance")
    return g.maximum(g.T).tocsr()


def test_knn_from_distances_is_exact(digits) -> None:
    _, _, d = digits
    d = d.copy()
    d[3, 7] = d[7, 3] = np.inf  # no distance: never a neighbour
    idx, dist = _core.precomputed_knn(d, 9)
    want = np.argsort(d, axis=1, kind="stable")[:, :9]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(dist, np.take_along_axis(d, want, axis=1))
    g = _sparse_knn_distances(digits[0], 12)
    idx, dist = _core.precomputed_knn(
        g.data.astype(np.float32),
        5,
        indptr=g.indptr.astype(np.int64),
        indices=g.indices.astype(np.int32),
        n_cols=g.shape[1],
    )
    for r in (0, 100, 1796):
        row = g.getrow(r)
        order = np.lexsort((row.indices, row.data))[:5]
        np.testing.assert_array_equal(idx[r], row.indices[order])


def test_dense_precomputed_equals_the_plain_fit(digits) -> None:
    x, _, d = digits
    ours = UMAP(metric="precomputed", random_state=0, n_epochs=100).fit_transform(d)
    plain = UMAP(random_state=0, n_epochs=100).fit_transform(x)
    np.testing.assert_array_equal(ours, plain)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_quality_as_umap_learn(digits, kind) -> None:
    umap_learn = pytest.importorskip("umap")
    x, _, d = digits
    data = d if kind == "dense" else _sparse_knn_distances(x, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap_learn.UMAP(metric="precomputed", random_state=0, n_epochs=200)
        theirs = theirs.fit_transform(data)
    ours = UMAP(metric="precomputed", random_state=0, n_epochs=200).fit_transform(data)
    assert trustworthiness(x, ours, n_neighbors=15) >= (
        trustworthiness(x, theirs, n_neighbors=15) - 0.01
    )


def test_transform_takes_distances_to_the_training_points(digits) -> None:
    x, y, d = digits
    train, test = slice(0, 1500), slice(1500, None)
    model = UMAP(metric="precomputed", random_state=0, n_epochs=100).fit(d[train, train])
    new = model.transform(d[test, train])
    assert new.shape == (297, 2) and np.all(np.isfinite(new))
    clf = KNeighborsClassifier(15).fit(model.embedding_, y[train])
    assert clf.score(new, y[test]) > 0.9
    nn = NearestNeighbors(n_neighbors=20).fit(x[train])
    sparse_new = model.transform(nn.kneighbors_graph(x[test], mode="distance"))
    assert clf.score(sparse_new, y[test]) > 0.9


@pytest.mark.parametrize(
    "make, params",
    [
        (lambda d: d[:, :100], {}),  # not square
        (lambda d: np.where(d > 50, np.nan, d), {}),
        (lambda d: -d, {}),
        (lambda d: scipy.sparse.csr_matrix(np.triu(d[:50, :50])), {}),  # not symmetric
        (lambda d: scipy.sparse.csr_matrix(d[:50, :50] + np.eye(50)), {}),  # nonzero diagonal
        (lambda d: d, {"unique": True}),
    ],
)
def test_bad_distance_matrices_raise_value_error(digits, make, params) -> None:
    with pytest.raises(ValueError):
        UMAP(metric="precomputed", n_epochs=5, **params).fit(make(digits[2]))


def test_sparse_rows_with_too_few_distances_raise(digits) -> None:
    g = _sparse_knn_distances(digits[0], 5)
    with pytest.raises(ValueError, match="fewer than k"):
        UMAP(metric="precomputed", n_neighbors=15, n_epochs=5).fit(g)
