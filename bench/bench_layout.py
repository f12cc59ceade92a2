"""Benchmark: umapc's layout optimisation (SGD) against umap-learn's, same graph, same init.

The fuzzy graph of Fashion-MNIST (the first ``--n`` of its 70,000 images, train then test) is built
once from exact 15-NN (``umapc._core``) and cached in ``--cache``; the initial embedding is the
spectral layout of ``umapc._core`` rescaled as umap-learn does. Then, with ``--threads`` threads,
``--epochs`` epochs and umap-learn's default a, b:

* umapc's ``_core.optimize_layout`` (``seed=0``) at every SIMD level in ``--levels`` (each in its
  own process under ``UMAPC_SIMD``, since the level is fixed per process), with a column saying
  whether its embedding has the same bytes as the scalar level's;
* umap-learn's ``umap.layouts.optimize_layout_euclidean`` (``parallel=True``, ``move_other=True``),
  timed after a JIT warm-up on a small graph, on the same pruned graph.

Reported: median wall time of ``--repeats`` runs (the machine may be shared: medians, not minima),
the ratio to umap-learn, trustworthiness@15 on a fixed 5,000-point sample and the accuracy of a
15-NN classifier in 2-D (first 6/7 of the points fit, last 1/7 scored). Prints a Markdown table.
Example: ``python bench/bench_layout.py --n 20000 --repeats 3``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model  # noqa: E402

TRUST_SAMPLE = 5_000
N_NEIGHBORS = 15


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:

    root = shared.shared_data_dir()
    if root is None:
        sys.exit("shared data folder not found (set UMAPC_DATA)")
    tx, ty, vx, vy = shared.load_fashion_mnist(root)
    x = np.concatenate([tx, vx]).reshape(-1, 28 * 28)[:n]
    y = np.concatenate([ty, vy])[:n]
    return np.ascontiguousarray(x, dtype=np.float32), y


def _graph(x: np.ndarray, threads: int, cache: Path) -> dict[str, np.ndarray]:
    if cache.exists():
        with np.load(cache) as f:
            if int(f["n"]) == len(x):
                return dict(f)
    from umapc import _core

    knn_i, knn_d = _core.exact_knn_graph(x, N_NEIGHBORS, n_jobs=threads)
    indptr, indices, data, _, _ = _core.fuzzy_simplicial_set(knn_i, knn_d, len(x), n_jobs=threads)
    init, _ = _core.spectral_layout(indptr, indices, data, 2, 0, n_jobs=threads)
    _core.rescale_embedding(init, 0, True)
    out = {"n": np.array(len(x)), "indptr": indptr, "indices": indices, "data": data, "init": init}
    np.savez(cache, **out)
    return out


def _umap_learn_inputs(g: dict[str, np.ndarray], n_epochs: int):
    import scipy.sparse as sp
    from umap.umap_ import make_epochs_per_sample

    n = len(g["init"])
    coo = sp.csr_matrix((g["data"], g["indices"], g["indptr"]), shape=(n, n)).tocoo()
    keep = coo.data >= coo.data.max() / float(n_epochs)
    head, tail, w = coo.row[keep], coo.col[keep], coo.data[keep]
    return head, tail, make_epochs_per_sample(w, n_epochs)


def _run_umap_learn(g: dict[str, np.ndarray], n_epochs: int, a: float, b: float) -> np.ndarray:
    from umap.layouts import optimize_layout_euclidean

    head, tail, eps = _umap_learn_inputs(g, n_epochs)
    emb = g["init"].copy()
    rng_state = np.random.RandomState(0).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
    return optimize_layout_euclidean(
        emb,
        emb,
        head,
        tail,
        n_epochs,
        len(emb),
        eps,
        a,
        b,
        rng_state,
        parallel=True,
        move_other=True,
    )


def _run_umapc(
    g: dict[str, np.ndarray], n_epochs: int, a: float, b: float, seed: int, threads: int
) -> np.ndarray:
    from umapc import _core

    emb = g["init"].copy()
    _core.optimize_layout(
        emb, None, g["indptr"], g["indices"], g["data"], n_epochs, a, b, seed=seed, n_jobs=threads
    )
    return emb


def _quality(x: np.ndarray, y: np.ndarray, emb: np.ndarray) -> tuple[float, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    sample = np.random.default_rng(0).choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False)
    trust = trustworthiness(x[sample], emb[sample], n_neighbors=N_NEIGHBORS)
    cut = len(x) * 6 // 7
    clf = KNeighborsClassifier(N_NEIGHBORS).fit(emb[:cut], y[:cut])
    return float(trust), float(clf.score(emb[cut:], y[cut:]))


def _timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _level_worker(args: argparse.Namespace, a: float, b: float) -> None:
    """One level, in this process: time the seeded layout, save the embedding, print JSON."""
    import json

    import umapc

    g = _graph(*_data(args.n)[:1], args.threads, args.cache)
    t, emb = _timed(lambda: _run_umapc(g, args.epochs, a, b, 0, args.threads), args.repeats)
    np.save(args.worker_out, emb)
    print(json.dumps({"level": umapc.simd_level(), "time": t}))


def _run_levels(args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> list[tuple]:
    import json
    import subprocess
    import tempfile

    rows, ref = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for level in args.levels:
            out = Path(tmp) / f"{level}.npy"
            cmd = [
                sys.executable,
                __file__,
                "--n",
                str(args.n),
                "--epochs",
                str(args.epochs),
                "--threads",
                str(args.threads),
                "--repeats",
                str(args.repeats),
                "--cache",
                str(args.cache),
                "--worker-out",
                str(out),
            ]
            env = dict(os.environ, UMAPC_SIMD=level)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            emb = np.load(out)
            ref = emb if ref is None else ref
            same = "yes" if np.array_equal(emb, ref) else "no"
            rows.append((f"umapc {info['level']}", info["time"], *_quality(x, y, emb), same))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=70_000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--skip-umap-learn", action="store_true")
    ap.add_argument(
        "--levels",
        nargs="+",
        default=["scalar", "avx2", "avx512"],
        help="UMAPC_SIMD levels to run (the first is the reference for 'same bytes')",
    )
    ap.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import numba

    numba.set_num_threads(args.threads)
    from umap.umap_ import find_ab_params

    a, b = (float(v) for v in find_ab_params(1.0, 0.1))
    args.cache = args.cache or Path(f"/tmp/umapc_bench_layout_{args.n}.npz")
    if args.worker_out is not None:
        _level_worker(args, a, b)
        return
    x, y = _data(args.n)
    g = _graph(x, args.threads, args.cache)
    rows = _run_levels(args, x, y)
    if not args.skip_umap_learn:
        small = _graph(x[:2000], args.threads, Path("/tmp/umapc_bench_layout_warmup.npz"))
        _run_umap_learn(small, 10, a, b)  # JIT warm-up
        t, emb = _timed(lambda: _run_umap_learn(g, args.epochs, a, b), args.repeats)
        rows.append(("umap-learn", t, *_quality(x, y, emb), "-"))
    ref = rows[-1][1] if not args.skip_umap_learn else None
    cpu = cpu_model()
    print(
        f"\n`python bench/bench_layout.py {' '.join(sys.argv[1:])}` on {cpu}, "
        f"{args.threads} threads, Fashion-MNIST n={args.n}, {args.epochs} epochs, "
        f"median of {args.repeats} runs (shared machine)\n"
    )
    print(
        "| implementation | time (s) | time / umap-learn | trustworthiness@15 | 15-NN accuracy "
        f"| same bytes as {args.levels[0]} |"
    )
    print("|---|---|---|---|---|---|")
    for name, t, trust, acc, same in rows:
        ratio = f"{t / ref:.3f}" if ref else "-"
        print(f"| {name} | {t:.2f} | {ratio} | {trust:.4f} | {acc:.4f} | {same} |")


if __name__ == "__main__":
    main()
