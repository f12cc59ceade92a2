"""Model files of a fitted :class:`umapc.UMAP` (``UMAP.save`` / ``umapc.load``), and the compact
state its pickles carry.

One file, little-endian::

    magic     b"UMAPCMDL"
    version   uint32, FORMAT_VERSION (a newer one is refused, naming both)
    length    uint64, of the header
    header    JSON: the umapc version, the constructor parameters, the fitted scalars, the table
              of arrays (name, dtype, shape) and the length of the index section
    arrays    each array's bytes, in the table's order
    index     the neighbour index as NNIndex serialises it (a C index file with its own
              checksum, or umapc's sparse index), empty when the model has none
    crc32     uint32 of everything before it

written atomically by the C writer (``_core.write_file``: a temporary file renamed into place).

The training rows are stored once, where transform needs them: in the search index, which holds
them (dense rows as given, pixel rows as 8-bit codes read back exactly; sparse rows as CSR).
``_fit_data`` (what ``inverse_transform`` and ``update`` read) is then the index's rows, and
``_raw_data`` too unless it differs from them: with ``unique=True`` (the index holds the distinct
rows), with rows left out by ``ensure_all_finite`` (the index holds the others) and for
precomputed distances it is not stored, only a CRC-32 of it, so that ``transform``
of the training data still returns ``embedding_``. Rows are stored beside the index only where
there is no index (a ``precomputed_knn`` fit without one, a single row), as 8-bit codes when
lossless. ``precomputed_knn`` is stored as ``(None, None, None)``: the neighbours it gave are
``_knn_indices`` / ``_knn_dists``.
"""

from __future__ import annotations

import json
import numbers
import os
import struct
import zlib
from typing import Any

import numpy as np
import scipy.sparse

from . import _core
from .index import CorruptIndexError

__all__ = ["FORMAT_VERSION", "UnsupportedModelVersionError", "load", "save"]

MAGIC = b"UMAPCMDL"
#: The model file format this umapc writes; it reads this one and the earlier ones.
FORMAT_VERSION = 1
_HEAD = len(MAGIC) + 4 + 8
_INDEX_MAGIC = b"UMAPCIDX"


class UnsupportedModelVersionError(CorruptIndexError):
    """A model file (or pickle) written in a newer format than this umapc reads."""


# Fitted scalars, restored as they were; the derived validated values (``_n_jobs``,
# ``_metric_kwds``, ...) are recomputed from the parameters on load.
_SCALARS = (
    "_n_neighbors",
    "_a",
    "_b",
    "_initial_alpha",
    "_supervised",
    "_sparse_data",
    "_small_data",
    "_combined",
    "n_features_in_",
    "_n_features_out",
)
# Fitted arrays: name -> (dtype, dimensions).
_ARRAYS = {
    "embedding_": ("<f4", 2),
    "_fit_embedding": ("<f4", 2),
    "_unique_inverse_": ("<i8", 1),
    "_row_map": ("<i8", 1),
    "embedding_list_": ("<f4", 3),
    "graph.indptr": ("<i8", 1),
    "graph.indices": ("<i4", 1),
    "graph.data": ("<f4", 1),
    "_knn_indices": ("<i4", 2),
    "_knn_dists": ("<f4", 2),
    "_sigmas": ("<f4", 1),
    "_rhos": ("<f4", 1),
    "rad_orig_": ("<f4", 1),
    "rad_emb_": ("<f4", 1),
    "rows": ("<f4", 2),
    "rows.lo": ("<f4", 1),
    "rows.codes": ("|u1", 2),
    "rows.indptr": ("<i8", 1),
    "rows.indices": ("<i4", 1),
    "rows.data": ("<f4", 1),
}
# Parameters stored as a fixed value (see the module docstring).
_NOT_STORED = {"precomputed_knn": (None, None, None)}


class _Unstorable(Exception):
    """A parameter value that is code or an object, not data."""


