"""The C UMAP stages (umapc._core) against umap-learn's own functions on small real data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from umapc import _core

umap_ = pytest.importorskip("umap.umap_")
umap_spectral = pytest.importorskip("umap.spectral")

N_NEIGHBORS = 15


@pytest.fixture(scope="module")
def digits_knn() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = load_digits().data.astype(np.float32)[:800]
    dists, indices = NearestNeighbors(n_neighbors=N_NEIGHBORS).fit(x).kneighbors(x)
    return x, indices.astype(np.int32), dists.astype(np.float32)


def _csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]):
    return sp.csr_matrix((data, indices, indptr), shape=shape)


@pytest.mark.parametrize(("local_connectivity", "mix"), [(1.0, 1.0), (1.5, 0.4), (2.0, 0.0)])
def test_fuzzy_graph_matches_umap_learn(digits_knn, local_connectivity, mix) -> None:
    x, knn_i, knn_d = digits_knn
    n = len(x)
    indptr, indices, data, sigmas, rhos = _core.fuzzy_simplicial_set(
        knn_i, knn_d, n, local_connectivity=local_connectivity, set_op_mix_ratio=mix
    )
    ours = _csr(indptr, indices, data, (n, n))
    ref, ref_sigmas, ref_rhos = umap_.fuzzy_simplicial_set(
        x,
        N_NEIGHBORS,
        None,
        "euclidean",
        knn_indices=knn_i,
        knn_dists=knn_d,
        local_connectivity=local_connectivity,
        set_op_mix_ratio=mix,
    )
    ref = ref.tocsr()
    ref.eliminate_zeros()
    np.testing.assert_allclose(sigmas, ref_sigmas, rtol=1e-6)
    np.testing.assert_allclose(rhos, ref_rhos, rtol=1e-6)
    assert ours.nnz == ref.nnz
    assert abs(ours - ref).max() < 1e-6
    assert np.all(np.diff(indices[indptr[0] : indptr[1]]) > 0)
    assert np.all(data > 0)


def test_sigma_rho_hit_log2_k(digits_knn) -> None:
    _, knn_i, knn_d = digits_knn
    _, _, _, sigmas, rhos = _core.fuzzy_simplicial_set(knn_i, knn_d, len(knn_i))
    ref_sigmas, ref_rhos = umap_.smooth_knn_dist(knn_d, float(N_NEIGHBORS))
    np.testing.assert_allclose(sigmas, ref_sigmas, rtol=1e-6)
    np.testing.assert_array_equal(rhos, ref_rhos)
    terms = np.exp(-np.maximum(knn_d[:, 1:] - rhos[:, None], 0) / sigmas[:, None])
    np.testing.assert_allclose(terms.sum(axis=1), np.log2(N_NEIGHBORS), atol=1e-3)


def test_transform_memberships_match_umap_learn(digits_knn) -> None:
    x, knn_i, knn_d = digits_knn
    # New points = rows 0..99 against the training set without themselves (bipartite).
    q_i = np.ascontiguousarray(knn_i[:100, 1:])
    q_d = np.ascontiguousarray(knn_d[:100, 1:])
    indptr, indices, data, sigmas, rhos = _core.fuzzy_simplicial_set(
        q_i, q_d, len(x), local_connectivity=0.0, apply_set_operations=False
    )
    ref_sigmas, ref_rhos = umap_.smooth_knn_dist(q_d, float(q_d.shape[1]), local_connectivity=0.0)
    rows, cols, vals, _ = umap_.compute_membership_strengths(
        q_i, q_d, ref_sigmas, ref_rhos, False, True
    )
    ref = sp.coo_matrix((vals, (rows, cols)), shape=(100, len(x))).tocsr()
    ref.eliminate_zeros()
    ours = _csr(indptr, indices, data, (100, len(x)))
    np.testing.assert_allclose(sigmas, ref_sigmas, rtol=1e-6)
    assert abs(ours - ref).max() < 1e-6


@pytest.mark.parametrize(("spread", "min_dist"), [(1.0, 0.1), (1.0, 0.5), (2.0, 0.05)])
def test_find_ab_params_matches_curve_fit(spread, min_dist) -> None:
    a, b = _core.find_ab_params(spread, min_dist)
    ref_a, ref_b = umap_.find_ab_params(spread, min_dist)
    assert abs(a - ref_a) < 1e-3 * max(1.0, ref_a)
    assert abs(b - ref_b) < 1e-3


def test_spectral_layout_matches_umap_learn(digits_knn) -> None:
    x, knn_i, knn_d = digits_knn
    n = len(x)
    indptr, indices, data, _, _ = _core.fuzzy_simplicial_set(knn_i, knn_d, n)
    graph = _csr(indptr, indices, data, (n, n))
    if sp.csgraph.connected_components(graph)[0] != 1:
        pytest.skip("graph not connected")
    ours, converged = _core.spectral_layout(indptr, indices, data, 2, 0)
    assert converged
    ref = umap_spectral.spectral_layout(None, graph, 2, np.random.RandomState(0))
    # Same 2-D subspace: the principal angles between the column spaces are ~0.
    q1, _ = np.linalg.qr(ours.astype(np.float64))
    q2, _ = np.linalg.qr(np.asarray(ref, dtype=np.float64))
    cosines = np.linalg.svd(q1.T @ q2, compute_uv=False)
    assert cosines.min() > 0.999
    again, _ = _core.spectral_layout(indptr, indices, data, 2, 0, n_jobs=1)
    np.testing.assert_array_equal(ours, again)


def test_spectral_layout_of_nearly_disconnected_clusters_stops() -> None:
    """Many cliques joined by weights of 1e-7 (what rows repeated beyond n_neighbors make): the low
    eigenvalues lie within 1e-7 of each other and the residuals barely shrink. The solver stops
    once they stall (it ran for minutes before) and returns a layout that tells the cliques
    apart: each clique's points close together, far from the others."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(12, 20, 300)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n = int(starts[-1])
    rows, cols = [], []
    for s, e in zip(starts[:-1], starts[1:]):
        block = np.arange(s, e)
        rows.append(np.repeat(block, len(block)))
        cols.append(np.tile(block, len(block)))
    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = r != c
    w = np.ones(int(keep.sum()))
    bridges = rng.integers(0, n, (2, 2 * n))
    r = np.concatenate([r[keep], bridges[0], bridges[1]])
    c = np.concatenate([c[keep], bridges[1], bridges[0]])
    w = np.concatenate([w, np.full(4 * n, 1e-7)])
    graph = sp.csr_matrix((w, (r, c)), shape=(n, n))
    graph.sum_duplicates()
    assert sp.csgraph.connected_components(graph)[0] == 1
    steps: list[int] = []
    layout, converged = _core.spectral_layout(
        graph.indptr.astype(np.int32),
        graph.indices.astype(np.int32),
        graph.data.astype(np.float32),
        2,
        0,
        callback=lambda stage, done, total: steps.append(done),
    )
    assert converged
    assert max(steps) <= 100
    labels = np.repeat(np.arange(len(sizes)), sizes)
    centres = np.array([layout[labels == g].mean(0) for g in range(len(sizes))])
    within = np.mean([layout[labels == g].std(0).sum() for g in range(len(sizes))])
    assert within < 0.1 * centres.std(0).sum()


