"""Optimal transport (kantorovich / wasserstein, sinkhorn) and umap-learn's discrete metrics
(categorical, ordinal, count) in C: distances against pynndescent's and umap-learn's functions,
exact NNIndex graphs against brute force with them, index files, bad metric_kwds, and supervised
UMAP with ordinal and count targets against umap-learn's own intersection."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse

from umapc import UMAP, NNIndex, _core
from umapc._validation import resolve_metric

pynnd = pytest.importorskip("pynndescent.distances")
pynn_ot = pytest.importorskip("pynndescent.optimal_transport")
umapd = pytest.importorskip("umap.distances")

DIM = 9
_RNG = np.random.default_rng(11)
_POINTS = _RNG.normal(size=(DIM, 2))
# ground distances between the bins' points: a metric cost, as optimal transport is used
COST = np.sqrt(((_POINTS[:, None] - _POINTS[None]) ** 2).sum(-1)).astype(np.float32)
COST64 = COST.astype(np.float64)  # what the float32 cost holds, for the references


def _histograms(n: int, seed: int, zeros: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((n, DIM))
    if zeros:
        x[x < 0.35] = 0.0  # pynndescent restricts the problem to the nonzero bins
        x[x.sum(axis=1) == 0, 0] = 1.0
    return x.astype(np.float32)


def _labels(n: int, seed: int, high: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, high, (n, 1)).astype(np.float32)


def _pairwise(name, kwds, x, y=None):
    canonical, p, params = resolve_metric(name, kwds)
    return _core.pairwise_distances(x, y, metric=canonical, p=p, params=params)


def _matrix(ref, x, y=None):
    y = x if y is None else y
    return np.array([[ref(a, b) for b in y] for a in x], dtype=np.float64)


def _sinkhorn_reference(regularization):
    """pynndescent's Sinkhorn plan between the normalised nonzero bins. (Its ``sinkhorn`` hands
    the plan the unnormalised full rows and sums over the full cost, which agrees with this on
    rows of sum 1 without zero bins: ``test_sinkhorn_is_pynndescents_on_full_histograms``.)"""

    def ref(x, y):
        rx, ry = x != 0, y != 0
        a, b = x[rx].astype(np.float64), y[ry].astype(np.float64)
        sub = COST64[rx][:, ry]
        plan = pynn_ot.sinkhorn_transport_plan(
            a / a.sum(), b / b.sum(), cost=sub, regularization=regularization
        )
        return float((plan * sub).sum())

    return ref


def _f64(f):
    return lambda x, y: f(x.astype(np.float64), y.astype(np.float64))


def _scalar(f, **kwds):
    return lambda x, y: f(float(x[0]), float(y[0]), **kwds)


# name, metric_kwds, data, reference, relative tolerance
CASES = [
    (
        "kantorovich",
        {"cost": COST},
        "hist",
        _f64(lambda x, y: pynnd.kantorovich(x, y, COST64)),
        1e-5,
    ),
    (
        "wasserstein",
        {"cost": COST, "max_iter": 500},
        "hist",
        _f64(lambda x, y: pynnd.kantorovich(x, y, COST64, 500)),
        1e-5,
    ),
    # Sinkhorn stops at a relative plan change of 1e-9 or a marginal error of 1e-9: the values
    # agree to about 1e-7, not to the last bit of the iteration order
    ("sinkhorn", {"cost": COST}, "hist", _sinkhorn_reference(1.0), 1e-5),
    ("sinkhorn", {"cost": COST, "regularization": 0.2}, "hist", _sinkhorn_reference(0.2), 1e-5),
    ("categorical", {}, "labels", _scalar(umapd.categorical_distance), 0),
    ("ordinal", {}, "labels", _scalar(umapd.ordinal_distance), 1e-6),
    (
        "ordinal",
        {"support_size": 2.5},
        "labels",
        _scalar(umapd.ordinal_distance, support_size=2.5),
        1e-6,
    ),
    ("count", {}, "counts", _scalar(umapd.count_distance), 1e-5),
    (
        "count",
        {"poisson_lambda": 3.0, "normalisation": -2.0},
        "counts",
        _scalar(umapd.count_distance, poisson_lambda=3.0, normalisation=-2.0),
        1e-5,
    ),
]
IDS = [f"{c[0]}-{'-'.join(c[1])}" for c in CASES]


def _data(kind: str, n: int, seed: int) -> np.ndarray:
    if kind == "hist":
        return _histograms(n, seed)
    if kind == "labels":
        return _labels(n, seed)
    # counts on both sides of 10, where umap-learn's log-factorial changes form
    return np.random.default_rng(seed).integers(1, 16, (n, 1)).astype(np.float32)


@pytest.mark.parametrize(("name", "kwds", "kind", "ref", "rtol"), CASES, ids=IDS)
def test_distance_matches_reference(name, kwds, kind, ref, rtol):
    x = _data(kind, 30, 1)
    got = _pairwise(name, kwds, x).astype(np.float64)
    want = _matrix(ref, x)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


def test_sinkhorn_is_pynndescents_on_full_histograms():
    x = _histograms(12, 2, zeros=False)
    x = (x / x.sum(axis=1, keepdims=True)).astype(np.float32)
    got = _pairwise("sinkhorn", {"cost": COST}, x)
    want = _matrix(_f64(lambda a, b: pynnd.sinkhorn(a, b, COST64)), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_kantorovich_is_exact():
    """On bins along a line with cost |i - j| the optimum is the 1-d Wasserstein distance; and
    it never exceeds Sinkhorn's plan, which pays for its entropy."""
    line = np.abs(np.subtract.outer(np.arange(DIM), np.arange(DIM))).astype(np.float32)
    x = _histograms(25, 3)
    exact = _pairwise("kantorovich", {"cost": line}, x)
    np.testing.assert_allclose(exact, _pairwise("wasserstein_1d", {}, x), rtol=1e-5, atol=1e-6)
    assert np.all(exact <= _pairwise("sinkhorn", {"cost": line}, x) + 1e-6)
    # max_iter=1: one pivot from the north-west corner plan: feasible, never below the optimum
    capped = _pairwise("kantorovich", {"cost": line, "max_iter": 1}, x)
    assert np.all(capped >= exact - 1e-6)


