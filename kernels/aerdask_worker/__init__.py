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

import asyncio
import functools
import logging
import pickle
import platform
import threading
import time
from importlib.metadata import version

import dask.config
import distributed
import numpy as np
import psutil
from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from aerdask_kernels import __version__, readiness
from aerdask_kernels.format.program import FORMAT_VERSION
from aerdask_kernels.keys import compatibility_key
from aerdask_kernels.runtime.errors import JobCancelledError

__all__ = [
    "JIT_RESOURCE",
    "MEMORY_RESOURCE",
    "task_memory_mib",
    "STARTED_TOPIC",
    "ENDED_TOPIC",
    "WORKER_REMOVED_TOPIC",
    "AerdaskSchedulerPlugin",
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
    "required_versions",
    "scheduler_has_keys",
    "scheduler_scaling",
    "versions",
]

#: The Dask resource a worker holds (one per thread) once its compiled kernels are ready; 0 before.
#: Jobs that need compiled kernels ask for one, so the scheduler sends them only to ready workers.
JIT_RESOURCE = "aerdask-jit"
#: The Dask resource a worker advertises: the MiB one task may use there (its memory limit at the
#: nanny's terminate fraction, shared by its threads). A task that fits only some workers asks for
#: its peak, so it runs on any worker with room, including one that joins or restarts later.
MEMORY_RESOURCE = "aerdask-task-mib"
#: The units a worker builds before it takes jobs that need compiled kernels (the rest follow).
READY_UNITS = ((readiness.SMALL, "double"), (readiness.LARGE, "double"))
#: Event topic a task logs when it starts (Dask itself has no "running" state for futures).
STARTED_TOPIC = "aerdask-task-started"
#: Event topic a task logs when it leaves its thread (finished, failed or cancelled): a task that
#: started on a worker and never ended there was running when that worker died.
ENDED_TOPIC = "aerdask-task-ended"
#: Event topic :class:`AerdaskSchedulerPlugin` logs when the scheduler removes a worker: which
#: aerdask tasks it was processing and which finished results were lost with it.
WORKER_REMOVED_TOPIC = "aerdask-worker-removed"

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
        "kernels": compatibility_key(),
        "numpy_major": int(np.__version__.split(".")[0]),
        "aerdask_kernels": __version__,
        "numba": version("numba"),  # not numba.__version__: importing Numba costs a worker's start a second
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


@functools.cache
def _own_versions() -> dict:
    return versions()


def required_versions() -> dict:
    """This side's :data:`REQUIRED` fields: what a task carries to the worker that runs it."""
    own = _own_versions()
    return {key: own[key] for key in REQUIRED}


def run_task(fn, program, job_id: str, expected: dict | None = None):
    """Run ``fn(program, cancel_flag)`` as a Dask task that can be cancelled while it runs.

    Logs :data:`STARTED_TOPIC` so the client sees the task running, and registers
    its cancel flag so :func:`cancel_job` reaches it between gates.

    Args:
        fn: ``run_program``.
        program: A :class:`~aerdask_kernels.Program`, or one pickled (``bytes``, as the
            client sends it: see ``aerdask.executors.dask``).
        job_id: The job the task belongs to.
        expected: The client's :func:`required_versions`. A worker that differs (one that
            joined after ``run()`` from another image) refuses the task with
            :class:`VersionMismatchError`, which fails the job by name.

    Returns:
        ``fn``'s output; pickled into one ``bytes`` object when the program came as
        bytes. Dask would send every numpy array of the output as a frame of its own,
        read and deserialized one by one by the client's I/O thread: a thousand per task
        of a batch.
    """
    worker = distributed.get_worker()
    if expected:
        required, _ = compare(expected, _own_versions())
        required = {k: v for k, v in required.items() if k in expected}
        if required:
            raise VersionMismatchError(
                f"worker {worker.address} cannot run this task: its aerdask differs from the client's "
                f"({describe(required, 'worker')}); install the same aerdask on both "
                "(pip install -c <the image's constraints.txt> aerdask)"
            )
    flag = np.zeros(1, dtype=np.uint8)
    with _lock:
        # A cancelled task can still reach a thread (a worker holds a few queued tasks);
        # it stops here, before it counts as started.
        if job_id in _cancelled:
            raise JobCancelledError(f"job {job_id} was cancelled before this task started")
        _running.setdefault(job_id, []).append(flag)
    event = {"key": str(worker.get_current_task()), "worker": worker.address}
    worker.log_event(STARTED_TOPIC, event)
    try:
        if not isinstance(program, bytes):
            return fn(program, flag)
        output = fn(pickle.loads(program), flag)  # from our client, as trusted as the pickles Dask itself sends
        return pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        worker.log_event(ENDED_TOPIC, event)
        with _lock:
            flags = _running.get(job_id, [])
            flags[:] = [f for f in flags if f is not flag]
            if not flags:
                _running.pop(job_id, None)


