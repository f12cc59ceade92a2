"""Supervised and semi-supervised UMAP (fit with y) against umap-learn.

The graph operations are compared entry by entry with umap-learn's own functions on the same
fuzzy graph; the embeddings by the quality umap-learn reaches on the same data in the same test
(trustworthiness@15 and 15-NN label accuracy, 5-fold)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from umapc import UMAP, _core

umap_learn = pytest.importorskip("umap")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def digits_graph(digits) -> scipy.sparse.csr_matrix:
    return UMAP(random_state=0).fit(digits[0]).graph_


def _accuracy(emb: np.ndarray, y: np.ndarray) -> float:
    return float(cross_val_score(KNeighborsClassifier(15), emb, y, cv=5).mean())


def _same_graph(got: tuple, want: scipy.sparse.spmatrix) -> None:
    want = scipy.sparse.csr_matrix(want)
    want.eliminate_zeros()
    want.sort_indices()
    got_m = scipy.sparse.csr_matrix((got[2], got[1], got[0]), shape=want.shape)
    got_m.eliminate_zeros()
    assert got_m.nnz == want.nnz
    np.testing.assert_array_equal(got_m.indices, want.indices)
    np.testing.assert_allclose(got_m.data, want.data, rtol=1e-5, atol=1e-7)


def test_categorical_graph_equals_umap_learn(digits, digits_graph) -> None:
    from umap.umap_ import discrete_metric_simplicial_set_intersection

    y = digits[1].copy()
    y[::7] = -1  # unlabelled points scale by exp(-unknown_dist)
    g = digits_graph
    want = discrete_metric_simplicial_set_intersection(g.copy(), y, far_dist=5.0)
    got = _core.categorical_graph(g.indptr, g.indices, g.data, y.astype(np.int64), 1.0, 5.0)
    _same_graph(got, want)


def test_target_intersection_equals_umap_learn(digits, digits_graph) -> None:
    from umap.umap_ import general_simplicial_set_intersection, reset_local_connectivity

    g = digits_graph
    # any second fuzzy graph on the same points does: here that of the labels, as a fit with
    # target_metric="l1" builds it
    t = UMAP(metric="l1", random_state=0).fit(digits[1].astype(np.float32).reshape(-1, 1)).graph_
    for weight in (0.2, 0.5, 0.9):
        want = reset_local_connectivity(general_simplicial_set_intersection(g, t, weight))
        got = _core.combine_graphs(
            g.indptr,
            g.indices,
            g.data,
            t.indptr,
            t.indices,
            t.data.astype(np.float32),
            "intersection",
            weight,
        )
        _same_graph(got, want)


@pytest.mark.parametrize("kind", ["supervised", "semi-supervised", "regression"])
def test_embedding_quality_as_umap_learn(digits, kind) -> None:
    x, y = digits
    target: np.ndarray = y.copy()
    params: dict = {}
    if kind == "semi-supervised":
        target[np.random.default_rng(0).random(len(y)) < 0.5] = -1
    elif kind == "regression":
        target = y.astype(np.float64)
        params = {"target_metric": "l1"}
    params["n_epochs"] = 200
    ours = UMAP(random_state=1, **params).fit_transform(x, target)
    theirs = umap_learn.UMAP(random_state=1, **params).fit_transform(x, target)
    assert _accuracy(ours, y) >= _accuracy(theirs, y) - 0.01
    assert trustworthiness(x, ours, n_neighbors=15) >= (
        trustworthiness(x, theirs, n_neighbors=15) - 0.01
    )
    # the labels did something: supervised accuracy beats the unsupervised embedding's
    if kind == "supervised":
        plain = UMAP(random_state=1, n_epochs=200).fit_transform(x)
        assert _accuracy(ours, y) > _accuracy(plain, y)


def test_labels_of_any_type_give_the_same_embedding(digits) -> None:
    x, y = digits
    ints = UMAP(random_state=3, n_epochs=50).fit_transform(x, y)
    strings = UMAP(random_state=3, n_epochs=50).fit_transform(x, np.array([f"c{v}" for v in y]))
    np.testing.assert_array_equal(ints, strings)


def test_supervised_fit_is_deterministic_across_threads(digits) -> None:
    x, y = digits
    one = UMAP(random_state=5, n_jobs=1, n_epochs=60).fit_transform(x, y)
    two = UMAP(random_state=5, n_jobs=2, n_epochs=60).fit_transform(x, y)
    np.testing.assert_array_equal(one, two)


def test_transform_of_a_supervised_model(digits) -> None:
    x, y = digits
    model = UMAP(random_state=0, n_epochs=60).fit(x[:1500], y[:1500])
    new = model.transform(x[1500:])
    assert new.shape == (len(x) - 1500, 2) and np.all(np.isfinite(new))
    clf = KNeighborsClassifier(15).fit(model.embedding_, y[:1500])
    assert clf.score(new, y[1500:]) > 0.8


@pytest.mark.parametrize(
    "y, params",
    [
        (np.zeros(10), {}),  # wrong length
        (np.full(1797, np.nan), {}),
        (np.zeros((1797, 2)), {}),  # categorical targets are 1-D
        (np.zeros(1797), {"target_metric": "no-such-metric"}),
        (np.full(1797, np.inf), {"target_metric": "l1"}),
    ],
)
def test_bad_targets_raise_value_error(digits, y, params) -> None:
    with pytest.raises(ValueError):
        UMAP(n_epochs=5, **params).fit(digits[0], y)
