"""``umapc.NNIndex``: a nearest-neighbour index with pynndescent's ``NNDescent`` interface.

All search work happens in the C library (exact brute force or HNSW); this module validates
arguments, converts arrays and caches the all-points graph.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

import numpy as np

from . import _core
from ._validation import (
    check_n_jobs,
    check_positive_int,
    is_angular,
    progress_callback,
    resolve_metric,
    seed_from_random_state,
)

__all__ = ["NNIndex"]

# Keywords umap-learn (and pynndescent users) pass to NNDescent that have no meaning for the
# exact or HNSW backends. They are accepted so that NNIndex drops in, and otherwise ignored.
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

_BACKENDS = ("auto", "exact", "hnsw")

# The exact all-points graph costs n^2 pairs at about (dim + 11) units each (multiply-adds at
# matrix-multiply speed, plus a per-pair selection cost that dominates at low dim); NN-descent
# costs a roughly constant 7-12 us per point. Exact is the faster way to the graph while
# n * (dim + 11) stays below about 5.5e5 (bench/bench_auto.py measures the crossover: ~700
# points of 784 dimensions, ~4,000 of 128, ~15,000 of 25).
_AUTO_EXACT_MAX_WORK = 5.5e5


def ef_from_epsilon(k: int, epsilon: float) -> int:
    """HNSW search width for pynndescent's ``epsilon`` (0.1 default; umap-learn passes 0.12/0.24).

    pynndescent widens its search frontier by a factor (1 + epsilon); the equivalent HNSW knob is
    the beam width, which we grow from k so that recall@k stays at or above 0.95.
    """
    return max(k, int(math.ceil(k * (1.0 + 16.0 * epsilon))), 16)


class NNIndex:
    """Nearest-neighbour index over dense float32 data, usable where pynndescent's ``NNDescent``
    is, including as umap-learn's ``precomputed_knn=(indices, distances, index)``.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features)
        The points to index. Converted to C-contiguous float32 (copied only when needed).
    n_neighbors : int, default=30
        Neighbours per point in :attr:`neighbor_graph` (the point itself included).
    metric : str, default="euclidean"
        Any of umap-learn's / pynndescent's dense metric names or aliases.
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
    **kwargs
        pynndescent's other keywords (``n_trees``, ``n_iters``, ``max_candidates``,
        ``low_memory``, ``compressed``, ...), accepted and ignored.
    """

    def __init__(
        self,
        data: Any,
        n_neighbors: int = 30,
        metric: str = "euclidean",
        metric_kwds: dict[str, Any] | None = None,
        *,
        backend: str = "auto",
        random_state: Any = None,
        n_jobs: int | None = -1,
        verbose: bool = False,
        M: int = 16,
        ef_construction: int = 200,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - _PYNNDESCENT_KEYWORDS
        if unknown:
            raise TypeError(f"NNIndex got unexpected keyword argument(s) {sorted(unknown)}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        self.metric = metric
        self.metric_kwds = metric_kwds
        self._metric_name, self._p = resolve_metric(metric, metric_kwds)
        self.n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
        self.n_jobs = check_n_jobs(n_jobs)
        self.random_state = random_state
        self.verbose = bool(verbose)
        self.M = check_positive_int(M, "M")
        self.ef_construction = check_positive_int(ef_construction, "ef_construction")
        self._raw_data = _core_matrix(data, "data")
        n = self._raw_data.shape[0]
        if self.n_neighbors > n:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} is larger than the number of points ({n})"
            )
        self.backend = backend
        self._backend = self._choose_backend(backend, n, self._raw_data.shape[1])
        seed = seed_from_random_state(random_state)
        self._seed = 0 if seed is None else seed
        self._angular_trees = is_angular(self._metric_name)
        _core.check_metric_data(self._raw_data, self._metric_name, self._p)
        self._neighbor_graph: tuple[np.ndarray, np.ndarray] | None = None
        # The HNSW graph is only needed for queries and updates: like pynndescent, which builds
        # its search graph in prepare(), it is built on first use, so a UMAP fit that only needs
        # neighbor_graph never pays for it.
        self._index: Any = None if self._backend == "hnsw" else self._build(self._raw_data)

    @staticmethod
    def _choose_backend(backend: str, n: int, dim: int) -> str:
        if backend != "auto":
            return backend
        return "exact" if float(n) * (dim + 11) <= _AUTO_EXACT_MAX_WORK else "hnsw"

    def _core_index(self) -> Any:
        if self._index is None:
            self._index = self._build(self._raw_data)
        return self._index

    def _build(self, data: np.ndarray) -> Any:
        callback, close = progress_callback(self.verbose, "NNIndex")
        try:
            return _core.Index(
                data,
                metric=self._metric_name,
                p=self._p,
                backend=self._backend,
                M=self.M,
                ef_construction=self.ef_construction,
                seed=self._seed,
                n_jobs=self.n_jobs,
                callback=callback,
            )
        finally:
            if close is not None:
                close()

    @property
    def neighbor_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, distances)`` of shape (n_samples, n_neighbors): each point's nearest
        neighbours, the point itself first at distance 0. Computed once and cached."""
        if self._neighbor_graph is None:
            callback, close = progress_callback(self.verbose, "neighbor graph")
            try:
                self._neighbor_graph = self._compute_neighbor_graph(callback)
            finally:
                if close is not None:
                    close()
        return self._neighbor_graph

    def _compute_neighbor_graph(self, callback: Any) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None and self._metric_name != "dot":
            # NN-descent straight from the rows: faster than building the HNSW graph and
            # searching it (pynndescent's own method; "dot" needs the index's normalised rows).
            return _core.nndescent_knn_graph(
                self._raw_data,
                self.n_neighbors,
                metric=self._metric_name,
                p=self._p,
                seed=self._seed,
                n_jobs=self.n_jobs,
                progress=callback,
            )
        return self._core_index().knn_graph(self.n_neighbors, n_jobs=self.n_jobs, callback=callback)

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
        if not isinstance(epsilon, (int, float)) or not np.isfinite(epsilon) or epsilon < 0:
            raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
        if ef is None:
            ef = ef_from_epsilon(k, float(epsilon))
        else:
            ef = check_positive_int(ef, "ef")
        jobs = self.n_jobs if n_jobs is None else check_n_jobs(n_jobs)
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
        if new.shape[1] != self._raw_data.shape[1]:
            raise ValueError(
                f"X has {new.shape[1]} columns but the index has {self._raw_data.shape[1]}"
            )
        callback, close = progress_callback(self.verbose, "update")
        try:
            self._core_index().add(new, n_jobs=self.n_jobs, callback=callback)
        finally:
            if close is not None:
                close()
        self._raw_data = np.ascontiguousarray(np.concatenate([self._raw_data, new]))
        self._neighbor_graph = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path``: one versioned, checksummed file, written to a temporary
        file and renamed into place so an interrupted save never leaves a half-written index."""
        self._core_index().save(os.fspath(path), self._meta())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NNIndex:
        """Read an index written by :meth:`save`. Raises OSError for a missing, truncated,
        corrupt or incompatible file."""
        core_index, meta = _core.Index.load(os.fspath(path))
        return cls._from_parts(core_index, meta)

    def _meta(self) -> bytes:
        """Python-level parameters (JSON), then the raw rows when the C index does not keep
        them as given (HNSW stores normalised rows for angular metrics)."""
        header = json.dumps(self._params()).encode()
        parts = [_META_MAGIC, struct.pack("<Q", len(header)), header]
        if self._backend != "exact":
            parts.append(memoryview(self._raw_data).cast("B"))
        return b"".join(parts)

    def _params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "metric": self.metric,
            "metric_kwds": self.metric_kwds,
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
        neighbor_graph: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> NNIndex:
        params, raw_rows = _parse_meta(meta)
        self = cls.__new__(cls)
        self.metric = params["metric"]
        self.metric_kwds = params["metric_kwds"]
        self._metric_name, self._p = resolve_metric(self.metric, self.metric_kwds)
        if core_index.metric[0] != self._metric_name:
            raise OSError("the index and its stored parameters disagree on the metric")
        self.n_neighbors = params["n_neighbors"]
        self.n_jobs = params["n_jobs"]
        self.random_state = params["random_state"]
        self._seed = params["random_state"]
        self.verbose = params["verbose"]
        self.M = params["M"]
        self.ef_construction = params["ef_construction"]
        self.backend = params["backend"]
        self._backend = core_index.backend
        self._angular_trees = is_angular(self._metric_name)
        self._index = core_index
        shape = (core_index.size, core_index.dim)
        if self._backend == "exact":
            self._raw_data = core_index.rows()
        elif raw_rows is not None and raw_rows.size == shape[0] * shape[1]:
            self._raw_data = raw_rows.reshape(shape)
        else:
            raise OSError("the index file lacks the raw rows its backend needs")
        self._neighbor_graph = neighbor_graph
        return self

    def __getstate__(self) -> dict[str, Any]:
        return {
            "index": self._core_index().serialize(self._meta()),
            "neighbor_graph": self._neighbor_graph,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        core_index, meta = _core.Index.deserialize(state["index"])
        other = NNIndex._from_parts(core_index, meta, state["neighbor_graph"])
        self.__dict__.update(other.__dict__)

    def __repr__(self) -> str:
        n, d = self._raw_data.shape
        return (
            f"NNIndex(n={n}, dim={d}, metric={self.metric!r}, backend={self._backend!r}, "
            f"n_neighbors={self.n_neighbors})"
        )


def _core_matrix(data: Any, name: str) -> np.ndarray:
    """C-contiguous float32 2-D data with finite values (conversion and checks run in C)."""
    import scipy.sparse

    if scipy.sparse.issparse(data):
        raise TypeError(f"{name}: sparse input is not supported yet; pass a dense array")
    return _core.as_float_matrix(data, name)


_META_MAGIC = b"UMAPCPY1"


def _parse_meta(meta: bytes) -> tuple[dict[str, Any], np.ndarray | None]:
    head = len(_META_MAGIC) + 8
    if len(meta) < head or meta[: len(_META_MAGIC)] != _META_MAGIC:
        raise OSError("the index file lacks umapc's Python parameters")
    (json_len,) = struct.unpack("<Q", meta[len(_META_MAGIC) : head])
    if head + json_len > len(meta):
        raise OSError("the index file's Python parameters are truncated")
    try:
        params = json.loads(meta[head : head + json_len].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OSError(f"the index file's Python parameters are unreadable: {exc}") from exc
    rest = meta[head + json_len :]
    if len(rest) % 4:
        raise OSError("the index file's raw rows are truncated")
    raw = np.frombuffer(rest, dtype=np.float32).copy() if rest else None
    return params, raw
