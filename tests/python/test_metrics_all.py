"""The metrics beyond scipy's common ones (seuclidean ... softmax_hellinger): distances against
pynndescent's (or umap-learn's) numba functions and scipy, and every path a metric name reaches:
exact k-NN, NN-descent, HNSW through NNIndex, save/load, UMAP fit and transform."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats

from umapc import UMAP, NNIndex, _core
from umapc._validation import resolve_metric
from umapc.umap_ import _UMAP_LEARN_ONLY_METRICS

pynnd = pytest.importorskip("pynndescent.distances")
umapd = pytest.importorskip("umap.distances")

RTOL = 1e-5
ATOL = 1e-6
N, DIM = 40, 7


def _data(kind: str, n: int = N, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Rows of the shape a metric expects."""
    rng = np.random.default_rng(seed)
    if kind == "gauss":
        x = rng.normal(size=(n, dim))
    elif kind == "ties":  # integers: spearmanr's tied ranks
        x = np.round(rng.normal(size=(n, dim)))
    elif kind == "binary":
        x = rng.random((n, dim)) > 0.5
    elif kind == "prob":
        x = rng.random((n, dim))
        x[0, :2] = 0.0  # zero bins
    elif kind == "counts":
        x = rng.integers(0, 6, (n, dim))
        x[:, 0] += 1  # positive sums
    elif kind == "angles":  # (latitude, longitude) in radians
        x = np.stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-3.1, 3.1, n)], axis=1)
    elif kind == "ball":  # inside the unit ball
        g = rng.normal(size=(n, dim))
        x = g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(0.05, 0.9, (n, 1))
    elif kind == "bits":  # packed bit rows, one byte per column
        x = np.packbits(rng.random((n, 8 * dim)) > 0.6, axis=1)
    elif kind == "dense bits":  # bit_jaccard below umap-learn's disconnection distance 1
        x = np.packbits(rng.random((n, 8 * dim)) > 0.15, axis=1)
    else:
        raise AssertionError(kind)
    return np.ascontiguousarray(x, dtype=np.float32)


_RNG = np.random.default_rng(1)
V = (_RNG.random(DIM) + 0.5).astype(np.float32)
W = _RNG.random(DIM).astype(np.float32)
_M = _RNG.normal(size=(DIM, DIM))
VI = (_M @ _M.T / DIM + np.eye(DIM)).astype(np.float32)


def _f64(x):
    return x.astype(np.float64)


def _u8(f):
    return lambda x, y: f(x.astype(np.uint8), y.astype(np.uint8))


# name, metric_kwds, data kind, reference (the definition umapc follows)
CASES = [
    ("seuclidean", {"V": V}, "gauss", lambda x, y: pynnd.standardised_euclidean(x, y, V)),
    ("wminkowski", {"w": W, "p": 3}, "gauss", lambda x, y: pynnd.weighted_minkowski(x, y, W, 3)),
    ("wminkowski", {"w": W}, "gauss", lambda x, y: pynnd.weighted_minkowski(x, y, W, 2)),
    ("mahalanobis", {"VI": VI}, "gauss", lambda x, y: pynnd.mahalanobis(x, y, VI)),
    ("haversine", {}, "angles", pynnd.haversine),
    ("spearmanr", {}, "gauss", pynnd.spearmanr),
    ("spearmanr", {}, "ties", pynnd.spearmanr),
    ("dice", {}, "binary", pynnd.dice),
    ("kulsinski", {}, "binary", pynnd.kulsinski),
    ("matching", {}, "binary", pynnd.matching),
    ("rogerstanimoto", {}, "binary", pynnd.rogers_tanimoto),
    ("russellrao", {}, "binary", pynnd.russellrao),
    ("sokalmichener", {}, "binary", pynnd.sokal_michener),
    ("sokalsneath", {}, "binary", pynnd.sokal_sneath),
    ("yule", {}, "binary", pynnd.yule),
    ("jensen_shannon", {}, "prob", pynnd.jensen_shannon_divergence),
    ("symmetric_kl", {}, "prob", pynnd.symmetric_kl_divergence),
    # umap-learn's ll_dirichlet sums the rows in their own dtype: float32 sums put 5e-5 of
    # cancellation error into its result, so the reference gets float64 rows.
    ("ll_dirichlet", {}, "counts", lambda x, y: umapd.ll_dirichlet(_f64(x), _f64(y))),
    ("wasserstein_1d", {}, "prob", pynnd.wasserstein_1d),
    ("wasserstein_1d", {"p": 2}, "prob", lambda x, y: pynnd.wasserstein_1d(x, y, 2)),
    ("circular_kantorovich", {}, "prob", pynnd.circular_kantorovich),
    ("circular_kantorovich", {"p": 2}, "prob", lambda x, y: pynnd.circular_kantorovich(x, y, 2)),
    ("circular_kantorovich", {"p": 3}, "prob", lambda x, y: pynnd.circular_kantorovich(x, y, 3)),
    ("poincare", {}, "ball", umapd.poincare),
    ("true_angular", {}, "gauss", pynnd.true_angular),
    ("tsss", {}, "gauss", pynnd.tsss),
    ("bit_hamming", {}, "bits", _u8(pynnd.bit_hamming)),
    ("bit_jaccard", {}, "bits", _u8(pynnd.bit_jaccard)),
    ("softmax_hellinger", {}, "gauss", umapd.softmax_hellinger),
]
IDS = [f"{c[0]}-{c[2]}-{'-'.join(f'{k}' for k in c[1])}" for c in CASES]

