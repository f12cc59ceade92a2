"""The ``umapc`` command: embed a data file with UMAP, write the embedding and a scatter plot.

Examples
--------
``umapc`` embeds scikit-learn's digits (bundled with scikit-learn, coloured by digit) and writes
``digits.umap.npy`` and ``digits.umap.png``; ``umapc data.npy --labels y.csv -o emb.csv --plot
emb.png`` embeds your own data.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main"]

_OUTPUT_SUFFIXES = (".npy", ".csv")


class _UsageError(Exception):
    """A problem with the user's files or options: reported in one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="umapc",
        description="Embed a data matrix with UMAP (umapc's C implementation) and write the "
        "embedding and a scatter plot. Without DATA, embeds scikit-learn's digits data set.",
    )
    parser.add_argument(
        "data",
        nargs="?",
        metavar="DATA",
        help="data matrix: .npy, .csv/.tsv/.txt (numbers only, no header) or .fvecs; one row "
        "per point (default: scikit-learn's 8x8 digits, 1797 points, with their labels)",
    )
    parser.add_argument(
        "--labels", metavar="FILE", help="labels, one per row (.npy, .csv or .txt) for colours"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write the embedding (.npy or .csv); default DATA-stem.umap.npy when "
        "--plot is not given either",
    )
    parser.add_argument(
        "--plot",
        metavar="PNG",
        help="where to write the scatter plot; default DATA-stem.umap.png when -o is not given",
    )
    parser.add_argument("--n-neighbors", type=int, default=15, help="default 15")
    parser.add_argument("--n-components", type=int, default=2, help="default 2")
    parser.add_argument("--min-dist", type=float, default=0.1, help="default 0.1")
    parser.add_argument("--metric", default="euclidean", help="default euclidean")
    parser.add_argument("--n-epochs", type=int, default=None, help="default 500 or 200 (large)")
    parser.add_argument(
        "--random-state",
        type=int,
        default=None,
        help="seed: makes the result reproducible (with all threads)",
    )
    parser.add_argument("--n-jobs", type=int, default=-1, help="threads (default -1: all cores)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log and progress bars")
    return parser


def _load_default() -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float32), digits.target, "digits"


def _read_data(path: str) -> np.ndarray:
    from ._io import read_matrix

    if not Path(path).is_file():
        raise _UsageError(f"{path}: no such file")
    try:
        data = read_matrix(path)
    except (OSError, ValueError, EOFError) as exc:
        raise _UsageError(f"cannot read {path}: {exc}") from None
    if data.ndim != 2:
        raise _UsageError(f"{path}: expected a 2-D matrix (one row per point), got {data.shape}")
    if data.dtype.kind not in "biuf":
        raise _UsageError(f"{path}: expected numbers, got dtype {data.dtype}")
    return data


def _read_labels(path: str, n_rows: int) -> np.ndarray:
    if not Path(path).is_file():
        raise _UsageError(f"{path}: no such file")
    try:
        if Path(path).suffix.lower() == ".npy":
            labels = np.load(path, allow_pickle=False)
        else:
            labels = np.loadtxt(path, dtype=str, delimiter=",", ndmin=1)
    except (OSError, ValueError, EOFError) as exc:
        raise _UsageError(f"cannot read labels {path}: {exc}") from None
    labels = np.ravel(labels) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise _UsageError(
            f"{path}: expected {n_rows} labels (one per data row), got shape {labels.shape}"
        )
    if labels.dtype.kind == "U":
        try:
            labels = labels.astype(np.int64)
        except ValueError:
            pass
    return labels


def _outputs(args: argparse.Namespace, stem: str) -> tuple[Path | None, Path | None]:
    output = Path(args.output) if args.output else None
    plot = Path(args.plot) if args.plot else None
    if output is None and plot is None:
        output, plot = Path(f"{stem}.umap.npy"), Path(f"{stem}.umap.png")
    if output is not None and output.suffix.lower() not in _OUTPUT_SUFFIXES:
        raise _UsageError(f"{output}: the embedding is written as .npy or .csv")
    for path in (output, plot):
        if path is not None and path.is_dir():
            raise _UsageError(f"{path} is a folder; give a file name to write")
        if path is not None and not path.resolve().parent.is_dir():
            raise _UsageError(f"{path}: folder {path.parent} does not exist")
    return output, plot


def _write_embedding(embedding: np.ndarray, path: Path) -> None:
    try:
        if path.suffix.lower() == ".npy":
            np.save(path, embedding)
        else:
            np.savetxt(path, embedding, delimiter=",", fmt="%.6g")
    except OSError as exc:  # e.g. the path became a folder, or no permission
        raise _UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _run(args: argparse.Namespace) -> None:
    if args.data is None:
        data, labels, stem = _load_default()
    else:
        data = _read_data(args.data)
        labels, stem = None, Path(args.data).stem
    if args.labels is not None:
        labels = _read_labels(args.labels, data.shape[0])
    output, plot = _outputs(args, stem)

    from .umap_ import UMAP

    model = UMAP(
        n_neighbors=args.n_neighbors,
        n_components=args.n_components,
        min_dist=args.min_dist,
        metric=args.metric,
        n_epochs=args.n_epochs,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        verbose=args.verbose,
    )
    start = time.perf_counter()
    try:
        embedding = model.fit_transform(data)
    except (ValueError, TypeError, NotImplementedError, FloatingPointError) as exc:
        raise _UsageError(str(exc)) from None
    seconds = time.perf_counter() - start
    print(
        f"embedded {data.shape[0]} x {data.shape[1]} -> {embedding.shape[1]}-D in {seconds:.2f} s"
    )
    if output is not None:
        _write_embedding(embedding, output)
        print(f"wrote {output}")
    if plot is not None:
        _write_plot(embedding, labels, plot, stem)
        print(f"wrote {plot}")


def _write_plot(embedding: np.ndarray, labels: np.ndarray | None, path: Path, stem: str) -> None:
    from .plot import plot_embedding

    if embedding.shape[1] < 2:
        raise _UsageError("--plot needs at least 2 embedding dimensions")
    try:
        plot_embedding(embedding, labels=labels, path=path, title=f"UMAP of {stem} (umapc)")
    except ImportError as exc:
        raise _UsageError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot write {path}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 for bad files or options)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _run(args)
    except _UsageError as exc:
        print(f"umapc: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
