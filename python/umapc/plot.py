"""Plots of UMAP embeddings, in the manner of umap-learn's ``umap.plot``.

``points`` draws an embedding coloured by labels or values, ``connectivity`` the edges of the
fuzzy graph, ``diagnostic`` colours an embedding by how it represents the data (a global linear
projection, the local dimension, or how well neighbourhoods survive). Everything returns the
matplotlib ``Axes`` drawn into. matplotlib is an optional dependency
(``pip install 'umapc[plot]'``), and datashader another, used from
:data:`DATASHADER_MIN_POINTS` points on and for edge bundling (``'umapc[plot-large]'``, kept
apart because it brings numba). Without datashader large sets are drawn by matplotlib with small
markers.

The neighbour searches behind ``diagnostic`` run in the C library (:class:`umapc.NNIndex`); the
rest is vectorised numpy over whole arrays, never a Python loop over the points.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap

__all__ = [
    "DATASHADER_MIN_POINTS",
    "connectivity",
    "diagnostic",
    "nearest_neighbour_distribution",
    "plot_embedding",
    "points",
    "show",
]

#: From this many points on, ``points`` and ``connectivity`` rasterise with datashader when it is
#: installed (matplotlib scatter plots of millions of markers are slow and overplot).
DATASHADER_MIN_POINTS = 100_000

# umap-learn's theme names and settings (umap/plot.py, _themes).
_THEMES: dict[str, dict[str, str]] = {
    "fire": {
        "cmap": "fire",
        "color_key_cmap": "rainbow",
        "background": "black",
        "edge_cmap": "fire",
    },
    "viridis": {
        "cmap": "viridis",
        "color_key_cmap": "Spectral",
        "background": "black",
        "edge_cmap": "gray",
    },
    "inferno": {
        "cmap": "inferno",
        "color_key_cmap": "Spectral",
        "background": "black",
        "edge_cmap": "gray",
    },
    "blue": {
        "cmap": "Blues",
        "color_key_cmap": "tab20",
        "background": "white",
        "edge_cmap": "gray_r",
    },
    "red": {
        "cmap": "Reds",
        "color_key_cmap": "tab20b",
        "background": "white",
        "edge_cmap": "gray_r",
    },
    "green": {
        "cmap": "Greens",
        "color_key_cmap": "tab20c",
        "background": "white",
        "edge_cmap": "gray_r",
    },
    "darkblue": {
        "cmap": "darkblue",
        "color_key_cmap": "rainbow",
        "background": "black",
        "edge_cmap": "darkred",
    },
    "darkred": {
        "cmap": "darkred",
        "color_key_cmap": "rainbow",
        "background": "black",
        "edge_cmap": "darkblue",
    },
    "darkgreen": {
        "cmap": "darkgreen",
        "color_key_cmap": "rainbow",
        "background": "black",
        "edge_cmap": "darkpurple",
    },
}

# The themes' own colour maps come from colorcet (as in umap-learn) when it is installed (it comes
# with datashader); without it, from nine colours sampled evenly along the same colorcet maps.
_COLORCET_MAPS: dict[str, tuple[str, int | None, tuple[str, ...]]] = {
    "fire": (
        "fire",
        None,
        (
            "#000000",
            "#4a0000",
            "#7d0200",
            "#b40500",
            "#ed1400",
            "#fe6600",
            "#ffa401",
            "#ffd909",
            "#ffffff",
        ),
    ),
    "darkblue": (
        "kbc",
        None,
        (
            "#00004e",
            "#0f0190",
            "#0c10d5",
            "#2b3bf9",
            "#2d6cfd",
            "#3395fd",
            "#2bbdfc",
            "#49e3f9",
            "#b3fef5",
        ),
    ),
    "darkgreen": (
        "kgy",
        None,
        (
            "#001505",
            "#082f04",
            "#0e4c05",
            "#166a07",
            "#1f8a0b",
            "#27aa0e",
            "#2fcc12",
            "#53ee15",
            "#d8ff14",
        ),
    ),
    "darkred": (
        "linear_kry_5_95_c72",
        192,
        (
            "#111111",
            "#470d09",
            "#700203",
            "#940403",
            "#ba0803",
            "#dd1604",
            "#fa3a08",
            "#ff700f",
            "#fc9b18",
        ),
    ),
    "darkpurple": (
        "linear_bmw_5_95_c89",
        None,
        (
            "#000558",
            "#0010a6",
            "#001ceb",
            "#5a1fff",
            "#b81eff",
            "#ef3fff",
            "#ff81ff",
            "#ffb9ff",
            "#feebfe",
        ),
    ),
}

_DIAGNOSTIC_TYPES = ("pca", "ica", "vq", "local_dim", "neighborhood")
_BUNDLING = (None, "hammer")
_EXTRA_HINT = "pip install 'umapc[plot-large]'"


# --------------------------------------------------------------------------- helpers


def _import_pyplot(headless: bool = False) -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "umapc.plot needs matplotlib, an optional dependency: pip install 'umapc[plot]' "
            "(or pip install matplotlib)"
        ) from None
    # Writing a file must work without a display; only switch before pyplot is loaded.
    if headless and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _datashader() -> Any:
    """The datashader modules (ds, transfer_functions, pandas), or None when not installed."""
    try:
        import datashader as ds
        import datashader.transfer_functions as tf
        import pandas as pd
    except ImportError:
        return None
    return ds, tf, pd


def _colormap(cmap: Any) -> Colormap:
    """A matplotlib colour map from a name (matplotlib's or a theme's) or a Colormap."""
    import matplotlib
    from matplotlib.colors import Colormap, LinearSegmentedColormap

    if isinstance(cmap, Colormap):
        return cmap
    if cmap in _COLORCET_MAPS:
        cc_name, stop, anchors = _COLORCET_MAPS[cmap]
        try:
            import colorcet

            colours = list(getattr(colorcet, cc_name))[:stop]
        except (ImportError, AttributeError):
            colours = list(anchors)
        return LinearSegmentedColormap.from_list(cmap, colours, N=256)
    try:
        return matplotlib.colormaps[cmap]
    except (KeyError, TypeError):
        raise ValueError(f"unknown colour map {cmap!r}") from None


def _theme(theme: str | None) -> dict[str, str] | None:
    if theme is None:
        return None
    if theme not in _THEMES:
        raise ValueError(f"unknown theme {theme!r}; the themes are {sorted(_THEMES)}")
    return _THEMES[theme]


def _embedding_of(umap_object: Any) -> tuple[np.ndarray, Any]:
    """(points, model): a fitted model's ``embedding_`` or an array given in its place."""
    model = None
    if hasattr(umap_object, "embedding_"):
        model, data = umap_object, umap_object.embedding_
    elif hasattr(umap_object, "embedding") and not isinstance(umap_object, np.ndarray):
        model, data = umap_object, umap_object.embedding
    else:
        data = umap_object
    if data is None:
        raise ValueError("the model has no embedding: fit it first")
    return _as_points(data), model


