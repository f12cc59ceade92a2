"""scikit-learn conformance of ``umapc.UMAP`` and ``umapc.NNTransformer``: scikit-learn's own
estimator checks (``parametrize_with_checks``), each expected failure named with its reason, and
the ecosystem behaviour around them (data frames, ``set_output``, dtypes, ``clone``, ``repr``)."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.neighbors import KNeighborsTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from umapc import UMAP, NNTransformer

_SKLEARN = tuple(int(part) for part in sklearn.__version__.split(".")[:2])

# Genuine differences from scikit-learn's assumptions, not defects: umap-learn behaves the same.
_UMAP_EXPECTED_FAILURES = {
    "check_methods_sample_order_invariance": (
        "transform of the training rows returns embedding_ (umap-learn's shortcut), while a "
        "permutation of them is embedded as new points; and transform's SGD draws negative "
        "samples from one seeded stream over the batch, so a point's placement depends on the "
        "other points of the batch, as in umap-learn"
    ),
    "check_methods_subset_invariance": (
        "transform's SGD draws negative samples from one seeded stream over the batch's "
        "edges (as umap-learn), so a point's placement depends on the other points of the batch"
    ),
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return dict(_UMAP_EXPECTED_FAILURES) if isinstance(estimator, UMAP) else {}


if _SKLEARN >= (1, 6):

    @parametrize_with_checks(
        [UMAP(random_state=0, n_jobs=1), NNTransformer(n_neighbors=5, random_state=0, n_jobs=1)],
        expected_failed_checks=_expected_failed_checks,
    )
    def test_sklearn_estimator_checks(estimator, check) -> None:
        check(estimator)


def test_expected_failures_still_fail() -> None:
    """The named exceptions are real: each check still fails (else drop it from the list)."""
    if _SKLEARN < (1, 6):
        pytest.skip("expected_failed_checks needs scikit-learn >= 1.6")
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(
        UMAP(random_state=0, n_jobs=1),
        on_fail=None,
        expected_failed_checks=_UMAP_EXPECTED_FAILURES,
    )
    status = {r["check_name"]: r["status"] for r in results}
    for name in _UMAP_EXPECTED_FAILURES:
        assert status[name] == "xfail", (name, status[name])
    assert all(s in ("passed", "xfail", "skipped") for s in status.values()), status


def _frame(n: int = 80, d: int = 4):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    return pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])


def test_pandas_feature_names_and_set_output() -> None:
    df = _frame()
    model = UMAP(random_state=0, n_epochs=50).set_output(transform="pandas")
    out = model.fit_transform(df)
    assert list(model.feature_names_in_) == list(df.columns)
    assert list(out.columns) == ["umap0", "umap1"]
    assert list(out.index) == list(df.index)
    new = model.transform(df.iloc[:7])
    assert list(new.columns) == ["umap0", "umap1"] and new.shape == (7, 2)
    assert new.to_numpy().dtype == np.float32

    t = NNTransformer(n_neighbors=5, random_state=0).fit(df)
    assert list(t.feature_names_in_) == list(df.columns)
    # the output is sparse: scikit-learn refuses a pandas container for it, for its own
    # KNeighborsTransformer alike
    for est in (NNTransformer(n_neighbors=5), KNeighborsTransformer(n_neighbors=5)):
        with pytest.raises(ValueError, match="sparse"):
            est.set_output(transform="pandas").fit_transform(df)


def test_float64_gives_float32() -> None:
    X = np.random.RandomState(1).normal(size=(60, 3))
    assert UMAP(random_state=0, n_epochs=20).fit_transform(X).dtype == np.float32
    assert NNTransformer(n_neighbors=4).fit_transform(X).dtype == np.float32


def test_clone_params_repr() -> None:
    model = UMAP(n_neighbors=7, min_dist=0.3, metric="cosine")
    assert repr(model) == "UMAP(metric='cosine', min_dist=0.3, n_neighbors=7)"
    assert repr(UMAP()) == "UMAP()"
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert twin.set_params(n_neighbors=9) is twin and twin.n_neighbors == 9
    assert model.n_neighbors == 7
    t = NNTransformer(n_neighbors=4, mode="connectivity")
    assert repr(t) == "NNTransformer(mode='connectivity', n_neighbors=4)"
    assert clone(t).get_params() == t.get_params()
