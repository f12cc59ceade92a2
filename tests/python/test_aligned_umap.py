"""AlignedUMAP against umap-learn's on the same slices: per-slice trustworthiness, how close related
points sit across consecutive slices, reproducibility, update() and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.manifold import trustworthiness

import umapc

umap = pytest.importorskip("umap")

SLICE, STEP, N_SLICES = 500, 250, 3


@pytest.fixture(scope="module")
def sliced() -> tuple[list[np.ndarray], list[dict[int, int]]]:
    """Digits in three overlapping slices (each shares half its points with the next), rows
    shuffled within each slice so that the relations are not the identity."""
    X, _ = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    order = rng.permutation(X.shape[0])
    ids = [rng.permutation(order[s * STEP : s * STEP + SLICE]) for s in range(N_SLICES)]
    slices = [X[i].astype(np.float32) for i in ids]
    relations = []
    for a, b in zip(ids[:-1], ids[1:]):
        where = {int(p): j for j, p in enumerate(b)}
        relations.append({i: where[int(p)] for i, p in enumerate(a) if int(p) in where})
    return slices, relations


def misalignment(embeddings: list[np.ndarray], relations: list[dict[int, int]]) -> float:
    """Mean distance between related points of consecutive slices over the slice's RMS radius."""
    scores = []
    for i, rel in enumerate(relations):
        k, v = np.array(list(rel.keys())), np.array(list(rel.values()))
        gap = np.linalg.norm(embeddings[i][k] - embeddings[i + 1][v], axis=1).mean()
        centred = embeddings[i] - embeddings[i].mean(axis=0)
        scores.append(gap / np.sqrt((centred**2).sum(axis=1).mean()))
    return float(np.mean(scores))


def trust(slices: list[np.ndarray], embeddings: list[np.ndarray]) -> list[float]:
    return [trustworthiness(x, e, n_neighbors=10) for x, e in zip(slices, embeddings)]


@pytest.fixture(scope="module")
def reference(sliced):
    slices, relations = sliced
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.AlignedUMAP(random_state=1).fit(slices, relations=relations)


@pytest.fixture(scope="module")
def fitted(sliced):
    slices, relations = sliced
    return umapc.AlignedUMAP(random_state=1).fit(slices, relations=relations)


def test_trustworthiness_as_umap_learn(sliced, reference, fitted) -> None:
    slices, _ = sliced
    ours, theirs = trust(slices, fitted.embeddings_), trust(slices, reference.embeddings_)
    for o, t in zip(ours, theirs):
        assert o > t - 0.01, (ours, theirs)


def test_alignment_as_umap_learn(sliced, reference, fitted) -> None:
    slices, relations = sliced
    ours, theirs = (
        misalignment(fitted.embeddings_, relations),
        misalignment(reference.embeddings_, relations),
    )
    assert ours < 1.2 * theirs, (ours, theirs)
    # and the alignment is what brings them together: without it the slices drift apart
    loose = umapc.AlignedUMAP(random_state=1, alignment_regularisation=0.0).fit(
        slices, relations=relations
    )
    assert ours < 0.25 * misalignment(loose.embeddings_, relations)


def test_fitted_attributes(sliced, reference, fitted) -> None:
    """umap-learn's attributes, and each slice's model holding its aligned embedding."""
    slices, relations = sliced
    assert fitted.n_models_ == reference.n_models_ == N_SLICES
    assert len(fitted.embeddings_) == len(fitted.mappers_) == N_SLICES
    assert fitted.dict_relations_ == list(relations)
    for x, e, mapper, ref in zip(
        slices, fitted.embeddings_, fitted.mappers_, reference.embeddings_
    ):
        assert e.shape == np.asarray(ref).shape == (x.shape[0], 2)
        assert e.dtype == np.float32 and np.isfinite(e).all()
        assert isinstance(mapper, umapc.UMAP)
        assert mapper.graph_.shape == (x.shape[0], x.shape[0])
        np.testing.assert_array_equal(mapper.embedding_, e)
    # a slice's model places new points in its aligned embedding
    placed = fitted.mappers_[1].transform(slices[1][:20])
    assert placed.shape == (20, 2) and np.isfinite(placed).all()


def _small(sliced, n: int = 150):
    slices, relations = sliced
    rel = [{k: v for k, v in r.items() if k < n and v < n} for r in relations]
    return [s[:n] for s in slices], rel


