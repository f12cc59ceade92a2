"""The embedding stages shared by :class:`umapc.UMAP` and :func:`umapc.embed_graph`: edge
pruning, the initial layout (spectral, random, PCA or given), its rescaling and the SGD layout,
as umap-learn's ``simplicial_set_embedding``. Every loop over points or edges runs in C
(:mod:`umapc._core`); Python here picks the stages, draws their seeds and converts arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse

from . import _core

_SEED_HIGH = 2**62


def draw_seed(rng: np.random.RandomState) -> int:
    """A 62-bit seed for one C stage, drawn from ``rng``."""
    return int(rng.randint(0, _SEED_HIGH, dtype=np.int64))


class Progress:
    """Progress callback for the C stages: one tqdm bar per stage when verbose.

    Called as ``progress(stage, done, total)`` from C (holding the GIL). Without tqdm, or when not
    verbose, it does nothing; it never catches exceptions, so Ctrl-C reaches the caller.
    """

    def __init__(self, verbose: bool, tqdm_kwds: dict[str, Any]) -> None:
        self._tqdm = None
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            self._tqdm = tqdm
        self._kwds = tqdm_kwds
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._tqdm is None:
            return
        if stage != self._stage:
            self._finish()
            self.close()
            kwds = dict(self._kwds)
            if stage != "optimize layout":
                kwds["desc"] = stage.capitalize()
            self._bar = self._tqdm(total=int(total), **kwds)
            self._stage = stage
        step = int(done) - self._bar.n
        if step > 0:
            self._bar.update(step)

    @property
    def callback(self) -> Callable[[str, int, int], None] | None:
        return self if self._tqdm is not None else None

    def _finish(self) -> None:
        # A new stage means the previous one completed, even if it stopped early (converged).
        if self._bar is not None and self._bar.total and self._bar.n < self._bar.total:
            self._bar.update(self._bar.total - self._bar.n)

    def done(self) -> None:
        """The current stage has finished: complete and close its bar."""
        self._finish()
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._stage = None


def check_layout_finite(embedding: np.ndarray) -> None:
    """The layout's coordinates must be finite; never hand back inf or NaN silently."""
    if not np.isfinite(embedding).all():
        raise FloatingPointError(
            "the layout produced non-finite coordinates; lower learning_rate or "
            "repulsion_strength, or check a and b"
        )


def default_epochs(n_vertices: int, densmap: bool = False) -> int:
    """umap-learn's default epochs: 500 up to 10,000 vertices, else 200; 200 more for densMAP."""
    return (500 if n_vertices <= 10000 else 200) + (200 if densmap else 0)


def prune(graph: scipy.sparse.csr_matrix, n_epochs: int, default: int) -> scipy.sparse.csr_matrix:
    """umap-learn drops edges too weak to be sampled once in the run before the layout
    (a copy; ``graph`` is not changed)."""
    graph = graph.copy()
    if graph.nnz == 0:
        return graph
    epochs = n_epochs if n_epochs > 10 else default
    graph.data[graph.data < graph.data.max() / float(epochs)] = 0.0
    graph.eliminate_zeros()
    return graph


