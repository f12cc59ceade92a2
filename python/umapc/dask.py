"""``umapc.dask``: neighbour search and UMAP on a ``dask.array`` spread over a Dask cluster.

Imported only when used (``import umapc.dask``); needs ``dask[distributed]`` (the ``umapc[dask]``
extra). Every search runs in umapc's C library on the workers, one task per partition or pair
of partitions; this module only places the tasks and merges their top-k lists, vectorised over
rows (no Python loop over points).

- :class:`ShardedNNIndex`: one :class:`umapc.NNIndex` per row partition, held on the workers.
  ``query`` asks every shard and merges the per-shard top-k exactly; ``neighbor_graph`` is the
  all-points graph made on the cluster.
- :class:`UMAP`: :class:`umapc.UMAP` whose ``fit`` of a dask array makes the graph on the
  cluster and the layout on the client, and whose ``transform`` of a dask array is a
  partition-parallel map with the fitted model broadcast to the workers once.
"""

from __future__ import annotations

import copy
import math
import weakref
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
    from distributed import Client, Future, get_client, get_worker, wait
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("umapc.dask needs dask[distributed]: pip install 'umapc[dask]'") from exc

from sklearn.utils import check_random_state

from ._layout import draw_seed
from ._validation import seed_from_random_state
from .index import NNIndex
from .umap_ import SMALL_DATA
from .umap_ import UMAP as _LocalUMAP

__all__ = ["ShardedNNIndex", "UMAP"]

# Fitted model -> (client, its embedding_ when sent, the future of its copy on the workers).
_BROADCASTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_dask_array(X: Any) -> bool:
    return isinstance(X, da.Array)


def _worker_threads() -> int:
    """The thread count of the worker running the task (its share of the machine), -1 (all
    cores) outside a worker: a C call on every core in each of several workers per machine
    would oversubscribe it."""
    try:
        worker = get_worker()
    except ValueError:
        return -1
    threads = getattr(getattr(worker, "state", worker), "nthreads", None)
    return max(1, int(threads)) if threads else -1


def _check_dask_rows(X: Any, name: str = "X", n_features: int | None = None) -> da.Array:
    """A 2-D dask array chunked along rows only, with known chunk sizes, as float32."""
    if not _is_dask_array(X):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if any(math.isnan(c) for c in X.chunks[0]) or any(math.isnan(c) for c in X.chunks[1]):
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"{name} is split along its columns ({len(X.chunks[1])} column chunks); each "
            f"partition must hold whole rows: use {name}.rechunk({{1: -1}})"
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    return X if X.dtype == np.float32 else X.astype(np.float32)


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    try:
        return get_client()
    except ValueError as exc:
        raise ValueError(
            "no Dask client: pass client= or create one first (distributed.Client(...))"
        ) from exc


