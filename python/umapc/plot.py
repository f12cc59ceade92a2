"""Scatter plots of embeddings (matplotlib is optional: ``pip install umapc[plot]``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["plot_embedding"]


def _import_pyplot(headless: bool) -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "umapc.plot needs matplotlib, an optional dependency: pip install 'umapc[plot]' "
            "(or pip install matplotlib)"
        ) from None
    if headless:
        # Writing a file must work without a display; only switch before pyplot is loaded.
        import sys

        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _point_size(n: int) -> float:
    # umap-learn's plots shrink points as 100 / sqrt(n); keep tiny sets readable.
    return float(min(20.0, max(0.1, 100.0 / np.sqrt(max(n, 1)))))


def plot_embedding(
    embedding: Any,
    labels: Any = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Scatter plot of a 2-D embedding, coloured by optional labels.

    Parameters
    ----------
    embedding : array-like, shape (n, 2) or more columns
        Points; only the first two columns are drawn. NaN rows (points umap disconnected) are
        skipped.
    labels : array-like of length n, optional
        Categorical labels (at most 20 distinct values get a legend and a qualitative colour map)
        or numeric values (continuous colour map with a colour bar).
    path : str or path-like, optional
        Write the figure there (PNG, SVG, PDF by suffix) and close it.
    title : str, optional
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    points = np.asarray(embedding, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"embedding must have shape (n, 2) or more columns, got {points.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape[0] != points.shape[0]:
            raise ValueError(
                f"labels has {labels.shape[0]} entries but the embedding has {points.shape[0]} rows"
            )
    keep = np.all(np.isfinite(points[:, :2]), axis=1)
    points = points[keep]
    if labels is not None:
        labels = labels[keep]
    created = ax is None
    plt = _import_pyplot(headless=path is not None and created)
    if created:
        _, ax = plt.subplots(figsize=(8, 8), dpi=100)
    _scatter(ax, points, labels)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    if path is not None:
        figure = ax.figure
        figure.tight_layout()
        figure.savefig(path)
        if created:
            plt.close(figure)
    return ax


def _scatter(ax: Any, points: np.ndarray, labels: np.ndarray | None) -> None:
    size = _point_size(points.shape[0])
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, c="#1f77b4", linewidths=0)
        return
    classes = np.unique(labels)
    numeric = labels.dtype.kind in "fc" or (labels.dtype.kind in "iu" and classes.size > 20)
    if numeric:
        sc = ax.scatter(points[:, 0], points[:, 1], s=size, c=labels, cmap="viridis", linewidths=0)
        ax.figure.colorbar(sc, ax=ax, shrink=0.6)
        return
    cmap_name = "tab10" if classes.size <= 10 else "tab20"
    codes = np.searchsorted(classes, labels)
    import matplotlib

    cmap = matplotlib.colormaps[cmap_name]
    colours = cmap(codes % cmap.N)
    ax.scatter(points[:, 0], points[:, 1], s=size, c=colours, linewidths=0)
    if classes.size <= 20:
        handles = [
            matplotlib.lines.Line2D(
                [], [], marker="o", linestyle="", color=cmap(i % cmap.N), label=str(c)
            )
            for i, c in enumerate(classes)
        ]
        ax.legend(handles=handles, loc="best", fontsize="small", markerscale=1.0, frameon=False)
