"""The Dask side: tasks as futures of a ``distributed.Client``.

Imported only when a Client is passed, so ``import aerdask`` stays free of distributed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import distributed

from ..chunking import auto_job_size
from .base import ExecutorAdapter, TaskHandle

__all__ = ["DaskAdapter", "default_job_size"]


def default_job_size(client: distributed.Client, program) -> int:
    """Experiments per task for a job with no explicit split (see :func:`auto_job_size`)."""
    threads = sum(client.nthreads().values()) or 1
    widest = max(exp.num_qubits for exp in program.experiments)
    cost = 1e-6 * (1 << widest) * max(1, max(exp.ops.shape[0] for exp in program.experiments)) / 1e3
    return auto_job_size(len(program.experiments), threads, cost)


class _DaskHandle(TaskHandle):
    def __init__(self, future: distributed.Future):
        self.future = future
        self.key = future.key

    def done(self) -> bool:
        return self.future.done()

    def running(self) -> bool:
        return False  # Dask reports "pending" for queued and running alike

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def cancel(self) -> bool:
        if self.future.done():
            return False
        self.future.cancel()
        return True

    def result(self, timeout=None):
        return self.future.result(timeout)

    def exception(self, timeout=None):
        return self.future.exception(timeout)


class DaskAdapter(ExecutorAdapter):
    """Submits each chunk with a unique key (``pure=False``: identical chunks must not merge)."""

    def __init__(self, client: distributed.Client):
        self.executor = client

    def submit(self, fn: Callable, program, key: str) -> TaskHandle:
        return _DaskHandle(self.executor.submit(fn, program, None, key=key, pure=False))

    def wait(self, handles: Sequence[TaskHandle], timeout: float | None) -> None:
        try:
            distributed.wait([h.future for h in handles], timeout=timeout, return_when="FIRST_EXCEPTION")
        except TimeoutError:
            pass

    def dashboard_link(self) -> str | None:
        return self.executor.dashboard_link
