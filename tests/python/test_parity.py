"""umap-learn's estimator surface beyond the plain fit: unique=True and the scikit-learn API
(get_feature_names_out, feature_names_in_, pipelines and FeatureUnion)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from umapc import UMAP


@pytest.fixture(scope="module")
def repeated_digits() -> tuple[np.ndarray, np.ndarray]:
    x, _ = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    copies = rng.integers(1, 4, size=len(x))
    rows = rng.permutation(np.repeat(np.arange(len(x)), copies))
    return x[rows].astype(np.float32), rows


def test_unique_embeds_distinct_rows_once(repeated_digits) -> None:
    x, rows = repeated_digits
    model = UMAP(unique=True, random_state=0, n_epochs=100).fit(x)
    n_distinct = len(np.unique(rows))
    assert model.embedding_.shape == (len(x), 2)
    assert model.graph_.shape == (n_distinct, n_distinct)
    # every copy of a row sits exactly where the row does
    first = {}
    for i, r in enumerate(rows):
        first.setdefault(r, i)
        np.testing.assert_array_equal(model.embedding_[i], model.embedding_[first[r]])
    # new points are placed against the distinct rows
    assert np.all(np.isfinite(model.transform(x[:10] + 0.5)))


def test_unique_quality_as_umap_learn(repeated_digits) -> None:
    umap_learn = pytest.importorskip("umap")
    x, rows = repeated_digits
    _, one_copy = np.unique(rows, return_index=True)
    ours = UMAP(unique=True, random_state=0, n_epochs=200).fit_transform(x)
    theirs = umap_learn.UMAP(unique=True, random_state=0, n_epochs=200).fit_transform(x)
    t_ours = trustworthiness(x[one_copy], ours[one_copy], n_neighbors=15)
    t_theirs = trustworthiness(x[one_copy], theirs[one_copy], n_neighbors=15)
    assert t_ours >= t_theirs - 0.01


def test_unique_rejects_precomputed_knn(repeated_digits) -> None:
    x, _ = repeated_digits
    knn = (np.zeros((len(x), 15), dtype=np.int32), np.zeros((len(x), 15), dtype=np.float32))
    with pytest.raises(ValueError, match="unique"):
        UMAP(unique=True, precomputed_knn=knn).fit(x)


def test_feature_names_out_and_pipelines() -> None:
    x = np.random.default_rng(1).random((80, 6))
    model = UMAP(n_components=3, n_epochs=20, random_state=0).fit(x)
    assert list(model.get_feature_names_out()) == ["umap0", "umap1", "umap2"]
    union = make_pipeline(
        StandardScaler(), FeatureUnion([("umap", UMAP(n_epochs=20)), ("pca", PCA(2))])
    ).fit(x)
    assert list(union.get_feature_names_out()) == [
        "umap__umap0",
        "umap__umap1",
        "pca__pca0",
        "pca__pca1",
    ]
    assert union.transform(x[:5]).shape == (5, 4)


class _Frame:
    """The part of a data frame scikit-learn reads feature names from."""

    def __init__(self, values: np.ndarray, columns: list) -> None:
        self.values, self.columns = values, columns

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape


def test_feature_names_in_from_a_frame() -> None:
    values = np.random.default_rng(2).random((40, 3))
    model = UMAP(n_epochs=10).fit(_Frame(values, ["a", "b", "c"]))
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    # non-string column names are not feature names (scikit-learn's rule)
    model.fit(_Frame(values, [0, 1, 2]))
    assert not hasattr(model, "feature_names_in_")
