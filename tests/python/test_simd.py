"""The SIMD level override (UMAPC_SIMD): each level is reported by umapc.simd_level(), every stage
runs under it, and exact k-NN gives the same neighbours at every level.

The level is fixed per process, so each level runs in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import umapc

# Gaussian rows (exact search: no ties, so the neighbours must match exactly) and small integer
# rows (lossless 8-bit codes in NN-descent and HNSW, the code kernels). A UMAP fit on top.
_SCRIPT = r"""
import json, sys
import numpy as np
import umapc
from umapc import NNIndex, UMAP

out = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((500, 37)).astype(np.float32)
q = rng.standard_normal((60, 37)).astype(np.float32)
pix = rng.integers(0, 17, size=(600, 64)).astype(np.float32)

exact = NNIndex(x, n_neighbors=10, backend="exact", n_jobs=2)
ei, ed = exact.query(q, k=10)
gi, gd = exact.neighbor_graph
pi, pd = NNIndex(pix, n_neighbors=10, backend="exact", n_jobs=2).neighbor_graph
ni, _ = NNIndex(x, n_neighbors=10, backend="hnsw", random_state=1, n_jobs=2).neighbor_graph
ci, _ = NNIndex(pix, n_neighbors=10, backend="hnsw", random_state=1, n_jobs=2).neighbor_graph
hi, _ = NNIndex(pix, n_neighbors=10, backend="hnsw", random_state=1, n_jobs=2).query(
    pix[:50] + 0.25, k=10)
