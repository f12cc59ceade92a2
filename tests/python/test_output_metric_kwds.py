"""The output metrics with keywords or their own dimensions (seuclidean, wminkowski, mahalanobis,
symmetric_kl, softmax_hellinger and the gaussian energies): the C gradients against umap-learn's
numba functions, fits whose neighbourhoods in the output metric are as faithful as umap-learn's,
and bad keywords refused up front."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from umapc import UMAP, _core
from umapc.umap_ import _OUTPUT_METRIC_CODES

# name -> (umap-learn's gradient in umap/distances.py, n_components)
_METRICS = {
    "seuclidean": ("standardised_euclidean_grad", None),
    "wminkowski": ("weighted_minkowski_grad", None),
    "mahalanobis": ("mahalanobis_grad", None),
    "symmetric_kl": ("symmetric_kl_grad", None),
    "softmax_hellinger": ("softmax_hellinger_grad", None),
    "spherical_gaussian_energy": ("spherical_gaussian_energy_grad", 3),
    "diagonal_gaussian_energy": ("diagonal_gaussian_energy_grad", 4),
    "gaussian_energy": ("gaussian_energy_grad", 5),
}


def _kwds(name: str, dim: int, rng: np.random.Generator) -> tuple[dict, tuple, np.ndarray | None]:
    """Random keywords for umapc, umap-learn's positional arguments, and the C params array."""
    if name == "seuclidean":
        v = rng.uniform(0.3, 3.0, dim)
        return {"V": v}, (v,), v
    if name == "wminkowski":
        w = rng.uniform(0.0, 2.0, dim)
        return {"w": w, "p": 3.0}, (w, 3.0), w
    if name == "mahalanobis":
        a = rng.normal(size=(dim, dim))
        vinv = a @ a.T + 0.1 * np.eye(dim)
        return {"VI": vinv}, (vinv,), vinv.ravel()
    return {}, (), None


@pytest.mark.parametrize("name", sorted(_METRICS))
def test_gradients_match_umap_learn(name) -> None:
    distances = pytest.importorskip("umap.distances")
    reference = getattr(distances, _METRICS[name][0])
    rng = np.random.default_rng(1)
    fixed = _METRICS[name][1]
    for dim in (fixed,) if fixed else (2, 3, 7):
        for _ in range(25):
            if fixed:  # means, widths and angles of either sign
                x, y = (rng.normal(0.0, 2.0, dim).astype(np.float32) for _ in range(2))
            else:  # positive: symmetric_kl's domain
                x, y = (rng.uniform(0.05, 3.0, dim).astype(np.float32) for _ in range(2))
            kwds, args, params = _kwds(name, dim, rng)
            p = kwds.get("p", 2.0)
            # copies: umap-learn's symmetric_kl and gaussian_energy write into their arguments
            want_d, want_g = reference(x.astype(np.float64), y.astype(np.float64), *args)
            got_d, got_g = _core.output_metric_grad(
                _OUTPUT_METRIC_CODES[name], x, y, p, None if params is None else params
            )
            np.testing.assert_allclose(got_d, want_d, rtol=2e-5, atol=1e-5)
            np.testing.assert_allclose(got_g, np.asarray(want_g)[:dim], rtol=5e-4, atol=5e-5)


def test_guards_where_umap_learn_divides_by_zero() -> None:
    """Zero sigma (spherical energy) and coordinates off the simplex (symmetric_kl) give finite
    values where umap-learn raises ZeroDivisionError or returns NaN."""
    code = _OUTPUT_METRIC_CODES["spherical_gaussian_energy"]
    d, g = _core.output_metric_grad(code, [0.0, 0.0, 0.0], [1.0, 2.0, 0.0], 2.0)
    assert d == 5.0 and g.tolist() == [0.0, 0.0, 1.0]
    code = _OUTPUT_METRIC_CODES["symmetric_kl"]
    d, g = _core.output_metric_grad(code, [-1.0, 0.5, 0.5], [0.2, 0.0, 0.8], 2.0)
    assert np.isfinite(d) and np.isfinite(g).all()


def _diff(e: np.ndarray) -> np.ndarray:
    return e[:, None, :] - e[None, :, :]