# scipy's functions for the metrics scipy has (same definitions on these data).
SCIPY = {
    "seuclidean": lambda x, y: ssd.seuclidean(x, y, V),
    "wminkowski": lambda x, y: ssd.minkowski(x, y, 3, W),
    "mahalanobis": lambda x, y: ssd.mahalanobis(x, y, VI),
    "spearmanr": lambda x, y: 1.0 - scipy.stats.spearmanr(x, y)[0],
    "dice": lambda x, y: ssd.dice(x != 0, y != 0),
    "matching": lambda x, y: ssd.hamming(x != 0, y != 0),
    "rogerstanimoto": lambda x, y: ssd.rogerstanimoto(x != 0, y != 0),
    "sokalmichener": lambda x, y: ssd.rogerstanimoto(x != 0, y != 0),
}


def _params(name, kwds):
    return resolve_metric(name, kwds)


def _reference_matrix(ref, x, y=None):
    y = x if y is None else y
    return np.array([[ref(a.copy(), b.copy()) for b in y] for a in x], dtype=np.float64)


def _pairwise(name, kwds, x, y=None):
    canonical, p, params = _params(name, kwds)
    return _core.pairwise_distances(x, y, metric=canonical, p=p, params=params)


@pytest.mark.parametrize(("name", "kwds", "kind", "ref"), CASES, ids=IDS)
def test_distance_matches_reference(name, kwds, kind, ref):
    x = _data(kind)
    got = _pairwise(name, kwds, x).astype(np.float64)
    want = _reference_matrix(ref, x)
    # The references give NaN where umapc gives a number: ll_dirichlet and tsss on a row and
    # itself (a radicand or cosine rounded past its bound), which umapc clamps to 0.
    finite = np.isfinite(want) | np.isinf(want)
    assert np.all(np.isfinite(got) | np.isinf(got))
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL, atol=ATOL)
    assert np.all(np.isfinite(got[~finite]))
    if name == "ll_dirichlet" or name == "tsss":
        assert np.all(np.diag(got) >= 0)


