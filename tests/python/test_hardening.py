"""Regression tests for issue 10's defects: search-width overflow, interrupted updates, save
atomicity, thread counts, huge coordinates, loaded-file validation and concurrent use."""

from __future__ import annotations

import json
import os
import pickle
import struct
import threading
import time
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import umapc.index as index_module
from umapc import CorruptIndexError, NNIndex, _core


def _data(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _brute(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d = cdist(queries.astype(np.float64), data.astype(np.float64))
    return np.sort(d, axis=1)[:, :k]


# ---- 1. huge ef / epsilon -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ef": 2**61},
        {"ef": 2**63 - 1},
        {"ef": 2**80},
        {"epsilon": 2.0**57},
        {"epsilon": np.float32(2.0**40)},
    ],
)
def test_huge_search_width_searches_everything(kwargs) -> None:
    data, queries = _data(400, 5), _data(30, 5, seed=1)
    index = NNIndex(data, n_neighbors=5, backend="hnsw", random_state=0)
    indices, distances = index.query(queries, k=5, **kwargs)
    want_i, want_d = index.query(queries, k=5, ef=400)
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_array_equal(distances, want_d)
    np.testing.assert_allclose(distances, _brute(data, queries, 5), rtol=1e-4, atol=1e-5)


def test_numpy_float_epsilon_is_accepted() -> None:
    data = _data(200, 4)
    index = NNIndex(data, n_neighbors=5, backend="hnsw", random_state=0)
    got = index.query(data[:10], k=3, epsilon=np.float32(0.1))
    np.testing.assert_array_equal(got[0], index.query(data[:10], k=3, epsilon=0.1)[0])
    with pytest.raises(ValueError, match="epsilon"):
        index.query(data[:10], k=3, epsilon=np.bool_(True))


# ---- 2. interrupted update -------------------------------------------------------------------


class _Stop(Exception):
    pass


def _raising_progress(calls_before_raise: int):
    def factory(verbose, description):
        calls = [0]

        def callback(stage, done, total):
            calls[0] += 1
            if calls[0] > calls_before_raise:
                raise _Stop("stop requested")

        return callback, None

    return factory


def _check_consistent(index: NNIndex, tmp_path) -> None:
    size = index._core_index().size
    assert index._raw_data.shape[0] == size
    indices, distances = index.neighbor_graph
    assert indices.shape == (size, index.n_neighbors)
    assert indices.min() >= 0 and indices.max() < size
    q_idx, _ = index.query(index._raw_data[-5:], k=4, ef=size)
    assert q_idx.max() < size
    np.testing.assert_array_equal(q_idx[:, 0], np.arange(size - 5, size))  # rows find themselves
    mask = np.ones(size, dtype=bool)
    mask[::2] = False
    m_idx, _ = index.query(index._raw_data[:5], k=3, filter_mask=mask)
    assert mask[m_idx].all()
    path = tmp_path / "after_interrupt.umapc"
    index.save(path)
    back = NNIndex.load(path)
    assert back._raw_data.shape[0] == size
    np.testing.assert_array_equal(back._raw_data, index._raw_data)


def test_interrupted_hnsw_update_keeps_python_and_c_in_step(tmp_path, monkeypatch) -> None:
    data = _data(1500, 6)
    new = _data(3000, 6, seed=2)
    index = NNIndex(data, n_neighbors=4, backend="hnsw", random_state=0, verbose=True)
    index.prepare()
    monkeypatch.setattr(index_module, "progress_callback", _raising_progress(0))
    with pytest.raises(_Stop):
        index.update(new)
    size = index._core_index().size
    assert 1500 < size < 4500  # some batches made it in, not all
    np.testing.assert_array_equal(index._raw_data[1500:], new[: size - 1500])
    monkeypatch.undo()
    _check_consistent(index, tmp_path)


def test_interrupted_core_add_message_counts_rows() -> None:
    core = _core.Index(_data(1500, 6), backend="hnsw", n_jobs=2)
    calls = [0]

    def stop(stage, done, total):
        calls[0] += 1
        raise _Stop

    with pytest.raises(_Stop):
        core.add(_data(3000, 6, seed=3), callback=stop)
    assert 1500 < core.size < 4500
    graph, _ = core.knn_graph(3)
    assert graph.shape == (core.size, 3) and graph.max() < core.size


# ---- 3. save ---------------------------------------------------------------------------------


