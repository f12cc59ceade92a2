"""umapc: UMAP and nearest-neighbour search with the whole compute core in C.

``from umapc import UMAP`` replaces ``from umap import UMAP``; ``umapc.NNIndex`` replaces
``pynndescent.NNDescent``. Heavy modules (scikit-learn, scipy) load on first use of a class, so
``import umapc`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import version as _c_version

__version__ = "0.1.0"
__all__ = ["UMAP", "CorruptIndexError", "NNIndex", "__version__"]

if TYPE_CHECKING:
    from .index import CorruptIndexError, NNIndex
    from .umap_ import UMAP

_LAZY = {"UMAP": ".umap_", "NNIndex": ".index", "CorruptIndexError": ".index"}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'umapc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


assert _c_version() == __version__, "umapc: Python package and C library versions differ"
