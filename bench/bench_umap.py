"""Benchmark: umapc.UMAP against umap-learn in the same run.

Per data set (Fashion-MNIST and MNIST, all 70,000 images = train then test), default parameters,
the same thread count for both:

* wall time of ``fit_transform`` (umap-learn after a JIT warm-up in the same process, and cold
  in a fresh process including ``import umap``), median of ``--repeats`` runs, each run in its
  own subprocess;
* peak memory: peak RSS (VmHWM) of that subprocess;
* trustworthiness@15 on a fixed 10,000-point sample, and the accuracy of a 15-NN classifier in
  the 2-D embedding (fit on the 60,000 training images, scored on the 10,000 test images);
* cold time on scikit-learn's digits (fresh process: import + fit);
* side-by-side pictures of both embeddings in ``docs/embeddings_<dataset>.png``.

It prints a Markdown table (command line and machine in the header) for ``docs/benchmarks.md``.
Use ``--n`` to run on a subset while developing, e.g. ``python bench/bench_umap.py --n 5000
--repeats 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import peak_rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("fashion-mnist", "mnist")
# The same images as floats: pixels / 255, and their PCA-50 scores (bench_quality.py --prepare
# caches those, fitted once on all 70,000 rows).
FLOAT_DATASETS = ("fashion-mnist-255", "fashion-mnist-pca50")
PCA_CACHE = ROOT / "bench" / "results" / "quality_cache" / "fmnist-pca50.npy"
IMPLEMENTATIONS = ("umapc", "umapc-seeded", "umap-learn")
TRUST_SAMPLE = 10_000
TRAIN_ROWS = 60_000


# ---------------------------------------------------------------------- worker (subprocess)


def _load(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        return data.data.astype(np.float32), data.target
    from _data import shared_data_dir

    from umapc._io import read_idx

    folder = shared_data_dir()
    if folder is None:
        raise SystemExit("no shared data folder (set UMAPC_DATA)")
    if dataset in FLOAT_DATASETS:
        X, y = _load("fashion-mnist", n)
        if dataset.endswith("-255"):
            return X / np.float32(255), y
        if not PCA_CACHE.exists():
            raise SystemExit(f"{PCA_CACHE} missing: run bench/bench_quality.py --prepare")
        return np.ascontiguousarray(np.load(PCA_CACHE)[:n], dtype=np.float32), y
    d = folder / dataset
    X = np.concatenate(
        [read_idx(d / "train-images-idx3-ubyte.gz"), read_idx(d / "t10k-images-idx3-ubyte.gz")]
    ).astype(np.float32)
    y = np.concatenate(
        [read_idx(d / "train-labels-idx1-ubyte.gz"), read_idx(d / "t10k-labels-idx1-ubyte.gz")]
    ).astype(np.int64)
    return X[:n], y[:n]


def _worker(args: argparse.Namespace) -> None:
    """One measured run: prints a JSON line with times and peak RSS; saves the embedding."""
    start = time.perf_counter()
    X, _ = _load(args.dataset, args.n)
    load_s = time.perf_counter() - start
    t0 = time.perf_counter()
    if args.impl == "umap-learn":
        import umap

        Model = umap.UMAP
    else:
        from umapc import UMAP as Model
    import_s = time.perf_counter() - t0
    kwargs = {"n_jobs": args.threads}
    if args.impl == "umapc-seeded":
        kwargs["random_state"] = 0
    if args.warm:
        # Compile umap-learn's numba kernels (and touch umapc's code paths) on a small subset.
        Model(**kwargs).fit_transform(X[: min(len(X), 2000)])
    t0 = time.perf_counter()
    embedding = Model(**kwargs).fit_transform(X)
    fit_s = time.perf_counter() - t0
    if args.save:
        np.save(args.save, np.asarray(embedding, dtype=np.float32))
    result = {"load_s": load_s, "import_s": import_s, "fit_s": fit_s, "peak_mib": peak_rss_mib()}
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------- driver


def _run_worker(impl: str, dataset: str, n: int, threads: int, warm: bool, save: str | None):
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    command = [sys.executable, __file__, "--worker", "--impl", impl, "--dataset", dataset]
    command += ["--n", str(n), "--threads", str(threads)]
    if warm:
        command.append("--warm")
    if save:
        command += ["--save", save]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{impl} on {dataset} failed:\n{done.stderr[-3000:]}")


def _quality(X: np.ndarray, y: np.ndarray, embedding: np.ndarray) -> tuple[float, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.RandomState(0)
    sample = rng.choice(len(X), size=min(TRUST_SAMPLE, len(X)), replace=False)
    trust = trustworthiness(X[sample], embedding[sample], n_neighbors=15)
    n_train = TRAIN_ROWS if len(X) > TRAIN_ROWS else int(0.85 * len(X))
    clf = KNeighborsClassifier(n_neighbors=15).fit(embedding[:n_train], y[:n_train])
    return float(trust), float(clf.score(embedding[n_train:], y[n_train:]))


def _picture(dataset: str, embeddings: dict[str, np.ndarray], y: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umapc.plot import plot_embedding

    names = [name for name in ("umapc", "umap-learn") if name in embeddings]
    fig, axes = plt.subplots(1, len(names), figsize=(8 * len(names), 8), dpi=100)
    for ax, name in zip(np.atleast_1d(axes), names):
        plot_embedding(embeddings[name], labels=y, ax=ax, title=f"{dataset}: {name}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _bench_dataset(dataset: str, args: argparse.Namespace, tmp: Path) -> list[dict]:
    X, y = _load(dataset, args.n)
    rows = []
    embeddings = {}
    for impl in IMPLEMENTATIONS:
        warm_runs = []
        save = str(tmp / f"{dataset}-{impl}.npy")
        for _ in range(args.repeats):
            warm_runs.append(_run_worker(impl, dataset, args.n, args.threads, True, save))
        cold_runs = []
        if impl != "umapc-seeded" and not args.skip_cold:
            for _ in range(args.cold_repeats):
                cold_runs.append(_run_worker(impl, dataset, args.n, args.threads, False, None))
        embedding = np.load(save)
        embeddings[impl] = embedding
        trust, accuracy = _quality(X, y, embedding)
        rows.append(
            {
                "dataset": dataset,
                "impl": impl,
                "warm_s": statistics.median(r["fit_s"] for r in warm_runs),
                "cold_s": statistics.median(r["import_s"] + r["fit_s"] for r in cold_runs)
                if cold_runs
                else float("nan"),
                "peak_mib": statistics.median(
                    r["peak_mib"] for r in (cold_runs if cold_runs else warm_runs)
                ),
                "trust": trust,
                "accuracy": accuracy,
            }
        )
        print(f"  {dataset} {impl}: {rows[-1]}", file=sys.stderr, flush=True)
    if args.pictures:
        path = Path(args.pictures_dir) / f"embeddings_{dataset}.png"
        _picture(dataset, embeddings, y, path)
        print(f"  wrote {path}", file=sys.stderr)
    return rows


def _bench_digits_cold(args: argparse.Namespace) -> dict[str, float]:
    times = {}
    for impl in ("umapc", "umap-learn"):
        runs = [
            _run_worker(impl, "digits", 1797, args.threads, False, None)
            for _ in range(args.cold_repeats)
        ]
        times[impl] = statistics.median(r["import_s"] + r["fit_s"] for r in runs)
    return times


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import sklearn

    import umapc

    try:
        import umap

        umap_version = umap.__version__
    except ImportError:
        umap_version = "absent"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"umapc {umapc.__version__}, umap-learn {umap_version}, scikit-learn {sklearn.__version__}"
    )


def _table(rows: list[dict], digits: dict[str, float] | None, args: argparse.Namespace) -> str:
    lines = [
        f"Command: `python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}`  ",
        f"Machine: {_machine()}  ",
        f"Threads: {args.threads} for both; warm = median of {args.repeats} runs after a JIT "
        f"warm-up; cold = fresh process, import + fit, median of {args.cold_repeats}; "
        "peak memory = peak RSS of the run's process.",
        "",
        "| data set | n | implementation | warm time (s) | cold time (s) | time vs umap-learn "
        "(warm) | peak memory (MiB) | memory vs umap-learn | trustworthiness@15 | 15-NN accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        group = [r for r in rows if r["dataset"] == dataset]
        ref = next(r for r in group if r["impl"] == "umap-learn")
        for r in group:
            lines.append(
                f"| {dataset} | {args.n} | {r['impl']} | {r['warm_s']:.1f} | {r['cold_s']:.1f} | "
                f"{r['warm_s'] / ref['warm_s']:.3f} | {r['peak_mib']:.0f} | "
                f"{r['peak_mib'] / ref['peak_mib']:.2f} | {r['trust']:.4f} | "
                f"{r['accuracy']:.4f} |"
            )
    if digits:
        ratio = digits["umapc"] / digits["umap-learn"]
        lines += [
            "",
            "Cold start on scikit-learn's digits (1,797 x 64, fresh process, import + fit): "
            f"umapc {digits['umapc']:.2f} s, umap-learn {digits['umap-learn']:.2f} s, "
            f"ratio {ratio:.3f}.",
        ]
    lines.append("")
    lines.append("umapc-seeded = umapc with random_state=0 (deterministic, still multi-threaded).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", choices=(*DATASETS, *FLOAT_DATASETS, "all", "digits"), default="all"
    )
    parser.add_argument("--n", type=int, default=70_000, help="rows used (train then test)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per implementation")
    parser.add_argument("--cold-repeats", type=int, default=1)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--no-pictures", dest="pictures", action="store_false")
    parser.add_argument("--pictures-dir", default=str(ROOT / "docs"), help="default docs/")
    # Worker mode (internal).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    datasets = DATASETS if args.dataset == "all" else (args.dataset,)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            rows += _bench_dataset(dataset, args, Path(tmp))
    digits = None if args.skip_digits else _bench_digits_cold(args)
    print(_table(rows, digits, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
