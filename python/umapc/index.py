"""``umapc.NNIndex``: a nearest-neighbour index with pynndescent's ``NNDescent`` interface.

All search work happens in the C library (exact brute force or HNSW); this module validates
arguments, converts arrays and caches the all-points graph.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import struct
import threading
import zlib
from typing import Any, Callable

import numpy as np
import scipy.sparse

from . import _core
from ._custom_metric import make_custom_metric
from ._validation import (
    _P_METRICS,
    check_n_jobs,
    check_positive_int,
    csr_arrays,
    is_angular,
    json_metric_kwds,
    progress_callback,
    resolve_metric,
    seed_from_random_state,
    sparse_rows,
)

__all__ = ["CorruptIndexError", "NNIndex"]

#: Raised for a malformed, truncated, corrupt or incompatible index file or pickled state. It is a
#: ``ValueError`` (bad content) and, for code written against earlier versions, an ``OSError``;
#: failures to read or write the file itself (missing, a folder, no permission) raise plain
#: ``OSError``.
CorruptIndexError = _core.CorruptIndexError

# Keywords umap-learn (and pynndescent users) pass to NNDescent. They are accepted so that NNIndex
# drops in; those in _NNDESCENT_EFFORT steer the NN-descent all-points graph, the rest have no
# meaning for umapc's backends and are ignored.
_PYNNDESCENT_KEYWORDS = frozenset(
    {
        "n_trees",
        "leaf_size",
        "pruning_degree_multiplier",
        "diversify_prob",
        "n_search_trees",
        "tree_init",
        "init_graph",
        "init_dist",
        "low_memory",
        "max_candidates",
        "max_rp_tree_depth",
        "n_iters",
        "delta",
        "compressed",
        "parallel_batch_queries",
    }
)

# pynndescent keyword -> keyword of _core.nndescent_knn_graph.
_NNDESCENT_EFFORT = {
    "n_trees": "n_trees",
    "leaf_size": "leaf_size",
    "max_candidates": "max_candidates",
    "n_iters": "max_iters",
    "delta": "delta",
}

_BACKENDS = ("auto", "exact", "hnsw")
_GRAPH_METHODS = ("auto", "nndescent", "hnsw", "exact")

# The exact all-points graph costs n^2 pairs at about (dim + 11) units each (multiply-adds at
# matrix-multiply speed, plus a per-pair selection cost that dominates at low dim); NN-descent
# costs a roughly constant 7-12 us per point. Exact is the faster way to the graph while
# n * (dim + 11) stays below about 5.5e5 (bench/bench_auto.py measures the crossover: ~700
# points of 784 dimensions, ~4,000 of 128, ~15,000 of 25).
_AUTO_EXACT_MAX_WORK = 5.5e5

# Neighbours a cached k-NN graph needs for the lazy HNSW build to link from it rather than insert
# (UMAP's default 15 qualifies; 5 would leave layer 0 with few candidates per node).
_GRAPH_BUILD_MIN_K = 10


def ef_from_epsilon(k: int, epsilon: float) -> int:
    """HNSW search width for pynndescent's ``epsilon`` (0.1 default; umap-learn passes 0.12/0.24).

    pynndescent widens its search frontier by a factor (1 + epsilon); the equivalent HNSW knob is
    the beam width, which we grow from k so that recall@k stays at or above 0.95.
    """
    return max(k, int(math.ceil(k * (1.0 + 16.0 * epsilon))), 16)


def _nndescent_effort(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The NN-descent keywords of ``_core.nndescent_knn_graph`` from pynndescent's, validated."""
    effort: dict[str, Any] = {}
    for name, core_name in _NNDESCENT_EFFORT.items():
        value = kwargs.get(name)
        if value is None:
            continue
        if name == "delta":
            delta = float(value)
            if not 0.0 <= delta < 1.0:
                raise ValueError(f"delta must be in [0, 1), got {value!r}")
            effort[core_name] = delta
        else:
            effort[core_name] = check_positive_int(value, name)
    return effort


