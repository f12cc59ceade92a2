"""All-points k-NN graph of 20 Newsgroups bag-of-words (18,846 x 173,753 sparse, TF-IDF) with
umapc's sparse NN-descent vs pynndescent's (umap-learn's settings), same run: median wall time of
several runs taken in turn, the ratio, and recall@k against umapc's exact sparse search on a
sample of rows (ties by distance count as found).

    python bench/bench_sparse_knn.py [--metrics cosine hellinger] [--repeats 3] [--k 15]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time

import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
import numpy as np
import scipy.sparse as sp

from umapc import _core


def load_tfidf() -> sp.csr_matrix:
    root = shared.shared_data_dir()
    if root is None:
        raise SystemExit("shared data not found")
    with gzip.open(root / "20newsgroups" / "docword.20news.txt.gz", "rt") as f:
        n, d, _ = (int(f.readline()) for _ in range(3))
        triples = np.loadtxt(f, dtype=np.int64)
    counts = sp.csr_matrix(
        (triples[:, 2].astype(np.float32), (triples[:, 0] - 1, triples[:, 1] - 1)), shape=(n, d)
    )
    idf = np.log(n / (1.0 + np.bincount(counts.indices, minlength=d))).astype(np.float32)
    tfidf = counts.multiply(np.maximum(idf, 0)).tocsr().astype(np.float32)
    tfidf.eliminate_zeros()
    tfidf.sort_indices()
    return tfidf


def rows(m: sp.csr_matrix) -> tuple:
    return (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data, m.shape[1])


def sampled_recall(x: sp.csr_matrix, found: np.ndarray, metric: str, k: int, m: int) -> float:
    sample = np.linspace(0, x.shape[0] - 1, m).astype(int)
    _, exact = _core.sparse_exact_search(rows(x), rows(x[sample]), k, metric=metric)
    got = _core.sparse_pairwise_distances(rows(x[sample]), rows(x), metric=metric)
    d = np.take_along_axis(got, np.maximum(found[sample, :k], 0), axis=1)
    ok = (d <= exact[:, -1:] * (1 + 1e-5) + 1e-7) & (found[sample, :k] >= 0)
    return float(ok.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", nargs="+", default=["cosine", "hellinger"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--sample", type=int, default=300)
    args = ap.parse_args()
    x = load_tfidf()
    print(f"20 Newsgroups TF-IDF: {x.shape[0]} x {x.shape[1]}, {x.nnz} nonzeros")
    import pynndescent

    for metric in args.metrics:
        times: dict[str, list[float]] = {"umapc": [], "pynndescent": []}
        graphs: dict[str, np.ndarray] = {}
        warm = pynndescent.NNDescent(x[:2000], n_neighbors=args.k, metric=metric)
        del warm  # numba compilation outside the timings
        for _ in range(args.repeats):
            t = time.perf_counter()
            graphs["umapc"] = _core.nndescent_knn_graph(rows(x), args.k, metric=metric)[0]
            times["umapc"].append(time.perf_counter() - t)
            t = time.perf_counter()
            n_trees = min(64, 5 + int(round(x.shape[0] ** 0.5 / 20.0)))
            n_iters = max(5, int(round(np.log2(x.shape[0]))))
            index = pynndescent.NNDescent(
                x, n_neighbors=args.k, metric=metric, n_trees=n_trees, n_iters=n_iters,
                max_candidates=60, low_memory=True,
            )  # fmt: skip
            graphs["pynndescent"] = index.neighbor_graph[0]
            times["pynndescent"].append(time.perf_counter() - t)
        med = {name: statistics.median(v) for name, v in times.items()}
        for name in ("umapc", "pynndescent"):
            r = sampled_recall(x, graphs[name], metric, args.k, args.sample)
            print(f"{metric:10s} {name:12s} {med[name]:7.2f} s  recall@{args.k} {r:.4f}")
        print(f"{metric:10s} ratio umapc / pynndescent: {med['umapc'] / med['pynndescent']:.3f}")


if __name__ == "__main__":
    main()
