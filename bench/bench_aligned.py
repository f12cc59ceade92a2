"""Benchmark: umapc.AlignedUMAP against umap-learn's AlignedUMAP on the same slices, same run.

The first ``--n`` Fashion-MNIST images (train then test) are cut into ``--slices`` overlapping
slices of equal size, each sharing half its images with the next, rows shuffled within a slice; a
relation links an image's rows in consecutive slices. Each implementation runs in its own
subprocess, ``--threads`` threads for both (``OMP_NUM_THREADS``, ``NUMBA_NUM_THREADS``): a warm-up
fit on a tiny problem (umap-learn's numba kernels compiled; its aligned epoch function is compiled
again on every fit, which stays in its time), then ``--repeats`` timed ``fit`` calls.

Reported per implementation: median wall time, its ratio to umap-learn's, peak RSS (VmHWM) of
the subprocess from after the data's loading (the slices and the fits), trustworthiness@15 per
slice (on a fixed sample of up to 3,000 points of each slice) and the misalignment: the mean
distance between related points of consecutive slices over the slice's RMS radius. Prints a
Markdown table; ``--write-docs`` puts it into docs/benchmarks.md.
Example: ``python bench/bench_aligned.py --n 20000 --slices 4 --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
from _docs import cpu_model, peak_rss_mib, replace_section  # noqa: E402

TRUST_SAMPLE = 3_000


def _slices(n: int, n_slices: int) -> tuple[list[np.ndarray], list[dict[int, int]]]:
    root = shared.shared_data_dir()
    if root is None:
        sys.exit("shared data folder not found (set UMAPC_DATA)")
    tx, _, vx, _ = shared.load_fashion_mnist(root)
    x = np.concatenate([tx, vx]).reshape(-1, 28 * 28)[:n].astype(np.float32)
    size = 2 * n // (n_slices + 1)
    rng = np.random.RandomState(0)
    ids = [rng.permutation(np.arange(s * size // 2, s * size // 2 + size)) for s in range(n_slices)]
    relations = []
    for a, b in zip(ids[:-1], ids[1:]):
        where = np.full(n, -1)
        where[b] = np.arange(len(b))
        keep = where[a] >= 0
        relations.append(dict(zip(np.flatnonzero(keep).tolist(), where[a][keep].tolist())))
    return [np.ascontiguousarray(x[i]) for i in ids], relations


def misalignment(embeddings: list[np.ndarray], relations: list[dict[int, int]]) -> float:
    scores = []
    for i, rel in enumerate(relations):
        k, v = np.array(list(rel.keys())), np.array(list(rel.values()))
        gap = np.linalg.norm(embeddings[i][k] - embeddings[i + 1][v], axis=1).mean()
        centred = embeddings[i] - embeddings[i].mean(axis=0)
        scores.append(gap / np.sqrt((centred**2).sum(axis=1).mean()))
    return float(np.mean(scores))


def _estimator(impl: str, threads: int):
    if impl == "umapc":
        import umapc

        return lambda: umapc.AlignedUMAP(random_state=0, n_jobs=threads)
    import umap

    # seeded umap-learn runs its slices' UMAP on one thread; unseeded it uses numba's threads
    return lambda: umap.AlignedUMAP()


def worker(impl: str, n: int, n_slices: int, repeats: int, threads: int) -> None:
    from sklearn.manifold import trustworthiness

    warnings.simplefilter("ignore")
    slices, relations = _slices(n, n_slices)
    make = _estimator(impl, threads)
    # the peak from here on: the data set's loading (every image read, then sliced) is the same
    # for both and would hide the fits' memory
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    tiny = [s[:300] for s in slices[:2]]
    make().fit(tiny, relations=[{i: i for i in range(300)}])
    times, model = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        model = make().fit(slices, relations=relations)
        times.append(time.perf_counter() - started)
    rng = np.random.RandomState(0)
    trust = []
    for x, e in zip(slices, model.embeddings_):
        pick = rng.choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False)
        trust.append(float(trustworthiness(x[pick], np.asarray(e)[pick], n_neighbors=15)))
    print(
        json.dumps(
            {
                "impl": impl,
                "time": statistics.median(times),
                "peak": peak_rss_mib(),
                "trust": trust,
                "misalignment": misalignment([np.asarray(e) for e in model.embeddings_], relations),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--worker", choices=("umapc", "umap-learn"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.slices, args.repeats, args.threads)
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), NUMBA_NUM_THREADS=str(args.threads))
    rows = {}
    for impl in ("umapc", "umap-learn"):
        command = [
            sys.executable,
            __file__,
            "--worker",
            impl,
            "--n",
            str(args.n),
            "--slices",
            str(args.slices),
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{impl} failed:\n{done.stderr[-3000:]}")
        rows[impl] = json.loads(done.stdout.strip().splitlines()[-1])
    from umapc import simd_level

    base = rows["umap-learn"]["time"]
    lines = [
        "| implementation | time (s) | ratio to umap-learn | peak RSS (MiB) | "
        "trustworthiness@15 per slice | misalignment |",
        "|---|---|---|---|---|---|",
    ]
    for impl, r in rows.items():
        trust = ", ".join(f"{t:.4f}" for t in r["trust"])
        lines.append(
            f"| {impl} | {r['time']:.2f} | {r['time'] / base:.3f} | {r['peak']:.0f} | {trust} | "
            f"{r['misalignment']:.4f} |"
        )
    size = 2 * args.n // (args.slices + 1)
    table = "\n".join(lines)
    section = (
        "## AlignedUMAP\n\n"
        f"`umapc.AlignedUMAP` against umap-learn's `AlignedUMAP`, default parameters (200 epochs, "
        f"`alignment_regularisation=0.01`, `alignment_window_size=3`), on {args.slices} "
        f"overlapping slices of {size:,} Fashion-MNIST images (the first {args.n:,}; each slice "
        "shares half its images with the next), "
        f"{args.threads} threads, median of {args.repeats} fits after a warm-up (umap-learn "
        "compiles its aligned epoch function again in every fit; that stays in its time). "
        "Peak RSS: of the process from after loading the data (slices, warm-up and fits). "
        "Misalignment: mean distance between related points of consecutive slices over the "
        "slice's RMS radius (lower is closer). umapc seeded (`random_state=0`), umap-learn "
        "unseeded (seeded, it runs on one thread). "
        f"Script: [`bench/bench_aligned.py`](../bench/bench_aligned.py).\n\n"
        f"Machine: {cpu_model()}, SIMD level `{simd_level()}` (`UMAPC_SIMD` "
        f"{os.environ.get('UMAPC_SIMD', 'unset')}).\n\n"
        f"```\npython bench/bench_aligned.py --n {args.n} --slices {args.slices} --repeats "
        f"{args.repeats} --threads {args.threads}\n```\n\n{table}\n"
    )
    print(section)
    if args.write_docs:
        replace_section(section)


if __name__ == "__main__":
    main()