def _as_points(data: Any) -> np.ndarray:
    try:
        points = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"expected a fitted UMAP model or an (n_samples, 2) array, got {type(data).__name__}"
        ) from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"plotting needs a 2-D embedding of shape (n_samples, 2), got shape {points.shape}"
        )
    return points


def _per_point(values: Any, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(
            f"{name} must have one entry for each of the {n} points, got shape {values.shape}"
        )
    return values


def _point_size(n: int) -> float:
    # umap-learn's size: 100 / sqrt(n) (in points^2).
    return 100.0 / np.sqrt(max(n, 1))


def _new_axes(plt: Any, width: int, height: int) -> Axes:
    dpi = plt.rcParams["figure.dpi"]
    fig = plt.figure(figsize=(width / dpi, height / dpi))
    return fig.add_subplot(111)


def _extent(points: np.ndarray) -> tuple[float, float, float, float]:
    """Bounds of the points with 5% padding (x0, x1, y0, y1)."""
    if points.shape[0] == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def _font_colour(background: Any) -> str:
    from matplotlib.colors import to_rgb

    try:
        rgb = to_rgb(background)
    except ValueError:
        return "black"
    return "white" if float(np.mean(rgb)) < 0.5 else "black"


def _annotate(ax: Axes, model: Any, background: Any) -> None:
    """umap-learn's footnote of the model's parameters, lower right."""
    if model is None or not hasattr(model, "n_neighbors"):
        return
    metric = getattr(model, "metric", "euclidean")
    text = f"UMAP: n_neighbors={model.n_neighbors}, min_dist={getattr(model, 'min_dist', '?')}"
    if isinstance(metric, str) and metric != "euclidean":
        text = f"UMAP: metric={metric}, " + text[len("UMAP: ") :]
    ax.text(
        0.99,
        0.01,
        text,
        transform=ax.transAxes,
        horizontalalignment="right",
        color=_font_colour(background),
    )


def _label_palette(
    labels: np.ndarray, color_key: Any, color_key_cmap: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, codes, palette): the distinct labels, each point's class, an RGBA per class."""
    from matplotlib.colors import to_rgba_array

    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    if color_key is None:
        palette = _colormap(color_key_cmap)(np.linspace(0, 1, classes.size))
    elif isinstance(color_key, dict):
        missing = [c for c in classes if c not in color_key]
        if missing:
            raise ValueError(f"color_key has no colour for the labels {missing[:5]}")
        palette = to_rgba_array([color_key[c] for c in classes])
    else:
        palette = to_rgba_array(list(color_key))
        if palette.shape[0] < classes.size:
            raise ValueError(
                f"color_key has {palette.shape[0]} colours for {classes.size} distinct labels"
            )
        palette = palette[: classes.size]
    return classes, codes, np.asarray(palette)


def _legend(ax: Axes, classes: np.ndarray, palette: np.ndarray) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=palette[i], label=str(c)) for i, c in enumerate(classes)]
    ax.legend(handles=handles)


def _finite_rows(points: np.ndarray) -> np.ndarray:
    return np.all(np.isfinite(points), axis=1)


# --------------------------------------------------------------------------- points


