"""``umapc.plot``: points, connectivity and diagnostic plots (umap-learn's ``umap.plot``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import scipy.sparse  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

import umapc  # noqa: E402
import umapc.plot as up  # noqa: E402


@pytest.fixture(scope="module")
def blobs():
    """200 points in 5 dimensions around 4 centres (no duplicate rows, so no neighbour ties)."""
    rng = np.random.RandomState(0)
    centres = rng.normal(scale=6.0, size=(4, 5))
    labels = np.repeat(np.arange(4), 50)
    data = (centres[labels] + rng.normal(size=(200, 5))).astype(np.float32)
    return data, labels


@pytest.fixture(scope="module")
def model(blobs):
    data, _ = blobs
    return umapc.UMAP(n_neighbors=10, n_epochs=60, random_state=0, n_jobs=1).fit(data)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _scatter(ax) -> PathCollection:
    found = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- points


def test_points_of_a_model_draws_every_point(model):
    ax = up.points(model)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(_scatter(ax).get_offsets()) == 200
    assert np.allclose(_scatter(ax).get_offsets(), model.embedding_)
    assert ax.get_xticks().size == 0 and ax.get_yticks().size == 0
    assert any("n_neighbors=10" in t.get_text() for t in ax.texts)  # umap-learn's footnote


def test_points_skips_nan_rows_and_takes_an_array():
    xy = np.random.RandomState(1).normal(size=(50, 2))
    xy[[3, 7]] = np.nan
    ax = up.points(xy)
    assert len(_scatter(ax).get_offsets()) == 48
    assert not ax.texts  # no model, no footnote


def test_points_labels_give_a_legend_of_the_distinct_labels(model, blobs):
    _, labels = blobs
    names = np.array(["a", "b", "c", "d"])[labels]
    ax = up.points(model, labels=names)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c", "d"]
    colours = _scatter(ax).get_facecolors()
    assert len(colours) == 200
    # one colour per label, the same colour within a label
    assert len({tuple(c) for c in colours}) == 4
    for name in "abcd":
        assert len({tuple(c) for c in colours[names == name]}) == 1
    assert up.points(model, labels=names, show_legend=False).get_legend() is None


def test_points_color_key_dict_and_list(model, blobs):
    _, labels = blobs
    key = {0: "#ff0000", 1: "#00ff00", 2: "#0000ff", 3: "#000000"}
    colours = _scatter(up.points(model, labels=labels, color_key=key)).get_facecolors()
    assert np.allclose(colours[labels == 2][0], to_rgba("#0000ff"))
    colours = _scatter(up.points(model, labels=labels, color_key=list(key.values())))
    assert np.allclose(colours.get_facecolors()[labels == 3][0], to_rgba("#000000"))
    with pytest.raises(ValueError, match="colour"):
        up.points(model, labels=labels, color_key=["red", "blue"])
    with pytest.raises(ValueError, match="color_key"):
        up.points(model, labels=labels, color_key={0: "red"})


def test_points_values_are_colour_mapped(model):
    values = np.linspace(0.0, 1.0, 200)
    values_nan_row = model.embedding_.copy()
    ax = up.points(model, values=values, cmap="viridis")
    assert np.allclose(_scatter(ax).get_array(), values)
    assert _scatter(ax).get_cmap().name == "viridis"
    values_nan_row[5] = np.nan
    ax = up.points(values_nan_row, values=values)
    assert np.allclose(_scatter(ax).get_array(), np.delete(values, 5))


def test_points_subset_alpha_and_theme(model):
    subset = np.arange(200) % 2 == 0
    ax = up.points(model, subset_points=subset, alpha=0.5, theme="fire")
    scatter = _scatter(ax)
    assert len(scatter.get_offsets()) == 100
    assert scatter.get_alpha() == 0.5
    assert to_rgba(ax.get_facecolor()) == to_rgba("black")
    assert ax.texts[0].get_color() == "white"


@pytest.mark.parametrize("theme", sorted(up._THEMES))
def test_every_theme_draws(model, theme):
    ax = up.points(model, values=np.arange(200.0), theme=theme)
    assert len(_scatter(ax).get_offsets()) == 200
    ax = up.connectivity(model, theme=theme)
    assert len(ax.collections) == 1


def test_points_into_given_axes_and_explicit_points(model):
    fig, ax = plt.subplots()
    shifted = model.embedding_ + 100.0
    assert up.points(model, points=shifted, ax=ax) is ax
    assert np.allclose(_scatter(ax).get_offsets(), shifted)


def test_points_bad_input(model):
    with pytest.raises(ValueError, match="2-D embedding"):
        up.points(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="2-D embedding"):
        up.points(np.zeros(10))
    with pytest.raises(ValueError, match="fitted UMAP model or an"):
        up.points(object())
    with pytest.raises(ValueError, match="theme"):
        up.points(model, theme="sepia")
    with pytest.raises(ValueError, match="labels"):
        up.points(model, labels=np.arange(3))
    with pytest.raises(ValueError, match="values"):
        up.points(model, values=np.arange(201.0))
    with pytest.raises(ValueError, match="not both"):
        up.points(model, labels=np.zeros(200), values=np.zeros(200))
    with pytest.raises(ValueError, match="alpha"):
        up.points(model, alpha=2.0)
    with pytest.raises(ValueError, match="subset_points"):
        up.points(model, subset_points=np.ones(10, dtype=bool))
    with pytest.raises(ValueError, match="colour map"):
        up.points(model, values=np.zeros(200), cmap="no-such-map")


def test_points_without_datashader_draws_large_sets_with_matplotlib(model, monkeypatch):
    monkeypatch.setattr(up, "DATASHADER_MIN_POINTS", 10)
    monkeypatch.setattr(up, "_datashader", lambda: None)
    ax = up.points(model, labels=np.arange(200) % 3)
    assert len(_scatter(ax).get_offsets()) == 200 and not ax.images


def test_points_datashader_image_for_large_sets(model, monkeypatch):
    pytest.importorskip("datashader")
    monkeypatch.setattr(up, "DATASHADER_MIN_POINTS", 10)
    for kwargs in ({}, {"labels": np.arange(200) % 3}, {"values": np.arange(200.0)}):
        ax = up.points(model, width=120, height=100, theme="darkblue", **kwargs)
        assert not [c for c in ax.collections if isinstance(c, PathCollection)]
        (image,) = ax.images
        assert image.get_array().shape == (100, 120, 4)
    ax = up.points(model, labels=np.arange(200) % 3, width=64, height=64)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]


# --------------------------------------------------------------------------- connectivity


def test_connectivity_draws_each_undirected_edge_once(model):
    graph = model.graph_
    assert (graph != graph.T).nnz == 0  # the fuzzy union is symmetric
    ax = up.connectivity(model)
    (lines,) = ax.collections
    assert isinstance(lines, LineCollection)
    upper = scipy.sparse.triu(graph, k=1)
    assert len(lines.get_segments()) == upper.nnz == graph.nnz // 2
    # the weights are the membership strengths, weakest first (the strongest drawn on top)
    assert np.allclose(lines.get_array(), np.sort(upper.data))
    # the segments join the embedded ends of the edges (compared as sorted sets of rows)
    coo = upper.tocoo()
    emb = model.embedding_.astype(np.float64)
    expected = np.hstack([emb[coo.row], emb[coo.col]])
    drawn = np.asarray(lines.get_segments()).reshape(-1, 4)
    assert np.allclose(np.unique(drawn, axis=0), np.unique(expected, axis=0))


def test_connectivity_with_points_and_labels(model, blobs):
    _, labels = blobs
    ax = up.connectivity(model, show_points=True, labels=labels)
    assert len(_scatter(ax).get_offsets()) == 200
    assert len(ax.get_legend().get_texts()) == 4


def test_connectivity_leaves_out_edges_of_nan_points(model):
    class Holed:
        pass

    holed = Holed()
    holed.embedding_ = model.embedding_.copy()
    holed.embedding_[0] = np.nan
    holed.graph_ = model.graph_
    ax = up.connectivity(holed)
    upper = scipy.sparse.triu(model.graph_, k=1).tocoo()
    expected = np.count_nonzero((upper.row != 0) & (upper.col != 0))
    assert len(ax.collections[0].get_segments()) == expected
    assert np.isfinite(np.asarray(ax.collections[0].get_segments())).all()


def test_connectivity_bad_input(model):
    with pytest.raises(ValueError, match="edge_bundling"):
        up.connectivity(model, edge_bundling="spline")
    with pytest.raises(ValueError, match="fitted UMAP"):
        up.connectivity(model.embedding_)
    with pytest.raises(ValueError, match="theme"):
        up.connectivity(model, theme="sepia")
    with pytest.raises(ValueError, match="labels"):
        up.connectivity(model, show_points=True, labels=np.arange(5))


def test_hammer_bundling_needs_datashader(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "datashader.bundling", None)
    with pytest.raises(ImportError, match=r"umapc\[plot-large\]"):
        up.connectivity(model, edge_bundling="hammer")


def test_connectivity_datashader(model, monkeypatch):
    pytest.importorskip("datashader")
    monkeypatch.setattr(up, "DATASHADER_MIN_POINTS", 10)
    ax = up.connectivity(model, width=90, height=80)
    assert not ax.collections
    (image,) = ax.images
    rgba = image.get_array()
    assert rgba.shape == (80, 90, 4)
    assert (rgba[..., :3] < 128).any()  # some dark edge pixels on white
    ax = up.connectivity(model, show_points=True, labels=np.arange(200) % 2, width=50, height=50)
    assert len(ax.get_legend().get_texts()) == 2


def test_connectivity_hammer_bundling(model):
    pytest.importorskip("datashader")
    pytest.importorskip("skimage")
    pytest.importorskip("dask")
    with pytest.warns(UserWarning, match="expensive"):
        ax = up.connectivity(model, edge_bundling="hammer", width=64, height=64)
    (image,) = ax.images
    assert image.get_array().shape == (64, 64, 4)


# --------------------------------------------------------------------------- diagnostic


def _reference_jaccard(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    return np.array([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(high, low)])


def test_neighborhood_matches_scikit_learn(model, blobs):
    data, _ = blobs
    k = 12
    ax, values = up.diagnostic(model, "neighborhood", nhood_size=k, return_diagnostics=True)
    high = NearestNeighbors(n_neighbors=k).fit(data).kneighbors(data)[1]
    emb = model.embedding_
    low = NearestNeighbors(n_neighbors=k).fit(emb).kneighbors(emb)[1]
    assert np.allclose(values, _reference_jaccard(high, low))
    assert np.allclose(_scatter(ax).get_array(), values)
    assert ax.get_title() == "Colored by neighborhood Jaccard index"
    assert len(ax.figure.axes) == 2  # the colour bar


def test_neighborhood_skips_nan_points(model, blobs):
    data, _ = blobs

    class Holed:
        metric = "euclidean"
        n_neighbors = 10

    holed = Holed()
    holed.embedding_ = model.embedding_.copy()
    holed.embedding_[4] = np.nan
    holed._raw_data = data
    values = up.diagnostic(
        holed, "neighborhood", nhood_size=8, return_diagnostics=True, plot_result=False
    )
    assert np.isnan(values[4]) and np.isfinite(np.delete(values, 4)).all()
    rest, emb = np.delete(data, 4, axis=0), np.delete(holed.embedding_, 4, axis=0)
    high = NearestNeighbors(n_neighbors=8).fit(rest).kneighbors(rest)[1]
    low = NearestNeighbors(n_neighbors=8).fit(emb).kneighbors(emb)[1]
    assert np.allclose(np.delete(values, 4), _reference_jaccard(high, low))


def test_local_dim_matches_a_per_point_pca(model, blobs, monkeypatch):
    data, _ = blobs
    threshold = 0.7
    values = up.diagnostic(
        model,
        "local_dim",
        local_variance_threshold=threshold,
        return_diagnostics=True,
        plot_result=False,
    )
    assert values.dtype.kind == "i"
    # umap-learn's definition: PCA of each point's n_neighbors nearest neighbours (itself
    # included); the first component index where the cumulative ratio exceeds the threshold
    neighbours = NearestNeighbors(n_neighbors=model.n_neighbors).fit(data).kneighbors(data)[1]
    expected = []
    for hood in neighbours:
        ratio = np.cumsum(PCA().fit(data[hood].astype(np.float64)).explained_variance_ratio_)
        over = np.flatnonzero(ratio > threshold)
        expected.append(over[0] if over.size else -1)
    assert np.array_equal(values, expected)
    monkeypatch.setattr(up, "_LOCAL_PCA_BATCH", 7 * model.n_neighbors * data.shape[1])
    batched = up.diagnostic(
        model,
        "local_dim",
        local_variance_threshold=threshold,
        return_diagnostics=True,
        plot_result=False,
    )
    assert np.array_equal(batched, expected)  # in batches of 7 points, 200 = 28 * 7 + 4
    assert up.diagnostic(model, "local_dim", return_diagnostics=True)[0].get_title() == (
        "Colored by approx local dimension"
    )


def test_local_dim_of_flat_neighbourhoods(monkeypatch):
    class Flat:
        metric = "euclidean"
        n_neighbors = 4

    flat = Flat()
    # 8 points on a line in 3-D, 4 identical points: local dimension 0 and -1 (no variance)
    line = np.c_[np.arange(8.0), 2 * np.arange(8.0), np.zeros(8)]
    flat._raw_data = np.vstack([line, np.full((4, 3), 50.0)]).astype(np.float32)
    monkeypatch.setattr(up, "_LOCAL_PCA_BATCH", 30)  # 30 // (4 * 3): batches of 2 points
    flat.embedding_ = np.random.RandomState(0).normal(size=(12, 2))
    values = up.diagnostic(flat, "local_dim", return_diagnostics=True, plot_result=False)
    assert values[:8].tolist() == [0] * 8
    assert values[8:].tolist() == [-1] * 4


def test_pca_colours_are_umap_learns(model, blobs):
    data, _ = blobs
    ax, colours = up.diagnostic(model, "pca", return_diagnostics=True)
    expected = PCA(n_components=3).fit_transform(data).astype(np.float64)
    expected -= expected.min()
    expected /= expected.max(axis=0)
    assert np.allclose(colours, expected, atol=1e-5)
    assert colours.min() >= 0 and np.allclose(colours.max(axis=0), 1)
    assert len(_scatter(ax).get_offsets()) == 200
    assert ax.get_title() == "Colored by RGB coords of PCA embedding"


@pytest.mark.parametrize("kind", ["ica", "vq"])
def test_ica_and_vq_colours(model, kind):
    ax, colours = up.diagnostic(model, kind, return_diagnostics=True)
    assert colours.shape == (200, 3) and colours.min() >= 0 and colours.max() <= 1
    assert len(_scatter(ax).get_facecolors()) == 200


def test_diagnostic_all_and_no_plot(model):
    before = plt.get_fignums()
    assert up.diagnostic(model, "pca", plot_result=False) is None
    assert plt.get_fignums() == before
    axes, values = up.diagnostic(model, "all", return_diagnostics=True)
    assert len(axes) == 5 and sorted(values) == sorted(up._DIAGNOSTIC_TYPES)
    assert values["neighborhood"].shape == (200,)


def test_diagnostic_into_given_axes(model):
    fig, ax = plt.subplots()
    assert up.diagnostic(model, "vq", ax=ax, point_size=3.0) is ax
    assert np.allclose(_scatter(ax).get_sizes(), 3.0)


def test_diagnostic_bad_input(model):
    with pytest.raises(ValueError, match="diagnostic_type"):
        up.diagnostic(model, "tsne")
    with pytest.raises(ValueError, match="fitted UMAP"):
        up.diagnostic(model.embedding_)
    with pytest.raises(ValueError, match="nhood_size"):
        up.diagnostic(model, "neighborhood", nhood_size=0)
    with pytest.raises(ValueError, match="nhood_size"):
        up.diagnostic(model, "neighborhood", nhood_size=1.5)
    with pytest.raises(ValueError, match="local_variance_threshold"):
        up.diagnostic(model, "local_dim", local_variance_threshold=1.5)

    class NoData:
        embedding_ = model.embedding_
        _raw_data = None

    with pytest.raises(ValueError, match="training data"):
        up.diagnostic(NoData(), "pca")


def test_nearest_neighbour_distribution(model):
    ax = up.nearest_neighbour_distribution(model, bins=10)
    graph = model.graph_.tocsr()
    means = [graph.data[a:b].mean() for a, b in zip(graph.indptr[:-1], graph.indptr[1:])]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 10 and sum(heights) == 200
    assert np.allclose(heights, np.histogram(means, bins=10)[0])

    class Lonely:
        graph_ = scipy.sparse.csr_matrix(np.array([[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]]))

    with pytest.warns(UserWarning, match="1 points have no edges"):
        ax = up.nearest_neighbour_distribution(Lonely())
    assert sum(p.get_height() for p in ax.patches) == 2
    with pytest.raises(ValueError, match="fitted UMAP"):
        up.nearest_neighbour_distribution(np.zeros((3, 2)))


def test_plot_embedding_draws_with_points(tmp_path):
    xy = np.random.RandomState(0).normal(size=(30, 3))
    ax = up.plot_embedding(xy, labels=np.arange(30) % 2)
    assert np.allclose(_scatter(ax).get_offsets(), xy[:, :2])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1"]
