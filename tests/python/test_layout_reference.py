"""The C layout step by step against a transcription of umap-learn's update rule.

``reference_layout`` below is umap-learn's ``_optimize_layout_euclidean_single_epoch`` (attraction
``-2ab d^(2b-2) / (1 + a d^(2b))``, repulsion ``2 gamma b / ((0.001 + d^2)(1 + a d^(2b)))``, each
gradient component clipped to [-4, 4], both ends of an edge moved by the same gradient, a negative
drawn as the point itself skipped, coincident points not moved, umap-learn's epochs-per-sample
schedules and linear learning-rate decay), written in plain Python with float64 powers. It makes
only the choices umapc makes on purpose, so that what differs from umap-learn is exactly those:

* negative samples come from umapc's counter-based random numbers (keyed by seed, epoch, edge)
  instead of a per-point Tausworthe state;
* a sampled edge's attraction and negative samples are all evaluated at the point's position
  before the edge, their clipped gradients summed and the point moved once (umap-learn moves it
  after each; this lets the SIMD executors evaluate them side by side);
* points are processed in rounds of consecutive points (n^2 / 2^16 of them, between 64 and 2,048:
  ``_round_points``, the C layout's ``fit_round_points``): within a round every point reads the
  others as they were when the round began, and the far ends of a round's sampled edges take back
  their moves when the round ends (umap-learn moves them at once; this is what makes the parallel
  layout deterministic);
* the points run in a random order drawn from the seed (``_layout_order``, the C layout's
  ``draw_order``), so that a round holds unrelated points even when the data come sorted by
  class.

With the same schedule and the same negatives, the C embedding (float32, polynomial powers)
matches the reference to rounding. The comparison runs at a learning rate of 0.05: at umap-learn's
1.0 near-coincident points overshoot and every later round of the epoch reads where they went, so
float32-against-float64 rounding differences grow chaotically with the number of rounds (with
rounds of 80 points the two differed by 0.006 at the median after one real epoch), while at 0.05
they stay at rounding size over many epochs and the points still move by a good part of a unit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from sklearn.neighbors import NearestNeighbors

from umapc import _core

MASK = (1 << 64) - 1
ROUND_MIN, ROUND_MAX, ROUND_FULL = 64, 2048, 11586
LEARNING_RATE = 0.05  # below the chaotic regime (module docstring)


def _round_points(n: int) -> int:
    return ROUND_MAX if n >= ROUND_FULL else min(max(n * n // 65536, ROUND_MIN), ROUND_MAX)


ORDER_STREAM = 0x6C61796F75746F72


def _hash64(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _rand_at(seed: int, stream: int, counter: int) -> int:
    inner = _hash64((counter + 0x9E3779B97F4A7C15) & MASK)
    return _hash64(seed ^ _hash64(stream ^ inner))


def _negative(key: int, q: int, n: int) -> int:
    """layout_negative: murmur3's 32-bit finaliser of key + q times the golden ratio."""
    h = (key + q * 0x9E3779B9) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return (h * n) >> 32


