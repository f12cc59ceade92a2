"""UMAP on sparse input, umapc vs umap-learn in the same run: 20 Newsgroups TF-IDF (18,846 x
173,753) with hellinger and cosine, and scRNA counts (10,000 cells x 1,000 genes, log-normalised)
with cosine. Each tool runs in its own subprocess, warm (umap-learn's numba compiled by a small
fit first), several fits in turn; reported: median wall time, the ratio, peak RSS of the fits
(VmHWM after loading the data), and trustworthiness@15 in the input metric on a sample of rows
(distances by scikit-learn / scipy, not by umapc).

    python bench/bench_sparse_umap.py [--sets 20ng-hellinger 20ng-cosine scrna-cosine]
        [--repeats 2] [--sample 5000] [--write-docs]
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

import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
import numpy as np
import scipy.sparse as sp
from _docs import cpu_model, peak_rss_mib, replace_section, reset_peak_rss  # noqa: E402

SETS = {
    "20ng-hellinger": ("20ng", "hellinger"),
    "20ng-cosine": ("20ng", "cosine"),
    "scrna-cosine": ("scrna", "cosine"),
}


def load(name: str) -> sp.csr_matrix:
    return shared.load_tfidf() if name == "20ng" else shared.load_scrna()


# ---- child side ------------------------------------------------------------------------------


def worker(tool: str, data: str, metric: str, repeats: int, out: str) -> None:
    x = load(data)
    if tool == "umapc":
        from umapc import UMAP
    else:
        from umap import UMAP

        UMAP(metric=metric, n_epochs=5).fit(x[:1000])  # numba's compilation outside the timings
    reset_peak_rss()
    walls, embedding = [], None
    for _ in range(repeats):
        embedding = None  # the previous result does not add to this run's peak
        t = time.perf_counter()
        embedding = UMAP(metric=metric).fit_transform(x)
        walls.append(time.perf_counter() - t)
    np.save(out, embedding)
    print(json.dumps({"walls": walls, "peak_mib": peak_rss_mib()}))


# ---- parent side -----------------------------------------------------------------------------


def run(tool: str, data: str, metric: str, repeats: int, tmp: Path) -> dict:
    out = tmp / f"{tool}_{data}_{metric}.npy"
    cmd = [sys.executable, __file__, "--worker", tool, data, metric, str(repeats), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        raise SystemExit(f"{tool} on {data} / {metric} failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["embedding"] = np.load(out)
    return report


def input_distances(x: sp.csr_matrix, metric: str) -> np.ndarray:
    """Pairwise distances of the sample in the input metric, computed without umapc."""
    from sklearn.metrics import pairwise_distances

    if metric != "hellinger":
        return pairwise_distances(x, metric=metric)
    rows = sp.csr_matrix(sp.diags(1.0 / np.maximum(np.asarray(x.sum(1)).ravel(), 1e-30)) @ x)
    rows.data = np.sqrt(rows.data)
    similarity = (rows @ rows.T).toarray()
    return np.sqrt(np.maximum(1.0 - similarity, 0.0))


def trust(distances: np.ndarray, embedding: np.ndarray) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(distances, embedding, n_neighbors=15, metric="precomputed"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=5, metavar=("TOOL", "DATA", "METRIC", "REPEATS", "OUT"))
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sample", type=int, default=5000)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    if args.worker:
        tool, data, metric, repeats, out = args.worker
        worker(tool, data, metric, int(repeats), out)
        return
    from umapc import simd_level

    rows, loads = [], [os.getloadavg()[1]]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            data, metric = SETS[name]
            x = load(data)
            reports = {t: run(t, data, metric, args.repeats, Path(tmp)) for t in ("umapc", "umap")}
            loads.append(os.getloadavg()[1])
            sample = np.random.default_rng(0).choice(x.shape[0], args.sample, replace=False)
            distances = input_distances(x[sample], metric)
            row = {"set": name, "shape": x.shape, "nnz": x.nnz}
            for tool, r in reports.items():
                row[tool] = {
                    "median_s": statistics.median(r["walls"]),
                    "walls": r["walls"],
                    "peak_mib": r["peak_mib"],
                    "trust": trust(distances, r["embedding"][sample]),
                }
            row["ratio"] = row["umapc"]["median_s"] / row["umap"]["median_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.write_docs:
        write_docs(rows, args, simd_level(), max(loads))


def write_docs(rows: list[dict], args: argparse.Namespace, level: str, load: float) -> None:
    lines = [
        "## Sparse input: UMAP on text and single-cell counts (bench_sparse_umap.py)",
        "",
        f"`python bench/bench_sparse_umap.py --repeats {args.repeats} --sample {args.sample} "
        f"--write-docs`; {cpu_model()}, {os.cpu_count()} CPUs, SIMD level `{level}`; each tool "
        "in its own process, warm, default parameters but the metric, "
        f"{args.repeats} fits each (median). Trustworthiness@15 in the input metric on "
        f"{args.sample} sampled rows (distances by scikit-learn / scipy). Peak RSS: VmHWM of the "
        f"fits after loading the data. Machine load (5-minute load average, highest seen between "
        f"the sets): {load:.1f} on {os.cpu_count()} CPUs.",
        "",
        "| data, metric | rows x cols (nnz) | umapc s | umap-learn s | ratio | umapc trust | "
        "umap-learn trust | umapc peak MiB | umap-learn peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        u, m = r["umapc"], r["umap"]
        lines.append(
            f"| {r['set']} | {r['shape'][0]} x {r['shape'][1]} ({r['nnz']}) | "
            f"{u['median_s']:.1f} | {m['median_s']:.1f} | {r['ratio']:.3f} | {u['trust']:.4f} | "
            f"{m['trust']:.4f} | {u['peak_mib']:.0f} | {m['peak_mib']:.0f} |"
        )
    replace_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
