"""Soak tests: many fit / transform / build / query / save / load / pickle cycles in one process
with flat memory, and Ctrl-C at random points of long fits, builds, updates and queries.

The cycle count (200) and the interruption points are fixed, so the run is the same every time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits

from umapc import UMAP, CorruptIndexError, NNIndex, _core

_STATM = "/proc/self/statm"


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or a no-op elsewhere. Returning freed heap pages to the system
    before each reading keeps RSS a measure of memory in use, not of allocator caching."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]

    def run() -> None:
        trim(0)

    return run


def _rss_bytes() -> int:
    with open(_STATM) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits().data.astype(np.float32)
    return data[:300], data[300:340]


def _cycle(c: int, x: np.ndarray, new: np.ndarray, folder: Any) -> None:
    """One cycle of everything a long-lived process does, good paths and error paths, each with a
    check of its result (so a cycle that silently broke would fail, not just stay small)."""
    # UMAP: fit, transform, pickle round trip that transforms the same
    model = UMAP(
        n_neighbors=8,
        n_epochs=10,
        init="spectral" if c % 2 else "random",
        random_state=c % 5,
        n_jobs=1 + c % 2,
    ).fit(x)
    assert model.embedding_.shape == (x.shape[0], 2) and np.isfinite(model.embedding_).all()
    placed = model.transform(new)
    assert placed.shape == (new.shape[0], 2) and np.isfinite(placed).all()
    back = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(back.transform(new), placed)

    # exact index: query and graph against brute force
    exact = NNIndex(x, n_neighbors=6, backend="exact")
    indices, distances = exact.query(new, k=5)
    want = np.sort(cdist(new.astype(np.float64), x.astype(np.float64)), axis=1)[:, :5]
    np.testing.assert_allclose(distances, want, rtol=1e-4, atol=1e-3)
    graph_i, _ = exact.neighbor_graph
    np.testing.assert_array_equal(graph_i[:, 0], np.arange(x.shape[0]))

    # HNSW index: build, query, update, save / load and pickle give the same answers
    hnsw = NNIndex(x, n_neighbors=6, backend="hnsw", random_state=c)
    hnsw.update(new[:10])
    answer = hnsw.query(new, k=5)
    assert answer[0].max() < x.shape[0] + 10
    path = folder / "soak.umapc"
    hnsw.save(path)
    for copy in (NNIndex.load(path), pickle.loads(pickle.dumps(hnsw))):
        again = copy.query(new, k=5)
        np.testing.assert_array_equal(again[0], answer[0])
        np.testing.assert_array_equal(again[1], answer[1])
    exact_copy = pickle.loads(pickle.dumps(exact))
    np.testing.assert_array_equal(exact_copy.query(new, k=5)[0], indices)

    # error paths free what they allocated
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptIndexError):
        NNIndex.load(path)
    state = hnsw.__getstate__()
    state["index"] = state["index"][:-40]
    with pytest.raises(CorruptIndexError):
        NNIndex.__new__(NNIndex).__setstate__(state)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError):
        NNIndex(bad, n_neighbors=3)
    with pytest.raises(ValueError):
        exact.query(new[:, :10], k=3)

    def stop(stage: str, done: int, total: int) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        _core.Index(x, backend="hnsw", n_jobs=1, callback=stop)


class _Stop(Exception):
    pass


# 200 cycles; memory is read after each one from cycle 50 on. The first cycles fill caches (the
# OpenMP thread pool, numpy / scipy / scikit-learn imports and their allocator arenas, pickle's
# and the warnings module's registries): pymalloc's block count rises for about 100 cycles, by
# ~500 blocks in all, then stays within a few dozen (measured over 500 cycles).
CYCLES = 200
WARM_UP = 50
WINDOW = 40
# The median of the last WINDOW readings may exceed the median of the first WINDOW readings after
# warm-up by at most these; 110 cycles separate the two windows. RSS (read after malloc_trim, so
# freed heap pages do not count) moved by under 0.1 MiB in our runs; 2 MiB catches any leak of
# about 19 KiB per cycle or more: less than one copy of the data set (77 KiB), of a model's graph
# and embedding, or of a pickled index. The block count moved by under 300 in our runs (the tail
# of the warm-up); 1,000 catches a leak of about 9 Python objects per cycle (a reference leaked
# by one call of the C extension leaks one object each time it runs; a cycle makes dozens of
# calls).
RSS_TOLERANCE = 2 * 2**20
BLOCK_TOLERANCE = 1000


@pytest.mark.skipif(not os.path.exists(_STATM), reason="needs /proc/self/statm (Linux)")
def test_repeated_cycles_keep_memory_flat(digits, tmp_path) -> None:
    x, new = digits
    trim = _malloc_trim()
    rss, blocks = [], []
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cycle may warn either
        for c in range(CYCLES):
            _cycle(c, x, new, tmp_path)
            if c >= WARM_UP:
                gc.collect()
                trim()
                rss.append(_rss_bytes())
                blocks.append(sys.getallocatedblocks())
    elapsed = time.perf_counter() - started
    rss_growth = float(np.median(rss[-WINDOW:]) - np.median(rss[:WINDOW]))
    block_growth = float(np.median(blocks[-WINDOW:]) - np.median(blocks[:WINDOW]))
    report = (
        f"{CYCLES} cycles in {elapsed:.1f} s; "
        f"RSS {rss[0] / 2**20:.1f} -> {rss[-1] / 2**20:.1f} MiB "
        f"(median growth {rss_growth / 2**20:+.2f} MiB, max {max(rss) / 2**20:.1f} MiB); "
        f"pymalloc blocks median growth {block_growth:+.0f}"
    )
    print(report)
    assert rss_growth <= RSS_TOLERANCE, report
    assert block_growth <= BLOCK_TOLERANCE, report


# ---- Ctrl-C ----------------------------------------------------------------------------------

# The C library looks for signals at least every 50 ms of work (umapc/_core/convert.c); one
# second leaves room for a loaded machine.
LATENCY = 1.0


class _Interrupter(threading.Thread):
    """Interrupts the main thread after ``delay`` seconds, the way Ctrl-C does: through
    ``_thread.interrupt_main`` (Python's own simulation) or a real SIGINT sent to the main
    thread with ``pthread_kill``."""

    def __init__(self, delay: float, how: str) -> None:
        super().__init__(daemon=True)
        self.delay = delay
        self.how = how
        self.sent: float | None = None

    def run(self) -> None:
        time.sleep(self.delay)
        self.sent = time.monotonic()
        if self.how == "interrupt_main":
            import _thread

            _thread.interrupt_main()
        else:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's default SIGINT handler (KeyboardInterrupt), whatever the runner installed."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt(work: Callable[[], Any], delay: float, how: str) -> str:
    """Runs ``work`` (which must take far longer than ``delay``), interrupts it after ``delay``
    and checks that KeyboardInterrupt reaches this thread within LATENCY of the signal. Returns
    the innermost umapc function the interrupt stopped and the latency, for the log."""
    interrupter = _Interrupter(delay, how)
    interrupter.start()
    try:
        work()
    except KeyboardInterrupt as exc:
        caught = time.monotonic()
        frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    else:
        try:  # let the late interrupt land here, not in pytest
            interrupter.join()
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        pytest.fail(f"the work finished before the interrupt at {delay:.2f} s")
    interrupter.join()
    assert interrupter.sent is not None
    latency = caught - interrupter.sent
    assert latency < LATENCY, f"KeyboardInterrupt came {latency:.2f} s after the signal"
    return f"{frames[-1]} {latency * 1000:.0f} ms"


def _points(seed: int, count: int, low: float, high: float) -> list[tuple[float, str]]:
    rng = np.random.default_rng(seed)
    hows = ["interrupt_main", "pthread_kill"]
    return [(float(d), hows[i % 2]) for i, d in enumerate(rng.uniform(low, high, count))]


def _gauss(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_ctrl_c_stops_long_fits_and_the_model_still_fits(digits, default_sigint) -> None:
    x = _gauss(3000, 10, 0)
    small, new = digits
    stopped = []
    # Delays up to 3 s land in the neighbour search, the fuzzy set, the spectral solver or the
    # layout (100,000 epochs would take an hour); half the fits take the approximate neighbours.
    for i, (delay, how) in enumerate(_points(10, 6, 0.0, 3.0)):
        model = UMAP(n_epochs=100_000, random_state=i, force_approximation_algorithm=i % 2 == 1)
        stopped.append(_interrupt(lambda model=model: model.fit(x), delay, how))
        # the same estimator fits again, and its fit transforms new points
        model.set_params(n_epochs=30, force_approximation_algorithm=False)
        embedding = model.fit_transform(small)
        assert embedding.shape == (small.shape[0], 2) and np.isfinite(embedding).all()
        assert np.isfinite(model.transform(new)).all()
    print("fits stopped in", stopped)


def test_ctrl_c_stops_index_builds_and_graphs(default_sigint) -> None:
    # Each job takes a few seconds on 2 cores, several times the latest interruption point.
    data = _gauss(30000, 16, 1)
    queries = _gauss(50, 16, 2)
    want = np.argsort(cdist(queries.astype(np.float64), data.astype(np.float64)), axis=1)[:, :10]
    stopped = []
    index = NNIndex(data, n_neighbors=10, backend="hnsw", random_state=0)
    for delay, how in _points(20, 3, 0.05, 0.8):  # the HNSW graph
        stopped.append(_interrupt(index.prepare, delay, how))
        assert index._index is None  # nothing half-built is kept
        fresh = NNIndex(data[:500], n_neighbors=5, backend="hnsw", random_state=0)
        assert fresh.query(queries, k=5)[0].max() < 500
    big = NNIndex(_gauss(150000, 16, 6), n_neighbors=10, backend="hnsw", random_state=0)
    for delay, how in _points(21, 2, 0.05, 0.6):  # the all-points graph by NN-descent
        stopped.append(_interrupt(lambda: big.neighbor_graph, delay, how))
        assert big._neighbor_graph is None
    exact = NNIndex(_gauss(60000, 16, 7), n_neighbors=10, backend="exact")
    for delay, how in _points(22, 2, 0.05, 0.4):  # the all-points graph by exact search
        stopped.append(_interrupt(lambda: exact.neighbor_graph, delay, how))
        assert exact._neighbor_graph is None
    print("builds stopped in", stopped)
    # the interrupted indexes still work: the HNSW graph builds and finds the true neighbours,
    # exact search answers like brute force
    indices, _ = index.query(queries, k=10)
    recall = np.mean([np.isin(want[i], indices[i]).mean() for i in range(len(queries))])
    assert recall > 0.9
    rows = exact._raw_data[:2000].astype(np.float64)
    want_d = np.sort(cdist(queries.astype(np.float64), rows), axis=1)[:, :10]
    small = NNIndex(exact._raw_data[:2000], n_neighbors=10, backend="exact")
    np.testing.assert_allclose(small.query(queries, k=10)[1], want_d, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(exact.query(queries, k=1)[0][:, 0] >= 0, True)


def test_ctrl_c_stops_updates_and_queries_and_the_index_stays_consistent(default_sigint) -> None:
    data = _gauss(2000, 16, 3)
    index = NNIndex(data, n_neighbors=5, backend="hnsw", random_state=0)
    index.prepare()
    stopped = []
    for j, (delay, how) in enumerate(_points(30, 3, 0.05, 0.8)):
        new = _gauss(30000, 16, 40 + j)
        before = index._raw_data.shape[0]
        stopped.append(_interrupt(lambda new=new: index.update(new), delay, how))
        size = index._core_index().size
        assert index._raw_data.shape[0] == size  # Python rows follow the C index
        added = size - before
        np.testing.assert_array_equal(index._raw_data[before:], new[:added])
        if added:  # the rows that made it in find themselves
            rows = index._raw_data[size - 3 :]
            found, _ = index.query(rows, k=1, ef=200)
            np.testing.assert_array_equal(found[:, 0], np.arange(size - 3, size))
    queries = _gauss(400000, 16, 5)
    for delay, how in _points(31, 2, 0.05, 0.4):
        stopped.append(_interrupt(lambda: index.query(queries, k=10), delay, how))
    print("updates and queries stopped in", stopped)
    # still usable: a small update whose rows are then found, and the all-points graph
    size = index._core_index().size
    extra = _gauss(5, 16, 8)
    index.update(extra)
    found, distances = index.query(extra, k=1, ef=200)
    np.testing.assert_array_equal(found[:, 0], np.arange(size, size + 5))
    np.testing.assert_array_equal(distances[:, 0], 0.0)
