"""Argument checks shared by the estimator, the index and the command line."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from . import _core

# Metrics with an exponent from metric_kwds["p"], and its default (umap-learn's / pynndescent's).
_P_METRICS = {
    "minkowski": 2.0,
    "wminkowski": 2.0,
    "wasserstein_1d": 1.0,
    "circular_kantorovich": 1.0,
}

# Metrics with an array parameter: its metric_kwds key as umap-learn (and scipy) spell it, the
# name pynndescent's function gives it (also accepted), its number of dimensions and meaning.
# umap-learn hands metric_kwds' values on positionally and defaults them to a 2-element mock, so
# they are required here.
_ARRAY_PARAMS = {
    "seuclidean": ("V", "sigma", 1, "per-coordinate variances"),
    "wminkowski": ("w", "w", 1, "per-coordinate weights"),
    "mahalanobis": ("VI", "vinv", 2, "the inverse covariance matrix"),
    "kantorovich": ("cost", "cost", 2, "the cost of moving mass between coordinates"),
    "sinkhorn": ("cost", "cost", 2, "the cost of moving mass between coordinates"),
}

# Scalar parameters the C library takes after the array parameter (or alone) in the metric's
# params, in that order: their metric_kwds keys (as pynndescent's / umap-learn's functions name
# them), defaults (theirs) and whether each must be an integer.
_SCALAR_PARAMS = {
    "kantorovich": (("max_iter", 100000, True),),
    "sinkhorn": (("regularization", 1.0, False),),
    "ordinal": (("support_size", 1.0, False),),
    "count": (("poisson_lambda", 1.0, False), ("normalisation", 1.0, False)),
}


def _real_number(value: Any, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a real number, got {value!r}")
    return float(value)


def _array_param(
    canonical: str,
    kwds: dict[str, Any],
    what: str = "metric_kwds",
    default: np.ndarray | None = None,
) -> np.ndarray:
    key, alias, ndim, meaning = _ARRAY_PARAMS[canonical]
    if key in kwds and alias != key and alias in kwds:
        raise ValueError(f"{what} give both {key!r} and {alias!r} for metric {canonical!r}")
    if key not in kwds and alias not in kwds:
        if default is not None:
            return np.ascontiguousarray(default.ravel(), dtype=np.float32)
        raise ValueError(f"metric {canonical!r} needs {what}[{key!r}] ({meaning})")
    value = kwds.pop(key if key in kwds else alias)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}[{key!r}] must be an array of numbers: {exc}") from None
    if array.ndim != ndim or (ndim == 2 and array.shape[0] != array.shape[1]) or array.size == 0:
        want = "a square 2-d matrix" if ndim == 2 else "a 1-d array"
        raise ValueError(
            f"{what}[{key!r}] for metric {canonical!r} must be {want}, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.abs(array).max() > np.finfo(np.float32).max:
        raise ValueError(f"{what}[{key!r}] must be finite")
    return np.ascontiguousarray(array.ravel(), dtype=np.float32)


# Output metrics (umap-learn's named_distances_with_gradients) that need an embedding of one
# dimension: haversine's (latitude, longitude) and the gaussian energies' coordinates.
OUTPUT_DIMENSIONS = {
    "haversine": 2,
    "spherical_gaussian_energy": 3,  # (mu_x, mu_y, sigma)
    "diagonal_gaussian_energy": 4,  # (mu_x, mu_y, sigma_x, sigma_y)
    "gaussian_energy": 5,  # (mu_x, mu_y, width, height, angle)
}


def resolve_output_metric(
    canonical: str, output_metric_kwds: Mapping[str, Any], n_components: int
) -> tuple[float, np.ndarray | None]:
    """p and the C layout's parameter array (float32) of a named output metric, ValueError for
    bad ``output_metric_kwds`` or a dimension the metric does not take.

    umap-learn hands the keywords' values to its gradient positionally; here they are read by
    name: ``p`` (minkowski, wminkowski), ``V`` or ``sigma`` (seuclidean's variances, > 0), ``w``
    (wminkowski's weights, >= 0), ``VI`` or ``vinv`` (mahalanobis's positive semi-definite
    matrix), ``z`` (symmetric_kl's offset, > 0). umap-learn's defaults are 2-element mocks (ones,
    the identity), right for its default ``n_components=2``; here they are ones and the identity
    of ``n_components``.
    """
    need = OUTPUT_DIMENSIONS.get(canonical)
    if need is not None and n_components != need:
        if canonical == "haversine":
            raise ValueError("haversine is only defined for 2 dimensional data")
        raise ValueError(
            f"output_metric={canonical!r} embeds points as {need} coordinates and needs "
            f"n_components={need}, got {n_components}"
        )
    if canonical not in ("minkowski", "seuclidean", "wminkowski", "mahalanobis", "symmetric_kl"):
        return 2.0, None  # the others take no keywords (umapc ignores any, as it always has)
    kwds = dict(output_metric_kwds)
    p = 2.0
    if canonical in ("minkowski", "wminkowski"):
        p = kwds.pop("p", 2.0)
        if (
            isinstance(p, (bool, np.bool_))
            or not isinstance(p, numbers.Real)
            or not np.isfinite(p)
            or p <= 0
        ):
            raise ValueError(f"output_metric_kwds['p'] must be a positive finite number, got {p!r}")
        if canonical == "minkowski":
            return float(p), None
    params: np.ndarray | None = None
    if canonical == "symmetric_kl":
        z = _real_number(kwds.pop("z", 1e-11), "output_metric_kwds['z']")
        if not (0.0 < z <= np.finfo(np.float32).max) or np.float32(z) == 0:
            raise ValueError(f"output_metric_kwds['z'] must be a positive finite number, got {z!r}")
        params = np.array([z], dtype=np.float32)
    else:
        eye = np.eye(n_components) if canonical == "mahalanobis" else np.ones(n_components)
        params = _array_param(canonical, kwds, "output_metric_kwds", default=eye)
        key = _ARRAY_PARAMS[canonical][0]
        want = n_components * n_components if canonical == "mahalanobis" else n_components
        if params.size != want:
            shape = f"({n_components}, {n_components})" if canonical == "mahalanobis" else want
            raise ValueError(
                f"output_metric_kwds[{key!r}] for output_metric={canonical!r} must have "
                f"{shape} entries for n_components={n_components}, got {params.size}"
            )
        if canonical == "seuclidean" and not np.all(params > 0):
            raise ValueError("output_metric_kwds['V'] must be variances > 0")
        if canonical == "wminkowski" and not np.all(params >= 0):
            raise ValueError("output_metric_kwds['w'] must be weights >= 0")
        if canonical == "mahalanobis":
            vinv = params.astype(np.float64).reshape(n_components, n_components)
            lowest = np.linalg.eigvalsh((vinv + vinv.T) / 2.0).min()
            if lowest < -1e-6 * max(1.0, float(np.abs(vinv).max())):
                raise ValueError(
                    "output_metric_kwds['VI'] must be positive semi-definite (an inverse "
                    f"covariance); its smallest eigenvalue is {lowest:.3g}, which makes "
                    "distances imaginary"
                )
    if kwds:
        raise ValueError(
            f"output_metric_kwds {sorted(kwds)} are not parameters of output_metric {canonical!r}"
        )
    return float(p), params


def _scalar_params(canonical: str, kwds: dict[str, Any]) -> list[float]:
    values = []
    for key, default, integer in _SCALAR_PARAMS.get(canonical, ()):
        value = kwds.pop(key, default)
        if integer and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise ValueError(f"metric_kwds[{key!r}] must be an integer, got {value!r}")
        value = _real_number(value, f"metric_kwds[{key!r}]")
        if not math.isfinite(value) or abs(value) > np.finfo(np.float32).max:
            raise ValueError(f"metric_kwds[{key!r}] must be a finite number, got {value!r}")
        if integer and value > 2**24:  # the C library holds it as float32, exact to 2^24
            raise ValueError(f"metric_kwds[{key!r}] must be at most {2**24}, got {value!r}")
        values.append(value)
    return values


def resolve_metric(
    metric: Any, metric_kwds: Mapping[str, Any] | None
) -> tuple[str, float, np.ndarray | None]:
    """Canonical metric name, exponent p and the C library's params (V, w, VI or cost flattened
    to float32, then the metric's scalars: kantorovich's max_iter, sinkhorn's regularization,
    ordinal's support_size, count's poisson_lambda and normalisation; or None); ValueError or
    TypeError for bad input. What depends on the data (lengths against their dimension, V > 0,
    w >= 0, cost >= 0, a positive support_size, circular_kantorovich's integer p) the C library
    checks when the data arrive (``_core.check_metric_data``)."""
    if not isinstance(metric, str):
        raise TypeError(
            f"metric must be a string naming a supported metric, got {type(metric).__name__}"
        )
    kwds = dict(metric_kwds or {})
    canonical, _kind, _angular = _core.metric_info(metric)
    p = 2.0
    if canonical in _P_METRICS:
        p = kwds.pop("p", _P_METRICS[canonical])
        if (
            isinstance(p, bool)  # a bool is a numbers.Real, but p=True is a mistake, not 1.0
            or not isinstance(p, numbers.Real)
            or not np.isfinite(p)
            or p <= 0
        ):
            raise ValueError(f"metric_kwds['p'] must be a positive finite number, got {p!r}")
    params = _array_param(canonical, kwds) if canonical in _ARRAY_PARAMS else None
    scalars = _scalar_params(canonical, kwds)
    if scalars:
        head = params if params is not None else np.empty(0, np.float32)
        params = np.concatenate([head, np.asarray(scalars, dtype=np.float32)])
    if kwds:
        raise ValueError(f"metric_kwds {sorted(kwds)} are not parameters of metric {canonical!r}")
    return canonical, float(p), params


def json_metric_kwds(metric_kwds: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """metric_kwds with arrays as nested lists, for an index file's JSON parameters."""
    if metric_kwds is None:
        return None
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in metric_kwds.items()}


def is_angular(metric: str) -> bool:
    """True for metrics that compare directions (pynndescent's ``_angular_trees``)."""
    return bool(_core.metric_info(metric)[2])


MAX_JOBS = 4096


def check_n_jobs(n_jobs: Any) -> int:
    """Thread count for ``n_jobs``: -1 (or None) for all usable CPUs, else a positive integer.

    Values above the CPUs this process may use (its affinity mask, capped by a cgroup quota) are
    lowered to that count with a ``RuntimeWarning``: more threads only add per-thread buffers.
    Values above ``MAX_JOBS`` raise ``ValueError``.

    Raises
    ------
    TypeError
        When ``n_jobs`` is not an integer or None.
    ValueError
        When ``n_jobs`` is 0, below -1 or above ``MAX_JOBS``.
    """
    if n_jobs is None:
        return -1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs must be an integer or None, got {n_jobs!r}")
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 or a positive integer, got {n_jobs}")
    usable = _core.usable_cpus()
    if n_jobs > MAX_JOBS:
        raise ValueError(
            f"n_jobs={n_jobs} is more than the {MAX_JOBS} threads umapc supports "
            f"(this process may use {usable} CPUs; n_jobs=-1 uses all of them)"
        )
    if n_jobs > usable:
        warnings.warn(
            f"n_jobs={n_jobs} is more than the {usable} CPUs this process may use; "
            f"using {usable} threads",
            RuntimeWarning,
            stacklevel=3,
        )
        return usable
    return int(n_jobs)


def seed_from_random_state(random_state: Any) -> int | None:
    """A 63-bit seed from an int / RandomState / Generator, or None when random_state is None."""
    if random_state is None:
        return None
    if isinstance(random_state, bool):
        raise TypeError("random_state must be None, an int, a RandomState or a Generator")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return int(random_state) & ((1 << 63) - 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(1 << 62))
    raise TypeError(
        f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}"
    )


