"""UMAP.save / umapc.load and pickling: transform after load equals transform before save, bit for
bit; the file holds the training rows once; corrupt, truncated, foreign and future files raise
CorruptIndexError (or its subclass UnsupportedModelVersionError), never crash."""

from __future__ import annotations

import pickle
import struct
import zlib

import numpy as np
import pytest
import scipy.sparse as sp

import umapc
from umapc import UMAP, CorruptIndexError, NNIndex, UnsupportedModelVersionError

_RNG = np.random.RandomState(0)
_X = _RNG.normal(size=(400, 8)).astype(np.float32)
_Q = _RNG.normal(size=(40, 8)).astype(np.float32)
_Y = _RNG.randint(0, 3, 400)


def _sparse(a: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(np.where(a > 0.6, a, 0.0))


_CASES = {
    "euclidean": (dict(), _X, None, _Q),
    "cosine": (dict(metric="cosine"), _X, None, _Q),
    "sparse": (dict(), _sparse(_X), None, _sparse(_Q)),
    "supervised": (dict(), _X, _Y, _Q),
    "densmap": (dict(densmap=True), _X, None, _Q),
    "unique": (dict(unique=True), np.vstack([_X, _X[:60]]), None, _Q),
    "pixels": (
        dict(force_approximation_algorithm=True),
        np.floor(np.abs(_X) * 40),
        None,
        np.floor(np.abs(_Q) * 40),
    ),
}


def _fit(name: str) -> tuple[UMAP, object, object]:
    kwargs, X, y, Q = _CASES[name]
    model = UMAP(random_state=0, n_epochs=40, **kwargs).fit(X, y)
    return model, X, Q


@pytest.mark.parametrize("name", list(_CASES))
def test_round_trip_bit_for_bit(name: str, tmp_path) -> None:
    model, X, Q = _fit(name)
    before = model.transform(Q)
    path = tmp_path / "m.umapc"
    model.save(path)
    loaded = umapc.load(path)
    assert type(loaded) is UMAP
    assert loaded.transform(Q).tobytes() == before.tobytes()
    clone = pickle.loads(pickle.dumps(model))
    assert clone.transform(Q).tobytes() == before.tobytes()
    # the model's own transform is unchanged by saving it
    assert model.transform(Q).tobytes() == before.tobytes()
    for other in (loaded, clone):
        assert other.get_params() == {
            **model.get_params(),
            "precomputed_knn": (None, None, None),
        }
        np.testing.assert_array_equal(other.embedding_, model.embedding_)
        assert (other.graph_ != model.graph_).nnz == 0
        np.testing.assert_array_equal(other._knn_indices, model._knn_indices)
        # transform of the training data is still its embedding (umap-learn's shortcut)
        np.testing.assert_array_equal(other.transform(X), model.embedding_)
    # saved again, the loaded model gives the same file
    loaded.save(tmp_path / "again.umapc")
    assert (tmp_path / "again.umapc").read_bytes() == path.read_bytes()


def _fitted_bytes(model: UMAP) -> int:
    """Bytes of the fitted arrays other than the rows: embedding, graph, neighbours."""
    g = model.graph_
    arrays = [model.embedding_, model._knn_indices, model._knn_dists, model._sigmas, model._rhos]
    return sum(a.nbytes for a in arrays) + g.data.nbytes + g.indices.nbytes + 8 * g.shape[0]


def test_rows_stored_once(tmp_path) -> None:
    """The file is the rows once plus the fitted arrays: the index holds the rows, nothing else
    does (no _raw_data / _fit_data copy, as umap-learn's pickles have)."""
    X = np.random.RandomState(1).normal(size=(3000, 64)).astype(np.float32)
    model = UMAP(random_state=0, n_epochs=10).fit(X)
    model.save(tmp_path / "m")
    size = (tmp_path / "m").stat().st_size
    assert X.nbytes + _fitted_bytes(model) < size < X.nbytes + _fitted_bytes(model) + 20_000
    assert abs(len(pickle.dumps(model)) - size) < 1000
    # pixel rows in an HNSW index are kept as 8-bit codes (a quarter of the float bytes) beside
    # the graph's links (2M = 32 per point on the bottom layer)
    # (5,000 x 128 is past the exact backend's reach, backend="auto" takes HNSW)
    P = np.random.RandomState(2).randint(0, 256, size=(5000, 128)).astype(np.float32)
    model = UMAP(random_state=0, n_epochs=10, force_approximation_algorithm=True).fit(P)
    Q = P[:20] + 1
    before = model.transform(Q)
    assert model._knn_search_index._backend == "hnsw"
    model.save(tmp_path / "p")
    links = 5000 * 32 * 4 * 1.4
    size = (tmp_path / "p").stat().st_size
    assert size < P.nbytes / 4 + _fitted_bytes(model) + links + 20_000
    loaded = umapc.load(tmp_path / "p")
    assert loaded.transform(Q).tobytes() == before.tobytes()
    np.testing.assert_array_equal(loaded._fit_data, P)  # decoded when asked for


def test_loaded_model_updates_and_inverts(tmp_path) -> None:
    model, X, Q = _fit("euclidean")
    model.save(tmp_path / "m")
    loaded = umapc.load(tmp_path / "m")
    np.testing.assert_array_equal(
        loaded.inverse_transform(model.embedding_[:5]),
        model.inverse_transform(model.embedding_[:5]),
    )
    loaded.update(Q)
    assert loaded.embedding_.shape == (X.shape[0] + Q.shape[0], 2)


def test_unfitted_and_custom_pickles(tmp_path) -> None:
    bare = pickle.loads(pickle.dumps(UMAP(n_neighbors=7)))
    assert bare.n_neighbors == 7 and not hasattr(bare, "embedding_")
    with pytest.raises(Exception, match="not fitted"):
        UMAP().save(tmp_path / "x")
    model = UMAP(random_state=np.random.RandomState(3), n_epochs=20).fit(_X)
    with pytest.raises(ValueError, match="random_state"):
        model.save(tmp_path / "r")
    again = pickle.loads(pickle.dumps(model))  # the RandomState goes with the pickle
    assert again.transform(_Q).tobytes() == model.transform(_Q).tobytes()


def test_precomputed_round_trip(tmp_path) -> None:
    from scipy.spatial.distance import cdist

    D = cdist(_X, _X).astype(np.float32)
    with pytest.warns(UserWarning):
        model = UMAP(metric="precomputed", random_state=0, n_epochs=30).fit(D)
    new = cdist(_Q, _X).astype(np.float32)
    with pytest.warns(UserWarning):
        before = model.transform(new)
    model.save(tmp_path / "m")
    loaded = umapc.load(tmp_path / "m")
    assert loaded._raw_data is None  # the n x n matrix is not stored, only its CRC-32
    with pytest.warns(UserWarning):
        assert loaded.transform(new).tobytes() == before.tobytes()
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(loaded.transform(D), model.embedding_)


def _saved(tmp_path) -> bytes:
    model, _, _ = _fit("euclidean")
    model.save(tmp_path / "m")
    return (tmp_path / "m").read_bytes()


def _load_bytes(tmp_path, blob: bytes):
    path = tmp_path / "bad"
    path.write_bytes(blob)
    return umapc.load(path)


def test_corrupt_files(tmp_path) -> None:
    blob = _saved(tmp_path)
    head = 8 + 4 + 8 + struct.unpack("<Q", blob[12:20])[0]
    for at in (30, head + 5, len(blob) // 2, len(blob) - 100, len(blob) - 2):
        bad = bytearray(blob)
        bad[at] ^= 0x5A
        with pytest.raises(CorruptIndexError):
            _load_bytes(tmp_path, bytes(bad))
    for cut in (0, 7, 19, head - 3, head + 10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(CorruptIndexError):
            _load_bytes(tmp_path, blob[:cut])
    with pytest.raises(CorruptIndexError, match="wrong magic"):
        _load_bytes(tmp_path, b"NOTUMAPC" + blob[8:])
    with pytest.raises(OSError):
        umapc.load(tmp_path / "missing")
    with pytest.raises(OSError):
        umapc.load(tmp_path)
    index = NNIndex(_X, n_neighbors=5)
    index.save(tmp_path / "index")
    with pytest.raises(CorruptIndexError, match="NNIndex"):
        umapc.load(tmp_path / "index")


def test_future_version_refused(tmp_path) -> None:
    blob = bytearray(_saved(tmp_path))
    blob[8:12] = struct.pack("<I", 2)
    with pytest.raises(UnsupportedModelVersionError, match="version 2, newer"):
        _load_bytes(tmp_path, bytes(blob))
    assert issubclass(UnsupportedModelVersionError, CorruptIndexError)


def _resealed(blob: bytes, header_edit) -> bytes:
    """The file with its JSON header changed and the checksum made to match again."""
    import json

    n = struct.unpack("<Q", blob[12:20])[0]
    header = json.loads(blob[20 : 20 + n])
    header_edit(header)
    text = json.dumps(header).encode()
    index_bytes = header["index_bytes"]
    rest = blob[20 + n : len(blob) - 4]
    head = blob[:12] + struct.pack("<Q", len(text)) + text + rest[: len(rest) - index_bytes]
    return head + rest[len(rest) - index_bytes :] + struct.pack("<I", zlib.crc32(head))


def test_malformed_headers_with_valid_checksums(tmp_path) -> None:
    blob = _saved(tmp_path)
    edits = [
        lambda h: h.pop("arrays"),
        lambda h: h["arrays"][0].update(shape=[10**12, 2]),
        lambda h: h["arrays"][0].update(dtype="<c16"),
        lambda h: h["arrays"][0].update(shape=[-1, 2]),
        lambda h: h.update(graph_shape=[5, 5]),
        lambda h: h["params"].update(n_neighbors="many"),
        lambda h: h["params"].update(not_a_parameter=1),
        lambda h: h.update(index="something"),
        lambda h: h.update(rows="elsewhere"),
        lambda h: h["scalars"].update(_evil=1),
        lambda h: h.update(index_bytes=10**9),
    ]
    for edit in edits:
        with pytest.raises(CorruptIndexError):
            _load_bytes(tmp_path, _resealed(blob, edit))
    assert umapc.load(tmp_path / "m").embedding_.shape == (400, 2)
    with pytest.raises(CorruptIndexError):
        pickle.loads(pickle.dumps(UMAP())).__setstate__({"_umapc_model": b"junk"})


def test_attribute_dict_pickles_still_load() -> None:
    """A pickle of the attribute dict (what earlier umapc wrote) restores a working model."""
    model, X, Q = _fit("euclidean")
    state = dict(model.__dict__)
    state["_raw_data"] = state.pop("_raw_data_value")
    state["_fit_data"] = state.pop("_fit_data_value")
    old = UMAP.__new__(UMAP)
    old.__setstate__(state)
    assert old.transform(Q).tobytes() == model.transform(Q).tobytes()
    np.testing.assert_array_equal(old.transform(X), model.embedding_)


def test_models_without_a_search_index(tmp_path) -> None:
    """A combined model (no data), a one-row fit and a precomputed_knn fit without an index
    (rows stored beside, as 8-bit codes when lossless) save and load."""
    a = UMAP(random_state=0, n_epochs=20).fit(_X)
    b = UMAP(random_state=1, n_epochs=20, n_neighbors=8).fit(_X)
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
