"""The project-wide ``njit``: every kernel releases the GIL, caching is switchable.

Why a wrapper: a kernel that holds the GIL starves a Dask worker's heartbeat thread
and gets the worker killed, so ``nogil=True`` is not optional here.

Why our own cache location: Numba keys a cached function by its own file's
timestamp only, so after an edit to a kernel that another module calls, the
caller's stale machine code (with the old kernel inlined) would be loaded. Our
cache directory is keyed by :func:`.keys.cache_key` (the code, without docstrings
or comments, of exactly the modules Numba compiles) and the Numba version instead,
so any change to compiled code starts a fresh cache and nothing else does. Within it
a function is found by its qualified name and the code of its own source, not by its
line number (Numba's default), so moving it or editing a docstring above it keeps it.
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

Why a :class:`Kernel` and not Numba's dispatcher: importing Numba and initialising its
code generator costs about a second before the first kernel runs, even with a warm
cache, and compiling the interpreter cold costs tens of seconds. A :class:`Kernel`
keeps its Python function and makes the dispatcher only when a compiled call first
needs it, so ``import aerdask_kernels`` loads no Numba. Calls made under
:func:`interpreted` run the Python source itself (``prange`` is ``range`` there):
the same statements, so the same results, for the small jobs that finish faster
that way than Numba starts (see :mod:`.readiness`).

Settings (see :mod:`.settings`; e.g. ``DASK_AERDASK__NUMBA__CACHE_DIR``):
    aerdask.numba.cache: false switches on-disk caching off (default true).
    aerdask.numba.cache-dir: where the cache lives (default ``NUMBA_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/aerdask`` or ``~/.cache/aerdask``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import pathlib
import textwrap
import threading
import time
import types
import warnings

try:  # POSIX: the cache's saves and loads are locked across processes (see cache_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per cache directory
    fcntl = None

from . import settings

__all__ = [
    "Kernel",
    "njit",
    "prange",
    "serial_variant",
    "interpreted",
    "is_interpreted",
    "chosen",
    "numba_loaded",
    "load_numba",
    "compiling_for",
]

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent


def prange(*args):
    """``range`` for kernels run as Python; each kernel's ``prange`` becomes Numba's when it compiles."""
    return range(*args)


_INTERPRETED = contextvars.ContextVar("aerdask_kernels_interpreted", default=None)


@contextlib.contextmanager
def interpreted(on: bool = True):
    """Within this block, kernels called from this thread run as Python (``on``) or compiled."""
    token = _INTERPRETED.set(bool(on))
    try:
        yield
    finally:
        _INTERPRETED.reset(token)


_rows_chooser = None


def choose_kernels_for_rows(chooser) -> None:
    """Say how work of a few rows picks Python or compiled kernels (:mod:`.readiness` registers itself).

    ``chooser(rows, precision)`` is a context manager yielding whether the kernels run as Python.
    """
    global _rows_chooser
    _rows_chooser = chooser


def kernels_for_rows(rows: int, precision: str = "double"):
    """The registered choice for work of ``rows`` opcode rows (validating a program, say).

    Why a registry: the program format sits below the readiness bookkeeping, which reads
    programs; without one registered (never, once the package is imported), compiled.
    """
    if _rows_chooser is None:
        return interpreted(False) if chosen() is None else contextlib.nullcontext(is_interpreted())
    return _rows_chooser(rows, precision)


def is_interpreted() -> bool:
    """Whether kernels called from this thread run as Python now (see :func:`interpreted`)."""
    return bool(_INTERPRETED.get())


def chosen() -> bool | None:
    """The enclosing :func:`interpreted` choice of this thread: True, False, or None (none made)."""
    return _INTERPRETED.get()


# -- Numba, loaded on first compiled use --------------------------------------------------

_load_lock = threading.RLock()
_numba = None  # the module, once loaded and configured
_cache_enabled = False


def _cache_root() -> pathlib.Path:
    explicit = settings.get("numba.cache-dir") or os.environ.get("NUMBA_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit) / "aerdask"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "aerdask"


def _source_hash(numba_version: str) -> str:
    from .keys import cache_key

    # The kernel settings are compiled in as constants (block sizes, thresholds): machine code
    # built under other values must not be loaded, so they are part of the key too.
    compiled = {key: settings.get(key) for key in settings.COMPILED}
    return hashlib.sha256(f"{numba_version} {cache_key()} {compiled!r}".encode()).hexdigest()[:16]


def _function_stamp(py_func) -> str:
    """A function's place in the cache: the code of its source, not its line number (see the module docs)."""
    import inspect

    from .keys import code_digest

    try:
        source = inspect.getsource(py_func)
    except (OSError, TypeError):
        return str(py_func.__code__.co_firstlineno)
    return hashlib.sha256(code_digest(textwrap.dedent(source))).hexdigest()[:12]


