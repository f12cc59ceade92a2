"""Time of `import umapc` in a fresh interpreter (median of several runs), next to `import numpy`
(which umapc needs anyway) and `import umap` (umap-learn, when installed)."""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 7


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    rows = [("numpy", import_seconds("numpy")), ("umapc", import_seconds("umapc"))]
    try:
        rows.append(("umap (umap-learn)", import_seconds("umap")))
    except subprocess.CalledProcessError:
        pass
    print(f"| module | import time (median of {RUNS}, s) |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
