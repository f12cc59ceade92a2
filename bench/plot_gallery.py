"""The pictures of docs/plots.md: each ``umapc.plot`` function on scikit-learn's digits.

Fits ``umapc.UMAP(random_state=42)`` on the 1,797 digits (bundled with scikit-learn, no
download) and writes, into ``--out`` (default docs/):

* plot_points.png: ``points(model, labels=digits.target)``
* plot_connectivity.png: ``connectivity(model, show_points=True)``
* plot_diagnostic_pca.png: ``diagnostic(model, diagnostic_type="pca")``
* plot_diagnostic_local_dim.png: ``diagnostic(model, diagnostic_type="local_dim")``
* plot_diagnostic_neighborhood.png: ``diagnostic(model, diagnostic_type="neighborhood")``

Run from the repository root: ``python bench/plot_gallery.py``. Each picture is 480 x 480
pixels at 80 dpi (about 50-150 KB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import umapc  # noqa: E402
import umapc.plot  # noqa: E402

SIZE = 480  # pixels
DPI = 80


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder to write the PNGs into")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plt.rcParams["figure.dpi"] = DPI

    digits = load_digits()
    model = umapc.UMAP(random_state=42).fit(digits.data)
    size = {"width": SIZE, "height": SIZE}
    pictures = {
        "plot_points.png": lambda: umapc.plot.points(model, labels=digits.target, **size),
        "plot_connectivity.png": lambda: umapc.plot.connectivity(model, show_points=True, **size),
        "plot_diagnostic_pca.png": lambda: umapc.plot.diagnostic(model, "pca", **size),
        "plot_diagnostic_local_dim.png": lambda: umapc.plot.diagnostic(model, "local_dim", **size),
        "plot_diagnostic_neighborhood.png": lambda: umapc.plot.diagnostic(
            model, "neighborhood", **size
        ),
    }
    for name, draw in pictures.items():
        ax = draw()
        path = out / name
        ax.figure.savefig(path, dpi=DPI, bbox_inches="tight")
        plt.close(ax.figure)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
