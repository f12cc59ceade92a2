"""densMAP (densmap=True, output_dens=True) against umap-learn on the same data: the data radii
equal umap-learn's, and the embedding's radii correlate with them as well as umap-learn's do, at
the same trustworthiness."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from umapc import UMAP, _core

umap_learn = pytest.importorskip("umap")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


@pytest.fixture(scope="module")
def theirs(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = umap_learn.UMAP(densmap=True, output_dens=True, random_state=0, n_epochs=300)
        return model.fit_transform(digits[:1000])


def test_densmap_as_umap_learn(digits, theirs) -> None:
    x = digits[:1000]
    emb, r_orig, r_emb = UMAP(
        densmap=True, output_dens=True, random_state=0, n_epochs=300
    ).fit_transform(x)
    t_emb, t_orig, t_r_emb = theirs
    assert emb.shape == (len(x), 2) and np.all(np.isfinite(emb))
    # the same radii of the data (same graph, same neighbour distances)
    np.testing.assert_allclose(r_orig, t_orig, rtol=1e-4, atol=1e-4)
    # density preserved as well as umap-learn preserves it, at the same trustworthiness
    assert np.corrcoef(r_orig, r_emb)[0, 1] >= np.corrcoef(t_orig, t_r_emb)[0, 1] - 0.03
    assert trustworthiness(x, emb, n_neighbors=15) >= (
        trustworthiness(x, t_emb, n_neighbors=15) - 0.01
    )


def test_densmap_changes_the_layout_and_is_deterministic(digits) -> None:
    plain = UMAP(random_state=1, n_epochs=100).fit_transform(digits)
    one = UMAP(densmap=True, random_state=1, n_epochs=100, n_jobs=1).fit_transform(digits)
    two = UMAP(densmap=True, random_state=1, n_epochs=100, n_jobs=2).fit_transform(digits)
    np.testing.assert_array_equal(one, two)
    assert np.abs(one - plain).max() > 0.1


def test_output_dens_without_densmap_and_transform(digits) -> None:
    model = UMAP(output_dens=True, random_state=0, n_epochs=60)
    emb, r_orig, r_emb = model.fit_transform(digits)
    assert r_orig.shape == r_emb.shape == (len(digits),)
    assert np.all(np.isfinite(r_orig)) and np.all(np.isfinite(r_emb))
    # umap-learn refuses to transform with densMAP; umapc places new points as UMAP does
    dens = UMAP(densmap=True, random_state=0, n_epochs=60).fit(digits[:1500])
    assert np.all(np.isfinite(dens.transform(digits[1500:])))


def test_dens_radii_by_hand() -> None:
    # a triangle 0-1-2 with distances 1, 2, 3 and weights 1, 0.5, 0.25
    indptr = np.array([0, 2, 4, 6], dtype=np.int32)
    indices = np.array([1, 2, 0, 2, 0, 1], dtype=np.int32)
    data = np.array([1.0, 0.25, 1.0, 0.5, 0.25, 0.5], dtype=np.float32)
    knn_i = np.array([[1, 2], [0, 2], [0, 1]], dtype=np.int32)
    knn_d = np.array([[1.0, 3.0], [1.0, 2.0], [3.0, 2.0]], dtype=np.float32)
    got = _core.dens_radii(indptr, indices, data, knn_i, knn_d, squared=True)
    want = np.log(1e-8 + np.array([(1 + 0.25 * 9) / 1.25, (1 + 0.5 * 4) / 1.5, (2.25 + 2) / 0.75]))
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {"dens_lambda": -1.0},
        {"dens_frac": 1.5},
        {"dens_var_shift": -0.1},
        {"output_metric": "manhattan"},
    ],
)
def test_bad_densmap_parameters(digits, params) -> None:
    with pytest.raises((ValueError, NotImplementedError)):
        UMAP(densmap=True, n_epochs=5, **params).fit(digits[:100])


def test_inverse_transform_refuses_densmap(digits) -> None:
    model = UMAP(densmap=True, n_epochs=20).fit(digits[:300])
    with pytest.raises(ValueError, match="densMAP"):
        model.inverse_transform(model.embedding_[:3])
