"""``n_epochs`` as a list: the embeddings after listed epochs (``embedding_list_``), against
umap-learn's semantics and quality at the same epochs.

umap-learn's layout runs ``max(n_epochs)`` epochs and copies the embedding after the epoch
numbered ``n`` (from 0) for each distinct ``n`` below the maximum, then appends the final one.
The learning rate decays over the whole run, so a snapshot after ``e`` epochs of a longer run is
not an ``e``-epoch fit; what is checked: counts and order as umap-learn's, the last snapshot is
``embedding_`` (and the embedding of an integer fit of the maximum), snapshots are reproducible
for any thread count, change from one to the next, and are as trustworthy as umap-learn's at the
same epochs. That the C layout copies the right positions in the caller's order is checked in
tests/c/test_layout.c (a snapshot equals a run interrupted after as many epochs).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from umapc import UMAP, AlignedUMAP, embed_graph


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


def _umap_learn():
    warnings.filterwarnings("ignore", category=UserWarning)
    return pytest.importorskip("umap")


def test_count_order_and_final(digits: np.ndarray) -> None:
    X = digits[:400]
    m = UMAP(n_epochs=[60, 12, 30, 12], random_state=0).fit(X)
    snaps = m.embedding_list_
    assert len(snaps) == 3  # one per distinct entry
    assert all(s.shape == (400, 2) and s.dtype == np.float32 for s in snaps)
    assert np.array_equal(snaps[-1], m.embedding_)
    # the final embedding is that of an integer fit of the largest entry
    plain = UMAP(n_epochs=60, random_state=0).fit(X)
    assert np.array_equal(plain.embedding_, m.embedding_)
    assert not hasattr(plain, "embedding_list_")
    # later snapshots moved on: each differs from the next, by less as the rate decays
    steps = [float(np.abs(b - a).mean()) for a, b in zip(snaps, snaps[1:])]
    assert all(step > 1e-3 for step in steps)


def test_reproducible_for_any_thread_count(digits: np.ndarray) -> None:
    X = digits[:500]
    runs = [
        UMAP(n_epochs=[5, 40, 80], random_state=3, n_jobs=jobs).fit(X).embedding_list_
        for jobs in (1, 2)
    ]
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_counts_match_umap_learn(digits: np.ndarray) -> None:
    umap = _umap_learn()
    X = digits[:300]
    for epochs in ([0], [5, 5, 10], [9, 10], [10, 3], [12]):
        ours = UMAP(n_epochs=epochs, random_state=0).fit(X).embedding_list_
        theirs = umap.UMAP(n_epochs=epochs, random_state=0).fit(X).embedding_list_
        assert len(ours) == len(theirs), epochs
        assert [e.shape for e in ours] == [e.shape for e in theirs]
        # umap-learn copies after epoch max - 1 and appends the final copy: equal twice
        same = [np.array_equal(a, b) for a, b in zip(ours, ours[1:])]
        assert same == [np.array_equal(a, b) for a, b in zip(theirs, theirs[1:])], epochs


def test_quality_trend_against_umap_learn(digits: np.ndarray) -> None:
    """Every snapshot is about as trustworthy as umap-learn's at the same epoch, and both rise.
    (digits, seed 0, trustworthiness at 10 neighbours after 1 / 11 / 31 / 101 / 200 epochs:
    0.841 / 0.850 / 0.907 / 0.942 / 0.987 against umap-learn's 0.841 / 0.830 / 0.902 / 0.951 /
    0.988.) With one round per epoch for sets below 2,048 points, every position read an epoch
    old, umapc's were 0.68 / 0.77 / 0.88 midway: this test is what caught it."""
    umap = _umap_learn()
    epochs = [0, 10, 30, 100, 200]
    ours = UMAP(n_epochs=epochs, random_state=0).fit(digits).embedding_list_
    theirs = umap.UMAP(n_epochs=epochs, random_state=0).fit(digits).embedding_list_
    t_ours = [trustworthiness(digits, e, n_neighbors=10) for e in ours]
    t_theirs = [trustworthiness(digits, e, n_neighbors=10) for e in theirs]
    for a, b in zip(t_ours, t_theirs):
        assert abs(a - b) < 0.03, (t_ours, t_theirs)
    for t in (t_ours, t_theirs):
        assert all(b > a for a, b in zip(t[1:], t[2:])), (t_ours, t_theirs)


def test_densmap_and_output_metric(digits: np.ndarray) -> None:
    X = digits[:300]
    dens = UMAP(n_epochs=[20, 60], densmap=True, random_state=0).fit(X)
    assert len(dens.embedding_list_) == 2
    assert np.array_equal(dens.embedding_list_[-1], dens.embedding_)
    assert np.array_equal(
        UMAP(n_epochs=60, densmap=True, random_state=0).fit(X).embedding_, dens.embedding_
    )
    # umap-learn's generic layout takes no list (TypeError); umapc's does
    generic = UMAP(n_epochs=[10, 30], output_metric="manhattan", random_state=0).fit(X)
    assert len(generic.embedding_list_) == 2
    assert np.array_equal(generic.embedding_list_[-1], generic.embedding_)
    assert not np.array_equal(generic.embedding_list_[0], generic.embedding_)


def test_unique_and_disconnected_rows(digits: np.ndarray) -> None:
    X = np.concatenate([digits[:200], digits[:50]])
    m = UMAP(n_epochs=[10, 40], unique=True, random_state=0).fit(X)
    for snap in m.embedding_list_:
        assert snap.shape == (250, 2)
        assert np.array_equal(snap[:50], snap[200:])  # copies share coordinates
    assert np.array_equal(m.embedding_list_[-1], m.embedding_)
    # points cut off by disconnection_distance are NaN in every snapshot, as in embedding_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        far = np.concatenate([digits[:200], digits[:1] + 1000.0])
        d = UMAP(n_epochs=[10, 20], disconnection_distance=100.0, random_state=0).fit(far)
    for snap in d.embedding_list_:
        assert np.isnan(snap[200]).all() and np.isfinite(snap[:200]).all()


def test_transform_pickle_and_refit(digits: np.ndarray) -> None:
    X, Q = digits[:400], digits[400:450]
    listed = UMAP(n_epochs=[20, 90], random_state=0).fit(X)
    plain = UMAP(n_epochs=90, random_state=0).fit(X)
    # transform runs max(list) // 3 epochs (umap-learn fails on a list: list // 3.0)
    assert np.array_equal(listed.transform(Q), plain.transform(Q))
    back = pickle.loads(pickle.dumps(listed))
    assert len(back.embedding_list_) == 2
    for a, b in zip(back.embedding_list_, listed.embedding_list_):
        assert np.array_equal(a, b)
    listed.set_params(n_epochs=20).fit(X)
    assert not hasattr(listed, "embedding_list_")


def test_rejected_where_umap_learn_rejects() -> None:
    for bad in ([-1, 5], [], [1.5, 3], [[5, 10]], ["5"]):
        with pytest.raises(ValueError, match="nonnegative integer"):
            UMAP(n_epochs=bad).fit(np.random.RandomState(0).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="one number of epochs"):
        embed_graph(UMAP(n_epochs=5).fit(np.eye(20)).graph_, n_epochs=[5, 10])
    # AlignedUMAP's lists are per slice (umap-learn's own aligned layout fails on them)
    with pytest.raises(NotImplementedError, match="n_epochs per slice"):
        AlignedUMAP(n_epochs=[5, 10]).fit(
            [np.eye(20), np.eye(20)], relations=[{i: i for i in range(20)}]
        )
