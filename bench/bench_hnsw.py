"""HNSW index and all-points k-NN graph: umapc vs hnswlib vs pynndescent.

Approximate search: Fashion-MNIST (60k indexed, 10k queries, euclidean), SIFT-small (10k, 100
queries, its own ground truth) and GloVe-25 (cosine; the last 1,000 words query the rest). For each
tool: build time and peak memory, then recall@10 against queries per second over a sweep of its
search knob (ef, or pynndescent's epsilon), with 1 query thread and with all threads. All-points
graph: the k=15 graph of all 70,000 Fashion-MNIST images, end to end (index build included), with
pynndescent at umap-learn's own settings, timed after a JIT warm-up.

Each tool runs in its own subprocess (peak RSS is its own). Recall counts a returned point as right
when its distance (recomputed in float64) is within the exact k-th distance, so exact ties never
count as misses. Ratios compare tools within the same run.

Run: ``python bench/bench_hnsw.py`` (``--quick`` for a short run on subsets; ``--write-docs`` to
replace the "## HNSW" section of docs/benchmarks.md and draw docs/recall_qps.png).

``--float`` runs the float-data comparison instead (issue 8): Fashion-MNIST / 255 (euclidean),
GloVe-25 and word2vec-300 (cosine; the last 1,000 words query the rest), umapc against hnswlib
and usearch (both M=16, ef_construction=200; usearch's ``connectivity`` and ``expansion_add``),
single-thread and all-thread queries, into its own section ("## HNSW on float data").
"""

from __future__ import annotations

import argparse
import json
import math
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
from _docs import replace_section, reset_peak_rss  # noqa: E402

TOOLS = ("umapc", "hnswlib", "pynndescent")
DATASETS = ("fashion", "sift", "glove")
FLOAT_TOOLS = ("umapc", "hnswlib", "usearch")
FLOAT_DATASETS = ("fashion255", "glove", "word2vec")
FLOAT_SECTION = "## HNSW on float data"
EFS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256)
EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
K = 10
GRAPH_K = 15
ROOT = Path(__file__).resolve().parent.parent


# ---- data ------------------------------------------------------------------------------------


def _data_dir() -> Path:

    d = shared.shared_data_dir()
    if d is None:
        raise SystemExit("shared data not found (set UMAPC_DATA or place ../shared/data)")
    return d