def test_spectral_layout_of_a_small_graph_is_dense_and_exact() -> None:
    """Graphs of up to 128 vertices are decomposed densely: the eigenvectors of scipy's dense
    eigh of the normalised Laplacian (the same columns up to sign)."""
    rng = np.random.default_rng(4)
    points = rng.normal(size=(60, 3))
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    w = np.exp(-(d**2))
    np.fill_diagonal(w, 0.0)
    graph = sp.csr_matrix(w * (w > 0.05))
    ours, converged = _core.spectral_layout(
        graph.indptr.astype(np.int32),
        graph.indices.astype(np.int32),
        graph.data.astype(np.float32),
        2,
        0,
    )
    assert converged
    dense = graph.toarray()
    isd = 1.0 / np.sqrt(dense.sum(1))
    values, vectors = np.linalg.eigh(np.eye(60) - isd[:, None] * dense * isd[None, :])
    assert values[2] - values[1] > 1e-3 and values[3] - values[2] > 1e-3  # separated pairs
    for k in range(2):
        np.testing.assert_allclose(np.abs(ours[:, k]), np.abs(vectors[:, k + 1]), atol=2e-5)


def test_rescale_embedding(digits_knn) -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 2)).astype(np.float32) * 0.01
    _core.rescale_embedding(emb, 3, True)
    np.testing.assert_allclose(emb.min(axis=0), 0.0)
    np.testing.assert_allclose(emb.max(axis=0), 10.0, rtol=1e-6)
    with pytest.raises(TypeError):
        _core.rescale_embedding(emb.astype(np.float64), 3, True)


@pytest.fixture(scope="module")
def digits_graph(digits_knn):
    x, knn_i, knn_d = digits_knn
    indptr, indices, data, _, _ = _core.fuzzy_simplicial_set(knn_i, knn_d, len(x))
    init, _ = _core.spectral_layout(indptr, indices, data, 2, 0)
    _core.rescale_embedding(init, 0, True)
    return x, indptr, indices, data, init


def test_deterministic_layout_is_identical_for_any_n_jobs(digits_graph) -> None:
    _, indptr, indices, data, init = digits_graph
    runs = []
    for n_jobs in (1, 2, 3):
        emb = init.copy()
        _core.optimize_layout(
            emb, None, indptr, indices, data, 100, 1.577, 0.895, seed=42, n_jobs=n_jobs
        )
        runs.append(emb)
    assert runs[0].tobytes() == runs[1].tobytes() == runs[2].tobytes()
    other = init.copy()
    _core.optimize_layout(other, None, indptr, indices, data, 100, 1.577, 0.895, seed=43)
    assert other.tobytes() != runs[0].tobytes()


def test_layout_quality_close_to_umap_learn(digits_graph) -> None:
    x, indptr, indices, data, init = digits_graph
    a, b = _core.find_ab_params(1.0, 0.1)
    ours = {}
    for seed in (-1, 0):
        emb = init.copy()
        _core.optimize_layout(emb, None, indptr, indices, data, 500, a, b, seed=seed)
        ours[seed] = trustworthiness(x, emb, n_neighbors=N_NEIGHBORS)
    # umap-learn's own trustworthiness on these 800 digits is ~0.98; the spectral init alone ~0.9.
    init_trust = trustworthiness(x, init, n_neighbors=N_NEIGHBORS)
    for trust in ours.values():
        assert trust > 0.97
        assert trust > init_trust + 0.03


def test_transform_keeps_tail_and_moves_head(digits_graph) -> None:
    x, indptr, indices, data, init = digits_graph
    train = init.copy()
    _core.optimize_layout(train, None, indptr, indices, data, 50, 1.577, 0.895, seed=1)
    before = train.copy()
    graph = _csr(indptr, indices, data, (len(x), len(x)))[:50]
    new = _core.init_transform(graph.indptr, graph.indices, graph.data, train)
    weights = graph.toarray()
    expected = np.where(
        (weights == 1).any(axis=1)[:, None],
        train[np.argmax(weights == 1, axis=1)],
        (weights / weights.sum(axis=1, keepdims=True)) @ train,
    )
    np.testing.assert_allclose(new, expected, rtol=1e-4, atol=1e-4)
    _core.optimize_layout(
        new,
        train,
        graph.indptr,
        graph.indices,
        graph.data,
        30,
        1.577,
        0.895,
        learning_rate=0.25,
        seed=3,
    )
    np.testing.assert_array_equal(train, before)
    assert np.isfinite(new).all()


def test_bad_arguments_raise(digits_knn) -> None:
    _, knn_i, knn_d = digits_knn
    with pytest.raises(ValueError):
        _core.fuzzy_simplicial_set(knn_i, knn_d[:, :5], len(knn_i))
    with pytest.raises(ValueError):
        _core.fuzzy_simplicial_set(knn_i, knn_d, 10)  # neighbours out of range
    with pytest.raises(ValueError):
        _core.find_ab_params(-1.0, 0.1)
    with pytest.raises(ValueError):
        _core.spectral_layout(np.array([0, 1]), np.array([5]), np.array([1.0]), 2, 0)
