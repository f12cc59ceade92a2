"""``umapc.NNTransformer``: scikit-learn's ``KNeighborsTransformer`` interface over
:class:`umapc.NNIndex`, in place of pynndescent's ``PyNNDescentTransformer``.

The neighbours are found in C (``NNIndex``: exact search, NN-descent or HNSW); Python here only
lays the (n, k) index and distance arrays out as a CSR matrix, with whole-array numpy calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import set_feature_names

__all__ = ["NNTransformer"]

_MODES = ("distance", "connectivity")


def _knn_csr(indices: np.ndarray, distances: np.ndarray, n_fit: int, mode: str) -> Any:
    """The k-NN graph as scikit-learn's ``kneighbors_graph`` lays it out: CSR (n_queries, n_fit),
    each row's neighbours in order of distance, explicit zeros kept (the point itself). Slots
    padded with -1 (no neighbour found) are left out."""
    indices = np.asarray(indices)
    n, k = indices.shape
    if mode == "connectivity":
        data = np.ones((n, k), dtype=np.float32)
    else:
        data = np.asarray(distances, dtype=np.float32)
    found = indices >= 0
    if found.all():
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        cols, values = indices.ravel(), data.ravel()
    else:
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(found.sum(axis=1), out=indptr[1:])
        cols, values = indices[found], data[found]
    graph = scipy.sparse.csr_matrix(
        (values, cols.astype(np.int32, copy=False), indptr), shape=(n, n_fit)
    )
    try:
        from sklearn import get_config

        if get_config().get("sparse_interface") == "sparray":
            return scipy.sparse.csr_array(graph)
    except ImportError:  # pragma: no cover - every supported scikit-learn has get_config
        pass
    return graph


def _rows(X: Any) -> Any:
    """X as the index takes it: canonical float32 CSR for scipy sparse X, else UMAP's dense
    conversion (object arrays of numbers converted, scikit-learn's messages for complex, 1-D
    and empty input)."""
    from .index import _core_matrix
    from .umap_ import _check_data

    if scipy.sparse.issparse(X):
        return _core_matrix(X, "X")
    return _check_data(X)


class NNTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Transform X into the sparse graph of its k nearest neighbours, computed in C.

    A drop-in for pynndescent's ``PyNNDescentTransformer`` (same parameter names and defaults)
    that returns what scikit-learn's ``KNeighborsTransformer`` returns: a CSR matrix of shape
    (n_queries, n_samples_fit), each row's neighbours sorted by distance, with
    ``n_neighbors + 1`` entries per row in ``mode="distance"`` (for the training data the point
    itself comes first, at an explicit distance 0) and ``n_neighbors`` in
    ``mode="connectivity"`` (weights 1). Use it with estimators that take
    ``metric="precomputed"`` (Isomap, TSNE, HDBSCAN, DBSCAN, ...) or as
    ``scanpy.pp.neighbors(adata, transformer=NNTransformer(...))``.

    ``fit`` builds a :class:`umapc.NNIndex`; ``fit_transform`` returns its all-points graph
    (``NNIndex.neighbor_graph``: exact below about 5.5e5 points x (dimensions + 11), else
    NN-descent with a sampled recall check), ``transform`` queries the index.

    Parameters
    ----------
    n_neighbors : int, default 30
        Neighbours per point, not counting the point itself (scikit-learn's convention).
    metric : str, default "euclidean"
        Any metric name :class:`umapc.NNIndex` computes.
    metric_kwds : dict, optional
        Metric parameters (``{"p": ...}`` for minkowski).
    n_trees, leaf_size, max_candidates, n_iters : int, optional
        Effort of the NN-descent all-points graph (None: chosen from the data).
    search_epsilon : float, default 0.1
        Search effort of ``transform``'s queries (pynndescent's ``epsilon``).
    early_termination_value : float, default 0.001
        NN-descent stops when fewer than this fraction of the graph's entries change in an
        iteration (pynndescent's ``delta``).
    pruning_degree_multiplier, diversify_prob, n_search_trees, tree_init, low_memory, \
parallel_batch_queries
        pynndescent's; accepted, no effect on umapc's index.
    random_state : int, RandomState, Generator or None
        Seeds the approximate search; with a fixed value the graph is identical for any
        ``n_jobs``.
    n_jobs : int, optional
        Threads (None or -1: all cores).
    verbose : bool, default False
        Progress bars (needs tqdm).
    mode : {"distance", "connectivity"}, default "distance"
        Matrix values: distances, or ones (scikit-learn's ``KNeighborsTransformer``).
    backend : {"auto", "exact", "hnsw"}, default "auto"
        :class:`umapc.NNIndex`'s backend.

    Attributes
    ----------
    nn_index_ : umapc.NNIndex
        The fitted index (pynndescent calls it ``index_``; scanpy imports pynndescent for a
        transformer that has an ``index_``, hence the other name).
    n_samples_fit_ : int
        Number of training points.
    n_features_in_ : int
        Number of features of the training data.

    Examples
    --------
    >>> import numpy as np, umapc
    >>> X = np.random.RandomState(0).normal(size=(100, 5))
    >>> graph = umapc.NNTransformer(n_neighbors=5).fit_transform(X)
    >>> graph.shape, graph.nnz
    ((100, 100), 600)
    """

    def __init__(
        self,
        n_neighbors: int = 30,
        metric: str = "euclidean",
        metric_kwds: dict[str, Any] | None = None,
        n_trees: int | None = None,
        leaf_size: int | None = None,
        search_epsilon: float = 0.1,
        pruning_degree_multiplier: float = 1.5,
        diversify_prob: float = 1.0,
        n_search_trees: int | None = None,
        tree_init: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        low_memory: bool = True,
        max_candidates: int | None = None,
        n_iters: int | None = None,
        early_termination_value: float = 0.001,
        parallel_batch_queries: bool = False,
        verbose: bool = False,
        mode: str = "distance",
        backend: str = "auto",
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.metric_kwds = metric_kwds
        self.n_trees = n_trees
        self.leaf_size = leaf_size
        self.search_epsilon = search_epsilon
        self.pruning_degree_multiplier = pruning_degree_multiplier
        self.diversify_prob = diversify_prob
        self.n_search_trees = n_search_trees
        self.tree_init = tree_init
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.low_memory = low_memory
        self.max_candidates = max_candidates
        self.n_iters = n_iters
        self.early_termination_value = early_termination_value
        self.parallel_batch_queries = parallel_batch_queries
        self.verbose = verbose
        self.mode = mode
        self.backend = backend

    def _k(self) -> int:
        """Neighbours per row of the output: one more in distance mode, as scikit-learn."""
        if self.mode not in _MODES:
            raise ValueError(
                'Unsupported mode, must be one of "connectivity", or "distance" but got '
                f'"{self.mode}" instead'
            )
        n = self.n_neighbors
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {n!r}")
        return int(n) + (self.mode == "distance")

    def fit(self, X: Any, y: Any = None) -> NNTransformer:
        """Build the nearest-neighbour index of X.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Dense numeric data (converted to float32, finite).
        y : ignored

        Returns
        -------
        self : NNTransformer
        """
        from .index import NNIndex

        k = self._k()
        set_feature_names(self, X)
        X = _rows(X)
        if k > X.shape[0]:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, "
                f"n_samples_fit = {X.shape[0]}, n_samples = {X.shape[0]}"
            )
        effort = {
            name: getattr(self, name)
            for name in ("n_trees", "leaf_size", "max_candidates", "n_iters")
            if getattr(self, name) is not None
        }
        self.nn_index_ = NNIndex(
            X,
            n_neighbors=k,
            metric=self.metric,
            metric_kwds=self.metric_kwds,
            backend=self.backend,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=bool(self.verbose),
            delta=self.early_termination_value,
            **effort,
        )
        self._k_fit = k
        self.n_samples_fit_, self.n_features_in_ = self.nn_index_._raw_data.shape
        self._n_features_out = self.n_samples_fit_
        return self

    def transform(self, X: Any) -> Any:
        """The k-NN graph of the rows of X among the training points.

        Parameters
        ----------
        X : array-like, shape (n_queries, n_features), or None
            Query points; None gives the training points' own graph (as ``fit_transform``).

        Returns
        -------
        scipy.sparse.csr_matrix (n_queries, n_samples_fit), float32
            ``[i, j]`` is the distance from query i to training point j (or 1 in
            connectivity mode) for the neighbours j of i only.
        """
        check_is_fitted(self, "nn_index_")
        k = self._k()
        if X is None:
            return self._graph_of_training_data(k)
        X = _rows(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but NNTransformer is expecting "
                f"{self.n_features_in_} features as input."
            )
        if k > self.n_samples_fit_:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, "
                f"n_samples_fit = {self.n_samples_fit_}"
            )
        indices, distances = self.nn_index_.query(X, k=k, epsilon=self.search_epsilon)
        return _knn_csr(indices, distances, self.n_samples_fit_, self.mode)

    def _graph_of_training_data(self, k: int) -> Any:
        if k > self._k_fit:
            raise ValueError(
                f"the index was fitted for {self._k_fit} neighbours per point, {k} asked for; "
                "fit again after changing n_neighbors or mode"
            )
        indices, distances = self.nn_index_.neighbor_graph
        return _knn_csr(indices[:, :k], distances[:, :k], self.n_samples_fit_, self.mode)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit to X and return its k-NN graph (the index's all-points graph, no second search).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        scipy.sparse.csr_matrix (n_samples, n_samples), float32
            Each row: the point itself (distance 0) and its ``n_neighbors`` nearest others in
            distance mode; its ``n_neighbors`` nearest, itself included, in connectivity mode.
        """
        if fit_params:
            raise TypeError(
                f"fit_transform() got unexpected keyword arguments {sorted(fit_params)}"
            )
        return self.fit(X)._graph_of_training_data(self._k_fit)

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # NNIndex searches scipy sparse rows exactly
        # float64 rows give float32 distances, as pynndescent's transformer
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float32]}
