"""Model arithmetic (UMAP * UMAP, + and -) against umap-learn: the combined graphs entry by entry
with umap-learn's own set operations, the combined embeddings by trustworthiness."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.manifold import trustworthiness

from umapc import UMAP

umap_learn = pytest.importorskip("umap")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


@pytest.fixture(scope="module")
def models(digits) -> tuple[UMAP, UMAP]:
    return (
        UMAP(random_state=0, n_epochs=100).fit(digits),
        UMAP(metric="cosine", n_neighbors=10, random_state=0, n_epochs=100).fit(digits),
    )


def _umap_learn_graph(op: str, g: scipy.sparse.spmatrix, h: scipy.sparse.spmatrix):
    from umap.umap_ import (
        general_simplicial_set_intersection,
        general_simplicial_set_union,
        reset_local_connectivity,
    )

    if op == "*":
        return reset_local_connectivity(general_simplicial_set_intersection(g, h, 0.5), True)
    if op == "+":
        return reset_local_connectivity(general_simplicial_set_union(g, h), True)
    combined = general_simplicial_set_intersection(g, h, weight=0.5, right_complement=True)
    return reset_local_connectivity(combined, False)


def _combine(a, b, op: str):
    return {"*": lambda: a * b, "+": lambda: a + b, "-": lambda: a - b}[op]()


@pytest.mark.parametrize("op", ["*", "+", "-"])
def test_combined_graph_equals_umap_learn(models, op) -> None:
    a, b = models
    got = _combine(a, b, op).graph_
    want = scipy.sparse.csr_matrix(_umap_learn_graph(op, a.graph_, b.graph_))
    want.eliminate_zeros()
    want.sort_indices()
    assert got.nnz == want.nnz
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-4, atol=1e-6)


def test_combined_embeddings_as_good_as_umap_learn(digits) -> None:
    ours = (
        UMAP(random_state=0, n_epochs=100).fit(digits),
        UMAP(metric="cosine", random_state=0, n_epochs=100).fit(digits),
    )
    theirs = (
        umap_learn.UMAP(random_state=0, n_epochs=100).fit(digits),
        umap_learn.UMAP(metric="cosine", random_state=0, n_epochs=100).fit(digits),
    )
    for op in ("*", "+", "-"):
        t_ours = trustworthiness(digits, _combine(*ours, op).embedding_, n_neighbors=15)
        t_theirs = trustworthiness(digits, _combine(*theirs, op).embedding_, n_neighbors=15)
        assert t_ours >= t_theirs - 0.01, op


def test_combination_is_deterministic_and_a_fitted_model(models) -> None:
    a, b = models
    first, second = a * b, a * b
    np.testing.assert_array_equal(first.embedding_, second.embedding_)
    assert first.embedding_.shape == (a.graph_.shape[0], 2)
    assert np.all(np.isfinite(first.embedding_))
    with pytest.raises(ValueError, match="combined"):
        first.transform(np.zeros((2, 64), dtype=np.float32))


def test_combining_needs_fitted_models_on_the_same_points(digits, models) -> None:
    a, _ = models
    with pytest.raises(NotFittedError):
        a * UMAP()
    smaller = UMAP(random_state=0, n_epochs=10).fit(digits[:500])
    with pytest.raises(ValueError, match="equivalent samples"):
        a + smaller
    with pytest.raises(TypeError):
        a * 3