@pytest.mark.parametrize(("name", "kwds", "kind", "ref", "rtol"), CASES, ids=IDS)
def test_exact_graph_equals_brute_force(name, kwds, kind, ref, rtol):
    # pynndescent's Sinkhorn plan runs numba's parallel loops: a slow reference per pair
    n, k = (30 if name == "sinkhorn" else 60), 6
    x = _data(kind, n, 4)
    index = NNIndex(x, n_neighbors=k, metric=name, metric_kwds=kwds, backend="exact")
    ind, dist = index.neighbor_graph
    # each row first at 0, as in every umapc graph (Sinkhorn's d(x, x) is its entropy's price,
    # not 0), then its k - 1 nearest others
    assert np.array_equal(ind[:, 0], np.arange(n)) and np.all(dist[:, 0] == 0)
    others = _matrix(ref, x)
    np.fill_diagonal(others, np.inf)
    want = np.sort(others, axis=1)[:, : k - 1]
    np.testing.assert_allclose(dist[:, 1:], want, rtol=max(rtol, 1e-5), atol=1e-6)
    q = _data(kind, 5, 5)
    _, qdist = index.query(q, k=k)
    np.testing.assert_allclose(
        qdist, np.sort(_matrix(ref, q, x), axis=1)[:, :k], rtol=max(rtol, 1e-5), atol=1e-6
    )


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
@pytest.mark.parametrize(
    ("name", "kwds", "kind"),
    [
        ("kantorovich", {"cost": COST, "max_iter": 1000}, "hist"),
        ("sinkhorn", {"cost": COST, "regularization": 0.5}, "hist"),
        ("ordinal", {"support_size": 3.0}, "labels"),
        ("count", {"poisson_lambda": 2.0}, "counts"),
    ],
)
def test_index_save_load_and_pickle(tmp_path, backend, name, kwds, kind):
    x = _data(kind, 80, 6)
    q = _data(kind, 6, 7)
    index = NNIndex(x, n_neighbors=4, metric=name, metric_kwds=kwds, backend=backend)
    before = index.query(q, k=4)
    path = tmp_path / "index.umapc"
    index.save(path)
    for other in (NNIndex.load(path), pickle.loads(pickle.dumps(index))):
        after = other.query(q, k=4)
        np.testing.assert_array_equal(before[1], after[1])
        np.testing.assert_array_equal(other._metric_params, index._metric_params)