def test_save_ignores_planted_symlink_and_leaves_no_temp_files(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path = tmp_path / "index.umapc"
    planted = tmp_path / f"index.umapc.tmp.{os.getpid()}"
    planted.symlink_to(victim)
    index = NNIndex(_data(100, 3), n_neighbors=3, backend="exact")
    index.save(path)
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["victim", "index.umapc", planted.name]
    )
    NNIndex.load(path)


def test_two_threads_saving_one_path_both_succeed(tmp_path) -> None:
    a = NNIndex(_data(300, 4), n_neighbors=3, backend="exact")
    b = NNIndex(_data(500, 4, seed=5), n_neighbors=3, backend="hnsw", random_state=1)
    path = tmp_path / "shared.umapc"
    errors: list[BaseException] = []

    def work(index: NNIndex) -> None:
        try:
            for _ in range(15):
                index.save(path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    loaded = NNIndex.load(path)
    assert loaded._raw_data.shape[0] in (300, 500)
    source = a if loaded._raw_data.shape[0] == 300 else b
    np.testing.assert_array_equal(loaded._raw_data, source._raw_data)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.umapc"]


# ---- 4. n_jobs -------------------------------------------------------------------------------


def test_n_jobs_is_capped_at_usable_cpus_with_a_warning() -> None:
    usable = _core.usable_cpus()
    assert usable >= 1  # the C library's own capping: test_common.c
    data = _data(100, 3)
    with pytest.warns(RuntimeWarning, match="CPUs this process may use"):
        index = NNIndex(data, n_neighbors=3, n_jobs=4096)
    assert index.n_jobs == usable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NNIndex(data, n_neighbors=3, n_jobs=1)
    with pytest.raises(ValueError, match="more than the 4096 threads"):
        NNIndex(data, n_neighbors=3, n_jobs=10**9)
    with pytest.raises(ValueError, match="more than the 4096 threads"):
        index.query(data, k=2, n_jobs=2**40)


# ---- 5. huge finite coordinates --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["exact", "hnsw"])
def test_coordinates_near_the_limit_give_finite_exact_distances(backend: str) -> None:
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(60, 4)) * 2e17).astype(np.float32)  # the limit is 1.15e18
    index = NNIndex(data, n_neighbors=4, backend=backend, random_state=0)
    _, distances = index.query(data[:10], k=4, ef=60)
    assert np.isfinite(distances).all()
    np.testing.assert_allclose(distances, _brute(data, data[:10], 4), rtol=1e-3)
    graph_i, graph_d = index.neighbor_graph
    assert np.isfinite(graph_d).all()


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "minkowski"])
def test_coordinates_beyond_the_limit_are_refused(metric: str) -> None:
    data = _data(50, 4)
    data[3, 2] = 3e37 if metric == "manhattan" else 2e19
    kwds = {"p": 3.0} if metric == "minkowski" else None
    with pytest.raises(ValueError, match="largest magnitude supported"):
        NNIndex(data, n_neighbors=3, metric=metric, metric_kwds=kwds)
    index = NNIndex(_data(50, 4), n_neighbors=3, metric=metric, metric_kwds=kwds)
    with pytest.raises(ValueError, match="largest magnitude supported"):
        index.query(data, k=2)
    with pytest.raises(ValueError, match="largest magnitude supported"):
        index.update(data)
    assert index._raw_data.shape[0] == 50


# ---- 6 / 7. loading ---------------------------------------------------------------------------


def test_load_rejects_folders_and_fifos_with_oserror(tmp_path) -> None:
    with pytest.raises(OSError, match="not a regular file") as info:
        NNIndex.load(tmp_path)
    assert not isinstance(info.value, CorruptIndexError)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        NNIndex.load(fifo)  # would block forever on a plain open-and-read


def _with_params(index: NNIndex, edit) -> bytes:
    params = index._params()
    params = edit(params)
    header = json.dumps(params).encode()
    meta = b"UMAPCPY1" + struct.pack("<Q", len(header)) + header
    if index._backend != "exact":
        meta += index._raw_data.tobytes()
    return index._core_index().serialize(meta)


def _set(key, value):
    def edit(params):
        params[key] = value
        return params

    return edit


