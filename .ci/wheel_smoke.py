"""Smoke test of an installed umapc (a wheel from cibuildwheel or .ci/package.sh): the extension
imports and reports its SIMD level, and a seeded UMAP fit, an index query and a model
file round trip work, with the fit identical for one and two threads (also where the build has
no OpenMP and runs single-threaded). Seconds, not minutes: it runs under emulation too."""

import os
import sys
import tempfile

import numpy as np

import umapc

print(
    f"umapc {umapc.__version__} from {os.path.dirname(umapc.__file__)}, "
    f"simd level {umapc.simd_level()}, python {sys.version.split()[0]}"
)
rng = np.random.default_rng(0)
X = rng.random((200, 8), dtype=np.float32)
one = umapc.UMAP(n_neighbors=10, n_epochs=50, random_state=1, n_jobs=1).fit_transform(X)
model = umapc.UMAP(n_neighbors=10, n_epochs=50, random_state=1, n_jobs=2).fit(X)
assert one.shape == (200, 2) and np.isfinite(one).all()
assert np.array_equal(one, model.embedding_), "a seeded fit differs between 1 and 2 threads"
indices, distances = umapc.NNIndex(X, n_neighbors=5, backend="exact").query(X[:10], k=5)
assert (indices[:, 0] == np.arange(10)).all() and (distances[:, 0] == 0).all()
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.umapc")
    model.save(path)
    assert np.array_equal(umapc.load(path).transform(X[:20]), model.transform(X[:20]))
print("umapc wheel smoke test: ok")
