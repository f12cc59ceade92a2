"""Bad-input corpus: many odd inputs across UMAP, NNIndex, save/load, pickle and the CLI, each run
in a subprocess and classified as a clean error, a sane result, a wrong result, a crash or a hang.

Cases run in batches (one interpreter per batch keeps the corpus fast); when a batch dies or
stalls, its unreported cases are rerun one per subprocess so the culprit is named. Each case has
an expectation: "error" (must raise a clean exception: ValueError, TypeError,
NotImplementedError, OSError, FloatingPointError), "ok" (must return a result that passes its
checks) or "any" (either, but a returned result must pass its checks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).with_name("_corpus_runner.py")
BATCHES = 4
BATCH_TIMEOUT = 120.0
CASE_TIMEOUT = 60.0

# Arrays as source text: name -> (expression, rows, expectation for use as data).
_ARRAYS = {
    "float64": ("rng.normal(size=(40, 5))", 40, "ok"),
    "float16": ("rng.normal(size=(40, 5)).astype(np.float16)", 40, "ok"),
    "int32": ("rng.integers(-5, 5, size=(40, 5)).astype(np.int32)", 40, "ok"),
    "int64": ("rng.integers(0, 1000, size=(40, 5))", 40, "ok"),
    "uint8": ("rng.integers(0, 255, size=(40, 5)).astype(np.uint8)", 40, "ok"),
    "bool": ("rng.integers(0, 2, size=(40, 5)).astype(bool)", 40, "ok"),
    # UMAP converts object arrays of numbers (as umap-learn does); NNIndex refuses them.
    "object numbers": ("rng.normal(size=(40, 5)).astype(object)", 40, "any"),
    "object strings": ("np.full((40, 5), 'a', dtype=object)", 40, "error"),
    "complex": ("rng.normal(size=(40, 5)) + 1j", 40, "error"),
    "fortran": ("np.asfortranarray(rng.normal(size=(40, 5)).astype(np.float32))", 40, "ok"),
    "column stride": ("rng.normal(size=(40, 10)).astype(np.float32)[:, ::2]", 40, "ok"),
    "row stride": ("rng.normal(size=(80, 5)).astype(np.float32)[::2]", 40, "ok"),
    "negative stride": ("rng.normal(size=(40, 5)).astype(np.float32)[::-1]", 40, "ok"),
    "zero rows": ("np.zeros((0, 5), np.float32)", 0, "error"),
    "zero columns": ("np.zeros((40, 0), np.float32)", 40, "error"),
    "one row": ("rng.normal(size=(1, 5))", 1, "any"),
    "two rows": ("rng.normal(size=(2, 5))", 2, "any"),
    "identical rows": ("np.ones((40, 5), np.float32)", 40, "any"),
    "constant column": ("np.c_[rng.normal(size=(40, 4)), np.full(40, 3.0)]", 40, "ok"),
    "huge 1e30": ("rng.normal(size=(40, 5)) * 1e30", 40, "error"),
    "large 1e17": ("rng.normal(size=(40, 5)) * 1e17", 40, "ok"),
    "denormal": ("rng.normal(size=(40, 5)) * 1e-42", 40, "any"),
    "nan": ("np.where(np.eye(40, 5) > 0, np.nan, 1.0) + rng.normal(size=(40, 5))", 40, "error"),
    "inf": ("np.where(np.eye(40, 5) > 0, np.inf, 1.0)", 40, "error"),
    "wide 1x100000": ("rng.normal(size=(1, 100000)).astype(np.float32)", 1, "any"),
    "wide 3x100000": ("rng.normal(size=(3, 100000)).astype(np.float32)", 3, "any"),
    "list of lists": ("rng.normal(size=(40, 5)).tolist()", 40, "ok"),
    "ragged list": ("[[1.0, 2.0], [3.0]] * 20", 40, "error"),
    "3-d": ("rng.normal(size=(40, 5, 2))", 40, "error"),
    "1-d": ("rng.normal(size=40)", 40, "error"),
    "scalar": ("np.float32(3.0)", 1, "error"),
    "none": ("None", 0, "error"),
    "string": ("'data'", 0, "error"),
    "sparse csr": ("sp.random(40, 5, density=0.5, format='csr', random_state=0)", 40, "ok"),
    "sparse csc": ("sp.random(40, 5, density=0.5, format='csc', random_state=0)", 40, "ok"),
    "sparse coo int": (
        "sp.coo_matrix(rng.integers(0, 3, size=(40, 5)) * (rng.random((40, 5)) < 0.6))",
        40,
        "ok",
    ),
    "sparse unsorted int64": (
        "sp.csr_matrix((rng.normal(size=200), np.tile(np.arange(5)[::-1], 40).astype(np.int64), "
        "np.arange(0, 201, 5, dtype=np.int64)), shape=(40, 5))",
        40,
        "ok",
    ),
    "sparse explicit zeros": (
        "sp.csr_matrix((np.where(np.arange(200) % 3 == 0, 0.0, rng.normal(size=200)), "
        "np.tile(np.arange(5), 40), np.arange(0, 201, 5)), shape=(40, 5))",
        40,
        "ok",
    ),
    "sparse duplicate entries": (
        "sp.csr_matrix((rng.normal(size=400), np.tile(np.arange(5).repeat(2), 40), "
        "np.arange(0, 401, 10)), shape=(40, 5))",
        40,
        "ok",
    ),
    "sparse all zero": ("sp.csr_matrix((40, 5))", 40, "any"),
    "sparse zero rows": ("sp.csr_matrix((0, 5))", 0, "error"),
    "sparse nan": ("sp.csr_matrix(np.where(np.eye(40, 5) > 0, np.nan, 1.0))", 40, "error"),
    "sparse inf": ("sp.csr_matrix(np.where(np.eye(40, 5) > 0, -np.inf, 1.0))", 40, "error"),
    "sparse huge 1e30": (
        "sp.random(40, 5, density=0.5, format='csr', random_state=0) * 1e30",
        40,
        "error",
    ),
    "sparse complex": ("sp.csr_matrix(rng.normal(size=(40, 5)) + 1j)", 40, "error"),
}


def _array_cases() -> list[tuple[str, str, str]]:
    cases = []
    for name, (expr, rows, expect) in _ARRAYS.items():
        k = max(1, min(3, rows))
        nn = max(2, min(5, rows - 1)) if rows > 2 else 2
        cases.append(
            (
                f"UMAP.fit_transform[{name}]",
                f"X = {expr}\nE = UMAP(n_neighbors={nn}, n_epochs=10, random_state=0)"
                f".fit_transform(X)\nsane_embedding(E, {rows})",
                expect,
            )
        )
        cases.append(
            (
                f"NNIndex.neighbor_graph[{name}]",
                f"X = {expr}\nidx = NNIndex(X, n_neighbors={k}, random_state=0)\n"
                f"sane_knn(idx.neighbor_graph, {rows}, {k}, {rows})",
                expect,
            )
        )
        query_expect = expect if name not in ("zero rows",) else "any"
        cases.append(
            (
                f"NNIndex.query[{name}]",
                "base = NNIndex(rng.normal(size=(60, 5)), n_neighbors=3, random_state=0)\n"
                f"X = {expr}\nsane_knn(base.query(X, k=3), 60, 3)",
                query_expect if name not in ("wide 1x100000", "wide 3x100000") else "error",
            )
        )
    return cases


_BASE = "X = rng.normal(size=(60, 5)).astype(np.float32)\n"
_INDEX = _BASE + "idx = NNIndex(X, n_neighbors=3, random_state=0, backend={backend!r})\n"


def _call_cases() -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []

    def add(name: str, code: str, expect: str) -> None:
        cases.append((name, code, expect))

    for backend in ("exact", "hnsw", "sparse"):
        if backend == "sparse":  # sparse rows, searched by the exact sparse path; dense queries
            pre = _BASE + "idx = NNIndex(sp.csr_matrix(X), n_neighbors=3, random_state=0)\n"
        else:
            pre = _INDEX.format(backend=backend)
        b = f"[{backend}]"
        add("query k > n" + b, pre + "idx.query(X, k=61)", "error")
        add("query k = n" + b, pre + "sane_knn(idx.query(X, k=60), 60, 60, 60)", "ok")
        add("query k = 0" + b, pre + "idx.query(X, k=0)", "error")
        add("query k float" + b, pre + "idx.query(X, k=2.5)", "error")
        add("query wrong columns" + b, pre + "idx.query(X[:, :4], k=2)", "error")
        add("update wrong columns" + b, pre + "idx.update(X[:, :4])", "error")
        add(
            "update then query" + b,
            pre + "idx.update(X + 1)\nsane_knn(idx.query(X, k=3), 120, 3, 60)",
            "ok",
        )
        add("update nan" + b, pre + "X[0, 0] = np.nan\nidx.update(X)", "error")
        for ef in ("0", "-1", "2**100", "1.5", "'x'", "np.int64(7)", "2**63 - 1"):
            expect = "ok" if ef in ("2**100", "np.int64(7)", "2**63 - 1") else "error"
            add(
                f"query ef={ef}" + b,
                pre + f"sane_knn(idx.query(X, k=3, ef={ef}), 60, 3, 60)",
                expect,
            )
        for eps in ("-1.0", "np.nan", "np.inf", "np.float64(0.2)", "'x'", "2.0**60", "None"):
            expect = "ok" if eps in ("np.float64(0.2)", "2.0**60") else "error"
            add(
                f"query epsilon={eps}" + b,
                pre + f"sane_knn(idx.query(X, k=3, epsilon={eps}), 60, 3, 60)",
                expect,
            )
        masks = {
            "short": ("np.ones(59, bool)", "error"),
            "long": ("np.ones(61, bool)", "error"),
            "2-d": ("np.ones((60, 1), bool)", "error"),
            "all false": ("np.zeros(60, bool)", "ok"),
            "ints 0/1/2": ("np.arange(60) % 3", "any"),
            "floats": ("np.ones(60)", "any"),
            "list": ("[True] * 60", "any"),
            "string": ("'yes'", "error"),
            "one allowed": ("np.arange(60) == 7", "ok"),
        }
        for mname, (mask, expect) in masks.items():
            add(
                f"filter mask {mname}" + b,
                pre + f"sane_knn(idx.query(X, k=3, filter_mask={mask}), 60, 3, 60)",
                expect,
            )
        for jobs, expect in (
            ("0", "error"),
            ("-2", "error"),
            ("1.5", "error"),
            ("'x'", "error"),
            ("10**9", "error"),
            ("4096", "ok"),
            ("None", "ok"),
        ):
            add(
                f"query n_jobs={jobs}" + b,
                pre + f"sane_knn(idx.query(X, k=3, n_jobs={jobs}), 60, 3, 60)",
                expect,
            )
        # save / load / pickle
        add(
            "save then load" + b,
            pre + "p = os.path.join(tmp, 'i')\nidx.save(p)\n"
            "sane_knn(NNIndex.load(p).query(X, k=3), 60, 3, 60)",
            "ok",
        )
        add("save into a folder" + b, pre + "idx.save(tmp)", "error")
        add("save to a missing folder" + b, pre + "idx.save(os.path.join(tmp, 'no', 'i'))", "error")
        for frac in (0.0, 0.05, 0.3, 0.6, 0.99):
            add(
                f"load flipped byte at {frac}" + b,
                pre + "p = os.path.join(tmp, 'i')\nidx.save(p)\nraw = bytearray(open(p, 'rb')"
                f".read())\nraw[int({frac} * (len(raw) - 1))] ^= 0x5A\nopen(p, 'wb').write(raw)\n"
                "sane_knn(NNIndex.load(p).query(X, k=3), 60, 3, 60)",
                "error",
            )
        add(
            "load truncated" + b,
            pre + "p = os.path.join(tmp, 'i')\nidx.save(p)\n"
            "raw = open(p, 'rb').read()\nopen(p, 'wb').write(raw[:-9])\nNNIndex.load(p)",
            "error",
        )
        add(
            "pickle round trip" + b,
            pre + "c = pickle.loads(pickle.dumps(idx))\nsane_knn(c.query(X, k=3), 60, 3, 60)",
            "ok",
        )
        add("pickle truncated" + b, pre + "pickle.loads(pickle.dumps(idx)[:-40])", "any")
        add(
            "setstate bad graph" + b,
            pre + "s = idx.__getstate__()\n"
            "s['neighbor_graph'] = (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.float32))\n"
            "NNIndex.__new__(NNIndex).__setstate__(s)",
            "error",
        )
    for path_expr in (
        "os.path.join(tmp, 'missing')",
        "tmp",
        "os.path.join(tmp, 'empty')",
        "'/dev/null'",
        "os.path.join(tmp, 'garbage')",
    ):
        add(
            f"load {path_expr}",
            "open(os.path.join(tmp, 'empty'), 'wb').close()\n"
            "open(os.path.join(tmp, 'garbage'), 'wb').write(b'UMAPCIDX' * 40)\n"
            f"NNIndex.load({path_expr})",
            "error",
        )
    _sparse = "S = sp.random(60, 8, density=0.4, format='csr', random_state=0)\n"
    add("sparse backend=hnsw", _sparse + "NNIndex(S, n_neighbors=3, backend='hnsw')", "error")
    add(
        "sparse graph_method=hnsw",
        _sparse + "NNIndex(S, n_neighbors=3, graph_method='hnsw').neighbor_graph",
        "error",
    )
    for metric, expect in (("haversine", "error"), ("mahalanobis", "error"), ("jaccard", "ok")):
        add(
            f"sparse UMAP metric={metric}",
            _sparse + f"sane_embedding(UMAP(metric={metric!r}, n_neighbors=5, n_epochs=10)"
            ".fit_transform(S), 60)",
            expect,
        )
    add(
        "sparse UMAP transform dense",
        _sparse + "m = UMAP(n_neighbors=5, n_epochs=10, random_state=0).fit(S)\n"
        "sane_embedding(m.transform(S.toarray()[:7] * 1.1), 7)",
        "ok",
    )
    add(
        "sparse UMAP inverse_transform",
        _sparse + "UMAP(n_neighbors=5, n_epochs=10).fit(S).inverse_transform(np.zeros((2, 2)))",
        "error",
    )
    add("setstate None", "NNIndex.__new__(NNIndex).__setstate__(None)", "error")
    add("setstate empty dict", "NNIndex.__new__(NNIndex).__setstate__({})", "error")
    add("setstate bytes", "NNIndex.__new__(NNIndex).__setstate__({'index': b'x' * 100})", "error")
    # NNIndex construction parameters
    for kwds, expect in (
        ("metric='minkowski', metric_kwds={'p': -1}", "error"),
        ("metric='minkowski', metric_kwds={'p': 'x'}", "error"),
        ("metric='minkowski', metric_kwds={'p': np.inf}", "error"),
        ("metric='minkowski', metric_kwds={'p': 0.5}", "ok"),
        ("metric='euclidean', metric_kwds={'q': 2}", "any"),
        ("metric='nope'", "error"),
        ("metric=5", "error"),
        ("metric=None", "error"),
        ("metric='hellinger'", "error"),
        ("random_state='abc'", "error"),
        ("random_state=1.5", "error"),
        ("random_state=-1", "error"),
        ("random_state=np.int64(3)", "ok"),
        ("random_state=True", "error"),
        ("random_state=2**70", "ok"),
        ("random_state=np.random.RandomState(1)", "ok"),
        ("random_state=np.random.default_rng(1)", "ok"),
        ("random_state=[1, 2]", "error"),
        ("n_neighbors=61", "error"),
        ("n_neighbors=0", "error"),
        ("n_neighbors=2.5", "error"),
        ("M=1", "error"),
        ("M=100000", "error"),
        ("ef_construction=0", "error"),
        ("backend='faiss'", "error"),
        ("backend='hnsw', M=2", "ok"),
        ("n_jobs=0", "error"),
        ("n_jobs=10**12", "error"),
        ("unknown_keyword=1", "error"),
    ):
        add(
            f"NNIndex({kwds})",
            _BASE + "X = X - X.min() + (0.0 if 'hellinger' not in "
            f"{kwds!r} else -1.0)\nidx = NNIndex(X, {kwds})\n"
            "sane_knn(idx.neighbor_graph, 60, idx.n_neighbors, 60)",
            expect,
        )
    # Metrics with array parameters or a restricted domain (X is 60 x 5 Gaussian).
    for data, kwds, expect in (
        ("X", "metric='seuclidean'", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': np.ones(4)}", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': np.zeros(5)}", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': [1, 2, 3, 4, np.nan]}", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': np.ones((5, 1))}", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': 'abc'}", "error"),
        ("X", "metric='seuclidean', metric_kwds={'V': np.ones(5)}", "ok"),
        ("X", "metric='mahalanobis', metric_kwds={'VI': np.eye(4)}", "error"),
        ("X", "metric='mahalanobis', metric_kwds={'VI': np.ones((5, 4))}", "error"),
        ("X", "metric='mahalanobis', metric_kwds={'VI': np.ones(25)}", "error"),
        ("X", "metric='mahalanobis', metric_kwds={'VI': -np.eye(5)}", "ok"),
        ("X", "metric='wminkowski', metric_kwds={'w': -np.ones(5)}", "error"),
        ("X", "metric='wminkowski', metric_kwds={'w': np.ones(6), 'p': 3}", "error"),
        ("X", "metric='wminkowski', metric_kwds={'w': np.ones(5), 'p': 0}", "error"),
        ("X", "metric='haversine'", "error"),
        ("X[:, :2]", "metric='haversine'", "ok"),
        ("X", "metric='jensen_shannon'", "error"),
        ("np.abs(X)", "metric='jensen_shannon'", "ok"),
        ("X", "metric='symmetric_kl'", "error"),
        ("np.abs(X)", "metric='ll_dirichlet'", "ok"),
        ("np.zeros_like(X)", "metric='wasserstein_1d'", "error"),
        ("np.abs(X)", "metric='circular_kantorovich', metric_kwds={'p': 1.5}", "error"),
        ("X", "metric='poincare'", "error"),
        ("X * 0.01", "metric='poincare'", "ok"),
        ("X", "metric='bit_hamming'", "error"),
        ("np.full_like(X, 256.0)", "metric='bit_jaccard'", "error"),
        ("np.abs(np.round(X * 50))", "metric='bit_hamming'", "ok"),
        ("X", "metric='kantorovich'", "error"),
        ("np.abs(X)", "metric='kantorovich', metric_kwds={'cost': np.ones((4, 4))}", "error"),
        ("np.abs(X)", "metric='kantorovich', metric_kwds={'cost': -np.ones((5, 5))}", "error"),
        ("np.abs(X)", "metric='sinkhorn', metric_kwds={'cost': np.full((5, 5), np.nan)}", "error"),
        ("np.abs(X)", "metric='sinkhorn', metric_kwds={'cost': 'abc'}", "error"),
        ("X", "metric='kantorovich', metric_kwds={'cost': np.ones((5, 5))}", "error"),
        ("np.abs(X)", "metric='wasserstein', metric_kwds={'cost': 1 - np.eye(5)}", "ok"),
        ("np.abs(X)", "metric='sinkhorn', metric_kwds={'cost': 1 - np.eye(5)}", "ok"),
        ("X", "metric='ordinal'", "error"),
        ("X[:, :1]", "metric='ordinal', metric_kwds={'support_size': -1}", "error"),
        # umap-learn's count distance is a sum of Poisson log-probabilities: positive with a
        # negative normalisation (as umap-learn's target path derives it)
        (
            "np.round(np.abs(X[:, :1]) * 3) + 1",
            "metric='count', metric_kwds={'normalisation': -1.0}",
            "ok",
        ),
        ("np.abs(X[:, :1]) * 1e30", "metric='count'", "error"),
        ("np.round(X[:, :1])", "metric='categorical'", "ok"),
        ("X", "metric='euclidean', metric_kwds={'V': np.ones(5)}", "error"),
    ):
        add(
            f"NNIndex({data}, {kwds})",
            _BASE + f"idx = NNIndex({data}, {kwds})\n"
            "sane_knn(idx.neighbor_graph, 60, idx.n_neighbors, 60)",
            expect,
        )
        add(
            f"UMAP({kwds}).fit({data})",
            _BASE + f"m = UMAP({kwds}, n_epochs=10)\nE = m.fit_transform({data})\n"
            "sane_embedding(E, 60, 2)",
            expect,
        )
    # UMAP parameters
    for kwds, expect in (
        ("n_neighbors=1", "error"),
        ("n_neighbors=100", "ok"),
        ("n_components=0", "error"),
        ("n_components='2'", "error"),
        ("n_components=1", "ok"),
        ("n_components=3", "ok"),
        ("min_dist=-1.0", "error"),
        ("min_dist=2.0", "error"),
        ("n_epochs=-1", "error"),
        ("n_epochs=1.5", "error"),
        ("n_epochs=0", "ok"),
        ("learning_rate=np.inf", "error"),
        ("learning_rate=-1.0", "error"),
        ("repulsion_strength=np.nan", "error"),
        ("a=np.inf, b=1.0", "error"),
        ("a=1e30, b=1.0", "any"),
        ("negative_sample_rate=0", "ok"),
        ("negative_sample_rate=1e9", "error"),
        ("negative_sample_rate=-1", "error"),
        ("init='bad'", "error"),
        ("init=np.zeros((60, 3))", "error"),
        ("init=np.full((60, 2), np.nan)", "error"),
        ("init=rng.normal(size=(60, 2))", "ok"),
        ("init='random'", "ok"),
        ("metric='precomputed'", "error"),
        ("metric='cosine'", "ok"),
        ("metric='nope'", "error"),
        ("random_state='x'", "error"),
        ("n_jobs=0", "error"),
        ("set_op_mix_ratio=2.0", "error"),
        ("local_connectivity=-1.0", "error"),
        ("disconnection_distance='x'", "error"),
        ("precomputed_knn=(np.arange(60), np.zeros(60), None)", "error"),
        ("transform_mode='bad'", "error"),
    ):
        call = f"UMAP({kwds})" if "n_epochs" in kwds else f"UMAP({kwds}, n_epochs=10)"
        add(
            f"UMAP({kwds})",
            _BASE + f"m = {call}\nE = m.fit_transform(X)\nsane_embedding(E, 60, m._n_components)",
            expect,
        )
    # a list of epochs: umap-learn's errors, one snapshot per distinct entry in increasing order
    for epochs, count in (
        ("[0]", 1),
        ("[5, 5, 10]", 2),
        ("[10, 3]", 2),
        ("np.array([4, 9, 10])", 3),
        ("(3, 7)", 2),
        ("[-1, 5]", None),
        ("[]", None),
        ("[1.5, 3]", None),
        ("[[5, 10]]", None),
        ("[2**40]", None),
    ):
        check = (
            f"if len(m.embedding_list_) != {count}:\n    raise Wrong(len(m.embedding_list_))\n"
            "for e in m.embedding_list_:\n    sane_embedding(e, 60)\n"
            "if not np.array_equal(m.embedding_list_[-1], E):\n    raise Wrong('last != final')"
        )
        add(
            f"UMAP(n_epochs={epochs})",
            _BASE
            + f"m = UMAP(n_epochs={epochs}, random_state=0)\nE = m.fit_transform(X)\n"
            + (check if count else ""),
            "ok" if count else "error",
        )
    # rows with NaN / inf under ensure_all_finite: left out of the fit with NaN coordinates
    _NAN = _BASE + "X[[3, 9]] = np.nan\nX[20, 1] = np.inf\n"
    _LEFT_OUT = (
        "if not np.array_equal(np.flatnonzero(np.isnan(E).any(axis=1)), {rows}):\n"
        "    raise Wrong(np.flatnonzero(np.isnan(E).any(axis=1)))\n"
        "sane_embedding(E, 60)\n"
    )
    for flag, expect, rows in (
        ("False", "ok", "[3, 9, 20]"),
        ("'allow-nan'", "error", None),  # the inf: scikit-learn's check_array refuses it
        ("True", "error", None),
        ("'yes'", "error", None),
    ):
        add(
            f"UMAP.fit NaN and inf rows ensure_all_finite={flag}",
            _NAN + f"E = UMAP(n_neighbors=5, n_epochs=10).fit(X, ensure_all_finite={flag})"
            ".embedding_\n" + (_LEFT_OUT.format(rows=rows) if rows else ""),
            expect,
        )
    add(
        "UMAP.fit NaN rows allow-nan",
        _BASE + "X[[3, 9]] = np.nan\nE = UMAP(n_neighbors=5, n_epochs=10)"
        ".fit(X, ensure_all_finite='allow-nan').embedding_\n" + _LEFT_OUT.format(rows="[3, 9]"),
        "ok",
    )
    add(
        "UMAP.fit NaN rows force_all_finite=False",
        _BASE + "X[[3, 9]] = np.nan\nE = UMAP(n_neighbors=5, n_epochs=10)"
        ".fit(X, force_all_finite=False).embedding_\n" + _LEFT_OUT.format(rows="[3, 9]"),
        "ok",
    )
    add(
        "UMAP.fit all rows NaN ensure_all_finite=False",
        _BASE + "X[:, 0] = np.nan\nUMAP(n_epochs=10).fit(X, ensure_all_finite=False)",
        "error",
    )
    add(
        "UMAP.fit NaN rows leave fewer than n_neighbors",
        _BASE + "X[5:] = np.nan\nE = UMAP(n_neighbors=15, n_epochs=10)"
        ".fit(X, ensure_all_finite=False).embedding_\n"
        "if np.isnan(E[:5]).any() or not np.isnan(E[5:]).all():\n    raise Wrong(E)",
        "ok",
    )
    add(
        "UMAP.fit sparse NaN ensure_all_finite=False",
        _BASE + "S = sp.csr_matrix(X)\nS.data[S.indptr[3]] = np.nan\n"
        "E = UMAP(n_neighbors=5, n_epochs=10).fit(S, ensure_all_finite=False).embedding_\n"
        + _LEFT_OUT.format(rows="[3]"),
        "ok",
    )
    add(
        "UMAP.fit precomputed NaN ensure_all_finite=False",
        _BASE + "from scipy.spatial.distance import cdist\nD = cdist(X, X)\n"
        "D[4, 7] = D[7, 4] = np.nan\nE = UMAP(metric='precomputed', n_neighbors=5, "
        "n_epochs=10).fit(D, ensure_all_finite=False).embedding_\n"
        + _LEFT_OUT.format(rows="[4, 7]"),
        "ok",
    )
    add(
        "UMAP.transform NaN rows ensure_all_finite=False",
        _BASE + "m = UMAP(n_neighbors=5, n_epochs=10, random_state=0).fit(X)\n"
        "Q = X[:10] + 0.01\nQ[[2, 5], 0] = np.nan\nE = np.full((60, 2), 0.0)\n"
        "E[:10] = m.transform(Q, ensure_all_finite=False)\n" + _LEFT_OUT.format(rows="[2, 5]"),
        "ok",
    )
    fitted = _BASE + "m = UMAP(n_neighbors=5, n_epochs=10, random_state=0).fit(X)\n"
    add("UMAP.transform wrong columns", fitted + "m.transform(X[:, :4])", "error")
    add("UMAP.transform nan", fitted + "X[0, 0] = np.nan\nm.transform(X)", "error")
    add("UMAP.transform one row", fitted + "sane_embedding(m.transform(X[:1]), 1)", "ok")
    add("UMAP.transform before fit", _BASE + "UMAP().transform(X)", "any")
    add(
        "UMAP.fit with y",
        _BASE + "sane_embedding(UMAP(n_epochs=5).fit(X, y=np.arange(60) % 3).embedding_, 60)",
        "ok",
    )
    for name, y in (
        ("short", "np.arange(59)"),
        ("NaN", "np.full(60, np.nan)"),
        ("2-D categorical", "np.zeros((60, 2))"),
        ("scalar", "3"),
        ("None entries", "np.array([None] * 30 + [1] * 30, dtype=object)"),
    ):
        add(f"UMAP.fit with y {name}", _BASE + f"UMAP(n_epochs=5).fit(X, y={y})", "error")
    add(
        "UMAP.fit y all unlabelled",
        _BASE + "sane_embedding(UMAP(n_epochs=5).fit(X, y=np.full(60, -1)).embedding_, 60)",
        "ok",
    )
    add(
        "UMAP.fit y regression inf",
        _BASE + "UMAP(n_epochs=5, target_metric='l1').fit(X, y=np.full(60, np.inf))",
        "error",
    )
    _D = _BASE + "from scipy.spatial.distance import cdist\nD = cdist(X, X).astype(np.float32)\n"
    add(
        "UMAP precomputed dense",
        _D + "sane_embedding(UMAP(metric='precomputed', n_epochs=5).fit(D).embedding_, 60)",
        "ok",
    )
    for name, matrix in (
        ("not square", "D[:, :30]"),
        ("NaN", "np.where(D > 1, np.nan, D)"),
        ("negative", "-D"),
        ("1-D", "D[0]"),
        ("empty", "D[:0, :0]"),
        ("strings", "D.astype(str)"),
        ("sparse asymmetric", "scipy.sparse.csr_matrix(np.triu(D))"),
    ):
        add(
            f"UMAP precomputed {name}",
            _D + f"import scipy.sparse\nUMAP(metric='precomputed', n_epochs=5).fit({matrix})",
            "error",
        )
    add(
        "UMAP precomputed transform wrong width",
        _D + "m = UMAP(metric='precomputed', n_epochs=5).fit(D)\nm.transform(D[:5, :20])",
        "error",
    )
    fitted2 = _BASE + "m = UMAP(n_epochs=5).fit(X)\nn = UMAP(n_epochs=5).fit(X[:30])\n"
    add("UMAP model product", fitted2 + "sane_embedding((m * m).embedding_, 60)", "ok")
    add("UMAP model sum of different sizes", fitted2 + "m + n", "error")
    add("UMAP model difference with unfitted", fitted2 + "m - UMAP()", "error")
    add("UMAP model times a number", fitted2 + "m * 2", "error")
    add("UMAP combined model transform", fitted2 + "(m * m).transform(X[:3])", "error")
    fitted3 = _BASE + "m = UMAP(n_epochs=5).fit(X)\n"
    add(
        "UMAP inverse_transform",
        fitted3 + "r = m.inverse_transform(m.embedding_[:4])\nassert r.shape == (4, 5)\n"
        "assert np.isfinite(r).all()",
        "ok",
    )
    for name, points in (
        ("wrong width", "np.zeros((3, 5))"),
        ("NaN", "np.full((3, 2), np.nan)"),
        ("1-D", "np.zeros(2)"),
        ("strings", "np.array([['a', 'b']])"),
    ):
        add(f"UMAP inverse_transform {name}", fitted3 + f"m.inverse_transform({points})", "error")
    add(
        "UMAP inverse_transform empty",
        fitted3 + "m.inverse_transform(np.zeros((0, 2)))",
        "any",
    )
    add(
        "UMAP update",
        fitted3 + "m.update(rng.normal(size=(10, 5)).astype(np.float32))\n"
        "sane_embedding(m.embedding_, 70)",
        "ok",
    )
    for name, new in (
        ("wrong width", "np.zeros((3, 4))"),
        ("NaN", "np.full((3, 5), np.nan)"),
        ("strings", "np.array([['a'] * 5])"),
    ):
        add(f"UMAP update {name}", fitted3 + f"m.update({new})", "error")
    add(
        "UMAP densmap output_dens",
        _BASE + "e, ro, re = UMAP(densmap=True, output_dens=True, n_epochs=20).fit_transform(X)\n"
        "sane_embedding(e, 60)\nassert np.isfinite(ro).all() and np.isfinite(re).all()",
        "ok",
    )
    for name, params in (
        ("negative lambda", "dens_lambda=-1"),
        ("frac above 1", "dens_frac=2"),
        ("negative var shift", "dens_var_shift=-1"),
    ):
        add(f"UMAP densmap {name}", _BASE + f"UMAP(densmap=True, {params}).fit(X)", "error")
    add(
        "UMAP unique all identical rows",
        "X = np.ones((30, 4), dtype=np.float32)\n"
        "sane_embedding(UMAP(unique=True, n_epochs=5).fit(X).embedding_, 30)",
        "ok",
    )
    # two distinct rows leave each without a neighbour but itself: like any two-row fit
    # (umap-learn's convention: disconnected points get NaN coordinates), no crash is the point
    add(
        "UMAP unique two distinct rows",
        "X = np.repeat(np.eye(2, 4, dtype=np.float32), 10, axis=0)\n"
        "UMAP(unique=True, n_epochs=5).fit(X)",
        "any",
    )
    add(
        "UMAP pickle",
        fitted + "c = pickle.loads(pickle.dumps(m))\nsane_embedding(c.transform(X[:5]), 5)",
        "ok",
    )
    # model files (UMAP.save / umapc.load): every damage is a clean CorruptIndexError (ValueError)
    saved = fitted + "import umapc, struct\np = os.path.join(tmp, 'm')\nm.save(p)\n"
    add(
        "UMAP save then load",
        saved + "sane_embedding(umapc.load(p).transform(X[:5]), 5)",
        "ok",
    )
    for frac in (0.0, 0.01, 0.3, 0.6, 0.95, 0.999):
        add(
            f"UMAP load flipped byte at {frac}",
            saved + "raw = bytearray(open(p, 'rb').read())\n"
            f"raw[min(len(raw) - 1, max(8, int(len(raw) * {frac})))] ^= 0xFF\n"
            "open(p, 'wb').write(bytes(raw))\numapc.load(p)",
            "error",
        )
    for cut in ("0", "5", "21", "len(raw) // 2", "len(raw) - 1"):
        add(
            f"UMAP load truncated to {cut}",
            saved + f"raw = open(p, 'rb').read()\nopen(p, 'wb').write(raw[:{cut}])\numapc.load(p)",
            "error",
        )
    add(
        "UMAP load wrong magic",
        saved + "raw = open(p, 'rb').read()\nopen(p, 'wb').write(b'X' * 8 + raw[8:])\n"
        "umapc.load(p)",
        "error",
    )
    add(
        "UMAP load future version",
        saved + "raw = bytearray(open(p, 'rb').read())\nraw[8:12] = struct.pack('<I', 99)\n"
        "open(p, 'wb').write(bytes(raw))\numapc.load(p)",
        "error",
    )
    add(
        "UMAP load an NNIndex file",
        _INDEX.format(backend="exact") + "import umapc\np = os.path.join(tmp, 'i')\n"
        "idx.save(p)\numapc.load(p)",
        "error",
    )
    add("UMAP load a folder", "import umapc\numapc.load(tmp)", "error")
    add("UMAP load missing", "import umapc\numapc.load(os.path.join(tmp, 'none'))", "error")
    add(
        "UMAP save to a missing folder",
        fitted + "m.save(os.path.join(tmp, 'no', 'm'))",
        "error",
    )
    add("UMAP save unfitted", "UMAP().save(os.path.join(tmp, 'm'))", "error")
    add(
        "UMAP pickle truncated",
        fitted + "pickle.loads(pickle.dumps(m)[:-40])",
        "any",
    )
    add(
        "UMAP setstate junk",
        "m = UMAP()\nm.__setstate__({'_umapc_model': b'UMAPCMDL' + bytes(40)})",
        "error",
    )
    add(
        "UMAP setstate not bytes",
        "m = UMAP()\nm.__setstate__({'_umapc_model': 3})",
        "error",
    )
    # custom (plain Python) metrics: what the callable does wrong surfaces as an exception after
    # the C call, never as a crash or a graph of garbage
    customs = {
        "NaN": ("lambda a, b: float('nan')", "error"),
        "a string": ("lambda a, b: 'far'", "error"),
        "an array": ("lambda a, b: np.abs(a - b)", "error"),
        "None": ("lambda a, b: None", "error"),
        "raising": ("lambda a, b: (_ for _ in ()).throw(ValueError('no'))", "error"),
        "one argument": ("lambda a: 0.0", "error"),
        "numpy float": ("lambda a, b: np.float64(np.abs(a - b).sum())", "ok"),
        "a 0-d array": ("lambda a, b: np.array(np.abs(a - b).sum())", "ok"),
    }
    for backend in ("exact", "hnsw"):
        for cname, (fn, expect) in customs.items():
            add(
                f"custom metric returning {cname}[{backend}]",
                _BASE + f"idx = NNIndex(X, n_neighbors=3, metric={fn}, backend={backend!r})\n"
                "sane_knn(idx.neighbor_graph, 60, 3, 60)\n"
                "sane_knn(idx.query(X[:5], k=3), 60, 3, 5)",
                expect,
            )
        add(
            f"custom metric save[{backend}]",
            _BASE + "f = lambda a, b: float(np.abs(a - b).sum())\n"
            f"idx = NNIndex(X, n_neighbors=3, metric=f, backend={backend!r})\n"
            "idx.save(os.path.join(tmp, 'i'))",
            "error",
        )
        # infinite distances pass through as they are (pynndescent's, and bit_jaccard's)
        add(
            f"custom metric returning inf[{backend}]",
            _BASE + "f = lambda a, b: float('inf')\n"
            f"i, d = NNIndex(X, n_neighbors=3, metric=f, backend={backend!r}).neighbor_graph\n"
            "if not (np.isinf(d[:, 1:]).all() and (d[:, 0] == 0).all()):\n"
            "    raise Wrong('inf distances were changed')",
            "ok",
        )
    add(
        "custom metric with metric_kwds",
        _BASE + "f = lambda a, b, w: float(w * np.abs(a - b).sum())\n"
        "idx = NNIndex(X, n_neighbors=3, metric=f, metric_kwds={'w': 2.0})\n"
        "sane_knn(idx.neighbor_graph, 60, 3)",
        "ok",
    )
    add(
        "custom metric missing metric_kwds",
        _BASE + "f = lambda a, b, w: float(w * np.abs(a - b).sum())\n"
        "NNIndex(X, n_neighbors=3, metric=f).neighbor_graph",
        "error",
    )
    add(
        "UMAP custom metric NaN",
        _BASE + "UMAP(n_neighbors=5, n_epochs=5, metric=lambda a, b: float('nan')).fit(X)",
        "error",
    )
    for cname, (fn, expect) in {
        "a float": ("lambda x, y: 1.0", "error"),
        "a NaN gradient": ("lambda x, y: (1.0, np.full(x.shape, np.nan))", "error"),
        "a short gradient": ("lambda x, y: (1.0, x[:1] - y[:1])", "error"),
        "raising": ("lambda x, y: (_ for _ in ()).throw(ValueError('no'))", "error"),
        "euclidean": (
            "lambda x, y: (float(np.linalg.norm(x - y)), (x - y) / (1e-6 + np.linalg.norm(x - y)))",
            "ok",
        ),
    }.items():
        add(
            f"UMAP custom output metric returning {cname}",
            _BASE + f"E = UMAP(n_neighbors=5, n_epochs=5, output_metric={fn}).fit_transform(X)\n"
            "sane_embedding(E, 60)",
            expect,
        )
    # output metrics with keywords or their own dimensions: (metric, kwds, n_components, expect)
    for oname, (ometric, okwds, dim, expect) in {
        "seuclidean V too long": ("seuclidean", "{'V': [1, 2, 3]}", 2, "error"),
        "seuclidean negative V": ("seuclidean", "{'V': [1, -2]}", 2, "error"),
        "wminkowski NaN w": ("wminkowski", "{'w': [1, np.nan]}", 2, "error"),
        "mahalanobis VI not square": ("mahalanobis", "{'VI': np.ones((2, 3))}", 2, "error"),
        "mahalanobis VI 3x3 for 2-d": ("mahalanobis", "{'VI': np.eye(3)}", 2, "error"),
        "mahalanobis VI indefinite": ("mahalanobis", "{'VI': [[1, 0], [0, -1]]}", 2, "error"),
        "gaussian_energy 2-d": ("gaussian_energy", "None", 2, "error"),
        "symmetric_kl z=0": ("symmetric_kl", "{'z': 0.0}", 2, "error"),
        "gaussian_energy 5-d": ("gaussian_energy", "None", 5, "ok"),
        "mahalanobis good VI": ("mahalanobis", "{'VI': [[2, 1], [1, 2]]}", 2, "ok"),
    }.items():
        add(
            f"UMAP output metric {oname}",
            _BASE + f"E = UMAP(n_neighbors=5, n_epochs=5, output_metric={ometric!r}, "
            f"output_metric_kwds={okwds}, n_components={dim}).fit_transform(X)\n"
            f"sane_embedding(E, 60, {dim})",
            expect,
        )
    # AlignedUMAP: three 30-row slices, point i related to point i of the next slice
    aligned = (
        "S = [rng.normal(size=(30, 4)).astype(np.float32) for _ in range(3)]\n"
        "R = [{i: i for i in range(30)} for _ in range(2)]\n"
    )
    fit = "AlignedUMAP(n_neighbors=5, n_epochs=10, random_state=0).fit"
    add(
        "AlignedUMAP good fit",
        aligned + f"m = {fit}(S, relations=R)\n[sane_embedding(e, 30) for e in m.embeddings_]",
        "ok",
    )
    add(
        "AlignedUMAP update",
        aligned + f"m = {fit}(S[:2], relations=R[:1])\nm.update(S[2], relations=R[1])\n"
        "[sane_embedding(e, 30) for e in m.embeddings_]",
        "ok",
    )
    add(
        "AlignedUMAP empty relations",
        aligned + f"m = {fit}(S, relations=[{{}}, {{}}])\n"
        "[sane_embedding(e, 30) for e in m.embeddings_]",
        "ok",
    )
    for name, code in (
        ("no relations", f"{fit}(S)"),
        ("relations not a list", f"{fit}(S, relations=R[0])"),
        ("relations not dicts", f"{fit}(S, relations=[[(0, 0)], [(0, 0)]])"),
        ("too few relations", f"{fit}(S, relations=R[:1])"),
        ("key out of range", f"{fit}(S, relations=[{{30: 0}}, R[1]])"),
        ("negative value", f"{fit}(S, relations=[{{0: -1}}, R[1]])"),
        ("value out of range", f"{fit}(S, relations=[R[0], {{0: 2**40}}])"),
        ("float ids", f"{fit}(S, relations=[{{0.5: 1}}, R[1]])"),
        ("string ids", f"{fit}(S, relations=[{{'a': 1}}, R[1]])"),
        ("nan slice", f"S[1][3, 2] = np.nan\n{fit}(S, relations=R)"),
        ("empty slice list", f"{fit}([], relations=[])"),
        ("slice of 1-d rows", f"{fit}([S[0][:, 0], S[1], S[2]], relations=R)"),
        ("y length", f"{fit}(S, y=[None], relations=R)"),
        ("n_components list", "AlignedUMAP(n_components=[2, 2, 2]).fit(S, relations=R)"),
        ("negative regularisation", "AlignedUMAP(alignment_regularisation=-1).fit(S, relations=R)"),
        ("nan regularisation", "AlignedUMAP(alignment_regularisation=np.nan).fit(S, relations=R)"),
        ("negative window", "AlignedUMAP(alignment_window_size=-1).fit(S, relations=R)"),
        ("float window", "AlignedUMAP(alignment_window_size=1.5).fit(S, relations=R)"),
        ("min_dist per slice", "AlignedUMAP(min_dist=[0.1, 0.2, 0.3]).fit(S, relations=R)"),
        ("unique", "AlignedUMAP(unique=True).fit(S, relations=R)"),
        ("update before fit", "AlignedUMAP().update(S[0], relations=R[0])"),
        (
            "update relations not a dict",
            f"m = {fit}(S[:2], relations=R[:1])\nm.update(S[2], relations=R[1:])",
        ),
        (
            "update value out of range",
            f"m = {fit}(S[:2], relations=R[:1])\nm.update(S[2][:10], relations=R[1])",
        ),
    ):
        add(f"AlignedUMAP {name}", aligned + code, "error")
    # CLI (in-process main: returns 2 for a usage error)
    cli_pre = _BASE + "data = os.path.join(tmp, 'd.npy')\nnp.save(data, X)\n"

    def cli(name: str, argv: str, want: int) -> None:
        add(
            f"CLI {name}",
            cli_pre + f"rc = cli_main({argv})\n"
            f"if rc != {want}:\n    raise Wrong(f'exit status {{rc}}')",
            "ok",
        )

    cli("output is a folder", "[data, '-o', tmp, '--n-epochs', '5']", 2)
    cli("missing input", "[os.path.join(tmp, 'none.npy'), '--n-epochs', '5']", 2)
    cli("bad output suffix", "[data, '-o', os.path.join(tmp, 'e.txt'), '--n-epochs', '5']", 2)
    cli("missing output folder", "[data, '-o', os.path.join(tmp, 'x', 'e.npy')]", 2)
    cli("good run", "[data, '-o', os.path.join(tmp, 'e.npy'), '--n-epochs', '5']", 0)
    cli("bad metric", "[data, '-o', os.path.join(tmp, 'e.npy'), '--metric', 'nope']", 2)
    cli(
        "nan data",
        "[(np.save(os.path.join(tmp, 'n.npy'), np.full((5, 2), np.nan)), "
        "os.path.join(tmp, 'n.npy'))[1], '-o', os.path.join(tmp, 'e.npy')]",
        2,
    )
    return cases


CASES = _array_cases() + _call_cases()


def _run_batch(cases: list[tuple[str, str, str]], timeout: float):
    """Results of the cases that reported, and whether the process died or stalled."""
    payload = json.dumps([[name, code] for name, code, _ in cases])
    env = dict(os.environ, OMP_NUM_THREADS="2")
    try:
        proc = subprocess.run(
            [sys.executable, str(RUNNER)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        out, status = proc.stdout, ("crash" if proc.returncode != 0 else None)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status = "hang"
    results = {}
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            results[record["name"]] = record
    return results, status


def _classify() -> dict[str, dict]:
    results: dict[str, dict] = {}
    size = -(-len(CASES) // BATCHES)
    for start in range(0, len(CASES), size):
        batch = CASES[start : start + size]
        got, status = _run_batch(batch, BATCH_TIMEOUT)
        results.update(got)
        if status is None and len(got) == len(batch):
            continue
        for case in batch:  # rerun the unreported ones alone to name the culprit
            if case[0] in results:
                continue
            got, status = _run_batch([case], CASE_TIMEOUT)
            results[case[0]] = got.get(case[0]) or {
                "name": case[0],
                "outcome": status or "crash",
                "detail": "no result",
            }
    for name, _, expect in CASES:
        record = results[name]
        if record["outcome"] in ("ok", "error") and expect != "any" and record["outcome"] != expect:
            record["detail"] = f"expected {expect}, got {record['outcome']}: {record['detail']}"
            record["outcome"] = "wrong"
    return results


def test_bad_input_corpus() -> None:
    assert len(CASES) >= 150
    assert len({name for name, _, _ in CASES}) == len(CASES), "case names must be unique"
    results = _classify()
    bad = {
        name: f"{r['outcome']}: {r['detail']}"
        for name, r in results.items()
        if r["outcome"] not in ("ok", "error")
    }
    summary = {
        o: sum(r["outcome"] == o for r in results.values())
        for o in ("ok", "error", "wrong", "crash", "hang")
    }
    print(f"bad-input corpus: {len(CASES)} cases, {summary}")
    assert not bad, json.dumps(bad, indent=1)
