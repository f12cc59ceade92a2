"""Exact all-points k-NN graph on Fashion-MNIST: umapc vs faiss ``IndexFlatL2`` vs scikit-learn.

Each tool runs in its own subprocess (so peak RSS is the tool's own), several times; the table
reports the median wall time, ratios to the peers in the same run, peak memory, agreement of the
neighbour sets with faiss and with the shared ground truth, and the rate umapc's matrix-multiply
formulation reaches against an assumed peak of 32 fp32 FLOP/cycle/core (Zen 4: two 256-bit FMA
pipes) at the clock /proc/cpuinfo reports.

Run: ``python bench/bench_exact.py`` (``--quick`` for a short run: 1 repeat, 20k only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model, reset_peak_rss  # noqa: E402

TOOLS = ("umapc", "faiss", "sklearn")


# ---- child side ------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def load_points(n: int) -> np.ndarray:
    """The first n of the 70,000 Fashion-MNIST images (train then test), float32 pixels."""

    data_dir = shared.shared_data_dir()
    if data_dir is None:
        raise SystemExit("shared data not found (set UMAPC_DATA or place ../shared/data)")
    train_x, _, test_x, _ = shared.load_fashion_mnist(data_dir)
    x = train_x if n <= len(train_x) else np.concatenate([train_x, test_x])
    return np.ascontiguousarray(x[:n], dtype=np.float32)


def _graph_function(tool: str, threads: int):
    if tool == "umapc":
        from umapc import _core

        return lambda x, k: _core.exact_knn_graph(x, k, metric="euclidean", n_jobs=threads)[0]
    if tool == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)

        def run_faiss(x: np.ndarray, k: int) -> np.ndarray:
            index = faiss.IndexFlatL2(x.shape[1])
            index.add(x)
            return index.search(x, k)[1]

        return run_faiss
    from sklearn.neighbors import NearestNeighbors

    def run_sklearn(x: np.ndarray, k: int) -> np.ndarray:
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=threads).fit(x)
        return nn.kneighbors(x, return_distance=False)

    return run_sklearn


def worker(tool: str, n: int, k: int, threads: int, repeats: int, out: str) -> None:
    x = load_points(n)
    graph = _graph_function(tool, threads)
    base_kib = _status_kib("VmRSS")
    reset_peak_rss()
    walls, cpus = [], []
    indices = None
    for _ in range(max(repeats, 1)):
        indices = None  # the previous result does not add to this run's peak
        wall, cpu = time.perf_counter(), time.process_time()
        indices = graph(x, k)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    np.save(out, np.asarray(indices, dtype=np.int64))
    report = {
        "walls": walls,
        "cpus": cpus,
        "peak_mib": _status_kib("VmHWM") / 1024.0,
        "base_mib": base_kib / 1024.0,
    }
    print(json.dumps(report))


# ---- parent side -----------------------------------------------------------------------------


def run_tool(tool: str, n: int, k: int, threads: int, repeats: int, tmp: Path) -> dict:
    out = tmp / f"{tool}_{n}_{k}.npy"
    cmd = [sys.executable, __file__, "--worker", tool, "--n", str(n), "--k", str(k)]
    cmd += ["--threads", str(threads), "--repeats", str(repeats), "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} on {n} points failed:\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["indices"] = np.load(out)
    return report


def sq_distances(x: np.ndarray, indices: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Squared euclidean distances of every listed neighbour, in float64."""
    out = np.empty(indices.shape, dtype=np.float64)
    for s in range(0, len(x), chunk):
        rows = x[s : s + chunk].astype(np.float64)
        nbrs = x[indices[s : s + chunk]].astype(np.float64)
        out[s : s + chunk] = ((nbrs - rows[:, None, :]) ** 2).sum(axis=2)
    return out


