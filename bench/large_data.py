"""The large benchmark sets of issue 13, built deterministically from the shared Fashion-MNIST
images, as the infinite-MNIST / MNIST-8M sets are built from MNIST: every row is one of the 60,000
training images under a random shift (up to 2 pixels), rotation (up to 10 degrees) and elastic
deformation (a smoothed random displacement field), all drawn from the seed and the row number,
so any slice can be rebuilt alone and two machines build the same bytes. Labels carry over; the
10,000 test images stay out, as held-out originals for the 15-NN label accuracy.

    python bench/large_data.py --rows 1000000 [--pca 50] [--out /tmp/umapc-large]

writes ``fmnist-aug-<rows>.f32`` (rows x 784 float32, pixels / 255, a raw memmap) or, with
``--pca k``, ``fmnist-aug-<rows>-pca<k>.f32`` (rows x k float32: the same rows projected on a PCA
fitted on the 70,000 originals), and ``fmnist-aug-<rows>.labels.npy``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _data as shared  # noqa: E402  (bench/ is on sys.path when run as a script)
import numpy as np

SIDE = 28
BATCH = 8192
DEFAULT_OUT = Path("/tmp/umapc-large")


def originals() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST / 255 as float32: (train_x, train_y, test_x, test_y)."""
    root = shared.shared_data_dir()
    if root is None:
        raise SystemExit("shared data not found")
    tx, ty, qx, qy = shared.load_fashion_mnist(root)
    return tx / np.float32(255), ty, qx / np.float32(255), qy


def _upsampler(coarse: int) -> np.ndarray:
    """SIDE x coarse linear interpolation weights: a coarse grid of control points to pixels."""
    at = np.linspace(0.0, coarse - 1.0, SIDE)
    lo = np.minimum(at.astype(int), coarse - 2)
    w = np.zeros((SIDE, coarse))
    w[np.arange(SIDE), lo] = 1.0 - (at - lo)
    w[np.arange(SIDE), lo + 1] = at - lo
    return w


def _bilinear(stack: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """stack[b] sampled at (src_y, src_x)[b] with bilinear weights, zero outside the image."""
    b = stack.shape[0]
    padded = np.zeros((b, SIDE + 2, SIDE + 2), np.float32)
    padded[:, 1:-1, 1:-1] = stack
    y = np.clip(src_y + 1.0, 0.0, SIDE + 0.999, dtype=np.float32)
    x = np.clip(src_x + 1.0, 0.0, SIDE + 0.999, dtype=np.float32)
    fy, fx = y - np.floor(y), x - np.floor(x)
    y0, x0 = y.astype(np.intp), x.astype(np.intp)
    flat = padded.reshape(b, -1)
    base = (y0 * (SIDE + 2) + x0).reshape(b, -1)

    def at(offset: int) -> np.ndarray:
        return np.take_along_axis(flat, base + offset, axis=1).reshape(src_y.shape)

    top = at(0) * (1 - fx) + at(1) * fx
    bottom = at(SIDE + 2) * (1 - fx) + at(SIDE + 3) * fx
    return top * (1 - fy) + bottom * fy


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random shift, rotation and elastic deformation per image (bilinear resampling). The
    elastic field is smooth: random displacements of a 5 x 5 grid of control points, linearly
    interpolated to the pixels (up to 1.5 pixels)."""
    b = images.shape[0]
    stack = images.reshape(b, SIDE, SIDE)
    angle = np.deg2rad(rng.uniform(-10.0, 10.0, b)).astype(np.float32)[:, None, None]
    shift = rng.uniform(-2.0, 2.0, (2, b)).astype(np.float32)[:, :, None, None]
    up = _upsampler(5).astype(np.float32)
    control = rng.uniform(-1.5, 1.5, (2, b, 5, 5)).astype(np.float32)
    field = up @ control @ up.T
    grid = np.arange(SIDE, dtype=np.float32) - np.float32(13.5)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    src_y = cos * yy - sin * xx + 13.5 + shift[0] + field[0]
    src_x = sin * yy + cos * xx + 13.5 + shift[1] + field[1]
    out = _bilinear(stack, src_y, src_x)
    return np.clip(out, 0.0, 1.0).reshape(b, SIDE * SIDE)


def batches(rows: int, seed: int = 0):
    """(lo, hi, images) of the augmented set in order; each batch depends only on (seed, lo)."""
    train_x, _, _, _ = originals()
    source = np.random.default_rng(seed).integers(0, train_x.shape[0], rows)
    for lo in range(0, rows, BATCH):
        hi = min(rows, lo + BATCH)
        yield lo, hi, augment(train_x[source[lo:hi]], np.random.default_rng([seed, lo]))


def labels(rows: int, seed: int = 0) -> np.ndarray:
    _, train_y, _, _ = originals()
    return train_y[np.random.default_rng(seed).integers(0, train_y.shape[0], rows)].astype(np.int8)


def build(rows: int, out: Path, seed: int = 0) -> Path:
    """Write the augmented set of ``rows`` rows and its labels (kept where they exist)."""
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / f"fmnist-aug-{rows}.f32"
    if not data_path.exists():
        start = time.perf_counter()
        data = np.memmap(data_path.with_suffix(".part"), np.float32, "w+", shape=(rows, SIDE**2))
        for lo, hi, images in batches(rows, seed):
            data[lo:hi] = images
        data.flush()
        del data
        data_path.with_suffix(".part").rename(data_path)
        print(f"{data_path}: {rows} rows in {time.perf_counter() - start:.0f} s")
    np.save(out / f"fmnist-aug-{rows}.labels.npy", labels(rows, seed))
    return data_path


def build_pca(rows: int, k: int, out: Path, seed: int = 0) -> Path:
    """The augmented rows projected on a PCA fitted on the 70,000 originals, generated batch by
    batch (the 784-column rows of an 8M set, 25 GB, are never written)."""
    from sklearn.decomposition import PCA

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"fmnist-aug-{rows}-pca{k}.f32"
    np.save(out / f"fmnist-aug-{rows}.labels.npy", labels(rows, seed))
    if path.exists():
        return path
    start = time.perf_counter()
    train_x, _, test_x, _ = originals()
    pca = PCA(n_components=k, random_state=0).fit(np.concatenate([train_x, test_x]))
    proj = np.memmap(path.with_suffix(".part"), np.float32, "w+", shape=(rows, k))
    for lo, hi, images in batches(rows, seed):
        proj[lo:hi] = pca.transform(images)
    proj.flush()
    del proj
    path.with_suffix(".part").rename(path)
    with open(out / f"fmnist-aug-pca{k}.npz", "wb") as f:
        np.savez(f, components=pca.components_, mean=pca.mean_)  # to project held-out rows
    print(f"{path}: {rows} rows in {time.perf_counter() - start:.0f} s")
    return path


def open_rows(path: Path, dim: int) -> np.memmap:
    """A built set as a read-only memmap of ``dim`` columns."""
    size = path.stat().st_size // 4
    return np.memmap(path, dtype=np.float32, mode="r", shape=(size // dim, dim))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--pca", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    if args.pca:
        build_pca(args.rows, args.pca, args.out)
    else:
        build(args.rows, args.out)


if __name__ == "__main__":
    main()