@pytest.mark.parametrize(
    ("name", "kwds", "x", "match"),
    [
        ("kantorovich", {}, _histograms(5, 0), "needs metric_kwds\\['cost'\\]"),
        ("kantorovich", {"cost": COST[:4, :4]}, _histograms(5, 0), "shape \\(9, 9\\)"),
        ("kantorovich", {"cost": COST[:, :4]}, _histograms(5, 0), "square"),
        ("kantorovich", {"cost": -COST}, _histograms(5, 0), "cost matrix >= 0"),
        ("sinkhorn", {"cost": np.where(COST > 1, np.nan, COST)}, _histograms(5, 0), "finite"),
        ("sinkhorn", {"cost": np.full((DIM, DIM), np.inf)}, _histograms(5, 0), "finite"),
        ("kantorovich", {"cost": COST, "max_iter": 0}, _histograms(5, 0), "max_iter >= 1"),
        ("kantorovich", {"cost": COST, "max_iter": 2.5}, _histograms(5, 0), "integer"),
        ("sinkhorn", {"cost": COST, "regularization": 0.0}, _histograms(5, 0), "regularization"),
        ("sinkhorn", {"cost": COST, "epsilon": 1.0}, _histograms(5, 0), "not parameters"),
        ("kantorovich", {"cost": COST}, -_histograms(5, 0), "nonnegative"),
        ("kantorovich", {"cost": COST}, np.zeros((3, DIM), np.float32), "positive sum"),
        ("ordinal", {}, _histograms(5, 0), "one value per row"),
        ("ordinal", {"support_size": 0}, _labels(5, 0), "support_size > 0"),
        ("count", {"poisson_lambda": -1.0}, _labels(5, 0), "poisson_lambda > 0"),
        ("count", {"normalisation": 0.0}, _labels(5, 0), "normalisation"),
        ("count", {}, -_labels(5, 0), "nonnegative"),
        ("count", {}, np.full((2, 1), 1e7, np.float32), "counts up to"),
        ("categorical", {"support_size": 1.0}, _labels(5, 0), "not parameters"),
    ],
)
def test_bad_kwds_and_data_raise_value_error(name, kwds, x, match):
    with pytest.raises(ValueError, match=match):
        NNIndex(x, n_neighbors=2, metric=name, metric_kwds=kwds, backend="exact")


def test_umap_fits_with_transport_and_label_metrics():
    x = _histograms(120, 8)
    model = UMAP(n_neighbors=8, metric="kantorovich", metric_kwds={"cost": COST}, n_epochs=30)
    emb = model.fit(x).transform(_histograms(4, 9))
    assert emb.shape == (4, 2) and np.all(np.isfinite(model.embedding_))
    labels = _labels(120, 10)
    emb = UMAP(n_neighbors=8, metric="categorical", n_epochs=30, random_state=0).fit_transform(
        labels
    )
    assert np.all(np.isfinite(emb))


@pytest.mark.parametrize("name", ["string", "myers", "hierarchical_categorical"])
def test_names_still_refused_say_why(name):
    with pytest.raises(NotImplementedError, match="not implemented in umapc: it "):
        UMAP(metric=name).fit(_labels(20, 0))
    with pytest.raises(NotImplementedError, match=f"target_metric='{name}'"):
        UMAP(target_metric=name, n_epochs=5).fit(_histograms(20, 0), np.arange(20) % 3)


# ------------------------------------------------------------------ supervised UMAP


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:700].astype(np.float32), y[:700]


@pytest.mark.parametrize(("metric", "shift"), [("ordinal", 0), ("count", 1)])
def test_target_intersection_matches_umap_learn(digits, metric, shift):
    """The same data graph intersected with the target: umap-learn's
    discrete_metric_simplicial_set_intersection with its get_discrete_params, against what
    umapc's fit applies."""
    from umap.umap_ import discrete_metric_simplicial_set_intersection

    x, y = digits
    y = y + shift
    graph = UMAP(random_state=0).fit(x).graph_.tocsr()
    want = discrete_metric_simplicial_set_intersection(
        graph.copy(),
        y,
        metric=metric,
        metric_kws=umapd.get_discrete_params(y, metric),
        metric_scale=5.0,  # target_weight=0.5
    ).tocsr()
    model = UMAP(target_metric=metric)
    model._target_metric_kwds = {}
    target = model._check_target(y, len(y))
    name, p, params = resolve_metric(metric, model._discrete_target_kwds(target))
    indptr, indices, data = _core.metric_graph(
        graph.indptr, graph.indices, graph.data, target, name, p, params, 5.0
    )
    got = scipy.sparse.csr_matrix((data, indices, indptr), shape=graph.shape)
    assert got.nnz == want.nnz
    assert abs(got - want).max() < 1e-6