def agreement(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """(identical neighbour sets, sets equal up to ties): the second counts a row as agreeing
    when the sorted distance lists of both answers match, so swapping tied rows is no error."""
    same = np.mean(np.all(np.sort(ours, axis=1) == np.sort(theirs, axis=1), axis=1, keepdims=False))
    d_ours = np.sort(sq_distances(x, ours), axis=1)
    d_theirs = np.sort(sq_distances(x, theirs), axis=1)
    close = np.isclose(d_ours, d_theirs, rtol=1e-6, atol=1e-3).all(axis=1)
    return float(same), float(np.mean(close))


def cpu_mhz() -> float:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return float("nan")


def fmt_agree(pair: tuple[float, float] | None) -> str:
    if pair is None:
        return "-"
    return f"{100 * pair[0]:.2f}% / {100 * pair[1]:.2f}%"


def bench_task(
    n: int,
    k: int,
    tools: tuple[str, ...],
    repeats: int,
    args: argparse.Namespace,
    tmp: Path,
    rows: list,
) -> None:
    x = load_points(n)
    results = {t: run_tool(t, n, k, args.threads, repeats, tmp) for t in tools}
    truth = None
    gt_path = Path(str(_shared_dir())) / "fashion-mnist" / "groundtruth" / "all70k_knn31.npy"
    if gt_path.exists() and n == 70000 and k <= 31:
        truth = np.load(gt_path)[:, :k]
    median = {t: statistics.median(r["walls"]) for t, r in results.items()}
    flops = 2.0 * n * n * x.shape[1]
    peak = 32.0 * cpu_mhz() * 1e6 * args.threads
    for t, r in results.items():
        vs_faiss = agreement(x, r["indices"], results["faiss"]["indices"]) if t != "faiss" else None
        vs_truth = agreement(x, r["indices"], truth) if truth is not None else None
        ratios = " / ".join(
            f"{median[t] / median[o]:.2f}x {o}"
            for o in ("faiss", "sklearn")
            if o in median and o != t
        )
        rate = "-"
        if t == "umapc":
            cpu_rate = flops / statistics.median(r["cpus"]) / 1e9
            rate = (
                f"{flops / median[t] / 1e9:.0f} ({100 * flops / median[t] / peak:.0f}% of peak); "
                f"{cpu_rate:.0f} per CPU-s"
            )
        rows.append(
            f"| {n // 1000}k, k={k} | {t} | {median[t]:.2f} | {ratios or '-'} | "
            f"{r['peak_mib']:.0f} (+{r['peak_mib'] - r['base_mib']:.0f}) | "
            f"{fmt_agree(vs_faiss)} | {fmt_agree(vs_truth)} | {rate} |"
        )


def _shared_dir() -> Path | None:

    return shared.shared_data_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=20000, help="points in the small graph")
    parser.add_argument("--k", type=int, default=16, help="neighbours in the small graph")
    parser.add_argument("--k-full", type=int, default=31, help="neighbours in the 70k graph")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repeats-full", type=int, help="repeats of the 70k graph (default: --repeats)"
    )
    parser.add_argument("--skip-full", action="store_true", help="skip the 70k graph")
    parser.add_argument("--skip-small", action="store_true", help="only the 70k graph")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 20k only")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.k, args.threads, args.repeats, args.out)
        return
    if args.quick:
        args.repeats, args.skip_full = 1, True
    from umapc import _core

    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_small:
            bench_task(args.n, args.k, TOOLS, args.repeats, args, Path(tmp), rows)
        if not args.skip_full:
            full_repeats = args.repeats_full or args.repeats
            bench_task(70000, args.k_full, ("umapc", "faiss"), full_repeats, args, Path(tmp), rows)
    print(f"Command: `{' '.join(['python', 'bench/bench_exact.py', *sys.argv[1:]])}`")
    print()
    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {cpu_mhz():.0f} MHz; "
        f"{args.threads} threads; umapc SIMD level {_core.simd_level()}; "
        f"median of {args.repeats} run(s)"
        + ("." if args.skip_full else f" ({args.repeats_full or args.repeats} for 70k).")
    )
    print()
    print(
        f"Assumed peak: 32 fp32 FLOP/cycle/core x {cpu_mhz():.0f} MHz x {args.threads} cores = "
        f"{32 * cpu_mhz() * args.threads / 1000:.0f} GFLOP/s. umapc's rate counts 2 n^2 d FLOP "
        "over the whole call (selection and re-rank included), so the GEMM part alone is faster."
    )
    print()
    print(
        "| graph | tool | median wall (s) | time ratio | peak RSS MiB (+ over data) | "
        "same sets vs faiss (exact / up to ties) | vs ground truth (exact / up to ties) | "
        "GFLOP/s wall (share of peak); per CPU-second |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
