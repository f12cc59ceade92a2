"""umapc in the scikit-learn and scanpy ecosystems: ``NNTransformer`` (scikit-learn's
``KNeighborsTransformer`` interface, pynndescent's ``PyNNDescentTransformer`` parameters),
``embed_graph`` (UMAP's layout stages on a given graph) and ``umapc.scanpy.umap``
(``scanpy.tl.umap``).

The scanpy tests skip when scanpy (or umap-learn, which scanpy's own neighbours and UMAP need) is
missing; the single-cell one also when ../shared/data/pbmc68k-reduced is absent.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import sklearn
import sklearn.cluster
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import NotFittedError

import umapc
from umapc import NNTransformer, embed_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _data  # noqa: E402  (the shared-data helpers the benchmarks use)

DATA = _data.shared_data_dir()


def _gaussian(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Continuous data: no two distances tie, so exact neighbour lists are unique."""
    return np.random.RandomState(seed).normal(size=(n, dim)).astype(np.float32)


def _digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X[:n].astype(np.float32), y[:n]


def _label_accuracy(embedding: np.ndarray, labels: np.ndarray) -> float:
    """Cross-validated 15-NN classification accuracy of the labels in the embedding."""
    return float(cross_val_score(KNeighborsClassifier(15), embedding, labels, cv=5).mean())


def _rows_sorted_by_distance(graph) -> bool:
    d = graph.data
    same_row = np.diff(np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))) == 0
    return bool(np.all(np.diff(d)[same_row] >= 0))


# --------------------------------------------------------------------------- NNTransformer


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_transformer_fit_transform_equals_kneighbors_transformer(mode):
    X = _gaussian(400, 12)
    ours = NNTransformer(n_neighbors=10, mode=mode).fit_transform(X)
    ref = KNeighborsTransformer(n_neighbors=10, mode=mode).fit_transform(X)
    assert isinstance(ours, scipy.sparse.csr_matrix)
    assert ours.shape == ref.shape == (400, 400)
    per_row = 11 if mode == "distance" else 10
    assert np.all(np.diff(ours.indptr) == per_row)
    np.testing.assert_array_equal(ours.indptr, ref.indptr)
    np.testing.assert_array_equal(ours.indices, ref.indices)  # same order: by distance
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-5, atol=1e-5)
    # the point itself first, an explicit zero (distance) or one (connectivity)
    first = ours.indptr[:-1]
    np.testing.assert_array_equal(ours.indices[first], np.arange(400))
    assert np.all(ours.data[first] == (0.0 if mode == "distance" else 1.0))
    assert _rows_sorted_by_distance(ours) or mode == "connectivity"


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_transformer_transform_equals_kneighbors_transformer(mode):
    X = _gaussian(500, 8, seed=1)
    train, test = X[:350], X[350:]
    ours = NNTransformer(n_neighbors=7, mode=mode).fit(train).transform(test)
    ref = KNeighborsTransformer(n_neighbors=7, mode=mode).fit(train).transform(test)
    assert ours.shape == ref.shape == (150, 350)
    np.testing.assert_array_equal(ours.indptr, ref.indptr)
    np.testing.assert_array_equal(ours.indices, ref.indices)
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-5, atol=1e-5)
    # transform of the training data itself is fit_transform's graph
    t = NNTransformer(n_neighbors=7, mode=mode).fit(train)
    again = t.transform(train)
    np.testing.assert_array_equal(again.indices, t.fit_transform(train).indices)


def test_transformer_digits_ties_aside():
    """Pixel data has tied distances: the distances agree, and where the ids differ the two
    points are equally far (a tie, ordered either way, or at the k-th place)."""
    X, _ = _digits(1000)
    ours = NNTransformer(n_neighbors=15).fit_transform(X)
    ref = KNeighborsTransformer(n_neighbors=15).fit_transform(X)
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-6)
    rows = np.repeat(np.arange(1000), 16)
    differ = ours.indices != ref.indices
    assert differ.mean() < 0.05
    r, a, b = rows[differ], ours.indices[differ], ref.indices[differ]
    da = np.linalg.norm(X[r].astype(np.float64) - X[a], axis=1)
    db = np.linalg.norm(X[r].astype(np.float64) - X[b], axis=1)
    np.testing.assert_allclose(da, db, rtol=1e-9)


