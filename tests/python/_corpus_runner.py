"""Runs bad-input corpus cases (see test_bad_input_corpus.py) in this process and prints one JSON
line per case: {"name", "outcome", "detail"}, outcome "error" (a clean exception), "ok" (a result
that passed its checks) or "wrong" (a result that failed them). Reads the cases as JSON
[[name, code], ...] from stdin. A crash or hang shows as missing lines; the test reruns those."""

from __future__ import annotations

import json
import os
import pickle
import sys
import tempfile
import traceback
import warnings

import numpy as np
import scipy.sparse

# pickle.UnpicklingError: pickle's own answer to a truncated stream, before umapc sees it.
CLEAN_ERRORS = (
    ValueError,
    TypeError,
    NotImplementedError,
    OSError,
    FloatingPointError,
    pickle.UnpicklingError,
)


class Wrong(Exception):
    """A result that is not a sane answer to the call."""


def sane_embedding(embedding, n: int, dim: int = 2) -> None:
    embedding = np.asarray(embedding)
    if embedding.shape != (n, dim):
        raise Wrong(f"embedding shape {embedding.shape}, expected {(n, dim)}")
    if np.isinf(embedding).any():
        raise Wrong("infinite coordinates")
    # NaN rows are umap-learn's mark for disconnected points (with a warning); two points with
    # n_neighbors truncated to 1 have no edges at all, so only larger sets must place someone.
    if n > 2 and np.isnan(embedding).all():
        raise Wrong("every coordinate is NaN")


def sane_knn(result, n_index: int, k: int, n_query: int | None = None) -> None:
    indices, distances = (np.asarray(r) for r in result)
    if n_query is not None and indices.shape != (n_query, k):
        raise Wrong(f"indices shape {indices.shape}, expected {(n_query, k)}")
    if indices.shape != distances.shape or indices.ndim != 2 or indices.shape[1] != k:
        raise Wrong(f"shapes {indices.shape} / {distances.shape} for k={k}")
    valid = indices >= 0
    if (indices >= n_index).any() or (indices < -1).any():
        raise Wrong("ids out of range")
    if np.isnan(distances).any() or np.isinf(distances[valid]).any():
        raise Wrong("non-finite distance for a returned id")
    if (np.diff(np.where(valid, distances, np.inf), axis=1) < -1e-5).any():
        raise Wrong("distances not ascending")


def run(name: str, code: str, scratch: str) -> dict:
    from umapc import UMAP, AlignedUMAP, CorruptIndexError, NNIndex
    from umapc.cli import main as cli_main

    env = {
        "np": np,
        "sp": scipy.sparse,
        "pickle": pickle,
        "os": os,
        "UMAP": UMAP,
        "AlignedUMAP": AlignedUMAP,
        "NNIndex": NNIndex,
        "CorruptIndexError": CorruptIndexError,
        "cli_main": cli_main,
        "sane_embedding": sane_embedding,
        "sane_knn": sane_knn,
        "Wrong": Wrong,
        "tmp": scratch,
        "rng": np.random.default_rng(0),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, env)  # noqa: S102 - the corpus is our own test code
    except Wrong as exc:
        return {"name": name, "outcome": "wrong", "detail": str(exc)}
    except CLEAN_ERRORS as exc:
        return {"name": name, "outcome": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    except BaseException as exc:  # noqa: BLE001 - any other exception is not clean
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"name": name, "outcome": "wrong", "detail": f"unclean {detail}"[:300]}
    return {"name": name, "outcome": "ok", "detail": ""}


def main() -> None:
    cases = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, code) in enumerate(cases):
            case_dir = os.path.join(scratch, str(i))
            os.mkdir(case_dir)
            print(json.dumps(run(name, code, case_dir)), flush=True)


if __name__ == "__main__":
    main()
