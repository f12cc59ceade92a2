"""inverse_transform against umap-learn on the same data: reconstructions as close to the data
(1-NN label of the reconstruction, distance to the row whose embedding was inverted), in any
number of output dimensions, deterministic, and umap-learn's errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from umapc import UMAP


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def _scores(x, y, model, rows) -> tuple[float, float]:
    """1-NN label accuracy of the reconstructions of rows' (slightly moved) embeddings, and their
    mean distance to those rows."""
    points = model.embedding_[rows] + 0.05
    inv = model.inverse_transform(points)
    assert inv.shape == (len(rows), x.shape[1]) and np.all(np.isfinite(inv))
    clf = KNeighborsClassifier(1).fit(x, y)
    return float((clf.predict(inv) == y[rows]).mean()), float(
        np.linalg.norm(inv - x[rows], axis=1).mean()
    )


def test_reconstructions_as_good_as_umap_learn(digits) -> None:
    umap_learn = pytest.importorskip("umap")
    x, y = digits
    rows = np.arange(0, len(x), 9)
    ours = _scores(x, y, UMAP(random_state=0, n_epochs=200).fit(x), rows)
    theirs = _scores(x, y, umap_learn.UMAP(random_state=0, n_epochs=200).fit(x), rows)
    assert ours[0] >= theirs[0] - 0.02
    assert ours[1] <= theirs[1] * 1.1


@pytest.mark.parametrize("n_components", [3, 10])
def test_any_number_of_dimensions(digits, n_components) -> None:
    x, y = digits
    model = UMAP(n_components=n_components, random_state=0, n_epochs=100).fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_components >= 8 warns, as umap-learn
        accuracy, _ = _scores(x, y, model, np.arange(0, len(x), 20))
    assert accuracy > 0.8


def test_deterministic_across_threads(digits) -> None:
    x, _ = digits
    one = UMAP(random_state=0, n_epochs=50, n_jobs=1, transform_seed=3).fit(x)
    two = UMAP(random_state=0, n_epochs=50, n_jobs=2, transform_seed=3).fit(x)
    points = one.embedding_[:40] + 0.1
    np.testing.assert_array_equal(one.inverse_transform(points), two.inverse_transform(points))


def test_cosine_and_manhattan(digits) -> None:
    x, y = digits
    for metric in ("cosine", "manhattan"):
        model = UMAP(metric=metric, random_state=0, n_epochs=100).fit(x)
        accuracy, _ = _scores(x, y, model, np.arange(0, len(x), 20))
        assert accuracy > 0.8, metric


@pytest.mark.parametrize(
    "metric, kwds",
    [
        ("minkowski", {"p": 3.0}),
        ("correlation", None),
        ("hellinger", None),
        ("canberra", None),
        ("braycurtis", None),
    ],
)
def test_gradient_metrics_as_good_as_umap_learn(digits, metric, kwds) -> None:
    """Every data metric umap-learn has a gradient for inverts as well as umap-learn's does."""
    umap_learn = pytest.importorskip("umap")
    x, y = digits
    rows = np.arange(0, len(x), 15)
    params = {"metric": metric, "metric_kwds": kwds, "random_state": 0, "n_epochs": 100}
    ours = _scores(x, y, UMAP(**params).fit(x), rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = _scores(x, y, umap_learn.UMAP(**params).fit(x), rows)
        except ZeroDivisionError:  # umap-learn's canberra step divides by a zero distance
            assert ours[0] > 0.8, (metric, ours)
            return
    assert ours[0] >= theirs[0] - 0.05, (metric, ours, theirs)
    assert ours[1] <= theirs[1] * 1.15, (metric, ours, theirs)


@pytest.mark.parametrize(
    "params, points",
    [
        ({"metric": "hamming"}, None),  # no gradient in umap-learn either
        ({"transform_mode": "graph"}, None),
        ({}, np.zeros((3, 3))),  # wrong width
        ({}, np.full((3, 2), np.nan)),
    ],
)
def test_errors_as_umap_learn(digits, params, points) -> None:
    model = UMAP(n_epochs=10, **params).fit(digits[0][:300])
    with pytest.raises(ValueError):
        model.inverse_transform(model.embedding_[:3] if points is None else points)