def _locator_class(numba, source_hash: str):
    from numba.core import caching

    class AerdaskCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """Caches this package's functions under a directory named by the hash of its sources."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._stamp = _function_stamp(py_func)
            module = pathlib.Path(py_file).resolve().relative_to(_PACKAGE_DIR).with_suffix("")
            self._cache_path = str(_cache_root() / source_hash / module)

        def get_disambiguator(self):
            return self._stamp

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return source_hash

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                if _PACKAGE_DIR not in pathlib.Path(py_file).resolve().parents:
                    return None
            except OSError:
                return None
            return super().from_function(py_func, py_file)

    return AerdaskCacheLocator


def _install_locator(numba, source_hash: str) -> bool:
    from numba.core import caching

    try:
        classes = caching.CacheImpl._locator_classes
    except AttributeError:  # Numba changed its internals: never risk a stale cache
        return False
    if not any(getattr(c, "__name__", "") == "AerdaskCacheLocator" for c in classes):
        classes.insert(0, _locator_class(numba, source_hash))
    return True


def _cache_usable(source_hash: str) -> bool:
    try:
        path = _cache_root() / source_hash
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def load_numba():
    """Import and configure Numba once per process (threading layer, cache); returns the module."""
    global _numba, _cache_enabled
    with _load_lock:
        if _numba is None:
            import numba

            # Only thread-safe layers (omp or tbb): the workqueue layer aborts the process when
            # two threads call a parallel kernel at once, which a thread pool or a multi-threaded
            # Dask worker does all the time. An explicit NUMBA_THREADING_LAYER wins.
            if "NUMBA_THREADING_LAYER" not in os.environ:
                numba.config.THREADING_LAYER = "threadsafe"
            source_hash = _source_hash(numba.__version__)
            _cache_enabled = (
                settings.get_bool("numba.cache") and _install_locator(numba, source_hash) and _cache_usable(source_hash)
            )
            _watch_compiles(numba)
            _numba = numba
    return _numba


_compiles: dict[int, list] = {}  # thread id -> [depth, start] of the compile running in it


def _watch_compiles(numba) -> None:
    from numba.core import event

    class CompileWatch(event.Listener):
        # Numba emits the events in the compiling thread; nested compiles (callees) count once.
        def on_start(self, ev):
            entry = _compiles.setdefault(threading.get_ident(), [0, time.monotonic()])
            entry[0] += 1

        def on_end(self, ev):
            me = threading.get_ident()
            entry = _compiles.get(me)
            if entry is not None:
                entry[0] -= 1
                if entry[0] <= 0:
                    del _compiles[me]

    event.register("numba:compile", CompileWatch())


def compiling_for() -> float:
    """Seconds the longest Numba compile now running in this process has lasted (0.0: none)."""
    starts = [entry[1] for entry in list(_compiles.values())]
    return time.monotonic() - min(starts) if starts else 0.0


def numba_loaded() -> bool:
    """Whether this process has loaded Numba for the kernels (a compiled call or a warm-up)."""
    return _numba is not None


def cache_enabled() -> bool:
    """Whether compiled kernels are cached on disk (known once Numba is loaded)."""
    load_numba()
    return _cache_enabled


_held = threading.local()  # lock files this thread holds (a nested load must not wait on itself)


@contextlib.contextmanager
def cache_lock(directory: str):
    """Hold the lock of a cache directory against every other process and thread using it.

    Why: Numba saves an entry by reading the function's index, choosing a free data file,
    writing the index, then the data. Two processes compiling the same function at once
    (a cluster's workers warming up while the client compiles, on one shared cache) can
    leave an index that names one signature beside the data of another: a later process
    then runs, say, a kernel specialised for a literal 0 where any integer is passed, and
    gets wrong amplitudes. Saves and loads under one ``flock`` per directory cannot interleave.
    """
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if fcntl is None or directory in held:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        held.add(directory)
        try:
            yield
        finally:
            held.discard(directory)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _guard_cache(dispatcher) -> bool:
    """Make the dispatcher's cache safe to share, and a cache hit start Numba's thread pool.

    Loads and saves hold :func:`cache_lock`; a load first launches the thread pool, as
    compiling would (see the module docstring). False when Numba's internals changed.
    """
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    save = getattr(cache, "save_overload", None)
    directory = getattr(cache, "_cache_path", None)
    if load is None or save is None or directory is None:  # compile in memory rather than risk it
        return False

    def load_overload(sig, target_context):
        # Before the load: linking the cached code resolves the thread pool's symbols.
        from numba.np.ufunc.parallel import _launch_threads

        _launch_threads()
        with cache_lock(directory):
            return load(sig, target_context)

    def save_overload(sig, data):
        with cache_lock(directory):
            return save(sig, data)

    cache.load_overload = load_overload
    cache.save_overload = save_overload
    return True


def _dispatcher(fn, options: dict):
    numba = load_numba()
    if fn.__globals__.get("prange") is prange:  # Numba parallelises only its own prange
        fn.__globals__["prange"] = numba.prange
    if _cache_enabled:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                dispatcher = numba.njit(cache=True, **options)(fn)
            if _guard_cache(dispatcher):
                return dispatcher
        except RuntimeError:
            pass  # no writable cache locator: compile in memory instead
    return numba.njit(cache=False, **options)(fn)


class Kernel:
    """A kernel: its Python function, and the Numba dispatcher made from it on first compiled use.

    Calling it runs the dispatcher, or the Python function under :func:`interpreted`.
    Numba compiles calls from one kernel to another as calls between dispatchers: it
    reads ``_numba_type_`` for the type, and ``py_func`` and ``targetoptions`` to inline.

    Attributes:
        py_func: The Python function.
        targetoptions: The options of ``numba.njit`` (``nogil``, ``parallel``, ``inline``...).
    """

    def __init__(self, fn, options: dict):
        self.py_func = fn
        self.targetoptions = options
        self._compiled = None
        functools.update_wrapper(self, fn)

    @property
    def dispatcher(self):
        """The Numba dispatcher (Numba is loaded and the dispatcher made on first access)."""
        compiled = self._compiled
        if compiled is None:
            with _load_lock:
                if self._compiled is None:
                    self._compiled = _dispatcher(self.py_func, self.targetoptions)
                compiled = self._compiled
        return compiled

    @property
    def _numba_type_(self):
        return self.dispatcher._numba_type_

    def __call__(self, *args, **kwargs):
        if _INTERPRETED.get():
            return self.py_func(*args, **kwargs)
        return self.dispatcher(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<aerdask kernel {self.py_func.__module__}.{self.py_func.__qualname__}>"


def njit(*args, **kwargs):
    """A :class:`Kernel` compiled as ``numba.njit`` with ``nogil=True`` and optional on-disk caching.

    Used bare (``@njit``) or with options (``@njit(parallel=True)``). If no cache
    directory is writable, the function is compiled without a cache.
    """
    kwargs.setdefault("nogil", True)
    if not kwargs["nogil"]:
        raise ValueError("aerdask kernels must release the GIL (nogil=True)")

    def decorate(fn):
        return Kernel(fn, dict(kwargs))

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate


def serial_variant(kernel: Kernel, replace: dict | None = None, _made: dict | None = None) -> Kernel:
    """A copy of a kernel and of every aerdask kernel it calls, compiled without ``parallel``.

    Why: Numba compiles a function together with everything it calls, and the parallel
    loops (and the cache blocks) are most of the cold compile. A small state never
    uses them, so it runs a serial copy that compiles in a fraction of the time. The
    copies share the source (``prange`` is ``range`` without ``parallel``); only the
    globals they call through are rebound, and ``_serial`` in their qualified names
    gives them cache files of their own.

    Args:
        kernel: A function made by :func:`njit`.
        replace: Global name -> kernel to call instead, in every copied function
            (e.g. a stub for a path the serial copy never takes).

    Returns:
        The copy.

    """
    made = {} if _made is None else _made
    if kernel in made:
        return made[kernel]
    fn = kernel.py_func
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = namespace.get(name)
        if replace and name in replace:
            namespace[name] = replace[name]
        elif isinstance(value, Kernel) and value.py_func.__module__.startswith(__package__):
            namespace[name] = serial_variant(value, replace, made)
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + "_serial"
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "cache", "nopython")}
    made[kernel] = Kernel(copy, options)
    return made[kernel]
