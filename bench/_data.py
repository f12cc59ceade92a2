"""Where the project's shared data lives and how to read the sets the benchmarks (and the tests
that use real data) share. Not part of the installed package: users pass their own arrays."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from umapc._io import read_idx


def shared_data_dir() -> Path | None:
    """The project's shared data folder (``UMAPC_DATA`` or ``../shared/data``), if present."""
    env = os.environ.get("UMAPC_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in list(here.parents)[:6]]
    candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def load_fashion_mnist(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as float32 pixels: (train_x, train_y, test_x, test_y)."""
    d = data_dir / "fashion-mnist"
    return (
        read_idx(d / "train-images-idx3-ubyte.gz").astype(np.float32),
        read_idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64),
        read_idx(d / "t10k-images-idx3-ubyte.gz").astype(np.float32),
        read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
    )


def load_tfidf() -> sp.csr_matrix:
    root = shared_data_dir()
    if root is None:
        raise SystemExit("shared data not found")
    with gzip.open(root / "20newsgroups" / "docword.20news.txt.gz", "rt") as f:
        n, d, _ = (int(f.readline()) for _ in range(3))
        triples = np.loadtxt(f, dtype=np.int64)
    counts = sp.csr_matrix(
        (triples[:, 2].astype(np.float32), (triples[:, 0] - 1, triples[:, 1] - 1)), shape=(n, d)
    )
    idf = np.log(n / (1.0 + np.bincount(counts.indices, minlength=d))).astype(np.float32)
    tfidf = counts.multiply(np.maximum(idf, 0)).tocsr().astype(np.float32)
    tfidf.eliminate_zeros()
    tfidf.sort_indices()
    return tfidf


def load_scrna() -> sp.csr_matrix:
    """10x counts, cells as rows, scaled to 10,000 per cell and log1p (scanpy's normalisation)."""
    import scipy.io

    root = shared_data_dir()
    if root is None:
        raise SystemExit("shared data not found")
    with gzip.open(root / "scrna-10k" / "matrix.mtx.gz") as f:
        x = sp.csr_matrix(scipy.io.mmread(f), dtype=np.float32)  # cells x genes
    totals = np.asarray(x.sum(1)).ravel()
    x = sp.csr_matrix(sp.diags(1e4 / np.maximum(totals, 1)) @ x, dtype=np.float32)
    x.data = np.log1p(x.data)
    x.sum_duplicates()  # canonical CSR (sorted column indices), as the C kernels take it
    x.eliminate_zeros()
    return x
