"""Custom (callable) metrics: numba functions compiled to C function pointers, plain Python
callables through the interpreter, and custom output metrics, against the built-in metrics and
umap-learn run with the same callable."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from umapc import UMAP, NNIndex


def _data(n: int = 300, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _digits(n: int = 500) -> np.ndarray:
    return load_digits().data[:n].astype(np.float32)


def _same_sets(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows whose neighbour sets agree."""
    return float(np.mean([set(x) == set(y) for x, y in zip(a, b)]))


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(found, truth)]))


# ---- plain Python callables (no numba needed) -----------------------------------------------


def py_manhattan(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x - y).sum())


def test_python_callable_matches_builtin_with_warning() -> None:
    X = _data(120, 4)
    for backend in ("exact", "hnsw"):
        with pytest.warns(UserWarning, match="plain Python callable"):
            index = NNIndex(X, n_neighbors=8, metric=py_manhattan, backend=backend, n_jobs=2)
        ref = NNIndex(X, n_neighbors=8, metric="manhattan", backend="exact")
        got_i, got_d = index.neighbor_graph
        ref_i, ref_d = ref.neighbor_graph
        assert _same_sets(got_i, ref_i) >= (1.0 if backend == "exact" else 0.95)
        if backend == "exact":
            np.testing.assert_allclose(got_d, ref_d, rtol=1e-5, atol=1e-5)
        qi, _ = index.query(X[:10] + 0.01, k=5)
        ri, _ = ref.query(X[:10] + 0.01, k=5)
        assert _recall(qi, ri) >= 0.95


def test_python_callable_metric_kwds_are_positional() -> None:
    X = _data(100, 5)
    w = np.linspace(0.5, 2.0, 5).astype(np.float32)

    def weighted(x, y, weights, power):
        return float((weights * np.abs(x - y) ** power).sum() ** (1.0 / power))

    with pytest.warns(UserWarning):
        index = NNIndex(
            X, n_neighbors=6, metric=weighted, metric_kwds={"w": w, "p": 1.0}, backend="exact"
        )
    ref = NNIndex(
        X, n_neighbors=6, metric="wminkowski", metric_kwds={"w": w, "p": 1.0}, backend="exact"
    )
    assert _same_sets(index.neighbor_graph[0], ref.neighbor_graph[0]) == 1.0


