"""The contract between a job and whatever runs its tasks."""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Sequence

import numpy as np

from aerdask_kernels.sharded import ShardStore

from ..admission import WorkerMemory

#: Share of a GPU's memory a task may plan to use: the CUDA context, the kernels and the
#: allocator's rounding take the rest.
GPU_USABLE_FRACTION = 0.9

logger = logging.getLogger("aerdask")


class TaskHandle(abc.ABC):
    """One submitted task (one chunk of a job).

    Status methods never block. ``cancel`` is cooperative for a running task: it
    asks the kernels to stop between gates.
    """

    key: str

    @abc.abstractmethod
    def done(self) -> bool:
        """True once the task finished, failed or was cancelled."""

    @abc.abstractmethod
    def running(self) -> bool:
        """True while the task runs on a thread (started and not done)."""

    @abc.abstractmethod
    def cancel(self) -> bool:
        """Stop the task: a queued task never starts, a running one stops at the next gate.

        Returns:
            False if the task was already done, else True.

        """

    @abc.abstractmethod
    def result(self, timeout: float | None = None):
        """The task's output; raises its exception, ``TimeoutError`` or ``CancelledError``."""

    @abc.abstractmethod
    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The task's exception, or ``None`` (raises ``CancelledError`` if it was cancelled before starting)."""

    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True if the task was cancelled before it started."""

    def failure(self) -> BaseException | None:
        """The reason the task failed, or ``None`` while it runs, after success or after a cancel."""
        if not self.done() or self.cancelled():
            return None
        return self.exception()  # done: does not block


class FutureHandle(TaskHandle):
    """A task behind a ``concurrent.futures.Future`` (``self.future``) with a cancel flag (``self.flag``).

    ``cancel`` releases a queued task; a running one gets its flag set, which the
    kernels (or a sharded walk) read between steps.
    """

    future: concurrent.futures.Future
    flag: np.ndarray

    def done(self) -> bool:
        return self.future.done()

    def running(self) -> bool:
        return self.future.running()

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def cancel(self) -> bool:
        if self.future.cancel():
            return True
        if self.future.done():
            return False
        self.flag[0] = 1
        return True

    def result(self, timeout=None):
        return self.future.result(timeout)

    def exception(self, timeout=None):
        return self.future.exception(timeout)


class ExecutorAdapter(abc.ABC):
    """Submits tasks and waits on them; one implementation per kind of executor."""

    #: The object the user passed (``ThreadPoolExecutor``, ``Client``, ...).
    executor: object
    #: Whether tasks run in processes of their own, each with its own GIL (a Dask cluster): then
    #: splitting one experiment's noisy shots over tasks pays off.
    separate_processes: bool = False

    @abc.abstractmethod
    def submit(self, fn: Callable, program, key: str, job_id: str, placement=None) -> TaskHandle:
        """Run ``fn(program, cancel_flag)`` as a task named ``key`` (unique per job and chunk).

        ``placement``: an :class:`aerdask.admission.Placement` when only some workers can
        hold the task (``None``: any; a pool has one place).
        """

    def task_ended(self) -> None:  # noqa: B027  (optional: a pool's futures wake their waiters)
        """Called when a task run outside the executor (a sharded walk on a client thread) ends.

        An adapter whose waits sleep on its own notifications (Dask's monitor) wakes them here.
        """

    @abc.abstractmethod
    def shard_store(self, key: str, program, flag: np.ndarray) -> ShardStore:
        """Where the shards of a sharded task named ``key`` live (see :mod:`aerdask_kernels.sharded`).

        ``flag``: uint8, shape ``(1,)``; the run's cancel flag, for the store's waits.
        """

    @abc.abstractmethod
    def wait(self, handles: Sequence[TaskHandle], timeout: float | None) -> None:
        """Block until every handle is done, one has failed, or ``timeout`` seconds passed."""

    def results(self, handles: Sequence[TaskHandle], timeout: float | None = None) -> list:
        """The outputs of finished tasks, in order.

        Args:
            handles: Tasks that are done.
            timeout: Seconds to wait for outputs that are not in this process yet (Dask's
                results left on the cluster); ``None``: as long as it takes.

        Raises:
            TimeoutError: if they did not arrive in time.
            TaskLostError: if one was lost for good.
        """
        return [handle.result() for handle in handles]

    def cancel(self, handles: Sequence[TaskHandle], job_id: str) -> None:
        """Cancel every task of a job: queued ones never start, running ones stop at the next gate."""
        for handle in handles:
            handle.cancel()

    def prepare(self) -> None:  # noqa: B027  (optional hook: a thread pool is always ready)
        """Check that tasks can run at all (raise a clear error at ``run()`` if not)."""

    @abc.abstractmethod
    def memory_limit(self) -> int:
        """Bytes one task may use for its state (the largest worker's limit)."""

    @abc.abstractmethod
    def threads(self) -> int:
        """How many tasks can run at once (worker threads of the pool or the cluster)."""

    def workers_known(self) -> bool:
        """Whether the places that will run the tasks are there now (a cluster may have no worker yet)."""
        return True

    def workers_memory(self) -> list:
        """What each place that runs tasks offers: :class:`aerdask.admission.WorkerMemory` per worker."""
        return [WorkerMemory(None, self.memory_limit(), self.threads())]

    def gpu_memory(self) -> list:
        """The GPUs that run ``device="GPU"`` tasks: a :class:`~aerdask.admission.WorkerMemory` each.

        One task at a time per GPU (``threads`` 1); ``usable`` is :data:`GPU_USABLE_FRACTION`
        of its memory. Here: this process's GPU, if numba-cuda finds one.
        """
        from aerdask_kernels.gpu import device_memory

        memory = device_memory()
        return [WorkerMemory(None, int(memory * GPU_USABLE_FRACTION), 1)] if memory else []

    def gpu_missing(self) -> str:
        """Why :meth:`gpu_memory` found no GPU, for the error ``run()`` raises."""
        from aerdask_kernels.gpu import unavailable_reason

        return f"this process has no usable GPU ({unavailable_reason() or 'numba-cuda lists none'})"

    def task_overhead(self) -> float:
        """Seconds the executor spends on a task besides running it (sizes the tasks of a job)."""
        return 0.0005

    def span(self, name: str) -> contextlib.AbstractContextManager:
        """A context around one job's submissions; Dask names them a span (``distributed.span``)."""
        return contextlib.nullcontext()

    def dashboard_link(self) -> str | None:
        """A link to watch the tasks, where the executor has one."""
        return None

    def waiting_note(self, handles: Sequence[TaskHandle]) -> str | None:
        """What the unfinished ``handles`` wait on besides running, e.g. compiling kernels; ``None``: nothing."""
        return None


class Publishing(abc.ABC):
    """What an executor whose jobs outlive the client adds: jobs findable by id (Dask's datasets).

    A mixin beside :class:`ExecutorAdapter`; a thread pool's jobs die with the process, so it
    has none of this, and :class:`~aerdask.job.AerJob` publishes only through adapters that do.
    """

    @abc.abstractmethod
    def publish(self, job_id: str, handles, program, chunks) -> None:
        """Keep a submitted job findable by id."""

    @abc.abstractmethod
    def lookup(self, job_id: str):
        """``(program, chunks, handles)`` of a published job, or ``None``."""

    @abc.abstractmethod
    def published(self) -> list[str]:
        """Ids of the jobs that can be looked up."""

    @abc.abstractmethod
    def unpublish(self, job_id: str) -> None:
        """Forget a published job."""

    def unpublish_soon(self, job_id: str) -> None:
        """:meth:`unpublish` without waiting for it (called when a job object is collected)."""
        self.unpublish(job_id)