def _units_in_order() -> list[tuple[str, str]]:
    rest = [(path, p) for p in readiness.PRECISIONS for path in (readiness.SMALL, readiness.LARGE)]
    return list(READY_UNITS) + [u for u in rest if u not in READY_UNITS]


def task_memory_mib(worker) -> int:
    """MiB one task may use on ``worker``: its limit (the host's memory without one) x terminate fraction / threads."""
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None) or psutil.virtual_memory().total
    fraction = dask.config.get("distributed.worker.memory.terminate", 0.95) or 1.0
    return max((int(limit * fraction) // max(worker.state.nthreads, 1)) >> 20, 1)


def advertise_memory(worker) -> bool:
    """Set :data:`MEMORY_RESOURCE` on a worker not yet registered; False if it already has it."""
    if MEMORY_RESOURCE in worker.state.total_resources:
        return False
    mib = task_memory_mib(worker)
    worker.state.total_resources[MEMORY_RESOURCE] = mib
    worker.state.available_resources[MEMORY_RESOURCE] = mib
    return True


async def _advertise(worker, quantity: float) -> None:
    """Set this worker's :data:`JIT_RESOURCE` and have the scheduler look again at tasks waiting for it."""
    for _ in range(600):  # the preload runs before the worker registers: wait for that (up to 60 s)
        if worker.status in (Status.running, Status.paused):
            break
        if worker.status in (Status.closing, Status.closed, Status.failed):
            return
        await asyncio.sleep(0.1)
    await worker.set_resources(**{JIT_RESOURCE: quantity})
    if quantity and worker.status == Status.running:
        # The scheduler looks at tasks no worker could take only when a worker joins or returns
        # to running, not when its resources change: pass through paused to have it look.
        worker.status = Status.paused
        worker.status = Status.running


def start_compiling(worker) -> None:
    """Advertise no :data:`JIT_RESOURCE`, build the compiled kernels in the background, then advertise it.

    Small jobs run at once on the kernels' Python source meanwhile (see
    ``aerdask_kernels.readiness``); the scheduler holds jobs that need compiled kernels
    until a worker advertises it. Sets ``worker.aerdask_warm_up_s`` (seconds the build
    took) when it is done.
    """
    with _lock:
        if getattr(worker, "aerdask_compiling", False):
            return
        worker.aerdask_compiling = True
    ready = all(readiness.is_ready(u) for u in READY_UNITS)
    if not ready:  # before registration, so the scheduler learns it with the worker
        worker.state.total_resources[JIT_RESOURCE] = 0
        worker.state.available_resources[JIT_RESOURCE] = 0
    threads = worker.state.nthreads

    def build():
        start = time.perf_counter()
        try:
            readiness.ensure(READY_UNITS)
        except Exception:  # jobs that need the kernels compile them and fail with the reason
            logger.exception("compiling the kernels failed; jobs will compile what they need")
        worker.aerdask_warm_up_s = time.perf_counter() - start
        logger.info("compiled kernels ready after %.1f s", worker.aerdask_warm_up_s)
        if worker.status not in (Status.closing, Status.closed, Status.failed):
            worker.loop.add_callback(_advertise, worker, threads)
        readiness.start_background(_units_in_order())  # single precision, after the worker is ready

    threading.Thread(target=build, name="aerdask-compile", daemon=True).start()


class AerdaskWorkerPlugin(WorkerPlugin):
    """Checks versions against the client's and compiles the kernels in the background.

    Args:
        expected: The client's :func:`versions`; a mismatch makes ``setup`` raise.
        warm: Build the compiled kernels in the background (:func:`start_compiling`).
    """

    idempotent = True
    name = "aerdask"

    def __init__(self, expected: dict | None = None, warm: bool = True):
        self.expected = expected
        self.warm = warm

    async def setup(self, worker):
        """Check versions, advertise memory, start compiling; raises :class:`VersionMismatchError`."""
        check_versions(self.expected)
        changed = advertise_memory(worker)
        if self.warm and not getattr(worker, "aerdask_compiling", False):
            start_compiling(worker)
            changed = changed or JIT_RESOURCE in worker.state.total_resources
        if changed and worker.status in (Status.running, Status.paused):
            # A running worker: tell the scheduler now, and have it look again at the tasks that
            # wait for this memory (it does so when a worker returns to running).
            await worker.set_resources(**worker.state.total_resources)
            if worker.status == Status.running:
                worker.status = Status.paused
                worker.status = Status.running


class AerdaskSchedulerPlugin(SchedulerPlugin):
    """On the scheduler: tells aerdask clients which of their tasks a removed worker held.

    The scheduler logs each removal under the topic ``"all"`` (every event of the
    cluster); this forwards the part about aerdask's tasks (keys ``aerdask-...``) to
    :data:`WORKER_REMOVED_TOPIC`: ``{"worker", "processing", "lost", "expected"}``.
    ``processing``: tasks assigned to the worker (running or waiting there); ``lost``:
    finished results that lived only there; ``expected``: a graceful retirement.
    """

    idempotent = True
    name = "aerdask-scheduler"

    def __init__(self):
        self.scheduler = None

    async def start(self, scheduler) -> None:
        """Keep the scheduler, to log events on it."""
        self.scheduler = scheduler

    def log_event(self, topic: str, msg) -> None:
        """Forward a ``remove-worker`` event (see the class docs)."""
        if topic != "all" or self.scheduler is None or not isinstance(msg, dict):
            return
        if msg.get("action") != "remove-worker":
            return
        processing = sorted(str(k) for k in msg.get("processing-tasks", ()) if str(k).startswith("aerdask-"))
        lost = sorted(str(k) for k in msg.get("lost-computed-tasks", ()) if str(k).startswith("aerdask-"))
        if processing or lost:
            self.scheduler.log_event(
                WORKER_REMOVED_TOPIC,
                {
                    "worker": msg.get("worker"),
                    "processing": processing,
                    "lost": lost,
                    "expected": bool(msg.get("expected")),
                },
            )


def scheduler_has_keys(keys, dask_scheduler=None) -> bool:
    """On the scheduler (``Client.run_on_scheduler``): whether it still knows every key."""
    return all(k in dask_scheduler.tasks for k in keys)


def scheduler_scaling(dask_scheduler=None) -> dict:
    """On the scheduler: what a dask-gateway cluster was asked to grow to.

    A gateway's scheduler carries its scaling service (``dask_gateway.scheduler_preload``):
    ``requested`` is the count of its last ``scale`` or adaptive step, ``maximum`` the
    adaptive maximum (``None`` when not adaptive). Empty for other schedulers.
    """
    service = getattr(dask_scheduler, "services", {}).get("gateway")
    if service is None:
        return {}
    adaptive = getattr(service, "adapt_task", None) is not None
    return {
        "requested": getattr(service, "count", None),
        "maximum": getattr(service, "maximum", None) if adaptive else None,
    }


def dask_setup(worker) -> None:
    """Preload hook (``--preload aerdask_worker``): advertise memory, compile in the background, take small jobs."""
    advertise_memory(worker)
    start_compiling(worker)