def points(
    umap_object: Any,
    points: Any = None,
    labels: Any = None,
    values: Any = None,
    theme: str | None = None,
    cmap: Any = "Blues",
    color_key: Any = None,
    color_key_cmap: Any = "Spectral",
    background: Any = "white",
    width: int = 800,
    height: int = 800,
    show_legend: bool = True,
    subset_points: Any = None,
    ax: Axes | None = None,
    alpha: float | None = None,
) -> Axes:
    """Plot a 2-D embedding as points, as umap-learn's ``umap.plot.points`` does.

    Below :data:`DATASHADER_MIN_POINTS` points (or when datashader is not installed) the points
    are a matplotlib scatter plot (one ``PathCollection``); from there on a datashader image.
    Rows with a NaN or infinite coordinate (points UMAP could not place) are left out.

    Parameters
    ----------
    umap_object : fitted UMAP or array-like of shape (n_samples, 2)
        A fitted model (its ``embedding_`` is drawn, and its parameters noted lower right) or
        the embedding itself.
    points : array-like of shape (n_samples, 2), optional
        Points to draw instead of the model's embedding (e.g. a ``transform`` of new data).
    labels : array-like of shape (n_samples,), optional
        Categorical labels: one colour per distinct label and a legend. Exclusive with
        ``values``.
    values : array-like of shape (n_samples,), optional
        Numbers coloured through ``cmap``. Exclusive with ``labels``.
    theme : str, optional
        One of umap-learn's themes ("fire", "viridis", "inferno", "blue", "red", "green",
        "darkblue", "darkred", "darkgreen"); it overrides ``cmap``, ``color_key_cmap`` and
        ``background``.
    cmap : str or Colormap, default "Blues"
        Colour map for ``values``, for the density shading of datashader, and (its midpoint)
        the colour of unlabelled points.
    color_key : dict or sequence of colours, optional
        Colours for the labels: a dict label -> colour, or one colour per distinct label in
        sorted order.
    color_key_cmap : str or Colormap, default "Spectral"
        Where the label colours come from when ``color_key`` is not given.
    background : colour, default "white"
    width, height : int, default 800
        Size in pixels of a new figure (and of the datashader image).
    show_legend : bool, default True
        Draw the legend of the labels.
    subset_points : array-like of bool, shape (n_samples,), optional
        Draw only the points where it is True.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    alpha : float in [0, 1], optional
        Opacity of the points.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    settings = _theme(theme)
    if settings is not None:
        cmap = settings["cmap"]
        color_key_cmap = settings["color_key_cmap"]
        background = settings["background"]
    if labels is not None and values is not None:
        raise ValueError("give labels or values, not both")
    if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if points is None:
        xy, model = _embedding_of(umap_object)
    else:
        xy, model = _as_points(points), umap_object
    n = xy.shape[0]
    labels = _per_point(labels, n, "labels")
    values = _per_point(values, n, "values")
    keep = _finite_rows(xy)
    if subset_points is not None:
        subset = np.asarray(subset_points)
        if subset.dtype != np.bool_ or subset.shape != (n,):
            raise ValueError(
                f"subset_points must be {n} booleans (one per point), got {subset.dtype} "
                f"of shape {subset.shape}"
            )
        keep &= subset
    if not keep.all():
        xy = xy[keep]
        labels = None if labels is None else labels[keep]
        values = None if values is None else values[keep]
    plt = _import_pyplot()
    if ax is None:
        ax = _new_axes(plt, width, height)
    shader = _datashader() if xy.shape[0] >= DATASHADER_MIN_POINTS else None
    if shader is None:
        _matplotlib_points(
            ax, xy, labels, values, cmap, color_key, color_key_cmap, background, show_legend, alpha
        )
    else:
        image, legend = _datashade_points(
            shader, xy, labels, values, cmap, color_key, color_key_cmap, width, height, alpha
        )
        if background is not None:
            image = shader[1].set_background(image, background)
        _embed_image(ax, image, _extent(xy))
        if show_legend and legend is not None:
            _legend(ax, *legend)
    ax.set(xticks=[], yticks=[])
    _annotate(ax, model, background)
    return ax


def _matplotlib_points(
    ax: Axes,
    xy: np.ndarray,
    labels: np.ndarray | None,
    values: np.ndarray | None,
    cmap: Any,
    color_key: Any,
    color_key_cmap: Any,
    background: Any,
    show_legend: bool,
    alpha: float | None,
) -> None:
    size = _point_size(xy.shape[0])
    if background is not None:
        ax.set_facecolor(background)
    if labels is not None:
        classes, codes, palette = _label_palette(labels, color_key, color_key_cmap)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c=palette[codes], alpha=alpha, linewidths=0)
        if show_legend:
            _legend(ax, classes, palette)
    elif values is not None:
        ax.scatter(
            xy[:, 0], xy[:, 1], s=size, c=values, cmap=_colormap(cmap), alpha=alpha, linewidths=0
        )
    else:
        colour = _colormap(cmap)(0.5)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, color=colour, alpha=alpha, linewidths=0)


def _datashade_points(
    shader: Any,
    xy: np.ndarray,
    labels: np.ndarray | None,
    values: np.ndarray | None,
    cmap: Any,
    color_key: Any,
    color_key_cmap: Any,
    width: int,
    height: int,
    alpha: float | None,
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """A datashader image of the points (no background) and the legend's (classes, palette)."""
    from matplotlib.colors import to_hex

    ds, tf, pd = shader
    x0, x1, y0, y1 = _extent(xy)
    canvas = ds.Canvas(
        plot_width=int(width), plot_height=int(height), x_range=(x0, x1), y_range=(y0, y1)
    )
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    top = 255 if alpha is None else int(round(255 * float(alpha)))
    if labels is not None:
        classes, codes, palette = _label_palette(labels, color_key, color_key_cmap)
        frame["label"] = pd.Categorical.from_codes(codes, categories=range(classes.size))
        agg = canvas.points(frame, "x", "y", agg=ds.count_cat("label"))
        hexes = [to_hex(c) for c in palette]
        return tf.shade(agg, color_key=hexes, how="eq_hist", alpha=top), (classes, palette)
    if values is not None:
        # Each pixel shows the mean value of its points (umap-learn bins values into 256
        # categories and mixes their colours, which comes to much the same).
        frame["value"] = np.asarray(values, dtype=np.float64)
        agg = canvas.points(frame, "x", "y", agg=ds.mean("value"))
        span = (float(np.nanmin(frame["value"])), float(np.nanmax(frame["value"])))
        return tf.shade(agg, cmap=_colormap(cmap), how="linear", span=span, alpha=top), None
    agg = canvas.points(frame, "x", "y", agg=ds.count())
    return tf.shade(agg, cmap=_colormap(cmap), alpha=top), None


