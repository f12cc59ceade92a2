"""All-points k-NN graph of Fashion-MNIST (70,000 images, k=15): umapc NN-descent vs pynndescent
(umap-learn's settings) vs umapc HNSW. Reports the median wall time of several runs, ratios to
pynndescent and recall@k against the exact ground truth (ties by distance count as found).

    python bench/bench_nndescent.py [--repeats 3] [--threads 2] [--n N] [--skip-hnsw]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
import numpy as np

import umapc
from umapc import _core


def recall(x: np.ndarray, found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of the true k nearest found; a neighbour tied with the k-th true one counts."""
    n = x.shape[0]
    kth = np.sqrt(((x - x[truth[:, k - 1]]) ** 2).sum(1))
    hits = 0
    chunk = 2000
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        d = np.sqrt(((x[s:e, None, :] - x[found[s:e, :k]]) ** 2).sum(2))
        ok = (d <= kth[s:e, None] * (1 + 1e-6)) & (found[s:e, :k] >= 0)
        hits += int(ok.sum())
    return min(1.0, hits / (n * k))


def timed_round_robin(
    methods: dict[str, Callable[[], np.ndarray]], repeats: int
) -> dict[str, tuple[float, np.ndarray]]:
    """Median wall time per method, the methods taking turns so that load from other processes
    on a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    graphs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            graphs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), graphs[name]) for name in methods}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=70000)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--skip-hnsw", action="store_true")
    ap.add_argument("--skip-pynndescent", action="store_true")
    args = ap.parse_args()
    data = shared.shared_data_dir()
    if data is None:
        raise SystemExit("shared data not found")
    tr, _, te, _ = shared.load_fashion_mnist(data)
    x = np.ascontiguousarray(np.vstack([tr, te])[: args.n])
    n, k, jobs = x.shape[0], args.k, args.threads
    truth = np.load(data / "fashion-mnist" / "groundtruth" / "all70k_knn31.npy")[:n]
    if n < 70000:  # the stored truth covers the full set only
        truth = _core.exact_knn_graph(x, k, n_jobs=jobs)[0]
    methods: dict[str, Callable[[], np.ndarray]] = {
        "umapc nndescent": lambda: _core.nndescent_knn_graph(x, k, n_jobs=jobs)[0],
    }
    if not args.skip_pynndescent:
        from pynndescent import NNDescent

        NNDescent(x[:2000], n_neighbors=k, n_jobs=jobs)  # JIT warm-up
        n_trees = min(64, 5 + int(round(math.sqrt(n) / 20)))
        n_iters = max(5, int(round(math.log2(n))))
        methods["pynndescent"] = lambda: NNDescent(
            x, n_neighbors=k, n_trees=n_trees, n_iters=n_iters, max_candidates=60, n_jobs=jobs
        ).neighbor_graph[0]
    if not args.skip_hnsw:
        methods["umapc hnsw (M=16, efC=40)"] = lambda: umapc.NNIndex(
            x, n_neighbors=k, backend="hnsw", M=16, ef_construction=40, n_jobs=jobs
        ).neighbor_graph[0]
    results = timed_round_robin(methods, args.repeats)
    rows = [(name, t, recall(x, g, truth, k)) for name, (t, g) in results.items()]

    ref = next((r[1] for r in rows if r[0] == "pynndescent"), rows[0][1])
    print(f"n={n} k={k} threads={jobs} repeats={args.repeats} (median wall time)")
    print(f"{'method':28s} {'time s':>8s} {'x pynnd':>8s} {'recall':>8s}")
    for name, t, r in rows:
        print(f"{name:28s} {t:8.2f} {t / ref:8.2f} {r:8.4f}")


if __name__ == "__main__":
    main()
