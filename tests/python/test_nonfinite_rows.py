"""``ensure_all_finite=False`` / ``"allow-nan"``: rows holding NaN (or, with False, infinities)
are left out of the fit, with NaN coordinates, and the other rows are embedded exactly as a fit
of them alone (checked bit for bit against that fit). umap-learn hands these values to its
neighbour search and gets arbitrary neighbours; it refuses infinities under ``"allow-nan"``
(scikit-learn's check_array), which umapc matches.
"""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits

from umapc import UMAP

LEFT_OUT = [3, 17, 40]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits with NaN in rows 3 and 17, inf in row 40; the mask of the finite rows."""
    digits = load_digits()
    X = digits.data[:300].astype(np.float32)
    bad = X.copy()
    bad[3, 5] = np.nan
    bad[17] = np.nan
    bad[40, 0] = np.inf
    keep = np.ones(300, dtype=bool)
    keep[LEFT_OUT] = False
    return bad, keep, digits.target[:300]


def _fit(model: UMAP, *args, **kwargs) -> UMAP:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


def _placed(embedding: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.full((keep.size, embedding.shape[1]), np.nan, dtype=np.float32)
    out[keep] = embedding
    return out


def test_false_equals_a_fit_of_the_finite_rows(data) -> None:
    X, keep, _ = data
    with pytest.warns(UserWarning, match="3 of 300 rows hold NaN or infinite values"):
        m = UMAP(n_epochs=50, random_state=0).fit(X, ensure_all_finite=False)
    ref = _fit(UMAP(n_epochs=50, random_state=0), X[keep])
    assert np.array_equal(m.embedding_, _placed(ref.embedding_, keep), equal_nan=True)
    assert np.isnan(m.embedding_[LEFT_OUT]).all()
    assert (m.graph_ != ref.graph_).nnz == 0
    assert m.graph_.shape == (297, 297)  # the embedded rows'
    # the older spelling, and fit_transform
    E = _fit(UMAP(n_epochs=50, random_state=0), X, force_all_finite=False).embedding_
    assert np.array_equal(E, m.embedding_, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        E = UMAP(n_epochs=50, random_state=0).fit_transform(X, ensure_all_finite=False)
    assert np.array_equal(E, m.embedding_, equal_nan=True)


def test_allow_nan(data) -> None:
    X, keep, _ = data
    # infinities are refused, as scikit-learn's check_array (and so umap-learn) refuses them
    with pytest.raises(ValueError, match="infinity"):
        UMAP(n_epochs=10).fit(X, ensure_all_finite="allow-nan")
    umap = pytest.importorskip("umap")
    with pytest.raises(ValueError, match="infinity"):
        umap.UMAP(n_epochs=10).fit(X, ensure_all_finite="allow-nan")
    nan_only = X.copy()
    nan_only[40, 0] = 1.0
    keep2 = keep.copy()
    keep2[40] = True
    with pytest.warns(UserWarning, match="2 of 300 rows hold NaN;"):
        m = UMAP(n_epochs=30, random_state=1).fit(nan_only, ensure_all_finite="allow-nan")
    ref = _fit(UMAP(n_epochs=30, random_state=1), nan_only[keep2])
    assert np.array_equal(m.embedding_, _placed(ref.embedding_, keep2), equal_nan=True)


def test_true_and_bad_flags_raise(data) -> None:
    X, _, _ = data
    with pytest.raises(ValueError, match="NaN"):
        UMAP(n_epochs=10).fit(X)
    with pytest.raises(ValueError, match='should be a bool or "allow-nan"'):
        UMAP(n_epochs=10).fit(X, ensure_all_finite="yes")
    with pytest.raises(ValueError, match="every one of the 300 rows"):
        UMAP(n_epochs=10).fit(np.full((300, 4), np.nan), ensure_all_finite=False)


def test_transform(data) -> None:
    X, keep, _ = data
    m = _fit(UMAP(n_epochs=30, random_state=0), X, ensure_all_finite=False)
    # the training data (NaN and all) maps to embedding_
    assert np.array_equal(m.transform(X, ensure_all_finite=False), m.embedding_, equal_nan=True)
    Q = X[:60] + 0.5
    got = m.transform(Q, ensure_all_finite=False)
    finite = keep[:60]
    assert np.isnan(got[~finite]).all() and np.isfinite(got[finite]).all()
    assert np.array_equal(got[finite], m.transform(Q[finite]))
    with pytest.raises(ValueError):
        m.transform(Q)
    nothing = m.transform(np.full((4, Q.shape[1]), np.nan), ensure_all_finite=False)
    assert nothing.shape == (4, 2) and np.isnan(nothing).all()
    m.set_params(transform_mode="graph")
    graph = m.transform(Q, ensure_all_finite=False)
    assert graph.shape == (60, 297)
    assert (np.diff(graph.indptr)[~finite] == 0).all()
    assert (graph[finite] != m.transform(Q[finite])).nnz == 0


def test_precomputed_rows_and_columns(data) -> None:
    X, keep, _ = data
    D = cdist(np.nan_to_num(X, posinf=0.0), np.nan_to_num(X, posinf=0.0)).astype(np.float32)
    D[3, 9] = D[9, 3] = np.nan  # point 3 and point 9 out
    D[50, 51] = -np.inf  # and one asymmetric -inf: points 50 and 51
    out = np.zeros(300, dtype=bool)
    out[[3, 9, 50, 51]] = True
    m = _fit(UMAP(metric="precomputed", n_epochs=30, random_state=0), D, ensure_all_finite=False)
    sub = D[~out][:, ~out]
    ref = _fit(UMAP(metric="precomputed", n_epochs=30, random_state=0), sub)
    assert np.array_equal(m.embedding_, _placed(ref.embedding_, ~out), equal_nan=True)
    # transform takes distances to all training rows, those of the left-out ones ignored
    Q = D[100:110].copy()
    Q[2, 0] = np.nan
    got = m.transform(Q, ensure_all_finite=False)
    assert np.isnan(got[2]).all()
    rest = np.delete(np.arange(10), 2)
    assert np.array_equal(got[rest], ref.transform(Q[rest][:, ~out]))
    with pytest.raises(ValueError, match="-inf"):
        UMAP(metric="precomputed", n_epochs=10).fit(D, ensure_all_finite="allow-nan")


def test_sparse_rows(data) -> None:
    X, keep, _ = data
    S = scipy.sparse.csr_matrix(np.nan_to_num(X, nan=1.0, posinf=1.0))
    S.data[S.indptr[3]] = np.nan
    S.data[S.indptr[17] + 1] = np.nan
    S.data[S.indptr[40]] = np.inf
    m = _fit(UMAP(n_epochs=30, random_state=0), S, ensure_all_finite=False)
    ref = _fit(UMAP(n_epochs=30, random_state=0), S[keep])
    assert np.array_equal(m.embedding_, _placed(ref.embedding_, keep), equal_nan=True)
    with pytest.raises(ValueError, match="infinity"):
        UMAP(n_epochs=10).fit(S, ensure_all_finite="allow-nan")
    assert np.array_equal(m.transform(S, ensure_all_finite=False), m.embedding_, equal_nan=True)


def test_supervised_unique_and_densmap(data) -> None:
    X, keep, y = data
    m = _fit(UMAP(n_epochs=30, random_state=0), X, y, ensure_all_finite=False)
    ref = _fit(UMAP(n_epochs=30, random_state=0), X[keep], y[keep])
    assert np.array_equal(m.embedding_, _placed(ref.embedding_, keep), equal_nan=True)
    dup = np.concatenate([X, X[:20]])
    keep_dup = np.concatenate([keep, keep[:20]])
    u = _fit(UMAP(n_epochs=30, unique=True, random_state=0), dup, ensure_all_finite=False)
    ref_u = _fit(UMAP(n_epochs=30, unique=True, random_state=0), dup[keep_dup])
    assert np.array_equal(u.embedding_, _placed(ref_u.embedding_, keep_dup), equal_nan=True)
    d = _fit(
        UMAP(n_epochs=[10, 30], densmap=True, output_dens=True, random_state=0),
        X,
        ensure_all_finite=False,
    )
    ref_d = _fit(UMAP(n_epochs=[10, 30], densmap=True, output_dens=True, random_state=0), X[keep])
    assert np.array_equal(d.rad_orig_, _placed(ref_d.rad_orig_[:, None], keep)[:, 0], True)
    for a, b in zip(d.embedding_list_, ref_d.embedding_list_):
        assert np.array_equal(a, _placed(b, keep), equal_nan=True)


def test_few_rows_left(data) -> None:
    X, _, _ = data
    few = np.nan_to_num(X[:30], nan=1.0, posinf=1.0)
    few[10:] = np.nan
    with pytest.warns(UserWarning, match="n_neighbors is larger than the dataset size"):
        m = UMAP(n_neighbors=15, n_epochs=20, random_state=0).fit(few, ensure_all_finite=False)
    assert np.isfinite(m.embedding_[:10]).all() and np.isnan(m.embedding_[10:]).all()
    one = np.nan_to_num(X[:5], nan=1.0, posinf=1.0)
    one[1:] = np.nan
    e = _fit(UMAP(n_epochs=20), one, ensure_all_finite=False).embedding_
    assert np.array_equal(e[0], [0.0, 0.0]) and np.isnan(e[1:]).all()
    with pytest.raises(ValueError, match="precomputed_knn"):
        knn = (np.zeros((30, 15), np.int32), np.zeros((30, 15), np.float32), None)
        _fit(UMAP(n_neighbors=15, precomputed_knn=knn), few, ensure_all_finite=False)


def test_save_pickle_and_update(data, tmp_path) -> None:
    X, keep, _ = data
    m = _fit(UMAP(n_epochs=30, random_state=0), X, ensure_all_finite=False)
    Q = X[:30] + 0.5
    want = m.transform(Q, ensure_all_finite=False)
    path = os.fspath(tmp_path / "model.umapc")
    m.save(path)
    for back in (UMAP.load(path), pickle.loads(pickle.dumps(m))):
        assert np.array_equal(back.embedding_, m.embedding_, equal_nan=True)
        assert np.array_equal(back.transform(Q, ensure_all_finite=False), want, equal_nan=True)
        assert np.array_equal(back.transform(X, ensure_all_finite=False), m.embedding_, True)
    with pytest.raises(ValueError, match="update is not available"):
        m.update(X[keep][:10] + 0.5)