def _pairwise(name: str, e: np.ndarray, kwds: dict) -> np.ndarray:
    """All distances of an embedding in the output metric, from the formulas (numpy)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a point's zero width with itself
        return _pairwise_formula(name, e.astype(np.float64), kwds)


def _pairwise_formula(name: str, e: np.ndarray, kwds: dict) -> np.ndarray:
    d = _diff(e)
    if name == "seuclidean":
        return np.sqrt((d**2 / kwds["V"]).sum(-1))
    if name == "wminkowski":
        return ((kwds["w"] * np.abs(d) ** kwds["p"]).sum(-1)) ** (1 / kwds["p"])
    if name == "mahalanobis":
        return np.sqrt(np.maximum(np.einsum("ijk,kl,ijl->ij", d, kwds["VI"], d), 0.0))
    if name == "softmax_hellinger":
        q = np.exp(e - e.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        return np.sqrt(np.maximum(1.0 - np.sqrt(q[:, None, :] * q[None, :, :]).sum(-1), 0.0))
    mu = d[..., 0] ** 2 + d[..., 1] ** 2
    if name == "spherical_gaussian_energy":
        s = np.abs(e[:, 2])[:, None] + np.abs(e[:, 2])[None, :]
        return mu / (2 * s) + np.log(s)
    if name == "diagonal_gaussian_energy":
        s1 = np.abs(e[:, 2])[:, None] + np.abs(e[:, 2])[None, :]
        s2 = np.abs(e[:, 3])[:, None] + np.abs(e[:, 3])[None, :]
        return (s2 * d[..., 0] ** 2 + s1 * d[..., 1] ** 2) / (s1 * s2) / 2 + np.log(s1 * s2) / 2
    if name == "gaussian_energy":
        w, h, a = np.abs(e[:, 2]), np.abs(e[:, 3]), np.arcsin(np.sin(e[:, 4]))
        c11, c12, c22 = (
            w * np.cos(a) ** 2 + h * np.sin(a) ** 2,
            (w - h) * np.sin(a) * np.cos(a),
            (h * np.cos(a) ** 2 + w * np.sin(a) ** 2),
        )
        s11, s12, s22 = c11[:, None] + c11, c12[:, None] + c12, c22[:, None] + c22
        det = np.abs(s11 * s22 - s12**2)
        num = s22 * d[..., 0] ** 2 - 2 * s12 * d[..., 0] * d[..., 1] + s11 * d[..., 1] ** 2
        return num / det + np.log(det)
    raise KeyError(name)


def _knn_agreement(x: np.ndarray, emb_dist: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest data neighbours among its k nearest embedded ones in
    the output metric."""
    dx = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    de = emb_dist.copy()
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(de, np.inf)
    nx, ne = np.argsort(dx, 1)[:, :k], np.argsort(de, 1)[:, :k]
    return float(np.mean([np.intersect1d(a, b).size / k for a, b in zip(nx, ne)]))


_FITS = {
    "seuclidean": (2, {"V": np.array([0.5, 2.0])}),
    "wminkowski": (2, {"w": np.array([1.0, 0.3]), "p": 3.0}),
    "mahalanobis": (2, {"VI": np.array([[2.0, 0.5], [0.5, 1.0]])}),
    "softmax_hellinger": (2, {}),
    "diagonal_gaussian_energy": (4, {}),
    "gaussian_energy": (5, {}),
    "spherical_gaussian_energy": (3, {}),  # umap-learn divides by zero
    "symmetric_kl": (3, {}),  # umap-learn divides by zero
}
_UMAP_LEARN_NAMES = {"V": "sigma", "VI": "vinv"}  # its functions' argument names
_UMAP_LEARN_FAILS = {"spherical_gaussian_energy", "symmetric_kl"}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data[:500].astype(np.float32)