def _embed_image(ax: Axes, image: Any, extent: tuple[float, float, float, float]) -> None:
    rgba = np.asarray(image.to_pil())  # top row first: the image's largest y
    ax.imshow(rgba, extent=extent, origin="upper", aspect="auto", interpolation="nearest")


# --------------------------------------------------------------------------- connectivity


def connectivity(
    umap_object: Any,
    edge_bundling: str | None = None,
    edge_cmap: Any = "gray_r",
    show_points: bool = False,
    labels: Any = None,
    values: Any = None,
    theme: str | None = None,
    cmap: Any = "Blues",
    color_key: Any = None,
    color_key_cmap: Any = "Spectral",
    background: Any = "white",
    width: int = 800,
    height: int = 800,
    ax: Axes | None = None,
) -> Axes:
    """Plot the edges of a fitted model's fuzzy graph (``graph_``) over its 2-D embedding.

    Each undirected edge is drawn once (the strict upper triangle of ``max(graph_,
    graph_.T)``; ``graph_`` is symmetric, so that is ``graph_.nnz / 2`` edges), coloured
    through ``edge_cmap`` by its membership strength, the strongest drawn last. Below
    :data:`DATASHADER_MIN_POINTS` points (or without datashader) it is a matplotlib
    ``LineCollection`` whose ``get_array()`` holds the weights; from there on, and always for
    ``edge_bundling="hammer"``, a datashader image of the summed edge weights. Edges to points
    with a NaN coordinate are left out.

    Parameters
    ----------
    umap_object : fitted UMAP
        A model with ``graph_`` and a 2-D ``embedding_``.
    edge_bundling : {None, "hammer"}, default None
        "hammer" bundles the edges with datashader's ``hammer_bundle`` (needs datashader,
        scikit-image and dask; slow for large graphs).
    edge_cmap : str or Colormap, default "gray_r"
        Colour map of the edge weights.
    show_points : bool, default False
        Also draw the points, coloured by ``labels`` or ``values`` as :func:`points` does.
    labels, values, cmap, color_key, color_key_cmap
        As for :func:`points`, used with ``show_points``.
    theme : str, optional
        As for :func:`points`; it also sets ``edge_cmap``.
    background : colour, default "white"
    width, height : int, default 800
        Size in pixels of a new figure (and of the datashader image).
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    settings = _theme(theme)
    if settings is not None:
        cmap = settings["cmap"]
        color_key_cmap = settings["color_key_cmap"]
        edge_cmap = settings["edge_cmap"]
        background = settings["background"]
    if edge_bundling not in _BUNDLING:
        raise ValueError(f"edge_bundling must be None or 'hammer', got {edge_bundling!r}")
    if labels is not None and values is not None:
        raise ValueError("give labels or values, not both")
    graph = getattr(umap_object, "graph_", None)
    if graph is None or not hasattr(umap_object, "embedding_"):
        raise ValueError("connectivity needs a fitted UMAP model (with graph_ and embedding_)")
    xy, model = _embedding_of(umap_object)
    n = xy.shape[0]
    if graph.shape != (n, n):
        raise ValueError(f"graph_ has shape {graph.shape}, expected ({n}, {n})")
    labels = _per_point(labels, n, "labels")
    values = _per_point(values, n, "values")
    bundling = None
    if edge_bundling == "hammer":
        bundling = _hammer_bundle()
        warnings.warn(
            "hammer edge bundling is expensive for large graphs and may take a long time",
            UserWarning,
            stacklevel=2,
        )
    keep = _finite_rows(xy)
    rows, cols, weights = _edges(graph, keep)
    plt = _import_pyplot()
    if ax is None:
        ax = _new_axes(plt, width, height)
    shader = _datashader() if bundling is not None or n >= DATASHADER_MIN_POINTS else None
    if shader is None:
        _matplotlib_edges(ax, xy, rows, cols, weights, _colormap(edge_cmap))
        if show_points:
            _matplotlib_points(
                ax,
                xy[keep],
                None if labels is None else labels[keep],
                None if values is None else values[keep],
                cmap,
                color_key,
                color_key_cmap,
                None,
                True,
                None,
            )
        if background is not None:
            ax.set_facecolor(background)
        x0, x1, y0, y1 = _extent(xy[keep])
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    else:
        _, tf, _ = shader
        image = _datashade_edges(
            shader,
            bundling,
            xy,
            keep,
            rows,
            cols,
            weights,
            _colormap(edge_cmap),
            "log" if show_points else "eq_hist",
            width,
            height,
        )
        legend = None
        if show_points:
            dots, legend = _datashade_points(
                shader,
                xy[keep],
                None if labels is None else labels[keep],
                None if values is None else values[keep],
                cmap,
                color_key,
                color_key_cmap,
                width,
                height,
                None,
            )
            px = int(np.round(_point_size(n)))
            if px > 1:
                dots = tf.dynspread(dots, threshold=0.5, max_px=px)
            image = tf.stack(image, dots, how="over")
        if background is not None:
            image = tf.set_background(image, background)
        _embed_image(ax, image, _extent(xy[keep]))
        if legend is not None:
            _legend(ax, *legend)
    ax.set(xticks=[], yticks=[])
    _annotate(ax, model, background)
    return ax


def _edges(graph: Any, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each undirected edge once (row < col), between finite points, weakest first."""
    graph = scipy.sparse.csr_matrix(graph)
    upper = scipy.sparse.triu(graph.maximum(graph.T), k=1).tocoo()
    rows, cols, weights = upper.row, upper.col, np.asarray(upper.data, dtype=np.float64)
    keep = finite[rows] & finite[cols] & (weights > 0)
    order = np.argsort(weights[keep], kind="stable")
    return rows[keep][order], cols[keep][order], weights[keep][order]


