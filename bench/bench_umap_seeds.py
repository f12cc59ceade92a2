"""How much umapc's embedding quality moves with the seed: trustworthiness@15 and 15-NN accuracy
of seeded (deterministic) umapc runs, scored as bench_umap.py scores them.

    python bench/bench_umap_seeds.py [--dataset fashion-mnist] [--seeds 0 1 2 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_umap  # noqa: E402

import umapc  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--n", type=int, default=70000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    X, y = bench_umap._load(args.dataset, args.n)
    print(f"| {args.dataset} random_state | trustworthiness@15 | 15-NN accuracy |")
    print("|---|---|---|")
    for seed in args.seeds:
        emb = umapc.UMAP(random_state=seed, n_jobs=args.threads).fit_transform(X)
        trust, acc = bench_umap._quality(X, y, emb)
        print(f"| {seed} | {trust:.4f} | {acc:.4f} |", flush=True)


if __name__ == "__main__":
    main()
