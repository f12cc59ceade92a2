"""Benchmark: umap-learn's estimator features beyond the plain fit, umapc against umap-learn in the
same run.

On the first ``--n`` Fashion-MNIST images (÷ 255, train then test order), with ``--threads``
threads for both and each fit in its own subprocess (umap-learn after a JIT warm-up on a small
fit of the same kind, in the same subprocess):

* supervised fit (``fit(X, y)``, categorical labels);
* densMAP fit (``densmap=True``);
* ``inverse_transform`` of ``--inverse`` points of a fitted 2-D model (the points are embedded
  training rows moved by 0.05; only the call is timed). A worker that runs past ``--timeout``
  seconds is stopped (umap-learn's inverse_transform on tens of thousands of points: its Delaunay
  triangulation and neighbour search take many minutes); its time is then reported as "> t", t
  the seconds from the start of the timed call to the stop, and the ratio as an upper bound.

Reported per feature: wall time of each, the ratio umapc / umap-learn, trustworthiness@15 on a
fixed 5,000-row sample (fits) or the 1-NN label accuracy of the reconstructions
(``inverse_transform``), and peak RSS. Prints a Markdown table. Example:
``python bench/bench_parity.py --n 20000``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model, peak_rss_mib  # noqa: E402

FEATURES = ("supervised", "densmap", "inverse")
TRUST_SAMPLE = 5_000


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:

    root = shared.shared_data_dir()
    if root is None:
        sys.exit("shared data folder not found (set UMAPC_DATA)")
    tx, ty, vx, vy = shared.load_fashion_mnist(root)
    x = np.concatenate([tx, vx]).reshape(-1, 784)[:n].astype(np.float32) / 255.0
    return np.ascontiguousarray(x), np.concatenate([ty, vy])[:n]


def _model(impl: str, feature: str, threads: int):
    if impl == "umapc":
        from umapc import UMAP
    else:
        from umap import UMAP
    params = {"random_state": 0} if impl == "umapc" else {}
    if feature == "densmap":
        params["densmap"] = True
    return UMAP(n_jobs=threads, **params)


def _worker(impl: str, feature: str, n: int, threads: int, n_inverse: int, out: Path) -> None:
    import warnings

    warnings.simplefilter("ignore")
    x, y = _data(n)
    # warm-up (numba JIT for umap-learn) on a small fit of the same kind
    small = _model(impl, feature, threads)
    if feature == "supervised":
        small.fit(x[:500], y[:500])
    else:
        small.fit(x[:500])
        if feature == "inverse":
            small.inverse_transform(small.embedding_[:5] + 0.05)
    model = _model(impl, feature, threads)
    result: dict = {}
    t0 = time.perf_counter()
    if feature == "supervised":
        model.fit(x, y)
    else:
        model.fit(x)
    result["fit_s"] = time.perf_counter() - t0
    if feature == "inverse":
        rows = np.random.default_rng(0).choice(n, n_inverse, replace=False)
        points = model.embedding_[rows] + 0.05
        # wall clock, for the parent to bound the call's time if it has to stop the worker
        out.with_suffix(".started").write_text(repr(time.time()))
        t0 = time.perf_counter()
        inv = model.inverse_transform(points)
        result["time_s"] = time.perf_counter() - t0
        from sklearn.neighbors import KNeighborsClassifier

        clf = KNeighborsClassifier(1).fit(x, y)
        result["score"] = float((clf.predict(inv) == y[rows]).mean())
    else:
        from sklearn.manifold import trustworthiness

        result["time_s"] = result["fit_s"]
        sample = np.random.default_rng(0).choice(n, min(TRUST_SAMPLE, n), replace=False)
        emb = model.embedding_[sample]
        result["score"] = float(trustworthiness(x[sample], emb, n_neighbors=15))
    result["peak_mib"] = peak_rss_mib()
    out.write_text(json.dumps(result))


def _run(impl: str, feature: str, args: argparse.Namespace, tmp: Path) -> dict:
    """The worker's result; one stopped at ``args.timeout`` seconds gives ``{"more_than": t}``,
    t the seconds its timed call had run (0 when it had not started)."""
    out = tmp / f"{impl}-{feature}.json"
    env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--worker", impl, feature, "--n", str(args.n)]
    cmd += ["--threads", str(args.threads), "--inverse", str(args.inverse), "--out", str(out)]
    try:
        subprocess.run(cmd, check=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        started = out.with_suffix(".started")
        ran = time.time() - float(started.read_text()) if started.exists() else 0.0
        return {"more_than": ran}
    return json.loads(out.read_text())


def _row(label: str, theirs: dict, ours: dict) -> str:
    """A table row; a stopped worker's time shows as '> t' and the ratio against it as an upper
    bound."""

    def cell(r: dict, key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    def secs(r: dict) -> str:
        return f"> {r['more_than']:.0f}" if "more_than" in r else f"{r['time_s']:.2f}"

    if "more_than" in ours:
        ratio = "-"
    elif "more_than" in theirs:
        ratio = f"< {ours['time_s'] / theirs['more_than']:.3f}" if theirs["more_than"] else "-"
    else:
        ratio = f"{ours['time_s'] / theirs['time_s']:.3f}"
    return (
        f"| {label} | {secs(theirs)} | {secs(ours)} | {ratio} | {cell(theirs, 'score', '.4f')} | "
        f"{cell(ours, 'score', '.4f')} | {cell(theirs, 'peak_mib', '.0f')} | "
        f"{cell(ours, 'peak_mib', '.0f')} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=70_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inverse", type=int, default=1_000)
    ap.add_argument("--features", nargs="+", choices=FEATURES, default=list(FEATURES))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per worker")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker[0], args.worker[1], args.n, args.threads, args.inverse, args.out)
        return 0
    lines = [
        f"Command: `python bench/bench_parity.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; umapc seeded (random_state=0), "
        "umap-learn unseeded (its parallel mode); each in its own process, umap-learn after a "
        "JIT warm-up.",
        "",
        "| feature | umap-learn s | umapc s | ratio | quality umap-learn | quality umapc | "
        "peak MiB umap-learn | peak MiB umapc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for feature in args.features:
            theirs = _run("umap-learn", feature, args, Path(tmp))
            ours = _run("umapc", feature, args, Path(tmp))
            label = {
                "supervised": f"supervised fit, {args.n:,} rows (trust.)",
                "densmap": f"densMAP fit, {args.n:,} rows (trust.)",
                "inverse": f"inverse_transform of {args.inverse:,} points (1-NN acc.)",
            }[feature]
            lines.append(_row(label, theirs, ours))
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
