"""umapc.dask on a LocalCluster of two worker processes, against the single-machine path and
exact search (umapc's exact backend and scikit-learn's brute force).

Recall counts ties as hits: a returned point is right when its distance is within the exact
k-th distance. Real data (Fashion-MNIST) comes from ../shared/data; the test that needs it skips
when it is absent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import load_digits, make_blobs  # noqa: E402
from sklearn.manifold import trustworthiness  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

import umapc  # noqa: E402
import umapc.dask as udask  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _data  # noqa: E402  (the shared-data helpers the benchmarks use)

DATA = _data.shared_data_dir()


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    # 20,000 overlapping clusters in 32 dimensions: NN-descent's first graph misses a few
    # per cent of the neighbours here.
    X, _ = make_blobs(n_samples=20000, n_features=32, centers=40, cluster_std=8.0, random_state=3)
    return X.astype(np.float32)


def _tie_recall(ref_dist: np.ndarray, got_dist: np.ndarray) -> float:
    k = ref_dist.shape[1]
    kth = ref_dist[:, -1:]
    hits = (got_dist <= kth * (1 + 1e-4) + 1e-4).sum(axis=1).clip(max=k)
    return float(hits.mean() / k)


def _exact_dist(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    dist, _ = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(base).kneighbors(queries)
    return dist


def test_graph_recall_matches_single_machine(client, blobs) -> None:
    k = 15
    # Uneven partitions and an empty one.
    X = da.from_array(blobs, chunks=((9000, 0, 6000, 5000), (32,)))
    # NN-descent's first graph on both sides (pairs this small would otherwise be exact).
    search = {"graph_method": "nndescent", "min_recall": 0.0}
    sharded = udask.ShardedNNIndex(X, n_neighbors=k, random_state=0, **search)
    assert sharded.n_shards == 3
    indices, distances = sharded.neighbor_graph
    assert indices.shape == distances.shape == (blobs.shape[0], k)
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    assert np.array_equal(indices[:, 0], np.arange(blobs.shape[0]))
    assert (np.diff(distances, axis=1) >= 0).all()
    assert not (indices == -1).any()
    # No point twice in a row.
    rows = np.sort(indices, axis=1)
    assert not (rows[:, 1:] == rows[:, :-1]).any()
    # The distances are those of the ids (recomputed here in float64).
    sample = np.random.default_rng(0).choice(blobs.shape[0], 300, replace=False)
    diff = blobs[sample, None, :].astype(np.float64) - blobs[indices[sample]].astype(np.float64)
    assert np.allclose(np.sqrt((diff**2).sum(-1)), distances[sample], rtol=1e-4, atol=1e-3)

    exact = umapc.NNIndex(blobs, n_neighbors=k, backend="exact").neighbor_graph[1]
    local = umapc.NNIndex(blobs, n_neighbors=k, random_state=0, **search).neighbor_graph[1]
    recall, local_recall = _tie_recall(exact, distances), _tie_recall(exact, local)
    assert recall >= local_recall - 0.005, (recall, local_recall)
    assert recall > 0.9


@pytest.mark.parametrize("chunk", [6000, 3500])
def test_one_pair_is_the_single_machine_graph(client, blobs, chunk) -> None:
    # One partition, or two (one pair graph of all rows in their order, with the index seed):
    # the single-machine graph bit for bit, whatever the thread count.
    X = da.from_array(blobs[:6000], chunks=(chunk, 32))
    got = udask.ShardedNNIndex(X, n_neighbors=10, random_state=5).neighbor_graph
    want = umapc.NNIndex(blobs[:6000], n_neighbors=10, random_state=5).neighbor_graph
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_query_exact_shards_equal_exact_search(client) -> None:
    X = load_digits().data.astype(np.float32)
    queries = X[:200] + np.float32(0.25)
    sharded = udask.ShardedNNIndex(
        da.from_array(X, chunks=(500, 64)), n_neighbors=5, backend="exact"
    )
    ref_dist = _exact_dist(X, queries, 12)
    indices, distances = sharded.query(queries, k=12)
    assert indices.shape == (200, 12) and indices.dtype == np.int32
    assert np.allclose(distances, ref_dist, rtol=1e-4, atol=1e-3)
    # The ids are the points at those distances.
    recomputed = np.linalg.norm(X[indices] - queries[:, None, :], axis=2)
    assert np.allclose(recomputed, distances, rtol=1e-4, atol=1e-3)
    # A dask array of queries: lazy, one chunk per query partition, the same answers.
    lazy_ind, lazy_dist = sharded.query(da.from_array(queries, chunks=(70, 64)), k=12)
    assert isinstance(lazy_ind, da.Array) and lazy_ind.chunks[0] == (70, 70, 60)
    assert np.array_equal(lazy_ind.compute(), indices)
    assert np.array_equal(lazy_dist.compute(), distances)


def test_query_hnsw_shards_recall(client, blobs) -> None:
    base, queries = blobs[:16000], blobs[16000:16500] + np.float32(0.5)
    sharded = udask.ShardedNNIndex(da.from_array(base, chunks=(8000, 32)), backend="hnsw")
    ref = _exact_dist(base, queries, 10)
    _, dist = sharded.query(queries, k=10)
    single = umapc.NNIndex(base, backend="hnsw").query(queries, k=10)[1]
    assert _tie_recall(ref, dist) >= _tie_recall(ref, single) - 0.005


def test_umap_fit_small_data_equals_single_machine(client) -> None:
    # Below umap-learn's small-data size both graphs are exact, so the seeded fits must agree.
    X = load_digits().data.astype(np.float32)
    dist = udask.UMAP(random_state=7, n_epochs=100).fit(da.from_array(X, chunks=(600, 64)))
    local = umapc.UMAP(random_state=7, n_epochs=100).fit(X)
    assert np.array_equal(dist.embedding_, local.embedding_)
    assert dist.precomputed_knn == (None, None, None)  # the caller's parameter is restored


def test_umap_fit_quality_and_transform_on_fashion_mnist(client) -> None:
    if DATA is None or not (DATA / "fashion-mnist").is_dir():
        pytest.skip("shared Fashion-MNIST data not available")
    train, _, test, _ = _data.load_fashion_mnist(DATA)
    X, new = np.ascontiguousarray(train[:6000]), np.ascontiguousarray(test[:1500])
    # Three partitions: the graph is merged from three pair graphs, not one machine's graph.
    model = udask.UMAP(random_state=0, n_epochs=100).fit(da.from_array(X, chunks=(2000, 784)))
    local = umapc.UMAP(random_state=0, n_epochs=100).fit(X)
    t_dask = trustworthiness(X, model.embedding_, n_neighbors=15)
    t_local = trustworthiness(X, local.embedding_, n_neighbors=15)
    assert abs(t_dask - t_local) <= 0.01, (t_dask, t_local)

    # An empty partition too.
    lazy = model.transform(da.from_array(new, chunks=((500, 0, 500, 500), (784,))))
    assert isinstance(lazy, da.Array) and lazy.shape == (1500, 2)
    got = lazy.compute()
    # The model went to the workers once for this fit.
    assert model._broadcast(client) is model._broadcast(client)
    # Each partition is transformed as a local transform of that partition would be.
    want = np.concatenate([model.transform(new[i : i + 500]) for i in range(0, 1500, 500)])
    assert np.array_equal(got, want)
    # And close to one local transform of all rows: the same neighbours in the embedding.
    whole = model.transform(new)
    spread = np.ptp(model.embedding_, axis=0).max()
    assert np.median(np.linalg.norm(got - whole, axis=1)) < 0.02 * spread


def test_supervised_fit_and_numpy_rows_on_the_cluster(client) -> None:
    digits = load_digits()
    X, y = digits.data.astype(np.float32), digits.target
    Xd = da.from_array(X, chunks=(700, 64))
    got = udask.UMAP(random_state=3, n_epochs=60).fit(Xd, da.from_array(y, chunks=700))
    want = umapc.UMAP(random_state=3, n_epochs=60).fit(X, y)
    assert np.array_equal(got.embedding_, want.embedding_)
    # numpy rows given to the sharded index: one partition per worker.
    sharded = udask.ShardedNNIndex(X, n_neighbors=8, backend="exact")
    assert sharded.n_shards == 2
    exact = umapc.NNIndex(X, n_neighbors=8, backend="exact").neighbor_graph
    assert np.allclose(sharded.neighbor_graph[1], exact[1], rtol=1e-5, atol=1e-4)


def test_numpy_input_takes_the_local_path(client) -> None:
    X = load_digits().data.astype(np.float32)[:800]
    a = udask.UMAP(random_state=1, n_epochs=50).fit(X)
    b = umapc.UMAP(random_state=1, n_epochs=50).fit(X)
    assert np.array_equal(a.embedding_, b.embedding_)
    assert np.array_equal(a.transform(X[:50] + 1), b.transform(X[:50] + 1))


def test_bad_input(client) -> None:
    X = load_digits().data.astype(np.float32)
    with pytest.raises(ValueError, match="rechunk"):
        udask.ShardedNNIndex(da.from_array(X, chunks=(600, 32)))
    bad = X.copy()
    bad[1500, 3] = np.nan
    with pytest.raises(ValueError, match="partition 2"):
        udask.ShardedNNIndex(da.from_array(bad, chunks=(600, 64)))
    sharded = udask.ShardedNNIndex(da.from_array(X[:40], chunks=(15, 64)), n_neighbors=5)
    with pytest.raises(ValueError, match="larger than the number of indexed points"):
        sharded.query(X[:3], k=41)
    with pytest.raises(ValueError, match="larger than the number of points"):
        udask.ShardedNNIndex(da.from_array(X[:10], chunks=(5, 64)), n_neighbors=11)
    with pytest.raises(ValueError, match="features"):
        sharded.query(da.from_array(X[:10, :60], chunks=(5, 60)), k=3)
    unknown = da.from_array(X, chunks=(600, 64))
    unknown = unknown[unknown[:, 0] >= 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        udask.ShardedNNIndex(unknown)
    model = udask.UMAP(n_epochs=20).fit(X[:300])
    with pytest.raises(ValueError, match="rechunk"):
        model.transform(da.from_array(X[:100], chunks=(50, 32)))


def test_import_umapc_does_not_import_dask() -> None:
    code = (
        "import sys, umapc\n"
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules\n"
        "import umapc.dask\n"
        "assert 'distributed' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
