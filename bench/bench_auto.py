"""Where NNIndex's ``backend="auto"`` switches from exact search to the approximate graph.

For the all-points k-NN graph (what UMAP needs), times the exact backend and NN-descent on growing
prefixes of Fashion-MNIST (784 dims, euclidean), SIFT-small (128, euclidean) and GloVe-25
(cosine), and prints which one
``auto`` picks at each size, so the rule can be checked against the measured crossover.

    python bench/bench_auto.py [--threads 2] [--repeats 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from umapc import _core, _io, index

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import replace_section  # noqa: E402


def median_time(fn, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--write-docs", action="store_true", help="replace its section of the docs")
    args = ap.parse_args()
    data = shared.shared_data_dir()
    if data is None:
        raise SystemExit("shared data not found")
    fashion = shared.load_fashion_mnist(data)[0]
    sift = _io.read_fvecs(data / "siftsmall" / "siftsmall_base.fvecs")
    glove = _io.read_fvecs(data / "glove25" / "glove_twitter_25d_12k.fvecs")
    sets = (
        ("fashion", fashion, "euclidean", (250, 500, 750, 1000, 1500, 3000)),
        ("sift", sift, "euclidean", (2000, 3000, 4000, 5000, 7500)),
        ("glove", glove, "cosine", (3000, 6000, 9000, 11925)),
    )
    lines = [
        '## Exact or approximate: NNIndex(backend="auto")',
        "",
        f"Command: `{' '.join(['python', 'bench/bench_auto.py', *sys.argv[1:]])}`",
        f"Machine: {os.cpu_count()} cores; k={args.k}, {args.threads} threads, median of "
        f"{args.repeats}. All-points graph by the exact backend and by NN-descent on prefixes of "
        "each data set, and the backend that `auto` picks (exact while n * (dim + 11) <= 5.5e5).",
        "",
        "| data | n | dim | exact (s) | NN-descent (s) | faster | auto picks |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, x_all, metric, sizes in sets:
        for n in sizes:
            x = np.ascontiguousarray(x_all[:n], dtype=np.float32)
            t_exact = median_time(
                lambda x=x, metric=metric: _core.exact_knn_graph(
                    x, args.k, metric=metric, n_jobs=args.threads
                ),
                args.repeats,
            )
            t_nnd = median_time(
                lambda x=x, metric=metric: _core.nndescent_knn_graph(
                    x, args.k, metric=metric, n_jobs=args.threads
                ),
                args.repeats,
            )
            faster = "exact" if t_exact <= t_nnd else "hnsw"
            picked = index.NNIndex._choose_backend("auto", n, x.shape[1])
            lines.append(
                f"| {name} | {n} | {x.shape[1]} | {t_exact:.3f} | {t_nnd:.3f} | {faster} | "
                f"{picked} |"
            )
            print(lines[-1], flush=True)
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write_docs:
        replace_section(section)


if __name__ == "__main__":
    main()
