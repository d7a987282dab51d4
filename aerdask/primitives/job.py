"""The job a primitive returns: an :class:`~aerdask.AerJob` and what turns its result into PUB results."""

from __future__ import annotations

import threading
from collections.abc import Callable

from qiskit.primitives import BasePrimitiveJob, PrimitiveResult
from qiskit.providers import JobStatus
from qiskit.providers.jobstatus import JOB_FINAL_STATES

from ..job import AerJob

__all__ = ["PrimitiveJob"]


class PrimitiveJob(BasePrimitiveJob[PrimitiveResult, JobStatus]):
    """A primitive's job, over the :class:`~aerdask.AerJob` that runs its PUBs.

    Args:
        job: The submitted job.
        finish: Turns the job's ``qiskit.result.Result`` into the ``PrimitiveResult``.
    """

    def __init__(self, job: AerJob, finish: Callable):
        super().__init__(job.job_id())
        self._job = job
        self._finish = finish
        self._result: PrimitiveResult | None = None
        self._lock = threading.Lock()

    def result(self, timeout: float | None = None) -> PrimitiveResult:
        """Wait for the PUB results (built once, then kept).

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.

        Raises:
            aerdask.JobTimeoutError: if the job is not done within ``timeout``.
            concurrent.futures.CancelledError: if the job was cancelled.
            aerdask.JobFailedError: if a task failed (names the experiment and the cause).
        """
        with self._lock:
            if self._result is None:
                self._result = self._finish(self._job.result(timeout))
            return self._result

    def status(self) -> JobStatus:
        """The job's state; never blocks (see :meth:`aerdask.AerJob.status`)."""
        return self._job.status()

    def done(self) -> bool:
        """Whether the job finished successfully."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        """Whether a task of the job runs now."""
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        """Whether the job was cancelled."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Whether the job is DONE, ERROR or CANCELLED."""
        return self.status() in JOB_FINAL_STATES

    def cancel(self) -> bool:
        """Cancel the job: queued tasks never start, running ones stop at the next gate.

        Returns:
            True if the job is now cancelled, False if it had already finished.
        """
        return self._job.cancel()

    @property
    def aer_job(self) -> AerJob:
        """The underlying :class:`~aerdask.AerJob` (tasks, progress, executor)."""
        return self._job