@pytest.mark.parametrize("name", sorted(SCIPY))
def test_distance_matches_scipy(name):
    kwds, kind = next((c[1], c[2]) for c in CASES if c[0] == name)
    if name == "wminkowski":
        kwds = {"w": W, "p": 3}
    x = _data(kind, n=15)
    got = _pairwise(name, kwds, x).astype(np.float64)
    want = _reference_matrix(SCIPY[name], x)
    np.fill_diagonal(want, 0.0)  # scipy's spearmanr of a row with itself rounds to 1 - 1
    np.fill_diagonal(got, 0.0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_haversine_matches_sklearn():
    from sklearn.metrics.pairwise import haversine_distances

    x = _data("angles")
    np.testing.assert_allclose(
        _pairwise("haversine", {}, x),
        haversine_distances(x.astype(np.float64)),
        rtol=RTOL,
        atol=1e-6,
    )


def test_true_angular_is_pynndescents_formula():
    """pynndescent's true_angular is 1 - angle / pi: 1 for equal directions (its docstring says 0),
    FLT_MAX for obtuse pairs; umapc computes the same, and its searches order by it."""
    x = np.array([[1, 0], [1, 1], [-1, 0.1], [0, 0]], np.float32)
    d = _pairwise("true_angular", {}, x)
    assert d[0, 0] == pytest.approx(1.0) and d[0, 1] == pytest.approx(0.75)
    assert d[0, 2] == np.finfo(np.float32).max and d[0, 3] == np.finfo(np.float32).max
    assert d[3, 3] == 0.0


ALIASES = {
    "standardised_euclidean": "seuclidean",
    "weighted_minkowski": "wminkowski",
    "jensen-shannon": "jensen_shannon",
    "symmetric-kl": "symmetric_kl",
    "symmetric_kullback_liebler": "symmetric_kl",
    "wasserstein-1d": "wasserstein_1d",
    "kantorovich_1d": "wasserstein_1d",
    "kantorovich-1d": "wasserstein_1d",
    "circular_wasserstein": "circular_kantorovich",
    "direct_cosine": "dot",
}


@pytest.mark.parametrize(("alias", "canonical"), sorted(ALIASES.items()))
def test_aliases(alias, canonical):
    assert _core.metric_info(alias)[0] == canonical
    assert alias in _core.metric_names()


def test_kwds_spellings_and_defaults():
    # pynndescent's own argument names are accepted too; umap-learn's wasserstein default p is 1.
    assert np.array_equal(resolve_metric("seuclidean", {"sigma": V})[2], V)
    assert np.array_equal(resolve_metric("mahalanobis", {"vinv": VI})[2], VI.ravel())
    assert resolve_metric("wasserstein_1d", None)[1] == 1.0
    assert resolve_metric("circular_kantorovich", None)[1] == 1.0
    assert resolve_metric("wminkowski", {"w": W})[1] == 2.0


@pytest.mark.parametrize(
    ("name", "kwds", "match"),
    [
        ("seuclidean", None, r"needs metric_kwds\['V'\]"),
        ("mahalanobis", {}, r"needs metric_kwds\['VI'\]"),
        ("wminkowski", {"p": 3}, r"needs metric_kwds\['w'\]"),
        ("mahalanobis", {"VI": np.ones((3, 4))}, "square"),
        ("seuclidean", {"V": np.ones((3, 1))}, "1-d"),
        ("seuclidean", {"V": [1.0, np.inf]}, "finite"),
        ("seuclidean", {"V": V, "sigma": V}, "both"),
        ("haversine", {"V": V}, "not parameters"),
    ],
)
def test_bad_kwds(name, kwds, match):
    with pytest.raises(ValueError, match=match):
        NNIndex(_data("gauss"), metric=name, metric_kwds=kwds)


@pytest.mark.parametrize(
    ("name", "kwds", "x", "match"),
    [
        ("seuclidean", {"V": np.ones(DIM - 1)}, _data("gauss"), "V of length 7 .*got 6"),
        ("seuclidean", {"V": np.r_[np.ones(DIM - 1), 0.0]}, _data("gauss"), "V > 0"),
        ("wminkowski", {"w": -np.ones(DIM)}, _data("gauss"), "w >= 0"),
        ("mahalanobis", {"VI": np.eye(DIM - 1)}, _data("gauss"), r"shape \(7, 7\)"),
        ("haversine", {}, _data("gauss"), "2 dimensional"),
        ("jensen_shannon", {}, _data("gauss"), "nonnegative"),
        ("symmetric_kl", {}, _data("gauss"), "nonnegative"),
        ("wasserstein_1d", {}, np.zeros((5, 3), np.float32), "positive sum"),
        ("ll_dirichlet", {}, np.zeros((5, 3), np.float32), "positive sum"),
        ("circular_kantorovich", {"p": 1.5}, _data("prob"), "integer p"),
        ("poincare", {}, _data("gauss"), "unit ball"),
        ("bit_hamming", {}, _data("gauss"), "bit-packed"),
        ("bit_jaccard", {}, np.full((4, 3), 256, np.float32), "bit-packed"),
    ],
)
def test_bad_data(name, kwds, x, match):
    with pytest.raises(ValueError, match=match):
        NNIndex(x, n_neighbors=2, metric=name, metric_kwds=kwds)
    with pytest.raises(ValueError, match=match):
        UMAP(metric=name, metric_kwds=kwds, n_neighbors=3, n_epochs=5).fit(np.concatenate([x] * 4))
    canonical, p, params = resolve_metric(name, kwds)
    with pytest.raises(ValueError, match=match):
        _core.pairwise_distances(x, metric=canonical, p=p, params=params)


@pytest.mark.parametrize("name", sorted(_UMAP_LEARN_ONLY_METRICS))
def test_not_implemented_names(name):
    with pytest.raises(NotImplementedError, match="not implemented in umapc: it "):
        UMAP(metric=name).fit(_data("gauss"))


# One case per metric for the search paths (the first of each name in CASES).
SEARCH_CASES = list({c[0]: c for c in CASES}.values())
SEARCH_IDS = [c[0] for c in SEARCH_CASES]


def _kth_reference(ref, x, q, k, self_excluded):
    d = _reference_matrix(ref, q, x)
    if self_excluded:
        np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, :k]


