"""umapc.dask on a LocalCluster of 2 single-thread worker processes against the single-machine
path on the same 2 cores, in the same run: the all-points k-NN graph of Fashion-MNIST
(``ShardedNNIndex(...).neighbor_graph`` against ``NNIndex(..., n_jobs=2).neighbor_graph``, taking
turns, median of the runs) with recall@k on a sample against exact search, then ``UMAP.fit``
(trustworthiness on a sample) and ``transform`` of a dask array of new rows made on the workers
(jittered Fashion-MNIST test images).

Run: ``python bench/bench_dask.py`` (``--write-docs`` replaces the "## Dask" section of
docs/benchmarks.md; ``--n 20000 --transform-rows 100000 --repeats 1`` for a quick check).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_fashion_mnist, shared_data_dir  # noqa: E402
from _docs import cpu_model, replace_section  # noqa: E402


def _tie_recall(ref_dist: np.ndarray, got_dist: np.ndarray) -> float:
    k = ref_dist.shape[1]
    hits = (got_dist <= ref_dist[:, -1:] * (1 + 1e-4) + 1e-4).sum(axis=1).clip(max=k)
    return float(hits.mean() / k)


def _jittered(base: np.ndarray, seed: int, rows: int) -> np.ndarray:
    """New rows made on a worker: test images with pixel noise (still 0..255)."""
    rng = np.random.default_rng(seed)
    picked = base[rng.integers(0, base.shape[0], rows)]
    noise = rng.integers(-8, 9, picked.shape).astype(np.float32)
    return np.clip(picked + noise, 0, 255).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=70000, help="Fashion-MNIST rows to index")
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2000, help="rows for the recall check")
    parser.add_argument("--transform-rows", type=int, default=1_000_000)
    parser.add_argument("--transform-chunk", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=2, help="row partitions of the data")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait
    from sklearn.manifold import trustworthiness

    import umapc
    import umapc.dask as udask

    data = shared_data_dir()
    if data is None:
        sys.exit("shared data not found (set UMAPC_DATA)")
    train, _, test, _ = load_fashion_mnist(data)
    X = np.ascontiguousarray(np.concatenate([train, test])[: args.n])
    n, k = X.shape[0], args.k

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    t0 = time.perf_counter()
    Xd = da.from_array(X, chunks=(math.ceil(n / args.partitions), X.shape[1])).persist()
    wait(Xd)
    t_persist = time.perf_counter() - t0

    # Warm-up: the workers import umapc on their first task (a long-lived cluster has).
    warm = da.from_array(X[:4000], chunks=(2000, X.shape[1]))
    _ = udask.ShardedNNIndex(warm, n_neighbors=k).neighbor_graph
    _ = umapc.NNIndex(X[:4000], n_neighbors=k, n_jobs=2).neighbor_graph

    single_times, dask_times = [], []
    single_graph = dask_graph = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        single_graph = umapc.NNIndex(X, n_neighbors=k, random_state=0, n_jobs=2).neighbor_graph
        single_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dask_graph = udask.ShardedNNIndex(Xd, n_neighbors=k, random_state=0).neighbor_graph
        dask_times.append(time.perf_counter() - t0)
    t_single, t_dask = statistics.median(single_times), statistics.median(dask_times)

    sample = np.random.default_rng(0).choice(n, min(args.sample, n), replace=False)
    ref = umapc.NNIndex(X, n_neighbors=k, backend="exact").query(X[sample], k=k)[1]
    r_single = _tie_recall(ref, single_graph[1][sample])
    r_dask = _tie_recall(ref, dask_graph[1][sample])

    lines = [
        "## Dask",
        "",
        "`umapc.dask` on a `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)` "
        "against the single-machine path with `n_jobs=2` on the same 2 cores, in the same run. "
        "Script: [`bench/bench_dask.py`](../bench/bench_dask.py).",
        "",
        f"Command: `python bench/{Path(sys.argv[0]).name} {' '.join(sys.argv[1:])}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, dask {dask.__version__}, umapc SIMD level "
        f"{umapc.simd_level()}; load average at start "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        f"All-points k={k} graph of {n:,} Fashion-MNIST images (784 pixels, float32), "
        f"{Xd.numblocks[0]} partitions; median of {args.repeats} runs taking turns; the dask "
        f"time starts with the rows already on the workers (sending them there took "
        f"{t_persist:.2f} s) and ends with the graph on the client. Recall@{k} on "
        f"{sample.size:,} sampled rows against exact search (ties count as hits).",
        "",
        "| path | median wall (s) | vs single machine | recall@k |",
        "|---|---|---|---|",
        f"| single machine, `NNIndex(n_jobs=2)` | {t_single:.2f} | 1.00x | {r_single:.4f} |",
        f"| dask, `ShardedNNIndex` | {t_dask:.2f} | {t_dask / t_single:.2f}x | {r_dask:.4f} |",
        "",
    ]
    print("\n".join(lines), flush=True)

    if not args.skip_umap:
        t0 = time.perf_counter()
        local = umapc.UMAP(random_state=0, n_jobs=2).fit(X)
        t_fit_local = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = udask.UMAP(random_state=0, n_jobs=2).fit(Xd)
        t_fit_dask = time.perf_counter() - t0
        trust_sample = np.random.default_rng(1).choice(n, min(10000, n), replace=False)
        trust = [
            trustworthiness(X[trust_sample], m.embedding_[trust_sample], n_neighbors=15)
            for m in (local, model)
        ]

        rows, chunk = args.transform_rows, args.transform_chunk
        base = client.scatter(np.ascontiguousarray(test), broadcast=True)
        sizes = [min(chunk, rows - s) for s in range(0, rows, chunk)]
        new = da.concatenate(
            [
                da.from_delayed(
                    dask.delayed(_jittered)(base, seed, size), (size, X.shape[1]), np.float32
                )
                for seed, size in enumerate(sizes)
            ]
        ).persist()
        wait(new)
        t0 = time.perf_counter()
        embedded = model.transform(new).compute()
        t_transform = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.transform(new).compute()
        t_transform_again = time.perf_counter() - t0
        local_rows = np.concatenate(
            [_jittered(np.ascontiguousarray(test), seed, size) for seed, size in enumerate(sizes)]
        )[: min(rows, 100_000)]
        t0 = time.perf_counter()
        local.transform(local_rows)
        t_local_transform = time.perf_counter() - t0
        finite = bool(np.isfinite(embedded).all())
        more = [
            f"`UMAP(random_state=0)` on the same {n:,} images, one run each; trustworthiness@15 "
            "(scikit-learn) on 10,000 sampled points:",
            "",
            "| path | fit wall (s) | trustworthiness@15 |",
            "|---|---|---|",
            f"| `umapc.UMAP(n_jobs=2)` | {t_fit_local:.1f} | {trust[0]:.4f} |",
            f"| `umapc.dask.UMAP` (graph on the cluster) | {t_fit_dask:.1f} | {trust[1]:.4f} |",
            "",
            f"`transform` of a dask array of {rows:,} new rows ({len(sizes)} partitions made on "
            f"the workers: test images with pixel noise), computed to the client: "
            f"{t_transform:.1f} s with the model's broadcast (the search index built and sent "
            f"once), {t_transform_again:.1f} s again ({rows / t_transform_again:,.0f} rows/s); "
            f"all finite: {finite}. Single machine, `transform` of the first "
            f"{local_rows.shape[0]:,} of those rows: {t_local_transform:.1f} s "
            f"({local_rows.shape[0] / t_local_transform:,.0f} rows/s).",
            "",
        ]
        print("\n".join(more), flush=True)
        lines += more

    client.close()
    cluster.close()
    if args.write_docs:
        replace_section("\n".join(lines))
        print("wrote docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
