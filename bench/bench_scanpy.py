"""scanpy's own pipeline with umapc against scanpy's defaults, end to end (issue 14).

On ``../shared/data/scrna-10k`` (10x counts, cells as rows): ``sc.pp.normalize_total``,
``sc.pp.log1p``, ``sc.pp.pca`` once; then, timed, each way in its own process, warm (the whole
pipeline once untimed first, so numba's compilation is not counted for scanpy):

* scanpy: ``sc.pp.neighbors(adata)`` (its default transformer, pynndescent) then
  ``sc.tl.umap(adata)``;
* umapc: ``sc.pp.neighbors(adata, transformer=umapc.NNTransformer(n_neighbors=15))`` then
  ``umapc.scanpy.umap(adata)``.

Agreement: Leiden clusters computed once, on scanpy's default graph (``sc.tl.leiden``, seed 0),
are the labels; each 2-D embedding is scored by the 15-NN label accuracy over 5 shuffled folds
(seed 0). Target: umapc >= 5x faster end to end, accuracy within 0.02 of scanpy's.

    python bench/bench_scanpy.py [--repeats 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import cpu_model, replace_section  # noqa: E402

SECTION = "## scanpy pipeline: umapc's transformer and umap against scanpy's defaults"


def _adata():
    import gzip
    import warnings

    import anndata
    import scanpy as sc
    import scipy.io
    import scipy.sparse as sp
    from _data import shared_data_dir

    root = shared_data_dir()
    if root is None:
        raise SystemExit("shared data not found")
    with gzip.open(root / "scrna-10k" / "matrix.mtx.gz") as f:
        counts = sp.csr_matrix(scipy.io.mmread(f), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.AnnData(counts)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.pca(adata, n_comps=50, random_state=0)
    return adata


def _scipy_shim() -> None:
    """scanpy 1.11's neighbour code calls ``getnnz`` on the sparse array its default transformer
    returns, which scipy 1.17 removed from sparse arrays (``_getnnz`` is the same method): the
    peer's path fails without this; umapc's transformer returns a ``csr_matrix`` either way."""
    import scipy.sparse as sp

    if not hasattr(sp.csr_array, "getnnz"):
        sp.csr_array.getnnz = sp.csr_array._getnnz


def _pipeline(adata, tool: str) -> None:
    import scanpy as sc

    _scipy_shim()

    if tool == "scanpy":
        sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
        sc.tl.umap(adata, random_state=0)
    else:
        import umapc
        import umapc.scanpy

        sc.pp.neighbors(adata, transformer=umapc.NNTransformer(n_neighbors=15, random_state=0))
        umapc.scanpy.umap(adata, random_state=0)


def worker(tool: str, repeats: int, labels_path: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    adata = _adata()
    _pipeline(adata.copy(), tool)  # warm: numba's compilation (scanpy), first calls (both)
    walls = []
    for _ in range(repeats):
        run = adata.copy()
        start = time.perf_counter()
        _pipeline(run, tool)
        walls.append(time.perf_counter() - start)
    result = {"walls": walls, "embedding": run.obsm["X_umap"].tolist()}
    if tool == "scanpy" and not Path(labels_path).exists():
        import scanpy as sc

        sc.tl.leiden(run, random_state=0, flavor="igraph", n_iterations=2, directed=False)
        np.save(labels_path, run.obs["leiden"].astype(int).to_numpy())
    print(json.dumps(result))


def accuracy(embedding: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(KNeighborsClassifier(15), embedding, labels, cv=folds).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=("scanpy", "umapc"), help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--labels", default="/tmp/umapc-bench-scanpy-leiden.npy")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.repeats, args.labels)
        return
    Path(args.labels).unlink(missing_ok=True)
    results = {}
    for tool in ("scanpy", "umapc"):  # scanpy first: it writes the Leiden labels
        print(f"running {tool}", file=sys.stderr, flush=True)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                tool,
                "--repeats",
                str(args.repeats),
                "--labels",
                args.labels,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[tool] = json.loads(out.strip().splitlines()[-1])
    labels = np.load(args.labels)
    import umapc

    rows = {}
    for tool, r in results.items():
        rows[tool] = (statistics.median(r["walls"]), accuracy(np.asarray(r["embedding"]), labels))
    speedup = rows["scanpy"][0] / rows["umapc"][0]
    delta = rows["umapc"][1] - rows["scanpy"][1]
    lines = [
        SECTION,
        "",
        f"Command: `python bench/bench_scanpy.py --repeats {args.repeats}`  ",
        f"Machine: {cpu_model()}, umapc SIMD level `{umapc.simd_level()}`. scrna-10k "
        f"({len(labels):,} cells): normalize_total, log1p, PCA-50 once; then, timed (median of "
        f"{args.repeats}, warm), `sc.pp.neighbors` + `sc.tl.umap` (scanpy's defaults) against "
        "`sc.pp.neighbors(adata, transformer=umapc.NNTransformer(n_neighbors=15))` + "
        "`umapc.scanpy.umap(adata)`. Labels: Leiden clusters (seed 0) of scanpy's default graph; "
        "accuracy: 15-NN label accuracy in the 2-D embedding, 5 shuffled folds.",
        "",
        "| pipeline | neighbors + umap s | 15-NN accuracy (Leiden labels) |",
        "|---|---|---|",
    ]
    for tool, (wall, acc) in rows.items():
        lines.append(f"| {tool} | {wall:.2f} | {acc:.4f} |")
    lines += [
        "",
        f"umapc is {speedup:.1f}x faster end to end (target >= 5x: "
        f"{'met' if speedup >= 5 else 'NOT met'}); accuracy {delta:+.4f} against scanpy's "
        f"(target within 0.02: {'met' if abs(delta) <= 0.02 or delta > 0 else 'NOT met'}).",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write_docs:
        replace_section(section)


if __name__ == "__main__":
    main()
