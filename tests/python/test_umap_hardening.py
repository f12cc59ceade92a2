"""UMAP parameter validation and non-finite outputs (issue 10, item 8), and small input gaps."""

from __future__ import annotations

import numpy as np
import pytest

from umapc import UMAP
from umapc.cli import main


def _blobs(n: int = 150, dim: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, dim))
    return (centres[rng.integers(0, 3, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def test_transform_after_a_fit_with_a_disconnected_point() -> None:
    data = _blobs()
    data[0] = 1000.0  # far from everything: all its edges are cut
    with pytest.warns(UserWarning, match="disconnected"):
        model = UMAP(n_neighbors=10, n_epochs=60, random_state=0, disconnection_distance=50.0)
        model.fit(data)
    assert np.isnan(model.embedding_[0]).all()
    assert np.isfinite(model.embedding_[1:]).all()
    new = _blobs(20, seed=1)
    new[0] = 1000.0
    embedded = model.transform(new)
    assert embedded.shape == (20, 2) and np.isfinite(embedded).all()
    # New points land next to the training points of their own cluster.
    nearest_train = np.argmin(np.linalg.norm(data[1:, None, :] - new[None, 1:, :], axis=2), axis=0)
    gap = np.linalg.norm(embedded[1:] - model.embedding_[1:][nearest_train], axis=1)
    spread = np.ptp(model.embedding_[1:], axis=0).max()
    assert np.median(gap) < 0.2 * spread


def test_negative_sample_rate_zero_is_attraction_only() -> None:
    data = _blobs()
    none = UMAP(n_epochs=50, random_state=0, negative_sample_rate=0).fit_transform(data)
    assert np.isfinite(none).all()
    # With no negative samples only attraction acts: the same as no repulsion at all.
    no_repulsion = UMAP(n_epochs=50, random_state=0, repulsion_strength=0.0).fit_transform(data)
    np.testing.assert_allclose(none, no_repulsion, rtol=1e-5, atol=1e-5)
    default = UMAP(n_epochs=50, random_state=0).fit_transform(data)
    assert not np.allclose(none, default)


@pytest.mark.parametrize(
    "params",
    [
        {"learning_rate": np.inf},
        {"learning_rate": np.nan},
        {"repulsion_strength": np.inf},
        {"repulsion_strength": np.nan},
        {"a": np.inf, "b": 1.0},
        {"a": 1.0, "b": np.nan},
        {"a": -1.0, "b": 1.0},
        {"negative_sample_rate": np.inf},
        {"negative_sample_rate": np.nan},
        {"negative_sample_rate": 1e30},
        {"negative_sample_rate": 10**6},
        {"negative_sample_rate": "5"},
    ],
)
def test_non_finite_or_absurd_layout_parameters_are_refused(params) -> None:
    with pytest.raises(ValueError):
        UMAP(n_epochs=10, **params).fit(_blobs(60))


def test_one_dimensional_precomputed_knn_is_a_value_error() -> None:
    data = _blobs(50)
    knn = (np.arange(50, dtype=np.int32), np.zeros(50, dtype=np.float32), None)
    with pytest.raises(ValueError, match="2-D"):
        UMAP(n_neighbors=5, precomputed_knn=knn).fit(data)


def test_cli_output_folder_is_a_clean_error(tmp_path, capsys) -> None:
    data = tmp_path / "data.npy"
    np.save(data, _blobs(60))
    folder = tmp_path / "out.npy"
    folder.mkdir()
    assert main([str(data), "-o", str(folder), "--n-epochs", "10"]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err