def test_transformer_approximate_backend_recall():
    """Above the exact crossover: the NN-descent graph (fit_transform) and HNSW queries
    (transform) find nearly all of the exact neighbours."""
    X = _gaussian(6000, 16, seed=2)
    train, test = X[:5000], X[5000:]
    t = NNTransformer(n_neighbors=10, backend="hnsw", random_state=0)
    ours = t.fit_transform(train)
    assert t.nn_index_._backend == "hnsw"
    ref = KNeighborsTransformer(n_neighbors=10).fit_transform(train)
    hits = [
        len(np.intersect1d(a, b))
        for a, b in zip(ours.indices.reshape(5000, 11), ref.indices.reshape(5000, 11))
    ]
    assert np.mean(hits) / 11 > 0.98
    q = t.transform(test).indices.reshape(1000, 11)
    q_ref = KNeighborsTransformer(n_neighbors=10).fit(train).transform(test)
    q_ref = q_ref.indices.reshape(1000, 11)
    assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(q, q_ref)]) / 11 > 0.95
    # seeded: the same graph again, with one thread too
    again = NNTransformer(n_neighbors=10, backend="hnsw", random_state=0, n_jobs=1)
    np.testing.assert_array_equal(again.fit_transform(train).indices, ours.indices)


def test_transformer_parameters_are_pynndescents():
    pynndescent = pytest.importorskip("pynndescent")
    ours = NNTransformer().get_params()
    theirs = pynndescent.PyNNDescentTransformer().get_params()
    for name, value in theirs.items():
        assert name in ours, name
        assert ours[name] == value, name
    assert ours["mode"] == "distance"  # scikit-learn's KNeighborsTransformer default
    t = clone(NNTransformer(n_neighbors=4, metric="cosine", n_iters=5, max_candidates=12))
    graph = t.fit_transform(_gaussian(100, 6))
    assert graph.shape == (100, 100) and graph.nnz == 500
    assert list(t.get_feature_names_out()[:2]) == ["nntransformer0", "nntransformer1"]


