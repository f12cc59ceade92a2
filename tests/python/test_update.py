"""update(X): new points added to a fitted model, against umap-learn's update on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from umapc import UMAP


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def _quality(x, y, emb) -> tuple[float, float]:
    return (
        float(trustworthiness(x, emb, n_neighbors=15)),
        float(cross_val_score(KNeighborsClassifier(15), emb, y, cv=5).mean()),
    )


def test_update_as_good_as_umap_learn(digits) -> None:
    umap_learn = pytest.importorskip("umap")
    x, y = digits
    ours = UMAP(random_state=0, n_epochs=200).fit(x[:1200])
    ours.update(x[1200:])
    theirs = umap_learn.UMAP(random_state=0, n_epochs=200).fit(x[:1200])
    theirs.update(x[1200:])
    assert ours.embedding_.shape == theirs.embedding_.shape == (len(x), 2)
    assert ours.graph_.shape == (len(x), len(x))
    t_ours, a_ours = _quality(x, y, ours.embedding_)
    t_theirs, a_theirs = _quality(x, y, theirs.embedding_)
    assert t_ours >= t_theirs - 0.01
    assert a_ours >= a_theirs - 0.01


def test_updated_model_transforms_and_is_deterministic(digits) -> None:
    x, _ = digits
    runs = []
    for n_jobs in (1, 2):
        model = UMAP(random_state=0, n_epochs=60, n_jobs=n_jobs).fit(x[:1000])
        model.update(x[1000:1400])
        runs.append(model.embedding_)
        assert np.all(np.isfinite(model.transform(x[1400:1410])))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize(
    "params, fit_y, new",
    [
        ({}, False, np.zeros((3, 5))),  # wrong width
        ({}, False, np.full((3, 64), np.nan)),
        ({}, True, None),  # supervised
        ({"unique": True}, False, None),
    ],
)
def test_update_errors(digits, params, fit_y, new) -> None:
    x, y = digits
    model = UMAP(n_epochs=10, **params).fit(x[:300], y[:300] if fit_y else None)
    with pytest.raises(ValueError):
        model.update(x[300:320] if new is None else new)
