"""scanpy entry points computed by umapc: ``umapc.scanpy.umap`` in place of ``scanpy.tl.umap``.

anndata (and scanpy, for ``init_pos="paga"``) are optional dependencies, imported inside the
functions only. For the neighbour graph itself use scanpy's own ``sc.pp.neighbors`` with
``transformer=umapc.NNTransformer(...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["umap"]


def _require_anndata() -> Any:
    try:
        import anndata
    except ImportError as exc:
        raise ImportError(
            "umapc.scanpy needs anndata (and scanpy for its neighbour graph): "
            "pip install scanpy anndata"
        ) from exc
    return anndata


def umap(
    adata: Any,
    *,
    min_dist: float = 0.5,
    spread: float = 1.0,
    n_components: int = 2,
    maxiter: int | None = None,
    alpha: float = 1.0,
    gamma: float = 1.0,
    negative_sample_rate: int = 5,
    init_pos: str | np.ndarray | None = "spectral",
    random_state: Any = 0,
    a: float | None = None,
    b: float | None = None,
    key_added: str | None = None,
    neighbors_key: str = "neighbors",
    copy: bool = False,
    n_jobs: int | None = -1,
) -> Any:
    """Embed the neighbourhood graph of ``adata`` with UMAP, as ``scanpy.tl.umap`` does, in C.

    Reads the connectivities ``sc.pp.neighbors`` wrote
    (``adata.obsp[adata.uns[neighbors_key]["connectivities_key"]]``) and lays them out with
    :func:`umapc.embed_graph` (umap-learn's ``simplicial_set_embedding``, which scanpy calls).
    Parameters, defaults and outputs are scanpy's (its ``method`` is always umapc).

    Parameters
    ----------
    adata : anndata.AnnData
        With a neighbour graph from ``sc.pp.neighbors``.
    min_dist, spread : float, default 0.5, 1.0
        Shape of the low-dimensional similarity curve (scanpy's default ``min_dist`` is 0.5,
        umap-learn's 0.1).
    n_components : int, default 2
    maxiter : int, optional
        Layout epochs (umap-learn's ``n_epochs``); default 500 up to 10,000 cells, else 200.
    alpha : float, default 1.0
        Initial learning rate.
    gamma : float, default 1.0
        Weight of the negative samples (repulsion strength).
    negative_sample_rate : int, default 5
    init_pos : str, ndarray or None, default "spectral"
        A key of ``adata.obsm``, ``"paga"`` (positions from ``sc.pl.paga``; needs scanpy),
        ``"spectral"``, ``"random"``, or an array of starting positions.
    random_state : int, RandomState or None, default 0
    a, b : float, optional
        Curve parameters; fitted from ``min_dist`` and ``spread`` unless both are given.
    key_added : str, optional
        Store under ``obsm[key_added]`` and ``uns[key_added]`` instead of ``"X_umap"`` and
        ``"umap"``.
    neighbors_key : str, default "neighbors"
        Where in ``adata.uns`` the neighbour settings are.
    copy : bool, default False
        Work on and return a copy of ``adata``.
    n_jobs : int, default -1
        Threads (-1: all cores); the result does not depend on it.

    Returns
    -------
    anndata.AnnData or None
        The copy when ``copy=True``. Sets ``adata.obsm["X_umap"]`` (float32, (n_obs,
        n_components)) and ``adata.uns["umap"] = {"params": {"a": a, "b": b}}`` (with
        ``"random_state"`` when it is not 0), as scanpy does.

    Raises
    ------
    ImportError
        When anndata is not installed (or scanpy, for ``init_pos="paga"``).
    ValueError
        When ``adata`` has no neighbour graph under ``neighbors_key``.
    """
    anndata = _require_anndata()
    if not isinstance(adata, anndata.AnnData):
        raise TypeError(f"adata must be an anndata.AnnData, got {type(adata).__name__}")
    from sklearn.utils import check_array, check_random_state

    from . import _core
    from .embedding import embed_graph

    adata = adata.copy() if copy else adata
    key_obsm, key_uns = ("X_umap", "umap") if key_added is None else (key_added, key_added)
    if neighbors_key is None:  # scanpy's backwards compatibility
        neighbors_key = "neighbors"
    if neighbors_key not in adata.uns:
        raise ValueError(f"Did not find .uns[{neighbors_key!r}]. Run `sc.pp.neighbors` first.")
    neighbors = adata.uns[neighbors_key]
    # scanpy's NeighborsView: the default key holds "connectivities", others name theirs
    default_key = "connectivities" if neighbors_key == "neighbors" else None
    connectivities_key = neighbors.get("connectivities_key", default_key)
    if connectivities_key is None or connectivities_key not in adata.obsp:
        raise ValueError(
            f"Did not find the connectivities of .uns[{neighbors_key!r}] in .obsp. "
            "Run `sc.pp.neighbors` first."
        )
    graph = adata.obsp[connectivities_key]

    if a is None or b is None:
        a, b = _core.find_ab_params(float(spread), float(min_dist))
    adata.uns[key_uns] = {"params": {"a": a, "b": b}}
    if isinstance(init_pos, str) and init_pos in adata.obsm:
        init: Any = adata.obsm[init_pos]
    elif isinstance(init_pos, str) and init_pos == "paga":
        try:
            from scanpy.tools._utils import get_init_pos_from_paga
        except ImportError as exc:
            raise ImportError('init_pos="paga" needs scanpy: pip install scanpy') from exc
        init = get_init_pos_from_paga(adata, random_state=random_state, neighbors_key=neighbors_key)
    elif init_pos is None:
        init = "spectral"  # umap-learn's default for a missing init
    else:
        init = init_pos
    if hasattr(init, "dtype"):
        init = check_array(init, dtype=np.float32, accept_sparse=False)
    if not (isinstance(random_state, (int, np.integer)) and random_state == 0):
        adata.uns[key_uns]["params"]["random_state"] = random_state
    rng = check_random_state(random_state)
    adata.obsm[key_obsm] = embed_graph(
        graph,
        n_components,
        init=init,
        min_dist=min_dist,
        spread=spread,
        n_epochs=maxiter,
        learning_rate=alpha,
        repulsion_strength=gamma,
        negative_sample_rate=negative_sample_rate,
        a=a,
        b=b,
        random_state=rng,
        n_jobs=n_jobs,
    )
    return adata if copy else None