def jitter_duplicates(init: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """umap-learn nudges repeated rows of a user init apart by 0.1% of the mean NN distance."""
    if np.unique(init, axis=0).shape[0] == init.shape[0]:
        return init.copy()
    from sklearn.neighbors import KDTree

    dist, _ = KDTree(init).query(init, k=2)
    scale = 0.001 * float(np.mean(dist[:, 1]))
    return (init + rng.normal(scale=scale, size=init.shape)).astype(np.float32)


def initial_layout(
    graph: scipy.sparse.csr_matrix,
    init: str | np.ndarray,
    n_components: int,
    rng: np.random.RandomState,
    seeds: tuple[int, int],
    progress: Progress,
    n_jobs: int,
    data: np.ndarray | None = None,
    stacklevel: int = 2,
) -> np.ndarray:
    """The rescaled start of the layout: a given array (jittered where rows repeat), uniform
    random in [-10, 10), PCA of ``data``, or the spectral layout of ``graph`` (random where the
    eigensolver fails, with umap-learn's warning, issued with ``stacklevel``: counted from this
    function's frame)."""
    n, dim = graph.shape[0], n_components
    init_seed, rescale_seed = seeds
    expand = True
    if isinstance(init, np.ndarray):
        embedding = jitter_duplicates(init, rng)
        expand = False
    elif init == "random":
        embedding = rng.uniform(low=-10.0, high=10.0, size=(n, dim)).astype(np.float32)
        expand = False
    elif init == "pca" and scipy.sparse.issparse(data):
        # as umap-learn: sparse rows are not centred (that would densify them)
        from sklearn.decomposition import TruncatedSVD

        svd = TruncatedSVD(n_components=dim, random_state=init_seed % 2**32)
        embedding = svd.fit_transform(data)
    elif init == "pca":
        from sklearn.decomposition import PCA

        embedding = PCA(n_components=dim, random_state=init_seed % 2**32).fit_transform(data)
    else:  # "spectral" and "tswspectral"
        embedding, converged = _core.spectral_layout(
            graph.indptr.astype(np.int32, copy=False),
            graph.indices.astype(np.int32, copy=False),
            graph.data.astype(np.float32, copy=False),
            dim,
            init_seed,
            n_jobs=n_jobs,
            callback=progress.callback,
        )
        progress.done()
        if not converged:
            warnings.warn(
                "Spectral initialisation failed! The eigenvector solver failed. This is "
                "likely due to too small an eigengap. Consider adding some noise or jitter "
                "to your data.\n\nFalling back to random initialisation!",
                stacklevel=stacklevel,
            )
            embedding = rng.uniform(low=-10.0, high=10.0, size=(n, dim))
    embedding = np.array(embedding, dtype=np.float32, order="C")
    _core.rescale_embedding(embedding, rescale_seed, expand)
    return embedding


def snapshot_counts(epochs: list[int]) -> list[int]:
    """umap-learn's ``embedding_list`` of a list of epochs as epoch counts: its layout runs
    ``max(epochs)`` epochs, copies the embedding after the epoch numbered ``n`` (from 0) for each
    distinct ``n`` of the list below the maximum, that is once ``n + 1`` epochs have run, and
    appends the final embedding; so one count per distinct entry, in increasing order."""
    top = max(epochs)
    return sorted({int(n) + 1 for n in epochs if n < top}) + [top]


def embed(
    graph: scipy.sparse.csr_matrix,
    init: str | np.ndarray,
    *,
    n_components: int,
    a: float,
    b: float,
    n_epochs: int | None,
    learning_rate: float,
    repulsion_strength: float,
    negative_sample_rate: float,
    rng: np.random.RandomState,
    n_jobs: int,
    progress: Progress,
    data: np.ndarray | None = None,
    densmap: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    snapshots: list[int] | None = None,
    stacklevel: int = 2,
) -> tuple[np.ndarray, scipy.sparse.csr_matrix, int, np.ndarray | None]:
    """umap-learn's ``simplicial_set_embedding`` on a square CSR fuzzy graph, in C.

    Draws three seeds from ``rng`` (initial layout, rescaling noise, layout), in that order,
    after pruning. ``densmap`` is None or the densMAP keywords of ``_core.optimize_layout``,
    ``output`` None or its output-metric keywords (``output_metric``, ``output_p``).
    ``snapshots``: non-decreasing epoch counts (from 1 to ``n_epochs``; 0 only when
    ``n_epochs`` is 0) after which the C layout copies the embedding. ``stacklevel`` is the one
    a warning issued here would take to reach the frame to blame.

    Returns
    -------
    embedding : float32 (n_vertices, n_components)
    graph : the pruned graph the layout ran on
    n_epochs : the epochs it ran
    snapshots : float32 (len(snapshots), n_vertices, n_components), or None without
        ``snapshots``
    """
    default = default_epochs(graph.shape[0], densmap is not None)
    epochs = default if n_epochs is None else int(n_epochs)
    graph = prune(graph, epochs, default)
    init_seed, rescale_seed, layout_seed = (draw_seed(rng) for _ in range(3))
    embedding = initial_layout(
        graph,
        init,
        n_components,
        rng,
        (init_seed, rescale_seed),
        progress,
        n_jobs,
        data,
        stacklevel + 1,
    )
    taken = None
    if epochs > 0 and graph.nnz > 0:
        taken = _core.optimize_layout(
            embedding,
            None,
            graph.indptr.astype(np.int32, copy=False),
            graph.indices.astype(np.int32, copy=False),
            graph.data.astype(np.float32, copy=False),
            epochs,
            a,
            b,
            repulsion_strength=repulsion_strength,
            learning_rate=learning_rate,
            negative_sample_rate=negative_sample_rate,
            seed=layout_seed,
            n_jobs=n_jobs,
            callback=progress.callback,
            **(densmap or {}),
            **(output or {}),
            snapshot_epochs=None if snapshots is None else np.asarray(snapshots, np.int32),
        )
    if snapshots is not None and taken is None:
        # no layout ran: every snapshot is the start
        taken = np.repeat(embedding[np.newaxis], len(snapshots), axis=0)
    return embedding, graph, epochs, taken
