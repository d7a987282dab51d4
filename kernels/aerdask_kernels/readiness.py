"""Which compiled kernels this process has ready, and whether a job runs them or their Python source.

Numba costs a fresh process about a second before the first compiled call, even
from a warm cache, and tens of seconds cold. A small job finishes sooner as Python:
the same kernel sources run by the interpreter (see :class:`._jit.Kernel`), so the
same results. So a job that finds its compiled kernels not ready runs as Python
when it is small; a large one waits for them (and says so: :func:`waiting`).

Kernels are made ready by *units*, one per ``(path, precision)``:

* ``"small"``: what a state below ``PARALLEL_MIN_SIZE`` runs: the serial interpreter,
  preparation (matrices, fusion), validation, measurement and sampling;
* ``"large"``: the parallel interpreter with the cache blocks.

A unit is ready once its warm-up program (:mod:`.warmup`) has run compiled in this
process: Numba compiles whole functions, so one call per signature compiles every
opcode. Long-lived processes (a Dask worker, a notebook kernel) build units in a
background thread (:func:`start_background`) while small jobs run as Python; a script
does once it has spent a few seconds on Python kernels (a loop of small jobs, such
as an optimiser calling the estimator), and a short script never does.

Settings (see :mod:`.settings`):
    aerdask.kernels.interpret-max-work: the largest job run as Python while its
        compiled kernels are not ready, in amplitude updates (gate rows times
        amplitudes, summed over points and branches, plus shots); 0 never interprets.
    aerdask.kernels.background-compile: ``"auto"`` (at the first small job in Jupyter or
        IPython sessions, in scripts once they have spent
        :data:`INTERPRETED_SECONDS_BEFORE_COMPILE` on Python kernels; Dask workers with the
        aerdask plugin always), ``true`` (at the first small job, anywhere) or ``false``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

import numpy as np

from . import _jit, settings
from .format.options import ProgramOptions
from .kernels.gates import PARALLEL_MIN_SIZE
from .opcodes import COL_NTARG, COL_OPCODE, OP_CHANNEL, OP_MEASURE, OP_RESET

__all__ = [
    "SMALL",
    "LARGE",
    "COMPILING_NOTE",
    "units_for",
    "work",
    "is_ready",
    "needs_compiled",
    "ensure",
    "start_background",
    "background_allowed",
    "waiting",
    "kernels_for",
    "kernels_for_rows",
    "numba_loaded",
]

SMALL, LARGE = "small", "large"
PRECISIONS = ("double", "single")
#: What a job's progress says while it waits on compilation (see :func:`waiting`).
COMPILING_NOTE = "compiling kernels, first run only"
#: Seconds of Python kernels after which a script with ``background-compile: auto`` starts
#: compiling: past them, loading even a cold cache pays (a small job runs 10-50x faster compiled).
INTERPRETED_SECONDS_BEFORE_COMPILE = 3.0

logger = logging.getLogger("aerdask.kernels")

_lock = threading.Lock()
_ready: set[tuple[str, str]] = set()
_building: dict[tuple[str, str], threading.Event] = {}
_failed: dict[tuple[str, str], BaseException] = {}
_background: threading.Thread | None = None
_interpreted_seconds = 0.0


def units_for(program) -> set[tuple[str, str]]:
    """The units ``program`` runs compiled: ``("small", precision)``, plus ``"large"`` for wide states."""
    options = ProgramOptions.from_dict(program.options)
    precision = options.precision
    units = {(SMALL, precision)}
    blocking = options.blocking_qubits
    for exp in program.experiments:
        if (1 << _width(exp)) >= PARALLEL_MIN_SIZE or (blocking > 0 and _width(exp) > blocking):
            units.add((LARGE, precision))
            break
    return units


def _width(exp) -> int:
    return 2 * exp.num_qubits if exp.method == "density_matrix" else exp.num_qubits


def work(program) -> int:
    """An estimate of a program's cost in amplitude updates (see the module docstring).

    Python kernels take about 0.3-1 us per update on a 2-core x86-64 VM.
    """
    total = 0
    for exp in program.experiments:
        ops = exp.ops
        # A gate on k targets costs about 2**k products per amplitude.
        rows = int((1 << np.minimum(ops[:, COL_NTARG], 10)).sum()) + 1
        splits = int(
            (
                (ops[:, COL_OPCODE] == OP_MEASURE)
                | (ops[:, COL_OPCODE] == OP_RESET)
                | (ops[:, COL_OPCODE] == OP_CHANNEL)
            ).sum()
        )
        # Every split can double the branches walked, up to one per shot.
        branches = min(exp.shots, 1 << min(splits, 62))
        total += exp.num_points * (rows * branches * (1 << _width(exp)) + exp.shots)
    return total


def numba_loaded() -> bool:
    """Whether this process has loaded Numba for the kernels (compiled calls then cost no start-up)."""
    return _jit.numba_loaded()


def needs_compiled(program) -> bool:
    """Whether ``program`` runs compiled only: too large for Python, or in single precision.

    Single precision: numpy promotes ``complex64 * float`` to ``complex64`` where Numba
    computes it in ``complex128`` (NEP 50's weak Python scalars), so Python kernels would
    round differently; in double precision they give the compiled results bit for bit.
    """
    if ProgramOptions.from_dict(program.options).precision != "double":
        return True
    if any(path == LARGE for path, _ in units_for(program)):
        return True
    return work(program) > settings.get_int("kernels.interpret-max-work")


def is_ready(unit: tuple[str, str]) -> bool:
    """Whether ``unit`` runs compiled in this process without compiling or loading anything."""
    return unit in _ready


_builder = None


def set_builder(builder) -> None:
    """Say how a unit is built: ``builder((path, precision))`` runs a program on its compiled kernels.

    :mod:`.warmup` registers itself when the package is imported: it runs programs, so this
    module (which the runners read) must not import it.
    """
    global _builder
    _builder = builder


def _build(unit: tuple[str, str]) -> None:
    if _builder is None:
        raise RuntimeError("no warm-up registered: import aerdask_kernels (its warmup module registers one)")
    with _jit.interpreted(False):
        _builder(unit)


def ensure(units, block: bool = True) -> bool:
    """Make ``units`` ready in this process: build each one, or wait for the thread building it.

    Args:
        units: ``(path, precision)`` pairs.
        block: Wait (True), or return at once when another thread is building one (False).

    Returns:
        Whether every unit is ready.

    Raises:
        Exception: whatever compiling a unit raised (in every thread that needed it).
    """
    for unit in sorted(units):
        while unit not in _ready:
            with _lock:
                if unit in _ready:
                    break
                if unit in _failed:
                    raise _failed[unit]
                event = _building.get(unit)
                mine = event is None
                if mine:
                    event = _building[unit] = threading.Event()
            if mine:
                start = time.perf_counter()
                try:
                    _build(unit)
                except BaseException as exc:
                    with _lock:
                        _failed[unit] = exc
                    raise
                finally:
                    with _lock:
                        if unit not in _failed:
                            _ready.add(unit)
                        del _building[unit]
                    event.set()
                logger.info("compiled kernels %s/%s in %.1f s", *unit, time.perf_counter() - start)
            elif not block:
                return False
            else:
                event.wait()
    return True


def waiting() -> float:
    """Seconds the longest compile now running in this process has lasted (0.0: none runs).

    A job whose kernels compile waits that long: its progress says :data:`COMPILING_NOTE`
    past a second. Loading from the cache does not count (it takes about a second).
    """
    return _jit.compiling_for()


def background_allowed() -> bool:
    """Whether this process builds units in a background thread now (``kernels.background-compile``).

    ``auto``: in an IPython shell or kernel at once, elsewhere (a script) once it has spent
    :data:`INTERPRETED_SECONDS_BEFORE_COMPILE` on Python kernels; ``true``: at once; ``false``:
    never. (A Dask worker's plugin calls :func:`start_background` itself.) A script that exits
    while the thread compiles exits as usual: the thread is a daemon, and Numba writes each
    cache entry whole.
    """
    value = settings.get("kernels.background-compile")
    if isinstance(value, str) and value.strip().lower() == "auto":
        ipython = sys.modules.get("IPython")
        in_ipython = ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None
        return in_ipython or _interpreted_seconds >= INTERPRETED_SECONDS_BEFORE_COMPILE
    return settings.get_bool("kernels.background-compile")


def start_background(units=None) -> threading.Thread | None:
    """Build ``units`` (default: small and large, double then single) in a daemon thread.

    Returns:
        The thread, or ``None`` when every unit is ready or a build is already running.
    """
    global _background
    if units is None:
        units = [(path, p) for p in PRECISIONS for path in (SMALL, LARGE)]
    todo = [u for u in units if u not in _ready]
    with _lock:
        if not todo or (_background is not None and _background.is_alive()):
            return None

        def build_all():
            for unit in todo:
                try:
                    ensure([unit])
                except Exception:  # the job that needs it raises it again, with its own context
                    logger.exception("compiling kernels %s/%s failed", *unit)
                    return

        _background = threading.Thread(target=build_all, name="aerdask-compile", daemon=True)
        _background.start()
        return _background


@contextlib.contextmanager
def _timed_python():
    global _interpreted_seconds
    start = time.perf_counter()
    try:
        with _jit.interpreted():
            yield True
    finally:
        _interpreted_seconds += time.perf_counter() - start


@contextlib.contextmanager
def kernels_for(program):
    """Run the block's kernel calls as Python or compiled, as suits ``program`` here and now.

    Compiled when its units are ready, or when it is too large to run as Python (its
    kernels then compile or load as it calls them, and :func:`waiting` reports the
    compiles); as Python otherwise. Inside an enclosing choice (a program validated by
    the task that runs it), that choice stands.

    Yields:
        Whether the kernels run as Python.
    """
    if _jit.chosen() is not None:
        yield _jit.is_interpreted()
        return
    if units_for(program) <= _ready or needs_compiled(program):
        yield False
        return
    if background_allowed():
        start_background()
    with _timed_python() as python:
        yield python


@contextlib.contextmanager
def kernels_for_rows(rows: int, precision: str = "double"):  # registered with _jit below
    """:func:`kernels_for` for work of ``rows`` opcode rows, such as validating a program.

    Yields:
        Whether the kernels run as Python.
    """
    if _jit.chosen() is not None:
        yield _jit.is_interpreted()
        return
    python = (SMALL, precision) not in _ready and rows <= settings.get_int("kernels.interpret-max-work") >> 4
    with _jit.interpreted(python):
        yield python


_jit.choose_kernels_for_rows(kernels_for_rows)
