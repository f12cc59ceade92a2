"""All-points k-NN graph (k=15) on every kind of data: umapc's default (NN-descent with its
sampled recall check, or the exact graph where that is cheaper) against pynndescent with
umap-learn's settings, in the same run, 2 threads. Pixels, pixels / 255, PCA-50 scores, single-cell
PCA scores, word vectors and sentence embeddings (cosine).

Reports the median wall time of ``--repeats`` runs (the methods take turns), the ratio to
pynndescent, recall@15 against the exact graph (a neighbour tied with the exact 15th counts as
found) and the SIMD level in use. The exact graphs come from umapc's exact search (tested against
scikit-learn and scipy), or from the shared Fashion-MNIST ground truth (faiss) where it covers the
set. Cached inputs (PCA-50, sentence embeddings) are those of ``bench/bench_quality.py
--prepare``; sets whose files are missing are skipped.

    python bench/bench_knn_data.py [--repeats 3] [--datasets fmnist fmnist-255 ...] [--write-docs]
    UMAPC_SIMD=avx2 python bench/bench_knn_data.py ...
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import umapc
from umapc import _core, _io

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model, replace_section  # noqa: E402
from bench_nndescent import timed_round_robin  # noqa: E402

K = 15
CACHE = Path(__file__).resolve().parent / "results" / "quality_cache"


def _fashion(data: Path) -> np.ndarray:
    tr, _, te, _ = shared.load_fashion_mnist(data)
    return np.ascontiguousarray(np.vstack([tr, te]), dtype=np.float32)


def _cached(name: str) -> np.ndarray:
    path = CACHE / f"{name}.npy"
    if not path.exists():
        raise FileNotFoundError(f"{path} (run bench/bench_quality.py --prepare)")
    return np.ascontiguousarray(np.load(path), dtype=np.float32)


def _datasets(data: Path) -> dict[str, tuple[Callable[[], np.ndarray], str]]:
    return {
        "fmnist": (lambda: _fashion(data), "euclidean"),
        "fmnist-255": (lambda: _fashion(data) / np.float32(255), "euclidean"),
        "fmnist-pca50": (lambda: _cached("fmnist-pca50"), "euclidean"),
        "mnist-pca50": (lambda: _cached("mnist-pca50"), "euclidean"),
        "scrna10k": (lambda: _cached("scrna10k-pca50"), "euclidean"),
        "glove25": (
            lambda: _io.read_fvecs(data / "glove25" / "glove_twitter_25d_12k.fvecs"),
            "cosine",
        ),
        "word2vec300": (
            lambda: _io.read_fvecs(data / "word2vec300" / "word2vec_gnews_8k_300d.fvecs"),
            "cosine",
        ),
        "news-minilm": (lambda: _cached("news-minilm-l6-v2"), "cosine"),
    }


def _exact_kth(name: str, x: np.ndarray, metric: str, data: Path) -> np.ndarray:
    """Distance of each row's exact 15th neighbour (itself first)."""
    truth_file = data / "fashion-mnist" / "groundtruth" / "all70k_knn31.npy"
    if name.startswith("fmnist") and "pca" not in name and truth_file.exists():
        kth = np.load(truth_file)[:, K - 1]
        return np.sqrt(((x.astype(np.float64) - x[kth].astype(np.float64)) ** 2).sum(1))
    return _core.exact_knn_graph(x, K, metric=metric, n_jobs=2)[1][:, K - 1].astype(np.float64)


def _recall(found: np.ndarray, kth: np.ndarray) -> float:
    return float(np.mean(found[:, :K] <= kth[:, None] * (1 + 1e-5) + 1e-7))


def _methods(x: np.ndarray, metric: str, threads: int, peers: bool) -> dict[str, Callable]:
    methods: dict[str, Callable[[], np.ndarray]] = {
        "umapc": lambda: umapc.NNIndex(
            x, n_neighbors=K, metric=metric, n_jobs=threads, backend="hnsw"
        ).neighbor_graph[1],
        "umapc, search only": lambda: _core.nndescent_knn_graph(
            x, K, metric=metric, n_jobs=threads, min_recall=0.0
        )[1],
    }
    if peers:
        from pynndescent import NNDescent

        n = x.shape[0]
        n_trees = min(64, 5 + int(round(math.sqrt(n) / 20)))
        n_iters = max(5, int(round(math.log2(n))))
        NNDescent(x[:2000], n_neighbors=K, metric=metric, n_jobs=threads)  # JIT warm-up
        methods["pynndescent"] = lambda: NNDescent(
            x,
            n_neighbors=K,
            metric=metric,
            n_trees=n_trees,
            n_iters=n_iters,
            max_candidates=60,
            n_jobs=threads,
        ).neighbor_graph[1]
    return methods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-pynndescent", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    data = shared.shared_data_dir()
    if data is None:
        raise SystemExit("shared data not found")
    specs = _datasets(data)
    level = _core.simd_level()
    lines = []
    for name in args.datasets or list(specs):
        make, metric = specs[name]
        try:
            x = np.ascontiguousarray(make(), dtype=np.float32)
        except FileNotFoundError as missing:
            print(f"{name}: skipped, missing {missing}", file=sys.stderr)
            continue
        kth = _exact_kth(name, x, metric, data)
        results = timed_round_robin(
            _methods(x, metric, args.threads, not args.skip_pynndescent), args.repeats
        )
        ref = results.get("pynndescent", (float("nan"), None))[0]
        for method, (seconds, dist) in results.items():
            row = (
                f"| {name} | {x.shape[0]:,} × {x.shape[1]} | {metric} | {method} | {seconds:.2f} "
                f"| {seconds / ref:.2f} | {_recall(dist, kth):.4f} |"
            )
            print(row, flush=True)
            lines.append(row)
    header = [
        "| data | n × dim | metric | method | median wall (s) | vs pynndescent | recall@15 |",
        "|---|---|---|---|---|---|---|",
    ]
    command = "python bench/bench_knn_data.py " + " ".join(sys.argv[1:]).replace(
        " --write-docs", ""
    )
    simd = os.environ.get("UMAPC_SIMD")
    section = "\n".join(
        [
            f"## k-NN graph on every kind of data (SIMD level {level})",
            "",
            f"Command: `{'UMAPC_SIMD=' + simd + ' ' if simd else ''}{command}`  ",
            f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, Python "
            f"{platform.python_version()}, umapc SIMD level {level}; {args.threads} threads, "
            f"median of {args.repeats} runs taking turns. umapc: `NNIndex(...).neighbor_graph` "
            "defaults (NN-descent with the sampled recall check; small float sets whose exact "
            "graph is cheaper take it); 'search only': NN-descent without the check "
            "(`min_recall=0`); pynndescent: umap-learn's settings, after a JIT warm-up.",
            "",
            *header,
            *lines,
        ]
    )
    print(section)
    if args.write_docs:
        replace_section(section + "\n")


if __name__ == "__main__":
    main()
