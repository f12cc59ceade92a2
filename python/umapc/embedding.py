"""``umapc.embed_graph``: UMAP's initialisation and layout stages alone, on a given fuzzy graph.

The stages are :class:`umapc.UMAP`'s own (``umapc._layout``): umap-learn's edge pruning, the
spectral (or random, or given) start, its rescaling and the SGD layout, all in C. This is what
umap-learn's ``simplicial_set_embedding`` does for ``scanpy.tl.umap``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse

from . import _core
from ._layout import Progress, check_layout_finite, embed
from ._validation import check_finite_number, check_n_jobs

__all__ = ["embed_graph"]

_INITS = ("spectral", "tswspectral", "random")

# As in UMAP: the layout's work grows linearly with the negative sample rate.
_MAX_NEGATIVE_SAMPLE_RATE = 1000

# Relative difference of G[i, j] and G[j, i] beyond which the graph counts as not symmetric.
_SYMMETRY_RTOL = 1e-5


def _check_graph(graph: Any) -> scipy.sparse.csr_matrix:
    """A canonical float32 CSR copy of a square graph with finite, non-negative weights."""
    if not scipy.sparse.issparse(graph):
        raise TypeError(
            "graph must be a scipy.sparse matrix or array (a fuzzy simplicial set such as "
            f"UMAP().graph_), got {type(graph).__name__}"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"graph must be a square matrix, got shape {graph.shape}")
    if graph.shape[0] == 0:
        raise ValueError("graph has no vertices")
    if graph.dtype.kind not in "biuf":
        raise TypeError(f"graph weights must be real numbers, got dtype {graph.dtype}")
    # csr_matrix copies (the caller's graph is never changed) and sums duplicate entries
    g = scipy.sparse.csr_matrix(graph, dtype=np.float32, copy=True)
    g.sum_duplicates()
    g.sort_indices()
    if g.shape[0] > np.iinfo(np.int32).max or g.nnz > np.iinfo(np.int32).max:
        raise ValueError("graph is too large: vertices and edges must fit in int32")
    if not np.isfinite(g.data).all():
        raise ValueError("graph weights must be finite (no NaN or infinity)")
    if (g.data < 0).any():
        raise ValueError("graph weights must be non-negative")
    g.eliminate_zeros()
    if g.nnz:
        difference = abs(g - g.T)
        if difference.nnz and difference.max() > _SYMMETRY_RTOL * g.data.max():
            raise ValueError(
                "graph must be symmetric (graph[i, j] == graph[j, i]), as a fuzzy simplicial "
                "set is: symmetrise it first, e.g. with the fuzzy union G + G.T - G.multiply(G.T)"
            )
    return g


def _check_init(init: Any, n: int, n_components: int) -> str | np.ndarray:
    if isinstance(init, str):
        if init == "pca":
            raise ValueError(
                'init="pca" needs the data, which embed_graph does not have; use "spectral", '
                '"random" or an array of starting coordinates'
            )
        if init not in _INITS:
            raise ValueError(
                f'init must be "spectral", "tswspectral", "random" or an array, got {init!r}'
            )
        return init
    if scipy.sparse.issparse(init) or not hasattr(init, "__len__"):
        raise TypeError(f"init must be a string or an array, got {type(init).__name__}")
    array = np.asarray(init)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"init must be a numeric array, got dtype {array.dtype}")
    if array.shape != (n, n_components):
        raise ValueError(
            f"init must have shape (n_vertices, n_components) = {(n, n_components)}, "
            f"got {array.shape}"
        )
    array = np.array(array, dtype=np.float32, order="C")
    if not np.isfinite(array).all():
        raise ValueError("init must be finite")
    return array


def _check_parameters(
    n_components: Any,
    min_dist: Any,
    spread: Any,
    n_epochs: Any,
    learning_rate: Any,
    repulsion_strength: Any,
    negative_sample_rate: Any,
    a: Any,
    b: Any,
) -> None:
    if (
        isinstance(n_components, (bool, np.bool_))
        or not isinstance(n_components, numbers.Integral)
        or n_components < 1
    ):
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    for value, name in (
        (min_dist, "min_dist"),
        (spread, "spread"),
        (learning_rate, "learning_rate"),
        (repulsion_strength, "repulsion_strength"),
        (negative_sample_rate, "negative_sample_rate"),
    ):
        check_finite_number(value, name)
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")
    if not spread > 0:
        raise ValueError(f"spread must be positive, got {spread!r}")
    if min_dist > spread:
        raise ValueError("min_dist must be less than or equal to spread")
    if negative_sample_rate > _MAX_NEGATIVE_SAMPLE_RATE:
        raise ValueError(
            f"negative_sample_rate={negative_sample_rate!r} is above the largest supported, "
            f"{_MAX_NEGATIVE_SAMPLE_RATE}"
        )
    if isinstance(n_epochs, (list, tuple, np.ndarray)):
        raise ValueError(
            "embed_graph takes one number of epochs; for the embeddings after several, use "
            "UMAP(n_epochs=[...]) and its embedding_list_"
        )
    if n_epochs is not None and (
        isinstance(n_epochs, (bool, np.bool_))
        or not isinstance(n_epochs, numbers.Integral)
        or n_epochs < 0
        or n_epochs > np.iinfo(np.int32).max
    ):
        raise ValueError(f"n_epochs must be None or a non-negative integer, got {n_epochs!r}")
    for value, name in ((a, "a"), (b, "b")):
        if value is not None:
            check_finite_number(value, name)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")


def embed_graph(
    graph: Any,
    n_components: int = 2,
    *,
    init: str | np.ndarray = "spectral",
    min_dist: float = 0.1,
    spread: float = 1.0,
    n_epochs: int | None = None,
    learning_rate: float = 1.0,
    repulsion_strength: float = 1.0,
    negative_sample_rate: float = 5,
    a: float | None = None,
    b: float | None = None,
    random_state: Any = None,
    n_jobs: int | None = -1,
    verbose: bool = False,
) -> np.ndarray:
    """Embed a symmetric fuzzy graph with UMAP's initialisation and layout, computed in C.

    The stages :class:`umapc.UMAP` runs after its fuzzy simplicial set, as umap-learn's
    ``simplicial_set_embedding`` (what ``scanpy.tl.umap`` calls): edges too weak to be sampled
    once in ``n_epochs`` are dropped, the start is the spectral layout of the graph (each
    connected component on its own), rescaled to [0, 10] with a little noise, then the SGD
    layout runs for ``n_epochs``. With ``random_state`` set the result is reproducible, with
    any ``n_jobs``.

    Parameters
    ----------
    graph : scipy.sparse matrix or array, shape (n_vertices, n_vertices)
        Symmetric, non-negative, finite edge weights (memberships in [0, 1] for a fuzzy
        simplicial set, e.g. ``UMAP().fit(X).graph_`` or scanpy's
        ``adata.obsp["connectivities"]``). Not changed.
    n_components : int, default 2
        Dimension of the embedding.
    init : {"spectral", "tswspectral", "random"} or ndarray (n_vertices, n_components)
        Starting coordinates: the spectral layout ("tswspectral" is the same solver), uniform
        in [-10, 10), or the given array (rows that repeat are jittered apart, as umap-learn
        does).
    min_dist, spread : float, default 0.1, 1.0
        Shape of the low-dimensional similarity curve, through ``a`` and ``b``.
    n_epochs : int, optional
        Layout epochs; default 500 for at most 10,000 vertices, else 200 (umap-learn's). 0
        returns the (rescaled) start.
    learning_rate : float, default 1.0
        Initial learning rate, decaying linearly to 0.
    repulsion_strength : float, default 1.0
        Weight of the negative samples (umap-learn's ``gamma``).
    negative_sample_rate : float, default 5
        Negative samples per positive sample.
    a, b : float, optional
        Curve parameters; fitted from ``min_dist`` and ``spread`` unless both are given.
    random_state : int, RandomState or None
        Seed; three seeds (start, rescaling noise, layout) are drawn from it in that order.
    n_jobs : int, default -1
        Threads (-1: all cores).
    verbose : bool, default False
        tqdm progress bars (if tqdm is installed).

    Returns
    -------
    ndarray (n_vertices, n_components), float32
        The embedding. Vertices without edges keep their start coordinates (``UMAP`` sets
        them to NaN; ``simplicial_set_embedding`` does not).

    Raises
    ------
    TypeError
        When ``graph`` is not a scipy sparse matrix, or holds non-numeric weights.
    ValueError
        For a non-square or asymmetric graph, NaN, infinite or negative weights, and
        out-of-range parameters.

    Examples
    --------
    >>> import numpy as np, umapc
    >>> X = np.random.RandomState(0).normal(size=(300, 8)).astype(np.float32)
    >>> model = umapc.UMAP(random_state=0, n_epochs=50).fit(X)
    >>> umapc.embed_graph(model.graph_, n_epochs=50, random_state=0).shape
    (300, 2)
    """
    from sklearn.utils import check_random_state

    g = _check_graph(graph)
    _check_parameters(
        n_components,
        min_dist,
        spread,
        n_epochs,
        learning_rate,
        repulsion_strength,
        negative_sample_rate,
        a,
        b,
    )
    n, dim = g.shape[0], int(n_components)
    start = _check_init(init, n, dim)
    rng = check_random_state(random_state)
    jobs = check_n_jobs(n_jobs)
    if a is None or b is None:
        a, b = _core.find_ab_params(float(spread), float(min_dist))
    if n == 1:
        # umap-learn's UMAP special case: one point, nothing to lay out
        return np.zeros((1, dim), dtype=np.float32)
    tqdm_kwds = {
        "desc": "Epochs completed",
        "bar_format": "{desc}: {percentage:3.0f}%| {bar} {n_fmt}/{total_fmt} [{elapsed}]",
        "disable": not verbose,
    }
    progress = Progress(bool(verbose), tqdm_kwds)
    try:
        embedding, _, _, _ = embed(
            g,
            start,
            n_components=dim,
            a=float(a),
            b=float(b),
            n_epochs=None if n_epochs is None else int(n_epochs),
            learning_rate=float(learning_rate),
            repulsion_strength=float(repulsion_strength),
            negative_sample_rate=float(negative_sample_rate),
            rng=rng,
            n_jobs=jobs,
            progress=progress,
            stacklevel=3,
        )
    finally:
        progress.close()
    check_layout_finite(embedding)
    return embedding
