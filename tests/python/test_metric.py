"""Distance metrics of the C core against scipy (float64) and pynndescent's own functions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from umapc._core import metric_info, metric_names, pairwise_distances

pynnd = pytest.importorskip("pynndescent.distances")

RTOL = 1e-4
# Absolute slack for entries near zero (self-distances, duplicate rows), where a relative bound
# on a float32 result means nothing.
ATOL = 2e-6

# name -> (canonical, scipy name or None, pynndescent function name)
METRICS = {
    "euclidean": ("euclidean", "euclidean", "euclidean"),
    "l2": ("euclidean", "euclidean", "euclidean"),
    "sqeuclidean": ("sqeuclidean", "sqeuclidean", "squared_euclidean"),
    "manhattan": ("manhattan", "cityblock", "manhattan"),
    "l1": ("manhattan", "cityblock", "manhattan"),
    "taxicab": ("manhattan", "cityblock", "manhattan"),
    "chebyshev": ("chebyshev", "chebyshev", "chebyshev"),
    "linfinity": ("chebyshev", "chebyshev", "chebyshev"),
    "linfty": ("chebyshev", "chebyshev", "chebyshev"),
    "linf": ("chebyshev", "chebyshev", "chebyshev"),
    "minkowski": ("minkowski", "minkowski", "minkowski"),
    "cosine": ("cosine", "cosine", "cosine"),
    "correlation": ("correlation", "correlation", "correlation"),
    "dot": ("dot", None, "dot"),
    "inner_product": ("inner_product", None, "inner_product"),
    "canberra": ("canberra", "canberra", "canberra"),
    "braycurtis": ("braycurtis", "braycurtis", "bray_curtis"),
    "hamming": ("hamming", "hamming", "hamming"),
    "jaccard": ("jaccard", "jaccard", "jaccard"),
    "hellinger": ("hellinger", None, "hellinger"),
}
ANGULAR = {"cosine", "correlation", "dot", "hellinger"}

# Every SIMD path: below one vector, odd tails after the unrolled loop, and a wide row.
DIMS = [1, 7, 16, 17, 33, 63, 100, 257]


def make_data(rng: np.random.Generator, n: int, dim: int, kind: str) -> np.ndarray:
    """Rows of the kind the metric is meant for, with zero, constant and duplicate rows mixed in."""
    x = rng.standard_normal((n, dim)).astype(np.float32)
    if kind == "binary":
        x = (x > 0.3).astype(np.float32)
    elif kind == "nonnegative":
        x = np.abs(x) * (x > -0.5)
    elif kind == "unit":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[0] = 0.0
    x[1] = 0.0
    x[2] = 0.75
    x[4] = x[3]
    return x


def data_kind(canonical: str) -> str:
    if canonical in ("hamming", "jaccard"):
        return "binary"
    if canonical in ("hellinger", "braycurtis", "canberra"):
        return "nonnegative"
    if canonical == "dot":
        return "unit"
    return "normal"


def pynndescent_matrix(func_name: str, x: np.ndarray, y: np.ndarray, **kwargs) -> np.ndarray:
    func = getattr(pynnd, func_name)
    x64 = x.astype(np.float64)
    y64 = y.astype(np.float64)
    out = np.empty((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            out[i, j] = func(x64[i], y64[j], **kwargs)
    return out


def float64_without_scipy(canonical: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """pynndescent's definitions of the metrics scipy lacks, evaluated in float64 (pynndescent's
    own float32 versions are too noisy near 0 to serve as a reference: hellinger of a row with
    itself comes out as NaN or 2e-4 there)."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if canonical == "inner_product":
        return -(x @ y.T)
    if canonical == "dot":
        s = x @ y.T
        return np.where(s <= 0, 1.0, 1.0 - s)
    assert canonical == "hellinger"
    bc = np.sqrt(x) @ np.sqrt(y).T
    lx = x.sum(axis=1)[:, None]
    ly = y.sum(axis=1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sqrt(np.maximum(0.0, 1.0 - bc / np.sqrt(lx * ly)))
    d = np.where((lx == 0) | (ly == 0), 1.0, d)
    return np.where((lx == 0) & (ly == 0), 0.0, d)


def reference(name: str, x: np.ndarray, y: np.ndarray, p: float = 2.0) -> np.ndarray:
    """scipy's float64 cdist; where scipy gives NaN for 0/0 (zero or constant rows), pynndescent's
    convention, which umapc follows (0 when both rows are degenerate, 1 when one is)."""
    canonical, scipy_name, pynnd_name = METRICS[name]
    kwargs = {"p": p} if scipy_name == "minkowski" else {}
    if scipy_name is None:
        return float64_without_scipy(canonical, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = cdist(x.astype(np.float64), y.astype(np.float64), scipy_name, **kwargs)
    nan = np.isnan(ref)
    if nan.any():
        ref[nan] = pynndescent_matrix(pynnd_name, x, y, **kwargs)[nan]
    return ref


def assert_matches(got: np.ndarray, ref: np.ndarray, name: str) -> None:
    assert got.dtype == np.float32
    assert got.shape == ref.shape
    assert np.all(np.isfinite(got)), name
    np.testing.assert_allclose(
        got, ref, rtol=RTOL, atol=ATOL * max(1.0, np.abs(ref).max()), err_msg=name
    )


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("dim", DIMS)
def test_against_scipy(name: str, dim: int) -> None:
    canonical = METRICS[name][0]
    if canonical == "correlation" and dim == 1:
        pytest.skip("every 1-D row is constant")
    rng = np.random.default_rng(dim)
    kind = data_kind(canonical)
    x = make_data(rng, 23, dim, kind)
    y = make_data(rng, 11, dim, kind)
    assert_matches(pairwise_distances(x, y, metric=name), reference(name, x, y), name)
    assert_matches(pairwise_distances(x, metric=name), reference(name, x, x), name)


@pytest.mark.parametrize("name", sorted(set(m[0] for m in METRICS.values())))
def test_against_pynndescent(name: str) -> None:
    """Also on signed data for the metrics scipy lacks, and with all the degenerate rows."""
    rng = np.random.default_rng(5)
    kind = "nonnegative" if name == "hellinger" else "normal"
    if name in ("hamming", "jaccard"):
        kind = "binary"
    x = make_data(rng, 12, 37, kind)
    ref = pynndescent_matrix(METRICS[name][2], x, x)
    got = pairwise_distances(x, metric=name)
    assert np.all(np.isfinite(got))
    # pynndescent rounds in float32 and hellinger's square root magnifies that near 0 (identical
    # rows give NaN there), so near-zero entries get a looser absolute bound.
    finite = np.isfinite(ref)
    atol = (1e-3 if name == "hellinger" else 1e-5) * max(1.0, np.abs(ref[finite]).max())
    np.testing.assert_allclose(got[finite], ref[finite], rtol=RTOL, atol=atol, err_msg=name)


def test_degenerate_rows_follow_pynndescent() -> None:
    zero = np.zeros((1, 5), np.float32)
    const = np.full((1, 5), 2.0, np.float32)
    v = np.array([[1, 0, 3, 0, 2]], np.float32)
    for name, a, b in [
        ("cosine", zero, v),
        ("correlation", const, v),
        ("braycurtis", zero, v),
        ("hellinger", zero, v),
        ("jaccard", zero, v),
    ]:
        both = pairwise_distances(a, a, metric=name)[0, 0]
        one = pairwise_distances(a, b, metric=name)[0, 0]
        ref = pynndescent_matrix(METRICS[name][2], np.vstack([a, b]), a)[:, 0]
        assert (both, one) == pytest.approx(tuple(ref))
        assert (both, one) == (0.0, 1.0)


def test_jaccard_uses_nonzero_pattern() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(-2, 3, size=(15, 21)).astype(np.float32)
    got = pairwise_distances(x, metric="jaccard")
    ref = cdist(x != 0, x != 0, "jaccard")
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got, pynndescent_matrix("jaccard", x, x), rtol=RTOL, atol=ATOL)


def test_hamming_on_real_values() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(15, 19)).astype(np.float32)
    np.testing.assert_allclose(
        pairwise_distances(x, metric="hamming"), cdist(x, x, "hamming"), rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0, 3.0, 7.5])