def _matplotlib_edges(
    ax: Axes,
    xy: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    cmap: Colormap,
) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    segments = np.stack([xy[rows], xy[cols]], axis=1)  # (m, 2 ends, 2 coordinates)
    width = float(np.clip(20.0 / np.sqrt(max(segments.shape[0], 1)), 0.1, 1.0))
    lines = LineCollection(segments, cmap=cmap, norm=Normalize(0.0, 1.0), linewidths=width)
    lines.set_array(weights)
    ax.add_collection(lines)


def _hammer_bundle() -> Any:
    try:
        import datashader.bundling as bundling
    except ImportError:
        bundling = None
    if bundling is None or getattr(bundling, "skimage", None) is None or bundling.dask is None:
        raise ImportError(
            "edge_bundling='hammer' needs datashader, scikit-image and dask: "
            f"{_EXTRA_HINT} (or pip install datashader scikit-image dask)"
        )
    return bundling.hammer_bundle


def _datashade_edges(
    shader: Any,
    bundling: Any,
    xy: np.ndarray,
    keep: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    cmap: Colormap,
    how: str,
    width: int,
    height: int,
) -> Any:
    ds, tf, pd = shader
    x0, x1, y0, y1 = _extent(xy[keep])
    canvas = ds.Canvas(
        plot_width=int(width), plot_height=int(height), x_range=(x0, x1), y_range=(y0, y1)
    )
    if bundling is None:
        # one row per edge, drawn as a line between the two column pairs
        frame = pd.DataFrame(
            {
                "x0": xy[rows, 0],
                "x1": xy[cols, 0],
                "y0": xy[rows, 1],
                "y1": xy[cols, 1],
                "weight": weights,
            }
        )
        agg = canvas.line(frame, x=["x0", "x1"], y=["y0", "y1"], axis=1, agg=ds.sum("weight"))
    else:
        # hammer_bundle takes node ids that index the nodes frame: renumber the finite points
        new_id = np.cumsum(keep) - 1
        nodes = pd.DataFrame({"x": xy[keep, 0], "y": xy[keep, 1]})
        edges = pd.DataFrame(
            {
                "source": new_id[rows].astype(np.int64),
                "target": new_id[cols].astype(np.int64),
                "weight": weights,
            }
        )
        paths = bundling(nodes, edges, weight="weight")
        agg = canvas.line(paths, "x", "y", agg=ds.sum("weight"))
    return tf.shade(agg, cmap=cmap, how=how)


# --------------------------------------------------------------------------- diagnostic


