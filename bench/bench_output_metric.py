"""Benchmark: non-euclidean output metrics, umapc against umap-learn in the same run.

On the first ``--n`` Fashion-MNIST images (÷ 255), each fit in its own subprocess with
``--threads`` threads (umap-learn after a JIT warm-up fit of 500 rows with the same output metric
in that subprocess), default parameters and ``random_state=--seed``: wall time of
``fit_transform``, and trustworthiness@15 on a fixed 5,000-row sample measured in the output
space (a haversine embedding is mapped onto the unit sphere, whose chord distances order
neighbours as great-circle distances do). Prints a Markdown table. Example:
``python bench/bench_output_metric.py --n 10000 --metrics haversine``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model  # noqa: E402

TRUST_SAMPLE = 5_000


def _data(n: int) -> np.ndarray:
    folder = shared.shared_data_dir()
    if folder is None:
        raise SystemExit("no shared data folder (set UMAPC_DATA)")
    x_train, _, x_test, _ = shared.load_fashion_mnist(folder)
    return (np.concatenate([x_train, x_test])[:n] / np.float32(255)).astype(np.float32)


def _output_points(embedding: np.ndarray, metric: str) -> np.ndarray:
    if metric == "haversine":
        lat, lon = embedding[:, 0], embedding[:, 1]
        return np.column_stack([np.sin(lat) * np.cos(lon), np.sin(lat) * np.sin(lon), np.cos(lat)])
    return embedding


def _worker(args: argparse.Namespace) -> None:
    import warnings

    from sklearn.manifold import trustworthiness

    x = _data(args.n)
    if args.impl == "umap-learn":
        from umap import UMAP
    else:
        from umapc import UMAP
    params = {"output_metric": args.metric, "n_jobs": args.threads}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.impl == "umap-learn":
            UMAP(**params, n_epochs=10).fit(x[:500])
        start = time.perf_counter()
        emb = UMAP(**params, random_state=args.seed).fit_transform(x)
        seconds = time.perf_counter() - start
    sample = np.random.default_rng(0).choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False)
    trust = trustworthiness(x[sample], _output_points(emb[sample], args.metric), n_neighbors=15)
    print(json.dumps({"seconds": seconds, "trust": float(trust)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", nargs="+", default=["haversine"])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="umapc", help=argparse.SUPPRESS)
    ap.add_argument("--metric", default="haversine", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), NUMBA_NUM_THREADS=str(args.threads))
    rows = []
    for metric in args.metrics:
        for impl in ("umapc", "umap-learn"):
            cmd = [sys.executable, __file__, "--worker", "--impl", impl, "--metric", metric]
            cmd += ["--n", str(args.n), "--threads", str(args.threads), "--seed", str(args.seed)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rows.append((metric, impl, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"`python bench/bench_output_metric.py {' '.join(sys.argv[1:])}` on {cpu_model()}, ")
    print(f"{args.threads} threads, Fashion-MNIST / 255, n={args.n}, random_state={args.seed}\n")
    print("| output metric | implementation | time (s) | time / umap-learn | trustworthiness@15 |")
    print("|---|---|---|---|---|")
    for metric, impl, r in rows:
        peer = next(x for m, i, x in rows if m == metric and i == "umap-learn")
        ratio = r["seconds"] / peer["seconds"]
        print(f"| {metric} | {impl} | {r['seconds']:.1f} | {ratio:.3f} | {r['trust']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