@pytest.mark.parametrize("dim", [5, 33])
def test_minkowski(p: float, dim: int) -> None:
    rng = np.random.default_rng(int(p * 10) + dim)
    x = make_data(rng, 17, dim, "normal")
    y = make_data(rng, 9, dim, "normal")
    assert_matches(
        pairwise_distances(x, y, metric="minkowski", p=p),
        reference("minkowski", x, y, p=p),
        f"minkowski p={p}",
    )


def test_wide_rows_and_threads() -> None:
    """784-d rows (MNIST width): every thread count gives the same matrix, close to scipy."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.random((40, 784), dtype=np.float32)
    for name in ("euclidean", "cosine", "correlation", "manhattan"):
        ref = reference(name, x, y)
        results = [pairwise_distances(x, y, metric=name, n_jobs=n) for n in (1, 2, -1)]
        for got in results:
            assert_matches(got, ref, name)
            np.testing.assert_array_equal(got, results[0])


def test_input_conversion() -> None:
    x = np.arange(12, dtype=np.int64).reshape(4, 3)
    np.testing.assert_allclose(pairwise_distances(x), cdist(x, x), rtol=RTOL)
    xf = np.asfortranarray(np.random.default_rng(1).random((6, 5)))
    np.testing.assert_allclose(
        pairwise_distances(xf, xf[:2], metric="l1"), cdist(xf, xf[:2], "cityblock"), rtol=RTOL
    )


def test_metric_info() -> None:
    for name, (canonical, _, _) in METRICS.items():
        got_name, kind, angular = metric_info(name)
        assert got_name == canonical
        assert metric_info(canonical)[1] == kind
        assert angular is (canonical in ANGULAR)
    kinds = {metric_info(n)[1] for n in METRICS}
    assert len(kinds) == len({m[0] for m in METRICS.values()})
    # test_metrics_all.py covers the names beyond scipy's common metrics
    assert set(metric_names()) >= set(METRICS)


@pytest.mark.parametrize("bad", ["euclidian", "", "L2", "wasserstein_2d"])
def test_unknown_metric(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown metric") as info:
        metric_info(bad)
    assert "hellinger" in str(info.value) and "taxicab" in str(info.value)
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise_distances(np.ones((2, 2)), metric=bad)


@pytest.mark.parametrize("p", [0.0, -1.0, np.inf, np.nan])
def test_bad_p(p: float) -> None:
    with pytest.raises(ValueError, match="minkowski"):
        pairwise_distances(np.ones((2, 2)), metric="minkowski", p=p)


def test_bad_inputs() -> None:
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="columns"):
        pairwise_distances(x, np.ones((2, 5)))
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(bad)
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(x, bad)
    with pytest.raises(ValueError, match="nonnegative"):
        pairwise_distances(-x, metric="hellinger")
    with pytest.raises(ValueError):
        pairwise_distances(np.ones(4))
    with pytest.raises(ValueError, match="n_jobs"):
        pairwise_distances(x, n_jobs=0)
