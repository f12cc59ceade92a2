"""umapc.UMAP against umap-learn (the reference), scikit-learn and exact computations.

umap-learn's results are computed in the same run (session fixtures, so numba compiles once);
quality floors are derived from them, never typed in.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from umapc import UMAP

umap = pytest.importorskip("umap")

N_TRAIN = 1500  # digits rows used for fitting; the remaining 297 are transformed


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    return data.data.astype(np.float32), data.target


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data.astype(np.float32), data.target


@pytest.fixture(scope="module")
def umapc_digits(digits):
    X, _ = digits
    return UMAP(random_state=0).fit(X[:N_TRAIN])


@pytest.fixture(scope="module")
def reference_digits(digits):
    """umap-learn fitted on the digits training rows, and its transform of the rest."""
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = umap.UMAP(random_state=0).fit(X[:N_TRAIN])
        test_embedding = model.transform(X[N_TRAIN:])
    return model, test_embedding


@pytest.fixture(scope="module")
def reference_iris(iris):
    X, _ = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(random_state=0).fit(X)


def _knn_accuracy(train_emb, train_y, test_emb, test_y, k=15):
    clf = KNeighborsClassifier(n_neighbors=k).fit(train_emb, train_y)
    return float(clf.score(test_emb, test_y))


# ----------------------------------------------------------------- estimator conventions


def test_signature_and_defaults_match_umap_learn():
    ours = inspect.signature(UMAP).parameters
    theirs = inspect.signature(umap.UMAP).parameters
    assert list(ours) == list(theirs)
    for name, param in theirs.items():
        assert ours[name].default == param.default, name


def test_get_params_set_params_clone():
    model = UMAP(n_neighbors=7, min_dist=0.3, metric="cosine", random_state=3)
    params = model.get_params()
    assert params["n_neighbors"] == 7 and params["metric"] == "cosine"
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    copy.set_params(n_neighbors=9, init="pca")
    assert copy.n_neighbors == 9 and copy.init == "pca" and model.n_neighbors == 7
    assert not hasattr(UMAP(), "embedding_")


@pytest.mark.parametrize(
    "check",
    [
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimators_unfitted",
    ],
)
def test_sklearn_estimator_checks(check):
    from sklearn.utils import estimator_checks

    function = getattr(estimator_checks, check, None)
    if function is None:
        pytest.skip(f"scikit-learn has no {check}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        function("UMAP", UMAP(n_epochs=20, random_state=0))


# ----------------------------------------------------------------- graph vs umap-learn


def test_neighbours_are_exact_below_4096_points(digits):
    X, _ = digits
    model = UMAP(n_epochs=0).fit(X)
    k = model._n_neighbors
    dists, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    np.testing.assert_allclose(model._knn_dists, dists, rtol=1e-4, atol=1e-3)
    assert np.array_equal(model._knn_indices[:, 0], np.arange(X.shape[0]))
    assert model._small_data


@pytest.mark.parametrize("params", [{}, {"set_op_mix_ratio": 0.4, "local_connectivity": 2.0}])
def test_graph_matches_umap_learn(digits, params):
    X, _ = digits
    model = UMAP(n_epochs=0, **params).fit(X)
    reference, sigmas, rhos = umap.umap_.fuzzy_simplicial_set(
        X,
        model._n_neighbors,
        np.random.RandomState(0),
        "euclidean",
        knn_indices=model._knn_indices.copy(),
        knn_dists=model._knn_dists.copy(),
        set_op_mix_ratio=params.get("set_op_mix_ratio", 1.0),
        local_connectivity=params.get("local_connectivity", 1.0),
    )
    ours = model.graph_
    assert isinstance(ours, scipy.sparse.csr_matrix) and ours.dtype == np.float32
    assert ours.shape == reference.shape
    np.testing.assert_allclose(model._rhos, rhos, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model._sigmas, sigmas, rtol=1e-3, atol=1e-6)
    difference = abs(ours - reference.tocsr())
    assert difference.max() < 1e-3
    assert (ours != 0).nnz == (reference != 0).nnz


def test_graph_matches_umap_learn_fit(iris):
    # Jitter breaks iris's many distance ties, which either library may order either way.
    X = iris[0] + np.random.RandomState(0).normal(scale=1e-3, size=iris[0].shape)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = umap.UMAP(n_epochs=20, random_state=0).fit(X)
    ours = UMAP(n_epochs=0).fit(X)
    # umap-learn's fit zeroes graph_ entries below max / n_epochs in place (its layout prunes a
    # COO view sharing graph_'s data); umapc keeps graph_ whole, so prune a copy to compare.
    pruned = ours.graph_.copy()
    pruned.data[pruned.data < pruned.data.max() / 20] = 0
    assert abs(pruned - reference.graph_).max() < 1e-3
    assert (pruned != 0).nnz == (reference.graph_ != 0).nnz
    np.testing.assert_allclose(ours._sigmas, reference._sigmas, rtol=1e-3)
    np.testing.assert_allclose(ours._rhos, reference._rhos, rtol=1e-4, atol=1e-5)


def test_fit_leaves_parameters_unchanged(iris):
    X, _ = iris
    kwds = {"file": None}
    model = UMAP(n_epochs=10, random_state=0, tqdm_kwds=kwds, n_jobs=2, init="random")
    before = model.get_params()
    model.fit(X)
    after = model.get_params()
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert kwds == {"file": None}


def test_sigmas_solve_the_log2k_equation(digits):
    X, _ = digits
    model = UMAP(n_epochs=0, n_neighbors=10).fit(X)
    d, rho, sigma = model._knn_dists[:, 1:], model._rhos[:, None], model._sigmas[:, None]
    psum = np.exp(-np.maximum(d - rho, 0.0) / sigma).sum(axis=1)
    # Rows where sigma was raised to umap-learn's floor (1e-3 x mean distance) are exempt.
    floor = 1e-3 * model._knn_dists.mean(axis=1)
    free = model._sigmas > 1.01 * floor
    assert free.mean() > 0.9
    np.testing.assert_allclose(psum[free], np.log2(model._n_neighbors), rtol=1e-3)


# ----------------------------------------------------------------- embedding quality


def test_trustworthiness_iris_at_least_umap_learn(reference_iris, iris):
    X, _ = iris
    ours = UMAP(random_state=1).fit_transform(X)
    floor = trustworthiness(X, reference_iris.embedding_, n_neighbors=10) - 0.02
    assert trustworthiness(X, ours, n_neighbors=10) >= floor


def test_trustworthiness_digits_at_least_umap_learn(reference_digits, umapc_digits, digits):
    X, _ = digits
    X = X[:N_TRAIN]
    theirs, _ = reference_digits
    floor = trustworthiness(X, theirs.embedding_, n_neighbors=15) - 0.01
    ours = umapc_digits.embedding_
    assert ours.shape == (N_TRAIN, 2) and ours.dtype == np.float32
    assert trustworthiness(X, ours, n_neighbors=15) >= floor


def test_unseeded_multithreaded_mode_is_as_good(reference_digits, digits):
    X = digits[0][:N_TRAIN]
    theirs, _ = reference_digits
    floor = trustworthiness(X, theirs.embedding_, n_neighbors=15) - 0.01
    ours = UMAP(n_jobs=2).fit_transform(X)
    assert trustworthiness(X, ours, n_neighbors=15) >= floor


@pytest.mark.parametrize("init", ["pca", "random", "tswspectral", "array"])
def test_other_inits_give_good_embeddings(iris, reference_iris, init):
    X, _ = iris
    if init == "array":
        init = np.random.RandomState(0).normal(size=(X.shape[0], 2)).astype(np.float32)
    ours = UMAP(init=init, random_state=0).fit_transform(X)
    floor = trustworthiness(X, reference_iris.embedding_, n_neighbors=10) - 0.03
    assert trustworthiness(X, ours, n_neighbors=10) >= floor


def test_three_components(iris):
    X, _ = iris
    embedding = UMAP(n_components=3, random_state=0, n_epochs=50).fit_transform(X)
    assert embedding.shape == (X.shape[0], 3) and np.isfinite(embedding).all()


def test_many_components_keep_neighbourhoods(digits):
    """More output dimensions than the old 16-column limit: the layout takes any number, the
    result is deterministic across n_jobs and keeps neighbourhoods as well as 2-D does."""
    X, _ = digits
    one = UMAP(n_components=20, random_state=0, n_epochs=100, n_jobs=1).fit_transform(X)
    two = UMAP(n_components=20, random_state=0, n_epochs=100, n_jobs=2).fit_transform(X)
    assert one.shape == (X.shape[0], 20) and np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
    flat = UMAP(random_state=0, n_epochs=100).fit_transform(X)
    assert (
        trustworthiness(X, one, n_neighbors=15) >= trustworthiness(X, flat, n_neighbors=15) - 0.01
    )


def test_ab_parameters_match_umap_learn():
    for spread, min_dist in [(1.0, 0.1), (1.0, 0.5), (2.0, 0.0), (3.0, 1.5)]:
        model = UMAP(spread=spread, min_dist=min_dist)
        a, b = model._curve_parameters()
        ref_a, ref_b = umap.umap_.find_ab_params(spread, min_dist)
        assert a == pytest.approx(ref_a, rel=2e-3) and b == pytest.approx(ref_b, rel=2e-3)
    assert UMAP(a=1.5, b=0.7)._curve_parameters() == (1.5, 0.7)


# ----------------------------------------------------------------- determinism


def test_random_state_is_bit_identical_across_n_jobs(iris):
    X, _ = iris
    one = UMAP(random_state=42, n_jobs=1).fit_transform(X)
    two = UMAP(random_state=42, n_jobs=2).fit_transform(X)
    again = UMAP(random_state=42, n_jobs=2).fit_transform(X)
    assert np.array_equal(one, two) and np.array_equal(two, again)
    other = UMAP(random_state=43, n_jobs=2).fit_transform(X)
    assert not np.array_equal(one, other)


def test_random_state_does_not_force_one_thread(iris):
    X, _ = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = UMAP(random_state=0, n_jobs=2, n_epochs=20).fit(X)
    assert model.n_jobs == 2


# ----------------------------------------------------------------- transform


def test_transform_keeps_embedding_and_places_points_well(digits, umapc_digits, reference_digits):
    X, y = digits
    model = umapc_digits
    before = model.embedding_.copy()
    test_embedding = model.transform(X[N_TRAIN:])
    assert np.array_equal(model.embedding_, before)
    assert test_embedding.shape == (X.shape[0] - N_TRAIN, 2)
    assert test_embedding.dtype == np.float32 and np.isfinite(test_embedding).all()
    # Each new point lands nearer its nearest training point than most training points do.
    nearest = NearestNeighbors(n_neighbors=1).fit(X[:N_TRAIN]).kneighbors(X[N_TRAIN:])[1][:, 0]
    to_nearest = np.linalg.norm(test_embedding - before[nearest], axis=1)
    spread = np.linalg.norm(before - before.mean(axis=0), axis=1).mean()
    assert np.median(to_nearest) < 0.1 * spread
    # Labels predicted from the training embedding: as good as umap-learn's transform.
    theirs, their_test = reference_digits
    floor = _knn_accuracy(theirs.embedding_, y[:N_TRAIN], their_test, y[N_TRAIN:]) - 0.03
    ours = _knn_accuracy(before, y[:N_TRAIN], test_embedding, y[N_TRAIN:])
    assert ours >= floor


def test_transform_is_deterministic_and_shortcuts_training_data(umapc_digits, digits):
    X, _ = digits
    first = umapc_digits.transform(X[N_TRAIN : N_TRAIN + 50])
    second = umapc_digits.transform(X[N_TRAIN : N_TRAIN + 50])
    assert np.array_equal(first, second)
    assert np.array_equal(umapc_digits.transform(X[:N_TRAIN]), umapc_digits.embedding_)


def test_transform_mode_graph(iris):
    X, _ = iris
    model = UMAP(transform_mode="graph", n_epochs=10)
    graph = model.fit_transform(X)
    assert graph is model.graph_
    new_graph = model.transform(X[:10] + 0.05)
    assert new_graph.shape == (10, X.shape[0])
    assert new_graph.nnz > 0 and new_graph.data.max() <= 1.0 + 1e-6


def test_fitted_attributes(iris):
    X, _ = iris
    model = UMAP(n_neighbors=10, n_epochs=20, random_state=0).fit(X)
    n = X.shape[0]
    assert model.n_features_in_ == 4 and model._raw_data.dtype == np.float32
    assert model._knn_indices.shape == (n, 10) and model._knn_dists.shape == (n, 10)
    assert model._sigmas.shape == (n,) and model._rhos.shape == (n,)
    assert model._knn_search_index is not None and model._n_neighbors == 10
    assert model._initial_alpha == 1.0 and model._small_data
    assert (model.graph_ != model.graph_.T).nnz == 0


# ----------------------------------------------------------------- errors

BAD_PARAMETERS = [
    {"set_op_mix_ratio": -0.1},
    {"set_op_mix_ratio": 1.5},
    {"repulsion_strength": -1.0},
    {"min_dist": 2.0},
    {"min_dist": -0.1},
    {"init": "foo"},
    {"init": 5},
    {"init": np.zeros((150, 3))},
    {"metric": 5},
    {"metric": "not_a_metric"},
    {"negative_sample_rate": -1},
    {"learning_rate": -1.0},
    {"n_neighbors": 1},
    {"target_n_neighbors": 1},
    {"n_components": "2"},
    {"n_components": 1.5},
    {"n_components": 0},
    {"n_epochs": -1},
    {"n_epochs": 1.5},
    {"output_metric": "precomputed"},
    {"output_metric": "foo"},
    {"n_jobs": 0},
    {"n_jobs": -2},
    {"dens_lambda": -1.0},
    {"dens_frac": 2.0},
    {"dens_var_shift": -1.0},
    {"disconnection_distance": "far"},
    {"tqdm_kwds": [1]},
    {"transform_mode": "foo"},
]


@pytest.mark.parametrize("params", BAD_PARAMETERS, ids=lambda p: f"{p}")
def test_bad_parameters_raise_value_error_like_umap_learn(iris, params):
    X, _ = iris
    with pytest.raises(ValueError):
        UMAP(**params).fit_transform(X)
    with pytest.raises(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(**params).fit_transform(X)


@pytest.mark.parametrize(
    "data",
    [
        np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]),
        np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]),
        np.zeros((0, 4)),
        np.arange(10.0),
        np.zeros((2, 2, 2)),
    ],
    ids=["nan", "inf", "empty", "1d", "3d"],
)
def test_bad_input_raises_value_error(data):
    with pytest.raises(ValueError):
        UMAP().fit(data)


def test_non_numeric_input_raises_type_error():
    with pytest.raises(TypeError):
        UMAP().fit(np.array([["a", "b"], ["c", "d"], ["e", "f"]]))
    # complex data: ValueError, as umap-learn's check_array (and scikit-learn's check suite)
    with pytest.raises(ValueError, match="Complex data not supported"):
        UMAP().fit([[1 + 2j, 0], [0, 1], [1, 1]])


def test_transform_errors(iris):
    X, _ = iris
    model = UMAP(n_epochs=10).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :3])
    with pytest.raises(ValueError):
        model.transform(np.full((2, 4), np.nan))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        UMAP().transform(X)


def test_n_neighbors_larger_than_data_warns_and_clips_like_umap_learn(iris):
    X = iris[0][:10]
    with pytest.warns(UserWarning, match="n_neighbors is larger than the dataset size"):
        model = UMAP(n_neighbors=15, n_epochs=20).fit(X)
    with pytest.warns(UserWarning, match="n_neighbors is larger than the dataset size"):
        reference = umap.UMAP(n_neighbors=15, n_epochs=20).fit(X)
    assert model._n_neighbors == reference._n_neighbors == 9
    assert model.embedding_.shape == (10, 2) and np.isfinite(model.embedding_).all()


def test_single_sample_like_umap_learn():
    model = UMAP().fit(np.ones((1, 3)))
    assert np.array_equal(model.embedding_, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="single data sample"):
        model.transform(np.ones((1, 3)))


@pytest.mark.parametrize(
    "params, fit_kwargs, name",
    [
        ({"metric": "string"}, {}, "string"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_unimplemented_raise_not_implemented_naming_parameter(iris, params, fit_kwargs, name):
    X, y = iris
    kwargs = dict(fit_kwargs)
    if kwargs.get("y") == "labels":
        kwargs["y"] = y
    with pytest.raises(NotImplementedError, match=name):
        UMAP(**params).fit(X, **kwargs)


# ----------------------------------------------------------------- other parameters


def test_precomputed_knn_gives_the_same_graph(iris):
    X, _ = iris
    first = UMAP(n_neighbors=10, n_epochs=0).fit(X)
    knn = (first._knn_indices, first._knn_dists, first._knn_search_index)
    second = UMAP(n_neighbors=10, n_epochs=0, precomputed_knn=knn).fit(X)
    assert abs(second.graph_ - first.graph_).max() == 0
    assert second.transform(X[:5] + 0.01).shape == (5, 2)


def test_disconnection_distance_cuts_far_neighbours(iris):
    X, _ = iris
    model = UMAP(n_neighbors=10, n_epochs=10, disconnection_distance=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    cut = model._knn_indices == -1
    assert cut.any()
    assert np.all(model._knn_dists[~cut] < 0.3)
    isolated = np.diff(model.graph_.indptr) == 0
    assert np.array_equal(np.isnan(model.embedding_).any(axis=1), isolated)


def test_cosine_metric_matches_exact_neighbours(digits):
    X, _ = digits
    X = X[:500]
    model = UMAP(metric="cosine", n_epochs=10).fit(X)
    dists, _ = NearestNeighbors(n_neighbors=15, metric="cosine").fit(X).kneighbors(X)
    np.testing.assert_allclose(model._knn_dists, dists, atol=1e-4)


def test_verbose_logs_and_progress(iris, capsys):
    X, _ = iris
    UMAP(verbose=True, n_epochs=20, tqdm_kwds={"file": None}).fit(X)
    out = capsys.readouterr()
    assert "Construct fuzzy simplicial set" in out.out
    assert "Finished embedding" in out.out


_INTERRUPT_SCRIPT = """
import faulthandler, signal, sys, time
import numpy as np
from umapc import UMAP
X = np.random.RandomState(0).normal(size=(3000, 10)).astype(np.float32)
# A child that has not stopped long after the SIGINT prints every thread's stack and exits, so a
# failure shows where it was (a hang at exit included: the dump covers the whole lifetime).
faulthandler.dump_traceback_later(25, exit=True)
# A runner started in the background (nohup, `cmd &` in a script) passes SIGINT on as ignored,
# and Python then keeps it ignored: install the handler an interactive session has.
signal.signal(signal.SIGINT, signal.default_int_handler)
print("started", flush=True)
try:
    UMAP(n_epochs=100000, random_state=0).fit(X)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter():.6f}", flush=True)
    raise
print("finished", flush=True)
"""


def test_ctrl_c_stops_a_long_fit_with_keyboard_interrupt():
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPT_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().strip()
        if line != "started":
            child.kill()
            pytest.fail(f"child did not start: {child.communicate()[1][-2000:]}")
        time.sleep(1.5)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        elapsed = time.perf_counter() - sent
    finally:
        child.kill()
    report = f"stdout: {out[-1000:]}\nstderr: {err[-4000:]}"
    assert "finished" not in out, report
    assert "KeyboardInterrupt" in err and child.returncode != 0, report
    # the fit stops within 5 s of the signal (perf_counter is one clock for both processes)
    stopped = float(out.split("interrupted ")[1].split()[0])
    assert stopped - sent < 5.0, report
    assert elapsed < 20.0, report
