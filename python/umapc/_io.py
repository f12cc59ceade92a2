"""Readers for the data formats the command line and the benchmarks take in.

These parse headers and hand the payload to numpy in one call; no per-row Python loops.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_fvecs", "read_ivecs", "read_idx", "read_matrix"]


def _read_vecs(path: str | os.PathLike[str], dtype: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < 4:
        raise ValueError(f"{path}: too short to be a .fvecs/.ivecs file")
    dim = int(raw[:4].view("<i4")[0])
    record = 4 * (dim + 1)
    if dim <= 0 or raw.size % record != 0:
        raise ValueError(f"{path}: size {raw.size} is not a multiple of the record size {record}")
    rows = raw.view("<i4").reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise ValueError(f"{path}: records of differing dimension")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def read_fvecs(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a TEXMEX ``.fvecs`` file (per record: int32 d, then d float32) as float32 (n, d)."""
    return _read_vecs(path, "<f4").astype(np.float32, copy=False)


def read_ivecs(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a TEXMEX ``.ivecs`` file as int32 (n, d)."""
    return _read_vecs(path, "<i4").astype(np.int32, copy=False)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (MNIST format, optionally gzipped); images come back as (n, rows*cols)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(x) for x in np.frombuffer(data[4:header], dtype=">u4"))
    array = np.frombuffer(data[header:], dtype=_IDX_TYPES[data[2]])
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: payload does not match header shape {shape}")
    array = array.reshape(shape)
    return array.reshape(shape[0], -1) if ndim > 2 else array


def read_matrix(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a data matrix from ``.npy``, ``.csv``/``.tsv``/``.txt`` or ``.fvecs``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".fvecs":
        return read_fvecs(path)
    if suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if suffix == ".tsv" else ("," if suffix == ".csv" else None)
        return np.loadtxt(path, delimiter=delimiter, dtype=np.float32, ndmin=2)
    raise ValueError(f"{path}: unknown file type {suffix!r} (expected .npy, .csv, .tsv or .fvecs)")
