def test_models_without_a_search_index(tmp_path) -> None:
    """A combined model (no data), a one-row fit and a precomputed_knn fit without an index
    (rows stored beside, as 8-bit codes when lossless) save and load."""
    a = UMAP(random_state=0, n_epochs=20).fit(_X)
    b = UMAP(random_state=1, n_epochs=20, n_neighbors=8).fit(_X)
    with pytest.warns(UserWarning):
        combined = a * b
    combined.save(tmp_path / "c")
    back = umapc.load(tmp_path / "c")
    np.testing.assert_array_equal(back.embedding_, combined.embedding_)
    with pytest.raises(ValueError, match="combined"):
        back.transform(_Q)
    one = UMAP(n_epochs=5).fit(_X[:1])
    one.save(tmp_path / "one")
    assert umapc.load(tmp_path / "one").embedding_.shape == (1, 2)
    pixels = np.floor(np.abs(_X) * 40)
    knn = a._knn_indices, a._knn_dists
    with pytest.warns(UserWarning, match="knn_search_index"):
        model = UMAP(random_state=0, n_epochs=20, precomputed_knn=knn).fit(pixels)
    model.save(tmp_path / "k")
    loaded = umapc.load(tmp_path / "k")
    np.testing.assert_array_equal(loaded._fit_data, pixels)
    np.testing.assert_array_equal(
        loaded.inverse_transform(model.embedding_[:3]),
        model.inverse_transform(model.embedding_[:3]),
    )
