"""How many Numba threads one task takes: the process's cores shared among its running tasks."""

from __future__ import annotations

import contextlib
import os
import threading

from .._jit import is_interpreted, load_numba

__all__ = ["thread_share"]

_active_lock = threading.Lock()
_active_tasks = 0


@contextlib.contextmanager
def thread_share(requested: int):
    """Set this thread's Numba thread count for one task, without oversubscribing.

    ``requested`` (``max_parallel_threads``) wins when non-zero. Otherwise the cores
    are shared among the tasks running in this process at the start of this one,
    and capped by ``OMP_NUM_THREADS`` when set (Dask's nanny sets it to 1 for its
    workers, whose parallelism is the number of worker threads).

    Yields:
        int: the threads this task runs with.
    """
    global _active_tasks
    if is_interpreted():  # Python kernels: one thread, and no Numba to load
        yield 1
        return
    numba = load_numba()
    cores = numba.config.NUMBA_NUM_THREADS
    with _active_lock:
        _active_tasks += 1
        share = max(1, cores // _active_tasks)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        share = min(share, int(omp))
    threads = min(requested, cores) if requested else share
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)
        with _active_lock:
            _active_tasks -= 1
