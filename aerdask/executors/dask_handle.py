"""One task on Dask: a future whose outcome is settled once and never goes back.

A Dask future can go from finished back to pending when its result is lost with
a worker. A job must not: so the handle's outcome is latched (:meth:`DaskHandle.settle`)
the moment it is safe: its result gathered to this process ("gathered"), or left on
the cluster because it is large ("held"), or the task erred or was cancelled. Until
then the task reads as running (or queued), whatever its future does. The
:class:`~aerdask.executors.dask_monitor.ClusterMonitor` settles handles; every method
here only reads local state, except where a docstring names its bound.
"""

from __future__ import annotations

import concurrent.futures
import logging
import pickle
import time

import distributed

from ..errors import ClusterError, TaskLostError, WorkerCrashError
from .base import TaskHandle
from .cluster import FIX_MISSING
from .dask_calls import call_timeout, gather

__all__ = ["DaskHandle", "DEFAULT_MAX_WORKER_DEATHS", "DEFAULT_NO_WORKER_TIMEOUT_S"]

#: Worker deaths while running it that a task may cause before its job fails (Dask's own
#: allowed-failures, 3, counts every death with the task assigned, running or not).
DEFAULT_MAX_WORKER_DEATHS = 1
#: Seconds a job waits with no worker in the cluster before its tasks count as lost (when the
#: adapter gives none: it passes ``aerdask.worker-timeout``).
DEFAULT_NO_WORKER_TIMEOUT_S = 600.0
_SETTLED = ("gathered", "held", "error", "cancelled")
logger = logging.getLogger("aerdask")


