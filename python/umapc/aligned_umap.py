"""The :class:`AlignedUMAP` estimator: umap-learn's ``AlignedUMAP`` over umapc's C pipeline.

Each slice's neighbours and fuzzy graph come from a :class:`umapc.UMAP` (its fit without the
layout); the slices are then laid out together in C (``umapc_optimize_aligned``), every point
pulled toward its related points in the slices around it. Python here validates, converts the
relation dicts to arrays and rotates each slice's initial layout onto the previous one (a
Procrustes fit: one small SVD per slice).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._layout import Progress, check_layout_finite, draw_seed, initial_layout, prune
from ._validation import check_finite_number, check_n_jobs
from .umap_ import UMAP

__all__ = ["AlignedUMAP"]

# Parameters a list or tuple may give per slice (umap-learn's get_nth_item_or_val): those of a
# slice's graph. The layout's parameters are shared by the slices' joint layout.
_PER_SLICE = ("n_neighbors", "local_connectivity", "set_op_mix_ratio")
_SHARED = (
    "n_epochs",
    "learning_rate",
    "min_dist",
    "spread",
    "repulsion_strength",
    "negative_sample_rate",
    "a",
    "b",
    "unique",
)

# umap-learn's AlignedUMAP default: 200 epochs whatever the slices' sizes.
_DEFAULT_EPOCHS = 200


def _mapper_seed(rng: np.random.RandomState) -> int:
    """A slice model's random_state (scikit-learn's RandomState takes 32 bits)."""
    return int(rng.randint(0, 2**31 - 1))


def _nth(value: Any, n: int) -> Any:
    return value[n] if isinstance(value, (list, tuple, np.ndarray)) else value


def _check_slices(X: Any, name: str = "X") -> list[Any]:
    if not isinstance(X, (list, tuple, np.ndarray)) or len(X) == 0:
        raise ValueError(f"{name} must be a non-empty list of data arrays, one per slice")
    return list(X)


def _relation_array(relation: Any, i: int, n_from: int, n_to: int) -> np.ndarray:
    """relations[i] as an int32 array over slice i's points: the related point of slice i + 1,
    or -1."""
    if not isinstance(relation, Mapping):
        raise TypeError(
            f"relations[{i}] must be a dict from points of slice {i} to points of slice {i + 1}, "
            f"got {type(relation).__name__}"
        )
    keys, values = np.array(list(relation.keys())), np.array(list(relation.values()))
    for what, ids, bound, slice_ in (("keys", keys, n_from, i), ("values", values, n_to, i + 1)):
        if ids.size and (ids.ndim != 1 or ids.dtype.kind not in "iu"):
            raise TypeError(f"relations[{i}] {what} must be integers (point indices)")
        bad = (ids < 0) | (ids >= bound)
        if bad.any():
            raise ValueError(
                f"relations[{i}] {what} must be point indices of slice {slice_} "
                f"(0 .. {bound - 1}); got {int(ids[bad][0])}"
            )
    out = np.full(n_from, -1, dtype=np.int32)
    if keys.size:
        out[keys] = values
    return out


def _procrustes(base: np.ndarray, moving: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """``moving`` rotated (or reflected) and shifted so that its anchored points best match
    theirs in ``base`` (least squares); ``anchors`` is (points of base, points of moving)."""
    if anchors.shape[1] == 0:
        return moving
    a = base[anchors[0]].astype(np.float64)
    b = moving[anchors[1]].astype(np.float64)
    a_mean, b_mean = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((b - b_mean).T @ (a - a_mean))
    return ((moving - b_mean) @ (u @ vt) + a_mean).astype(np.float32)


class AlignedUMAP(BaseEstimator):
    """UMAP of a sequence of related data sets, laid out together so that related points sit
    in the same place across the slices; computed in C.

    A drop-in replacement for ``umap.AlignedUMAP`` (umap-learn 0.5): same constructor, defaults,
    ``fit(X, relations=...)``, ``fit_transform``, ``update`` and fitted attributes.
    docs/compatibility.md lists every difference.

    Parameters
    ----------
    n_neighbors : int or list of int, default 15
        Size of each slice's neighbourhood; a list gives one per slice.
    n_components : int, default 2
        Dimension of the embeddings (the same for every slice).
    metric : str, default "euclidean"
        Input distance (any name :class:`umapc.UMAP` takes).
    metric_kwds : dict, optional
    n_epochs : int, optional
        Epochs of the joint layout; default 200.
    learning_rate : float, default 1.0
    init : {"spectral", "pca", "random"}, default "spectral"
        Each slice's initial layout, rotated onto the previous slice's through the relations.
    alignment_regularisation : float, default 0.01
        How strongly related points are pulled together.
    alignment_window_size : int, default 3
        How many slices on each side a point is pulled toward.
    min_dist, spread : float, default 0.1, 1.0
    low_memory : bool, default False
        Accepted for compatibility.
    set_op_mix_ratio, local_connectivity : float or list of float, default 1.0, 1.0
    repulsion_strength : float, default 1.0
    negative_sample_rate : int, default 5
    transform_queue_size : float, default 4.0
        Accepted for compatibility.
    a, b : float, optional
    random_state : int, RandomState or None
        Seed; when set the result is reproducible, with all threads.
    angular_rp_forest : bool, default False
        Accepted for compatibility.
    target_n_neighbors, target_metric, target_metric_kwds, target_weight
        Supervised UMAP per slice (``y``), as :class:`umapc.UMAP`.
    transform_seed : int, default 42
    force_approximation_algorithm : bool, default False
    verbose : bool, default False
    unique : bool, default False
        Only False (True raises NotImplementedError).
    n_jobs : int, default -1
        Threads; -1 means all cores.

    Attributes
    ----------
    embeddings_ : list of ndarray (n_samples_i, n_components), float32
    mappers_ : list of umapc.UMAP
        Each slice's model; its ``embedding_`` is the slice's aligned embedding.
    dict_relations_ : list of dict
    n_models_ : int
    """

    def __init__(
        self,
        n_neighbors: int | Sequence[int] = 15,
        n_components: int = 2,
        metric: str = "euclidean",
        metric_kwds: dict | None = None,
        n_epochs: int | None = None,
        learning_rate: float = 1.0,
        init: str = "spectral",
        alignment_regularisation: float = 1.0e-2,
        alignment_window_size: int = 3,
        min_dist: float = 0.1,
        spread: float = 1.0,
        low_memory: bool = False,
        set_op_mix_ratio: float | Sequence[float] = 1.0,
        local_connectivity: float | Sequence[float] = 1.0,
        repulsion_strength: float = 1.0,
        negative_sample_rate: int = 5,
        transform_queue_size: float = 4.0,
        a: float | None = None,
        b: float | None = None,
        random_state: Any = None,
        angular_rp_forest: bool = False,
        target_n_neighbors: int = -1,
        target_metric: str = "categorical",
        target_metric_kwds: dict | None = None,
        target_weight: float = 0.5,
        transform_seed: int = 42,
        force_approximation_algorithm: bool = False,
        verbose: bool = False,
        unique: bool = False,
        n_jobs: int = -1,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.metric = metric
        self.metric_kwds = metric_kwds
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.init = init
        self.alignment_regularisation = alignment_regularisation
        self.alignment_window_size = alignment_window_size
        self.min_dist = min_dist
        self.spread = spread
        self.low_memory = low_memory
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
        self.force_approximation_algorithm = force_approximation_algorithm
        self.verbose = verbose
        self.unique = unique
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ validation

    def _validate(self, n_slices: int, window_size: Any) -> int:
        """Checks the parameters (the per-slice models check their own); returns the window."""
        if isinstance(self.n_components, (list, tuple, np.ndarray)):
            raise ValueError("n_components must be a single integer, and cannot vary")
        for name in _SHARED:
            if isinstance(getattr(self, name), (list, tuple, np.ndarray)):
                raise NotImplementedError(
                    f"{name} per slice is not implemented in umapc: the slices share one joint "
                    "layout; pass a single value"
                )
        for name in _PER_SLICE:
            value = getattr(self, name)
            if isinstance(value, (list, tuple, np.ndarray)) and len(value) < n_slices:
                raise ValueError(f"{name} has {len(value)} values but there are {n_slices} slices")
        if self.unique:
            raise NotImplementedError(
                "unique=True is not implemented for AlignedUMAP in umapc (it would renumber the "
                "points the relations refer to)"
            )
        if not isinstance(self.init, str) or self.init not in ("spectral", "pca", "random"):
            raise ValueError('AlignedUMAP init must be one of "spectral", "pca" or "random"')
        check_finite_number(self.alignment_regularisation, "alignment_regularisation")
        if self.alignment_regularisation < 0:
            raise ValueError("alignment_regularisation cannot be negative")
        if (
            isinstance(window_size, bool)
            or not isinstance(window_size, numbers.Integral)
            or window_size < 0
        ):
            raise ValueError(
                f"alignment_window_size must be a non-negative integer, got {window_size!r}"
            )
        if self.n_epochs is not None and (
            isinstance(self.n_epochs, bool)
            or not isinstance(self.n_epochs, numbers.Integral)
            or self.n_epochs < 1
        ):
            raise ValueError(f"n_epochs must be a positive integer, got {self.n_epochs!r}")
        self._n_jobs = check_n_jobs(-1 if self.n_jobs is None else self.n_jobs)
        return int(window_size)

    def _mapper(self, n: int) -> UMAP:
        """The model of slice n, with that slice's parameters."""
        return UMAP(
            n_neighbors=_nth(self.n_neighbors, n),
            n_components=self.n_components,
            metric=self.metric,
            metric_kwds=self.metric_kwds,
            n_epochs=self.n_epochs,
            learning_rate=self.learning_rate,
            init=self.init,
            min_dist=self.min_dist,
            spread=self.spread,
            low_memory=self.low_memory,
            n_jobs=self.n_jobs,
            set_op_mix_ratio=_nth(self.set_op_mix_ratio, n),
            local_connectivity=_nth(self.local_connectivity, n),
            repulsion_strength=self.repulsion_strength,
            negative_sample_rate=self.negative_sample_rate,
            transform_queue_size=self.transform_queue_size,
            a=self.a,
            b=self.b,
            random_state=self.random_state,
            angular_rp_forest=self.angular_rp_forest,
            target_n_neighbors=self.target_n_neighbors,
            target_metric=self.target_metric,
            target_metric_kwds=self.target_metric_kwds,
            target_weight=self.target_weight,
            transform_seed=self.transform_seed,
            force_approximation_algorithm=self.force_approximation_algorithm,
            verbose=self.verbose,
        )

    def _fit_mapper(self, n: int, X: Any, y: Any, seed: int | None) -> UMAP:
        """Slice n's neighbours and graph (its model's fit up to the layout)."""
        mapper = self._mapper(n)
        if seed is not None:
            mapper.random_state = seed
        rows, target, init = mapper._fit_inputs(X, y, True, {})
        mapper._fit_rows(rows, target, init, layout=False)
        return mapper

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> AlignedUMAP:
        """Fit the slices X[0], X[1], ... into aligned embeddings.

        Parameters
        ----------
        X : list of array-like, each (n_samples_i, n_features)
            The slices (their feature counts may differ).
        y : list of array-like or None, optional
            Per-slice targets for supervised UMAP (None entries for unsupervised slices).
        relations : list of dict
            ``relations[i]`` maps points of slice i (row numbers) to their related points of
            slice i + 1; one dict fewer than slices.
        window_size : int, optional
            Overrides ``alignment_window_size`` for this fit, as in umap-learn.

        Returns
        -------
        self : AlignedUMAP
        """
        relations = fit_params.pop("relations", None)
        window_size = fit_params.pop("window_size", self.alignment_window_size)
        if fit_params:
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(fit_params)}")
        if relations is None:
            raise ValueError("Aligned UMAP requires relations between data to be specified")
        X = _check_slices(X)
        if not isinstance(relations, (list, tuple)):
            raise TypeError("relations must be a list of dicts, one per pair of consecutive slices")
        if len(relations) != len(X) - 1:
            raise ValueError(
                f"relations must have one dict fewer than there are slices: got {len(relations)} "
                f"for {len(X)} slices"
            )
        if y is not None:
            y = _check_slices(y, "y")
            if len(y) != len(X):
                raise ValueError(f"y has {len(y)} entries but there are {len(X)} slices")
        else:
            y = [None] * len(X)
        self._window = self._validate(len(X), window_size)
        rng = check_random_state(self.random_state)
        seeded = self.random_state is not None
        mappers = [
            self._fit_mapper(n, X[n], y[n], _mapper_seed(rng) if seeded else None)
            for n in range(len(X))
        ]
        sizes = [m._fit_data.shape[0] for m in mappers]
        arrays = [
            _relation_array(relations[i], i, sizes[i], sizes[i + 1]) for i in range(len(X) - 1)
        ]
        epochs = _DEFAULT_EPOCHS if self.n_epochs is None else int(self.n_epochs)
        progress = Progress(self.verbose, {"desc": "Epochs completed", "disable": not self.verbose})
        try:
            inits = []
            for n, mapper in enumerate(mappers):
                init = self._initial(mapper, epochs, rng, progress)
                if n > 0:
                    has = arrays[n - 1] >= 0
                    anchors = np.vstack([np.flatnonzero(has), arrays[n - 1][has]])
                    init = _procrustes(inits[-1], init, anchors)
                inits.append(np.ascontiguousarray(init, dtype=np.float32))
            self._layout(mappers, inits, arrays, [False] * len(mappers), epochs, rng, progress)
        finally:
            progress.close()
        self.mappers_ = mappers
        self.dict_relations_ = list(relations)
        self._relation_arrays = arrays
        self.n_models_ = len(mappers)
        self.embeddings_ = inits
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> list[np.ndarray]:
        """Fit the slices and return ``embeddings_``."""
        self.fit(X, y, **fit_params)
        return self.embeddings_

    def _initial(
        self, mapper: UMAP, epochs: int, rng: np.random.RandomState, progress: Progress
    ) -> np.ndarray:
        """A slice's initial layout, as :class:`umapc.UMAP` starts it (on the pruned graph)."""
        n = mapper._fit_data.shape[0]
        graph = prune(mapper.graph_, epochs, _DEFAULT_EPOCHS)
        seeds = (draw_seed(rng), draw_seed(rng))
        if graph.nnz == 0:
            return rng.uniform(-10.0, 10.0, size=(n, mapper._n_components)).astype(np.float32)
        return initial_layout(
            graph,
            self.init,
            mapper._n_components,
            rng,
            seeds,
            progress,
            self._n_jobs,
            data=mapper._fit_data,
            stacklevel=4,
        )

    def _layout(
        self,
        mappers: list[UMAP],
        embeddings: list[np.ndarray],
        arrays: list[np.ndarray],
        fixed: list[bool],
        epochs: int,
        rng: np.random.RandomState,
        progress: Progress,
    ) -> None:
        """The joint layout in C (embeddings updated in place), then each moving slice's
        disconnected points set to NaN and its model given its embedding."""
        first = mappers[0]
        repulsion, rate = first._layout_rates()
        graphs = [
            (
                m.graph_.indptr.astype(np.int32, copy=False),
                m.graph_.indices.astype(np.int32, copy=False),
                m.graph_.data.astype(np.float32, copy=False),
            )
            for m in mappers
        ]
        seed = draw_seed(rng)
        _core.aligned_layout(
            embeddings,
            graphs,
            arrays,
            epochs,
            first._a,
            first._b,
            fixed=fixed,
            repulsion_strength=repulsion,
            learning_rate=float(self.learning_rate),
            negative_sample_rate=rate,
            regularisation=float(self.alignment_regularisation),
            window_size=self._window,
            seed=seed,
            n_jobs=self._n_jobs,
            callback=progress.callback,
        )
        progress.done()
        for mapper, embedding, still in zip(mappers, embeddings, fixed):
            if still:
                continue
            disconnected = np.diff(mapper.graph_.indptr) == 0
            check_layout_finite(embedding[~disconnected])
            if disconnected.any() and embedding.shape[0] > 1:
                embedding[disconnected] = np.nan
            mapper._fit_embedding = embedding
            mapper._fit_done()

    # ------------------------------------------------------------------ update

    def update(self, X: Any, y: Any = None, **fit_params: Any) -> None:
        """Add a slice after the fitted ones and lay it out aligned to them; the fitted slices
        keep their embeddings.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
            The new slice.
        y : array-like, optional
            Its target, for supervised UMAP.
        relations : dict
            Maps points of the last fitted slice to their related points of the new one.
        window_size : int, optional
            Overrides ``alignment_window_size`` for this update.
        """
        check_is_fitted(self, "embeddings_")
        relation = fit_params.pop("relations", None)
        window_size = fit_params.pop("window_size", self.alignment_window_size)
        if fit_params:
            raise TypeError(f"update() got unexpected keyword arguments {sorted(fit_params)}")
        if relation is None:
            raise ValueError("Aligned UMAP requires relations between data to be specified")
        if not isinstance(relation, Mapping):
            raise TypeError(
                "update: relations must be a dict from points of the last slice to points of "
                "the new one"
            )
        n = self.n_models_
        self._window = self._validate(n + 1, window_size)
        rng = check_random_state(self.random_state)
        seeded = self.random_state is not None
        mapper = self._fit_mapper(n, X, y, _mapper_seed(rng) if seeded else None)
        size = mapper._fit_data.shape[0]
        array = _relation_array(relation, n - 1, self.embeddings_[-1].shape[0], size)
        init = self._init_from_previous(mapper, array, rng)
        epochs = _DEFAULT_EPOCHS if self.n_epochs is None else int(self.n_epochs)
        mappers = self.mappers_ + [mapper]
        arrays = self._relation_arrays + [array]
        # the fitted slices only pull: copies, so that a failed update leaves them as they were
        embeddings = [np.ascontiguousarray(e).copy() for e in self.embeddings_] + [init]
        progress = Progress(self.verbose, {"desc": "Epochs completed", "disable": not self.verbose})
        try:
            self._layout(mappers, embeddings, arrays, [True] * n + [False], epochs, rng, progress)
        finally:
            progress.close()
        self.mappers_ = mappers
        self._relation_arrays = arrays
        self.dict_relations_ = self.dict_relations_ + [relation]
        self.embeddings_ = self.embeddings_ + [init]
        self.n_models_ = n + 1

    def _init_from_previous(
        self, mapper: UMAP, array: np.ndarray, rng: np.random.RandomState
    ) -> np.ndarray:
        """umap-learn's start of an added slice: a related point starts on its partner of the
        last slice, another on the membership-weighted mean of its related neighbours' partners,
        one with neither uniformly in [-10, 10)."""
        previous = np.asarray(self.embeddings_[-1], dtype=np.float32)
        size, dim = mapper._fit_data.shape[0], previous.shape[1]
        partner = np.full(size, -1, dtype=np.int64)
        has = array >= 0
        partner[array[has]] = np.flatnonzero(has)
        known = partner >= 0
        # NaN rows of the last slice (disconnected points) cannot place anyone
        known[known] &= np.isfinite(previous[partner[known]]).all(axis=1)
        graph = scipy.sparse.csr_matrix(mapper.graph_, dtype=np.float64)
        to_known = graph @ scipy.sparse.diags(known.astype(np.float64))
        placed = np.zeros((size, dim), dtype=np.float64)
        placed[known] = previous[partner[known]]
        weight = np.asarray(to_known.sum(axis=1)).ravel()
        mean = to_known @ placed
        init = np.empty((size, dim), dtype=np.float32)
        init[known] = previous[partner[known]]
        near = ~known & (weight > 0)
        init[near] = mean[near] / weight[near, None]
        alone = ~known & ~near
        init[alone] = rng.uniform(-10.0, 10.0, size=(int(alone.sum()), dim))
        return init
