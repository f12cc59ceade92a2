"""Property-based tests (hypothesis) of NNIndex and UMAP on small random inputs.

Every example is checked against an independent float64 brute force (scipy's ``cdist``, or numpy
formulas for the metrics scipy lacks, with pynndescent's conventions for zero and constant rows).
Runs are reproducible: examples are derived from each test's name (``derandomize``) and no example
database is read or written. ``UMAPC_PROPERTY_SCALE=10`` runs ten times the examples;
``UMAPC_PROPERTY_RANDOM=1`` draws fresh random examples on each run (hypothesis then prints a
``@reproduce_failure`` blob for any failure).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

from umapc import UMAP, NNIndex, _core

_SCALE = float(os.environ.get("UMAPC_PROPERTY_SCALE", "1"))
_RANDOM = os.environ.get("UMAPC_PROPERTY_RANDOM", "") == "1"


def _settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=max(1, int(examples * _SCALE)),
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        print_blob=_RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---- references -----------------------------------------------------------------------------

# Every metric name umapc accepts -> its canonical metric (checked against the C library below).
METRICS = {
    "euclidean": "euclidean",
    "l2": "euclidean",
    "sqeuclidean": "sqeuclidean",
    "manhattan": "manhattan",
    "l1": "manhattan",
    "taxicab": "manhattan",
    "chebyshev": "chebyshev",
    "linfinity": "chebyshev",
    "linfty": "chebyshev",
    "linf": "chebyshev",
    "minkowski": "minkowski",
    "cosine": "cosine",
    "correlation": "correlation",
    "dot": "dot",
    "canberra": "canberra",
    "braycurtis": "braycurtis",
    "hamming": "hamming",
    "jaccard": "jaccard",
    "hellinger": "hellinger",
    "inner_product": "inner_product",
}
_SCIPY_NAMES = {
    "euclidean": "euclidean",
    "sqeuclidean": "sqeuclidean",
    "manhattan": "cityblock",
    "chebyshev": "chebyshev",
    "canberra": "canberra",
    "hamming": "hamming",
}


def _degenerate_patch(d: np.ndarray, qbad: np.ndarray, xbad: np.ndarray) -> np.ndarray:
    """pynndescent's convention where scipy gives NaN: 0 between two degenerate rows (zero, or
    constant for correlation), 1 between a degenerate and a regular one."""
    both = qbad[:, None] & xbad[None, :]
    either = qbad[:, None] | xbad[None, :]
    d = np.where(either, 1.0, d)
    return np.where(both, 0.0, d)


def reference_distances(metric: str, q: np.ndarray, x: np.ndarray, p: float = 2.0) -> np.ndarray:
    """Float64 distances between the rows of q and x for the canonical ``metric``.

    q and x are the float32 values umapc sees (the comparison is of the search, not of the
    float32 rounding of the input)."""
    q = q.astype(np.float64)
    x = x.astype(np.float64)
    if metric in _SCIPY_NAMES:
        return cdist(q, x, _SCIPY_NAMES[metric])
    if metric == "minkowski":
        return cdist(q, x, "minkowski", p=p)
    if metric == "jaccard":
        return cdist(q != 0, x != 0, "jaccard")
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "cosine":
            d = np.clip(cdist(q, x, "cosine"), 0.0, 2.0)
            return _degenerate_patch(d, ~q.any(axis=1), ~x.any(axis=1))
        if metric == "correlation":
            d = np.clip(cdist(q, x, "correlation"), 0.0, 2.0)
            qc = (q == q[:, :1]).all(axis=1)
            xc = (x == x[:, :1]).all(axis=1)
            return _degenerate_patch(d, qc, xc)
        if metric == "braycurtis":
            d = cdist(q, x, "braycurtis")
            return np.where(np.isfinite(d), d, 0.0)  # 0 when sum |q + x| is 0 (pynndescent)
    if metric == "dot":  # pynndescent normalises the rows, then 1 - <q, x>, 1 when <q, x> <= 0
        qn = q / np.where(q.any(axis=1), np.linalg.norm(q, axis=1), 1.0)[:, None]
        xn = x / np.where(x.any(axis=1), np.linalg.norm(x, axis=1), 1.0)[:, None]
        ab = qn @ xn.T
        return np.where(ab <= 0.0, 1.0, 1.0 - ab)
    if metric == "inner_product":
        return -(q @ x.T)
    if metric == "hellinger":
        sq, sx = q.sum(axis=1), x.sum(axis=1)
        overlap = np.sqrt(q) @ np.sqrt(x).T
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.sqrt(np.maximum(1.0 - overlap / np.sqrt(np.outer(sq, sx)), 0.0))
        return _degenerate_patch(d, sq <= 0.0, sx <= 0.0)
    raise AssertionError(f"no reference for {metric}")


# Metrics whose values lie in [0, 2]: their float32 rounding is absolute, of order 1e-7 * dim,
# even when every distance is tiny.
_BOUNDED = {"cosine", "correlation", "dot", "hellinger", "jaccard", "hamming", "braycurtis"}


def tolerance(ref: np.ndarray, metric: str) -> tuple[float, float]:
    """(rtol, atol) for float32 results against the float64 reference: float32 sums of up to 50
    terms lose a few units in 1e-6 of the largest value, so atol scales with the data."""
    finite = ref[np.isfinite(ref)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    if metric in _BOUNDED:
        scale = max(scale, 1.0)
    return 1e-4, 2e-5 * scale + 1e-30


def _assert_close(got: np.ndarray, want: np.ndarray, tol: tuple[float, float], what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1], err_msg=what)


# ---- data -----------------------------------------------------------------------------------


def _fit_metric_domain(x: np.ndarray, metric: str) -> np.ndarray:
    if metric == "hellinger":  # hellinger is defined on nonnegative rows only
        return np.abs(x)
    return x


@st.composite
def matrices(
    draw: st.DrawFn, min_rows: int = 1, max_rows: int = 200, max_dim: int = 50
) -> np.ndarray:
    """Small float32/float64 matrices: gaussian at several scales, small integers (many ties),
    binary, nonnegative, or raw hypothesis floats (signed zeros, subnormals, huge spreads), with
    duplicated rows and constant columns mixed in."""
    n = draw(st.integers(min_rows, max_rows))
    dim = draw(st.integers(1, max_dim))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    style = draw(st.sampled_from(["normal", "integers", "binary", "nonnegative", "raw"]))
    if style == "raw" and n * dim <= 600:
        elements = st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_infinity=False)
        x = draw(hnp.arrays(dtype, (n, dim), elements=elements)).astype(dtype)
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        if style == "integers":
            x = rng.integers(-3, 4, size=(n, dim)).astype(np.float64)
        elif style == "binary":
            x = (rng.random((n, dim)) < 0.3).astype(np.float64)
        elif style == "nonnegative":
            x = np.maximum(rng.normal(size=(n, dim)), 0.0)
        else:
            x = rng.normal(size=(n, dim)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
        x = x.astype(dtype)
    if n > 1:
        for _ in range(draw(st.integers(0, max(0, n // 3)))):  # duplicated rows
            i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            x[i] = x[j]
    for col in draw(st.sets(st.integers(0, dim - 1), max_size=max(0, dim // 2))):
        x[:, col] = draw(st.sampled_from([0.0, 1.0, -2.5]))  # constant columns
    return x


metric_names = st.sampled_from(sorted(METRICS))
minkowski_p = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])


def _metric_args(name: str, p: float) -> dict[str, Any]:
    return {"metric": name, "metric_kwds": {"p": p} if name == "minkowski" else None}


def _as_seen(x: np.ndarray) -> np.ndarray:
    """The float32 values umapc computes with."""
    return np.ascontiguousarray(x, dtype=np.float32)


# ---- NNIndex: structure of every answer ------------------------------------------------------


def _check_answer(
    indices: np.ndarray,
    distances: np.ndarray,
    shape: tuple[int, int],
    n_indexed: int,
    ref: np.ndarray,
    tol: tuple[float, float],
) -> None:
    """Shapes and dtypes; ids in range and distinct per row; finite distances sorted ascending;
    each reported distance is the reference distance of the id next to it."""
    assert indices.shape == shape and distances.shape == shape
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    assert np.isfinite(distances).all()
    assert indices.min() >= 0 and indices.max() < n_indexed
    for row in indices:
        assert np.unique(row).size == row.size, f"repeated ids in a row: {row}"
    assert (np.diff(distances, axis=1) >= 0).all(), "distances not ascending"
    _assert_close(distances, np.take_along_axis(ref, indices, axis=1), tol, "id/distance pairs")


def test_every_metric_name_has_a_reference() -> None:
    # The metrics beyond these (parameters, restricted domains) are checked against their
    # references in test_metrics_all.py.
    names = set(_core.metric_names())
    assert names >= set(METRICS)
    for name in names - set(METRICS):
        assert _core.metric_info(name)[1] > _core.metric_info("inner_product")[1] or (
            name == "direct_cosine"
        )
    for name, canonical in METRICS.items():
        assert _core.metric_info(name)[0] == canonical


@_settings(150)
@given(
    x=matrices(), queries=matrices(max_rows=30), metric=metric_names, p=minkowski_p, data=st.data()
)
def test_exact_query_equals_brute_force(x, queries, metric, p, data) -> None:
    canonical = METRICS[metric]
    x = _fit_metric_domain(x, canonical)
    dim = x.shape[1]
    # queries of the index's width: reuse the drawn values, cycled over the columns
    q = _fit_metric_domain(np.resize(queries, (queries.shape[0], dim)), canonical)
    n = x.shape[0]
    k = data.draw(st.integers(1, n), label="k")
    index = NNIndex(x, n_neighbors=1, backend="exact", **_metric_args(metric, p))
    indices, distances = index.query(q, k=k)
    ref = reference_distances(canonical, _as_seen(q), _as_seen(x), p)
    tol = tolerance(ref, canonical)
    _check_answer(indices, distances, (q.shape[0], k), n, ref, tol)
    # ties may order ids either way: the k smallest distances themselves must be the true ones
    _assert_close(distances, np.sort(ref, axis=1)[:, :k], tol, "k smallest distances")


@_settings(80)
@given(x=matrices(min_rows=2), metric=metric_names, p=minkowski_p, data=st.data())
def test_exact_query_of_training_rows_finds_each_row_first(x, metric, p, data) -> None:
    canonical = METRICS[metric]
    x = _fit_metric_domain(x, canonical)
    n = x.shape[0]
    k = data.draw(st.integers(1, min(n, 10)), label="k")
    index = NNIndex(x, n_neighbors=1, backend="exact", **_metric_args(metric, p))
    indices, distances = index.query(x, k=k)
    ref = reference_distances(canonical, _as_seen(x), _as_seen(x), p)
    tol = tolerance(ref, canonical)
    _check_answer(indices, distances, (n, k), n, ref, tol)
    _assert_close(distances, np.sort(ref, axis=1)[:, :k], tol, "k smallest distances")
    # A row is its own unique nearest neighbour unless another row is as close (a duplicate, a
    # scaled copy under cosine, any row under inner_product ...): where the reference's self
    # distance is below every other by more than the tolerance, the row must come first.
    others = ref + np.diag(np.full(n, np.inf))
    strict = np.diag(ref) + 4 * tol[1] < others.min(axis=1)
    np.testing.assert_array_equal(indices[strict, 0], np.flatnonzero(strict))


@_settings(80)
@given(x=matrices(min_rows=2), metric=metric_names, p=minkowski_p, data=st.data())
def test_exact_neighbor_graph_is_self_then_brute_force(x, metric, p, data) -> None:
    canonical = METRICS[metric]
    x = _fit_metric_domain(x, canonical)
    n = x.shape[0]
    k = data.draw(st.integers(1, min(n, 15)), label="n_neighbors")
    index = NNIndex(x, n_neighbors=k, backend="exact", **_metric_args(metric, p))
    indices, distances = index.neighbor_graph
    assert indices.shape == (n, k) and distances.shape == (n, k)
    np.testing.assert_array_equal(indices[:, 0], np.arange(n))
    np.testing.assert_array_equal(distances[:, 0], 0.0)
    if k == 1:
        return
    ref = reference_distances(canonical, _as_seen(x), _as_seen(x), p)
    tol = tolerance(ref, canonical)
    others = ref + np.diag(np.full(n, np.inf))  # the rest: the k - 1 nearest *other* rows
    _check_answer(indices[:, 1:], distances[:, 1:], (n, k - 1), n, others, tol)
    assert (indices[:, 1:] != np.arange(n)[:, None]).all()
    _assert_close(distances[:, 1:], np.sort(others, axis=1)[:, : k - 1], tol, "graph")


@_settings(60)
@given(x=matrices(min_rows=2, max_rows=120), metric=metric_names, data=st.data())
def test_exact_filtered_query_equals_brute_force_on_allowed_rows(x, metric, data) -> None:
    canonical = METRICS[metric]
    x = _fit_metric_domain(x, canonical)
    n = x.shape[0]
    density = data.draw(st.sampled_from([0.0, 0.05, 0.3, 0.9, 1.0]), label="mask density")
    mask = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random(n) < density
    k = data.draw(st.integers(1, n), label="k")
    q = x[: min(n, 7)]
    index = NNIndex(x, n_neighbors=1, backend="exact", **_metric_args(metric, 2.0))
    indices, distances = index.query(q, k=k, filter_mask=mask)
    allowed = int(mask.sum())
    got = min(k, allowed)
    assert (indices[:, got:] == -1).all() and np.isposinf(distances[:, got:]).all()
    ref = reference_distances(canonical, _as_seen(q), _as_seen(x), 2.0)
    tol = tolerance(ref, canonical)
    ref = np.where(mask[None, :], ref, np.inf)
    if got:
        assert mask[indices[:, :got]].all()
        _check_answer(indices[:, :got], distances[:, :got], (q.shape[0], got), n, ref, tol)
        _assert_close(distances[:, :got], np.sort(ref, axis=1)[:, :got], tol, "filtered")


# ---- NNIndex: the approximate backend --------------------------------------------------------


@_settings(80)
@given(x=matrices(min_rows=2), metric=metric_names, p=minkowski_p, data=st.data())
def test_hnsw_answers_are_well_formed_and_never_beat_exact(x, metric, p, data) -> None:
    """HNSW and NN-descent are approximate, so only structure is exact: every slot filled with a
    real neighbour at its true distance, and the j-th distance never below the true j-th."""
    canonical = METRICS[metric]
    x = _fit_metric_domain(x, canonical)
    n = x.shape[0]
    k = data.draw(st.integers(1, min(n, 10)), label="k")
    seed = data.draw(st.integers(0, 2**31), label="seed")
    index = NNIndex(x, n_neighbors=k, backend="hnsw", random_state=seed, **_metric_args(metric, p))
    ref = reference_distances(canonical, _as_seen(x), _as_seen(x), p)
    tol = tolerance(ref, canonical)
    atol = tol[1]

    # neighbor_graph before any query: NN-descent from the rows
    indices, distances = index.neighbor_graph
    np.testing.assert_array_equal(indices[:, 0], np.arange(n))
    if k > 1:
        others = ref + np.diag(np.full(n, np.inf))
        _check_answer(indices[:, 1:], distances[:, 1:], (n, k - 1), n, others, tol)
        assert (distances[:, 1:] >= np.sort(others, axis=1)[:, : k - 1] - atol).all()

    q = x[: min(n, 20)]
    indices, distances = index.query(q, k=k)
    _check_answer(indices, distances, (q.shape[0], k), n, ref[: q.shape[0]], tol)
    assert (distances >= np.sort(ref[: q.shape[0]], axis=1)[:, :k] - atol).all()
    # with a beam as wide as the index the search visits every reachable point
    wide_i, wide_d = index.query(q, k=k, ef=max(n, 16))
    _check_answer(wide_i, wide_d, (q.shape[0], k), n, ref[: q.shape[0]], tol)


# ---- UMAP --------------------------------------------------------------------------------------

umap_metrics = st.sampled_from(
    ["euclidean", "manhattan", "chebyshev", "cosine", "correlation", "hellinger", "canberra"]
)


def _fit(model: UMAP, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # n_neighbors truncated, spectral fallback, disconnected vertices: expected on tiny inputs
        warnings.simplefilter("ignore")
        return model.fit_transform(x)


def _check_embedding(model: UMAP, embedding: np.ndarray, n: int, n_components: int) -> None:
    assert embedding.shape == (n, n_components) and embedding.dtype == np.float32
    graph = model.graph_
    assert scipy.sparse.issparse(graph) and graph.shape == (n, n)
    assert (graph.data > 0).all() and (graph.data <= 1.0 + 1e-6).all()
    if graph.nnz:
        assert abs(graph - graph.T).max() <= 1e-6  # the fuzzy union is symmetric
    assert not graph.diagonal().any()
    # rows without any edge are NaN (umap-learn's convention); every other row is finite
    isolated = np.diff(graph.tocsr().indptr) == 0 if n > 1 else np.zeros(1, dtype=bool)
    if n > 1:
        assert np.isnan(embedding[isolated]).all()
    assert np.isfinite(embedding[~isolated]).all()


@_settings(60)
@given(
    x=matrices(min_rows=1, max_rows=150, max_dim=20),
    metric=umap_metrics,
    n_neighbors=st.integers(2, 20),
    n_components=st.integers(1, 3),
    init=st.sampled_from(["spectral", "random", "pca"]),
    n_epochs=st.integers(0, 30),
    seed=st.integers(0, 2**31),
    approximate=st.booleans(),
)
def test_umap_fit_transform_is_finite_with_the_right_shape(
    x, metric, n_neighbors, n_components, init, n_epochs, seed, approximate
) -> None:
    x = _fit_metric_domain(x, metric)
    n = x.shape[0]
    if init == "pca" and n_components > min(x.shape):
        init = "random"  # scikit-learn's PCA needs n_components <= min(n_samples, n_features)
    model = UMAP(
        n_neighbors=n_neighbors,
        n_components=n_components,
        metric=metric,
        init=init,
        n_epochs=n_epochs,
        random_state=seed,
        force_approximation_algorithm=approximate,  # NN-descent instead of exact neighbours
    )
    embedding = _fit(model, x)
    _check_embedding(model, embedding, n, n_components)
    if n > 1:
        k = min(n_neighbors, n - 1)
        assert model._knn_indices.shape == (n, k)
        ref = reference_distances(metric, _as_seen(x), _as_seen(x))
        kept = np.isfinite(model._knn_dists)  # neighbours at the disconnection distance are cut
        np.testing.assert_array_equal(model._knn_indices[:, 0], np.arange(n))
        got = np.take_along_axis(ref, np.where(kept, model._knn_indices, 0), axis=1)
        tol = tolerance(ref, metric)
        _assert_close(model._knn_dists[kept], got[kept], tol, "UMAP's knn distances")


@_settings(40)
@given(
    x=matrices(min_rows=3, max_rows=150, max_dim=20),
    metric=st.sampled_from(["euclidean", "manhattan", "cosine", "chebyshev"]),
    n_neighbors=st.integers(2, 15),
    n_epochs=st.integers(1, 30),
    data=st.data(),
)
def test_umap_transform_of_training_rows_is_finite(x, metric, n_neighbors, n_epochs, data) -> None:
    n = x.shape[0]
    model = UMAP(n_neighbors=n_neighbors, metric=metric, n_epochs=n_epochs, random_state=0)
    embedding = _fit(model, x)
    # the whole training set maps to its own embedding (umap-learn's shortcut) ...
    np.testing.assert_array_equal(model.transform(x), embedding)
    # ... and a subset goes through search, graph and layout
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n - 1), label="rows")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        placed = model.transform(x[rows])
    assert placed.shape == (len(rows), 2) and placed.dtype == np.float32
    assert np.isfinite(placed).all()


@_settings(30)
@given(
    x=matrices(min_rows=2, max_rows=150, max_dim=20),
    metric=umap_metrics,
    n_neighbors=st.integers(2, 15),
    init=st.sampled_from(["spectral", "random"]),
    seed=st.integers(0, 2**31),
    approximate=st.booleans(),
)
def test_umap_same_random_state_gives_the_same_bytes(
    x, metric, n_neighbors, init, seed, approximate
) -> None:
    """Same seed, same embedding, bit for bit, also with a different thread count."""
    x = _fit_metric_domain(x, metric)
    params = dict(
        n_neighbors=n_neighbors,
        metric=metric,
        init=init,
        n_epochs=25,
        random_state=seed,
        force_approximation_algorithm=approximate,
    )
    first = _fit(UMAP(n_jobs=1, **params), x)
    second = _fit(UMAP(n_jobs=2, **params), x)
    np.testing.assert_array_equal(first, second)


# ---- bad input: a clean ValueError / TypeError, never a crash --------------------------------


def _poison(x: np.ndarray, how: str, where: tuple[int, int]) -> Any:
    x = x.astype(np.float64)
    if how == "nan":
        x[where] = np.nan
        return x
    if how == "inf":
        x[where] = -np.inf
        return x
    if how == "strings":
        return x.astype(str)
    if how == "1-d":
        return x.ravel()
    if how == "3-d":
        return x[None]
    if how == "no rows":
        return x[:0]
    if how == "no columns":
        return x[:, :0]
    if how == "complex":
        return x.astype(np.complex64)
    if how == "ragged":
        return [list(row) for row in x] + [[1.0] * (x.shape[1] + 1)]
    raise AssertionError(how)


_POISONS = ["nan", "inf", "strings", "1-d", "3-d", "no rows", "no columns", "complex", "ragged"]


@_settings(60)
@given(
    x=matrices(min_rows=2, max_rows=30, max_dim=8), how=st.sampled_from(_POISONS), data=st.data()
)
def test_bad_data_raises_cleanly(x, how, data) -> None:
    where = (data.draw(st.integers(0, x.shape[0] - 1)), data.draw(st.integers(0, x.shape[1] - 1)))
    backend = data.draw(st.sampled_from(["exact", "hnsw"]), label="backend")
    bad = _poison(x, how, where)
    with pytest.raises((ValueError, TypeError)):
        NNIndex(bad, n_neighbors=1, backend=backend)
    with pytest.raises((ValueError, TypeError)):
        UMAP(n_neighbors=2, n_epochs=5).fit(bad)
    index = NNIndex(x, n_neighbors=1, backend=backend)
    with pytest.raises((ValueError, TypeError)):
        index.query(bad, k=1)
    with pytest.raises((ValueError, TypeError)):
        index.update(bad)
    model = UMAP(n_neighbors=2, n_epochs=5, random_state=0)
    _fit(model, x)
    with pytest.raises((ValueError, TypeError)):
        model.transform(bad)


not_positive_ints = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True).filter(lambda v: not float(v).is_integer()),
    st.text(max_size=3),
    st.booleans(),
    st.none(),
)


@_settings(80)
@given(
    x=matrices(min_rows=2, max_rows=30, max_dim=8),
    name=st.sampled_from(["n_neighbors", "k", "ef", "M", "ef_construction", "metric", "p"]),
    value=not_positive_ints,
)
def test_bad_index_parameters_raise_cleanly(x, name, value) -> None:
    if name in ("n_neighbors", "M", "ef_construction"):
        with pytest.raises((ValueError, TypeError)):
            NNIndex(x, backend="hnsw", **{"n_neighbors": 1, name: value})
    elif name == "metric":
        with pytest.raises((ValueError, TypeError)):
            NNIndex(x, n_neighbors=1, metric=value if isinstance(value, str) else 3)
    elif name == "p":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return  # a positive non-integer p is a valid minkowski exponent
        with pytest.raises((ValueError, TypeError)):
            NNIndex(x, n_neighbors=1, metric="minkowski", metric_kwds={"p": value})
    else:
        index = NNIndex(x, n_neighbors=1, backend="hnsw", random_state=0)
        kwargs = {"k": value} if name == "k" else {"k": 1, "ef": value}
        if name == "ef" and value is None:
            return  # ef=None means "from epsilon"
        with pytest.raises((ValueError, TypeError)):
            index.query(x, **kwargs)
    with pytest.raises(ValueError):
        NNIndex(x, n_neighbors=x.shape[0] + 1)  # more neighbours than points


@_settings(60)
@given(
    x=matrices(min_rows=3, max_rows=30, max_dim=8),
    bad=st.sampled_from(
        [
            {"n_neighbors": 1},
            {"n_neighbors": -5},
            {"n_components": 0},
            {"n_components": 1.5},
            {"n_components": "2"},
            {"min_dist": 2.0, "spread": 1.0},
            {"min_dist": -0.1},
            {"set_op_mix_ratio": 1.5},
            {"learning_rate": float("nan")},
            {"learning_rate": -1.0},
            {"repulsion_strength": float("inf")},
            {"negative_sample_rate": -1},
            {"negative_sample_rate": 10**6},
            {"a": 0.0, "b": 1.0},
            {"a": 1.0, "b": float("nan")},
            {"n_epochs": -1},
            {"n_epochs": 2.5},
            {"init": "nonsense"},
            {"init": 3},
            {"init": np.zeros((3, 5))},
            {"metric": "no_such_metric"},
            {"metric": 7},
            {"metric": "minkowski", "metric_kwds": {"p": -1.0}},
            {"metric": "euclidean", "metric_kwds": {"q": 1}},
            {"output_metric": "no_such_metric"},
            {"local_connectivity": -1.0},
            {"n_jobs": 0},
            {"n_jobs": -3},
            {"transform_mode": "nonsense"},
            {"disconnection_distance": "far"},
            {"tqdm_kwds": 3},
            {"random_state": -1},
            {"random_state": "seed"},
        ]
    ),
)
def test_bad_umap_parameters_raise_cleanly(x, bad) -> None:
    with pytest.raises((ValueError, TypeError)), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_neighbors above the row count, before the bad value
        UMAP(**{"n_epochs": 5, **bad}).fit(x)