def load_dataset(name: str, quick: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(base, queries, metric)."""
    from umapc import _io

    d = _data_dir()
    if name in ("fashion", "fashion255"):
        train, _, test, _ = shared.load_fashion_mnist(d)
        base, queries = train, test
        if name == "fashion255":
            base, queries = base / np.float32(255), queries / np.float32(255)
        if quick:
            base, queries = base[:20000], queries[:1000]
        return np.ascontiguousarray(base), np.ascontiguousarray(queries), "euclidean"
    if name == "word2vec":
        words = _io.read_fvecs(d / "word2vec300" / "word2vec_gnews_8k_300d.fvecs")
        return np.ascontiguousarray(words[:-1000]), np.ascontiguousarray(words[-1000:]), "cosine"
    if name == "sift":
        base = _io.read_fvecs(d / "siftsmall" / "siftsmall_base.fvecs")
        queries = _io.read_fvecs(d / "siftsmall" / "siftsmall_query.fvecs")
        return base, queries, "euclidean"
    words = _io.read_fvecs(d / "glove25" / "glove_twitter_25d_12k.fvecs")
    return np.ascontiguousarray(words[:-1000]), np.ascontiguousarray(words[-1000:]), "cosine"


def true_distances(
    base: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str
) -> np.ndarray:
    """Distances of the listed base rows to each query, in float64 (inf where ids < 0)."""
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    safe = np.where(ids < 0, 0, ids)
    out = np.empty(ids.shape)
    for s in range(0, len(q), 2000):
        rows = b[safe[s : s + 2000]]
        qq = q[s : s + 2000, None, :]
        if metric == "cosine":
            num = (rows * qq).sum(-1)
            den = np.linalg.norm(rows, axis=-1) * np.linalg.norm(qq, axis=-1)
            out[s : s + 2000] = 1.0 - num / np.maximum(den, 1e-300)
        else:
            out[s : s + 2000] = np.sqrt(((rows - qq) ** 2).sum(-1))
    return np.where(ids < 0, np.inf, out)


def exact_kth(base: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    """The exact k-th smallest distance from each query (float64 brute force, chunked)."""
    b = base.astype(np.float64)
    if metric == "cosine":
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    bn = (b * b).sum(1)
    kth = np.empty(len(queries))
    for s in range(0, len(queries), 500):
        q = queries[s : s + 500].astype(np.float64)
        if metric == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
            d = 1.0 - q @ b.T
        else:
            d = np.sqrt(np.maximum((q * q).sum(1)[:, None] + bn[None, :] - 2 * q @ b.T, 0))
        kth[s : s + 500] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return kth


def kth_from_truth(base, queries, truth: np.ndarray, k: int, metric: str) -> np.ndarray:
    """The exact k-th distance from published ground-truth ids (recomputed in float64)."""
    return true_distances(base, queries, truth[:, k - 1 : k].astype(np.int64), metric)[:, 0]


def dataset_kth(name: str, base, queries, metric: str, quick: bool) -> np.ndarray:
    """Exact k-th distances: from the shared ground truth where there is one (the full sets),
    by brute force otherwise."""
    from umapc import _io

    d = _data_dir()
    if name in ("fashion", "fashion255") and not quick:
        truth = np.load(d / "fashion-mnist" / "groundtruth" / "test_vs_train_knn100.npy")
        return kth_from_truth(base, queries, truth, K, metric)
    if name == "sift":
        truth = _io.read_ivecs(d / "siftsmall" / "siftsmall_groundtruth.ivecs")
        return kth_from_truth(base, queries, truth, K, metric)
    return exact_kth(base, queries, K, metric)


def recall(base, queries, ids, kth, metric) -> float:
    k = ids.shape[1]
    d = true_distances(base, queries, ids, metric)
    hits = (d <= kth[:, None] * (1 + 1e-5) + 1e-6).sum(1).clip(max=k)
    return float(hits.mean() / k)


# ---- child side ------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _set_numba_threads(n: int) -> None:
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


class Tool:
    """build(base, metric, threads) then search(queries, k, knob, threads) -> ids."""

    knobs: tuple = EFS

    def __init__(self, name: str) -> None:
        self.name = name
        self.index = None

    def warm_up(self, base: np.ndarray, metric: str) -> None:
        if self.name == "pynndescent":
            import pynndescent

            small = np.ascontiguousarray(base[:2000])
            nnd = pynndescent.NNDescent(small, metric=metric, n_jobs=1, random_state=0)
            nnd.prepare()
            nnd.query(small[:10], k=K)

    def build(self, base: np.ndarray, metric: str, threads: int) -> None:
        if self.name == "umapc":
            import umapc

            self.index = umapc.NNIndex(
                base,
                metric=metric,
                backend="hnsw",
                M=16,
                ef_construction=200,
                n_jobs=threads,
                random_state=0,
            )
            self.index.prepare()  # the HNSW graph is otherwise built on the first query
        elif self.name == "hnswlib":
            import hnswlib

            space = "cosine" if metric == "cosine" else "l2"
            p = hnswlib.Index(space=space, dim=base.shape[1])
            p.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=0)
            p.set_num_threads(threads)
            p.add_items(base)
            self.index = p
        elif self.name == "usearch":
            from usearch.index import Index

            u = Index(
                ndim=base.shape[1],
                metric="cos" if metric == "cosine" else "l2sq",
                dtype="f32",
                connectivity=16,
                expansion_add=200,
            )
            u.add(np.arange(len(base)), base, threads=threads)
            self.index = u
        else:
            import pynndescent

            _set_numba_threads(threads)
            self.index = pynndescent.NNDescent(base, metric=metric, n_jobs=threads, random_state=0)
            self.index.prepare()

    def index_bytes(self) -> int | None:
        """What the index holds (umapc: its own count; hnswlib: its file size, which is its
        level-0 block plus upper links); None for pynndescent, which reports nothing alike."""
        if self.name == "umapc":
            return int(self.index._core_index().memory)
        if self.name == "hnswlib":
            return int(self.index.index_file_size())
        if self.name == "usearch":
            return int(self.index.serialized_length)
        return None

    def search(self, queries: np.ndarray, k: int, knob, threads: int) -> np.ndarray:
        if self.name == "umapc":
            return self.index.query(queries, k=k, ef=int(knob), n_jobs=threads)[0]
        if self.name == "hnswlib":
            self.index.set_ef(max(int(knob), k))
            self.index.set_num_threads(threads)
            return self.index.knn_query(queries, k=k)[0]
        if self.name == "usearch":
            self.index.expansion_search = max(int(knob), k)
            return np.asarray(self.index.search(queries, k, threads=threads).keys, dtype=np.int64)
        _set_numba_threads(threads)
        return self.index.query(queries, k=k, epsilon=float(knob))[0]


def ann_worker(tool_name: str, dataset: str, threads: int, repeats: int, quick: bool) -> None:
    base, queries, metric = load_dataset(dataset, quick)
    kth = dataset_kth(dataset, base, queries, metric, quick)
    tool = Tool(tool_name)
    tool.warm_up(base, metric)
    reset_peak_rss()
    base_kib = _status_kib("VmRSS")
    t = time.perf_counter()
    tool.build(base, metric, threads)
    build_s = time.perf_counter() - t
    peak_mib = (_status_kib("VmHWM") - base_kib) / 1024.0
    index_bytes = tool.index_bytes()
    knobs = EPSILONS if tool_name == "pynndescent" else EFS
    curves: dict[str, list] = {}
    # Small query sets (SIFT-small has 100) are timed over repeated copies, so that per-call
    # overhead and timer noise do not decide the rate.
    timed_queries = np.tile(queries, (max(1, -(-2000 // len(queries))), 1))
    for qthreads in sorted({1, threads}):
        points = []
        for knob in knobs:
            walls = []
            ids = tool.search(queries, K, knob, qthreads)
            for _ in range(max(repeats, 1)):
                t = time.perf_counter()
                tool.search(timed_queries, K, knob, qthreads)
                walls.append(time.perf_counter() - t)
            qps = len(timed_queries) / statistics.median(walls)
            points.append([knob, recall(base, queries, np.asarray(ids), kth, metric), qps])
        curves[str(qthreads)] = points
    print(
        json.dumps(
            {
                "build_s": build_s,
                "peak_mib": peak_mib,
                "index_ratio": None if index_bytes is None else index_bytes / base.nbytes,
                "budget_ratio": 1.1 + 8 * 16 / (4 * base.shape[1]),
                "curves": curves,
            }
        )
    )


def graph_worker(tool_name: str, n: int, threads: int, repeats: int) -> None:

    train, _, test, _ = shared.load_fashion_mnist(_data_dir())
    x = np.ascontiguousarray(np.concatenate([train, test])[:n])
    k = GRAPH_K
    if tool_name == "pynndescent":
        import pynndescent

        _set_numba_threads(threads)
        pynndescent.NNDescent(x[:3000], n_neighbors=k, n_jobs=threads, random_state=0)

    def run() -> np.ndarray:
        if tool_name == "umapc":
            import umapc

            # NNIndex's defaults: the graph comes from NN-descent seeded by random-projection
            # trees; the HNSW search graph is only built for queries.
            idx = umapc.NNIndex(x, n_neighbors=k, n_jobs=threads, random_state=0)
            return idx.neighbor_graph[0]
        if tool_name == "hnswlib":
            import hnswlib

            p = hnswlib.Index(space="l2", dim=x.shape[1])
            p.init_index(max_elements=len(x), M=16, ef_construction=200, random_seed=0)
            p.set_num_threads(threads)
            p.add_items(x)
            p.set_ef(2 * k + 16)
            return p.knn_query(x, k=k)[0]
        import pynndescent

        # umap-learn's own settings (umap_.nearest_neighbors).
        n_trees = min(64, 5 + int(round(math.sqrt(len(x)) / 20.0)))
        n_iters = max(5, int(round(math.log2(len(x)))))
        nnd = pynndescent.NNDescent(
            x,
            n_neighbors=k,
            n_trees=n_trees,
            n_iters=n_iters,
            max_candidates=60,
            low_memory=True,
            n_jobs=threads,
            random_state=0,
            compressed=False,
        )
        return nnd.neighbor_graph[0]

    reset_peak_rss()
    base_kib = _status_kib("VmRSS")
    walls, ids = [], None
    for _ in range(max(repeats, 1)):
        ids = None
        t = time.perf_counter()
        ids = run()
        walls.append(time.perf_counter() - t)
    peak_mib = (_status_kib("VmHWM") - base_kib) / 1024.0
    if n == 70000:
        truth = np.load(_data_dir() / "fashion-mnist" / "groundtruth" / "all70k_knn31.npy")
        kth = kth_from_truth(x, x, truth, k, "euclidean")
    else:
        kth = exact_kth(x, x, k, "euclidean")
    r = recall(x, x, np.asarray(ids, dtype=np.int64), kth, "euclidean")
    print(json.dumps({"walls": walls, "recall": r, "peak_mib": peak_mib}))


# ---- parent side -----------------------------------------------------------------------------


def run_child(args: list[str], threads: int) -> dict:
    cmd = [sys.executable, __file__, *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def qps_at(points: list, target: float) -> float | None:
    """Queries per second at the given recall, interpolated (log QPS, linear recall) between the
    two sweep points around it; None when the sweep never reaches it."""
    pts = sorted((p[1], p[2]) for p in points)
    best = None
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1 and r1 > r0:
            f = (target - r0) / (r1 - r0)
            q = math.exp(math.log(q0) + f * (math.log(q1) - math.log(q0)))
            best = q if best is None else max(best, q)
    above = [q for r, q in pts if r >= target]
    if above:
        best = max(above) if best is None else max(best, max(above))
    return best


def fmt(x: float | None, spec: str = ".0f") -> str:
    return "—" if x is None else format(x, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}x"


def plot(results: dict, path: Path, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, qthreads in zip(axes, ("1", str(threads))):
        for tool in TOOLS:
            curve = results["fashion"][tool]["curves"].get(qthreads)
            if not curve:
                continue
            pts = sorted((p[1], p[2]) for p in curve)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=tool)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_title(f"Fashion-MNIST 60k / 10k queries, {qthreads} thread(s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlim(left=0.8)
    axes[0].set_ylabel("queries per second")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(results: dict, graph: dict, args, command: str) -> str:
    lines = ["## HNSW", ""]
    lines.append(f"Command: `{command}`")
    lines.append(
        f"Machine: {os.cpu_count()} cores (absolute times vary from run to run on a shared "
        f"machine; ratios within the run are what to read); {args.threads} threads for "
        f"builds; median of {args.repeats} run(s) per query point. HNSW for umapc and hnswlib: "
        "M=16, ef_construction=200; pynndescent: defaults."
    )
    lines += [
        "",
        "How umapc gets there: points are inserted in batches that search the graph frozen before "
        "the batch (plus their batch neighbours by brute force), then link in a fixed order, so "
        "the graph is the same for any thread count. Layer-0 links sit next to each row in one "
        "fixed-stride block. Euclidean rows of integers spanning at "
        "most 255 per column (Fashion-MNIST, SIFT) are stored as lossless 8-bit codes: the "
        "distances are exact and each row is a quarter of the bytes; two code rows are compared "
        "through a VNNI dot product (|a|^2 + |b|^2 - 2 a.b, all integer), a float query that is "
        "off the integer grid against the codes directly. Other data keeps float rows and builds "
        "on a temporary 8-bit copy. The beam search keeps one sorted array of the best ef nodes "
        "instead of two heaps. The all-points graph is NN-descent seeded by random-projection "
        "trees, on the same codes.",
    ]
    lines += [
        "",
        "Build and memory (peak RSS of the build above the loaded data; index size over the raw "
        "float32 data, against the budget of 1.1x the data plus 8*M bytes per point):",
        "",
    ]
    lines.append("| data | tool | build (s) | vs hnswlib | peak MiB | index / data | budget |")
    lines.append("|---|---|---|---|---|---|---|")
    for ds, per_tool in results.items():
        for tool, r in per_tool.items():
            h = per_tool.get("hnswlib", {}).get("build_s")
            size = r.get("index_ratio")
            lines.append(
                f"| {ds} | {tool} | {r['build_s']:.2f} | {ratio(r['build_s'], h)} | "
                f"{r['peak_mib']:.0f} | {fmt(size, '.2f')} | {r.get('budget_ratio', 0):.2f} |"
            )
    lines += ["", "Queries per second at a given recall@10 (interpolated on the sweep):", ""]
    lines.append(
        "| data | query threads | tool | QPS @0.95 | vs hnswlib | QPS @0.99 | vs hnswlib |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for ds, per_tool in results.items():
        for qthreads in sorted({"1", str(args.threads)}):
            h = per_tool.get("hnswlib", {}).get("curves", {}).get(qthreads)
            h95 = qps_at(h, 0.95) if h else None
            h99 = qps_at(h, 0.99) if h else None
            for tool, r in per_tool.items():
                c = r["curves"].get(qthreads)
                if not c:
                    continue
                q95, q99 = qps_at(c, 0.95), qps_at(c, 0.99)
                lines.append(
                    f"| {ds} | {qthreads} | {tool} | {fmt(q95)} | {ratio(q95, h95)} | "
                    f"{fmt(q99)} | {ratio(q99, h99)} |"
                )
    if graph:
        n = graph.get("n", 70000)
        lines += [
            "",
            f"All-points k={GRAPH_K} graph of {n} Fashion-MNIST images, "
            f"{args.threads} threads, end to end (umapc: NNIndex defaults, i.e. NN-descent "
            "seeded by random-projection trees; hnswlib: build with M=16, ef_construction=200, "
            "then a self-query with "
            f"ef={2 * GRAPH_K + 16}; pynndescent: umap-learn's settings, after JIT "
            "warm-up):",
            "",
        ]
        lines.append("| tool | median wall (s) | umapc / tool | recall@15 | peak MiB |")
        lines.append("|---|---|---|---|---|")
        ours = statistics.median(graph["umapc"]["walls"]) if "umapc" in graph else None
        for tool, r in graph.items():
            if tool == "n":
                continue
            wall = statistics.median(r["walls"])
            lines.append(
                f"| {tool} | {wall:.2f} | {ratio(ours, wall)} | {r['recall']:.4f} | "
                f"{r['peak_mib']:.0f} |"
            )
    lines += ["", *target_lines(results, graph), "", "![recall vs QPS](recall_qps.png)", ""]
    return "\n".join(lines)


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


def target_lines(results: dict, graph: dict) -> list[str]:
    """The issue's targets, checked against this run's figures."""
    out = ["Targets (issue 3), from this run:", ""]
    walls = {t: statistics.median(r["walls"]) for t, r in graph.items() if t != "n"}
    ours = walls.get("umapc")
    for peer, limit in (("pynndescent", 0.33), ("hnswlib", 0.2)):
        if ours is not None and peer in walls:
            r = ours / walls[peer]
            out.append(f"- all-points graph <= {limit}x {peer}: {r:.2f}x, {_met(r <= limit)}")
    if "umapc" in graph:
        rec = graph["umapc"]["recall"]
        out.append(f"- all-points graph recall@15 >= 0.99: {rec:.4f}, {_met(rec >= 0.99)}")
    fashion = results.get("fashion", {})
    mine, theirs = fashion.get("umapc", {}).get("curves", {}), fashion.get("hnswlib", {})
    theirs = theirs.get("curves", {})
    for target in (0.95, 0.99):
        a = qps_at(mine["1"], target) if "1" in mine else None
        b = qps_at(theirs["1"], target) if "1" in theirs else None
        if a is not None and b is not None:
            out.append(
                f"- single-thread QPS at recall {target} >= 1.3x hnswlib (Fashion-MNIST): "
                f"{a / b:.2f}x, {_met(a / b >= 1.3)}"
            )
    for ds, per_tool in results.items():
        r = per_tool.get("umapc", {})
        if r.get("index_ratio") is not None:
            size, budget = r["index_ratio"], r["budget_ratio"]
            out.append(
                f"- index memory <= 1.1x data + 8M bytes/point ({ds}): {size:.2f}x of "
                f"{budget:.2f}x, {_met(size <= budget)}"
            )
    return out


def float_report(results: dict, args, command: str) -> str:
    """The float-data section: build, memory and single/all-thread QPS against both peers, and
    issue 8's query targets (single thread, >= 2x hnswlib and >= 1.3x usearch)."""
    from _docs import cpu_model

    import umapc

    lines = [FLOAT_SECTION, "", f"Command: `{command}`  "]
    lines.append(
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, umapc SIMD level `{umapc.simd_level()}`; "
        f"{args.threads} threads for builds; median of {args.repeats} timed run(s) per query "
        "point; M=16, ef_construction=200 for all three (usearch: connectivity=16, "
        "expansion_add=200, float32 vectors). Recall@10 against exact float64 search."
    )
    lines += ["", "| data | tool | build (s) | peak MiB | index / data |", "|---|---|---|---|---|"]
    for ds, per_tool in results.items():
        for tool, r in per_tool.items():
            lines.append(
                f"| {ds} | {tool} | {r['build_s']:.2f} | {r['peak_mib']:.0f} | "
                f"{fmt(r.get('index_ratio'), '.2f')} |"
            )
    lines += [
        "",
        "| data | query threads | tool | QPS @0.95 | vs hnswlib | vs usearch | QPS @0.99 | "
        "vs hnswlib | vs usearch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    targets = []
    for ds, per_tool in results.items():
        for qthreads in sorted({"1", str(args.threads)}):
            at = {
                tool: {
                    r_: qps_at(r["curves"][qthreads], r_) if qthreads in r["curves"] else None
                    for r_ in (0.95, 0.99)
                }
                for tool, r in per_tool.items()
            }
            for tool in per_tool:
                cells = []
                for r_ in (0.95, 0.99):
                    q = at[tool][r_]
                    cells += [
                        fmt(q),
                        ratio(q, at.get("hnswlib", {}).get(r_)),
                        ratio(q, at.get("usearch", {}).get(r_)),
                    ]
                lines.append(f"| {ds} | {qthreads} | {tool} | " + " | ".join(cells) + " |")
            if qthreads == "1" and "umapc" in at:
                for peer, limit in (("hnswlib", 2.0), ("usearch", 1.3)):
                    for r_ in (0.95, 0.99):
                        a, b = at["umapc"][r_], at.get(peer, {}).get(r_)
                        if a is not None and b is not None:
                            targets.append(
                                f"- {ds}, 1 thread, recall {r_}: {a / b:.2f}x {peer} "
                                f"(target >= {limit}x), {_met(a / b >= limit)}"
                            )
    lines += ["", "Targets (issue 8), from this run:", "", *targets, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ann-worker", nargs=2, metavar=("TOOL", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--graph-worker", metavar="TOOL", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--graph-repeats", type=int, default=3)
    parser.add_argument("--graph-n", type=int, default=70000)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--skip-graph", action="store_true")
    parser.add_argument("--skip-ann", action="store_true")
    parser.add_argument("--quick", action="store_true", help="subsets, 1 repeat")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--float", action="store_true", help="the float-data comparison")
    args = parser.parse_args()
    if args.float and not (args.ann_worker or args.graph_worker):
        args.skip_graph = True
        if args.datasets == ",".join(DATASETS):
            args.datasets = ",".join(FLOAT_DATASETS)
        if args.tools == ",".join(TOOLS):
            args.tools = ",".join(FLOAT_TOOLS)
    if args.ann_worker:
        ann_worker(*args.ann_worker, args.threads, args.repeats, args.quick)
        return
    if args.graph_worker:
        graph_worker(args.graph_worker, args.graph_n, args.threads, args.graph_repeats)
        return
    if args.quick:
        args.repeats, args.graph_repeats, args.graph_n = 1, 1, 20000
    tools = args.tools.split(",")
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    results: dict = {}
    if not args.skip_ann:
        for ds in args.datasets.split(","):
            results[ds] = {}
            for tool in tools:
                extra = ["--quick"] if args.quick else []
                print(f"ann: {ds} {tool}", file=sys.stderr, flush=True)
                results[ds][tool] = run_child(
                    ["--ann-worker", tool, ds, *common, *extra], args.threads
                )
    graph: dict = {}
    if not args.skip_graph:
        graph["n"] = args.graph_n
        for tool in tools:
            print(f"graph: {tool}", file=sys.stderr, flush=True)
            graph[tool] = run_child(
                [
                    "--graph-worker",
                    tool,
                    "--threads",
                    str(args.threads),
                    "--graph-repeats",
                    str(args.graph_repeats),
                    "--graph-n",
                    str(args.graph_n),
                ],
                args.threads,
            )
    command = " ".join(["python", "bench/bench_hnsw.py", *sys.argv[1:]])
    if args.float:
        section = float_report(results, args, command)
    else:
        section = report(results, graph, args, command)
    print(section)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir="/tmp") as f:
        json.dump({"ann": results, "graph": graph}, f)
        print(f"raw results: {f.name}", file=sys.stderr)
    if args.write_docs:
        if "fashion" in results and not args.float:
            plot(results, ROOT / "docs" / "recall_qps.png", args.threads)
        replace_section(section)


if __name__ == "__main__":
    main()
