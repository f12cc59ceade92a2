"""The :class:`UMAP` estimator: umap-learn's interface over umapc's C pipeline.

Python here validates parameters and input, converts arrays and draws progress bars; every stage
that loops over points or edges (neighbours, fuzzy simplicial set, spectral initialisation, layout
optimisation, transform) runs in the C library through :mod:`umapc._core`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._core import CorruptIndexError
from ._custom_metric import make_custom_metric
from ._layout import Progress as _Progress
from ._layout import check_layout_finite as _check_layout_finite
from ._layout import draw_seed as _draw_seed
from ._layout import embed as _embed_graph
from ._layout import prune as _prune
from ._layout import snapshot_counts as _snapshot_counts
from ._validation import check_finite_number as _check_finite_number
from ._validation import check_n_jobs, set_feature_names
from ._validation import csr_arrays as _csr_arrays
from ._validation import resolve_metric as _resolve_metric
from ._validation import resolve_output_metric as _resolve_output_metric
from ._validation import sparse_rows as _sparse_rows

__all__ = ["UMAP"]

#: Below this many points the neighbours are exact, as in umap-learn.
SMALL_DATA = 4096

# Metric names umap-learn knows that umapc's C library does not compute (NotImplementedError),
# each with why; other names are checked by the C library (umapc._core.metric_info).
_STRING_METRIC = (
    "is a Levenshtein distance between strings, and umapc's data are float32 matrices "
    "(umap-learn's own fit cannot run it on numeric rows either)"
)
_UMAP_LEARN_ONLY_METRICS = {
    "hierarchical_categorical": (
        "compares labels through a list of dicts (cat_hierarchy), which umap-learn's numba "
        "function cannot take either: use 'categorical' or 'ordinal' labels"
    ),
    "string": _STRING_METRIC,
    "myers": _STRING_METRIC,
}

# umap-learn's discrete target metrics other than categorical: supervised UMAP scales each edge
# of the data's graph by exp(-scale * d(y_i, y_j)) with parameters derived from y.
_DISCRETE_TARGET_METRICS = ("ordinal", "count")

# Bounded metrics: neighbours at this distance or farther are cut (umap-learn's defaults).
_DISCONNECTION_DISTANCES = {
    "correlation": 2.0,
    "cosine": 2.0,
    "hellinger": 1.0,
    "jaccard": 1.0,
    "bit_jaccard": 1.0,
    "dice": 1.0,
}

# Negative samples per edge and epoch: the layout's work grows linearly with it (umap-learn's
# default is 5), and far larger values would take hours or overflow the C layout's sample counts.
_MAX_NEGATIVE_SAMPLE_RATE = 1000


_INIT_NAMES = ("pca", "spectral", "random", "tswspectral")


def _ts() -> str:
    return time.ctime()


def _known_metric(name: Any) -> bool:
    """Whether umapc's C library computes the metric called ``name``."""
    if not isinstance(name, str):
        return False
    try:
        _core.metric_info(name)
    except ValueError:
        return False
    return True


def _check_data(X: Any, name: str = "X", ensure_all_finite: bool | str = True) -> Any:
    """X as a C-contiguous float32 matrix, finite unless ``ensure_all_finite`` says otherwise
    (scikit-learn's check_array: ``"allow-nan"`` lets NaN through, False also infinities), or
    scipy sparse X as canonical float32 CSR rows (never densified; their values are checked in
    C with the metric, or by :func:`_nonfinite_rows`); TypeError for non-numeric input."""
    if scipy.sparse.issparse(X):
        return _sparse_rows(X, name)
    if not isinstance(X, np.ndarray) or X.dtype == object:
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a numeric array: {exc}") from None
        if X.dtype == object:
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a numeric array: {exc}") from None
    if X.dtype.kind == "c":
        # scikit-learn's check_array raises ValueError for complex data; so does its check suite
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {X.dtype}")
    return check_array(
        X, dtype=np.float32, order="C", input_name=name, ensure_all_finite=ensure_all_finite
    )


def _check_distances(X: Any, square: bool, ensure_all_finite: bool | str = True):
    """A precomputed distance matrix: float32 C-contiguous dense, or CSR with sorted indices.
    A square one (a fit) is sparse only when symmetric in structure with a zero diagonal, as
    umap-learn requires; NaN and negative distances are rejected by the C library. +inf is a
    distance (infinitely far); NaN and -inf are refused unless ``ensure_all_finite`` lets them
    through (NaN with ``"allow-nan"``, both with False) for :func:`_nonfinite_rows`."""
    if scipy.sparse.issparse(X):
        X = scipy.sparse.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
        if square:
            if X.shape[0] != X.shape[1]:
                raise ValueError("a precomputed distance matrix must be square")
            if scipy.sparse.tril(X).nnz != scipy.sparse.triu(X).nnz:
                raise ValueError("Sparse precomputed distance matrices should be symmetrical!")
            if not np.all(X.diagonal() == 0):
                raise ValueError("Non-zero distances from samples to themselves!")
        return X
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "biuf":
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must be a numeric distance matrix, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.size == 0:
        raise ValueError(
            f"a precomputed distance matrix must be a non-empty 2-D array, got {X.shape}"
        )
    if square and X.shape[0] != X.shape[1]:
        raise ValueError(f"a precomputed distance matrix must be square, got shape {X.shape}")
    if ensure_all_finite is True and (np.isnan(X).any() or np.isneginf(X).any()):
        raise ValueError("precomputed distances must not contain NaN or -inf")
    if ensure_all_finite == "allow-nan" and np.isneginf(X).any():
        raise ValueError("precomputed distances must not contain -inf")
    return X


def _check_finite_flag(flag: Any) -> bool | str:
    """``ensure_all_finite`` as scikit-learn's check_array takes it: True, False or
    ``"allow-nan"`` (its message otherwise)."""
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if isinstance(flag, str) and flag == "allow-nan":
        return flag
    raise ValueError(f'ensure_all_finite should be a bool or "allow-nan". Got {flag!r} instead.')


def _nonfinite_rows(X: Any, flag: bool | str, precomputed: bool, square: bool) -> np.ndarray:
    """The rows (points) that ``ensure_all_finite=flag`` leaves out, as a boolean mask: rows
    holding NaN, or with False also an infinity. Precomputed distances: NaN and -inf (+inf is a
    distance); in a square matrix point i is out when its row or its column holds one. Sparse
    rows are checked here (dense ones were by check_array): ``"allow-nan"`` refuses infinities
    as check_array does."""
    if scipy.sparse.issparse(X):
        coo = X.tocoo()
        if precomputed:
            bad = np.isnan(coo.data) | np.isneginf(coo.data)
            if flag == "allow-nan" and np.isneginf(coo.data).any():
                raise ValueError("precomputed distances must not contain -inf")
        else:
            if flag == "allow-nan" and np.isinf(coo.data).any():
                raise ValueError("Input X contains infinity or a value too large for float32.")
            bad = ~np.isfinite(coo.data)
        out = np.zeros(X.shape[0], dtype=bool)
        out[coo.row[bad]] = True
        if square:
            out[coo.col[bad]] = True
        return out
    if precomputed:
        bad = np.isnan(X) | np.isneginf(X)
        return bad.any(axis=1) | (bad.any(axis=0) if square else False)
    return ~np.isfinite(X).all(axis=1)


def _knn_from_distances(X: Any, k: int, n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of each row of a precomputed distance matrix, in C."""
    if scipy.sparse.issparse(X):
        return _core.precomputed_knn(
            X.data,
            k,
            indptr=X.indptr.astype(np.int64),
            indices=X.indices.astype(np.int32),
            n_cols=X.shape[1],
            n_jobs=n_jobs,
        )
    return _core.precomputed_knn(X, k, n_jobs=n_jobs)


#: _fit_data / _raw_data of a loaded model: the search index's rows.
_ROWS_IN_INDEX = object()


def _same_data(a: Any, b: Any) -> bool:
    """Whether a is the training data b (transform's shortcut)."""
    if a.shape != b.shape or scipy.sparse.issparse(a) != scipy.sparse.issparse(b):
        return False
    if scipy.sparse.issparse(a):
        if (a != b).nnz == 0:
            return True
        # NaN differs from itself: canonical rows (as _check_data gives) compared array by array
        return (
            a.format == b.format == "csr"
            and bool(a.has_canonical_format and b.has_canonical_format)
            and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices)
            and bool(np.array_equal(a.data, b.data, equal_nan=True))
        )
    return bool(np.array_equal(a, b, equal_nan=True))


def _csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]):
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def _scatter_rows(graph: Any, rows: np.ndarray, n_rows: int) -> scipy.sparse.csr_matrix:
    """``graph``'s row r as row ``rows[r]`` of an ``n_rows``-row graph (the others empty)."""
    coo = graph.tocoo()
    return scipy.sparse.csr_matrix(
        (coo.data, (rows[coo.row], coo.col)), shape=(n_rows, graph.shape[1]), dtype=np.float32
    )


