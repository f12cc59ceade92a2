"""Non-euclidean output metrics: the layout's gradients against umap-learn's own functions, and
an embedding on a sphere as trustworthy as umap-learn's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from umapc import UMAP, _core
from umapc.umap_ import _OUTPUT_METRIC_CODES

# umap-learn's names of the gradient functions (umap/distances.py)
_REFERENCE = {
    "euclidean": "euclidean_grad",
    "manhattan": "manhattan_grad",
    "chebyshev": "chebyshev_grad",
    "minkowski": "minkowski_grad",
    "cosine": "cosine_grad",
    "correlation": "correlation_grad",
    "hellinger": "hellinger_grad",
    "canberra": "canberra_grad",
    "braycurtis": "bray_curtis_grad",
    "haversine": "haversine_grad",
    "hyperboloid": "hyperboloid_grad",
}


@pytest.mark.parametrize("name", sorted(_REFERENCE))
def test_gradients_match_umap_learn(name) -> None:
    distances = pytest.importorskip("umap.distances")
    reference = getattr(distances, _REFERENCE[name])
    rng = np.random.default_rng(0)
    dim = 2 if name == "haversine" else 5
    for _ in range(20):
        x = rng.uniform(0.05, 1.0, dim).astype(np.float32)  # positive: hellinger's domain
        y = rng.uniform(0.05, 1.0, dim).astype(np.float32)
        args = (3.0,) if name == "minkowski" else ()
        want_d, want_g = reference(x.astype(np.float64), y.astype(np.float64), *args)
        got_d, got_g = _core.output_metric_grad(_OUTPUT_METRIC_CODES[name], x, y, 3.0)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_g, np.asarray(want_g), rtol=1e-4, atol=1e-5)


def _on_sphere(e: np.ndarray) -> np.ndarray:
    """umap-learn's haversine coordinates as points of the unit sphere (chord distances rank
    neighbours as great-circle distances do)."""
    return np.column_stack(
        [np.sin(e[:, 0]) * np.cos(e[:, 1]), np.sin(e[:, 0]) * np.sin(e[:, 1]), np.cos(e[:, 0])]
    )


def test_sphere_as_trustworthy_as_umap_learn() -> None:
    umap_learn = pytest.importorskip("umap")
    x = load_digits().data.astype(np.float32)
    params = {"output_metric": "haversine", "random_state": 0, "n_epochs": 200}
    ours = UMAP(**params).fit_transform(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap_learn.UMAP(**params).fit_transform(x)
    t_ours = trustworthiness(x, _on_sphere(ours), n_neighbors=15)
    t_theirs = trustworthiness(x, _on_sphere(theirs), n_neighbors=15)
    assert t_ours >= t_theirs - 0.01, (t_ours, t_theirs)


@pytest.mark.parametrize("output_metric", ["manhattan", "hyperboloid", "cosine"])
def test_fit_transform_and_transform(output_metric) -> None:
    x = load_digits().data.astype(np.float32)
    model = UMAP(output_metric=output_metric, random_state=0, n_epochs=60).fit(x[:1200])
    assert np.isfinite(model.embedding_).all()
    new = model.transform(x[1200:1300])
    assert new.shape == (100, 2) and np.isfinite(new).all()
    again = UMAP(output_metric=output_metric, random_state=0, n_epochs=60, n_jobs=1).fit(x[:1200])
    np.testing.assert_array_equal(model.embedding_, again.embedding_)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"output_metric": "haversine", "n_components": 3}, ValueError),
        ({"output_metric": "minkowski", "output_metric_kwds": {"p": -1.0}}, ValueError),
        ({"output_metric": "hyperboloid", "densmap": True}, ValueError),
        ({"output_metric": "mahalanobis", "output_metric_kwds": {"VI": [[1.0]]}}, ValueError),
        ({"output_metric": "not-a-metric"}, ValueError),
    ],
)
def test_bad_output_metrics(params, error) -> None:
    with pytest.raises(error):
        UMAP(n_epochs=5, **params).fit(load_digits().data[:100])