def _encode(value: Any, arrays: list[tuple[str, np.ndarray]], path: str) -> Any:
    """A parameter as JSON, arrays (``init``, metric_kwds' V / w / VI) put in the array table."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        name = f"param:{path}"
        arrays.append((name, value))
        return {"__array__": name}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, f"{path}.{i}") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, arrays, f"{path}.{k}") for k, v in value.items()}}
    raise _Unstorable(path)


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if set(value) == {"__dict__"} and isinstance(value["__dict__"], dict):
            return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
        raise ValueError(f"unknown parameter encoding {sorted(value)}")
    return value


def fingerprint(X: Any) -> dict[str, Any]:
    """Shape, kind and CRC-32 of rows as ``transform`` compares them with the training data."""
    if scipy.sparse.issparse(X):
        parts = [X.indptr.astype("<i8"), X.indices.astype("<i8"), X.data.astype("<f4")]
        crc = 0
        for part in parts:
            crc = zlib.crc32(np.ascontiguousarray(part), crc)
        return {"shape": list(X.shape), "sparse": True, "crc": crc}
    return {
        "shape": list(X.shape),
        "sparse": False,
        "crc": zlib.crc32(np.ascontiguousarray(X, dtype="<f4")),
    }


def dumps(model: Any, *, objects: dict[str, Any] | None) -> bytes:
    """The model's file bytes. With ``objects`` a dict (pickling), what a file cannot hold (a
    callable metric, a RandomState, an index with a custom metric) goes there instead, by name;
    with None (a file) such a value raises ``ValueError``."""
    from .index import NNIndex

    arrays: list[tuple[str, np.ndarray]] = []
    params: dict[str, Any] = {}
    for name, value in model.get_params(deep=False).items():
        if name in _NOT_STORED:
            continue
        try:
            params[name] = _encode(value, arrays, name)
        except _Unstorable:
            if objects is None:
                raise ValueError(
                    f"UMAP.save: the parameter {name}={value!r} is code or an object, not "
                    "data, and cannot be stored in a model file; pickle the model instead"
                ) from None
            objects[name] = value
    scalars = {k: getattr(model, k) for k in _SCALARS if hasattr(model, k)}
    for key in ("_a", "_b", "_initial_alpha"):
        if key in scalars:
            scalars[key] = float(scalars[key])
    names = getattr(model, "feature_names_in_", None)
    header: dict[str, Any] = {
        "umapc": _umapc_version(),
        "params": params,
        "scalars": scalars,
        "feature_names_in_": None if names is None else [str(n) for n in names],
    }
    embedding = model.embedding_
    arrays.append(("embedding_", embedding))
    train = model._train_embedding()
    if train is not embedding:
        # unique=True or rows left out (ensure_all_finite): the embedded points' coordinates
        # and the map from the rows to them
        arrays.append(("_fit_embedding", train))
        if getattr(model, "_row_map", None) is not None:
            arrays.append(("_row_map", model._row_map))
        if model.unique:
            arrays.append(("_unique_inverse_", model._unique_inverse_))
    if hasattr(model, "embedding_list_"):
        arrays.append(("embedding_list_", np.stack(model.embedding_list_)))
    for name in ("_knn_indices", "_knn_dists", "_sigmas", "_rhos"):
        if getattr(model, name, None) is not None:
            arrays.append((name, getattr(model, name)))
    for name in ("rad_orig_", "rad_emb_"):
        if hasattr(model, name):
            arrays.append((name, getattr(model, name)))
    if getattr(model, "graph_", None) is None:
        header["graph_shape"] = None  # left out of umapc.dask's copy for the workers
    else:
        graph = scipy.sparse.csr_matrix(model.graph_)
        header["graph_shape"] = list(graph.shape)
        arrays += [
            ("graph.indptr", graph.indptr),
            ("graph.indices", graph.indices),
            ("graph.data", graph.data),
        ]

    index = getattr(model, "_knn_search_index", None)
    index_blob = b""
    from .umap_ import _ROWS_IN_INDEX

    fit_data = model.__dict__.get("_fit_data_value")
    raw_data = model.__dict__.get("_raw_data_value")
    rows_from = "none"
    if isinstance(index, NNIndex) and callable(index.metric):
        if objects is None:
            raise ValueError(
                "UMAP.save: the model's search index has a custom (callable) metric, which is "
                "code, not data; pickle the model instead"
            )
        objects["_knn_search_index"] = index
        header["index"] = "object"
    elif isinstance(index, NNIndex):
        with index._lock:
            index_blob = index._core_index().serialize(index._meta())
        header["index"] = "nnindex"
    else:
        header["index"] = None
    if fit_data is not None:
        if fit_data is _ROWS_IN_INDEX or (
            index is not None and _is_same(fit_data, index._raw_data)
        ):
            rows_from = "index"
        elif model.metric == "precomputed":
            rows_from = "none"  # the square distance matrix: transform takes new distances
        else:
            rows_from = "stored"
            _store_rows(fit_data, arrays, header)
    header["rows"] = rows_from
    if raw_data is None:
        kept = getattr(model, "_raw_data_fingerprint", None)  # a loaded model saved again
        header["raw_data"] = None if kept is None else {"fingerprint": kept}
    elif raw_data is fit_data and rows_from != "none":  # also both _ROWS_IN_INDEX
        header["raw_data"] = "fit_data"
    else:
        header["raw_data"] = {"fingerprint": fingerprint(raw_data)}

    table, chunks = [], []
    for name, array in arrays:
        array = np.ascontiguousarray(array)
        dtype = _ARRAYS[name][0] if name in _ARRAYS else array.dtype.str
        if array.dtype.str != dtype:
            array = array.astype(dtype)
        table.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape)})
        chunks.append(memoryview(array).cast("B") if array.size else b"")
    header["arrays"] = table
    header["index_bytes"] = len(index_blob)
    text = json.dumps(header).encode()
    head = [MAGIC, struct.pack("<IQ", FORMAT_VERSION, len(text)), text, *chunks]
    crc = 0
    for part in head:
        crc = zlib.crc32(part, crc)
    # the index section carries its own checksum (the C index file's, the sparse index's)
    return b"".join([*head, index_blob, struct.pack("<I", crc)])


def _is_same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if scipy.sparse.issparse(a) != scipy.sparse.issparse(b) or a.shape != b.shape:
        return False
    if scipy.sparse.issparse(a):
        return (a != b).nnz == 0
    return bool(np.array_equal(a, b))


def _store_rows(rows: Any, arrays: list[tuple[str, np.ndarray]], header: dict[str, Any]) -> None:
    if scipy.sparse.issparse(rows):
        header["rows_shape"] = list(rows.shape)
        arrays += [("rows.indptr", rows.indptr), ("rows.indices", rows.indices)]
        arrays.append(("rows.data", rows.data))
        return
    packed = _core.pack_rows(rows)
    if packed is None:
        arrays.append(("rows", rows))
    else:
        arrays += [("rows.lo", packed[0]), ("rows.codes", packed[1])]


def _umapc_version() -> str:
    from . import __version__

    return __version__


def save(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s file (``UMAP.save``) through the C library's atomic writer."""
    _core.write_file(os.fspath(path), dumps(model, objects=None))