@pytest.mark.parametrize("name", sorted(_FITS))
def test_fit_as_faithful_as_umap_learn(digits, name) -> None:
    n_components, kwds = _FITS[name]
    params = {
        "output_metric": name,
        "n_components": n_components,
        "output_metric_kwds": kwds or None,
        "n_epochs": 60,
        "random_state": 0,
    }
    model = UMAP(**params).fit(digits)
    ours = model.embedding_
    assert np.isfinite(ours).all()
    again = UMAP(**params, n_jobs=1).fit(digits).embedding_
    np.testing.assert_array_equal(ours, again)  # any n_jobs, the same bytes
    new = model.transform(digits[:40] + 0.5)
    assert new.shape == (40, n_components) and np.isfinite(new).all()
    if name in _UMAP_LEARN_FAILS:
        umap_learn = pytest.importorskip("umap")
        with warnings.catch_warnings(), pytest.raises(ZeroDivisionError):
            warnings.simplefilter("ignore")
            umap_learn.UMAP(**params).fit(digits)
        if name == "spherical_gaussian_energy":  # chance is 10 / 500
            agreement = _knn_agreement(digits, _pairwise(name, ours, kwds))
            assert agreement > 0.3, agreement
        # symmetric_kl: umap-learn's gradient ignores its own normalisation, and its layout
        # has no result to compare with; umapc's is only checked to be finite and repeatable
        return
    agreement = _knn_agreement(digits, _pairwise(name, ours, kwds))
    umap_learn = pytest.importorskip("umap")
    theirs_kwds = {_UMAP_LEARN_NAMES.get(k, k): v for k, v in kwds.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap_learn.UMAP(**{**params, "output_metric_kwds": theirs_kwds or None})
        theirs = theirs.fit_transform(digits)
    reference = _knn_agreement(digits, _pairwise(name, theirs, kwds))
    assert agreement >= reference - 0.05, (agreement, reference)


def test_default_kwds_are_ones_and_identity(digits) -> None:
    """No keywords: ones and the identity of n_components (umap-learn's 2-element mocks)."""
    params = {"n_epochs": 30, "random_state": 0, "n_components": 3}
    for name, kwds in (
        ("seuclidean", {"V": np.ones(3)}),
        ("wminkowski", {"w": np.ones(3), "p": 2.0}),
        ("mahalanobis", {"VI": np.eye(3)}),
    ):
        got = UMAP(output_metric=name, **params).fit_transform(digits[:200])
        want = UMAP(output_metric=name, output_metric_kwds=kwds, **params).fit_transform(
            digits[:200]
        )
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "metric, n_components, kwds",
    [
        ("seuclidean", 2, {"V": [1.0, 2.0, 3.0]}),
        ("seuclidean", 2, {"V": [1.0, -2.0]}),
        ("seuclidean", 2, {"V": [1.0, 0.0]}),
        ("seuclidean", 2, {"V": [1.0, np.nan]}),
        ("seuclidean", 2, {"V": [[1.0, 2.0]]}),
        ("seuclidean", 2, {"V": [1.0, 2.0], "sigma": [1.0, 2.0]}),
        ("wminkowski", 2, {"w": [1.0]}),
        ("wminkowski", 2, {"w": [1.0, -1.0]}),
        ("wminkowski", 2, {"w": [1.0, 1.0], "p": 0.0}),
        ("wminkowski", 2, {"w": [1.0, np.inf]}),
        ("mahalanobis", 2, {"VI": np.eye(3)}),
        ("mahalanobis", 2, {"VI": np.ones((2, 3))}),
        ("mahalanobis", 2, {"VI": [[1.0, 0.0], [0.0, -1.0]]}),
        ("mahalanobis", 2, {"VI": "identity"}),
        ("mahalanobis", 2, {"VI": np.eye(2), "p": 2.0}),
        ("symmetric_kl", 2, {"z": -1.0}),
        ("symmetric_kl", 2, {"z": np.nan}),
        ("spherical_gaussian_energy", 2, {}),
        ("diagonal_gaussian_energy", 5, {}),
        ("gaussian_energy", 3, {}),
    ],
)
def test_bad_kwds_raise_up_front(metric, n_components, kwds) -> None:
    model = UMAP(
        output_metric=metric, n_components=n_components, output_metric_kwds=kwds, n_epochs=5
    )
    with pytest.raises(ValueError):
        model.fit(np.zeros((3, 0)))  # the keywords are refused before the data are looked at


def test_c_checks_the_array_against_the_dimension() -> None:
    """The binding hands the array to C, which checks it (a caller bypassing Python's checks)."""
    code = _OUTPUT_METRIC_CODES["mahalanobis"]
    with pytest.raises(ValueError, match="VI"):
        _core.output_metric_grad(code, [0.0, 1.0], [1.0, 0.0], 2.0, np.eye(3).ravel())
    with pytest.raises(ValueError, match="V > 0"):
        _core.output_metric_grad(
            _OUTPUT_METRIC_CODES["seuclidean"], [0.0, 1.0], [1.0, 0.0], 2.0, [1.0, -1.0]
        )
    e = np.zeros((4, 2), np.float32)
    args = (np.arange(5, dtype=np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="w"):
        _core.optimize_layout(
            e, None, np.zeros(5, np.int32), *args[1:], 5, 1.0, 1.0,
            output_metric=_OUTPUT_METRIC_CODES["wminkowski"], output_params=[1.0],
        )  # fmt: skip