def test_transformer_metric_and_kwds():
    X = np.abs(_gaussian(300, 6, seed=3))
    for metric, kwds in (("manhattan", None), ("cosine", None), ("minkowski", {"p": 3})):
        ours = NNTransformer(n_neighbors=5, metric=metric, metric_kwds=kwds).fit_transform(X)
        p = {} if kwds is None else {"p": kwds["p"]}
        ref = KNeighborsTransformer(
            n_neighbors=5, metric=metric, algorithm="brute", **p
        ).fit_transform(X)
        np.testing.assert_array_equal(ours.indices, ref.indices)
        np.testing.assert_allclose(ours.data, ref.data, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(
    "sparse_interface" not in sklearn.get_config(), reason="scikit-learn without sparray config"
)
def test_transformer_follows_sparse_interface_config():
    with sklearn.config_context(sparse_interface="sparray"):
        graph = NNTransformer(n_neighbors=3).fit_transform(_gaussian(50, 3))
        ref = KNeighborsTransformer(n_neighbors=3).fit_transform(_gaussian(50, 3))
    assert type(graph) is type(ref) is scipy.sparse.csr_array


def test_transformer_bad_input():
    X = _gaussian(30, 4)
    with pytest.raises(ValueError, match="mode"):
        NNTransformer(mode="weights").fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        NNTransformer(n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        NNTransformer(n_neighbors=2.5).fit(X)
    with pytest.raises(ValueError, match="n_samples_fit"):
        NNTransformer(n_neighbors=30).fit(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError):
        NNTransformer(n_neighbors=3).fit(bad)
    with pytest.raises(TypeError):
        NNTransformer(n_neighbors=3).fit([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError):
        NNTransformer(n_neighbors=3, metric="no-such-metric").fit(X)
    with pytest.raises(NotFittedError):
        NNTransformer(n_neighbors=3).transform(X)
    t = NNTransformer(n_neighbors=3).fit(X)
    with pytest.raises(ValueError, match="features"):
        t.transform(_gaussian(5, 5))
    with pytest.raises(ValueError):
        t.transform(bad)


def test_pipeline_isomap_matches_kneighbors_transformer():
    from sklearn.manifold import Isomap

    X, _ = _digits(800)
    ours = make_pipeline(
        NNTransformer(n_neighbors=10), Isomap(n_neighbors=10, metric="precomputed")
    )
    ref = make_pipeline(
        KNeighborsTransformer(n_neighbors=10), Isomap(n_neighbors=10, metric="precomputed")
    )
    a, b = ours.fit_transform(X), ref.fit_transform(X)
    for j in range(2):  # each component up to its sign
        assert abs(np.corrcoef(a[:, j], b[:, j])[0, 1]) > 0.99


def test_pipeline_tsne_matches_kneighbors_transformer():
    from sklearn.manifold import TSNE

    X, y = _digits(500)
    results = []
    for transformer in (NNTransformer, KNeighborsTransformer):
        pipe = make_pipeline(
            transformer(n_neighbors=31),
            TSNE(metric="precomputed", init="random", perplexity=10, max_iter=300, random_state=0),
        )
        results.append(_label_accuracy(pipe.fit_transform(X), y))
    assert results[0] > 0.9
    assert abs(results[0] - results[1]) < 0.03


@pytest.mark.skipif(
    not hasattr(sklearn.cluster, "HDBSCAN"), reason="sklearn.cluster.HDBSCAN: scikit-learn >= 1.3"
)
def test_pipeline_hdbscan_matches_kneighbors_transformer():
    """scikit-learn's HDBSCAN asks for a symmetric precomputed matrix, which no k-NN graph is
    (KNeighborsTransformer's neither): the pipeline symmetrises it (the larger of G and G.T)."""
    from sklearn.cluster import HDBSCAN

    X, y = _digits(800)
    symmetric = FunctionTransformer(lambda g: g.maximum(g.T).tocsr(), accept_sparse=True)
    labels = []
    for transformer in (NNTransformer, KNeighborsTransformer):
        pipe = make_pipeline(
            transformer(n_neighbors=15), symmetric, HDBSCAN(metric="precomputed", min_samples=10)
        )
        labels.append(pipe.fit(X)[-1].labels_)
    assert adjusted_rand_score(labels[0], labels[1]) > 0.95
    assert len(set(labels[0]) - {-1}) >= 5


# --------------------------------------------------------------------------- embed_graph


def _advanced(seed: int) -> np.random.RandomState:
    """The random state UMAP's layout stages see: a seeded fit draws the neighbour index's
    seed first."""
    rng = np.random.RandomState(seed)
    rng.randint(0, 2**62, dtype=np.int64)
    return rng


@pytest.fixture(scope="module")
def digits_model():
    X, y = _digits(1000)
    return X, y, umapc.UMAP(random_state=7, n_epochs=120).fit(X)


def test_embed_graph_equals_umap_given_the_same_random_state(digits_model):
    X, _, model = digits_model
    graph = model.graph_.copy()
    embedding = embed_graph(model.graph_, n_epochs=120, random_state=_advanced(7))
    np.testing.assert_array_equal(embedding, model.embedding_)
    # the graph is not changed (pruning works on a copy)
    assert (graph != model.graph_).nnz == 0
    # a given start, other layout parameters
    start = np.random.RandomState(1).uniform(-5, 5, size=(X.shape[0], 3)).astype(np.float32)
    kwargs = dict(min_dist=0.3, spread=1.5, n_epochs=60, learning_rate=0.5, negative_sample_rate=3)
    ref = umapc.UMAP(random_state=11, n_components=3, init=start, **kwargs).fit(X)
    ours = embed_graph(ref.graph_, 3, init=start, random_state=_advanced(11), **kwargs)
    np.testing.assert_array_equal(ours, ref.embedding_)


def test_embed_graph_with_a_plain_seed_is_as_good_as_umap(digits_model):
    """The integer seed alone gives other seeds to the stages than UMAP's (which drew one for
    its index first): another layout of the same graph, of the same quality."""
    _, y, model = digits_model
    embedding = embed_graph(model.graph_, n_epochs=120, random_state=7)
    assert not np.array_equal(embedding, model.embedding_)
    assert abs(_label_accuracy(embedding, y) - _label_accuracy(model.embedding_, y)) < 0.03


def test_embed_graph_is_reproducible(digits_model):
    _, _, model = digits_model
    a = embed_graph(model.graph_, n_epochs=50, random_state=3)
    b = embed_graph(model.graph_, n_epochs=50, random_state=3, n_jobs=1)
    c = embed_graph(model.graph_.tocoo(), n_epochs=50, random_state=3)
    assert a.dtype == np.float32 and a.shape == (model.graph_.shape[0], 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, embed_graph(model.graph_, n_epochs=50, random_state=4))


def test_embed_graph_options(digits_model):
    _, _, model = digits_model
    g = model.graph_
    n = g.shape[0]
    random = embed_graph(g, init="random", n_epochs=0, random_state=0)
    assert random.shape == (n, 2) and np.isfinite(random).all()
    three = embed_graph(scipy.sparse.csr_array(g), 3, n_epochs=10, a=1.5, b=0.9, random_state=0)
    assert three.shape == (n, 3) and np.isfinite(three).all()
    # a vertex without edges keeps its start; one vertex is the origin
    lonely = scipy.sparse.block_diag([g, scipy.sparse.csr_matrix((1, 1))]).tocsr()
    out = embed_graph(lonely, n_epochs=20, random_state=0)
    assert out.shape == (n + 1, 2) and np.isfinite(out).all()
    assert embed_graph(scipy.sparse.csr_matrix((1, 1)), 2).tolist() == [[0.0, 0.0]]
    # an asymmetric graph is refused, a symmetrised one is fine
    upper = scipy.sparse.triu(g).tocsr()
    with pytest.raises(ValueError, match="symmetric"):
        embed_graph(upper, n_epochs=5, random_state=0)
    union = upper + upper.T - upper.multiply(upper.T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(embed_graph(union, n_epochs=5, random_state=0)).all()


@pytest.mark.parametrize(
    ("graph", "kwargs", "error"),
    [
        (scipy.sparse.random(10, 12, density=0.3, format="csr"), {}, ValueError),
        (scipy.sparse.csr_matrix((0, 0)), {}, ValueError),
        (scipy.sparse.csr_matrix(-np.eye(5)), {}, ValueError),
        (scipy.sparse.csr_matrix(np.triu(np.ones((4, 4)))), {}, ValueError),
        (scipy.sparse.csr_matrix(np.diag([1.0, np.nan, 1.0])), {}, ValueError),
        (scipy.sparse.csr_matrix(np.diag([1.0, np.inf, 1.0])), {}, ValueError),
        (np.eye(5), {}, TypeError),
        ([[0, 1], [1, 0]], {}, TypeError),
        ("graph", {}, TypeError),
        (scipy.sparse.csr_matrix(np.eye(3, dtype=np.complex64)), {}, TypeError),
        (scipy.sparse.identity(4, format="csr"), {"init": "pca"}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"init": "umap"}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"init": np.zeros((3, 2))}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"init": np.full((4, 2), np.nan)}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"init": 3}, TypeError),
        (scipy.sparse.identity(4, format="csr"), {"n_components": 0}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"n_components": "2"}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"n_epochs": -1}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"n_epochs": 2.5}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"min_dist": 2.0}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"spread": 0.0, "min_dist": 0.0}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"learning_rate": np.nan}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"negative_sample_rate": 1e9}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"a": -1.0, "b": 1.0}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"n_jobs": 0}, ValueError),
        (scipy.sparse.identity(4, format="csr"), {"random_state": "seed"}, ValueError),
    ],
)
def test_embed_graph_bad_input(graph, kwargs, error):
    with pytest.raises(error):
        embed_graph(graph, **kwargs)


