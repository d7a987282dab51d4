"""The Dask side: tasks as futures of a ``distributed.Client``.

Imported only when a Client is passed, so ``import aerdask`` stays free of distributed.
Each task is :func:`aerdask_worker.run_task` with the plain program; it
logs a "started" event (Dask futures have no running state) and registers a cancel
flag that :func:`aerdask_worker.cancel_job` sets between gates.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Sequence

import dask
import distributed
import numpy as np
import psutil
from qiskit.providers import JobError

from aerdask_kernels.gpu import device_memory as gpu_device_memory
from aerdask_kernels.readiness import COMPILING_NOTE, needs_compiled
from aerdask_worker import JIT_RESOURCE, STARTED_TOPIC, cancel_job_soon, run_task

from ..admission import WorkerMemory
from ..errors import TaskLostError, WorkerCrashError
from ..publishing import published_bytes, read_published
from .base import GPU_USABLE_FRACTION, ExecutorAdapter, Publishing, ShardedHandle, TaskHandle
from .cluster import ensure_ready
from .registry import state

__all__ = ["DaskAdapter", "TASK_OVERHEAD_S"]

#: Scheduler, transfer and bookkeeping time per task (measured on a LocalCluster: about 4.5 ms).
TASK_OVERHEAD_S = 0.0045
_WAKE_S = 1.0  # waits look at the client's state at least this often
#: Worker deaths a task may cause before its job fails (Dask's own limit, allowed-failures, is 3).
DEFAULT_MAX_WORKER_DEATHS = 1
#: Seconds a job waits with no worker in the cluster before its tasks count as lost.
DEFAULT_NO_WORKER_TIMEOUT_S = 300.0
_HEALTH_EVERY_S = 2.0
#: The Dask resource a GPU worker advertises (one unit per GPU); GPU tasks take one unit.
GPU_RESOURCE = "GPU"
#: Each GPU worker's GPU memory in bytes, by address (asked once: a worker's GPU does not change).
_GPU_MEMORY: dict[str, int] = {}
_JIT_CHECK_S = 1.0  # how old the workers' compiled-kernel readiness may be when a task is placed
logger = logging.getLogger("aerdask")  # the scheduler is asked about workers and deaths at most this often


class _Started:
    """Task key -> worker address and number of starts, for tasks that logged their start.

    Filled by the event handler. A task started again without having finished lost
    its worker: that is how worker deaths are counted per task. Past :data:`MAX_KEYS`
    the oldest keys are forgotten, so a long-lived client does not grow without bound
    (a key that old belongs to a task that ended long ago).
    """

    MAX_KEYS = 50_000

    def __init__(self):
        self.workers: dict[str, str] = {}
        self.starts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        _, msg = event
        with self.lock:
            self.workers[msg["key"]] = msg["worker"]
            self.starts[msg["key"]] = self.starts.get(msg["key"], 0) + 1
            while len(self.starts) > self.MAX_KEYS:  # dicts keep insertion order: the oldest first
                oldest = next(iter(self.starts))
                self.starts.pop(oldest)
                self.workers.pop(oldest, None)

    def deaths(self, key: str) -> int:
        """How many workers died running ``key`` (its starts beyond the first)."""
        with self.lock:
            return max(self.starts.get(key, 0) - 1, 0)

    def __contains__(self, key) -> bool:
        with self.lock:
            return key in self.workers

    def worker(self, key: str) -> str | None:
        """The worker that last started ``key``."""
        with self.lock:
            return self.workers.get(key)


_started_lock = threading.Lock()


def _started_keys(client: distributed.Client) -> _Started:
    with _started_lock:
        entry = state(client)
        if entry.started is None:
            entry.started = _Started()
            client.subscribe_topic(STARTED_TOPIC, entry.started)
        return entry.started


class _DaskHandle(TaskHandle):
    def __init__(
        self, future: distributed.Future, client: distributed.Client, started: _Started, changed: threading.Condition
    ):
        self.future = future
        self.key = str(future.key)
        self.client = client
        self.started = started
        self.cancel_requested = False
        self.max_deaths = DEFAULT_MAX_WORKER_DEATHS
        self.lost: str | None = None  # why the task can no longer finish (set by the adapter)
        self.deaths = 0  # workers that died running it, as the scheduler counts them (set by the adapter)
        self.crashed: BaseException | None = None
        # Wake the job's waiters when the task ends (Dask calls this on a thread of its own).
        future.add_done_callback(lambda _: _notify(changed))

    def done(self) -> bool:
        return self.future.done()

    def running(self) -> bool:
        return not self.future.done() and self.key in self.started

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def cancel(self) -> bool:
        if self.future.done():
            return False
        self.cancel_requested = True
        self.future.cancel()
        return True

    def result(self, timeout=None):
        return pickle.loads(self.future.result(timeout))  # run_task pickles its output (see there)

    def exception(self, timeout=None):
        return self.future.exception(timeout)

    def failure(self) -> BaseException | None:
        lost = self.client.status not in ("running", "newly-created")
        if self.future.cancelled() and not self.cancel_requested or (lost and not self.future.done()):
            # Dask cancels every future when the client loses the scheduler; nothing will
            # ever finish them, so the job must fail rather than wait forever.
            return TaskLostError(
                f"task {self.key} was lost: the client lost its connection to the scheduler "
                f"(client status {self.client.status!r}); resubmit the job"
            )
        if self.lost is not None and not self.future.done():
            return TaskLostError(f"task {self.key} was lost: {self.lost}")
        if self.crashed is not None:
            return self.crashed
        deaths = max(self.deaths, self.started.deaths(self.key))
        if deaths > self.max_deaths and not self.future.done():
            self.crashed = WorkerCrashError(
                f"task {self.key} killed {deaths} workers (a worker died each time it ran it; out of memory "
                f"or a crash in native code); it was given up after max_worker_deaths={self.max_deaths}"
            )
            logger.error("%s", self.crashed)
            self.cancel()  # it would only kill the next worker too
            return self.crashed
        # Future.exception() is a round trip through the client's event loop even when the
        # future is done; its status is not, and job states read it for every task.
        return self.future.exception() if self.future.status == "error" else None


def _split(handles: Sequence[TaskHandle]) -> tuple[list, list]:
    """``(pending, ended)`` handles."""
    pending, ended = [], []
    for h in handles:
        (ended if h.done() else pending).append(h)
    return pending, ended


def _notify(changed: threading.Condition) -> None:
    with changed:
        changed.notify_all()


class DaskAdapter(ExecutorAdapter, Publishing):
    """Submits each chunk with a unique key (``pure=False``: identical chunks must not merge)."""

    separate_processes = True

    def __init__(self, client: distributed.Client):
        self.executor = client
        self.changed = threading.Condition()  # notified whenever a task of this adapter ends
        self.max_worker_deaths = DEFAULT_MAX_WORKER_DEATHS
        self.no_worker_timeout = DEFAULT_NO_WORKER_TIMEOUT_S
        self._no_workers_since: float | None = None
        self._next_health = 0.0
        self._jit_checked = -_JIT_CHECK_S
        self._jit_seen: list = []

    def prepare(self) -> None:
        ensure_ready(self.executor)

    def memory_limit(self) -> int:
        workers = self.executor.scheduler_info(n_workers=-1)["workers"].values()
        largest = max([w.get("memory_limit") or 0 for w in workers] + [0])
        # Workers without a limit (0) report nothing usable; assume a host like this one.
        return largest or psutil.virtual_memory().total

    def threads(self) -> int:
        return sum(self.executor.nthreads().values()) or 1

    def workers_memory(self) -> list:
        # The nanny kills a worker at its terminate fraction of the limit (Dask's default 0.95).
        fraction = dask.config.get("distributed.worker.memory.terminate", 0.95) or 1.0
        default = psutil.virtual_memory().total  # a worker without a limit: assume a host like this one
        return [
            WorkerMemory(address, int((info.get("memory_limit") or default) * fraction), info.get("nthreads") or 1)
            for address, info in self.executor.scheduler_info(n_workers=-1)["workers"].items()
        ] or [WorkerMemory(None, int(default * fraction), 1)]

    def _gpu_workers(self) -> list[str]:
        # GPU workers say so with a Dask resource (`dask worker --resources GPU=1`, or
        # LocalCUDACluster(resources={"GPU": 1})).
        workers = self.executor.scheduler_info(n_workers=-1)["workers"]
        return [a for a, info in workers.items() if (info.get("resources") or {}).get(GPU_RESOURCE, 0) >= 1]

    def gpu_memory(self) -> list:
        # Each GPU worker is asked once what memory its GPU has.
        gpus = self._gpu_workers()
        unknown = [a for a in gpus if a not in _GPU_MEMORY]
        if unknown:
            try:
                _GPU_MEMORY.update(self.executor.run(gpu_device_memory, workers=unknown))
            except Exception as exc:  # noqa: BLE001 (a worker went away: ask again next run)
                logger.warning("could not ask GPU workers for their memory: %s", exc)
        return [
            WorkerMemory(a, int(_GPU_MEMORY[a] * GPU_USABLE_FRACTION), 1) for a in gpus if _GPU_MEMORY.get(a, 0) > 0
        ]

    def gpu_missing(self) -> str:
        gpus = self._gpu_workers()
        if gpus:
            return f"the workers with a {GPU_RESOURCE!r} resource ({', '.join(gpus)}) report no usable GPU"
        return (
            f"no worker of the cluster has a {GPU_RESOURCE!r} resource; start GPU workers with "
            f"'dask worker ADDRESS --resources {GPU_RESOURCE}=1' (one per GPU), or dask-cuda's "
            f"LocalCUDACluster(resources={{'{GPU_RESOURCE}': 1}})"
        )

    def task_overhead(self) -> float:
        return TASK_OVERHEAD_S

    def submit(self, fn: Callable, program, key: str, job_id: str, workers=None) -> TaskHandle:
        client = self.executor
        started = _started_keys(client)
        # One bytes object instead of the program: Dask sends each numpy array of a pickled
        # object as a frame of its own, and the scheduler (in the client's process on a
        # LocalCluster) unpickles and re-pickles them all; bytes it passes on as they are.
        blob = pickle.dumps(program.without_headers(), protocol=pickle.HIGHEST_PROTOCOL)
        placed = {} if workers is None else {"workers": workers, "allow_other_workers": False}
        needs_jit = needs_compiled(program) and self._workers_advertise_jit()
        if needs_jit:
            # Only to workers whose compiled kernels are ready: a fresh worker would keep the
            # task waiting for its compile while a ready one sits idle.
            placed["resources"] = {JIT_RESOURCE: 1}
        if program.options.get("device", "CPU") == "GPU":
            # One task per GPU at a time, and only on workers that have one.
            placed["resources"] = {**placed.get("resources", {}), GPU_RESOURCE: 1}
        future = client.submit(run_task, fn, blob, job_id, key=key, pure=False, **placed)
        handle = _DaskHandle(future, client, started, self.changed)
        handle.max_deaths = self.max_worker_deaths
        handle.needs_jit = needs_jit
        return handle

    def submit_sharded(self, program, key: str, job_id: str) -> TaskHandle:
        # The walk's thread wakes the job's waiters when it ends, as a task's done callback does.
        return ShardedHandle(
            key, program, lambda flag: self.shard_store(key, program, flag), lambda: _notify(self.changed)
        )

    def shard_store(self, key: str, program, flag: np.ndarray):
        from .dask_shards import DaskShardStore

        width = max(exp.num_qubits for exp in program.experiments)
        itemsize = 8 if program.options["precision"] == "single" else 16
        shard_bytes = lambda shards: (1 << (width - shards.bit_length() + 1)) * itemsize  # noqa: E731
        return DaskShardStore(self.executor, key, flag, self.workers_memory(), shard_bytes)

    def _jit_resources(self) -> list:
        """Each worker's :data:`JIT_RESOURCE` (``None`` without the aerdask plugin), at most 1 s old."""
        now = time.monotonic()
        if now >= self._jit_checked + _JIT_CHECK_S:
            workers = self.executor.scheduler_info(n_workers=-1)["workers"].values()
            self._jit_seen = [(w.get("resources") or {}).get(JIT_RESOURCE) for w in workers]
            self._jit_checked = now
        return self._jit_seen

    def _workers_advertise_jit(self) -> bool:
        """Whether every worker says whether its kernels are ready (the aerdask plugin or preload)."""
        seen = self._jit_resources()
        return bool(seen) and all(q is not None for q in seen)

    def waiting_note(self, handles: Sequence[TaskHandle]) -> str | None:
        # Tasks held for compiled kernels while no worker has them ready yet.
        if not any(getattr(h, "needs_jit", False) and not h.done() for h in handles):
            return None
        if any(q for q in self._jit_resources()):
            return None
        return f"workers {COMPILING_NOTE}"

    def results(self, handles: Sequence[TaskHandle]) -> list:
        if not all(isinstance(h, _DaskHandle) for h in handles):  # a sharded task's result is here already
            return [h.result() for h in handles]
        # One gather for all: Future.result() is a round trip to the scheduler each.
        try:
            blobs = self.executor.gather([h.future for h in handles])
        except OSError as exc:  # Dask's CommClosedError: the scheduler or a worker went away mid-gather
            raise TaskLostError(
                f"the results could not be gathered: the connection to the cluster was lost ({exc}); resubmit the job"
            ) from exc
        return [pickle.loads(blob) for blob in blobs]

    def cancel(self, handles: Sequence[TaskHandle], job_id: str) -> None:
        # Stop running tasks first (the flag), then release the queued ones.
        # Fire and forget: a busy or dying worker must not block cancel().
        self.executor.run(cancel_job_soon, job_id, wait=False)
        for handle in handles:
            handle.cancel()

    def wait(self, handles: Sequence[TaskHandle], timeout: float | None) -> None:
        # Woken by the tasks' done callbacks, not by distributed.wait: that has no
        # FIRST_EXCEPTION, and each call is a round trip through the client's event loop.
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            pending, ended = _split(handles)
            while pending and not any(h.failure() is not None for h in ended):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                # Bounded, so a client that lost its scheduler is noticed (failure()) without a callback.
                self.changed.wait(_WAKE_S if remaining is None else min(remaining, _WAKE_S))
                self._health(pending)
                pending, ended = _split(pending)
                if any(h.failure() is not None for h in pending):  # lost with the scheduler: not done
                    return

    def _health(self, pending) -> None:
        """Worker deaths and missing workers, from the scheduler: a round trip each, so rate-limited.

        A wait wakes whenever a task of the job ends; asking each time would cost the client a
        couple of round trips per task.
        """
        now = time.monotonic()
        pending = [h for h in pending if isinstance(h, _DaskHandle)]  # a sharded walk watches its own workers
        if now < self._next_health or not pending:
            return
        self._next_health = now + _HEALTH_EVERY_S
        self._check_workers(pending)
        self._count_deaths(pending)

    def _count_deaths(self, pending) -> None:
        """Ask the scheduler how many workers died running each pending task.

        The scheduler's own count (a task's ``suspicious``), the one Dask holds against
        ``allowed-failures``: a worker can die before a task logs its start (killed at
        start-up by its nanny), which the task's own events cannot see.
        """
        if not pending or self.executor.status != "running":
            return
        keys = [h.key for h in pending]
        # A lambda travels by value: the scheduler needs no aerdask to run it.
        count = lambda keys, dask_scheduler=None: {  # noqa: E731
            k: dask_scheduler.tasks[k].suspicious for k in keys if k in dask_scheduler.tasks
        }
        try:
            deaths = self.executor.run_on_scheduler(count, keys)
        except Exception:  # the scheduler is going away: failure() will say so
            return
        for handle in pending:
            count = deaths.get(handle.key, 0)
            if count > handle.deaths:
                logger.warning(
                    "task %s: %d worker(s) died running it; Dask retries it (allowed: max_worker_deaths=%d)",
                    handle.key,
                    count,
                    handle.max_deaths,
                )
            handle.deaths = count

    def _check_workers(self, pending) -> None:
        """Mark ``pending`` tasks lost once the cluster has had no worker for ``no_worker_timeout`` s."""
        if self.executor.status != "running":
            return  # failure() reports a lost scheduler on its own
        try:
            workers = self.executor.scheduler_info(n_workers=1)["workers"]
        except Exception:  # the scheduler is going away: failure() will say so
            return
        if workers:
            self._no_workers_since = None
            return
        now = time.monotonic()
        if self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > self.no_worker_timeout:
            logger.warning("%d tasks lost: no worker for %g s", len(pending), self.no_worker_timeout)
            for handle in pending:
                handle.lost = f"the cluster has had no worker for {self.no_worker_timeout:g} s"

    def span(self, name: str):
        # The dashboard's Fine Performance Metrics and span views show the job by this name.
        return distributed.span(name)

    def dashboard_link(self) -> str | None:
        return self.executor.dashboard_link

    # Published datasets live on the scheduler and keep the futures (and so the results) alive,
    # so a job can be found again from a new client, e.g. after a notebook kernel restart.
    PREFIX = "aerdask-job-"

    def publish(self, job_id: str, handles, program, chunks) -> None:
        # The program is stored as bytes in a pickle-free format (arrays and JSON): any client of
        # the scheduler can overwrite a dataset, and whoever retrieves the job reads it, so it
        # must not be able to run code there. The tasks are consecutive runs of the program's
        # points: their sizes rebuild them.
        sizes = [chunk.num_points for chunk in chunks]
        payload = {"futures": [h.future for h in handles], "job": published_bytes(program, sizes)}
        self.executor.publish_dataset(**{self.PREFIX + job_id: payload}, override=True)

    def lookup(self, job_id: str):
        try:
            payload = self.executor.get_dataset(self.PREFIX + job_id)
        except KeyError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("job"), bytes):
            raise JobError(f"the dataset of job {job_id!r} was not written by aerdask")
        program, sizes = read_published(payload["job"], job_id)
        futures = payload.get("futures")
        if not isinstance(futures, list) or len(futures) != len(sizes):
            raise JobError(f"the dataset of job {job_id!r} does not hold its tasks")
        started = _started_keys(self.executor)
        handles = [_DaskHandle(f, self.executor, started, self.changed) for f in futures]
        starts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        chunks = [program.points(starts[i], starts[i + 1]) for i in range(len(sizes))]
        return program, chunks, handles

    def published(self) -> list[str]:
        return [name[len(self.PREFIX) :] for name in self.executor.list_datasets() if name.startswith(self.PREFIX)]

    def unpublish(self, job_id: str) -> None:
        if self.executor.status != "running":
            return  # a lost scheduler took its datasets with it; a closed client cannot reach one
        try:
            self.executor.unpublish_dataset(self.PREFIX + job_id)
        except (KeyError, OSError):  # already gone, or the scheduler is going away
            pass