class NNIndex:
    """Nearest-neighbour index over dense float32 data, usable where pynndescent's ``NNDescent``
    is, including as umap-learn's ``precomputed_knn=(indices, distances, index)``.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features)
        The points to index. Converted to C-contiguous float32 (copied only when needed).
    n_neighbors : int, default=30
        Neighbours per point in :attr:`neighbor_graph` (the point itself included).
    metric : str or callable, default="euclidean"
        Any of umap-learn's / pynndescent's dense metric names or aliases, or a function
        ``metric(x, y, *metric_kwds.values())`` of two 1-d float32 arrays returning their
        distance: a numba-compiled one (``@numba.njit``, as pynndescent takes) runs compiled in
        the C threads; a plain Python one works but holds the GIL for every distance (slow; a
        ``UserWarning`` says so). An index with a custom metric pickles (the function must
        pickle; the search structure is rebuilt on unpickling) but cannot be saved to a file.
    metric_kwds : dict, optional
        Metric parameters (``{"p": ...}`` for minkowski).
    backend : {"auto", "exact", "hnsw"}, default="auto"
        ``"exact"``: brute force, exact answers. ``"hnsw"``: approximate graph index.
        ``"auto"``: exact while that is the faster way to the all-points graph (n * (dim + 11)
        below about 5.5e5: ~700 points of 784 dimensions, ~15,000 of 25), HNSW otherwise.
    random_state : int, RandomState, Generator or None
        Seeds the HNSW graph; with a fixed value the index is identical for any ``n_jobs``.
    n_jobs : int, default=-1
        Threads used by the C library (-1: all cores).
    verbose : bool, default=False
        Show progress bars (needs tqdm).
    M : int, default=16
        HNSW links per node (2M on the bottom layer).
    ef_construction : int, default=200
        HNSW beam width while building.
    graph_method : {"auto", "nndescent", "hnsw", "exact"}, default="auto"
        How :attr:`neighbor_graph` is made. ``"auto"``: the exact backend's own search, else
        NN-descent from the rows. NN-descent checks its recall on a sample of rows and searches
        again with larger heaps, or takes the exact graph where that is cheaper, when it falls
        short of 0.99. ``"hnsw"``: a search of every point in the HNSW index (built if it is
        not yet). Every method compares the same rows (for ``"dot"``, L2-normalised, as
        pynndescent does).
        ``"exact"``: brute force.
        :attr:`graph_info_` says which method made the graph.
    min_recall : float, default=0.99
        The recall@k NN-descent's sampled check asks for before it searches again or hands over
        to the exact graph; 0 keeps its first result, as pynndescent does. (UMAP passes 0: on the
        quality benchmark its embeddings match umap-learn's better on that graph than on a
        near-exact one; docs/benchmarks.md.)
    **kwargs
        pynndescent's other keywords. ``n_trees``, ``leaf_size``, ``max_candidates``,
        ``n_iters`` and ``delta`` set the effort of the NN-descent all-points graph (None or
        absent: chosen from the data, and raised until a sampled recall check passes); the
        rest (``low_memory``, ``compressed``, ...) are accepted and ignored.

    Attributes
    ----------
    graph_info_ : dict or None
        How :attr:`neighbor_graph` was made, once it is: ``{"method": "nndescent" | "exact" |
        "hnsw"}``, for NN-descent with the number of searches (``searches``), the heap size of
        the last (``heap_size``) and its sampled recall (``recall_estimate``). None before, and
        for a graph restored from a file or pickle.
    """

    def __init__(
        self,
        data: Any,
        n_neighbors: int = 30,
        metric: str | Callable[..., float] = "euclidean",
        metric_kwds: dict[str, Any] | None = None,
        *,
        backend: str = "auto",
        random_state: Any = None,
        n_jobs: int | None = -1,
        verbose: bool = False,
        M: int = 16,
        ef_construction: int = 200,
        graph_method: str = "auto",
        min_recall: float = 0.99,
        **kwargs: Any,
    ) -> None:
        if graph_method not in _GRAPH_METHODS:
            raise ValueError(f"graph_method must be one of {_GRAPH_METHODS}, got {graph_method!r}")
        self.graph_method = graph_method
        if not 0.0 <= float(min_recall) <= 1.0:
            raise ValueError(f"min_recall must be in [0, 1], got {min_recall!r}")
        self.min_recall = float(min_recall)
        self.graph_info_: dict[str, Any] | None = None
        unknown = set(kwargs) - _PYNNDESCENT_KEYWORDS
        if unknown:
            raise TypeError(f"NNIndex got unexpected keyword argument(s) {sorted(unknown)}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self._effort = _nndescent_effort(kwargs)
        self.metric = metric
        self.metric_kwds = metric_kwds
        self._metric_name: Any
        if callable(metric):
            # the CustomMetric object stands in for the name in every _core call
            self._metric_name = make_custom_metric(metric, metric_kwds, what="metric")
            self._p, self._metric_params = 2.0, None
        else:
            self._metric_name, self._p, self._metric_params = resolve_metric(metric, metric_kwds)
        self.n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
        self.n_jobs = check_n_jobs(n_jobs)
        self.random_state = random_state
        self.verbose = bool(verbose)
        self.M = check_positive_int(M, "M")
        self.ef_construction = check_positive_int(ef_construction, "ef_construction")
        # Serialises updates, the lazy HNSW build and the cached graph (the C index has its own
        # reader-writer lock for queries against updates).
        self._lock = threading.RLock()
        self._raw_data = _core_matrix(data, "data")
        self._sparse = scipy.sparse.issparse(self._raw_data)
        n = self._raw_data.shape[0]
        if self.n_neighbors > n:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} is larger than the number of points ({n})"
            )
        self.backend = backend
        self._backend = self._choose_backend(backend, n, self._raw_data.shape[1])
        seed = seed_from_random_state(random_state)
        self._seed = 0 if seed is None else seed
        self._angular_trees = not callable(metric) and is_angular(self._metric_name)
        if self._sparse and callable(metric):
            raise ValueError("a callable metric needs dense rows; pass data.toarray()")
        self._check_rows(self._raw_data)
        self._neighbor_graph: tuple[np.ndarray, np.ndarray] | None = None
        # The HNSW graph is only needed for queries and updates: like pynndescent, which builds
        # its search graph in prepare(), it is built on first use, so a UMAP fit that only needs
        # neighbor_graph never pays for it.
        self._index: Any = None if self._backend == "hnsw" else self._build(self._raw_data)

    def _choose_backend(self, backend: str, n: int, dim: int) -> str:
        if self._sparse:
            if backend == "hnsw":
                raise ValueError(
                    "backend='hnsw' needs dense rows; sparse rows are searched exactly "
                    "(backend='auto' or 'exact'), their all-points graph made by NN-descent"
                )
            return "exact"
        if backend != "auto":
            return backend
        return "exact" if float(n) * (dim + 11) <= _AUTO_EXACT_MAX_WORK else "hnsw"

    def _check_rows(self, rows: Any) -> None:
        """The metric's checks of rows (finite values, and e.g. no negative entries for hellinger;
        for sparse rows also the structure and that the metric has a sparse kernel), in C."""
        metric = (self._metric_name, self._p, self._metric_params)
        if scipy.sparse.issparse(rows):
            _core.sparse_check_data(csr_arrays(rows), *metric)
        else:
            _core.check_metric_data(rows, *metric)

    def _search_rows(self) -> Any:
        """The rows as the extension's searches take them."""
        return csr_arrays(self._raw_data) if self._sparse else self._raw_data

    def _core_index(self) -> Any:
        index = self._index
        if index is None:
            with self._lock:  # two first queries must not build the graph twice
                if self._index is None:
                    self._index = self._build(self._raw_data)
                index = self._index
        return index

    def _build(self, data: Any) -> Any:
        if self._sparse:
            return _SparseRowsIndex(data, (self._metric_name, self._p, self._metric_params))
        callback, close = progress_callback(self.verbose, "NNIndex")
        try:
            return _core.Index(
                data,
                metric=self._metric_name,
                p=self._p,
                params=self._metric_params,
                backend=self._backend,
                M=self.M,
                ef_construction=self.ef_construction,
                seed=self._seed,
                n_jobs=self.n_jobs,
                callback=callback,
                knn_indices=self._graph_for_build(data),
            )
        finally:
            if close is not None:
                close()

    def _graph_for_build(self, data: Any) -> np.ndarray | None:
        """The cached k-NN graph of ``data`` when the HNSW graph can be linked from it (the UMAP
        fit path: NN-descent's graph is already there), which costs a few distances per link
        instead of a beam search per row (docs/benchmarks.md, "HNSW from the k-NN graph"); None
        for an insertion build. Fewer than _GRAPH_BUILD_MIN_K neighbours leave the layers too
        sparse to search well."""
        graph = self._neighbor_graph
        if (
            self._backend != "hnsw"
            or graph is None
            or data is not self._raw_data
            or graph[0].shape != (data.shape[0], self.n_neighbors)
            or self.n_neighbors < _GRAPH_BUILD_MIN_K
        ):
            return None
        return graph[0]

    @property
    def neighbor_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, distances)`` of shape (n_samples, n_neighbors): each point's nearest
        neighbours, the point itself first at distance 0. Computed once and cached."""
        graph = self._neighbor_graph
        if graph is None:
            with self._lock:  # an update in between would leave a graph of the old rows cached
                if self._neighbor_graph is None:
                    callback, close = progress_callback(self.verbose, "neighbor graph")
                    try:
                        self._neighbor_graph = self._compute_neighbor_graph(callback)
                    finally:
                        if close is not None:
                            close()
                graph = self._neighbor_graph
        return graph

    def _resolved_graph_method(self) -> str:
        method = getattr(self, "graph_method", "auto")
        if method == "hnsw" and getattr(self, "_sparse", False):
            raise ValueError("graph_method='hnsw' needs dense rows")
        if method != "auto":
            return method
        # Sparse rows are always searched exactly, but their graph comes from NN-descent unless
        # the exact backend was asked for (which NN-descent also picks where it is cheaper).
        backend = self.backend if getattr(self, "_sparse", False) else self._backend
        return "exact" if backend == "exact" else "nndescent"

    def _compute_neighbor_graph(self, callback: Any) -> tuple[np.ndarray, np.ndarray]:
        method = self._resolved_graph_method()
        if method == "nndescent":
            # NN-descent straight from the rows: faster than building the HNSW graph and
            # searching it (pynndescent's own method); it may hand over to the exact graph
            # where that is cheaper, and says so.
            indices, distances, outcome = _core.nndescent_knn_graph(
                self._search_rows(),
                self.n_neighbors,
                metric=self._metric_name,
                p=self._p,
                params=self._metric_params,
                seed=self._seed,
                n_jobs=self.n_jobs,
                progress=callback,
                outcome=True,
                min_recall=getattr(self, "min_recall", 0.99),
                **self._effort,
            )
            self.graph_info_ = {"method": "exact" if outcome["exact"] else "nndescent", **outcome}
            return indices, distances
        if method == "exact" and self._backend != "exact":
            graph = _core.exact_knn_graph(
                self._raw_data,
                self.n_neighbors,
                metric=self._metric_name,
                p=self._p,
                params=self._metric_params,
                n_jobs=self.n_jobs,
                progress=callback,
            )
            self.graph_info_ = {"method": "exact"}
            return graph
        graph = self._core_index().knn_graph(
            self.n_neighbors, n_jobs=self.n_jobs, callback=callback
        )
        self.graph_info_ = {"method": "exact" if self._backend == "exact" else "hnsw"}
        return graph

    def query(
        self,
        query_data: Any,
        k: int = 10,
        epsilon: float = 0.1,
        *,
        ef: int | None = None,
        filter_mask: Any = None,
        n_jobs: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` indexed points nearest to each row of ``query_data``.

        Parameters
        ----------
        query_data : array-like of shape (n_queries, n_features)
        k : int, default=10
        epsilon : float, default=0.1
            pynndescent's search-effort knob; mapped to an HNSW beam width when ``ef`` is None.
        ef : int, optional
            HNSW beam width (ignored by the exact backend).
        filter_mask : bool array of shape (n_indexed,), optional
            Only points where it is True may be returned. Rows with fewer than ``k`` allowed
            points are padded with index -1 and distance inf.
        n_jobs : int, optional
            Threads for this call; defaults to the index's ``n_jobs``.

        Returns
        -------
        indices : int32 array of shape (n_queries, k)
        distances : float32 array of shape (n_queries, k), ascending per row
        """
        k = check_positive_int(k, "k")
        if (
            isinstance(epsilon, (bool, np.bool_))
            or not isinstance(epsilon, numbers.Real)
            or not np.isfinite(epsilon)
            or epsilon < 0
        ):
            raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
        if ef is None:
            ef = ef_from_epsilon(k, float(epsilon))
        else:
            ef = check_positive_int(ef, "ef")
        # A beam wider than the index finds nothing more; the C library clamps too, this keeps
        # Python ints beyond 64 bits out of the call.
        ef = min(ef, max(k, self._n_rows()))
        jobs = self.n_jobs if n_jobs is None else check_n_jobs(n_jobs)
        if scipy.sparse.issparse(query_data) and not self._sparse:
            query_data = _like_rows(_core_matrix(query_data, "query_data"), False)
        callback, close = progress_callback(self.verbose, "query")
        try:
            return self._core_index().query(
                query_data,
                k,
                ef=ef,
                filter_mask=filter_mask,
                n_jobs=jobs,
                callback=callback,
            )
        finally:
            if close is not None:
                close()

    def prepare(self) -> None:
        """Build the search structure now rather than on the first query, as pynndescent's
        ``prepare`` does (the HNSW graph; the exact backend has nothing to build)."""
        self._core_index()

    def update(self, X: Any) -> None:
        """Append the rows of ``X`` to the index (HNSW inserts them without a rebuild). The
        cached :attr:`neighbor_graph` is recomputed on next access."""
        new = _core_matrix(X, "X")
        if self._sparse != scipy.sparse.issparse(new):
            new = _like_rows(new, self._sparse)
        if new.shape[1] != self._raw_data.shape[1]:
            raise ValueError(
                f"X has {new.shape[1]} columns but the index has {self._raw_data.shape[1]}"
            )
        self._check_rows(new)
        with self._lock:
            core_index = self._core_index()
            before = core_index.size
            callback, close = progress_callback(self.verbose, "update")
            try:
                core_index.add(new, n_jobs=self.n_jobs, callback=callback)
            finally:
                if close is not None:
                    close()
                # An interrupted HNSW insert keeps the batches it finished (the exception says
                # how many rows); the Python rows follow whatever the C index now holds.
                added = core_index.size - before
                if added and self._sparse:
                    self._raw_data = core_index.rows()
                elif added:
                    self._raw_data = np.ascontiguousarray(
                        np.concatenate([self._raw_data, new[:added]])
                    )
                if added:
                    self._neighbor_graph = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path``: one versioned, checksummed file, written to a temporary
        file and renamed into place so an interrupted save never leaves a half-written index."""
        if callable(self.metric):
            raise ValueError(
                "an NNIndex with a custom (callable) metric cannot be saved to a file: the metric "
                "is code, not data; pickle the index instead (the function is pickled and "
                "compiled again when loaded)"
            )
        with self._lock:
            self._core_index().save(os.fspath(path), self._meta())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NNIndex:
        """Read an index written by :meth:`save`.

        Raises
        ------
        CorruptIndexError
            (a ``ValueError``, and an ``OSError`` for compatibility) for a truncated, corrupt,
            incompatible or otherwise malformed file.
        OSError
            When the file cannot be read: missing, not a regular file, no permission.
        """
        core_index, meta = _load_core_index(os.fspath(path))
        return cls._from_parts(core_index, meta)

    def _meta(self) -> bytes:
        """Python-level parameters (JSON), then the raw rows when the C index does not keep
        them as given (HNSW stores normalised rows for angular metrics; euclidean pixel rows it
        keeps as lossless 8-bit codes, read back exactly, so they are not stored twice)."""
        header = json.dumps(self._params()).encode()
        parts = [_META_MAGIC, struct.pack("<Q", len(header)), header]
        if self._backend != "exact" and not self._core_index().rows_as_given:
            parts.append(memoryview(self._raw_data).cast("B"))
        return b"".join(parts)

    def _params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "metric": self.metric,
            "metric_kwds": json_metric_kwds(self.metric_kwds),
            "backend": self.backend,
            "random_state": self._seed,
            "n_jobs": self.n_jobs,
            "verbose": self.verbose,
            "M": self.M,
            "ef_construction": self.ef_construction,
        }

    @classmethod
    def _from_parts(
        cls,
        core_index: Any,
        meta: bytes,
        neighbor_graph: Any = None,
    ) -> NNIndex:
        params, raw_rows = _parse_meta(meta)
        self = cls.__new__(cls)
        self._lock = threading.RLock()
        self.graph_method = "auto"
        self.graph_info_ = None
        try:
            self.metric = params["metric"]
            self.metric_kwds = params["metric_kwds"]
            if not isinstance(self.metric, str) or not (
                self.metric_kwds is None or isinstance(self.metric_kwds, dict)
            ):
                raise ValueError("metric must be a name and metric_kwds a dict or null")
            self._metric_name, self._p, self._metric_params = resolve_metric(
                self.metric, self.metric_kwds
            )
            self.n_neighbors = _stored_int(params["n_neighbors"], "n_neighbors", 1)
            self.n_jobs = _stored_int(params["n_jobs"], "n_jobs", -1)
            if self.n_jobs == 0:
                raise ValueError("n_jobs must be -1 or positive")
            self._seed = _stored_int(params["random_state"], "random_state", 0)
            self.random_state = self._seed
            self.verbose = params["verbose"]
            if not isinstance(self.verbose, bool):
                raise ValueError("verbose must be a bool")
            self.M = _stored_int(params["M"], "M", 2)
            self.ef_construction = _stored_int(params["ef_construction"], "ef_construction", 1)
            self.backend = params["backend"]
            if self.backend not in _BACKENDS:
                raise ValueError(f"backend must be one of {_BACKENDS}")
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptIndexError(f"the index's stored parameters are invalid: {exc}") from exc
        stored_name, stored_p, stored_params = core_index.metric
        if (
            stored_name != self._metric_name
            or (self._metric_name in _P_METRICS and stored_p != self._p)
            or (stored_params is None) != (self._metric_params is None)
            or (
                stored_params is not None and not np.array_equal(stored_params, self._metric_params)
            )
        ):
            raise CorruptIndexError("the index and its stored parameters disagree on the metric")
        self._backend = core_index.backend
        self._sparse = isinstance(core_index, _SparseRowsIndex)
        if self.backend != "auto" and self.backend != self._backend:
            raise CorruptIndexError("the index and its stored parameters disagree on the backend")
        self._angular_trees = is_angular(self._metric_name)
        self._index = core_index
        shape = (core_index.size, core_index.dim)
        if self.n_neighbors > shape[0]:
            raise CorruptIndexError(
                f"the stored n_neighbors={self.n_neighbors} exceeds the {shape[0]} indexed points"
            )
        if self._backend == "exact":
            self._raw_data = core_index.rows()
        elif raw_rows is None and core_index.rows_as_given:
            # read out of the index only when asked for (update, a graph from the rows): a
            # loaded index answers queries without a second, decoded copy of its rows
            self.__dict__["_rows"] = None
            self.__dict__["_rows_in_index"] = True
        elif raw_rows is not None and raw_rows.size == shape[0] * shape[1]:
            self._raw_data = raw_rows.reshape(shape)
            try:
                _core.as_float_matrix(self._raw_data, "stored rows")
                _core.check_metric_data(
                    self._raw_data, self._metric_name, self._p, self._metric_params
                )
            except ValueError as exc:
                raise CorruptIndexError(f"the index's stored rows are invalid: {exc}") from exc
        else:
            raise CorruptIndexError("the index file lacks the raw rows its backend needs")
        self._neighbor_graph = _checked_graph(neighbor_graph, shape[0], self.n_neighbors)
        return self

    def __getstate__(self) -> dict[str, Any]:
        if callable(self.metric):
            # The C index holds a function pointer: keep what rebuilds it instead.
            with self._lock:
                return {
                    "custom": {
                        "data": self._raw_data,
                        "n_neighbors": self.n_neighbors,
                        "metric": self.metric,
                        "metric_kwds": self.metric_kwds,
                        "backend": self.backend,
                        "random_state": self._seed,
                        "n_jobs": self.n_jobs,
                        "verbose": self.verbose,
                        "M": self.M,
                        "ef_construction": self.ef_construction,
                        "graph_method": getattr(self, "graph_method", "auto"),
                        "min_recall": getattr(self, "min_recall", 0.99),
                    },
                    "effort": self._effort,
                    "neighbor_graph": self._neighbor_graph,
                }
        with self._lock:
            return {
                "index": self._core_index().serialize(self._meta()),
                "neighbor_graph": self._neighbor_graph,
            }

    def __setstate__(self, state: Any) -> None:
        """Restore from :meth:`__getstate__`'s dict; raises :data:`CorruptIndexError` for
        anything else."""
        if isinstance(state, dict) and isinstance(state.get("custom"), dict):
            self._restore_custom(state)
            return
        if not isinstance(state, dict) or "index" not in state:
            raise CorruptIndexError("NNIndex state must be a dict with the serialised index")
        blob = state["index"]
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise CorruptIndexError("NNIndex state: the serialised index must be bytes")
        core_index, meta = _deserialize_core_index(blob)
        other = NNIndex._from_parts(core_index, meta, state.get("neighbor_graph"))
        self.__dict__.update(other.__dict__)

    def _restore_custom(self, state: dict[str, Any]) -> None:
        """__setstate__ for a custom metric: the index built again from its rows."""
        params = dict(state["custom"])
        if not callable(params.get("metric")):
            raise CorruptIndexError("NNIndex state: the custom metric is not callable")
        data = params.pop("data")
        effort = state.get("effort") or {}
        core_names = {v: k for k, v in _NNDESCENT_EFFORT.items()}
        kwargs = {core_names[k]: v for k, v in effort.items() if k in core_names}
        NNIndex.__init__(self, data, **params, **kwargs)
        self._neighbor_graph = _checked_graph(
            state.get("neighbor_graph"), self._raw_data.shape[0], self.n_neighbors
        )

    @property
    def _raw_data(self) -> Any:
        """The indexed rows as given; those of a loaded HNSW index that keeps them as given
        are read out of it on first use."""
        rows = self.__dict__.get("_rows")
        if rows is None and self.__dict__.get("_rows_in_index"):
            with self._lock:
                rows = self.__dict__.get("_rows")
                if rows is None:
                    rows = self._index.rows()
                    self.__dict__["_rows"] = rows
        return rows

    @_raw_data.setter
    def _raw_data(self, value: Any) -> None:
        self.__dict__["_rows"] = value
        self.__dict__["_rows_in_index"] = False

    def _n_rows(self) -> int:
        rows = self.__dict__.get("_rows")
        return int(rows.shape[0]) if rows is not None else int(self._index.size)

    def _shape(self) -> tuple[int, int]:
        rows = self.__dict__.get("_rows")
        if rows is not None:
            return int(rows.shape[0]), int(rows.shape[1])
        return int(self._index.size), int(self._index.dim)

    def __repr__(self) -> str:
        n, d = self._shape()
        info = getattr(self, "graph_info_", None)
        made = f", graph made by {info['method']!r}" if info else ""
        return (
            f"NNIndex(n={n}, dim={d}, metric={self.metric!r}, backend={self._backend!r}, "
            f"n_neighbors={self.n_neighbors}{made})"
        )


def _core_matrix(data: Any, name: str) -> Any:
    """C-contiguous float32 2-D data with finite values (conversion and checks run in C), or
    canonical CSR rows for scipy sparse data."""
    if scipy.sparse.issparse(data):
        return sparse_rows(data, name)
    return _core.as_float_matrix(data, name)


def _like_rows(rows: Any, sparse: bool) -> Any:
    """Rows of the other kind converted to the index's: queries and updates may be dense for a
    sparse index and sparse for a dense one, as in pynndescent."""
    if sparse:
        return sparse_rows(scipy.sparse.csr_matrix(rows), "X")
    return _core.as_float_matrix(rows.toarray(), "X")


_SPARSE_MAGIC = b"UMAPCSR1"


class _SparseRowsIndex:
    """The search structure of an :class:`NNIndex` over sparse rows: the canonical CSR rows,
    searched exactly in C; it answers as the extension's ``Index`` does (queries, the all-points
    graph, appends, files). An HNSW graph over sparse rows is not written yet."""

    backend = "exact"

    def __init__(self, rows: Any, metric: tuple[str, float, np.ndarray | None]) -> None:
        self._rows = rows
        self.metric = metric

    @property
    def size(self) -> int:
        return int(self._rows.shape[0])

    @property
    def dim(self) -> int:
        return int(self._rows.shape[1])

    @property
    def memory(self) -> int:
        r = self._rows
        return int(r.data.nbytes + r.indices.nbytes + r.indptr.nbytes)

    def rows(self) -> Any:
        return self._rows

    def _search(
        self, queries: Any, k: int, options: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        name, p, params = self.metric
        return _core.sparse_exact_search(
            csr_arrays(self._rows), queries, k, metric=name, p=p, params=params, **options
        )

    def query(
        self,
        queries: Any,
        k: int,
        ef: int = 0,
        filter_mask: Any = None,
        n_jobs: int = -1,
        callback: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        del ef  # the search is exact
        q = _core_matrix(queries, "query_data")
        if not scipy.sparse.issparse(q):
            q = _like_rows(q, True)
        if q.shape[1] != self.dim:
            raise ValueError(f"query_data has {q.shape[1]} columns but the index has {self.dim}")
        name, p, params = self.metric
        _core.sparse_check_data(csr_arrays(q), name, p, params)
        options = {"filter_mask": filter_mask, "n_jobs": n_jobs, "progress": callback}
        return self._search(csr_arrays(q), k, options)

    def knn_graph(
        self, k: int, n_jobs: int = -1, callback: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        options = {"self": True, "n_jobs": n_jobs, "progress": callback}
        return self._search(None, k, options)

    def add(self, new: Any, n_jobs: int = -1, callback: Any = None) -> None:
        del n_jobs, callback  # nothing to link: the rows are all there is
        self._rows = sparse_rows(scipy.sparse.vstack([self._rows, new], format="csr"), "rows")

    def serialize(self, meta: bytes = b"") -> bytes:
        """Magic, a JSON header (metric, shape, array lengths), the metric's array parameter,
        indptr (int64), indices (int32), data (float32), the caller's meta, then a CRC-32 of all
        that came before."""
        name, p, params = self.metric
        r = self._rows
        arrays = [
            np.zeros(0, np.float32) if params is None else np.asarray(params, np.float32),
            r.indptr.astype("<i8"),
            r.indices.astype("<i4"),
            r.data.astype("<f4"),
        ]
        header = json.dumps(
            {
                "metric": name,
                "p": p,
                "shape": list(r.shape),
                "params": None if params is None else int(arrays[0].size),
                "lengths": [int(a.size) for a in arrays],
                "meta": len(meta),
            }
        ).encode()
        body = b"".join(
            [_SPARSE_MAGIC, struct.pack("<Q", len(header)), header]
            + [a.tobytes() for a in arrays]
            + [bytes(meta)]
        )
        return body + struct.pack("<I", zlib.crc32(body))

    def save(self, path: str, meta: bytes = b"") -> None:
        _core.write_file(path, self.serialize(meta))

    @classmethod
    def deserialize(cls, blob: bytes) -> tuple[_SparseRowsIndex, bytes]:
        blob = bytes(blob)
        head = len(_SPARSE_MAGIC) + 8
        if len(blob) < head + 4 or blob[: len(_SPARSE_MAGIC)] != _SPARSE_MAGIC:
            raise CorruptIndexError("not a umapc sparse index")
        body, (crc,) = blob[:-4], struct.unpack("<I", blob[-4:])
        if zlib.crc32(body) != crc:
            raise CorruptIndexError("the sparse index is corrupt (checksum mismatch)")
        try:
            (json_len,) = struct.unpack("<Q", body[len(_SPARSE_MAGIC) : head])
            h = json.loads(body[head : head + json_len].decode())
            name, p, shape, lengths = h["metric"], float(h["p"]), h["shape"], h["lengths"]
            n_rows, n_cols = (_stored_int(v, "shape", 1) for v in shape)
            sizes = [_stored_int(v, "array length", 0) for v in lengths]
            meta_len = _stored_int(h["meta"], "meta length", 0)
            if len(sizes) != 4 or sizes[1] != n_rows + 1 or sizes[2] != sizes[3]:
                raise ValueError("array lengths do not fit the shape")
            widths = (4, 8, 4, 4)
            at, arrays = head + json_len, []
            for size, width, dtype in zip(sizes, widths, ("<f4", "<i8", "<i4", "<f4")):
                if at + size * width > len(body):
                    raise ValueError("truncated")
                arrays.append(np.frombuffer(body, dtype=dtype, count=size, offset=at).copy())
                at += size * width
            if at + meta_len != len(body):
                raise ValueError("the file's length does not match its header")
            params = arrays[0] if h["params"] is not None else None
            indptr, indices, data = arrays[1:]
            _core.sparse_check_data((indptr, indices, data, n_cols), name, p, params)
        except (KeyError, TypeError, ValueError, struct.error, UnicodeDecodeError) as exc:
            raise CorruptIndexError(f"the sparse index is malformed: {exc}") from exc
        rows = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
        return cls(rows, (name, p, params)), body[at:]


def _deserialize_core_index(blob: Any) -> tuple[Any, bytes]:
    if bytes(blob[: len(_SPARSE_MAGIC)]) == _SPARSE_MAGIC:
        return _SparseRowsIndex.deserialize(blob)
    return _core.Index.deserialize(blob)


def _load_core_index(path: str) -> tuple[Any, bytes]:
    try:
        return _core.Index.load(path)
    except CorruptIndexError:
        blob = _core.read_file(path)
        if blob[: len(_SPARSE_MAGIC)] != _SPARSE_MAGIC:
            raise
        return _SparseRowsIndex.deserialize(blob)


_META_MAGIC = b"UMAPCPY1"


def _parse_meta(meta: bytes) -> tuple[dict[str, Any], np.ndarray | None]:
    head = len(_META_MAGIC) + 8
    if len(meta) < head or meta[: len(_META_MAGIC)] != _META_MAGIC:
        raise CorruptIndexError("the index file lacks umapc's Python parameters")
    (json_len,) = struct.unpack("<Q", meta[len(_META_MAGIC) : head])
    if head + json_len > len(meta):
        raise CorruptIndexError("the index file's Python parameters are truncated")
    try:
        params = json.loads(meta[head : head + json_len].decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptIndexError(
            f"the index file's Python parameters are unreadable: {exc}"
        ) from exc
    if not isinstance(params, dict):
        raise CorruptIndexError("the index file's Python parameters are not a JSON object")
    rest = meta[head + json_len :]
    if len(rest) % 4:
        raise CorruptIndexError("the index file's raw rows are truncated")
    raw = np.frombuffer(rest, dtype=np.float32).copy() if rest else None
    return params, raw


def _stored_int(value: Any, name: str, lowest: int) -> int:
    """An integer parameter read back from a file: exactly an int (JSON), at least ``lowest``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}")
    if value >= 1 << 63:
        raise ValueError(f"{name} is out of range: {value}")
    return value


def _checked_graph(graph: Any, n: int, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A pickled ``neighbor_graph``: None, or int32 ids below n and float32 distances without
    NaN, both of shape (n, k); anything else is :data:`CorruptIndexError`."""
    if graph is None:
        return None
    if not isinstance(graph, tuple) or len(graph) != 2:
        raise CorruptIndexError(
            "NNIndex state: neighbor_graph must be an (indices, distances) pair"
        )
    indices, distances = graph
    if not isinstance(indices, np.ndarray) or not isinstance(distances, np.ndarray):
        raise CorruptIndexError("NNIndex state: neighbor_graph must hold numpy arrays")
    if indices.shape != (n, k) or distances.shape != (n, k):
        raise CorruptIndexError(
            f"NNIndex state: neighbor_graph has shapes {indices.shape} and {distances.shape}, "
            f"expected ({n}, {k})"
        )
    if indices.dtype != np.int32 or distances.dtype != np.float32:
        raise CorruptIndexError(
            "NNIndex state: neighbor_graph must be int32 ids, float32 distances"
        )
    # -1 / inf pad the slots of a point with fewer neighbours; inner_product distances may be
    # negative.
    if indices.size and (indices.min() < -1 or indices.max() >= n):
        raise CorruptIndexError("NNIndex state: neighbor_graph ids are out of range")
    if np.isnan(distances).any():
        raise CorruptIndexError("NNIndex state: neighbor_graph distances contain NaN")
    return indices, distances
