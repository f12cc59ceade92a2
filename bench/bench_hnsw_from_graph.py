"""HNSW built from the k-NN graph (what NNIndex does once a UMAP fit has the graph) against the
insertion build, on the same rows in the same run.

Data: Fashion-MNIST / 255 as floats (69,000 images indexed, the last 1,000 of the 70,000 as
queries), and with ``--large N`` the first N rows of the 1M x 784 augmented Fashion-MNIST memmap
(bench/large_data.py; the 1,000 rows after them as queries); ``--graph-only N`` adds N rows of it
built from the graph only (the insertion build of 1M rows runs for well over 10 minutes). For
each: the k=15 NN-descent graph as a UMAP fit makes it (min_recall 0, timed once: both builds
would follow it in a fit), then the median build time of each method, then recall@10 (ties count
as hits, against the exact backend) and queries per second at a few ef, the two indexes' queries
interleaved. The machine is shared: compare ratios within a run.

Run: ``python bench/bench_hnsw_from_graph.py [--large 200000] [--graph-only 1000000]
[--repeats 3] [--write-docs]``; ``--umap`` instead times a UMAP fit's ``transform`` both ways.
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
from _docs import cpu_model, replace_section  # noqa: E402

from umapc import _core  # noqa: E402

K, GRAPH_K, NQ = 10, 15, 1000
EFS = (20, 40, 80)
LARGE = Path("/tmp/umapc-large/fmnist-aug-1000000.f32")


def fashion() -> tuple[np.ndarray, np.ndarray]:
    d = shared.shared_data_dir()
    if d is None:
        raise SystemExit("shared data not found (set UMAPC_DATA or place ../shared/data)")
    train, _, test, _ = shared.load_fashion_mnist(d)
    rows = np.concatenate([train, test]) / np.float32(255)
    return np.ascontiguousarray(rows[:-NQ]), np.ascontiguousarray(rows[-NQ:])


def large(n: int) -> tuple[np.ndarray, np.ndarray]:
    if not LARGE.exists():
        raise SystemExit(f"{LARGE} not found (bench/large_data.py writes it)")
    rows = np.memmap(LARGE, np.float32, "r", shape=(1000000, 784))
    n = min(n, rows.shape[0] - NQ)  # the queries are held out after the indexed rows
    return np.array(rows[:n]), np.array(rows[n : n + NQ])


def tie_recall(ref: np.ndarray, got: np.ndarray) -> float:
    kth = ref[:, -1:]
    return float((got <= kth * (1 + 1e-4) + 1e-4).sum(axis=1).clip(max=K).mean() / K)


def build(base: np.ndarray, knn: np.ndarray | None, repeats: int, jobs: int, label: str):
    """The last of `repeats` builds and their median time."""
    times, index = [], None
    for _ in range(repeats):
        index = None  # the previous one is freed before the next build
        t = time.perf_counter()
        index = _core.Index(base, backend="hnsw", n_jobs=jobs, knn_indices=knn)
        times.append(time.perf_counter() - t)
        print(f"  {label} build {times[-1]:.1f} s", flush=True)
    return index, statistics.median(times)


def measure(name, base, queries, repeats: int, jobs: int, insertion: bool = True) -> dict:
    """Both builds, then their queries interleaved (best of 3 each), so that a change of load
    during the run does not favour one."""
    print(f"{name}: {base.shape[0]} x {base.shape[1]}", flush=True)
    exact = _core.Index(base, backend="exact")
    _, ref = exact.query(queries, K, n_jobs=jobs)
    exact = None
    t = time.perf_counter()
    knn, _ = _core.nndescent_knn_graph(base, GRAPH_K, seed=0, n_jobs=jobs, min_recall=0.0)
    t_graph = time.perf_counter() - t
    print(f"  NN-descent k={GRAPH_K} graph {t_graph:.1f} s", flush=True)
    indexes, row = {}, {"name": name, "n": base.shape[0], "graph_s": t_graph, "methods": {}}
    indexes["from graph"], t_from = build(base, knn, repeats, jobs, "from graph")
    row["methods"]["from graph"] = {"build_s": t_from, "points": []}
    if insertion:
        indexes["insertion"], t_ins = build(base, None, repeats, jobs, "insertion")
        row["methods"]["insertion"] = {"build_s": t_ins, "points": []}
    for ef in EFS:
        best, dists = dict.fromkeys(indexes, 0.0), {}
        for _ in range(3):
            for method, index in indexes.items():
                t = time.perf_counter()
                _, dists[method] = index.query(queries, K, ef=ef, n_jobs=jobs)
                best[method] = max(best[method], len(queries) / (time.perf_counter() - t))
        for method in indexes:
            point = (ef, tie_recall(ref, dists[method]), best[method])
            row["methods"][method]["points"].append(point)
    return row


def report(rows: list[dict], command: str, repeats: int, load: float) -> str:
    lines = [
        "## HNSW from the k-NN graph",
        "",
        f"`{command}`; {cpu_model()}, {os.cpu_count()} CPUs, 5-minute load average {load:.1f} "
        "at the end (the machine is shared: the ratios within a run are the figures to read). An "
        "index linked from NN-descent's k=15 graph (what `NNIndex` does when the graph is already "
        "cached, as after a UMAP fit) against the insertion build (ef_construction 200), both "
        f"M=16; build time the median of {repeats} (1 on the larger sets); recall@10 of {NQ} "
        "held-out queries (ties count) and the best of 3 interleaved runs' queries per second, "
        "all threads. The graph's own time is not in either build (a fit has it already).",
        "",
        "| data | NN-descent graph | build from graph | insertion build | build speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        g, ins = r["methods"]["from graph"], r["methods"].get("insertion")
        i_s = f"{ins['build_s']:.1f} s" if ins else "not run"
        up = f"{ins['build_s'] / g['build_s']:.1f}x" if ins else "-"
        lines.append(
            f"| {r['name']} ({r['n']:,}) | {r['graph_s']:.1f} s | {g['build_s']:.1f} s | {i_s} "
            f"| {up} |"
        )
    lines += [
        "",
        "| data | ef | recall from graph | recall insertion | QPS from graph | QPS insertion |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ins = r["methods"].get("insertion")
        for j, (ef, rg, qg) in enumerate(r["methods"]["from graph"]["points"]):
            ri, qi = ("-", "-")
            if ins:
                ri, qi = f"{ins['points'][j][1]:.4f}", f"{ins['points'][j][2]:.0f}"
            lines.append(f"| {r['name']} ({r['n']:,}) | {ef} | {rg:.4f} | {ri} | {qg:.0f} | {qi} |")
    return "\n".join(lines) + "\n"


def umap_transform(base: np.ndarray, queries: np.ndarray, jobs: int) -> dict:
    """UMAP fit, then transform of the held-out rows with the search index linked from the fit's
    graph, then again with the index dropped and rebuilt by insertion (the path before issue 13)."""
    import umapc
    import umapc.index

    t = time.perf_counter()
    model = umapc.UMAP(random_state=0, n_jobs=jobs).fit(base)
    fit_s = time.perf_counter() - t
    print(f"  UMAP fit {fit_s:.1f} s", flush=True)
    times = {}
    for method in ("from graph", "insertion"):
        model._knn_search_index._index = None  # built again by the next transform
        saved = umapc.index._GRAPH_BUILD_MIN_K
        if method == "insertion":
            umapc.index._GRAPH_BUILD_MIN_K = 1 << 30  # no cached graph qualifies
        try:
            t = time.perf_counter()
            model.transform(queries)
            times[method] = time.perf_counter() - t
        finally:
            umapc.index._GRAPH_BUILD_MIN_K = saved
        print(f"  transform ({method}) {times[method]:.1f} s", flush=True)
    return {"n": base.shape[0], "fit_s": fit_s, **times}


def umap_report(r: dict, command: str, load: float) -> str:
    return (
        "## HNSW from the k-NN graph: UMAP transform\n\n"
        f"`{command}`; {cpu_model()}, {os.cpu_count()} CPUs, 5-minute load average {load:.1f} at "
        f"the end. `UMAP(random_state=0).fit` on {r['n']:,} Fashion-MNIST / 255 rows "
        f"({r['fit_s']:.1f} s), then `transform` of {NQ} held-out rows, whose first call builds "
        "the search index: linked from the fit's k-NN graph, then (the index dropped) by "
        "insertion as before.\n\n"
        "| transform, index from graph | transform, index by insertion | ratio |\n"
        "|---:|---:|---:|\n"
        f"| {r['from graph']:.1f} s | {r['insertion']:.1f} s "
        f"| {r['insertion'] / r['from graph']:.1f}x |\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", type=int, default=0, help="rows of the 1M memmap (0: skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--large-repeats", type=int, default=1)
    ap.add_argument(
        "--graph-only", type=int, default=0, help="rows of the memmap built from the graph only"
    )
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--umap", action="store_true", help="only the UMAP fit + transform timing")
    args = ap.parse_args()
    command = "python bench/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    if args.umap:
        text = umap_report(umap_transform(*fashion(), args.n_jobs), command, os.getloadavg()[1])
        print(text)
        if args.write_docs:
            replace_section(text)
        return
    rows = [measure("Fashion-MNIST / 255", *fashion(), args.repeats, args.n_jobs)]
    if args.large:
        rows.append(measure("fmnist-aug", *large(args.large), args.large_repeats, args.n_jobs))
    if args.graph_only:  # the insertion build of 1M rows runs for well over 10 minutes
        data = large(args.graph_only)
        rows.append(measure("fmnist-aug", *data, 1, args.n_jobs, insertion=False))
    text = report(rows, command, args.repeats, os.getloadavg()[1])
    print(text)
    if args.write_docs:
        replace_section(text)


if __name__ == "__main__":
    main()
