"""The Dask side: tasks as futures of a ``distributed.Client``.

Imported only when a Client is passed, so ``import aerdask`` stays free of distributed.
Each task is :func:`aerdask_worker.run_task` with the plain program; it
logs "started" and "ended" events (Dask futures have no running state) and registers a
cancel flag that :func:`aerdask_worker.cancel_job` sets between gates. The client's
:class:`~.dask_monitor.ClusterMonitor` follows the tasks and gathers their results as
they finish; a job's waits only read what it settled (:class:`~.dask_handle.DaskHandle`).
Every call here that asks the scheduler is bounded (:mod:`.dask_calls`).
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from collections.abc import Callable, Sequence

import dask
import distributed
import numpy as np
import psutil

from aerdask_kernels.format.options import ENGINE_GPU
from aerdask_kernels.gpu import device_memory as gpu_device_memory
from aerdask_kernels.readiness import COMPILING_NOTE, needs_compiled
from aerdask_worker import JIT_RESOURCE, MEMORY_RESOURCE, required_versions, run_task

from .. import config
from ..admission import WorkerMemory, output_bytes
from ..errors import TaskLostError
from .base import GPU_USABLE_FRACTION, ExecutorAdapter, Publishing, TaskHandle
from .cluster import ensure_ready, worker_timeout
from .dask_calls import SchedulerTimeout, gather, run, scheduler_info
from .dask_handle import DEFAULT_MAX_WORKER_DEATHS, DaskHandle
from .dask_monitor import ClusterMonitor, monitor_for
from .dask_publish import DaskPublisher
from .dask_scale import planned_threads
from .registry import MAX_SEEN, state

__all__ = ["DaskAdapter", "TASK_OVERHEAD_S"]

#: Scheduler, transfer and bookkeeping time per task (measured on a LocalCluster: about 4.5 ms).
TASK_OVERHEAD_S = 0.0045
_WAKE_S = 1.0  # waits look at their tasks at least this often (a lost scheduler sends no callback)
#: The Dask resource a GPU worker advertises (one unit per GPU); GPU tasks take one unit.
GPU_RESOURCE = "GPU"
#: Each GPU worker's GPU memory in bytes, by address (asked once: a worker's GPU does not change).
_GPU_MEMORY: dict[str, int] = {}
_GATHER_ROUND_S = 10.0  # a held result is gathered in rounds this long, each bounded
_JIT_CHECK_S = 1.0  # how old the workers' compiled-kernel readiness may be when a task is placed
logger = logging.getLogger("aerdask")


class DaskAdapter(ExecutorAdapter, Publishing):
    """Submits each chunk with a unique key (``pure=False``: identical chunks must not merge)."""

    separate_processes = True

    def __init__(self, client: distributed.Client):
        self.executor = client
        self.max_worker_deaths = DEFAULT_MAX_WORKER_DEATHS
        self.no_worker_timeout: float | None = None  # None: aerdask.worker-timeout
        self._monitor: ClusterMonitor | None = None
        self._publisher = DaskPublisher(client)
        self._jit_checked = -_JIT_CHECK_S
        self._jit_seen: list = []

    @property
    def monitor(self) -> ClusterMonitor:
        """The client's monitor (made, and subscribed to the task events, on first use)."""
        if self._monitor is None:
            self._monitor = monitor_for(self.executor)
        return self._monitor

    def prepare(self) -> None:
        ensure_ready(self.executor)

    def _workers(self) -> dict:
        return scheduler_info(self.executor)["workers"]

    def memory_limit(self) -> int:
        return max(w.usable for w in self.workers_memory())

    def threads(self) -> int:
        return planned_threads(self.executor, self._workers())

    def workers_known(self) -> bool:
        return bool(self._workers())

    def workers_memory(self) -> list:
        # The nanny kills a worker at its terminate fraction of the limit (Dask's default 0.95).
        fraction = dask.config.get("distributed.worker.memory.terminate", 0.95) or 1.0
        default = psutil.virtual_memory().total  # a worker without a limit: assume a host like this one
        present = [
            WorkerMemory(address, int((info.get("memory_limit") or default) * fraction), info.get("nthreads") or 1)
            for address, info in self._workers().items()
        ]
        seen = state(self.executor).workers_seen
        if present:
            seen.update({w.address: w for w in present})
            while len(seen) > MAX_SEEN:  # dicts keep insertion order: the oldest first
                del seen[next(iter(seen))]
            return present
        if seen:  # workers come and go: plan for those that came, wherever they will be
            return [dataclasses.replace(w, address=None) for w in seen.values()]
        configured = config.get("max-worker-memory")
        limit = config.get_bytes("max-worker-memory") if configured else default
        return [WorkerMemory(None, int(limit * fraction), 1)]

    def _gpu_workers(self) -> list[str]:
        # GPU workers say so with a Dask resource (`dask worker --resources GPU=1`, or
        # LocalCUDACluster(resources={"GPU": 1})).
        return [a for a, info in self._workers().items() if (info.get("resources") or {}).get(GPU_RESOURCE, 0) >= 1]

    def gpu_memory(self) -> list:
        # Each GPU worker is asked once what memory its GPU has.
        gpus = self._gpu_workers()
        unknown = [a for a in gpus if a not in _GPU_MEMORY]
        if unknown:
            try:
                _GPU_MEMORY.update(run(self.executor, gpu_device_memory, workers=unknown))
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

    def submit(self, fn: Callable, program, key: str, job_id: str, placement=None) -> TaskHandle:
        client = self.executor
        monitor = self.monitor
        # One bytes object instead of the program: Dask sends each numpy array of a pickled
        # object as a frame of its own, and the scheduler (in the client's process on a
        # LocalCluster) unpickles and re-pickles them all; bytes it passes on as they are.
        blob = pickle.dumps(program.without_headers(), protocol=pickle.HIGHEST_PROTOCOL)
        gpu = program.typed_options.engine == ENGINE_GPU
        placed, resources = self._placed(placement, gpu)
        needs_jit = needs_compiled(program) and self._workers_advertise(JIT_RESOURCE)
        if needs_jit:
            # Only to workers whose compiled kernels are ready: a fresh worker would keep the
            # task waiting for its compile while a ready one sits idle.
            resources[JIT_RESOURCE] = 1
        if gpu:
            resources[GPU_RESOURCE] = 1  # one task per GPU at a time, and only on workers that have one
        if resources:
            placed["resources"] = resources
        size = output_bytes(program)
        expected = required_versions()  # a worker that joins later from another image refuses the task
        future = client.submit(run_task, fn, blob, job_id, expected, key=key, pure=False, **placed)
        handle = DaskHandle(
            future,
            client,
            monitor,
            eager=size <= config.get_bytes("gather-limit"),
            output_bytes=size,
            max_deaths=self.max_worker_deaths,
            no_worker_timeout=self._no_worker_timeout(),
        )
        handle.needs_jit = needs_jit
        return handle

    def _no_worker_timeout(self) -> float:
        return self.no_worker_timeout or worker_timeout()

    def task_ended(self) -> None:
        """Wake the job's waiters, as a task's done callback does (a sharded walk ended)."""
        self.monitor.notify()

    def shard_store(self, key: str, program, flag: np.ndarray):
        from .dask_shards import DaskShardStore

        width = max(exp.num_qubits for exp in program.experiments)
        itemsize = 8 if program.options["precision"] == "single" else 16
        shard_bytes = lambda shards: (1 << (width - shards.bit_length() + 1)) * itemsize  # noqa: E731
        return DaskShardStore(self.executor, key, flag, self.workers_memory(), shard_bytes)

    def _placed(self, placement, gpu: bool) -> tuple[dict, dict]:
        """Dask's ``submit`` arguments and resources for a task that fits only some workers.

        A CPU task asks for its peak in :data:`MEMORY_RESOURCE`, which each worker advertises
        per task: any worker with room takes it, one that restarted at a new address or joined
        after ``run()`` included. GPU tasks (a GPU's memory is not that resource), and clusters
        whose workers do not advertise it, are pinned to the addresses that fit.
        """
        if placement is None:
            return {}, {}
        # No worker yet: those that come get the aerdask plugin, which advertises the resource.
        if not gpu and (self._workers_advertise(MEMORY_RESOURCE) or not self._resources()):
            return {}, {MEMORY_RESOURCE: max(placement.task_bytes >> 20, 1)}
        return {"workers": list(placement.workers), "allow_other_workers": False}, {}

    def _resources(self) -> list:
        """Each worker's resources, at most 1 s old."""
        now = time.monotonic()
        if now >= self._jit_checked + _JIT_CHECK_S:
            self._jit_seen = [w.get("resources") or {} for w in self._workers().values()]
            self._jit_checked = now
        return self._jit_seen

    def _jit_resources(self) -> list:
        """Each worker's :data:`JIT_RESOURCE` (``None`` without the aerdask plugin)."""
        return [r.get(JIT_RESOURCE) for r in self._resources()]

    def _workers_advertise(self, resource: str) -> bool:
        """Whether every worker advertises ``resource`` (the aerdask plugin or preload sets it)."""
        seen = self._resources()
        return bool(seen) and all(r.get(resource) is not None for r in seen)

    def waiting_note(self, handles: Sequence[TaskHandle]) -> str | None:
        monitor, now = self.monitor, time.monotonic()
        if monitor.unanswered_since is not None:
            return f"the Dask scheduler has not answered for {now - monitor.unanswered_since:.0f} s"
        if monitor.no_workers_since is not None:
            return (
                f"waiting for a worker: the cluster has had none for {now - monitor.no_workers_since:.0f} s "
                f"(the job fails after no_worker_timeout={self._no_worker_timeout():g} s)"
            )
        lost = sorted({h.recomputing for h in handles if getattr(h, "recomputing", None)})
        if lost:
            return f"computing again results lost with worker(s) {', '.join(lost)}"
        # Tasks held for compiled kernels while no worker has them ready yet.
        if not any(getattr(h, "needs_jit", False) and not h.done() for h in handles):
            return None
        try:
            if any(q for q in self._jit_resources()):
                return None
        except SchedulerTimeout:
            return None
        return f"workers {COMPILING_NOTE}"

    def results(self, handles: Sequence[TaskHandle], timeout: float | None = None) -> list:
        held = [h for h in handles if isinstance(h, DaskHandle) and h.held()]
        blobs = self._gather_held(held, timeout) if held else {}
        return [pickle.loads(blobs[h.key]) if h.key in blobs else h.result() for h in handles]

    def _gather_held(self, held: list, timeout: float | None) -> dict:
        """The bytes of results left on the cluster, gathered in bounded rounds until ``timeout``.

        Raises:
            TimeoutError: if they did not arrive in time (a lost one is being computed again).
            TaskLostError: if one was lost and the cluster has had no worker for ``no_worker_timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            bound = _GATHER_ROUND_S if remaining is None else max(min(remaining, _GATHER_ROUND_S), 0.001)
            try:
                blobs = gather(self.executor, [h.future for h in held], timeout=bound)
                return {h.key: blob for h, blob in zip(held, blobs, strict=True)}
            except SchedulerTimeout as exc:
                since = self.monitor.no_workers_since
                if since is not None and time.monotonic() - since > self._no_worker_timeout():
                    raise TaskLostError(
                        f"{len(held)} results left on the cluster were lost and the cluster has had no worker "
                        f"for {self._no_worker_timeout():g} s (no_worker_timeout); resubmit the job"
                    ) from exc
                if remaining is not None and time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{len(held)} results left on the cluster (larger than aerdask.gather-limit) did not arrive "
                        f"within {timeout} s; any lost with their workers are being computed again"
                    ) from exc
            except OSError as exc:  # Dask's CommClosedError: the scheduler or a worker went away mid-gather
                raise TaskLostError(
                    f"the results could not be gathered: the connection to the cluster was lost ({exc}); "
                    "resubmit the job"
                ) from exc

    def cancel(self, handles: Sequence[TaskHandle], job_id: str) -> None:
        # Stop running tasks first (the flag), then release the queued ones. Both are sent from
        # the monitor's thread: a busy, dying or frozen cluster must not block cancel().
        self.monitor.signal_cancel(job_id)
        for handle in handles:
            handle.cancel()

    def wait(self, handles: Sequence[TaskHandle], timeout: float | None) -> None:
        # Woken by the monitor whenever a task's state changes; no call to the scheduler here,
        # so a frozen or lost cluster never holds the wait past its timeout.
        monitor = self.monitor
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seen = monitor.version
            if all(h.done() for h in handles) or any(h.failure() is not None for h in handles):
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            monitor.wait_for_change(seen, _WAKE_S if remaining is None else min(remaining, _WAKE_S))

    def span(self, name: str):
        # The dashboard's Fine Performance Metrics and span views show the job by this name.
        return distributed.span(name)

    def dashboard_link(self) -> str | None:
        return self.executor.dashboard_link

    # -- publishing: see DaskPublisher -------------------------------------------------------
    def publish(self, job_id: str, handles, program, chunks) -> None:
        self._publisher.publish(job_id, [h.future for h in handles], program, chunks)

    def lookup(self, job_id: str):
        found = self._publisher.lookup(job_id)
        if found is None:
            return None
        program, chunks, futures = found
        monitor = self.monitor
        return program, chunks, [DaskHandle(f, self.executor, monitor) for f in futures]

    def published(self) -> list[str]:
        return self._publisher.published()

    def unpublish(self, job_id: str) -> None:
        self._publisher.unpublish(job_id)

    def unpublish_soon(self, job_id: str) -> None:
        # From a garbage collection, on whatever thread it runs: the call waits on the monitor's.
        self.monitor.call_soon(self._publisher.unpublish, job_id)