# Output metrics the C layout has gradients for (umapc_output_metric codes, umap-learn's names).
_OUTPUT_METRIC_CODES = {
    "euclidean": 0, "l2": 0,
    "manhattan": 1, "l1": 1, "taxicab": 1,
    "chebyshev": 2, "linfinity": 2, "linfty": 2, "linf": 2,
    "minkowski": 3,
    "cosine": 4,
    "correlation": 5,
    "hellinger": 6,
    "canberra": 7,
    "braycurtis": 8,
    "haversine": 9,
    "hyperboloid": 10,
    "seuclidean": 11, "standardised_euclidean": 11,
    "wminkowski": 12, "weighted_minkowski": 12,
    "mahalanobis": 13,
    "symmetric_kl": 14,
    "softmax_hellinger": 15,
    "spherical_gaussian_energy": 16,
    "diagonal_gaussian_energy": 17,
    "gaussian_energy": 18,
}  # fmt: skip

# The canonical name of each code: its first name above.
_OUTPUT_METRIC_NAMES = {code: name for name, code in reversed(_OUTPUT_METRIC_CODES.items())}

# Data metrics whose gradient inverse_transform uses (the C library's umapc_inverse_supports).
_INVERSE_METRICS = frozenset(
    {
        "euclidean",
        "l2",
        "manhattan",
        "l1",
        "taxicab",
        "cityblock",
        "chebyshev",
        "linfinity",
        "linfty",
        "linf",
        "minkowski",
        "cosine",
        "correlation",
        "hellinger",
        "canberra",
        "braycurtis",
    }
)


def _encode_labels(y: np.ndarray) -> np.ndarray:
    """Codes 0 .. n_classes - 1 of the labels, -1 where the label is the number -1 (umap-learn's
    unlabelled point)."""
    numeric = y.dtype.kind in "biuf"
    if numeric and y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity")
    if y.dtype.kind == "O":
        # numpy compares element by element; strings and other labels are never -1
        unknown = np.asarray(y == -1, dtype=bool)
    else:
        unknown = (y == -1) if numeric else np.zeros(y.shape, dtype=bool)
    codes = np.full(y.shape[0], -1, dtype=np.int64)
    if not np.all(unknown):
        try:
            _, inverse = np.unique(y[~unknown], return_inverse=True)
        except TypeError as exc:
            raise ValueError(f"y: labels cannot be compared ({exc})") from None
        codes[~unknown] = inverse
    return codes