def diagnostic(
    umap_object: Any,
    diagnostic_type: str = "pca",
    nhood_size: int = 15,
    local_variance_threshold: float = 0.8,
    ax: Axes | None = None,
    cmap: Any = "viridis",
    point_size: float | None = None,
    background: Any = "white",
    width: int = 800,
    height: int = 800,
    return_diagnostics: bool = False,
    plot_result: bool = True,
) -> Any:
    """Colour a fitted model's 2-D embedding by a diagnostic of how it represents the data, as
    umap-learn's ``umap.plot.diagnostic`` does.

    - ``"pca"``, ``"ica"``, ``"vq"``: a 3-component PCA, FastICA, or the distances to 3 k-means
      centres (vector quantisation) of the training data, shifted by their minimum and divided
      by each column's maximum, as RGB. Discontinuities of colour show where the embedding
      tears the data's global structure.
    - ``"neighborhood"``: per point, the Jaccard index of its ``nhood_size`` nearest neighbours
      in the data (model's metric) and in the embedding (euclidean), each point counted among
      its own neighbours; low values show points whose neighbourhood was not kept.
    - ``"local_dim"``: per point, a PCA of its ``n_neighbors`` (the model's, as umap-learn does;
      not ``nhood_size``) nearest neighbours in the data; the value is the index of the first
      component at which the cumulative explained-variance ratio exceeds
      ``local_variance_threshold``, i.e. the number of components needed minus one, as
      umap-learn computes it (-1 where it is never exceeded, e.g. a neighbourhood of identical
      points).
    - ``"all"``: each of the above in a grid of subplots of a new figure (``ax`` is ignored).

    The neighbour searches run in the C library (:class:`umapc.NNIndex`: exact while that is
    the fast way, else NN-descent with a recall check), the Jaccard indices are vectorised
    numpy over the (n, k) neighbour arrays, and the local PCAs are batched singular value
    decompositions of stacked (batch, k, n_features) neighbourhoods (``numpy.linalg.svd``),
    a cost of about n * k * n_features^2 that is acceptable for a diagnostic.

    Parameters
    ----------
    umap_object : fitted UMAP
        A model with a 2-D ``embedding_`` and its training data (``_raw_data``).
    diagnostic_type : {"pca", "ica", "vq", "local_dim", "neighborhood", "all"}, default "pca"
    nhood_size : int, default 15
        Neighbours compared by ``"neighborhood"``.
    local_variance_threshold : float in [0, 1], default 0.8
        The explained-variance ratio ``"local_dim"`` looks for.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    cmap : str or Colormap, default "viridis"
        Colour map of ``"local_dim"`` and ``"neighborhood"`` (scaled to their 5th-95th
        percentiles, with a colour bar).
    point_size : float, optional
        Marker size; default 100 / sqrt(n_samples).
    background : colour, default "white"
    width, height : int, default 800
        Size in pixels of a new figure.
    return_diagnostics : bool, default False
        Also return the diagnostic values: (n, 3) RGB for pca/ica/vq, (n,) floats for
        neighborhood (NaN for points with a NaN coordinate), (n,) ints for local_dim; a dict of
        them by type for "all".
    plot_result : bool, default True
        Draw; with False nothing is drawn and only the values are returned (or None).

    Returns
    -------
    matplotlib.axes.Axes, or the diagnostic values, or (Axes, values), or None
        The axes drawn into (for "all", the array of subplot axes); with
        ``return_diagnostics`` the values too, as umap-learn returns them.
    """
    if diagnostic_type != "all" and diagnostic_type not in _DIAGNOSTIC_TYPES:
        raise ValueError(
            f"unknown diagnostic_type {diagnostic_type!r}; use one of "
            f"{', '.join(_DIAGNOSTIC_TYPES)} or 'all'"
        )
    if not hasattr(umap_object, "embedding_"):
        raise ValueError("diagnostic needs a fitted UMAP model (with embedding_)")
    xy, model = _embedding_of(umap_object)
    n = xy.shape[0]
    if isinstance(nhood_size, (bool, np.bool_)) or not isinstance(nhood_size, (int, np.integer)):
        raise ValueError(f"nhood_size must be a positive integer, got {nhood_size!r}")
    if nhood_size < 1 or (diagnostic_type in ("neighborhood", "all") and nhood_size > n):
        raise ValueError(f"nhood_size must be between 1 and the {n} points, got {nhood_size}")
    if not 0.0 <= float(local_variance_threshold) <= 1.0:
        raise ValueError(
            f"local_variance_threshold must be in [0, 1], got {local_variance_threshold!r}"
        )
    if point_size is None:
        point_size = _point_size(n)
    if diagnostic_type == "all":
        return _all_diagnostics(
            umap_object,
            nhood_size,
            local_variance_threshold,
            cmap,
            point_size,
            background,
            return_diagnostics,
            plot_result,
        )
    data = _training_data(model, n)
    if diagnostic_type in ("pca", "ica", "vq"):
        result: np.ndarray = _colour_projection(data, diagnostic_type, model)
    elif diagnostic_type == "neighborhood":
        result = _neighborhood_jaccard(model, data, xy, nhood_size)
    else:
        k = min(int(getattr(model, "n_neighbors", nhood_size)), n)
        result = _local_dim(model, data, k, float(local_variance_threshold))
    if not plot_result:
        return result if return_diagnostics else None
    plt = _import_pyplot()
    if ax is None:
        wide = 1.1 if diagnostic_type in ("local_dim", "neighborhood") else 1.0
        ax = _new_axes(plt, int(width * wide), height)
    _draw_diagnostic(plt, ax, xy, result, diagnostic_type, cmap, point_size, background)
    _annotate(ax, model, background)
    return (ax, result) if return_diagnostics else ax


_TITLES = {
    "pca": "Colored by RGB coords of PCA embedding",
    "ica": "Colored by RGB coords of FastICA embedding",
    "vq": "Colored by RGB coords of Vector Quantization",
    "neighborhood": "Colored by neighborhood Jaccard index",
    "local_dim": "Colored by approx local dimension",
}