emb = UMAP(n_neighbors=10, n_epochs=30, random_state=0, n_jobs=1).fit_transform(x)
np.savez(out, ei=ei, ed=ed, gi=gi, gd=gd, pi=pi, pd=pd, ni=ni, ci=ci, hi=hi, emb=emb)
print(json.dumps({"level": umapc.simd_level()}))
"""


def _run(tmp_path: Path, level: str | None) -> tuple[str, dict[str, np.ndarray]]:
    env = dict(os.environ)
    env.pop("UMAPC_SIMD", None)
    if level is not None:
        env["UMAPC_SIMD"] = level
    out = tmp_path / f"{level or 'default'}.npz"
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reported = json.loads(proc.stdout.strip().splitlines()[-1])["level"]
    with np.load(out) as data:
        return reported, {k: data[k] for k in data.files}


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist()))
    return hits / truth.size


def test_simd_level_in_process() -> None:
    assert umapc.simd_level() in {"scalar", "avx2", "avx512", "neon"}
    assert "simd_level" in umapc.__all__


def test_levels_agree(tmp_path: Path) -> None:
    best, ref = _run(tmp_path, None)
    # avx2 is below avx512 on x86; elsewhere (or without AVX2) the request is capped at the best.
    want_avx2 = "avx2" if best in ("avx2", "avx512") else best
    runs = {"best": (best, best, ref)}
    for request, want in (("scalar", "scalar"), ("avx2", want_avx2), (best, best)):
        level, res = _run(tmp_path, request)
        assert level == want, f"UMAPC_SIMD={request} reported {level}, expected {want}"
        runs[request] = (level, want, res)
    unknown, _ = _run(tmp_path, "no-such-level")
    assert unknown == best

    for request, (_, _, res) in runs.items():
        # Exact k-NN: the same neighbours at every level (distances up to float rounding).
        np.testing.assert_array_equal(res["ei"], ref["ei"], err_msg=request)
        np.testing.assert_array_equal(res["gi"], ref["gi"], err_msg=request)
        np.testing.assert_allclose(res["ed"], ref["ed"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(res["gd"], ref["gd"], rtol=1e-5, atol=1e-5)
        # Integer rows: squared distances are exact integers at every level; ties may order
        # differently, so compare the distances.
        np.testing.assert_array_equal(res["pd"], ref["pd"], err_msg=request)
        # NN-descent and HNSW are approximate: each level must find the exact neighbours.
        assert _recall(res["ni"], ref["gi"]) > 0.9, request
        assert _recall(res["ci"], ref["pi"]) > 0.8, request
        assert res["hi"].shape == (50, 10) and (res["hi"] >= 0).all()
        # The embedding itself may differ between levels (another test's concern); it must exist.
        assert res["emb"].shape == (500, 2) and np.isfinite(res["emb"]).all()


@pytest.mark.parametrize("request_level", ["scalar", "avx512", "neon"])
def test_request_capped(tmp_path: Path, request_level: str) -> None:
    """A level the CPU lacks gives the CPU's best; one it has is used."""
    env = dict(os.environ, UMAPC_SIMD=request_level)
    best_env = {k: v for k, v in os.environ.items() if k != "UMAPC_SIMD"}
    code = "import umapc; print(umapc.simd_level())"
    best = subprocess.run(
        [sys.executable, "-c", code], env=best_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    got = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    order = {"scalar": 0, "avx2": 1, "avx512": 2} if best != "neon" else {"scalar": 0, "neon": 1}
    if request_level in order and order[request_level] <= order[best]:
        assert got == request_level
    else:
        assert got == best


# Everything after the neighbours (fuzzy set, spectral init, SGD layout) at one level: a seeded fit
# on given neighbours must give the same bytes at every level and thread count. (The neighbour
# distances themselves are float sums whose rounding depends on the level.)
_FIT_SCRIPT = r"""
import sys
import numpy as np
import umapc
from umapc import UMAP

knn = np.load(sys.argv[1])
x = np.load(sys.argv[2])
out, n_jobs = sys.argv[3], int(sys.argv[4])
model = UMAP(n_neighbors=12, random_state=7, n_jobs=n_jobs,
             precomputed_knn=(knn["i"], knn["d"])).fit(x)
emb2 = model.embedding_
inv = model.inverse_transform(emb2[:40] + 0.1)
emb3 = UMAP(n_neighbors=12, n_components=3, n_epochs=60, random_state=7, n_jobs=n_jobs,
            precomputed_knn=(knn["i"], knn["d"])).fit_transform(x)
dens = UMAP(n_neighbors=12, n_epochs=100, densmap=True, random_state=7, n_jobs=n_jobs,
            precomputed_knn=(knn["i"], knn["d"])).fit_transform(x)
np.savez(out, emb2=emb2, emb3=emb3, dens=dens, inv=inv)
print(umapc.simd_level())
"""


def test_seeded_fit_identical_at_every_level(tmp_path: Path) -> None:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    centres = rng.normal(scale=6.0, size=(6, 20))
    x = (centres[rng.integers(0, 6, 1500)] + rng.normal(size=(1500, 20))).astype(np.float32)
    x[1000:1100] = x[900:1000]  # exact duplicates: coincident points in the layout
    dist, ind = NearestNeighbors(n_neighbors=12).fit(x).kneighbors(x)
    np.savez(tmp_path / "knn.npz", i=ind.astype(np.int32), d=dist.astype(np.float32))
    np.save(tmp_path / "x.npy", x)
    results = {}
    for level, n_jobs in (("scalar", 1), ("avx2", 2), ("avx512", 2), ("neon", 2), (None, 1)):
        env = {k: v for k, v in os.environ.items() if k != "UMAPC_SIMD"}
        if level is not None:
            env["UMAPC_SIMD"] = level
        out = tmp_path / f"fit-{level}-{n_jobs}.npz"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _FIT_SCRIPT,
                str(tmp_path / "knn.npz"),
                str(tmp_path / "x.npy"),
                str(out),
                str(n_jobs),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with np.load(out) as data:
            results[(proc.stdout.split()[-1], n_jobs)] = (
                data["emb2"],
                data["emb3"],
                data["dens"],
                data["inv"],
            )
    assert ("scalar", 1) in results and len({lv for lv, _ in results}) >= 1
    ref2, ref3, ref_dens, ref_inv = results[("scalar", 1)]
    assert np.isfinite(ref2).all() and ref2.std() > 0.1
    assert np.isfinite(ref_dens).all() and not np.array_equal(ref_dens, ref2)
    # inverse_transform's steps (move_clipped) round alike at every level, but the distances
    # they scale by are sums whose rounding depends on the level: close, not identical.
    assert np.isfinite(ref_inv).all() and np.abs(ref_inv - x[:40]).mean() < np.abs(x).mean()
    for key, (emb2, emb3, dens, inv) in results.items():
        np.testing.assert_allclose(inv, ref_inv, rtol=1e-3, atol=1e-3, err_msg=f"inverse {key}")
        np.testing.assert_array_equal(emb2, ref2, err_msg=str(key))
        np.testing.assert_array_equal(emb3, ref3, err_msg=str(key))
        np.testing.assert_array_equal(dens, ref_dens, err_msg=f"densMAP {key}")
