"""aerdask_worker: the worker side of Dask: the task wrapper, cancel signals, the plugin and the preload.

A package of its own beside ``aerdask_kernels`` (numpy, numba and distributed; no qiskit):
the kernels stay free of Dask, and editing this glue does not touch the kernel hash that
keys the Numba cache. A worker imports it when it unpickles :func:`run_task`. Use it as
a preload::

    dask worker tcp://scheduler:8786 --preload aerdask_worker

or register :class:`AerdaskWorkerPlugin` from the client (aerdask does this when
a backend first meets a cluster).
"""

from __future__ import annotations

import logging
import pickle
import platform
import threading

import distributed
import numba
import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from aerdask_kernels import __version__
from aerdask_kernels._jit import KERNELS_HASH
from aerdask_kernels.execute import JobCancelledError
from aerdask_kernels.program import FORMAT_VERSION
from aerdask_kernels.warmup import warm_up

__all__ = [
    "STARTED_TOPIC",
    "AerdaskWorkerPlugin",
    "REQUIRED",
    "VersionMismatchError",
    "cancel_job",
    "check_versions",
    "compare",
    "describe",
    "cancel_job_soon",
    "dask_setup",
    "run_task",
    "versions",
]

#: Event topic a task logs when it starts (Dask itself has no "running" state for futures).
STARTED_TOPIC = "aerdask-task-started"

logger = logging.getLogger("aerdask.worker")
_lock = threading.Lock()
_running: dict[str, list[np.ndarray]] = {}  # job id -> cancel flags of its running tasks
#: Job ids cancelled on this worker, oldest first; only the newest MAX_CANCELLED are kept (a task
#: of a job cancelled that long ago has long been released by the scheduler).
_cancelled: dict[str, None] = {}
MAX_CANCELLED = 10_000


class VersionMismatchError(RuntimeError):
    """A worker's program format, kernel sources or numpy major version differs from the client's."""


#: Fields that must be equal for a worker to run a client's programs and give the same results:
#: the program format, the kernel sources, and numpy's major version (numpy 1 cannot unpickle
#: numpy 2 arrays). Numba, numpy minors and python only need to read each other's plain data.
REQUIRED = ("program_format", "kernels", "numpy_major")


def versions() -> dict:
    """What a client and its workers compare (see :data:`REQUIRED` and :func:`compare`)."""
    return {
        "program_format": FORMAT_VERSION,
        "kernels": KERNELS_HASH,
        "numpy_major": int(np.__version__.split(".")[0]),
        "aerdask_kernels": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def compare(expected: dict, mine: dict) -> tuple[dict, dict]:
    """Split the differences between two :func:`versions` into ``(required, informational)``.

    Each maps a field to ``(expected value, my value)``. A field absent on one side (an
    older aerdask) counts as different.
    """
    required, other = {}, {}
    for key in sorted(set(expected) | set(mine)):
        if expected.get(key) != mine.get(key):
            (required if key in REQUIRED else other)[key] = (expected.get(key), mine.get(key))
    return required, other


def describe(diff: dict, theirs: str) -> str:
    """``"numpy: client 2.4.6, worker 2.2.6, ..."`` for a :func:`compare` result."""
    return ", ".join(f"{k}: client {a}, {theirs} {b}" for k, (a, b) in diff.items())


def check_versions(expected: dict | None) -> None:
    """Raise :class:`VersionMismatchError` if a :data:`REQUIRED` field differs from ``expected``.

    Other differences are logged as a warning on the worker (the client logs its own).
    """
    if not expected:
        return
    required, other = compare(expected, versions())
    if required:
        raise VersionMismatchError(
            f"aerdask versions differ between client and worker ({describe(required, 'worker')}); "
            "install the same aerdask on both (pip install -c <the image's constraints.txt> aerdask)"
        )
    if other:
        logger.warning("versions differ from the client's, which is fine for these: %s", describe(other, "worker"))


def cancel_job(job_id: str) -> int:
    """Stop the running tasks of ``job_id`` on this worker; later ones stop at once.

    Returns:
        How many running tasks were signalled.
    """
    with _lock:
        _cancelled[job_id] = None
        while len(_cancelled) > MAX_CANCELLED:
            del _cancelled[next(iter(_cancelled))]
        flags = _running.get(job_id, [])
        for flag in flags:
            flag[0] = 1
        return len(flags)


async def cancel_job_soon(job_id: str) -> int:
    """:func:`cancel_job` as a coroutine, for ``Client.run(..., wait=False)`` (fire and forget)."""
    return cancel_job(job_id)


def run_task(fn, program, job_id: str):
    """Run ``fn(program, cancel_flag)`` as a Dask task that can be cancelled while it runs.

    Logs :data:`STARTED_TOPIC` so the client sees the task running, and registers
    its cancel flag so :func:`cancel_job` reaches it between gates.

    Args:
        fn: ``run_program``.
        program: A :class:`~aerdask_kernels.Program`, or one pickled (``bytes``, as the
            client sends it: see ``aerdask.executors.dask``).
        job_id: The job the task belongs to.

    Returns:
        ``fn``'s output; pickled into one ``bytes`` object when the program came as
        bytes. Dask would send every numpy array of the output as a frame of its own,
        read and deserialized one by one by the client's I/O thread: a thousand per task
        of a batch.
    """
    worker = distributed.get_worker()
    flag = np.zeros(1, dtype=np.uint8)
    with _lock:
        # A cancelled task can still reach a thread (a worker holds a few queued tasks);
        # it stops here, before it counts as started.
        if job_id in _cancelled:
            raise JobCancelledError(f"job {job_id} was cancelled before this task started")
        _running.setdefault(job_id, []).append(flag)
    worker.log_event(STARTED_TOPIC, {"key": str(worker.get_current_task()), "worker": worker.address})
    try:
        if not isinstance(program, bytes):
            return fn(program, flag)
        output = fn(pickle.loads(program), flag)  # from our client, as trusted as the pickles Dask itself sends
        return pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        with _lock:
            flags = _running.get(job_id, [])
            flags[:] = [f for f in flags if f is not flag]
            if not flags:
                _running.pop(job_id, None)


class AerdaskWorkerPlugin(WorkerPlugin):
    """Checks versions against the client's and compiles the kernels when a worker starts.

    Args:
        expected: The client's :func:`versions`; a mismatch makes ``setup`` raise.
        warm: Compile every kernel in ``setup`` so the first task pays no JIT.
    """

    idempotent = True
    name = "aerdask"

    def __init__(self, expected: dict | None = None, warm: bool = True):
        self.expected = expected
        self.warm = warm

    def setup(self, worker):
        """Check versions, then warm the JIT; raises :class:`VersionMismatchError`."""
        check_versions(self.expected)
        if self.warm:
            worker.aerdask_warm_up_s = warm_up()


def dask_setup(worker) -> None:
    """Preload hook (``--preload aerdask_worker``): compile before the first task."""
    worker.aerdask_warm_up_s = warm_up()