# --------------------------------------------------------------------------- scanpy


def _scanpy():
    sc = pytest.importorskip("scanpy")
    pytest.importorskip("umap")  # scanpy's connectivities and its own tl.umap use umap-learn
    return sc


def _pbmc() -> tuple[np.ndarray, np.ndarray]:
    folder = None if DATA is None else DATA / "pbmc68k-reduced"
    if folder is None or not folder.is_dir():
        pytest.skip("shared pbmc68k-reduced data not available")
    from umapc._io import read_fvecs

    X = read_fvecs(folder / "pbmc68k_reduced_X_pca_700x50.fvecs")
    lines = (folder / "cells.tsv").read_text().splitlines()[1:]
    labels = np.array([line.split("\t")[1] for line in lines])
    return np.ascontiguousarray(X, dtype=np.float32), labels


@pytest.mark.parametrize("dataset", ["digits", "pbmc68k-reduced"])
def test_scanpy_neighbors_transformer_then_umap(dataset):
    sc = _scanpy()
    import anndata

    X, y = _digits(1000) if dataset == "digits" else _pbmc()
    adata = anndata.AnnData(X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy's and numba's own warnings
        sc.pp.neighbors(
            adata, use_rep="X", transformer=NNTransformer(n_neighbors=15, random_state=0)
        )
        theirs = adata.copy()
        sc.tl.umap(theirs)
    assert adata.obsp["distances"].shape == (X.shape[0], X.shape[0])
    assert umapc.scanpy.umap(adata) is None
    embedding = adata.obsm["X_umap"]
    assert embedding.shape == (X.shape[0], 2) and embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    assert set(adata.uns["umap"]) == {"params"}
    assert set(adata.uns["umap"]["params"]) == {"a", "b"}
    np.testing.assert_allclose(
        [adata.uns["umap"]["params"]["a"], adata.uns["umap"]["params"]["b"]],
        [theirs.uns["umap"]["params"]["a"], theirs.uns["umap"]["params"]["b"]],
        rtol=1e-4,
    )
    ours_accuracy = _label_accuracy(embedding, y)
    theirs_accuracy = _label_accuracy(theirs.obsm["X_umap"], y)
    assert ours_accuracy > theirs_accuracy - 0.05, (ours_accuracy, theirs_accuracy)
    # reproducible: random_state=0 by default, as scanpy
    again = umapc.scanpy.umap(adata, copy=True)
    np.testing.assert_array_equal(again.obsm["X_umap"], embedding)


def test_scanpy_umap_options():
    sc = _scanpy()
    import anndata

    X, _ = _digits(400)
    adata = anndata.AnnData(X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.neighbors(adata, use_rep="X", transformer=NNTransformer(n_neighbors=10))
        sc.pp.neighbors(
            adata, use_rep="X", transformer=NNTransformer(n_neighbors=5), key_added="small"
        )
    copy = umapc.scanpy.umap(adata, copy=True, maxiter=20)
    assert "X_umap" in copy.obsm and "X_umap" not in adata.obsm
    umapc.scanpy.umap(
        adata,
        key_added="umap_small",
        neighbors_key="small",
        n_components=3,
        random_state=5,
        a=1.0,
        b=1.0,
        init_pos="random",
        maxiter=20,
    )
    assert adata.obsm["umap_small"].shape == (400, 3)
    assert adata.uns["umap_small"]["params"] == {"a": 1.0, "b": 1.0, "random_state": 5}
    start = np.random.RandomState(0).uniform(size=(400, 2))
    adata.obsm["start"] = start
    umapc.scanpy.umap(adata, init_pos="start", maxiter=0)
    # no epochs: the start, rescaled to [0, 10] in each coordinate (no noise for a given init)
    out = adata.obsm["X_umap"]
    np.testing.assert_allclose(out.min(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.max(axis=0), 10.0, atol=1e-4)
    with pytest.raises(ValueError, match="sc.pp.neighbors"):
        umapc.scanpy.umap(anndata.AnnData(X=X))
    with pytest.raises(TypeError, match="AnnData"):
        umapc.scanpy.umap(X)


def test_scanpy_module_without_anndata(monkeypatch):
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(ImportError, match="pip install scanpy anndata"):
        umapc.scanpy.umap(object())


def test_new_names_are_lazy():
    code = (
        "import sys, umapc\n"
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules\n"
        "assert {'NNTransformer', 'embed_graph', 'scanpy'} <= set(dir(umapc))\n"
        "import umapc.scanpy\n"
        "assert 'anndata' not in sys.modules and 'scanpy' not in sys.modules\n"
        "print(umapc.NNTransformer.__name__, umapc.embed_graph.__name__,"
        " umapc.scanpy.umap.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["NNTransformer", "embed_graph", "umap"]
