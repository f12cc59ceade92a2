"""Sparse (scipy CSR/CSC/COO) input through NNIndex and UMAP, against independent references:
exact search on the densified rows with scipy's cdist, and umap-learn fitted on the same sparse
matrix in the same test."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from umapc import UMAP, NNIndex
from umapc.index import CorruptIndexError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SCIPY = {"euclidean": "euclidean", "manhattan": "cityblock", "cosine": "cosine"}


def hellinger(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hellinger distance as umap-learn defines it (rows normalised to sum 1 inside)."""
    ra = np.sqrt(a / np.maximum(a.sum(1, keepdims=True), 1e-300))
    rb = np.sqrt(b / np.maximum(b.sum(1, keepdims=True), 1e-300))
    return np.sqrt(np.maximum(1.0 - ra @ rb.T, 0.0))


def reference(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return hellinger(a, b) if metric == "hellinger" else cdist(a, b, SCIPY[metric])


@pytest.fixture(scope="module")
def counts() -> sp.csr_matrix:
    """Clustered non-negative sparse rows (topics of a few hundred words), like a bag of words."""
    rng = np.random.default_rng(3)
    n, d, topics = 1500, 400, 6
    profile = rng.dirichlet(np.full(d, 0.05), size=topics)
    label = rng.integers(0, topics, n)
    dense = np.stack([rng.multinomial(40, profile[t]) for t in label]).astype(np.float32)
    return sp.csr_matrix(dense)


def recall(found: np.ndarray, dist: np.ndarray, k: int) -> float:
    """Fraction of returned neighbours within the exact k-th distance (ties count as found)."""
    kth = np.sort(dist, axis=1)[:, k - 1 : k]
    got = np.take_along_axis(dist, found[:, :k], axis=1)
    return float((got <= kth * (1 + 1e-5) + 1e-6).mean())


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine", "hellinger"])
def test_sparse_neighbor_graph_and_query_match_exact(counts: sp.csr_matrix, metric: str) -> None:
    dense = counts.toarray()
    exact = reference(dense, dense, metric)
    index = NNIndex(counts, n_neighbors=10, metric=metric, random_state=0)
    indices, distances = index.neighbor_graph
    assert recall(indices, exact, 10) >= 0.99
    np.testing.assert_allclose(
        distances, np.take_along_axis(exact, indices, axis=1), rtol=1e-4, atol=1e-4
    )
    queries = counts[::50] * 2.0
    qi, qd = index.query(queries, k=5)
    want = reference(queries.toarray(), dense, metric)
    assert recall(qi, want, 5) == 1.0
    # dense queries into a sparse index, sparse queries into a dense one: the same answers
    di, dd = index.query(queries.toarray(), k=5)
    np.testing.assert_array_equal(di, qi)
    dense_index = NNIndex(dense, n_neighbors=10, metric=metric, backend="exact")
    si, sd = dense_index.query(queries, k=5)
    np.testing.assert_allclose(sd, qd, rtol=1e-4, atol=1e-5)


def test_sparse_formats_and_index_dtypes_agree(counts: sp.csr_matrix) -> None:
    """CSC, COO, int64 indices, unsorted indices, explicit zeros and duplicate entries all give
    the graph of the canonical matrix; the caller's matrix is never changed."""
    want = NNIndex(counts, n_neighbors=5, backend="exact").neighbor_graph[1]
    messy = counts[:].tocsr()
    messy.indices = messy.indices.astype(np.int64)
    messy.indptr = messy.indptr.astype(np.int64)
    for i in range(messy.shape[0]):  # reverse each row's entries: unsorted indices
        a, b = messy.indptr[i], messy.indptr[i + 1]
        messy.indices[a:b] = messy.indices[a:b][::-1].copy()
        messy.data[a:b] = messy.data[a:b][::-1].copy()
    messy.has_sorted_indices = False
    coo = counts.tocoo()
    rows = np.r_[coo.row, coo.row, [0, 1, 2]]
    cols = np.r_[coo.col, coo.col, [0, 1, 2]]
    vals = np.r_[coo.data * 0.5, coo.data * 0.5, np.zeros(3, np.float32)]
    duplicated = sp.coo_matrix((vals, (rows, cols)), shape=counts.shape)
    before = messy.copy()
    for variant in (counts.tocsc(), counts.tocoo(), messy, duplicated):
        got = NNIndex(variant, n_neighbors=5, backend="exact").neighbor_graph[1]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (messy != before).nnz == 0 and not messy.has_sorted_indices


def test_sparse_index_update_save_load_pickle(counts: sp.csr_matrix, tmp_path: Path) -> None:
    index = NNIndex(counts[:1000], n_neighbors=8, metric="cosine", random_state=1)
    index.update(counts[1000:])
    indices, _ = index.neighbor_graph
    assert indices.shape == (counts.shape[0], 8)
    dense = counts.toarray()
    exact = reference(dense, dense, "cosine")
    assert recall(indices, exact, 8) >= 0.99
    q = counts[::100]
    want = index.query(q, k=4)
    path = tmp_path / "sparse.idx"
    index.save(path)
    loaded = NNIndex.load(path)
    for other in (loaded, pickle.loads(pickle.dumps(index))):
        got = other.query(q, k=4)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    raw = bytearray(path.read_bytes())
    for at in (0, 20, len(raw) // 2, len(raw) - 2):
        broken = bytearray(raw)
        broken[at] ^= 0x5A
        path.write_bytes(bytes(broken))
        with pytest.raises(CorruptIndexError):
            NNIndex.load(path)
    path.write_bytes(bytes(raw[:-7]))
    with pytest.raises(CorruptIndexError):
        NNIndex.load(path)


def test_sparse_refusals(counts: sp.csr_matrix) -> None:
    with pytest.raises(ValueError, match="hnsw"):
        NNIndex(counts, n_neighbors=5, backend="hnsw")
    with pytest.raises(ValueError, match="sparse"):
        NNIndex(counts, n_neighbors=5, metric="haversine")
    bad = counts.copy()
    bad.data[4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        NNIndex(bad, n_neighbors=5)
    with pytest.raises(ValueError, match="finite"):
        UMAP(n_epochs=5).fit(bad)
    negative = counts.copy()
    negative.data[0] = -1.0
    with pytest.raises(ValueError):
        UMAP(metric="hellinger", n_epochs=5).fit(negative)
    with pytest.raises(ValueError, match="sparse"):
        UMAP(n_epochs=5).fit(counts).inverse_transform(np.zeros((1, 2)))


def test_very_wide_sparse_rows_are_never_densified() -> None:
    """10 million columns: a dense copy would need 40 GB for these 1,000 rows."""
    rng = np.random.default_rng(0)
    n, d = 1000, 10_000_000
    base = rng.integers(0, d, size=(8, 30))
    cols = np.concatenate([np.r_[base[i % 8], rng.integers(0, d, 5)] for i in range(n)])
    rows = np.repeat(np.arange(n), 35)
    x = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, d))
    embedding = UMAP(metric="cosine", n_epochs=30, random_state=0).fit_transform(x)
    assert embedding.shape == (n, 2) and np.isfinite(embedding).all()
    groups = np.arange(n) % 8
    centre = np.stack([embedding[groups == g].mean(0) for g in range(8)])
    spread = np.mean([embedding[groups == g].std(0).mean() for g in range(8)])
    gaps = cdist(centre, centre)[np.triu_indices(8, 1)]
    assert gaps.min() > 2 * spread  # the eight row families come out as eight clusters


def trust(x: sp.csr_matrix, embedding: np.ndarray, metric: str) -> float:
    """Trustworthiness@15 with the input metric (hellinger's distances precomputed)."""
    dense = x.toarray()
    if metric == "hellinger":
        return trustworthiness(
            hellinger(dense, dense), embedding, n_neighbors=15, metric="precomputed"
        )
    return trustworthiness(dense, embedding, n_neighbors=15, metric=metric)


def umap_learn_trust(x: sp.csr_matrix, metric: str, **kw) -> float:
    umap = pytest.importorskip("umap")
    return trust(x, umap.UMAP(metric=metric, random_state=0, **kw).fit_transform(x), metric)


@pytest.mark.parametrize("metric", ["cosine", "hellinger"])
def test_sparse_umap_quality_matches_umap_learn_on_digits(metric: str) -> None:
    x, _ = load_digits(return_X_y=True)
    x = sp.csr_matrix(x.astype(np.float32))
    ours = np.mean(
        [trust(x, UMAP(metric=metric, random_state=s).fit_transform(x), metric) for s in (0, 1)]
    )
    theirs = umap_learn_trust(x, metric)
    assert ours >= theirs - 0.01


def load_scrna(n: int) -> sp.csr_matrix:
    path = SHARED / "scrna-10k" / "matrix.mtx.gz"
    if not path.exists():
        pytest.skip("shared scrna-10k data not found")
    import scipy.io

    with gzip.open(path) as f:
        cells_by_genes = scipy.io.mmread(f)
    x = sp.csr_matrix(cells_by_genes, dtype=np.float32)[:n]
    totals = np.asarray(x.sum(1)).ravel()
    x = sp.diags(1e4 / np.maximum(totals, 1)) @ x
    x.data = np.log1p(x.data)
    return sp.csr_matrix(x, dtype=np.float32)


def test_sparse_umap_on_single_cell_counts_matches_umap_learn() -> None:
    x = load_scrna(2500)
    ours = UMAP(metric="cosine", random_state=0).fit_transform(x)
    assert trust(x, ours, "cosine") >= umap_learn_trust(x, "cosine") - 0.01


def test_sparse_transform_update_unique_and_pca_init() -> None:
    x, _ = load_digits(return_X_y=True)
    xs = sp.csr_matrix(x.astype(np.float32))
    model = UMAP(metric="cosine", random_state=0).fit(xs[:1500])
    # sparse and dense queries place new points identically, near their training twins
    new = xs[1500:]
    placed = model.transform(new)
    np.testing.assert_allclose(model.transform(new.toarray()), placed, atol=1e-5)
    twin = model.transform(xs[:50] * 1.5)  # cosine: a scaled row is the same point
    scale = np.ptp(model.embedding_, axis=0).mean()
    assert np.median(np.linalg.norm(twin - model.embedding_[:50], axis=1)) < 0.05 * scale
    model.update(new)
    assert model.embedding_.shape == (x.shape[0], 2) and sp.issparse(model._raw_data)
    trust = trustworthiness(x, model.embedding_, n_neighbors=15, metric="cosine")
    assert trust > 0.95
    repeated = sp.vstack([xs[:600], xs[:300]], format="csr")
    unique = UMAP(unique=True, random_state=0, n_epochs=50).fit(repeated)
    np.testing.assert_array_equal(unique.embedding_[600:], unique.embedding_[:300])
    pca = UMAP(init="pca", random_state=0).fit_transform(xs)
    assert trustworthiness(x, pca, n_neighbors=15) > 0.95