def _drop(key):
    def edit(params):
        del params[key]
        return params

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _drop("metric"),
        _drop("M"),
        _set("n_neighbors", "five"),
        _set("n_neighbors", 0),
        _set("n_neighbors", 10**6),
        _set("n_jobs", 0),
        _set("M", -3),
        _set("ef_construction", 1.5),
        _set("backend", "faiss"),
        _set("backend", "hnsw"),
        _set("metric", 7),
        _set("metric", "cosine"),
        _set("metric", "no-such-metric"),
        _set("metric_kwds", [1, 2]),
        _set("verbose", "yes"),
        _set("random_state", -1),
        lambda params: [params],
    ],
)
def test_bad_stored_parameters_raise_corrupt_index_error(tmp_path, edit) -> None:
    index = NNIndex(_data(80, 3), n_neighbors=3, backend="exact")
    blob = _with_params(index, edit)
    path = tmp_path / "bad.umapc"
    path.write_bytes(blob)
    with pytest.raises(CorruptIndexError) as info:
        NNIndex.load(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)
    with pytest.raises(CorruptIndexError):
        pickle.loads(pickle.dumps(index)).__setstate__({"index": blob, "neighbor_graph": None})


@pytest.mark.parametrize(
    "state",
    [
        None,
        [],
        {},
        {"index": 5},
        {"index": b"garbage"},
    ],
)
def test_bad_pickled_state_raises_corrupt_index_error(state) -> None:
    clone = NNIndex.__new__(NNIndex)
    with pytest.raises(CorruptIndexError):
        clone.__setstate__(state)


def test_bad_pickled_neighbor_graph_is_refused() -> None:
    index = NNIndex(_data(80, 3), n_neighbors=3, backend="exact")
    good = index.__getstate__()
    ids, dists = index.neighbor_graph
    bad_graphs = [
        (ids[:10], dists[:10]),
        (ids.T.copy(), dists.T.copy()),
        (ids.astype(np.int64), dists),
        (ids + 1000, dists),
        (ids, np.full_like(dists, np.nan)),
        (ids,),
        "graph",
    ]
    for graph in bad_graphs:
        clone = NNIndex.__new__(NNIndex)
        with pytest.raises(CorruptIndexError):
            clone.__setstate__({"index": good["index"], "neighbor_graph": graph})
    clone = pickle.loads(pickle.dumps(index))
    np.testing.assert_array_equal(clone.neighbor_graph[0], ids)


def test_corrupt_content_is_a_value_error(tmp_path) -> None:
    path = tmp_path / "garbage.umapc"
    path.write_bytes(b"not an index" * 20)
    with pytest.raises(ValueError):
        NNIndex.load(path)


# ---- 9. threads ------------------------------------------------------------------------------


def test_update_waits_for_a_running_query() -> None:
    index = NNIndex(_data(2000, 8), n_neighbors=3, backend="exact")
    core = index._core_index()
    started, errors = threading.Event(), []

    def slow_progress(stage, done, total):
        started.set()
        time.sleep(0.3)  # the query still holds the index here

    def query() -> None:
        try:
            core.query(_data(500, 8, seed=1), 3, callback=slow_progress)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=query)
    reader.start()
    assert started.wait(10)
    index.update(_data(10, 8, seed=2))  # raised RuntimeError before
    reader.join()
    assert errors == []
    assert core.size == 2010 == index._raw_data.shape[0]


def test_concurrent_updates_lose_nothing_and_getters_are_safe() -> None:
    index = NNIndex(_data(200, 4), n_neighbors=3, backend="exact")
    batches = [_data(50, 4, seed=10 + i) for i in range(16)]
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(part) -> None:
        try:
            for batch in part:
                index.update(batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not done.is_set():
                core = index._core_index()
                assert core.size >= 200 and core.memory > 0
                index.query(batches[0][:4], k=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches[i::2],)) for i in range(2)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert errors == []
    core = index._core_index()
    assert core.size == 200 + 16 * 50 == index._raw_data.shape[0]
    np.testing.assert_array_equal(core.rows(), index._raw_data)
    rows = {r.tobytes() for r in index._raw_data}
    assert all(r.tobytes() in rows for b in batches for r in b)


def test_lazy_hnsw_is_built_once_under_concurrent_first_queries(monkeypatch) -> None:
    index = NNIndex(_data(500, 4), n_neighbors=3, backend="hnsw", random_state=0)
    builds = [0]
    original = NNIndex._build

    def counting_build(self, data):
        builds[0] += 1
        time.sleep(0.2)
        return original(self, data)

    monkeypatch.setattr(NNIndex, "_build", counting_build)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(index.query(index._raw_data[:5], k=2)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds[0] == 1 and len(results) == 4