class UMAP(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Uniform Manifold Approximation and Projection, computed in C.

    A drop-in replacement for ``umap.UMAP`` (umap-learn 0.5): same constructor, defaults,
    ``fit``/``fit_transform``/``transform`` and fitted attributes. Differences: with
    ``random_state`` set the result is reproducible *with* all threads (bit-identical whatever
    ``n_jobs``; given the same neighbours, also on every CPU: AVX-512, AVX2, NEON or none),
    instead of forcing one thread; ``inverse_transform`` works for any ``n_components`` (no
    Delaunay triangulation); ``transform`` works for densMAP models too. Features umapc does not
    implement yet raise ``NotImplementedError`` naming the parameter (the string and
    hierarchical metrics); docs/compatibility.md lists the whole surface.

    Parameters
    ----------
    n_neighbors : int, default 15
        Size of the local neighbourhood (including the point itself).
    n_components : int, default 2
        Dimension of the embedding.
    metric : str or callable, default "euclidean"
        Input distance: euclidean, sqeuclidean, manhattan, chebyshev, minkowski, cosine,
        correlation, dot, canberra, braycurtis, hamming, jaccard, hellinger, inner_product (and
        umap-learn's aliases).
        A callable ``metric(x, y, *metric_kwds.values())`` of two 1-d float32 arrays returning
        their distance is accepted too (umap-learn's custom metric): numba-compiled
        (``@numba.njit``) it runs compiled in the C threads; a plain Python one holds the GIL for
        every distance (slow; a ``UserWarning`` says so). See ``NNIndex``.
    metric_kwds : dict, optional
        Metric parameters (``{"p": ...}`` for minkowski); for a callable metric, its extra
        arguments, passed positionally in order as umap-learn does.
    output_metric : str or callable, default "euclidean"
        Metric of the embedding space, with umap-learn's gradients: euclidean, manhattan,
        chebyshev, minkowski, seuclidean, wminkowski, mahalanobis, cosine, correlation,
        hellinger, softmax_hellinger, canberra, braycurtis, symmetric_kl, haversine (2-d:
        latitude and longitude in radians, an embedding on a sphere), hyperboloid,
        spherical_gaussian_energy (3-d), diagonal_gaussian_energy (4-d), gaussian_energy (5-d)
        (and umap-learn's aliases); or a callable ``f(x, y, *output_metric_kwds.values())``
        returning ``(distance, gradient of the distance in x)``, numba-compiled as umap-learn
        requires (a plain Python one works, slowly). Not with densMAP.
    output_metric_kwds : dict, optional
        By name: ``p`` (minkowski, wminkowski; default 2), ``V`` or ``sigma`` (seuclidean's
        variances), ``w`` (wminkowski's weights), ``VI`` or ``vinv`` (mahalanobis's positive
        semi-definite matrix), ``z`` (symmetric_kl's offset, default 1e-11); the arrays default
        to ones and the identity of ``n_components`` (umap-learn's 2-element mocks). For a
        callable output metric, its extra arguments, passed positionally.
    n_epochs : int or list of int, optional
        Optimisation epochs; default 500 for at most 10,000 points, else 200. A list, as in
        umap-learn: the largest entry is run, and ``embedding_list_`` holds the embedding after
        the epoch numbered ``n`` (from 0) for each distinct entry ``n`` below the largest, in
        increasing order, then the final one (``embedding_``).
    learning_rate : float, default 1.0
        Initial learning rate, decaying linearly to 0.
    init : {"spectral", "pca", "random", "tswspectral"} or ndarray, default "spectral"
        Initial layout. "tswspectral" uses the same C spectral solver as "spectral" (umap-learn's
        variant only changes how the eigenproblem is warm-started).
    min_dist, spread : float, default 0.1, 1.0
        Shape of the low-dimensional similarity curve (through ``a`` and ``b``).
    low_memory : bool, default True
        Accepted for compatibility; umapc's neighbour search has one memory mode.
    n_jobs : int, default -1
        Threads; -1 means all cores. Not overridden by ``random_state``.
    set_op_mix_ratio : float, default 1.0
        1.0 = fuzzy union, 0.0 = fuzzy intersection when symmetrising the graph.
    local_connectivity : float, default 1.0
        Number of nearest neighbours assumed connected (interpolated).
    repulsion_strength : float, default 1.0
        Weight of negative samples.
    negative_sample_rate : int, default 5
        Negative samples per positive sample.
    transform_queue_size : float, default 4.0
        Accepted for compatibility (umap-learn no longer uses it either).
    a, b : float, optional
        Curve parameters; fitted from ``min_dist`` and ``spread`` when not given.
    random_state : int, RandomState or None
        Seed. When set, the whole fit is deterministic, with all threads.
    angular_rp_forest : bool, default False
        Accepted for compatibility (only affects pynndescent's trees).
    target_n_neighbors, target_metric, target_metric_kwds, target_weight
        Supervised and semi-supervised UMAP (``fit(X, y)``, -1 for unlabelled points), as
        umap-learn: categorical, ordinal and count targets, or any data metric for regression
        targets.
    transform_seed : int, default 42
        Seed for ``transform`` (deterministic by default, as in umap-learn).
    transform_mode : {"embedding", "graph"}, default "embedding"
        "graph" makes ``fit_transform``/``transform`` return the fuzzy graph instead.
    force_approximation_algorithm : bool, default False
        Use the approximate (HNSW) neighbours even below 4,096 points.
    verbose : bool, default False
        Log lines and tqdm progress bars (if tqdm is installed).
    tqdm_kwds : dict, optional
        Keyword arguments for the tqdm bars.
    unique : bool, default False
        Embed each distinct row once; copies get identical coordinates.
    densmap : bool, default False
        densMAP (Narayan, Berger & Cho 2021): for the last ``dens_frac`` of the epochs the layout
        also preserves local density (``dens_lambda`` its weight, ``dens_var_shift`` the variance
        shift), as umap-learn.
    dens_lambda, dens_frac, dens_var_shift : float, default 2.0, 0.3, 0.1
    output_dens : bool, default False
        ``fit_transform`` returns ``(embedding, r_orig, r_emb)``, the log local radii in the data
        and in the embedding; also ``rad_orig_`` and ``rad_emb_``.
    disconnection_distance : float, optional
        Neighbours at or beyond this distance are cut; default per metric as in umap-learn.
    precomputed_knn : tuple, default (None, None, None)
        ``(knn_indices, knn_dists[, knn_search_index])`` to skip the neighbour search.

    Attributes
    ----------
    embedding_ : ndarray (n_samples, n_components), float32
    graph_ : scipy.sparse.csr_matrix (n_samples, n_samples), float32
        The symmetric fuzzy simplicial set.
    _knn_indices, _knn_dists : ndarray (n_samples, n_neighbors)
    _knn_search_index : umapc.NNIndex or None
    _sigmas, _rhos : ndarray (n_samples,)
    _a, _b : float
    _raw_data : ndarray, float32
    n_features_in_ : int
    """

    def __init__(
        self,
        n_neighbors: int = 15,
        n_components: int = 2,
        metric: str | Callable = "euclidean",
        metric_kwds: dict | None = None,
        output_metric: str | Callable = "euclidean",
        output_metric_kwds: dict | None = None,
        n_epochs: int | None = None,
        learning_rate: float = 1.0,
        init: str | np.ndarray = "spectral",
        min_dist: float = 0.1,
        spread: float = 1.0,
        low_memory: bool = True,
        n_jobs: int = -1,
        set_op_mix_ratio: float = 1.0,
        local_connectivity: float = 1.0,
        repulsion_strength: float = 1.0,
        negative_sample_rate: int = 5,
        transform_queue_size: float = 4.0,
        a: float | None = None,
        b: float | None = None,
        random_state: Any = None,
        angular_rp_forest: bool = False,
        target_n_neighbors: int = -1,
        target_metric: str | Callable = "categorical",
        target_metric_kwds: dict | None = None,
        target_weight: float = 0.5,
        transform_seed: int | None = 42,
        transform_mode: str = "embedding",
        force_approximation_algorithm: bool = False,
        verbose: bool = False,
        tqdm_kwds: dict | None = None,
        unique: bool = False,
        densmap: bool = False,
        dens_lambda: float = 2.0,
        dens_frac: float = 0.3,
        dens_var_shift: float = 0.1,
        output_dens: bool = False,
        disconnection_distance: float | None = None,
        precomputed_knn: tuple = (None, None, None),
    ) -> None:
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.metric = metric
        self.metric_kwds = metric_kwds
        self.output_metric = output_metric
        self.output_metric_kwds = output_metric_kwds
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.init = init
        self.min_dist = min_dist
        self.spread = spread
        self.low_memory = low_memory
        self.n_jobs = n_jobs
        self.set_op_mix_ratio = set_op_mix_ratio
        self.local_connectivity = local_connectivity
        self.repulsion_strength = repulsion_strength
        self.negative_sample_rate = negative_sample_rate
        self.transform_queue_size = transform_queue_size
        self.a = a
        self.b = b
        self.random_state = random_state
        self.angular_rp_forest = angular_rp_forest
        self.target_n_neighbors = target_n_neighbors
        self.target_metric = target_metric
        self.target_metric_kwds = target_metric_kwds
        self.target_weight = target_weight
        self.transform_seed = transform_seed
        self.transform_mode = transform_mode
        self.force_approximation_algorithm = force_approximation_algorithm
        self.verbose = verbose
        self.tqdm_kwds = tqdm_kwds
        self.unique = unique
        self.densmap = densmap
        self.dens_lambda = dens_lambda
        self.dens_frac = dens_frac
        self.dens_var_shift = dens_var_shift
        self.output_dens = output_dens
        self.disconnection_distance = disconnection_distance
        self.precomputed_knn = precomputed_knn

    # ------------------------------------------------------------------ validation

    def _validate_parameters(self) -> None:
        """umap-learn's checks (same conditions and messages); derived values go to ``_`` names."""
        if self.set_op_mix_ratio < 0.0 or self.set_op_mix_ratio > 1.0:
            raise ValueError("set_op_mix_ratio must be between 0.0 and 1.0")
        if self.repulsion_strength < 0.0:
            raise ValueError("repulsion_strength cannot be negative")
        if self.min_dist > self.spread:
            raise ValueError("min_dist must be less than or equal to spread")
        if self.min_dist < 0.0:
            raise ValueError("min_dist cannot be negative")
        if not isinstance(self.init, (str, np.ndarray)):
            raise ValueError("init must be a string or ndarray")
        if isinstance(self.init, str) and self.init not in _INIT_NAMES:
            raise ValueError(
                'string init values must be one of: "pca", "tswspectral", "spectral" or "random"'
            )
        if not isinstance(self.metric, str) and not callable(self.metric):
            raise ValueError("metric must be string or callable")
        _check_finite_number(self.negative_sample_rate, "negative_sample_rate")
        if self.negative_sample_rate < 0:
            raise ValueError("negative sample rate must be positive")
        if self.negative_sample_rate > _MAX_NEGATIVE_SAMPLE_RATE:
            raise ValueError(
                f"negative_sample_rate={self.negative_sample_rate!r} is above the largest "
                f"supported, {_MAX_NEGATIVE_SAMPLE_RATE} (the layout's work grows with it; "
                "the default is 5)"
            )
        _check_finite_number(self.learning_rate, "learning_rate")
        if self.learning_rate < 0.0:
            raise ValueError("learning_rate must be positive")
        _check_finite_number(self.repulsion_strength, "repulsion_strength")
        for name in ("a", "b"):
            value = getattr(self, name)
            if value is not None:
                _check_finite_number(value, name)
                if not value > 0:
                    raise ValueError(f"{name} must be positive, got {value!r}")
        if self.n_neighbors < 2:
            raise ValueError("n_neighbors must be greater than 1")
        if self.target_n_neighbors < 2 and self.target_n_neighbors != -1:
            raise ValueError("target_n_neighbors must be greater than 1")
        self._n_components = self._validate_n_components()
        if isinstance(self.init, np.ndarray) and (
            self.init.ndim != 2 or self.init.shape[1] != self._n_components
        ):
            raise ValueError("init ndarray must match n_components value")
        self._validate_n_epochs()
        if self.local_connectivity < 0.0:
            raise ValueError("local_connectivity cannot be negative")
        self._metric_kwds = {} if self.metric_kwds is None else dict(self.metric_kwds)
        self._output_metric_kwds = (
            {} if self.output_metric_kwds is None else dict(self.output_metric_kwds)
        )
        self._target_metric_kwds = (
            {} if self.target_metric_kwds is None else dict(self.target_metric_kwds)
        )
        self._validate_metric()
        self._validate_output_metric()
        n_jobs = -1 if self.n_jobs is None else self.n_jobs
        if n_jobs < -1 or n_jobs == 0:
            raise ValueError("n_jobs must be a postive integer, or -1 (for all cores)")
        self._n_jobs = check_n_jobs(n_jobs)  # capped at the usable CPUs, with a warning
        if self.dens_lambda < 0.0:
            raise ValueError("dens_lambda cannot be negative")
        if self.dens_frac < 0.0 or self.dens_frac > 1.0:
            raise ValueError("dens_frac must be between 0.0 and 1.0")
        if self.dens_var_shift < 0.0:
            raise ValueError("dens_var_shift cannot be negative")
        if self.disconnection_distance is None:
            self._disconnection_distance = _DISCONNECTION_DISTANCES.get(self.metric, np.inf)
        elif isinstance(self.disconnection_distance, (int, float, np.integer, np.floating)):
            self._disconnection_distance = float(self.disconnection_distance)
        else:
            raise ValueError("disconnection_distance must either be None or a numeric.")
        self._tqdm_kwds = self._validate_tqdm_kwds()
        if self.transform_mode not in ("embedding", "graph"):
            raise ValueError(
                f"Unrecognized transform mode {self.transform_mode}; "
                "should be one of 'embedding' or 'graph'"
            )
        if self.densmap and self.output_metric not in ("euclidean", "l2"):
            raise ValueError("Non-Euclidean output metric not supported for densMAP.")

    def _validate_n_components(self) -> int:
        n_components = self.n_components
        if isinstance(n_components, str):
            raise ValueError("n_components must be an int")
        if not isinstance(n_components, (int, np.integer)):
            if n_components % 1 != 0:
                raise ValueError("n_components must be a whole number")
            n_components = int(n_components)
        if n_components < 1:
            raise ValueError("n_components must be greater than 0")
        return int(n_components)

    def _validate_n_epochs(self) -> None:
        """umap-learn's check; sets ``_n_epochs_list`` (the list, or None) and ``_n_epochs_run``
        (the epochs a fit runs: the list's largest, the number, or None for the default)."""
        message = "n_epochs must be a nonnegative integer or a list of nonnegative integers"
        self._n_epochs_list = None
        if isinstance(self.n_epochs, (list, tuple, np.ndarray)):
            epochs = np.asarray(self.n_epochs)
            if (
                not np.issubdtype(epochs.dtype, np.integer)
                or epochs.ndim != 1
                or not np.all(epochs >= 0)
            ):
                raise ValueError(message)
            if epochs.max() > np.iinfo(np.int32).max:
                raise ValueError(f"n_epochs must be at most {np.iinfo(np.int32).max}")
            self._n_epochs_list = [int(e) for e in epochs]
            self._n_epochs_run: int | None = max(self._n_epochs_list)
            return
        if self.n_epochs is not None and (
            not isinstance(self.n_epochs, (int, np.integer))
            or isinstance(self.n_epochs, bool)
            or self.n_epochs < 0
        ):
            raise ValueError(message)
        self._n_epochs_run = None if self.n_epochs is None else int(self.n_epochs)

    def _later_epochs(self) -> int | None:
        """The epochs transform, inverse_transform and model arithmetic derive theirs from:
        ``n_epochs``, or the largest of a list (umap-learn fails on a list there)."""
        if isinstance(self.n_epochs, (list, tuple, np.ndarray)):
            return int(np.max(self.n_epochs))
        return None if self.n_epochs is None else int(self.n_epochs)

    def _validate_metric(self) -> None:
        if callable(self.metric):
            return  # compiled (numba) or called through Python by NNIndex
        if self.metric == "precomputed":
            return
        if self.metric in _UMAP_LEARN_ONLY_METRICS:
            raise NotImplementedError(
                f"metric={self.metric!r} is not implemented in umapc: it "
                f"{_UMAP_LEARN_ONLY_METRICS[self.metric]}"
            )
        if not _known_metric(self.metric):
            raise ValueError("metric is neither callable nor a recognised string")

    def _validate_output_metric(self) -> None:
        if self.output_metric == "precomputed":
            raise ValueError("output_metric cannnot be 'precomputed'")
        self._output_p, self._output_params = 2.0, None
        if isinstance(self.output_metric, str) and self.output_metric in _OUTPUT_METRIC_CODES:
            canonical = _OUTPUT_METRIC_NAMES[_OUTPUT_METRIC_CODES[self.output_metric]]
            self._output_p, self._output_params = _resolve_output_metric(
                canonical, self._output_metric_kwds, self._validate_n_components()
            )
            return
        if callable(self.output_metric):
            return
        raise ValueError("output_metric is neither callable nor a recognised string")

    def _output_arguments(self) -> dict[str, Any]:
        """The output metric's arguments of _core.optimize_layout."""
        if callable(self.output_metric):
            custom = make_custom_metric(
                self.output_metric, self._output_metric_kwds, output=True, what="output_metric"
            )
            return {"output_custom": custom}
        if not hasattr(self, "_output_params"):  # a model pickled before these existed
            self._validate_output_metric()
        return {
            "output_metric": _OUTPUT_METRIC_CODES[self.output_metric],
            "output_p": self._output_p,
            "output_params": self._output_params,
        }

    def _validate_tqdm_kwds(self) -> dict[str, Any]:
        if self.tqdm_kwds is None:
            kwds: dict[str, Any] = {}
        elif isinstance(self.tqdm_kwds, dict):
            kwds = dict(self.tqdm_kwds)
        else:
            raise ValueError(
                "tqdm_kwds must be a dictionary. Please provide valid tqdm parameters as key "
                "value pairs. Valid tqdm parameters can be found here: "
                "https://github.com/tqdm/tqdm#parameters"
            )
        kwds.setdefault("desc", "Epochs completed")
        kwds.setdefault(
            "bar_format", "{desc}: {percentage:3.0f}%| {bar} {n_fmt}/{total_fmt} [{elapsed}]"
        )
        kwds.setdefault("disable", not self.verbose)
        return kwds

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any = None, ensure_all_finite: bool | str = True, **kwargs: Any):
        """Fit X into an embedded space.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Dense numeric data; converted to float32.
        y : array-like, shape (n_samples,) or (n_samples, n_targets), optional
            Targets for supervised UMAP. With ``target_metric="categorical"`` (the default) the
            labels may be of any type; the number -1 marks an unlabelled point
            (semi-supervised). With any other ``target_metric`` (e.g. ``"l1"``, ``"euclidean"``
            for regression targets) a fuzzy set of the targets is intersected with the data's,
            ``target_weight`` weighing the targets, as in umap-learn.
        ensure_all_finite : bool or "allow-nan", default True
            True: NaN and infinite values raise ValueError (scikit-learn's check_array).
            ``"allow-nan"`` (infinities still raise) and False (NaN and infinities): the rows
            holding them are left out of the fit, with a warning naming how many: no
            neighbours, no edges and NaN coordinates in ``embedding_`` (as disconnected
            points); the other rows are embedded exactly as a fit of them alone would embed
            them. With a precomputed metric a point is left out when its row or column holds
            NaN (or -inf); +inf stays a distance. ``graph_``, ``_knn_indices`` and the search
            index then cover the embedded rows only. ``force_all_finite`` (the older spelling)
            is accepted too.

        Returns
        -------
        self : UMAP
        """
        X, target, init = self._fit_inputs(X, y, ensure_all_finite, kwargs)
        self._fit_embedding = self._fit_rows(X, target, init)
        self._fit_done()
        return self

    def _fit_inputs(
        self, X: Any, y: Any, ensure_all_finite: bool | str, kwargs: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray | None, str | np.ndarray]:
        """fit's checks and conversions: the rows to embed (``_fit_data``), their target codes
        and the init."""
        force = kwargs.pop("force_all_finite", None)
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(kwargs)}")
        flag = _check_finite_flag(ensure_all_finite if force is None else force)
        self._validate_parameters()
        set_feature_names(self, X)
        precomputed = self.metric == "precomputed"
        if precomputed:
            if self.unique:
                raise ValueError("unique is poorly defined on a precomputed metric")
            warnings.warn(
                "using precomputed metric; inverse_transform will be unavailable", stacklevel=3
            )
            X = _check_distances(X, square=True, ensure_all_finite=flag)
        else:
            X = _check_data(X, ensure_all_finite=flag)
        target = None if y is None else self._check_target(y, X.shape[0])
        self._raw_data = X
        self.n_features_in_ = X.shape[1]
        self._initial_alpha = float(self.learning_rate)
        self._a, self._b = self._curve_parameters()
        self._supervised = target is not None
        self._sparse_data = scipy.sparse.issparse(X)
        init = self._check_init(X.shape[0])
        self.__dict__.pop("_row_map", None)
        keep = None
        if flag is not True:
            left_out = _nonfinite_rows(X, flag, precomputed, square=precomputed)
            if left_out.any():
                keep = self._leave_out(left_out, flag)
                X = X[keep][:, keep] if precomputed else X[keep]
                X = X if scipy.sparse.issparse(X) else np.ascontiguousarray(X)
                target = None if target is None else target[keep]
                init = init if isinstance(init, str) else np.ascontiguousarray(init[keep])
        if self.unique:
            if self.precomputed_knn is not None and len(self.precomputed_knn) > 1:
                if self.precomputed_knn[1] is not None:
                    raise ValueError("unique is not currently available for precomputed_knn.")
            # umap-learn's unique=True: the distinct rows are embedded, copies share coordinates
            rows = _csr_arrays(X) if self._sparse_data else X
            first, self._unique_inverse_ = _core.unique_rows(rows)
            X = X[first] if self._sparse_data else np.ascontiguousarray(X[first])
            target = None if target is None else target[first]
            init = init if isinstance(init, str) else np.ascontiguousarray(init[first])
        if keep is not None:
            # row i of the data is point _row_map[i] of graph_ and the index; -1: left out
            row_map = np.full(self._raw_data.shape[0], -1, dtype=np.int64)
            row_map[keep] = self._unique_inverse_ if self.unique else np.arange(keep.size)
            self._row_map = row_map
        self._fit_data = X
        return X, target, init

    def _leave_out(self, left_out: np.ndarray, flag: bool | str) -> np.ndarray:
        """The rows a fit keeps when ``left_out`` rows hold non-finite values, with the
        warning; ValueError when none is left or the neighbours were given for all rows."""
        n_out, n = int(left_out.sum()), left_out.size
        what = "NaN" if flag == "allow-nan" else "NaN or infinite values"
        if n_out == n:
            raise ValueError(
                f"ensure_all_finite={flag!r}: every one of the {n} rows holds {what}; "
                "nothing is left to embed"
            )
        knn = self.precomputed_knn if self.precomputed_knn is not None else ()
        if len(knn) > 1 and knn[1] is not None:
            raise ValueError(
                f"ensure_all_finite={flag!r}: {n_out} rows hold {what}, and precomputed_knn "
                "names neighbours among all rows; drop those rows from the data and the "
                "neighbour lists first"
            )
        warnings.warn(
            f"ensure_all_finite={flag!r}: {n_out} of {n} rows hold {what}; they are left out "
            "of the fit (no neighbours, no edges) and their embedding is NaN",
            stacklevel=4,
        )
        return np.flatnonzero(~left_out)

    def _rows_of(self, values: np.ndarray) -> np.ndarray:
        """Per row of the data, the entry of ``values`` (one per point of graph_: embedded,
        distinct rows); NaN for rows left out of the fit."""
        row_map = getattr(self, "_row_map", None)
        if row_map is not None:
            out = np.full((row_map.size,) + values.shape[1:], np.nan, dtype=values.dtype)
            placed = row_map >= 0
            out[placed] = values[row_map[placed]]
            return out
        return values[self._unique_inverse_] if self.unique else values

    def _fit_done(self) -> None:
        """The fitted attributes that follow from ``_fit_embedding`` (and the snapshots)."""
        self.embedding_ = self._rows_of(self._fit_embedding)
        if self.output_dens:
            self.rad_orig_ = self._rows_of(self.rad_orig_)
            self.rad_emb_ = self._rows_of(self.rad_emb_)
        self.__dict__.pop("embedding_list_", None)
        if getattr(self, "_n_epochs_list", None) is not None:
            snapshots = self.__dict__.pop("_fit_snapshots", None)
            if snapshots is None:  # no layout ran (one point): each is the embedding
                count = len(_snapshot_counts(self._n_epochs_list))
                snapshots = np.repeat(self._fit_embedding[np.newaxis], count, axis=0)
            self.embedding_list_ = [self._rows_of(s) for s in snapshots]
        self.__dict__.pop("_fit_snapshots", None)
        self._n_features_out = (
            self.embedding_.shape[1]
            if self.transform_mode == "embedding"
            else self._fit_data.shape[0]
        )

    def _fit_rows(
        self,
        X: np.ndarray,
        target: np.ndarray | None,
        init: str | np.ndarray,
        layout: bool = True,
    ) -> np.ndarray | None:
        """The fit proper on the rows to embed: graph_ and the search index, then the
        embedding of these rows (returned). Without ``layout`` it stops after the graph and
        returns None (AlignedUMAP lays its slices out together)."""
        if self.verbose:
            print(str(self))
        if X.shape[0] == 1:
            # umap-learn's special case: nothing to lay out.
            self._n_neighbors = self.n_neighbors
            self.graph_ = scipy.sparse.csr_matrix((1, 1), dtype=np.float32)
            self._knn_search_index = None
            return np.zeros((1, self._n_components), dtype=np.float32) if layout else None
        if X.shape[0] <= self.n_neighbors:
            warnings.warn(
                "n_neighbors is larger than the dataset size; truncating to X.shape[0] - 1",
                stacklevel=3,
            )
            self._n_neighbors = X.shape[0] - 1
        else:
            self._n_neighbors = int(self.n_neighbors)

        rng = check_random_state(self.random_state)
        seeded = self.random_state is not None
        progress = _Progress(self.verbose, self._tqdm_kwds)
        try:
            self._fit_graph(X, rng, seeded, progress)
            if target is not None:
                self._apply_target(target, rng, seeded)
            if not layout:
                return None
            if self.verbose:
                print(_ts(), "Construct embedding")
            embedding = self._embed(X, init, rng, progress)
        finally:
            progress.close()
        if self.verbose:
            print(_ts(), "Finished embedding")
        return embedding

    def fit_transform(
        self, X: Any, y: Any = None, ensure_all_finite: bool | str = True, **kwargs: Any
    ):
        """Fit X and return its embedding (or ``graph_`` when ``transform_mode="graph"``)."""
        self.fit(X, y, ensure_all_finite, **kwargs)
        if self.transform_mode == "graph":
            return self.graph_
        if self.output_dens:
            return self.embedding_, self.rad_orig_, self.rad_emb_
        return self.embedding_

    def _layout_rates(self) -> tuple[float, float]:
        """``(repulsion_strength, negative_sample_rate)`` for the C layout; a rate of 0 (which
        umap-learn accepts) draws no negative samples."""
        return float(self.repulsion_strength), float(self.negative_sample_rate)

    def _curve_parameters(self) -> tuple[float, float]:
        if self.a is None or self.b is None:
            a, b = _core.find_ab_params(float(self.spread), float(self.min_dist))
            return float(a), float(b)
        return float(self.a), float(self.b)

    def _check_init(self, n_samples: int) -> str | np.ndarray:
        if isinstance(self.init, str):
            return self.init
        init = check_array(self.init, dtype=np.float32, order="C", input_name="init")
        if init.shape[0] != n_samples:
            raise ValueError(
                f"init ndarray has {init.shape[0]} rows but the data has {n_samples} samples"
            )
        return init

    def _fit_graph(
        self, X: np.ndarray, rng: np.random.RandomState, seeded: bool, progress: _Progress
    ) -> None:
        """Neighbours, then the fuzzy simplicial set (graph_, _sigmas, _rhos)."""
        self._small_data = X.shape[0] < SMALL_DATA and not self.force_approximation_algorithm
        index_seed = _draw_seed(rng) if seeded else None
        if self.verbose:
            print(_ts(), "Construct fuzzy simplicial set")
        knn = self._precomputed_knn(X.shape[0])
        if knn is not None:
            self._knn_indices, self._knn_dists, self._knn_search_index = knn
        elif self.metric == "precomputed":
            self._knn_search_index = None
            self._knn_indices, self._knn_dists = _knn_from_distances(
                X, self._n_neighbors, self._n_jobs
            )
        else:
            if self.verbose:
                print(_ts(), "Finding Nearest Neighbors")
            self._knn_search_index = self._build_index(X, index_seed)
            indices, dists = self._knn_search_index.neighbor_graph
            self._knn_indices = np.array(indices, dtype=np.int32, order="C")
            self._knn_dists = np.array(dists, dtype=np.float32, order="C")
            if self.verbose:
                print(_ts(), "Finished Nearest Neighbor Search")
        edges_removed = self._disconnect(self._knn_indices, self._knn_dists)
        indptr, indices, data, sigmas, rhos = _core.fuzzy_simplicial_set(
            self._knn_indices,
            self._knn_dists,
            X.shape[0],
            local_connectivity=float(self.local_connectivity),
            set_op_mix_ratio=float(self.set_op_mix_ratio),
            apply_set_operations=True,
            n_jobs=self._n_jobs,
            callback=progress.callback,
        )
        progress.done()
        self.graph_ = _csr(indptr, indices, data, (X.shape[0], X.shape[0]))
        self._sigmas, self._rhos = sigmas, rhos
        self._warn_disconnected(edges_removed)

    def _check_target(self, y: Any, n_samples: int) -> np.ndarray:
        """Labels as int64 codes (-1: unlabelled) for the categorical target, else the target
        values as a float32 matrix."""
        y_ = np.asarray(y)
        if y_.ndim == 0 or y_.shape[0] != n_samples:
            raise ValueError(
                f"y has {y_.shape[0] if y_.ndim else 0} entries but X has {n_samples} samples"
            )
        if self.target_metric == "categorical":
            if y_.ndim != 1:
                raise ValueError("a categorical target y must be one-dimensional")
            return _encode_labels(y_)
        if self.target_metric in _DISCRETE_TARGET_METRICS and y_.ndim != 1:
            raise ValueError(f"a {self.target_metric} target y must be one-dimensional")
        if self.target_metric in _UMAP_LEARN_ONLY_METRICS:
            raise NotImplementedError(
                f"target_metric={self.target_metric!r} is not implemented in umapc: it "
                f"{_UMAP_LEARN_ONLY_METRICS[self.target_metric]}"
            )
        if not _known_metric(self.target_metric):
            raise ValueError(f"target_metric {self.target_metric!r} is not a recognised metric")
        values = check_array(y_.reshape(n_samples, -1), dtype=np.float32, order="C", input_name="y")
        return values

    def _apply_target(self, target: np.ndarray, rng: np.random.RandomState, seeded: bool) -> None:
        """Supervised UMAP: graph_ combined with the target (umap-learn's fit with y)."""
        g = self.graph_
        if self.target_metric == "categorical":
            far_dist = (
                2.5 * (1.0 / (1.0 - self.target_weight)) if self.target_weight < 1.0 else 1e12
            )
            indptr, indices, data = _core.categorical_graph(
                g.indptr, g.indices, g.data, target, 1.0, far_dist, n_jobs=self._n_jobs
            )
        elif self.target_metric in _DISCRETE_TARGET_METRICS:
            scale = 2.5 * (1.0 / (1.0 - self.target_weight)) if self.target_weight < 1.0 else 1e12
            kwds = self._discrete_target_kwds(target)
            name, p, params = _resolve_metric(self.target_metric, kwds)
            indptr, indices, data = _core.metric_graph(
                g.indptr, g.indices, g.data, target, name, p, params, scale, n_jobs=self._n_jobs
            )
        else:
            t_indptr, t_indices, t_data = self._target_graph(target, rng, seeded)
            indptr, indices, data = _core.combine_graphs(
                g.indptr,
                g.indices,
                g.data,
                t_indptr,
                t_indices,
                t_data,
                "intersection",
                float(self.target_weight),
                n_jobs=self._n_jobs,
            )
        self.graph_ = _csr(indptr, indices, data, g.shape)

    def _discrete_target_kwds(self, target: np.ndarray) -> dict[str, Any]:
        """umap-learn's get_discrete_params for an ordinal or count target (umap-learn ignores
        target_metric_kwds there; umapc lets them override these)."""
        lo, hi = float(target.min()), float(target.max())
        if self.target_metric == "ordinal":
            if hi == lo:
                raise ValueError("an ordinal target y needs at least two distinct values")
            kwds = {"support_size": (hi - lo) / 2.0}
        else:
            lam = float(np.mean(target, dtype=np.float64))
            _, p, params = _resolve_metric("count", {"poisson_lambda": lam})
            ends = np.array([[lo], [hi]], dtype=np.float32)
            span = float(_core.pairwise_distances(ends, metric="count", p=p, params=params)[0, 1])
            if not np.isfinite(span) or span == 0.0:
                raise ValueError(
                    f"a count target y from {lo:g} to {hi:g} gives umap-learn's count distance "
                    f"{span:g} between its extremes (its running log-factorial takes log(0) for "
                    "counts from 0): no finite normalisation; shift the counts to start at 1 or "
                    "give target_metric_kwds['normalisation']"
                )
            kwds = {"poisson_lambda": lam, "normalisation": span / 2.0}
        kwds.update(self._target_metric_kwds or {})
        return kwds

    def _target_graph(self, target: np.ndarray, rng: np.random.RandomState, seeded: bool):
        """The fuzzy simplicial set of the target values (umap-learn: its own n_neighbors, the
        default local connectivity and mix ratio; exact neighbours below 4,096 points)."""
        from .index import NNIndex

        n = target.shape[0]
        k = self._n_neighbors if self.target_n_neighbors == -1 else int(self.target_n_neighbors)
        k = min(k, n - 1) if n > 1 else 1
        index = NNIndex(
            target,
            n_neighbors=k,
            metric=self.target_metric,
            metric_kwds=self._target_metric_kwds or None,
            backend="exact" if n < 4096 else "auto",
            random_state=_draw_seed(rng) if seeded else None,
            n_jobs=self._n_jobs,
        )
        knn_indices, knn_dists = index.neighbor_graph
        indptr, indices, data, _, _ = _core.fuzzy_simplicial_set(
            np.ascontiguousarray(knn_indices, dtype=np.int32),
            np.ascontiguousarray(knn_dists, dtype=np.float32),
            n,
            n_jobs=self._n_jobs,
        )
        return indptr, indices, data

    def _build_index(self, X: np.ndarray, seed: int | None):
        from .index import NNIndex

        return NNIndex(
            X,
            n_neighbors=self._n_neighbors,
            metric=self.metric,
            metric_kwds=self._metric_kwds or None,
            backend="exact" if self._small_data else "auto",
            random_state=seed,
            n_jobs=self._n_jobs,
            verbose=bool(self.verbose),
            # NN-descent's first graph, as umap-learn gets from pynndescent: on the quality
            # benchmark's hard sets (sentence embeddings, single-cell scores) the embeddings of
            # the recall-0.99 or exact graph scored below umap-learn's (news-minilm trust -0.004,
            # scrna10k accuracy -0.006), those of this graph within its targets
            min_recall=0.0,
        )

    def _precomputed_knn(self, n_samples: int):
        """umap-learn's handling of ``precomputed_knn``: None when absent or unusable."""
        knn = tuple(self.precomputed_knn) if self.precomputed_knn is not None else ()
        if len(knn) < 2 or knn[1] is None:
            return None
        knn_indices, knn_dists = knn[0], knn[1]
        search_index = knn[2] if len(knn) > 2 else None
        if not isinstance(knn_indices, np.ndarray):
            raise ValueError("precomputed_knn[0] must be ndarray object.")
        if not isinstance(knn_dists, np.ndarray):
            raise ValueError("precomputed_knn[1] must be ndarray object.")
        if knn_dists.shape != knn_indices.shape:
            raise ValueError(
                "precomputed_knn[0] and precomputed_knn[1] must be numpy arrays of the same size."
            )
        if knn_indices.ndim != 2:
            raise ValueError(
                "precomputed_knn[0] and precomputed_knn[1] must be 2-D arrays of shape "
                f"(n_samples, n_neighbors), got shape {knn_indices.shape}"
            )
        from .index import NNIndex

        if not isinstance(search_index, NNIndex):
            warnings.warn(
                "precomputed_knn[2] (knn_search_index) is not an NNIndex object: transforming "
                "new data with transform will be unavailable.",
                stacklevel=3,
            )
            search_index = None
        if knn_dists.shape[1] < self._n_neighbors:
            warnings.warn(
                "precomputed_knn has a lower number of neighbors than n_neighbors parameter. "
                "precomputed_knn will be ignored and the k-nn will be computed normally.",
                stacklevel=3,
            )
            return None
        if knn_dists.shape[0] != n_samples:
            warnings.warn(
                "precomputed_knn has a different number of samples than the data you are "
                "fitting. precomputed_knn will be ignored and the k-nn will be computed normally.",
                stacklevel=3,
            )
            return None
        k = self._n_neighbors
        return (
            np.array(knn_indices[:, :k], dtype=np.int32, order="C"),
            np.array(knn_dists[:, :k], dtype=np.float32, order="C"),
            search_index,
        )

    def _disconnect(self, indices: np.ndarray, dists: np.ndarray) -> int:
        """Cut neighbours at or beyond the disconnection distance (in place); count them."""
        if not np.isfinite(self._disconnection_distance):
            return 0
        far = dists >= self._disconnection_distance
        indices[far] = -1
        dists[far] = np.inf
        return int(far.sum())

    def _warn_disconnected(self, edges_removed: int) -> None:
        degree = np.diff(self.graph_.indptr)
        vertices_disconnected = int(np.sum(degree == 0))
        n = self.graph_.shape[0]
        if self.verbose and edges_removed > 0:
            print(
                f"Disconnection_distance = {self._disconnection_distance} has removed "
                f"{edges_removed} edges."
            )
        if vertices_disconnected > 0:
            warnings.warn(
                f"A few of your vertices ({vertices_disconnected} of {n}) were disconnected "
                "from the manifold (disconnection_distance = "
                f"{self._disconnection_distance}); their embedding is NaN.",
                stacklevel=4,
            )

    def _embed(
        self,
        X: np.ndarray,
        init: str | np.ndarray,
        rng: np.random.RandomState,
        progress: _Progress,
    ) -> np.ndarray:
        """Initialise, rescale and optimise the layout of graph_ (umap-learn's
        simplicial_set_embedding)."""
        repulsion, rate = self._layout_rates()
        epochs_list = self._n_epochs_list
        embedding, graph, n_epochs, snapshots = _embed_graph(
            self.graph_,
            init,
            n_components=self._n_components,
            a=self._a,
            b=self._b,
            n_epochs=self._n_epochs_run,
            learning_rate=self._initial_alpha,
            repulsion_strength=repulsion,
            negative_sample_rate=rate,
            rng=rng,
            n_jobs=self._n_jobs,
            progress=progress,
            data=X,
            densmap=self._densmap_arguments() or None,
            output=self._output_arguments(),
            snapshots=None if epochs_list is None else _snapshot_counts(epochs_list),
            stacklevel=4,
        )
        if self.output_dens:
            self._density_radii(graph, embedding, n_epochs)
        disconnected = np.diff(self.graph_.indptr) == 0
        _check_layout_finite(embedding[~disconnected])
        if disconnected.any():
            embedding[disconnected] = np.nan
            if snapshots is not None:
                snapshots[:, disconnected] = np.nan
        self._fit_snapshots = snapshots
        return embedding

    def _densmap_arguments(self) -> dict[str, Any]:
        if not self.densmap:
            return {}
        return {
            "densmap": True,
            "dens_lambda": float(self.dens_lambda),
            "dens_frac": float(self.dens_frac),
            "dens_var_shift": float(self.dens_var_shift),
            "knn_indices": self._knn_indices,
            "knn_dists": self._knn_dists,
        }

    def _density_radii(self, graph: scipy.sparse.csr_matrix, embedding: np.ndarray, n_epochs):
        """output_dens: the log local radii in the data (the layout's pruned graph on the data's
        k-NN) and in the embedding (a fuzzy graph of the embedding's own k-NN), as umap-learn."""
        self.rad_orig_ = _core.dens_radii(
            graph.indptr,
            graph.indices,
            graph.data,
            self._knn_indices,
            self._knn_dists,
            squared=True,
            n_jobs=self._n_jobs,
        )
        from .index import NNIndex

        k = min(self._n_neighbors, embedding.shape[0] - 1)
        index = NNIndex(
            embedding,
            n_neighbors=k,
            backend="exact" if embedding.shape[0] < 4096 else "auto",
            random_state=0,
            n_jobs=self._n_jobs,
        )
        knn_i, knn_d = index.neighbor_graph
        knn_i = np.ascontiguousarray(knn_i, dtype=np.int32)
        knn_d = np.ascontiguousarray(knn_d, dtype=np.float32)
        indptr, indices, data, _, _ = _core.fuzzy_simplicial_set(
            knn_i, knn_d, embedding.shape[0], n_jobs=self._n_jobs
        )
        self.rad_emb_ = _core.dens_radii(
            indptr, indices, data, knn_i, knn_d, squared=False, n_jobs=self._n_jobs
        )

    # ------------------------------------------------------------------ transform

    def transform(self, X: Any, ensure_all_finite: bool | str = True, **kwargs: Any):
        """Embed new points into the fitted space; ``embedding_`` is not changed.

        Parameters
        ----------
        X : array-like, shape (n_queries, n_features)

        Returns
        -------
        ndarray (n_queries, n_components), float32, or the (n_queries, n_samples) membership
        graph when ``transform_mode="graph"``.
        """
        check_is_fitted(self, "embedding_")
        if getattr(self, "_combined", False):
            raise ValueError(
                "transform is unavailable for a model combined from two models (UMAP * UMAP, "
                "+ or -): it has a graph but no training data"
            )
        force = kwargs.pop("force_all_finite", None)
        if kwargs:
            raise TypeError(f"transform() got unexpected keyword arguments {sorted(kwargs)}")
        flag = _check_finite_flag(ensure_all_finite if force is None else force)
        if self._train_embedding().shape[0] == 1:
            raise ValueError(
                "Transform unavailable when model was fit with only a single data sample."
            )
        precomputed = self.metric == "precomputed"
        if precomputed:
            warnings.warn(
                "Transforming new data with precomputed metric. We are assuming the input data "
                "is a matrix of distances from the new points to the points in the training set.",
                stacklevel=2,
            )
            X = _check_distances(X, square=False, ensure_all_finite=flag)
        else:
            X = _check_data(X, ensure_all_finite=flag)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but UMAP is expecting {self.n_features_in_} "
                "features as input."
            )
        if self._is_training_data(X):
            # umap-learn's shortcut: the training data maps to its own embedding.
            return self.graph_ if self.transform_mode == "graph" else self.embedding_.copy()
        if self._knn_search_index is None and not precomputed:
            raise NotImplementedError(
                "No search index available: transforming data into an existing embedding is "
                "not supported"
            )
        row_map = getattr(self, "_row_map", None)
        if precomputed and row_map is not None:
            X = X[:, np.flatnonzero(row_map >= 0)]  # the distances to the embedded points
        keep = None
        if flag is not True:
            left_out = _nonfinite_rows(X, flag, precomputed, square=False)
            if left_out.any():
                keep = np.flatnonzero(~left_out)
                n_query = X.shape[0]
                X = X[keep] if scipy.sparse.issparse(X) else np.ascontiguousarray(X[keep])
        progress = _Progress(self.verbose, self._tqdm_kwds)
        try:
            if keep is not None and keep.size == 0:
                graph = _csr(
                    np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32),
                    (0, self._train_embedding().shape[0]),
                )  # fmt: skip
            else:
                graph = self._transform_graph(X, progress)
            if self.transform_mode == "graph":
                return graph if keep is None else _scatter_rows(graph, keep, n_query)
            embedding = self._transform_embed(graph, progress) if graph.shape[0] else None
        finally:
            progress.close()
        if keep is None:
            return embedding
        out = np.full((n_query, self._n_components), np.nan, dtype=np.float32)
        if embedding is not None:
            out[keep] = embedding
        return out

    # A loaded model's training rows are its search index's (not a second copy): _fit_data and
    # _raw_data then read them from the index, which decodes them only when they are used.
    @property
    def _fit_data(self) -> Any:
        value = self.__dict__.get("_fit_data_value")
        return self._knn_search_index._raw_data if value is _ROWS_IN_INDEX else value

    @_fit_data.setter
    def _fit_data(self, value: Any) -> None:
        self.__dict__["_fit_data_value"] = value

    @property
    def _raw_data(self) -> Any:
        value = self.__dict__.get("_raw_data_value")
        return self._knn_search_index._raw_data if value is _ROWS_IN_INDEX else value

    @_raw_data.setter
    def _raw_data(self, value: Any) -> None:
        self.__dict__["_raw_data_value"] = value

    def _is_training_data(self, X: Any) -> bool:
        """Whether X is the training data (transform's shortcut). A loaded model that does not
        keep the training data as given (unique=True, precomputed) compares a CRC-32 of it."""
        raw = self.__dict__.get("_raw_data_value")
        if raw is _ROWS_IN_INDEX:
            if X.shape != self._knn_search_index._shape():
                return False
            return _same_data(X, self._raw_data)
        if raw is not None:
            return _same_data(X, raw)
        stored = getattr(self, "_raw_data_fingerprint", None)
        if stored is None or list(X.shape) != stored["shape"]:
            return False
        from ._model import fingerprint

        return fingerprint(X) == stored

    def _train_embedding(self) -> np.ndarray:
        """The coordinates of the points of graph_ and of the search index: embedding_, or with
        unique=True those of the distinct rows."""
        return getattr(self, "_fit_embedding", self.embedding_)

    def _transform_graph(self, X: np.ndarray, progress: _Progress) -> scipy.sparse.csr_matrix:
        if self.metric == "precomputed":
            indices, dists = _knn_from_distances(X, self._n_neighbors, self._n_jobs)
        else:
            epsilon = 0.24 if getattr(self._knn_search_index, "_angular_trees", False) else 0.12
            indices, dists = self._knn_search_index.query(X, k=self._n_neighbors, epsilon=epsilon)
        indices = np.array(indices, dtype=np.int32, order="C")
        dists = np.array(dists, dtype=np.float32, order="C")
        self._disconnect(indices, dists)
        n_train = self._train_embedding().shape[0]
        indptr, cols, data, _, _ = _core.fuzzy_simplicial_set(
            indices,
            dists,
            n_train,
            local_connectivity=max(0.0, float(self.local_connectivity) - 1.0),
            set_op_mix_ratio=float(self.set_op_mix_ratio),
            apply_set_operations=False,
            n_jobs=self._n_jobs,
            callback=progress.callback,
        )
        return _csr(indptr, cols, data, (X.shape[0], n_train))

    def _transform_embed(self, graph: scipy.sparse.csr_matrix, progress: _Progress) -> np.ndarray:
        train = np.array(self._train_embedding(), dtype=np.float32, order="C")
        n_query = graph.shape[0]
        placed = np.isfinite(train).all(axis=1)
        if not placed.all():
            # Disconnected training points have NaN coordinates (umap-learn's convention): new
            # points are placed against, and pushed away from, the embedded ones only.
            if not placed.any():
                raise ValueError("transform: no training point has finite coordinates")
            keep = np.flatnonzero(placed)
            column = np.full(train.shape[0], -1, dtype=np.int64)
            column[keep] = np.arange(keep.size)
            coo = graph.tocoo()
            edge = placed[coo.col]
            graph = scipy.sparse.csr_matrix(
                (coo.data[edge], (coo.row[edge], column[coo.col[edge]])),
                shape=(n_query, keep.size),
                dtype=np.float32,
            )
            graph.sort_indices()
            train = np.ascontiguousarray(train[keep])
        embedding = np.array(
            _core.init_transform(graph.indptr, graph.indices, graph.data, train),
            dtype=np.float32,
            order="C",
        )
        later = self._later_epochs()
        if later is None:
            n_epochs = 100 if n_query <= 10000 else 30
        else:
            n_epochs = later // 3
        if n_epochs <= 0 or graph.nnz == 0:
            return embedding
        graph = _prune(graph, n_epochs, n_epochs)
        repulsion, rate = self._layout_rates()
        seed = -1
        if self.transform_seed is not None:
            seed = _draw_seed(check_random_state(self.transform_seed))
        _core.optimize_layout(
            embedding,
            train,
            graph.indptr.astype(np.int32, copy=False),
            graph.indices.astype(np.int32, copy=False),
            graph.data.astype(np.float32, copy=False),
            n_epochs,
            self._a,
            self._b,
            repulsion_strength=repulsion,
            learning_rate=self._initial_alpha / 4.0,
            negative_sample_rate=rate,
            seed=seed,
            n_jobs=self._n_jobs,
            callback=progress.callback,
            **self._output_arguments(),
        )
        _check_layout_finite(embedding)
        return embedding

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map points of the embedding space back to the data space (umap-learn's method).

        For each point, its nearest embedded training points (as many as the data has
        features, at most the number of training points) give memberships from the fitted
        curve; the start is their weighted mean in data space, then gradient descent in data
        space against those memberships and random training points, with the data metric's
        gradient. Unlike umap-learn no Delaunay triangulation is needed, so any
        ``n_components`` works. Computed in C, in parallel.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_components)

        Returns
        -------
        ndarray (n_samples, n_features), float32
        """
        check_is_fitted(self, "embedding_")
        if getattr(self, "_combined", False):
            raise ValueError("Inverse transform not available for a combined model.")
        if self._sparse_data:
            raise ValueError("Inverse transform not available for sparse input.")
        if self.metric == "precomputed" or self.metric not in _INVERSE_METRICS:
            raise ValueError("Inverse transform not available for given metric.")
        if self.densmap:
            raise ValueError("Inverse transform not available for densMAP.")
        if self._n_components >= 8:
            warnings.warn(
                "Inverse transform works best with low dimensional embeddings. Results may be "
                "poor, or this approach to inverse transform may fail altogether! If you need a "
                "high dimensional latent space and inverse transform operations consider using "
                "an autoencoder.",
                stacklevel=2,
            )
        elif self.transform_mode == "graph":
            raise ValueError("Inverse transform not available for transform_mode = 'graph'")
        X = _check_data(X)
        if X.shape[1] != self._n_components:
            raise ValueError(
                f"X has {X.shape[1]} columns but the embedding has {self._n_components}"
            )
        train = np.ascontiguousarray(self._train_embedding(), dtype=np.float32)
        if not np.all(np.isfinite(train)):
            raise ValueError(
                "Inverse transform not available: some training points are disconnected"
            )
        later = self._later_epochs()
        n_epochs = 0 if later is None else later // 3
        progress = _Progress(self.verbose, self._tqdm_kwds)
        try:
            return _core.inverse_transform(
                train,
                self._fit_data,
                self._sigmas,
                self._rhos,
                X,
                str(self.metric),
                self._a,
                self._b,
                repulsion_strength=float(self.repulsion_strength),
                learning_rate=self._initial_alpha / 4.0,
                negative_sample_rate=float(self.negative_sample_rate),
                n_epochs=n_epochs,
                seed=_draw_seed(check_random_state(self.transform_seed)),
                n_jobs=self._n_jobs,
                callback=progress.callback,
            )
        finally:
            progress.close()

    def update(self, X: Any) -> None:
        """Add new points to a fitted model (umap-learn's ``update``).

        The neighbour graph and the fuzzy set are rebuilt on the old and new points together,
        then the layout is optimised again from the old embedding for the old points and the
        ``transform`` placement for the new ones. ``embedding_``, ``graph_`` and the search
        index then cover all points.

        Parameters
        ----------
        X : array-like, shape (n_new, n_features)
        """
        check_is_fitted(self, "embedding_")
        if getattr(self, "_combined", False):
            raise ValueError("update is not available for a model combined from two models")
        if self.metric == "precomputed":
            raise ValueError("Update does not currently support precomputed metrics")
        if self._supervised:
            raise ValueError("Updating supervised models is not currently supported")
        if self.unique:
            raise ValueError("update is not available for a model fitted with unique=True")
        if getattr(self, "_row_map", None) is not None:
            raise ValueError(
                "update is not available for a model that left rows with non-finite values "
                "out of its fit (ensure_all_finite)"
            )
        X = _check_data(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but UMAP is expecting {self.n_features_in_} "
                "features as input."
            )
        if scipy.sparse.issparse(X) != self._sparse_data:
            # new rows take the kind of the model's rows, as the search index holds them
            X = _sparse_rows(scipy.sparse.csr_matrix(X), "X") if self._sparse_data else X.toarray()
        placed = self.transform(X) if self._knn_search_index is not None else None
        old = np.array(self._train_embedding(), dtype=np.float32)
        if placed is None:
            placed = np.full((X.shape[0], old.shape[1]), np.nan, dtype=np.float32)
        init = np.concatenate([old, np.asarray(placed, dtype=np.float32)])
        # disconnected points (NaN) start at the centre of the others
        missing = ~np.isfinite(init).all(axis=1)
        if missing.all():
            raise ValueError("update: no point has finite coordinates to start from")
        init[missing] = init[~missing].mean(axis=0)
        if self._sparse_data:
            data = _sparse_rows(scipy.sparse.vstack([self._fit_data, X], format="csr"), "X")
        else:
            data = np.ascontiguousarray(np.concatenate([self._fit_data, X]))
        if data.shape[0] <= self._n_neighbors:
            raise ValueError("update: the model and the new points have too few rows together")
        self._raw_data = self._fit_data = data
        rng = check_random_state(self.transform_seed)
        progress = _Progress(self.verbose, self._tqdm_kwds)
        try:
            self._fit_graph(data, rng, True, progress)
            embedding = self._embed(data, init, rng, progress)
        finally:
            progress.close()
        self.embedding_ = self._fit_embedding = embedding

    def _compose(self, other: Any, operator: str) -> UMAP:
        """umap-learn's model arithmetic: the fuzzy intersection (``*``), union (``+``) or
        difference (``-``) of two models' graphs on the same points, embedded afresh with the
        models' combined layout parameters and umap-learn's fixed seed 42."""
        if not isinstance(other, UMAP):
            return NotImplemented
        for model in (self, other):
            check_is_fitted(model, "graph_", msg="Only fitted UMAP models can be combined")
        if self.graph_.shape[0] != other.graph_.shape[0]:
            raise ValueError("Only models with the equivalent samples can be combined")
        op, reset_metric = {
            "*": ("intersection", True),
            "+": ("union", True),
            "-": ("difference", False),
        }[operator]
        g, h = self.graph_, other.graph_
        indptr, indices, data = _core.combine_graphs(
            g.indptr,
            g.indices,
            g.data,
            h.indptr,
            h.indices,
            h.data,
            op,
            0.5,
            reset_local_metric=reset_metric,
            n_jobs=self._n_jobs,
        )
        epochs = [m._later_epochs() for m in (self, other) if m.n_epochs is not None]
        result = UMAP(**self.get_params())
        result.set_params(
            n_components=min(self._n_components, other._n_components),
            learning_rate=min(self.learning_rate, other.learning_rate),
            repulsion_strength=(self.repulsion_strength + other.repulsion_strength) / 2,
            negative_sample_rate=(self.negative_sample_rate + other.negative_sample_rate) / 2,
            n_epochs=max(epochs) if len(epochs) == 2 else None,
            a=(self._a + other._a) / 2,
            b=(self._b + other._b) / 2,
            init="spectral",
            random_state=42,
            unique=False,
        )
        result._adopt_graph(_csr(indptr, indices, data, g.shape), self)
        return result

    def _adopt_graph(self, graph: scipy.sparse.csr_matrix, source: UMAP) -> None:
        """Fitted state from a combined graph: the embedding of graph alone (no data, so no
        transform), umap-learn's random start when the graph is not connected."""
        self._validate_parameters()
        self._a, self._b = float(self.a), float(self.b)
        self._initial_alpha = float(self.learning_rate)
        self.graph_ = graph
        init = "spectral"
        if scipy.sparse.csgraph.connected_components(graph)[0] > 1:
            warnings.warn(
                "Combined graph is not connected but multi-component layout is unsupported. "
                "Falling back to random initialization.",
                stacklevel=4,
            )
            init = "random"
        progress = _Progress(self.verbose, self._tqdm_kwds)
        try:
            placeholder = np.empty((graph.shape[0], 0), dtype=np.float32)
            embedding = self._embed(placeholder, init, check_random_state(42), progress)
        finally:
            progress.close()
        self.embedding_ = self._fit_embedding = embedding
        self._n_neighbors = source._n_neighbors
        self._knn_search_index = None
        self._raw_data = self._fit_data = None
        self._combined = True
        self._supervised = self._sparse_data = False
        self.n_features_in_ = source.n_features_in_
        self._n_features_out = embedding.shape[1]

    # ------------------------------------------------------------------ model files

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path``: one versioned, checksummed file, written to a
        temporary file and renamed into place, read back by :func:`umapc.load`.

        It holds the parameters, ``embedding_``, ``graph_``, the neighbours and what
        ``transform`` needs (the search index, which holds the training rows: they are not
        stored a second time). ``transform`` of a loaded model gives the same bytes as the
        model's before it was saved. Pickles carry the same compact form.

        Raises
        ------
        ValueError
            When a parameter is code or an object rather than data (a callable metric, a
            ``RandomState``): pickle the model instead.
        OSError
            When the file cannot be written.
        """
        check_is_fitted(self, "embedding_")
        from ._model import save

        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> UMAP:
        """Read a model written by :meth:`save` (also ``umapc.load``).

        Raises
        ------
        umapc.CorruptIndexError
            For a truncated, corrupt or malformed file (a ``ValueError``);
            ``umapc.UnsupportedModelVersionError``, a subclass, for a file of a newer format.
        OSError
            When the file cannot be read.
        """
        from ._model import load

        return load(path)

    def __copy__(self) -> UMAP:
        # a shallow copy shares the arrays and the index, as before pickling had its own form
        # (copy.copy would otherwise serialise the whole model through __getstate__)
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __getstate__(self) -> dict[str, Any]:
        if not hasattr(self, "embedding_"):
            return super().__getstate__()
        from ._model import dumps

        objects: dict[str, Any] = {}
        blob = dumps(self, objects=objects)
        return {"_umapc_model": blob, "_umapc_objects": objects}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict) and "_umapc_model" in state:
            from ._model import restore

            objects = state.get("_umapc_objects") or {}
            if not isinstance(objects, dict):
                raise CorruptIndexError("UMAP state: the pickled objects must be a dict")
            restore(self, state["_umapc_model"], objects)
            return
        if isinstance(state, dict):
            # an attribute dict (unfitted, or pickled by an earlier umapc): the rows' attributes
            # are properties now, over these names
            state = dict(state)
            for name in ("_raw_data", "_fit_data"):
                if name in state:
                    state[f"{name}_value"] = state.pop(name)
        super().__setstate__(state)

    def __mul__(self, other: Any):
        return self._compose(other, "*")

    def __add__(self, other: Any):
        return self._compose(other, "+")

    def __sub__(self, other: Any):
        return self._compose(other, "-")

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        # float64 rows give a float32 embedding, as umap-learn's
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float32]}
