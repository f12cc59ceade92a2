"""Custom metrics: a user's callable as a ``_core.CustomMetric`` the C library calls.

A numba-compiled function (``@numba.njit``, what umap-learn users pass) is wrapped in a numba
``cfunc`` with a fixed C signature, compiled once per function and parameters, and called from the
C kernels' threads without the GIL. Any other callable is called through the Python interpreter,
with the GIL taken for every distance: correct but slow (the threads take turns), hence the
warning. numba is imported only here, and only for a numba function.

The calling convention is pynndescent's and umap-learn's: ``metric(x, y, *metric_kwds.values())``
on two 1-d float32 arrays, returning a distance; an output metric returns ``(distance,
gradient_in_x)``.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Callable

from . import _core

__all__ = ["is_numba_function", "make_custom_metric"]

# Compiled wrappers per numba function, keyed by (output, parameters) where those hash: a fit that
# builds its index, then transform, then another fit need one compilation, not three.
_COMPILED: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def is_numba_function(function: Any) -> bool:
    """Whether ``function`` is a numba dispatcher (``@numba.njit``), without importing numba."""
    return type(function).__module__.startswith("numba") and hasattr(function, "py_func")


def _compile(function: Any, args: tuple[Any, ...], output: bool) -> Any:
    """The numba cfunc calling ``function(x, y, *args)`` on the C library's rows."""
    import numba
    from numba import types
    from numba.core.errors import NumbaError

    row = types.CPointer(types.float32)
    if output:

        def call(x, y, grad, dim):  # pragma: no cover - compiled by numba
            d, g = function(numba.carray(x, (dim,)), numba.carray(y, (dim,)), *args)
            out = numba.carray(grad, (dim,))
            for i in range(dim):
                out[i] = g[i]
            return d

        signature = types.float32(row, row, row, types.int64)
    else:

        def call(x, y, dim):  # pragma: no cover - compiled by numba
            return function(numba.carray(x, (dim,)), numba.carray(y, (dim,)), *args)

        signature = types.float32(row, row, types.int64)
    try:
        return numba.cfunc(signature, nopython=True)(call)
    except NumbaError as exc:
        kind = "output metric (returning distance, gradient)" if output else "metric"
        raise TypeError(
            f"the custom {kind} could not be compiled for two float32 rows"
            f"{' and metric_kwds ' + repr(args) if args else ''}: {exc}"
        ) from None


def _cached_cfunc(function: Any, args: tuple[Any, ...], output: bool) -> Any:
    try:
        key = (output, args)
        hash(key)
        per_function = _COMPILED.setdefault(function, {})
    except TypeError:  # array parameters, or a function without weak references
        return _compile(function, args, output)
    if key not in per_function:
        per_function[key] = _compile(function, args, output)
    return per_function[key]


def make_custom_metric(
    function: Callable[..., Any],
    kwds: dict[str, Any] | None,
    *,
    output: bool = False,
    what: str = "metric",
) -> Any:
    """``function`` with ``kwds`` as a ``_core.CustomMetric``.

    Parameters
    ----------
    function : callable
        ``function(x, y, *kwds.values())`` on two 1-d float32 arrays, returning a float (or,
        with ``output``, a ``(distance, gradient)`` pair, the gradient in ``x``).
    kwds : dict or None
        The metric's parameters, passed positionally in their order (umap-learn's convention).
    output : bool, default=False
        An output metric of the embedding.
    what : str
        The argument's name for the warning.

    Returns
    -------
    _core.CustomMetric

    Warns
    -----
    UserWarning
        When ``function`` is not numba-compiled: each distance is then a Python call holding the
        GIL, often 100-1000 times slower than a compiled metric.
    """
    args = tuple((kwds or {}).values())
    if is_numba_function(function):
        cfunc = _cached_cfunc(function, args, output)
        return _core.CustomMetric(cfunc, address=cfunc.address, output=output)
    warnings.warn(
        f"{what} is a plain Python callable: every distance is a Python call made with the GIL "
        "held (one thread at a time), far slower than a named metric or a numba-compiled "
        "(@numba.njit) one",
        UserWarning,
        stacklevel=3,
    )
    return _core.CustomMetric(function, args=args, output=output)