@pytest.mark.parametrize(("metric", "shift"), [("ordinal", 0), ("count", 1)])
def test_supervised_fit_as_good_as_umap_learn(digits, metric, shift):
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    umap = pytest.importorskip("umap")
    x, y = digits
    y = y + shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = umap.UMAP(target_metric=metric, random_state=0).fit_transform(x, y)
    ours = UMAP(target_metric=metric, random_state=0).fit_transform(x, y)

    def accuracy(e):
        return cross_val_score(KNeighborsClassifier(10), e, y, cv=5).mean()

    assert accuracy(ours) >= accuracy(ref) - 0.01
    assert (
        trustworthiness(x, ours, n_neighbors=10) >= trustworthiness(x, ref, n_neighbors=10) - 0.01
    )


def test_count_target_from_zero_raises():
    """umap-learn's count distance takes log(0) for counts from 0 (an infinite normalisation,
    NaN weights in its fit): umapc says so."""
    x = _histograms(50, 12)
    y = np.arange(50) % 5
    with pytest.raises(ValueError, match="normalisation"):
        UMAP(target_metric="count", n_epochs=5).fit(x, y)
    UMAP(target_metric="count", n_epochs=5, target_metric_kwds={"normalisation": -3.0}).fit(
        x, y + 1
    )
    with pytest.raises(ValueError, match="two distinct values"):
        UMAP(target_metric="ordinal", n_epochs=5).fit(x, np.ones(50))


# ------------------------------------------------------------------ sparse wasserstein_1d


def _sparse_histograms(n: int, seed: int):
    x = scipy.sparse.random(n, 40, density=0.15, format="csr", random_state=seed, dtype=np.float32)
    x = scipy.sparse.csr_matrix(x + scipy.sparse.eye(n, 40, k=seed % 7, dtype=np.float32))
    x.sort_indices()
    return x


@pytest.mark.parametrize("p", [1, 2])
def test_sparse_wasserstein_1d_is_the_dense_metric_and_pynndescents(p):
    pynn_sparse = pytest.importorskip("pynndescent.sparse")
    x, q = _sparse_histograms(50, 1), _sparse_histograms(6, 2)
    dense = _pairwise("wasserstein_1d", {"p": p}, q.toarray(), x.toarray())
    index = NNIndex(x, n_neighbors=5, metric="wasserstein_1d", metric_kwds={"p": p})
    _, dist = index.query(q, k=5)
    np.testing.assert_allclose(dist, np.sort(dense, axis=1)[:, :5], rtol=1e-5, atol=1e-7)
    want = np.array(
        [
            [
                pynn_sparse.sparse_wasserstein_1d(a.indices, a.data, b.indices, b.data, p)
                for b in (x[j] for j in range(x.shape[0]))
            ]
            for a in (q[i] for i in range(q.shape[0]))
        ]
    )
    np.testing.assert_allclose(dense, want, rtol=1e-5, atol=1e-6)
    _, gdist = index.neighbor_graph
    full = _pairwise("wasserstein_1d", {"p": p}, x.toarray())
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(gdist[:, 1:], np.sort(full, axis=1)[:, :4], rtol=1e-5, atol=1e-7)


def test_sparse_wasserstein_1d_refuses_rows_without_mass():
    x = _sparse_histograms(20, 3).tolil()
    x[4, :] = 0
    with pytest.raises(ValueError, match="positive sum"):
        NNIndex(x.tocsr(), n_neighbors=3, metric="wasserstein_1d")
    with pytest.raises(ValueError, match="no sparse kernel"):
        NNIndex(
            _sparse_histograms(20, 3),
            n_neighbors=3,
            metric="kantorovich",
            metric_kwds={"cost": np.ones((40, 40))},
        )