def _layout_order(seed: int, n: int) -> np.ndarray:
    """The C layout's draw_order: order[r] is the point processed r-th."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = ((_rand_at(seed, ORDER_STREAM, i) >> 32) * (i + 1)) >> 32
        order[i], order[j] = order[j], order[i]
    return np.array(order)


def _relabelled(emb: np.ndarray, graph: scipy.sparse.csr_matrix, order: np.ndarray):
    """emb and graph with point order[r] as point r, each row sorted by its new columns."""
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    rows = [graph.indices[graph.indptr[o] : graph.indptr[o + 1]] for o in order]
    data = [graph.data[graph.indptr[o] : graph.indptr[o + 1]] for o in order]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    g = scipy.sparse.csr_matrix(
        (np.concatenate(data), rank[np.concatenate(rows)], indptr), shape=graph.shape
    )
    g.sort_indices()
    return emb[order], g


def _clip(v: float) -> float:
    return 4.0 if v > 4.0 else (-4.0 if v < -4.0 else v)


def reference_layout(
    emb, graph, n_epochs, a, b, gamma, alpha0, neg_rate, seed, rounds=True, at_once=True
):
    """umap-learn's SGD on ``graph`` (CSR, float32 weights) with umapc's negatives and, with
    ``rounds``, umapc's rounds; without, umap-learn's sequential order (every read live, far
    ends moved at once). With ``at_once`` a sampling's gradients are summed at one position, as
    umapc does; without, the point moves after each, as in umap-learn."""
    order = _layout_order(seed, emb.shape[0])
    emb, graph = _relabelled(emb, graph, order)
    f32 = np.float32
    pos = emb.astype(np.float64)
    n, dim = pos.shape
    w = graph.data.astype(np.float32)
    wmax = w.max()
    keep = (w >= wmax / f32(n_epochs)) & (w > 0)
    heads = np.repeat(np.arange(n), np.diff(graph.indptr))[keep]
    tails = graph.indices[keep]
    n_samples = f32(n_epochs) * (w[keep] / wmax)
    eps = (n_epochs / n_samples.astype(np.float64)).astype(np.float32)
    eps_neg = eps / f32(neg_rate)
    nxt, nxt_neg = eps.copy(), eps_neg.copy()
    out_ptr = np.searchsorted(heads, np.arange(n + 1))
    alpha = float(f32(alpha0))
    for epoch in range(n_epochs):
        now = f32(epoch)
        key = _rand_at(seed, epoch, 0)
        size = _round_points(n)
        for lo in range(0, n, size):
            hi = min(lo + size, n)
            start = pos.copy() if rounds else pos
            moves = {}
            for j in range(lo, hi):
                cur = start[j].copy()
                for e in range(out_ptr[j], out_ptr[j + 1]):
                    if nxt[e] > now:
                        continue
                    nxt[e] = f32(nxt[e] + eps[e])
                    count = f32(f32(now - nxt_neg[e]) / eps_neg[e])
                    n_neg = int(count) if count >= 1 else 0
                    nxt_neg[e] = f32(nxt_neg[e] + f32(f32(n_neg) * eps_neg[e]))
                    k = int(tails[e])
                    total = np.zeros(dim)
                    if k != j:
                        diff = cur - start[k]
                        d2 = float(diff @ diff)
                        coeff = 0.0
                        if d2 > 0:
                            coeff = -2.0 * a * b * d2 ** (b - 1.0) / (a * d2**b + 1.0)
                        grad = np.array([_clip(coeff * t) for t in diff])
                        move = grad * alpha
                        total += grad
                        if not at_once:
                            cur += move
                        if rounds:
                            moves[e] = move
                        else:
                            pos[k] -= move
                    stream = _hash64(key ^ ((e * 0xD1B54A32D192ED03) & MASK)) >> 32
                    for q in range(1, n_neg + 1):
                        r = _negative(stream, q, n)
                        if r == j:
                            continue
                        diff = cur - start[r]
                        d2 = float(diff @ diff)
                        if d2 > 0:
                            coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2**b + 1.0))
                            grad = np.array([_clip(coeff * t) for t in diff])
                            if at_once:
                                total += grad
                            else:
                                cur += grad * alpha
                    if at_once:
                        cur += alpha * total
                pos[j] = cur
            for e in sorted(moves):
                pos[tails[e]] -= moves[e]
        alpha = float(f32(alpha0 * (1.0 - epoch / n_epochs)))
    out = np.empty_like(pos)
    out[order] = pos
    return out


def _small_graph(n: int, k: int, seed: int) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """A symmetric fuzzy-like graph on clustered points with some exact duplicates, and a
    spread-out start."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)) + 4.0 * rng.integers(0, 3, size=(n, 1))
    x[-20:] = x[:20]
    _, ind = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)
    rows = np.repeat(np.arange(n), k)
    # as in fuzzy graphs, many edges have the largest weight and fire every epoch
    weights = np.where(rng.random(n * k) < 0.5, 1.0, rng.uniform(0.05, 1.0, size=n * k))
    g = scipy.sparse.csr_matrix((weights, (rows, ind.ravel())), shape=(n, n))
    g = g.maximum(g.T).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    g.sort_indices()
    g.data = g.data.astype(np.float32)
    emb = rng.uniform(0, 10, size=(n, 2)).astype(np.float32)
    emb[-20:] = emb[:20] + 1e-3  # duplicates start close together, as after umap-learn's jitter
    return emb, g


def _c_layout(emb, g, n_epochs, a, b, seed, n_jobs, learning_rate=LEARNING_RATE):
    out = emb.copy()
    _core.optimize_layout(
        out,
        None,
        g.indptr.astype(np.int32),
        g.indices.astype(np.int32),
        g.data,
        n_epochs,
        a,
        b,
        repulsion_strength=1.0,
        learning_rate=learning_rate,
        negative_sample_rate=5.0,
        seed=seed,
        n_jobs=n_jobs,
    )
    return out


def test_layout_matches_reference_step_by_step() -> None:
    a, b = 1.576943460405378, 0.8950608781227859
    # 29 rounds of 80 points, so that rounds and deferred moves are exercised; epoch 0 samples
    # nothing (as in umap-learn)
    emb, g = _small_graph(2300, 8, seed=5)
    for n_epochs in (2, 5):
        want = reference_layout(emb, g, n_epochs, a, b, 1.0, LEARNING_RATE, 5.0, seed=11)
        got = _c_layout(emb, g, n_epochs, a, b, seed=11, n_jobs=2)
        assert np.median(np.abs(got - emb).max(axis=1)) > 0.1  # it moved
        error = np.abs(got - want).max(axis=1)
        assert np.percentile(error, 99) < 1e-4, n_epochs
        assert np.median(error) < 1e-5, n_epochs


def test_layout_differs_from_umap_learn_only_by_its_choices() -> None:
    """The comparison above can fail: umap-learn's own order (far ends moved at once, every read
    live, a move after each gradient) on the same negatives gives a measurably different
    embedding, and so does each of the two choices alone."""
    a, b = 1.576943460405378, 0.8950608781227859
    emb, g = _small_graph(300, 6, seed=2)
    got = _c_layout(emb, g, 5, a, b, seed=4, n_jobs=1)
    want = reference_layout(emb, g, 5, a, b, 1.0, LEARNING_RATE, 5.0, seed=4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    for rounds, at_once in ((False, False), (False, True), (True, False)):
        other = reference_layout(
            emb, g, 5, a, b, 1.0, LEARNING_RATE, 5.0, seed=4, rounds=rounds, at_once=at_once
        )
        assert np.abs(other - want).max() > 0.05, (rounds, at_once)