class _Flaky:
    """Raises ZeroDivisionError while armed: a failure in one call must not stick to the next."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, x, y):
        if self.armed:
            raise ZeroDivisionError("armed")
        return float(np.abs(x - y).sum())


def test_raising_callable_surfaces_its_exception() -> None:
    X = _data(80, 3)
    flaky = _Flaky()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        index = NNIndex(X, n_neighbors=5, metric=flaky, backend="hnsw", n_jobs=2)
        index.prepare()
        flaky.armed = True
        with pytest.raises(ZeroDivisionError, match="armed"):
            index.query(X[:20], k=5)
        flaky.armed = False
        ref = NNIndex(X, n_neighbors=5, metric="manhattan", backend="exact")
        assert _recall(index.query(X[:20], k=5)[0], ref.query(X[:20], k=5)[0]) >= 0.95
        flaky.armed = True
        with pytest.raises(ZeroDivisionError):
            UMAP(n_neighbors=5, n_epochs=5, metric=flaky).fit(X)


def test_python_output_metric() -> None:
    X = _digits(200)

    def euclidean_grad(x, y):
        d = float(np.sqrt(((x - y) ** 2).sum()))
        return d, (x - y) / (1e-6 + d)

    with pytest.warns(UserWarning, match="output_metric"):
        emb = UMAP(output_metric=euclidean_grad, n_epochs=30, random_state=0).fit_transform(X)
    ref = UMAP(n_epochs=30, random_state=0).fit_transform(X)
    assert trustworthiness(X, emb, n_neighbors=10) > trustworthiness(X, ref, n_neighbors=10) - 0.03


def test_save_refused_and_pickle_of_python_callable() -> None:
    X = _data(60, 3)
    with pytest.warns(UserWarning):
        index = NNIndex(X, n_neighbors=4, metric=py_manhattan, backend="exact")
    with pytest.raises(ValueError, match="cannot be saved"):
        index.save("unused-path")
    graph = index.neighbor_graph
    with pytest.warns(UserWarning):
        back = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(back.neighbor_graph[0], graph[0])
    np.testing.assert_array_equal(back.query(X[:5], k=3)[0], index.query(X[:5], k=3)[0])


def test_numba_not_imported_without_callable() -> None:
    code = (
        "import sys, numpy as np\n"
        "from umapc import UMAP, NNIndex\n"
        "X = np.random.default_rng(0).normal(size=(80, 4)).astype(np.float32)\n"
        "UMAP(n_neighbors=5, n_epochs=5, metric='manhattan', output_metric='manhattan').fit(X)\n"
        "NNIndex(X, n_neighbors=4, backend='hnsw').query(X[:3], k=2)\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---- numba functions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nb():
    numba = pytest.importorskip("numba")

    @numba.njit(fastmath=False)
    def euclidean(x, y):
        s = 0.0
        for i in range(x.shape[0]):
            s += (x[i] - y[i]) ** 2
        return np.sqrt(s)

    @numba.njit(fastmath=False)
    def manhattan(x, y):
        s = 0.0
        for i in range(x.shape[0]):
            s += abs(x[i] - y[i])
        return s

    @numba.njit(fastmath=False)
    def weighted(x, y, w):
        s = 0.0
        for i in range(x.shape[0]):
            s += w[i] * abs(x[i] - y[i])
        return s

    @numba.njit(fastmath=False)
    def euclidean_grad(x, y):
        s = 0.0
        for i in range(x.shape[0]):
            s += (x[i] - y[i]) ** 2
        d = np.sqrt(s)
        return d, (x - y) / (1e-6 + d)

    @numba.njit
    def not_a_number(x, y):
        return np.nan

    @numba.njit
    def pair(x, y):
        return (1.0, 2.0)

    return {
        "euclidean": euclidean,
        "manhattan": manhattan,
        "weighted": weighted,
        "euclidean_grad": euclidean_grad,
        "nan": not_a_number,
        "pair": pair,
    }


@pytest.mark.parametrize("name", ["euclidean", "manhattan"])
def test_numba_metric_matches_builtin(nb, name) -> None:
    X = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a compiled metric takes no slow path
        exact = NNIndex(X, n_neighbors=10, metric=nb[name], backend="exact")
        nnd = NNIndex(X, n_neighbors=10, metric=nb[name], backend="exact", graph_method="nndescent")
        hnsw = NNIndex(X, n_neighbors=10, metric=nb[name], backend="hnsw")
    ref = NNIndex(X, n_neighbors=10, metric=name, backend="exact")
    ref_i, ref_d = ref.neighbor_graph
    got_i, got_d = exact.neighbor_graph
    assert _same_sets(got_i, ref_i) == 1.0
    np.testing.assert_allclose(got_d, ref_d, rtol=1e-5, atol=1e-4)
    assert _recall(nnd.neighbor_graph[0], ref_i) >= 0.99
    assert _recall(hnsw.neighbor_graph[0], ref_i) >= 0.99
    queries = _data(50, seed=1)
    assert _recall(hnsw.query(queries, k=10)[0], ref.query(queries, k=10)[0]) >= 0.95


def test_numba_weighted_metric_kwds(nb) -> None:
    X = _data(200, 6)
    w = np.linspace(0.2, 3.0, 6)
    index = NNIndex(X, n_neighbors=8, metric=nb["weighted"], metric_kwds={"w": w})
    ref = NNIndex(X, n_neighbors=8, metric="wminkowski", metric_kwds={"w": w, "p": 1.0})
    assert _same_sets(index.neighbor_graph[0], ref.neighbor_graph[0]) >= 0.99


def test_numba_errors(nb) -> None:
    X = _data(60, 3)
    with pytest.raises(ValueError, match="NaN"):
        _ = NNIndex(X, n_neighbors=4, metric=nb["nan"], backend="exact").neighbor_graph
    with pytest.raises(TypeError, match="could not be compiled"):
        NNIndex(X, n_neighbors=4, metric=nb["pair"])
    with pytest.raises(ValueError, match="cannot be saved"):
        NNIndex(X, n_neighbors=4, metric=nb["manhattan"]).save("unused-path")


def test_numba_umap_against_umap_learn(nb) -> None:
    umap_learn = pytest.importorskip("umap")
    X = _digits()
    ours = UMAP(metric=nb["manhattan"], random_state=0).fit(X)
    builtin = UMAP(metric="manhattan", random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = umap_learn.UMAP(metric=nb["manhattan"], random_state=0).fit(X)
    t_ours = trustworthiness(X, ours.embedding_, n_neighbors=10)
    t_theirs = trustworthiness(X, theirs.embedding_, n_neighbors=10)
    t_builtin = trustworthiness(X, builtin.embedding_, n_neighbors=10)
    assert t_ours > t_theirs - 0.01
    assert abs(t_ours - t_builtin) < 0.01
    # transform and a pickle round trip keep the compiled metric working
    new = ours.transform(X[:20])
    back = pickle.loads(pickle.dumps(ours))
    np.testing.assert_array_equal(back.transform(X[:20]), new)


def test_numba_output_metric(nb) -> None:
    X = _digits()
    emb = UMAP(output_metric=nb["euclidean_grad"], random_state=0).fit_transform(X)
    ref = UMAP(output_metric="euclidean", random_state=0).fit_transform(X)
    t, t_ref = (trustworthiness(X, e, n_neighbors=10) for e in (emb, ref))
    assert t > t_ref - 0.01
    with pytest.raises(ValueError, match="densMAP"):
        UMAP(output_metric=nb["euclidean_grad"], densmap=True).fit(X)


def test_numba_index_pickle(nb) -> None:
    X = _data(200, 5)
    # one thread: the rebuilt HNSW graph is then the same graph
    index = NNIndex(X, n_neighbors=6, metric=nb["manhattan"], backend="hnsw", n_jobs=1)
    queries = _data(20, 5, seed=3)
    found = index.query(queries, k=4)
    back = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(back.query(queries, k=4)[0], found[0])
    np.testing.assert_array_equal(back.neighbor_graph[0], index.neighbor_graph[0])
