"""Model files: umapc's ``UMAP.save`` file (and pickle) against umap-learn's pickle of the same
fit, in the same run: size on disk, and load + ``transform`` of 1,000 new points (jittered
Fashion-MNIST test images), median of the runs, taking turns.

Both models are fitted on the same rows and have transformed once before they are written, so
each file holds its search structure ready (umapc's HNSW graph, pynndescent's search graph) and
numba has compiled umap-learn's functions before any timing. Load reads the file from disk (page
cache) and rebuilds the model: ``umapc.load(path)`` / ``pickle.loads(open(path).read())``.

Run: ``python bench/bench_model_file.py`` (``--write-docs`` replaces the "## Model files" section
of docs/benchmarks.md; ``--n 20000`` for a subset when fitting umap-learn on 70,000 rows takes
too long).
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_fashion_mnist, shared_data_dir  # noqa: E402
from _docs import cpu_model, replace_section  # noqa: E402


def _jittered(base: np.ndarray, seed: int, rows: int) -> np.ndarray:
    """New rows: test images with pixel noise (still 0..255), not in the training rows."""
    rng = np.random.default_rng(seed)
    picked = base[rng.integers(0, base.shape[0], rows)]
    noise = rng.integers(-8, 9, picked.shape).astype(np.float32)
    return np.clip(picked + noise, 0, 255).astype(np.float32)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=70000, help="Fashion-MNIST rows to fit")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    import umap

    import umapc

    data_dir = shared_data_dir()
    if data_dir is None:
        sys.exit("no shared data folder (set UMAPC_DATA)")
    train_x, _, test_x, _ = load_fashion_mnist(data_dir)
    X = np.ascontiguousarray(np.concatenate([train_x, test_x])[: args.n])
    Q = _jittered(test_x, 1, args.queries)
    label = "Fashion-MNIST 70,000" if args.n == 70000 else f"a {args.n:,}-row Fashion-MNIST subset"
    print(f"{label} x {X.shape[1]}, {args.queries:,} new points", flush=True)

    t = time.perf_counter()
    ours = umapc.UMAP(random_state=42).fit(X)
    ours.transform(Q[:10])
    t_fit_ours = time.perf_counter() - t
    print(f"umapc fit {t_fit_ours:.1f} s", flush=True)
    t = time.perf_counter()
    theirs = umap.UMAP(random_state=42, n_jobs=-1).fit(X)
    theirs.transform(Q[:10])
    t_fit_theirs = time.perf_counter() - t
    print(f"umap-learn fit {t_fit_theirs:.1f} s", flush=True)

    folder = tempfile.mkdtemp(prefix="bench_model_file.")
    ours_path = os.path.join(folder, "umapc.model")
    theirs_path = os.path.join(folder, "umap_learn.pkl")
    t = time.perf_counter()
    ours.save(ours_path)
    t_save_ours = time.perf_counter() - t
    ours_pickle = len(pickle.dumps(ours, protocol=pickle.HIGHEST_PROTOCOL))
    t = time.perf_counter()
    with open(theirs_path, "wb") as f:
        pickle.dump(theirs, f, protocol=pickle.HIGHEST_PROTOCOL)
    t_save_theirs = time.perf_counter() - t
    size_ours, size_theirs = os.path.getsize(ours_path), os.path.getsize(theirs_path)
    expected = ours.transform(Q)

    def load_ours() -> tuple[float, float]:
        t0 = time.perf_counter()
        model = umapc.load(ours_path)
        t1 = time.perf_counter()
        out = model.transform(Q)
        t2 = time.perf_counter()
        assert np.array_equal(out, expected), "umapc: transform after load differs"
        return t1 - t0, t2 - t1

    def load_theirs() -> tuple[float, float]:
        t0 = time.perf_counter()
        with open(theirs_path, "rb") as f:
            model = pickle.loads(f.read())
        t1 = time.perf_counter()
        model.transform(Q)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": []}
    for r in range(args.repeats):
        runs["ours"].append(load_ours())
        runs["theirs"].append(load_theirs())
        print(f"run {r + 1}: umapc {runs['ours'][-1]}, umap-learn {runs['theirs'][-1]}", flush=True)

    def med(name: str, part: int | None) -> float:
        values = [sum(v) if part is None else v[part] for v in runs[name]]
        return statistics.median(values)

    total_ours, total_theirs = med("ours", None), med("theirs", None)
    lines = [
        "## Model files",
        "",
        f"`bench/bench_model_file.py`: {label} rows x {X.shape[1]}, `UMAP(random_state=42)` fitted "
        f"by each library in the same run ({platform.node() or 'this machine'}, {cpu_model()}, "
        f"{os.cpu_count()} CPUs, shared with other jobs), each model having transformed once "
        "before it was written (search structures ready, numba compiled). Load reads the file "
        f"and rebuilds the model; transform embeds {args.queries:,} jittered test images; median "
        f"of {args.repeats} runs, taking turns. umapc's transform after load equals its "
        "transform before save, bit for bit (asserted in every run).",
        "",
        "| | umapc `save` / `umapc.load` | umap-learn pickle | ratio |",
        "|---|---|---|---|",
        f"| file size | {_mib(size_ours)} | {_mib(size_theirs)} | {size_ours / size_theirs:.3f}x |",
        f"| load | {med('ours', 0):.3f} s | {med('theirs', 0):.3f} s | "
        f"{med('ours', 0) / med('theirs', 0):.3f}x |",
        f"| transform {args.queries:,} points | {med('ours', 1):.3f} s | "
        f"{med('theirs', 1):.3f} s | {med('ours', 1) / med('theirs', 1):.3f}x |",
        f"| load + transform | {total_ours:.3f} s | {total_theirs:.3f} s | "
        f"{total_ours / total_theirs:.3f}x |",
        "",
        f"umapc's pickle of the model: {_mib(ours_pickle)} (the same compact form). Writing: "
        f"umapc `save` {t_save_ours:.1f} s, umap-learn `pickle.dump` {t_save_theirs:.1f} s. "
        f"Fits (with the first transform): umapc {t_fit_ours:.1f} s, umap-learn "
        f"{t_fit_theirs:.1f} s. Targets: size <= 0.3x, load + transform <= 0.1x umap-learn's.",
        "",
    ]
    print("\n".join(lines), flush=True)
    for path in (ours_path, theirs_path):
        os.unlink(path)
    os.rmdir(folder)
    if args.write_docs:
        replace_section("\n".join(lines))
        print("wrote docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
