"""umapc: UMAP and nearest-neighbour search with the whole compute core in C.

``from umapc import UMAP`` replaces ``from umap import UMAP``; ``umapc.NNIndex`` replaces
``pynndescent.NNDescent`` and ``umapc.NNTransformer`` its ``PyNNDescentTransformer``;
``umapc.AlignedUMAP`` replaces ``umap.AlignedUMAP``;
``umapc.embed_graph`` lays out a given fuzzy graph and ``umapc.scanpy.umap`` replaces
``scanpy.tl.umap``. Heavy modules (scikit-learn, scipy) load on first use of a name, so
``import umapc`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import simd_level as _c_simd_level
from ._core import version as _c_version

__version__ = "0.1.0"
__all__ = [
    "AlignedUMAP",
    "UMAP",
    "CorruptIndexError",
    "NNIndex",
    "NNTransformer",
    "UnsupportedModelVersionError",
    "__version__",
    "embed_graph",
    "load",
    "simd_level",
]

if TYPE_CHECKING:
    from . import scanpy as scanpy
    from ._model import UnsupportedModelVersionError, load
    from .aligned_umap import AlignedUMAP
    from .embedding import embed_graph
    from .index import CorruptIndexError, NNIndex
    from .transformer import NNTransformer
    from .umap_ import UMAP

_LAZY = {
    "AlignedUMAP": ".aligned_umap",
    "UMAP": ".umap_",
    "NNIndex": ".index",
    "CorruptIndexError": ".index",
    "NNTransformer": ".transformer",
    "embed_graph": ".embedding",
    "load": "._model",
    "UnsupportedModelVersionError": "._model",
}
# Submodules reached as attributes (``umapc.scanpy.umap``) without importing them first.
_LAZY_MODULES = {"scanpy": ".scanpy"}


def simd_level() -> str:
    """Return the SIMD instruction level the compute kernels use in this process.

    Every stage (distances, exact search, HNSW, NN-descent, 8-bit code kernels) runs at this one
    level. It is the best level the CPU supports, or the level named by the environment variable
    ``UMAPC_SIMD`` (``scalar``, ``avx2``, ``avx512`` or ``neon``) when the CPU supports that one;
    asking for more than the CPU has, or an unknown name, gives the CPU's best. The variable is
    read once, on first use of the kernels, and the level stays fixed for the process.

    Returns
    -------
    str
        ``"scalar"``, ``"avx2"`` or ``"avx512"`` on x86, ``"scalar"`` or ``"neon"`` on 64-bit
        ARM.

    Examples
    --------
    >>> import umapc
    >>> umapc.simd_level() in {"scalar", "avx2", "avx512", "neon"}
    True
    """
    return str(_c_simd_level())


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name], __name__)
        globals()[name] = value
        return value
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'umapc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


assert _c_version() == __version__, "umapc: Python package and C library versions differ"
