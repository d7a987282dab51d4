"""The project-wide ``njit``: every kernel releases the GIL, caching is switchable.

Why a wrapper: a kernel that holds the GIL starves a Dask worker's heartbeat thread
and gets the worker killed, so ``nogil=True`` is not optional here.

Why our own cache location: Numba keys a cached function by its own file's
timestamp only, so after an edit to a kernel that another module calls, the
caller's stale machine code (with the old kernel inlined) would be loaded. Our
cache directory is keyed by :data:`KERNELS_HASH` (the kernel sources: every
module of this package but the Dask glue and the warm-up, which compile nothing)
and the Numba version instead, so any change to a kernel starts a fresh cache.
The same hash is what clients and workers compare (see ``aerdask_worker.versions``).
If no directory is writable, functions compile in memory rather than fail the
import.

Why threads are launched on a cache hit: Numba starts its thread pool when it
compiles a parallel function or loads one from the cache, but not when it loads a
plain function (``apply_matrix``) whose machine code calls a parallel one it
inlined; calling that from a fresh process segfaulted. Every cached function of
this package therefore launches the pool before its cached code is linked.

Why serial copies: Numba compiles a function with everything it calls, so the
interpreter drags in every parallel loop and the cache-blocked kernels even for a
10-qubit job. :func:`serial_variant` copies a kernel's call tree without
``parallel`` (and with stubs for paths a small state never takes); small states run
that copy, which halves the first job's compile on a new machine.

Settings (see :mod:`.settings`; e.g. ``DASK_AERDASK__NUMBA__CACHE_DIR``):
    aerdask.numba.cache: false switches on-disk caching off (default true).
    aerdask.numba.cache-dir: where the cache lives (default ``NUMBA_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/aerdask`` or ``~/.cache/aerdask``).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import types
import warnings

import numba
from numba.core import caching

from . import settings

__all__ = ["njit", "serial_variant", "CACHE_ENABLED", "KERNELS_HASH"]

CACHE_ENABLED = settings.get_bool("numba.cache")

# Only thread-safe layers (omp or tbb): the workqueue layer aborts the process when
# two threads call a parallel kernel at once, which a thread pool or a multi-threaded
# Dask worker does all the time. An explicit NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"


_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent


#: Modules that are not kernels: editing them neither changes results nor invalidates the cache.
NOT_KERNELS = frozenset({"warmup.py"})


def _kernels_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.glob("*.py")):
        if path.name not in NOT_KERNELS:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


#: Hash of the kernel sources: what a client and its workers must share for equal results.
KERNELS_HASH = _kernels_hash()


def _cache_root() -> pathlib.Path:
    explicit = settings.get("numba.cache-dir") or os.environ.get("NUMBA_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit) / "aerdask"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "aerdask"


SOURCE_HASH = hashlib.sha256(f"{numba.__version__} {KERNELS_HASH}".encode()).hexdigest()[:16]


class _AerdaskCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Caches this package's functions under a directory named by the hash of its sources."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(_cache_root() / SOURCE_HASH / pathlib.Path(py_file).stem)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return SOURCE_HASH

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if pathlib.Path(py_file).resolve().parent != _PACKAGE_DIR:
                return None
        except OSError:
            return None
        return super().from_function(py_func, py_file)


def _install_locator() -> bool:
    try:
        classes = caching.CacheImpl._locator_classes
    except AttributeError:  # Numba changed its internals: never risk a stale cache
        return False
    if _AerdaskCacheLocator not in classes:
        classes.insert(0, _AerdaskCacheLocator)
    return True


def _cache_usable() -> bool:
    try:
        path = _cache_root() / SOURCE_HASH
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


CACHE_ENABLED = CACHE_ENABLED and _install_locator() and _cache_usable()


def _launch_threads_on_load(dispatcher):
    """Make a cache hit start Numba's thread pool, as compiling would (see module docstring)."""
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    if load is None:  # Numba changed its internals: compile in memory rather than risk it
        return False

    def load_overload(sig, target_context):
        # Before the load: linking the cached code resolves the thread pool's symbols.
        from numba.np.ufunc.parallel import _launch_threads

        _launch_threads()
        return load(sig, target_context)

    cache.load_overload = load_overload
    return True


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
                    dispatcher = numba.njit(cache=True, **kwargs)(fn)
                if _launch_threads_on_load(dispatcher):
                    return dispatcher
            except RuntimeError:
                pass  # no writable cache locator: compile in memory instead
        return numba.njit(cache=False, **kwargs)(fn)

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate


def serial_variant(dispatcher, replace: dict | None = None, _made: dict | None = None):
    """A copy of a kernel and of every aerdask kernel it calls, compiled without ``parallel``.

    Why: Numba compiles a function together with everything it calls, and the parallel
    loops (and the cache blocks) are most of the cold compile. A small state never
    uses them, so it runs a serial copy that compiles in a fraction of the time. The
    copies share the source (``prange`` is ``range`` without ``parallel``); only the
    globals they call through are rebound, and ``_serial`` in their qualified names
    gives them cache files of their own.

    Args:
        dispatcher: A function made by :func:`njit`.
        replace: Global name -> dispatcher to call instead, in every copied function
            (e.g. a stub for a path the serial copy never takes).

    Returns:
        The dispatcher of the copy.

    """
    made = {} if _made is None else _made
    if dispatcher in made:
        return made[dispatcher]
    fn = dispatcher.py_func
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = namespace.get(name)
        if replace and name in replace:
            namespace[name] = replace[name]
        elif isinstance(value, numba.core.registry.CPUDispatcher) and value.py_func.__module__.startswith(__package__):
            namespace[name] = serial_variant(value, replace, made)
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + "_serial"
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    options = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("parallel", "cache", "nopython")}
    made[dispatcher] = njit(**options)(copy)
    return made[dispatcher]