def _draw_diagnostic(
    plt: Any,
    ax: Axes,
    xy: np.ndarray,
    result: np.ndarray,
    kind: str,
    cmap: Any,
    point_size: float,
    background: Any,
) -> None:
    keep = _finite_rows(xy)
    if background is not None:
        ax.set_facecolor(background)
    if kind in ("pca", "ica", "vq"):
        ax.scatter(xy[keep, 0], xy[keep, 1], s=point_size, c=result[keep], alpha=0.66)
    else:
        shown = result[keep]
        finite = shown[np.isfinite(shown)] if shown.dtype.kind == "f" else shown
        vmin, vmax = np.percentile(finite, (5, 95)) if finite.size else (0.0, 1.0)
        colours = _colormap(cmap)
        dots = ax.scatter(
            xy[keep, 0], xy[keep, 1], s=point_size, c=shown, cmap=colours, vmin=vmin, vmax=vmax
        )
        ax.figure.colorbar(dots, ax=ax)
    ax.set_title(_TITLES[kind])
    ax.set(xticks=[], yticks=[])


def _all_diagnostics(
    umap_object: Any,
    nhood_size: int,
    threshold: float,
    cmap: Any,
    point_size: float,
    background: Any,
    return_diagnostics: bool,
    plot_result: bool,
) -> Any:
    values: dict[str, np.ndarray] = {}
    axes = None
    if plot_result:
        plt = _import_pyplot()
        cols = int(len(_DIAGNOSTIC_TYPES) ** 0.5)
        rows = len(_DIAGNOSTIC_TYPES) // cols + 1
        _, grid = plt.subplots(rows, cols, figsize=(10, 10), constrained_layout=True)
        grid = np.asarray(grid).ravel()
        for spare in grid[len(_DIAGNOSTIC_TYPES) :]:
            spare.remove()
        axes = grid[: len(_DIAGNOSTIC_TYPES)]
    for i, kind in enumerate(_DIAGNOSTIC_TYPES):
        done = diagnostic(
            umap_object,
            kind,
            nhood_size,
            threshold,
            ax=None if axes is None else axes[i],
            cmap=cmap,
            point_size=point_size / 4.0,
            background=background,
            return_diagnostics=True,
            plot_result=plot_result,
        )
        values[kind] = done[1] if plot_result else done
    if return_diagnostics:
        return (axes, values) if plot_result else values
    return axes


def _training_data(model: Any, n: int) -> Any:
    data = getattr(model, "_raw_data", None)
    if data is None:
        raise ValueError(
            "this diagnostic needs the model's training data (_raw_data), which it does not "
            "keep (a model loaded without its data?)"
        )
    if data.shape[0] != n:
        raise ValueError(f"the training data has {data.shape[0]} rows, the embedding {n}")
    return data


def _seed(model: Any) -> Any:
    state = getattr(model, "random_state", None)
    return state if isinstance(state, (int, np.integer, np.random.RandomState)) else None


def _colour_projection(data: Any, kind: str, model: Any) -> np.ndarray:
    """umap-learn's RGB colouring: a 3-column projection less its minimum over the columns of
    the minimum, divided by each column's maximum."""
    import sklearn.cluster
    import sklearn.decomposition

    if getattr(model, "metric", None) == "precomputed":
        raise ValueError(f"diagnostic_type={kind!r} needs the data, not precomputed distances")
    if kind == "pca":
        solver = "arpack" if scipy.sparse.issparse(data) else "auto"
        proj = sklearn.decomposition.PCA(n_components=3, svd_solver=solver).fit_transform(data)
    elif kind == "ica":
        proj = sklearn.decomposition.FastICA(n_components=3, random_state=_seed(model))
        proj = proj.fit_transform(data)
    else:
        kmeans = sklearn.cluster.KMeans(n_clusters=3, n_init="auto", random_state=_seed(model))
        proj = kmeans.fit(data).transform(data)  # distances to the 3 centres
    proj = np.asarray(proj, dtype=np.float64)
    proj -= proj.min()
    top = proj.max(axis=0)
    proj /= np.where(top > 0, top, 1.0)
    return proj


def _data_knn(model: Any, data: Any, k: int) -> np.ndarray:
    """Each training point's k nearest neighbours (itself included) in the data, in C."""
    from .index import NNIndex

    metric = getattr(model, "metric", "euclidean")
    n_jobs = getattr(model, "n_jobs", -1)
    if metric == "precomputed":
        from .umap_ import _knn_from_distances

        indices, _ = _knn_from_distances(data, k, -1 if n_jobs is None else n_jobs)
        return np.asarray(indices)
    index = NNIndex(
        data,
        n_neighbors=k,
        metric=metric,
        metric_kwds=getattr(model, "metric_kwds", None),
        random_state=_seed(model),
        n_jobs=n_jobs,
    )
    return np.asarray(index.neighbor_graph[0])


def _jaccard(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise Jaccard index of two (n, k) arrays of distinct indices per row: sorting each
    row of both together, the shared indices are the equal neighbours."""
    both = np.sort(np.concatenate([left, right], axis=1), axis=1)
    shared = np.count_nonzero(both[:, 1:] == both[:, :-1], axis=1)
    return shared / (left.shape[1] + right.shape[1] - shared)


def _neighborhood_jaccard(model: Any, data: Any, xy: np.ndarray, k: int) -> np.ndarray:
    from .index import NNIndex

    keep = _finite_rows(xy)
    result = np.full(xy.shape[0], np.nan)
    if not keep.all():
        # neighbours among the placed points only
        rows = np.flatnonzero(keep)
        data = (
            data[rows][:, rows] if getattr(model, "metric", None) == "precomputed" else data[rows]
        )
        if k > rows.size:
            raise ValueError(f"nhood_size={k} exceeds the {rows.size} placed points")
    high = _data_knn(model, data, k)
    low = np.asarray(
        NNIndex(xy[keep], n_neighbors=k, n_jobs=getattr(model, "n_jobs", -1)).neighbor_graph[0]
    )
    result[keep] = _jaccard(high, low)
    return result


#: Numbers per batch of stacked neighbourhoods in the local PCAs (2^22: 32 MiB of float64).
_LOCAL_PCA_BATCH = 1 << 22


def _local_dim(model: Any, data: Any, k: int, threshold: float) -> np.ndarray:
    if getattr(model, "metric", None) == "precomputed":
        raise ValueError("diagnostic_type='local_dim' needs the data, not precomputed distances")
    neighbours = _data_knn(model, data, k)
    n, d = data.shape[0], data.shape[1]
    result = np.empty(n, dtype=np.int64)
    batch = max(1, _LOCAL_PCA_BATCH // max(k * d, 1))
    sparse = scipy.sparse.issparse(data)
    for start in range(0, n, batch):
        ids = neighbours[start : start + batch].reshape(-1)
        rows = data[ids]
        rows = rows.toarray() if sparse else np.asarray(rows)
        hoods = rows.astype(np.float64).reshape(-1, k, d)
        hoods -= hoods.mean(axis=1, keepdims=True)
        spectrum = np.linalg.svd(hoods, compute_uv=False) ** 2  # (b, min(k, d)), descending
        total = spectrum.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            cumulative = np.cumsum(spectrum / total, axis=1)
        over = cumulative > threshold
        first = np.argmax(over, axis=1)
        first[~over.any(axis=1)] = -1
        result[start : start + batch] = first
    return result


# --------------------------------------------------------------------------- the rest


def nearest_neighbour_distribution(
    umap_object: Any, bins: int = 25, ax: Axes | None = None
) -> Axes:
    """Histogram of each point's mean edge weight in the fuzzy graph, as umap-learn's
    ``umap.plot.nearest_neighbour_distribution``.

    umap-learn labels it "average distance to nearest neighbors", but the numbers are the mean
    of each row's non-zero entries of ``graph_``, i.e. membership strengths in (0, 1]; umapc
    computes the same numbers (vectorised over the CSR rows) and keeps the label. Points
    without edges are left out, with a ``UserWarning``.

    Parameters
    ----------
    umap_object : fitted UMAP
        A model with ``graph_``.
    bins : int, default 25
        Number of histogram bins.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    graph = getattr(umap_object, "graph_", None)
    if graph is None:
        raise ValueError("nearest_neighbour_distribution needs a fitted UMAP model (graph_)")
    graph = scipy.sparse.csr_matrix(graph)
    graph.eliminate_zeros()
    counts = np.diff(graph.indptr)
    sums = np.asarray(graph.sum(axis=1)).ravel()
    connected = counts > 0
    if not connected.all():
        warnings.warn(
            f"{np.count_nonzero(~connected)} points have no edges in graph_ and are left out",
            UserWarning,
            stacklevel=2,
        )
    plt = _import_pyplot()
    if ax is None:
        ax = plt.figure().add_subplot(111)
    ax.set_xlabel("Average distance to nearest neighbors")
    ax.set_ylabel("Frequency")
    ax.hist(sums[connected] / counts[connected], bins=bins)
    return ax


def show(plot_to_show: Any = None) -> None:
    """Show the figures drawn (matplotlib's ``pyplot.show``), as ``umap.plot.show``."""
    _import_pyplot().show()


def plot_embedding(
    embedding: Any,
    labels: Any = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Scatter plot of a 2-D embedding, coloured by optional labels (the ``umapc`` command's
    ``--plot``; it draws with :func:`points`).

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
    xy = np.asarray(embedding, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"embedding must have shape (n, 2) or more columns, got {xy.shape}")
    xy = xy[:, :2]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape[0] != xy.shape[0]:
            raise ValueError(
                f"labels has {labels.shape[0]} entries but the embedding has {xy.shape[0]} rows"
            )
    created = ax is None
    plt = _import_pyplot(headless=path is not None and created)
    if created:
        _, ax = plt.subplots(figsize=(8, 8), dpi=100)
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    classes = np.unique(labels) if labels is not None else None
    if labels is None:
        points(xy, cmap=ListedColormap(["#1f77b4"]), ax=ax)
    elif labels.dtype.kind in "fc" or (labels.dtype.kind in "iu" and classes.size > 20):
        points(xy, values=labels, cmap="viridis", ax=ax)
        ax.figure.colorbar(ax.collections[-1], ax=ax, shrink=0.6)
    else:
        palette = _colormap("tab10" if classes.size <= 10 else "tab20")
        colours = palette(np.arange(classes.size) % palette.N)
        points(xy, labels=labels, color_key=colours, show_legend=False, ax=ax)
        if classes.size <= 20:
            handles = [
                Line2D([], [], marker="o", linestyle="", color=colours[i], label=str(c))
                for i, c in enumerate(classes)
            ]
            ax.legend(handles=handles, loc="best", fontsize="small", frameon=False)
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