def _distance_recall(got, want):
    """Share of returned distances within the true k-th distance: robust to ties (binary data)."""
    kth = want[:, -1:]
    return float(np.mean(got <= kth * (1 + 1e-5) + 1e-6))


@pytest.mark.parametrize(("name", "kwds", "kind", "ref"), SEARCH_CASES, ids=SEARCH_IDS)
def test_search_paths(name, kwds, kind, ref):
    n, k = 300, 10
    x = _data(kind, n=n, seed=3)
    q = _data(kind, n=20, seed=4)
    want = _kth_reference(ref, x, q, k, self_excluded=False)
    # exact backend: the same distances as brute force
    exact = NNIndex(x, n_neighbors=k, metric=name, metric_kwds=kwds, backend="exact")
    idx, dist = exact.query(q, k=k)
    finite = np.isfinite(want)
    np.testing.assert_allclose(dist[finite], want[finite], rtol=1e-4, atol=1e-5)
    # HNSW: recall against brute force with the reference distance
    hnsw = NNIndex(x, n_neighbors=k, metric=name, metric_kwds=kwds, backend="hnsw", random_state=0)
    _, hdist = hnsw.query(q, k=k)
    # true_angular (pynndescent's 1 - angle / pi) grows as directions align: its "nearest" are the
    # most nearly orthogonal rows, a space HNSW's greedy descent navigates poorly.
    assert _distance_recall(hdist, want) >= (0.75 if name == "true_angular" else 0.9)
    # the all-points graph by NN-descent and exactly
    graph = _core.exact_knn_graph(
        x,
        k,
        metric=resolve_metric(name, kwds)[0],
        p=resolve_metric(name, kwds)[1],
        params=resolve_metric(name, kwds)[2],
    )
    nnd = NNIndex(x, n_neighbors=k, metric=name, metric_kwds=kwds, graph_method="nndescent")
    _, gdist = nnd.neighbor_graph
    assert gdist.shape == (n, k)
    assert _distance_recall(gdist[:, 1:], np.sort(graph[1], axis=1)[:, 1:]) >= 0.9


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
@pytest.mark.parametrize(
    ("name", "kwds"),
    [
        ("mahalanobis", {"VI": VI}),
        ("seuclidean", {"V": V}),
        ("wminkowski", {"w": W, "p": 3}),
        ("circular_kantorovich", {"p": 2}),
    ],
)
def test_index_save_load_and_pickle(tmp_path, backend, name, kwds):
    kind = "prob" if name == "circular_kantorovich" else "gauss"
    x = _data(kind, n=200, seed=5)
    q = _data(kind, n=10, seed=6)
    index = NNIndex(x, n_neighbors=5, metric=name, metric_kwds=kwds, backend=backend)
    before = index.query(q, k=5)
    path = tmp_path / "index.umapc"
    index.save(path)
    for other in (NNIndex.load(path), pickle.loads(pickle.dumps(index))):
        after = other.query(q, k=5)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])
        assert other._p == index._p
        if index._metric_params is not None:
            np.testing.assert_array_equal(other._metric_params, index._metric_params)


def test_index_file_with_other_params_is_refused(tmp_path):
    """The parameters are under the checksum: a file whose VI was altered is corrupt."""
    x = _data("gauss", n=50)
    index = NNIndex(x, n_neighbors=3, metric="mahalanobis", metric_kwds={"VI": VI})
    blob = bytearray(index._core_index().serialize(index._meta()))
    blob[64] ^= 0x40  # first byte of VI, right after the 64-byte header
    from umapc.index import CorruptIndexError

    with pytest.raises(CorruptIndexError):
        _core.Index.deserialize(bytes(blob))


@pytest.mark.parametrize(("name", "kwds", "kind", "ref"), SEARCH_CASES, ids=SEARCH_IDS)
def test_umap_fit_transform(name, kwds, kind, ref):
    kind = "dense bits" if name == "bit_jaccard" else kind
    x = _data(kind, n=90, seed=7)
    model = UMAP(n_neighbors=8, metric=name, metric_kwds=kwds, n_epochs=30, random_state=0)
    emb = model.fit_transform(x)
    assert emb.shape == (90, 2) and np.all(np.isfinite(emb))
    new = model.transform(_data(kind, n=5, seed=8))
    assert new.shape == (5, 2) and np.all(np.isfinite(new))
