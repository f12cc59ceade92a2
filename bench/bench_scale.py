"""UMAP at scale (issue 13): a full fit of the augmented Fashion-MNIST sets of large_data.py, read
as a memmap, each tool in its own process: wall time and peak RSS of every stage (the extension's
calls are wrapped in the worker; RSS sampled every 20 ms), trustworthiness@15 on a 10,000-row
sample, and the 15-NN label accuracy of the 10,000 held-out test originals: placed by
``transform`` with ``--transform``, else fitted with the set (appended after its rows, their
labels unseen) and classified by their 15 nearest augmented rows in the embedding.

    python bench/large_data.py --rows 1000000            # builds the set once (~3 GB)
    python bench/bench_scale.py --rows 1000000 [--pca 0] [--tools umapc umap] [--timeout 2400]
        [--write-docs] [--docs-from REPORT.json]

``--docs-from`` writes the docs section from the JSON report an earlier run printed (same
``--rows``, ``--pca``, ``--tools`` and ``--transform`` as that run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import large_data
import numpy as np
from _docs import cpu_model, replace_section  # noqa: E402

STAGES = {
    "nndescent_knn_graph": "k-NN graph",
    "fuzzy_simplicial_set": "fuzzy set",
    "spectral_layout": "spectral init",
    "optimize_layout": "layout",
}


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class StageMeter:
    """Wall time and peak RSS per stage: the stage is whichever wrapped call is running."""

    def __init__(self) -> None:
        self.stage = "other"
        self.peak: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            now = rss_mib()
            self.peak[self.stage] = max(self.peak.get(self.stage, 0.0), now)

    def wrap(self, module, name: str, label: str) -> None:
        inner = getattr(module, name)

        def timed(*args, **kwargs):
            outer, self.stage = self.stage, label
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - start
                self.stage = outer

        setattr(module, name, timed)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def load(rows: int, pca: int) -> tuple[np.memmap, np.ndarray, np.ndarray, np.ndarray]:
    """The memmapped set, its labels, and the held-out test originals (projected for PCA)."""
    out = large_data.DEFAULT_OUT
    if pca:
        x = large_data.open_rows(out / f"fmnist-aug-{rows}-pca{pca}.f32", pca)
    else:
        x = large_data.open_rows(out / f"fmnist-aug-{rows}.f32", 784)
    y = np.load(out / f"fmnist-aug-{rows}.labels.npy")
    _, _, test_x, test_y = large_data.originals()
    if pca:
        fit = np.load(out / f"fmnist-aug-pca{pca}.npz")
        test_x = ((test_x - fit["mean"]) @ fit["components"].T).astype(np.float32)
    return x, y, test_x, test_y


def worker(tool: str, rows: int, pca: int, out: str, transform: bool) -> None:
    x, _, test_x, _ = load(rows, pca)
    if not transform:  # one memmap of the set and the originals, still read in place
        joined = np.memmap(
            out + ".rows.f32", np.float32, "w+", shape=(x.shape[0] + 10_000, x.shape[1])
        )
        joined[: x.shape[0]] = x
        joined[x.shape[0] :] = test_x
        joined.flush()
        x = np.memmap(out + ".rows.f32", np.float32, "r", shape=joined.shape)
        del joined
    meter = StageMeter()
    if tool == "umapc":
        from umapc import UMAP, _core

        for name, label in STAGES.items():
            meter.wrap(_core, name, label)
    else:
        from umap import UMAP
    start = time.perf_counter()
    model = UMAP(n_jobs=-1) if tool == "umap" else UMAP()
    meter.stage = "fit (other)"
    embedding = model.fit_transform(x)
    fit_s = time.perf_counter() - start
    transform_s = float("nan")
    if transform:
        meter.stage = "transform"
        start = time.perf_counter()
        placed = model.transform(test_x)
        transform_s = time.perf_counter() - start
    else:
        embedding, placed = embedding[:-10_000], embedding[-10_000:]
    meter.close()
    np.save(out, embedding)
    np.save(out + ".test.npy", placed)
    print(
        json.dumps(
            {"fit_s": fit_s, "transform_s": transform_s, "wall": meter.wall, "peak": meter.peak}
        )
    )


def quality(x: np.ndarray, y: np.ndarray, embedding: np.ndarray, test: tuple) -> dict:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    sample = np.sort(np.random.default_rng(0).choice(x.shape[0], 10_000, replace=False))
    trust = trustworthiness(np.asarray(x[sample]), embedding[sample], n_neighbors=15)
    placed, test_y = test
    clf = KNeighborsClassifier(n_neighbors=15).fit(embedding, y)
    return {"trust": float(trust), "accuracy": float(clf.score(placed, test_y))}


def run(tool: str, args: argparse.Namespace, tmp: Path) -> dict:
    out = str(tmp / f"{tool}.npy")
    cmd = [sys.executable, __file__, "--worker", tool, "--rows", str(args.rows)]
    cmd += ["--pca", str(args.pca), "--out", out] + (["--transform"] if args.transform else [])
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"did not finish in {args.timeout:.0f} s"}
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        elapsed = time.perf_counter() - start
        return {"failed": f"exit {proc.returncode} after {elapsed:.0f} s: {last}"}
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    x, y, _, test_y = load(args.rows, args.pca)
    report.update(quality(x, y, np.load(out), (np.load(out + ".test.npy"), test_y)))
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--out")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pca", type=int, default=0)
    ap.add_argument("--tools", nargs="+", default=["umapc"], choices=["umapc", "umap"])
    ap.add_argument("--timeout", type=float, default=2400.0)
    ap.add_argument("--transform", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--docs-from", type=Path, help="write the docs from a run's printed report")
    args = ap.parse_args()
    if args.docs_from:
        from umapc import simd_level

        write_docs(json.loads(args.docs_from.read_text()), args, simd_level())
        return
    if args.worker:
        worker(args.worker, args.rows, args.pca, args.out, args.transform)
        return
    import tempfile

    from umapc import simd_level

    with tempfile.TemporaryDirectory() as tmp:
        reports = {tool: run(tool, args, Path(tmp)) for tool in args.tools}
    print(json.dumps(reports, indent=1))
    if args.write_docs:
        write_docs(reports, args, simd_level())


def write_docs(reports: dict, args: argparse.Namespace, level: str) -> None:
    dim = args.pca or 784
    name = f"{args.rows:,} x {dim}"
    x_bytes = args.rows * dim * 4 / 2**20
    lines = [
        f"## Scale: UMAP of {name} augmented Fashion-MNIST"
        + (", fit and transform" if args.transform else "")
        + " (bench_scale.py)",
        "",
        f"`python bench/large_data.py --rows {args.rows}"
        + (f" --pca {args.pca}" if args.pca else "")
        + f"` then `python bench/bench_scale.py --rows {args.rows} --pca {args.pca} --tools "
        + " ".join(args.tools)
        + (" --transform" if args.transform else "")
        + "`; "
        + f"{cpu_model()}, {os.cpu_count()} CPUs, SIMD level `{level}`. Input: a float32 memmap "
        f"of {x_bytes:.0f} MiB, default parameters. Per stage: wall seconds and peak RSS (MiB, "
        "the process's, sampled every 20 ms while the stage runs). Quality: trustworthiness@15 "
        "on 10,000 sampled rows; 15-NN label accuracy of the 10,000 held-out test originals, "
        + (
            "placed by `transform`."
            if args.transform
            else "fitted with the set (their labels "
            "unseen), among the augmented rows in the embedding."
        ),
        "",
        "| tool | fit s | transform s (10k) | trust | accuracy | stages: s / peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    for tool, r in reports.items():
        if "failed" in r:
            lines.append(f"| {tool} | {r['failed']} | | | | |")
            continue
        stages = "; ".join(
            f"{s} {r['wall'].get(s, 0.0):.1f} s / {r['peak'].get(s, float('nan')):.0f}"
            for s in [*STAGES.values()]
            if s in r["wall"]
        )
        overall = max(r["peak"].values()) if r["peak"] else float("nan")
        lines.append(
            f"| {tool} | {r['fit_s']:.1f} | {r['transform_s']:.1f} | {r['trust']:.4f} | "
            f"{r['accuracy']:.4f} | {stages}; whole fit peak {overall:.0f} |"
        )
    replace_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
