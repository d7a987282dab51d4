"""The project-wide ``njit``: every kernel releases the GIL, caching is switchable.

Why a wrapper: a kernel that holds the GIL starves a Dask worker's heartbeat thread
and gets the worker killed, so ``nogil=True`` is not optional here. Caching needs a
writable directory; an installed package's ``__pycache__`` often is not one, and
Numba then raises at decoration time, so we fall back to an uncached function
rather than fail the import.

Environment variables:
    AERDASK_NUMBA_CACHE: ``0`` switches on-disk caching off (default ``1``).
    NUMBA_CACHE_DIR: Numba's own setting; honoured when writable.
"""

from __future__ import annotations

import os
import warnings

import numba

__all__ = ["njit", "CACHE_ENABLED"]

CACHE_ENABLED = os.environ.get("AERDASK_NUMBA_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}

# Only thread-safe layers (omp or tbb): the workqueue layer aborts the process when
# two threads call a parallel kernel at once, which a thread pool or a multi-threaded
# Dask worker does all the time. An explicit NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"


def njit(*args, **kwargs):
    """``numba.njit`` with ``nogil=True`` and optional on-disk caching.

    Used bare (``@njit``) or with options (``@njit(parallel=True)``). If no cache
    directory is writable, the function is compiled without a cache.
    """
    kwargs.setdefault("nogil", True)
    if not kwargs["nogil"]:
        raise ValueError("aerdask kernels must release the GIL (nogil=True)")

    def decorate(fn):
        if CACHE_ENABLED:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", numba.NumbaWarning)
                    return numba.njit(cache=True, **kwargs)(fn)
            except RuntimeError:
                pass  # no writable cache locator: compile in memory instead
        return numba.njit(cache=False, **kwargs)(fn)

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate
