"""Waiting on many jobs: :func:`wait` and :func:`as_completed`, as ``concurrent.futures`` has them.

They wait on the executors' own notifications (no polling on one executor), and never
call Dask themselves (see ``aerdask.executors``).
"""

from __future__ import annotations

import concurrent.futures
import time

from qiskit.providers import JobStatus

__all__ = ["wait", "as_completed", "DoneAndNotDone", "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"]

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED
_POLL_S = 0.05  # jobs on different executors are waited on in turns of this length


class DoneAndNotDone(tuple):
    """``(done, not_done)`` sets of jobs, as ``concurrent.futures.wait`` returns them."""

    __slots__ = ()

    def __new__(cls, done: set, not_done: set):
        """The pair ``(done, not_done)``."""
        return super().__new__(cls, (done, not_done))

    @property
    def done(self) -> set:
        """Jobs in a final state (DONE, ERROR or CANCELLED)."""
        return self[0]

    @property
    def not_done(self) -> set:
        """The other jobs."""
        return self[1]


def _wait_any(jobs: list, timeout: float | None) -> None:
    """Block until a task of one of ``jobs`` ends, or ``timeout`` seconds pass."""
    groups: dict[int, tuple] = {}
    for job in jobs:
        adapter, handles = job.wait_target()
        groups.setdefault(id(adapter), (adapter, []))[1].extend(handles)
    if len(groups) == 1:
        adapter, handles = next(iter(groups.values()))
        adapter.wait(handles, timeout)
        return
    for adapter, handles in groups.values():  # no shared wake-up across executors: take turns
        adapter.wait(handles, _POLL_S if timeout is None else min(timeout, _POLL_S))


def wait(jobs, timeout: float | None = None, return_when: str = ALL_COMPLETED) -> DoneAndNotDone:
    """Wait for submitted jobs, with the contract of ``concurrent.futures.wait``.

    Args:
        jobs: :class:`AerJob` objects, submitted (on any executors).
        timeout: Seconds to wait at most; ``None`` for no limit. On timeout the jobs not
            yet final are returned in ``not_done`` (nothing is raised).
        return_when: ``FIRST_COMPLETED``, ``FIRST_EXCEPTION`` (a job in ERROR; or all
            final) or ``ALL_COMPLETED``.

    Returns:
        ``(done, not_done)``, named like ``concurrent.futures.wait``'s.

    Raises:
        ValueError: for another ``return_when``.
        JobError: for a job that was never submitted.
    """
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError(f"return_when must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED, got {return_when!r}")
    jobs = set(jobs)
    for job in jobs:
        job.wait_target()  # raises for a job never submitted
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done = {job for job in jobs if job.in_final_state()}
        pending = jobs - done
        if not pending or (return_when == FIRST_COMPLETED and done):
            return DoneAndNotDone(done, pending)
        if return_when == FIRST_EXCEPTION and any(job.status() is JobStatus.ERROR for job in done):
            return DoneAndNotDone(done, pending)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return DoneAndNotDone(done, pending)
        _wait_any(list(pending), remaining)


def as_completed(jobs, timeout: float | None = None):
    """Yield jobs as they reach a final state, like ``concurrent.futures.as_completed``.

    Raises:
        TimeoutError: (``concurrent.futures.TimeoutError``) if ``timeout`` seconds pass first.
    """
    pending = set(jobs)
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise concurrent.futures.TimeoutError(f"{len(pending)} of the jobs did not finish within {timeout} s")
        done, pending = wait(pending, remaining, FIRST_COMPLETED)
        yield from done