def check_finite_number(value: Any, name: str) -> None:
    """Raise ValueError unless value is a finite real number (bools and strings refused)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_positive_int(value: Any, name: str) -> int:
    """A positive integer (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def progress_callback(verbose: bool, description: str) -> tuple[Callable[..., None] | None, Any]:
    """A (callback, closer) pair that drives a tqdm bar when verbose and tqdm is installed."""
    if not verbose:
        return None, None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, None
    bars: dict[str, Any] = {}

    def callback(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{description}: {stage}", leave=False)
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return callback, close


def sparse_rows(X: Any, name: str) -> Any:
    """A scipy sparse matrix (any format) as the canonical CSR rows the C library takes: float32
    values, column indices sorted within each row, duplicates summed and stored zeros dropped (so
    rows equal as matrices compare equal bit for bit). X itself is never changed; it is copied
    only when it is not already so. Values and structure are checked in C."""
    import scipy.sparse

    m = X.tocsr() if not isinstance(X, scipy.sparse.csr_matrix) else X
    m = scipy.sparse.csr_matrix(m)  # a csr_array becomes a matrix view of the same arrays
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D sparse matrix, got shape {m.shape}")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {m.dtype}")
    if m.shape[1] >= 2**31:
        raise ValueError(f"{name} has {m.shape[1]} columns; at most 2^31 - 1 are supported")
    if m.dtype == np.float32 and m.has_canonical_format and bool(np.all(m.data != 0)):
        return m
    m = scipy.sparse.csr_matrix(m, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def csr_arrays(m: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Canonical CSR rows (:func:`sparse_rows`) as the ``(indptr, indices, data, n_cols)`` tuple
    of the extension's sparse functions."""
    return (
        m.indptr.astype(np.int64, copy=False),
        m.indices.astype(np.int32, copy=False),
        m.data,
        m.shape[1],
    )


def set_feature_names(estimator: Any, X: Any) -> None:
    """``feature_names_in_`` from a data frame's string column names, as scikit-learn sets it (and
    removed when the data has none)."""
    columns = getattr(X, "columns", None)
    names = None if columns is None else np.asarray(list(columns), dtype=object)
    if names is not None and names.size and all(isinstance(c, str) for c in names):
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
