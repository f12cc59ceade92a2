"""Where the project's shared data lives and how to read the sets the benchmarks (and the tests
that use real data) share. Not part of the installed package: users pass their own arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