class DaskHandle(TaskHandle):
    """A task submitted to a ``distributed.Client``, watched by the client's monitor.

    Args:
        future: The task's future (``run_task``; its result is pickled bytes).
        client: The client.
        monitor: The client's :class:`~aerdask.executors.dask_monitor.ClusterMonitor`.
        eager: Gather the result as soon as the task finishes (False: it stays on the
            cluster until :meth:`result`).
        output_bytes: About how many bytes the result is (:func:`aerdask.admission.output_bytes`).
        max_deaths: Worker deaths while running it before the task is given up.
        no_worker_timeout: Seconds with no worker in the cluster before it is given up.
    """

    def __init__(
        self,
        future: distributed.Future,
        client: distributed.Client,
        monitor,
        *,
        eager: bool = True,
        output_bytes: int = 0,
        max_deaths: int = DEFAULT_MAX_WORKER_DEATHS,
        no_worker_timeout: float = DEFAULT_NO_WORKER_TIMEOUT_S,
    ):
        self.future = future
        self.key = str(future.key)
        self.client = client
        self.monitor = monitor
        self.started = monitor.events  # where and how often it started (tests and the adapter read it)
        self.eager = eager
        self.output_bytes = output_bytes  # about what its result weighs (bounds its gather)
        self.max_deaths = max_deaths
        self.no_worker_timeout = no_worker_timeout
        self.needs_jit = False
        self.cancel_requested = False
        self.recomputing: str | None = None  # the worker its finished result was lost with
        self._outcome: str | None = None
        self._blob: bytes | None = None
        self._exception: BaseException | None = None
        self._given_up: BaseException | None = None
        monitor.watch(self)

    # -- settling (the monitor's thread) ---------------------------------------------------
    def settle(self, outcome: str, blob: bytes | None = None) -> None:
        """Latch the outcome: ``"gathered"`` (with its bytes), ``"held"``, ``"error"`` or ``"cancelled"``."""
        if self._outcome is not None or self._given_up is not None:
            return
        assert outcome in _SETTLED, outcome
        self._blob = blob
        if outcome == "gathered":
            self.recomputing = None
        self._outcome = outcome

    def gathered(self) -> bool:
        """Whether the result is in this process."""
        return self._outcome == "gathered"

    def held(self) -> bool:
        """Whether the task finished with its result left on the cluster (large)."""
        return self._outcome == "held"

    def watching(self) -> bool:
        """Whether the monitor still has something to watch: not settled, or a held result being recomputed."""
        if self._given_up is not None:
            return False
        return self._outcome is None or (self._outcome == "held" and self.recomputing is not None)

    # -- TaskHandle ------------------------------------------------------------------------
    def done(self) -> bool:
        return self._outcome is not None

    def running(self) -> bool:
        return self._outcome is None and self.key in self.started

    def cancelled(self) -> bool:
        return self._outcome == "cancelled" and self.cancel_requested

    def cancel(self) -> bool:
        if self._outcome is not None:
            return False
        self.cancel_requested = True
        self.monitor.cancel_soon(self)  # a call to the scheduler: never on the caller's thread
        return True

    def result(self, timeout=None):
        """The task's output; a held result is gathered within ``timeout`` (default ``aerdask.scheduler-timeout``).

        Raises:
            SchedulerTimeout: if a held result did not arrive in time (it may be being recomputed).
        """
        if self._blob is not None:
            return pickle.loads(self._blob)  # run_task pickles its output (see there)
        if self._outcome == "held":
            return pickle.loads(gather(self.client, [self.future], timeout=timeout)[0])
        exc = self.failure()
        if exc is not None:
            raise exc
        if self.cancelled():
            raise concurrent.futures.CancelledError(f"task {self.key} was cancelled")
        raise concurrent.futures.TimeoutError(f"task {self.key} has not finished")

    def exception(self, timeout=None):
        return self.failure()

    def failure(self) -> BaseException | None:
        outcome = self._outcome
        if outcome in ("gathered", "held"):
            return None
        if self._given_up is not None:
            return self._given_up
        if outcome == "cancelled":
            if self.cancel_requested:
                return None
            return self._give_up(TaskLostError(f"task {self.key} was cancelled by Dask; resubmit the job"), False)
        if outcome == "error":
            return self._error()
        if self.client.status not in ("running", "newly-created"):
            # Dask cancels every future when the client loses the scheduler; nothing will
            # ever finish them, so the job must fail rather than wait forever.
            return self._give_up(
                TaskLostError(
                    f"task {self.key} was lost: the client lost its connection to the scheduler "
                    f"(client status {self.client.status!r}); resubmit the job"
                ),
                False,
            )
        since = self.monitor.no_workers_since
        if since is not None and time.monotonic() - since > self.no_worker_timeout:
            return self._give_up(
                TaskLostError(
                    f"task {self.key} was lost: the cluster has had no worker for {self.no_worker_timeout:g} s "
                    "(no_worker_timeout, default aerdask.worker-timeout)"
                    + (f"; its result was lost with worker {self.recomputing}" if self.recomputing else "")
                )
            )
        deaths = self.started.deaths(self.key)
        if deaths > self.max_deaths:
            crashed = WorkerCrashError(
                f"task {self.key} killed {deaths} workers: each died while running it (out of memory, a crash in "
                f"native code, or workers stopped from outside); it was given up after "
                f"max_worker_deaths={self.max_deaths}"
            )
            logger.error("%s", crashed)
            return self._give_up(crashed)  # it would only kill the next worker too
        return None

    def _give_up(self, exc: BaseException, cancel: bool = True) -> BaseException:
        self._given_up = exc
        if cancel:
            self.monitor.cancel_soon(self)
        return exc

    def _error(self) -> BaseException:
        """The task's exception, asked once (a round trip, bounded); Dask's own errors as aerdask's."""
        if self._exception is None:
            try:
                exc = self.future.exception(timeout=call_timeout())
            except Exception as err:  # noqa: BLE001 (the scheduler went away: say so)
                exc = TaskLostError(f"task {self.key} failed and its error could not be read: {err}")
            if type(exc).__name__ == "KilledWorker":
                exc = WorkerCrashError(
                    f"task {self.key}: Dask gave up on it after workers died with it assigned "
                    f"(distributed.scheduler.allowed-failures): {exc}"
                )
            elif isinstance(exc, concurrent.futures.CancelledError):
                exc = TaskLostError(f"task {self.key} was cancelled by Dask ({exc}); resubmit the job")
            elif isinstance(exc, ImportError) and "aerdask" in str(exc):  # a worker that joined without aerdask
                exc = ClusterError(f"task {self.key}: its worker cannot import aerdask ({exc}); {FIX_MISSING}")
            self._exception = exc
        return self._exception