def test_reproducible(sliced) -> None:
    small, rel = _small(sliced)
    runs = [
        umapc.AlignedUMAP(random_state=seed, n_jobs=jobs, n_epochs=50).fit_transform(
            small, relations=rel
        )
        for seed, jobs in ((1, 1), (1, 2), (2, 2))
    ]
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_window_zero_is_no_alignment(sliced) -> None:
    short, rel = _small(sliced)
    none = umapc.AlignedUMAP(random_state=3, alignment_window_size=0, n_epochs=50)
    off = umapc.AlignedUMAP(random_state=3, alignment_regularisation=0.0, n_epochs=50)
    for a, b in zip(
        none.fit_transform(short, relations=rel), off.fit_transform(short, relations=rel)
    ):
        np.testing.assert_array_equal(a, b)


def test_update_adds_an_aligned_slice(sliced, reference, fitted) -> None:
    slices, relations = sliced
    model = umapc.AlignedUMAP(random_state=1).fit(slices[:2], relations=relations[:1])
    before = [e.copy() for e in model.embeddings_]
    model.update(slices[2], relations=relations[1])
    assert model.n_models_ == 3 and len(model.mappers_) == 3
    assert model.dict_relations_ == list(relations)
    for a, b in zip(before, model.embeddings_[:2]):
        np.testing.assert_array_equal(a, b)
    new = model.embeddings_[2]
    assert trust(slices[2:], [new])[0] > trust(slices[2:], [reference.embeddings_[2]])[0] - 0.01
    # the new slice lands on the fitted one about as closely as a joint fit's slices do
    added = misalignment(model.embeddings_[1:], relations[1:])
    assert added < 1.5 * misalignment(reference.embeddings_[1:], relations[1:])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m, s, r: m.fit(s), ValueError),
        (lambda m, s, r: m.fit(s, relations=r[0]), TypeError),
        (lambda m, s, r: m.fit(s, relations=[list(r[0].items()), r[1]]), TypeError),
        (lambda m, s, r: m.fit(s, relations=r[:1]), ValueError),
        (lambda m, s, r: m.fit(s, relations=[{SLICE: 0}, r[1]]), ValueError),
        (lambda m, s, r: m.fit(s, relations=[{0: SLICE}, r[1]]), ValueError),
        (lambda m, s, r: m.fit(s, relations=[{0: -1}, r[1]]), ValueError),
        (lambda m, s, r: m.fit(s, relations=[{0.0: 1}, r[1]]), TypeError),
        (lambda m, s, r: m.fit([s[0], np.full_like(s[1], np.nan), s[2]], relations=r), ValueError),
        (lambda m, s, r: m.fit(s, y=[None, None], relations=r), ValueError),
        (lambda m, s, r: m.fit(s, relations=r, bogus=1), TypeError),
        (lambda m, s, r: m.update(s[0], relations=r[0]), NotFittedError),
    ],
)
def test_bad_input(sliced, call, error) -> None:
    slices, relations = sliced
    short = [s[:SLICE] for s in slices]
    with pytest.raises(error):
        call(umapc.AlignedUMAP(n_epochs=5), short, relations)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"n_components": [2, 2, 2]}, ValueError),
        ({"alignment_regularisation": -1.0}, ValueError),
        ({"alignment_window_size": -1}, ValueError),
        ({"min_dist": [0.1, 0.1, 0.1]}, NotImplementedError),
        ({"unique": True}, NotImplementedError),
        ({"init": "tswspectral"}, ValueError),
        ({"n_neighbors": [5, 5]}, ValueError),
    ],
)
def test_bad_parameters(sliced, params, error) -> None:
    slices, relations = sliced
    with pytest.raises(error):
        umapc.AlignedUMAP(n_epochs=5, **params).fit(slices, relations=relations)


def test_update_relations_must_be_a_dict(sliced) -> None:
    small, rel = _small(sliced, 100)
    model = umapc.AlignedUMAP(n_epochs=5, n_neighbors=5).fit(small[:2], relations=rel[:1])
    with pytest.raises(TypeError):
        model.update(small[2], relations=rel[1:])
    with pytest.raises(ValueError):
        model.update(small[2][:10], relations={0: 50})
    assert model.n_models_ == 2