def load(path: str | os.PathLike[str]) -> Any:
    """Read a fitted :class:`umapc.UMAP` written by ``UMAP.save``.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    umapc.UMAP
        The fitted model: its ``transform`` gives the bytes the saved model's gave.

    Raises
    ------
    umapc.CorruptIndexError
        (a ``ValueError``) for a truncated, corrupt, foreign or malformed file.
    umapc.UnsupportedModelVersionError
        (a ``CorruptIndexError``) for a file of a newer format than this umapc reads.
    OSError
        When the file cannot be read (missing, a folder, no permission).
    """
    from .umap_ import UMAP

    model = UMAP.__new__(UMAP)
    restore(model, _core.read_file(os.fspath(path)), {})
    return model


def restore(model: Any, blob: Any, objects: dict[str, Any]) -> None:
    """Fill ``model`` (a bare UMAP) from :func:`dumps`' bytes; :class:`CorruptIndexError` for
    anything malformed, :class:`UnsupportedModelVersionError` for a newer format."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise CorruptIndexError("a umapc model must be bytes")
    blob = memoryview(blob).cast("B")
    if len(blob) < len(MAGIC) or bytes(blob[: len(MAGIC)]) != MAGIC:
        if bytes(blob[: len(_INDEX_MAGIC)]) == _INDEX_MAGIC:
            raise CorruptIndexError("not a umapc model file: an NNIndex file (NNIndex.load)")
        raise CorruptIndexError("not a umapc model file (wrong magic)")
    if len(blob) < _HEAD + 4:
        raise CorruptIndexError("the umapc model file is truncated")
    version, text_len = struct.unpack("<IQ", blob[len(MAGIC) : _HEAD])
    if version > FORMAT_VERSION:
        raise UnsupportedModelVersionError(
            f"the umapc model file has format version {version}, newer than this umapc "
            f"({_umapc_version()}) reads (up to {FORMAT_VERSION}); load it with a newer umapc"
        )
    if version < 1:
        raise CorruptIndexError(f"the umapc model file has an invalid format version {version}")
    try:
        _restore(model, blob[:-4], text_len, objects, struct.unpack("<I", blob[-4:])[0])
    except CorruptIndexError:
        raise
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
        OverflowError,
        struct.error,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:
        raise CorruptIndexError(f"the umapc model file is malformed: {exc}") from exc


def _restore(
    model: Any, body: memoryview, text_len: int, objects: dict[str, Any], crc: int
) -> None:
    from .index import NNIndex, _deserialize_core_index, _stored_int

    if _HEAD + text_len > len(body):
        raise CorruptIndexError("the umapc model file is truncated (its header runs past the end)")
    try:
        header = json.loads(bytes(body[_HEAD : _HEAD + text_len]).decode())
        index_bytes = _stored_int(header["index_bytes"], "index length", 0)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptIndexError(f"the umapc model file's header is corrupt: {exc}") from exc
    if index_bytes > len(body) or zlib.crc32(body[: len(body) - index_bytes]) != crc:
        raise CorruptIndexError("the umapc model file is corrupt or truncated (checksum mismatch)")
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    at = _HEAD + text_len
    arrays: dict[str, np.ndarray] = {}
    for entry in header["arrays"]:
        name, dtype, shape = entry["name"], np.dtype(entry["dtype"]), entry["shape"]
        if dtype.str not in ("<f4", "<f8", "<i4", "<i8", "|u1", "|b1"):
            raise ValueError(f"array {name!r} has an unsupported dtype {dtype.str}")
        if name in _ARRAYS and (dtype.str, len(shape)) != _ARRAYS[name]:
            raise ValueError(f"array {name!r} has dtype {dtype.str} and {len(shape)} dimensions")
        shape = tuple(_stored_int(s, f"{name} shape", 0) for s in shape)
        count = int(np.prod(shape, dtype=np.uint64)) if shape else 1
        size = count * dtype.itemsize
        if at + size > len(body):
            raise ValueError(f"array {name!r} runs past the end")
        arrays[name] = np.frombuffer(body, dtype=dtype, count=count, offset=at).reshape(shape)
        arrays[name] = arrays[name].copy()
        at += size
    if at + index_bytes != len(body):
        raise ValueError("the file's length does not match its header")

    from .umap_ import UMAP

    params = UMAP().get_params(deep=False)
    stored = header["params"]
    unknown = set(stored) - set(params)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)} (a newer umapc's file?)")
    params.update({k: _decode(v, arrays) for k, v in stored.items()})
    params.update(_NOT_STORED)
    for name, value in objects.items():
        if name in params:
            params[name] = value
    model.__dict__.clear()
    UMAP.__init__(model, **params)
    model._validate_parameters()
    for key, value in header["scalars"].items():
        if key not in _SCALARS:
            raise ValueError(f"unknown fitted value {key!r}")
        model.__dict__[key] = value
    names = header["feature_names_in_"]
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)

    embedding = arrays["embedding_"]
    train = arrays.get("_fit_embedding", embedding)
    m = train.shape[0]
    model.embedding_ = embedding
    if "_fit_embedding" in arrays:
        model._fit_embedding = train
    n_rows = embedding.shape[0]
    if "_row_map" in arrays:
        row_map = arrays["_row_map"]
        if row_map.shape != (n_rows,) or (
            row_map.size and (row_map.min() < -1 or row_map.max() >= m)
        ):
            raise ValueError("_row_map does not fit the embedding")
        model._row_map = row_map
        n_rows = int(np.count_nonzero(row_map >= 0))
    if "_unique_inverse_" in arrays:
        inverse = arrays["_unique_inverse_"]
        if inverse.shape != (n_rows,) or (
            inverse.size and (inverse.min() < 0 or inverse.max() >= m)
        ):
            raise ValueError("_unique_inverse_ does not fit the embedding")
        model._unique_inverse_ = inverse
    elif train is not embedding and "_row_map" not in arrays:
        raise ValueError("_fit_embedding without _unique_inverse_ or _row_map")
    if "embedding_list_" in arrays:
        snapshots = arrays["embedding_list_"]
        if snapshots.shape[1:] != embedding.shape:
            raise ValueError("embedding_list_ does not fit the embedding")
        model.embedding_list_ = list(snapshots)
    model.graph_ = None if header["graph_shape"] is None else _stored_graph(arrays, header, m)
    for name in ("_knn_indices", "_knn_dists"):
        if name in arrays:
            a = arrays[name]
            if a.shape[0] != m:
                raise ValueError(f"{name} has {a.shape[0]} rows for {m} embedded points")
            setattr(model, name, a)
    knn = getattr(model, "_knn_indices", None)
    if knn is not None and knn.size and (knn.min() < -1 or knn.max() >= m):
        raise ValueError("_knn_indices are out of range")
    for name in ("_sigmas", "_rhos"):
        if name in arrays:
            if arrays[name].shape != (m,):
                raise ValueError(f"{name} does not fit the embedding")
            setattr(model, name, arrays[name])
    for name in ("rad_orig_", "rad_emb_"):
        if name in arrays:
            setattr(model, name, arrays[name])

    kind = header["index"]
    index = None
    if kind == "nnindex":
        core_index, meta = _deserialize_core_index(body[at : at + index_bytes])
        index = NNIndex._from_parts(core_index, meta)
    elif kind == "object":
        index = objects.get("_knn_search_index")
        if not isinstance(index, NNIndex):
            raise ValueError("the pickled model lacks its search index")
    elif kind is not None:
        raise ValueError(f"unknown index kind {kind!r}")
    if index is not None:
        n_rows, n_cols = index._shape()
        if n_rows != m or n_cols != model.n_features_in_:
            raise ValueError(
                f"the search index holds {n_rows} x {n_cols} rows, the model {m} x "
                f"{model.n_features_in_}"
            )
    model._knn_search_index = index

    from .umap_ import _ROWS_IN_INDEX

    rows_from = header["rows"]
    if rows_from == "index":
        if index is None:
            raise ValueError("rows in the index, but no index")
        fit_data = _ROWS_IN_INDEX
    elif rows_from == "stored":
        fit_data = _stored_rows(arrays, header)
        if fit_data.shape != (m, model.n_features_in_):
            raise ValueError("the stored rows do not fit the model")
    elif rows_from == "none":
        fit_data = None
    else:
        raise ValueError(f"unknown rows source {rows_from!r}")
    model._fit_data = fit_data
    raw = header["raw_data"]
    if raw == "fit_data":
        model._raw_data = fit_data
    elif raw is None or isinstance(raw, dict):
        model._raw_data = None
        if isinstance(raw, dict):
            fp = raw["fingerprint"]
            if not isinstance(fp, dict) or {"shape", "sparse", "crc"} - set(fp):
                raise ValueError("the training data's fingerprint is malformed")
            model._raw_data_fingerprint = fp
    else:
        raise ValueError(f"unknown raw_data entry {raw!r}")


def _stored_graph(arrays: dict[str, np.ndarray], header: dict[str, Any], m: int) -> Any:
    from .index import _stored_int

    gshape = tuple(_stored_int(s, "graph shape", 0) for s in header["graph_shape"])
    if gshape != (m, m):
        raise ValueError(f"graph_ has shape {gshape} for {m} embedded points")
    indptr, indices, data = (arrays[f"graph.{k}"] for k in ("indptr", "indices", "data"))
    if indptr.shape != (m + 1,):
        raise ValueError("graph_ indptr does not fit its shape")
    # the structure (indptr monotone, columns in range) and finite weights, checked in C
    _core.sparse_check_data((indptr, indices, data, m), "euclidean", 2.0, None)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=gshape)


def _stored_rows(arrays: dict[str, np.ndarray], header: dict[str, Any]) -> Any:
    if "rows.codes" in arrays:
        return _core.unpack_rows(arrays["rows.lo"], arrays["rows.codes"])
    if "rows" in arrays:
        return arrays["rows"]
    shape = tuple(header["rows_shape"])
    indptr, indices, data = (arrays[f"rows.{k}"] for k in ("indptr", "indices", "data"))
    _core.sparse_check_data((indptr, indices, data, shape[1]), "euclidean", 2.0, None)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)