def _as_dask_rows(X: Any, client: Client, name: str) -> da.Array:
    """Dask rows as given; a numpy array split into one partition per worker."""
    if _is_dask_array(X):
        return _check_dask_rows(X, name)
    rows = np.asarray(X)
    if rows.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {rows.ndim}-D")
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    return _check_dask_rows(
        da.from_array(rows, chunks=(max(1, -(-rows.shape[0] // workers)), -1)), name
    )


def _padded(indices: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Lists shorter than k padded with index -1 and distance inf (NNIndex's padding)."""
    missing = k - indices.shape[1]
    if missing <= 0:
        return indices, distances
    rows = indices.shape[0]
    return (
        np.concatenate([indices, np.full((rows, missing), -1, dtype=indices.dtype)], axis=1),
        np.concatenate([distances, np.full((rows, missing), np.inf, np.float32)], axis=1),
    )


def merge_topk(
    indices: list[np.ndarray],
    distances: list[np.ndarray],
    k: int,
    *,
    self_ids: np.ndarray | None = None,
    dedupe: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of several candidate lists per row, exactly, vectorised over rows.

    Parameters
    ----------
    indices, distances : lists of arrays of shape (n_rows, k_i)
        Global point ids (-1: padding) and their distances, one pair per candidate source.
    k : int
        Neighbours kept per row.
    self_ids : int array of shape (n_rows,), optional
        Each row's own id: among equal distances it goes first (NNIndex's graph convention).
    dedupe : bool, default=False
        Drop repeated ids in a row (sources that overlap, as the pair graphs do).

    Returns
    -------
    indices : int64 array of shape (n_rows, k)
        By distance, ties by id (the row's own id first); -1 where fewer than k candidates.
    distances : float32 array of shape (n_rows, k)
    """
    ind = np.concatenate([np.asarray(i, dtype=np.int64) for i in indices], axis=1)
    dist = np.concatenate([np.asarray(d, dtype=np.float32) for d in distances], axis=1)
    dist = np.where(ind < 0, np.float32(np.inf), dist)
    if dedupe:
        order = np.argsort(ind, axis=1, kind="stable")
        ind = np.take_along_axis(ind, order, axis=1)
        dist = np.take_along_axis(dist, order, axis=1)
        repeated = np.zeros(ind.shape, dtype=bool)
        repeated[:, 1:] = ind[:, 1:] == ind[:, :-1]
        ind[repeated] = -1
        dist[repeated] = np.inf
    # Padding sorts after every real id among the infinite distances.
    tie = np.where(ind < 0, np.iinfo(np.int64).max, ind)
    not_self = np.zeros(ind.shape, dtype=bool) if self_ids is None else ind != self_ids[:, None]
    order = np.lexsort((tie, not_self, dist), axis=1)[:, :k]
    ind = np.take_along_axis(ind, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    return _padded(ind, dist, k)


# --- tasks (run on the workers) ----------------------------------------------------------------


def _build_shard(block: np.ndarray, number: int, start: int, params: dict[str, Any]) -> NNIndex:
    try:
        return NNIndex(block, n_jobs=_worker_threads(), **params)
    except ValueError as exc:
        raise ValueError(
            f"partition {number} (rows {start} to {start + block.shape[0] - 1}): {exc}"
        ) from exc


def _query_shard(
    shard: NNIndex, queries: np.ndarray, k: int, epsilon: float, ef: int | None, start: int
) -> tuple[np.ndarray, np.ndarray]:
    if queries.shape[0] == 0:
        return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
    kk = min(k, shard._raw_data.shape[0])
    indices, distances = shard.query(queries, kk, epsilon, ef=ef, n_jobs=_worker_threads())
    ids = np.asarray(indices, dtype=np.int64)
    ids = np.where(ids < 0, -1, ids + start)
    return _padded(ids, np.asarray(distances, dtype=np.float32), k)


def _merge_queries(parts: list[tuple[np.ndarray, np.ndarray]], k: int, id_dtype: Any):
    indices, distances = merge_topk([p[0] for p in parts], [p[1] for p in parts], k)
    return indices.astype(id_dtype), distances


def _pair_graph(
    a: np.ndarray,
    b: np.ndarray | None,
    start_a: int,
    start_b: int,
    k: int,
    params: dict[str, Any],
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The k-NN graph of the rows of partitions a and b together, in C (NN-descent, or exact
    where that is cheaper), split into a's rows and b's rows, with global ids."""
    rows = a if b is None else np.concatenate([a, b])
    kk = min(k, rows.shape[0])
    index = NNIndex(rows, n_neighbors=kk, random_state=seed, n_jobs=_worker_threads(), **params)
    local, distances = index.neighbor_graph
    local = np.asarray(local, dtype=np.int64)
    n_a = a.shape[0]
    ids = np.where(local < n_a, local + start_a, local - n_a + start_b)
    ids[local < 0] = -1
    ids, distances = _padded(ids, np.asarray(distances, dtype=np.float32), k)
    return ids[:n_a], distances[:n_a], ids[n_a:], distances[n_a:]


def _merge_graph(
    parts: list[tuple[np.ndarray, np.ndarray]], start: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = parts[0][0].shape[0]
    return merge_topk(
        [p[0] for p in parts],
        [p[1] for p in parts],
        k,
        self_ids=np.arange(start, start + n_rows, dtype=np.int64),
        dedupe=True,
    )


def _transform_block(block: np.ndarray, model: _LocalUMAP) -> np.ndarray:
    n_components = model.embedding_.shape[1]
    if block.shape[0] == 0:
        return np.empty((0, n_components), dtype=np.float32)
    # The broadcast model is shared by the worker's threads: each task sets its thread count
    # on shallow copies rather than on the shared objects.
    threads = _worker_threads()
    local = copy.copy(model)
    local.n_jobs = threads
    local._n_jobs = threads
    if local._knn_search_index is not None:
        index = copy.copy(local._knn_search_index)
        index.n_jobs = threads
        local._knn_search_index = index
    return np.asarray(local.transform(block), dtype=np.float32)


# --- public API --------------------------------------------------------------------------------


class ShardedNNIndex:
    """A nearest-neighbour index over the row partitions of a dask array, one
    :class:`umapc.NNIndex` per partition held on the workers.

    Parameters
    ----------
    data : dask.array.Array of shape (n_samples, n_features), or array-like
        The points, chunked along rows only (each partition whole rows). A numpy array is split
        into one partition per worker.
    n_neighbors : int, default=30
        Neighbours per point in :attr:`neighbor_graph` (the point itself included).
    metric, metric_kwds
        As :class:`umapc.NNIndex`.
    client : distributed.Client, optional
        The cluster; default: the current client (``distributed.get_client()``).
    random_state : int, RandomState, Generator or None
        Seeds the shards' searches; with a fixed value the graph does not depend on where or
        in which order the tasks run.
    **index_kwargs
        Passed to every shard's :class:`umapc.NNIndex` (``backend``, ``M``,
        ``ef_construction``, ``min_recall``, ``graph_method``, pynndescent's effort keywords).

    Notes
    -----
    ``query`` sends the queries to every shard (an HNSW or exact search in C on the worker that
    holds it) and merges the per-shard top-k exactly, so its recall is the shards' recall.
    ``neighbor_graph`` runs one task per pair of partitions: the graph of the two partitions'
    rows together (NN-descent in C, on the worker), which holds every point's neighbours among
    both; each point's top-k over the pairs it is in is then its top-k over all points, as
    exactly as the pair graphs are (the recall of a single-machine graph). The pairs cost
    (P - 1) single-machine graphs for P partitions: few, large partitions are cheapest (a single
    partition is one task).
    """

    def __init__(
        self,
        data: Any,
        n_neighbors: int = 30,
        metric: str = "euclidean",
        metric_kwds: dict[str, Any] | None = None,
        *,
        client: Client | None = None,
        random_state: Any = None,
        **index_kwargs: Any,
    ) -> None:
        if "n_jobs" in index_kwargs:
            raise TypeError("n_jobs is set per task from the worker's threads")
        self.client = _client(client)
        rows = _as_dask_rows(data, self.client, "data")
        self.n_neighbors = int(n_neighbors)
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be positive, got {n_neighbors!r}")
        self.shape = (int(rows.shape[0]), int(rows.shape[1]))
        if self.n_neighbors > self.shape[0]:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} is larger than the number of points "
                f"({self.shape[0]})"
            )
        seed = seed_from_random_state(random_state)
        self._seed = 0 if seed is None else seed
        self._params: dict[str, Any] = {"metric": metric, "metric_kwds": metric_kwds}
        self._params.update(index_kwargs)
        # Empty partitions hold no points and get no shard.
        sizes = [int(c) for c in rows.chunks[0]]
        blocks = rows.to_delayed().ravel().tolist()
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1].tolist()
        kept = [i for i, size in enumerate(sizes) if size > 0]
        self._sizes = [sizes[i] for i in kept]
        self._starts = [int(starts[i]) for i in kept]
        self._blocks: list[Future] = self.client.compute([blocks[i] for i in kept])
        # The shards validate their rows (finite values, the metric's domain) as they are made;
        # an HNSW shard builds its graph on its first query.
        shard_params = dict(self._params, n_neighbors=1, random_state=self._seed)
        self._shards: list[Future] = [
            self.client.submit(_build_shard, block, number, start, shard_params, pure=False)
            for number, (block, start) in zip(kept, zip(self._blocks, self._starts))
        ]
        # Raise a bad partition's error here. Only the status travels: gathering the shards
        # would pickle them to the client, building every HNSW graph on the way.
        wait(self._shards)
        for shard in self._shards:
            if shard.status == "error":
                shard.result()
        self._graph: tuple[np.ndarray, np.ndarray] | None = None
        self._id_dtype = np.int32 if self.shape[0] < 2**31 else np.int64

    @property
    def n_shards(self) -> int:
        """The number of (non-empty) partitions, each an index on a worker."""
        return len(self._shards)

    def query(
        self,
        query_data: Any,
        k: int = 10,
        epsilon: float = 0.1,
        *,
        ef: int | None = None,
    ) -> tuple[Any, Any]:
        """The ``k`` indexed points nearest to each query row, over all shards.

        Parameters
        ----------
        query_data : numpy array or dask.array.Array of shape (n_queries, n_features)
        k : int, default=10
            At most the number of indexed points.
        epsilon, ef
            As :meth:`umapc.NNIndex.query`, for every shard.

        Returns
        -------
        indices, distances : arrays of shape (n_queries, k)
            Global row ids (int32 below 2**31 points) and float32 distances, ascending, ties by
            id; numpy arrays for numpy queries, lazy dask arrays (one chunk per query
            partition) for a dask array.
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        if k > self.shape[0]:
            raise ValueError(f"k={k} is larger than the number of indexed points ({self.shape[0]})")
        if _is_dask_array(query_data):
            queries = _check_dask_rows(query_data, "query_data", self.shape[1])
            ind_blocks, dist_blocks = [], []
            for block, rows in zip(queries.to_delayed().ravel(), queries.chunks[0]):
                parts = [
                    dask.delayed(_query_shard, pure=True)(shard, block, k, epsilon, ef, start)
                    for shard, start in zip(self._shards, self._starts)
                ]
                merged = dask.delayed(_merge_queries, nout=2, pure=True)(parts, k, self._id_dtype)
                ind_blocks.append(da.from_delayed(merged[0], (rows, k), dtype=self._id_dtype))
                dist_blocks.append(da.from_delayed(merged[1], (rows, k), dtype=np.float32))
            return da.concatenate(ind_blocks), da.concatenate(dist_blocks)
        queries = np.ascontiguousarray(query_data, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.shape[1]:
            raise ValueError(
                f"query_data must have shape (n_queries, {self.shape[1]}), got {queries.shape}"
            )
        scattered = self.client.scatter(queries, broadcast=True)
        parts = self.client.gather(
            [
                self.client.submit(_query_shard, shard, scattered, k, epsilon, ef, start)
                for shard, start in zip(self._shards, self._starts)
            ]
        )
        return _merge_queries(parts, k, self._id_dtype)

    @property
    def neighbor_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, distances)`` of shape (n_samples, n_neighbors), gathered to the client:
        each point's nearest neighbours over all partitions, the point itself first. Made on
        the cluster once and cached."""
        if self._graph is None:
            self._graph = self._compute_graph()
        return self._graph

    def _compute_graph(self) -> tuple[np.ndarray, np.ndarray]:
        k, params, submit = self.n_neighbors, self._params, self.client.submit
        n_shards = self.n_shards
        if n_shards == 1:
            pair = submit(_pair_graph, self._blocks[0], None, 0, 0, k, params, self._seed)
            parts = self.client.gather([pair])[0]
            return parts[0].astype(self._id_dtype), parts[1]
        # candidates[i]: the futures of partition i's rows in each pair graph it is in.
        candidates: list[list[Future]] = [[] for _ in range(n_shards)]
        pair_number = 0
        for i in range(n_shards):
            for j in range(i + 1, n_shards):
                a, b = self._blocks[i], self._blocks[j]
                start_a, start_b = self._starts[i], self._starts[j]
                seed = (self._seed + pair_number) & ((1 << 63) - 1)
                pair = submit(_pair_graph, a, b, start_a, start_b, k, params, seed, pure=False)
                candidates[i].append(submit(_both, pair, 0))
                candidates[j].append(submit(_both, pair, 2))
                pair_number += 1
        merged = [
            submit(_merge_graph, parts, start, k) for parts, start in zip(candidates, self._starts)
        ]
        graphs = self.client.gather(merged)
        indices = np.concatenate([g[0] for g in graphs]).astype(self._id_dtype)
        distances = np.concatenate([g[1] for g in graphs])
        return indices, distances

    def __repr__(self) -> str:
        return (
            f"ShardedNNIndex(n={self.shape[0]}, dim={self.shape[1]}, shards={self.n_shards}, "
            f"metric={self._params['metric']!r}, n_neighbors={self.n_neighbors})"
        )


def _both(parts: tuple[np.ndarray, ...], first: int) -> tuple[np.ndarray, np.ndarray]:
    """One side (ids, distances) of a pair graph's result."""
    return parts[first], parts[first + 1]


class UMAP(_LocalUMAP):
    """:class:`umapc.UMAP` for dask arrays on a Dask cluster; the same parameters.

    ``fit`` of a dask array makes the k-NN graph on the cluster (:class:`ShardedNNIndex`), then
    gathers the graph and the rows to the client, where the fuzzy set, the layout and the search
    index for ``transform`` are made as :class:`umapc.UMAP` makes them (the graph of 10 million
    points at 15 neighbours is 1.2 GB). ``transform`` of a dask array returns a lazy dask array:
    each partition is transformed on a worker, the fitted model sent to every worker once. Other
    inputs (numpy, scipy sparse) take :class:`umapc.UMAP`'s local path. The client is the
    current one (``distributed.get_client()``).
    """

    def fit(self, X: Any, y: Any = None, ensure_all_finite: bool | str = True, **kwargs: Any):
        """Fit X; a dask array's graph is made on the cluster. See :meth:`umapc.UMAP.fit`."""
        if not _is_dask_array(X):
            return super().fit(X, y, ensure_all_finite, **kwargs)
        rows = _check_dask_rows(X)
        if self.metric == "precomputed" or self.unique:
            raise NotImplementedError(
                "umapc.dask.UMAP: metric='precomputed' and unique=True need numpy input"
            )
        if _is_dask_array(y):
            y = y.compute()
        client = _client(None)
        n = int(rows.shape[0])
        if n <= self.n_neighbors:
            return super().fit(rows.compute(), y, ensure_all_finite, **kwargs)
        # The seed UMAP's own index would draw first from random_state (drawn from a copy, so
        # the fit below draws the same layout seeds as a single-machine fit).
        seed = None
        if self.random_state is not None:
            seed = draw_seed(check_random_state(copy.deepcopy(self.random_state)))
        small = n < SMALL_DATA and not self.force_approximation_algorithm
        common = {
            "metric": self.metric,
            "metric_kwds": self.metric_kwds or None,
            "backend": "exact" if small else "auto",
            "min_recall": 0.0,  # UMAP's graph: NN-descent's first result, see UMAP._build_index
        }
        sharded = ShardedNNIndex(rows, self.n_neighbors, client=client, random_state=seed, **common)
        indices, distances = sharded.neighbor_graph
        data = rows.compute()
        search_index = NNIndex(
            data,
            self.n_neighbors,
            random_state=seed,
            n_jobs=self.n_jobs,
            verbose=bool(self.verbose),
            **common,
        )
        saved = self.precomputed_knn
        self.precomputed_knn = (indices, distances, search_index)
        try:
            super().fit(data, y, ensure_all_finite, **kwargs)
        finally:
            self.precomputed_knn = saved
        return self

    def transform(self, X: Any, ensure_all_finite: bool | str = True, **kwargs: Any):
        """Embed new points. A dask array gives a lazy dask array of shape (n, n_components),
        chunked as X's rows, each partition transformed on a worker. See
        :meth:`umapc.UMAP.transform`."""
        if not _is_dask_array(X):
            return super().transform(X, ensure_all_finite, **kwargs)
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "embedding_")
        if self.transform_mode != "embedding":
            raise NotImplementedError("transform of a dask array needs transform_mode='embedding'")
        if kwargs or ensure_all_finite is not True:
            raise NotImplementedError("transform of a dask array takes no options")
        rows = _check_dask_rows(X, n_features=self.n_features_in_)
        model = self._broadcast(_client(None))
        n_components = int(self.embedding_.shape[1])
        parts = [
            da.from_delayed(
                dask.delayed(_transform_block, pure=True)(block, model),
                (size, n_components),
                dtype=np.float32,
            )
            for block, size in zip(rows.to_delayed().ravel(), rows.chunks[0])
        ]
        return da.concatenate(parts)

    def _broadcast(self, client: Client) -> Future:
        """The fitted model on every worker, sent once per fit and client. The copy sent leaves
        out what transform does not read (the training rows, the fit's graph), which would
        otherwise double what each worker receives."""
        cached = _BROADCASTS.get(self)
        if cached is not None and cached[0] is client and cached[1] is self.embedding_:
            return cached[2]
        # a shallow copy of the attributes (copy.copy would go through the model's pickled form)
        payload = type(self).__new__(type(self))
        payload.__dict__.update(self.__dict__)
        # Without training rows, transform's shortcut for the training data itself does not
        # apply on the workers (a partition is not all of it); the index holds the rows.
        payload._raw_data = payload._fit_data = None
        payload.graph_ = payload._knn_indices = payload._knn_dists = None
        future = client.scatter(payload, broadcast=True, hash=False)
        _BROADCASTS[self] = (client, self.embedding_, future)
        return future

    def fit_transform(
        self, X: Any, y: Any = None, ensure_all_finite: bool | str = True, **kwargs: Any
    ):
        """``fit(X, y).embedding_`` (a numpy array, also for dask input)."""
        return super().fit_transform(X, y, ensure_all_finite, **kwargs)
