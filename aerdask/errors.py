"""Exceptions raised by aerdask.

Bad input raises :class:`AerdaskInputError`, which is both a ``QiskitError`` (what
Qiskit code catches) and a ``ValueError`` (what Python code catches).
"""

from __future__ import annotations

import concurrent.futures

from qiskit.exceptions import QiskitError
from qiskit.providers import JobError
from qiskit.providers import JobTimeoutError as _QiskitJobTimeoutError

from aerdask_kernels import ExperimentError, JobCancelledError, QobjValidationError

__all__ = [
    "AerdaskError",
    "AerdaskInputError",
    "UnsupportedInstructionError",
    "CircuitTooLargeError",
    "JobTimeoutError",
    "JobFailedError",
    "TaskLostError",
    "ClusterError",
    "QobjValidationError",
    "ExperimentError",
    "JobCancelledError",
]


class AerdaskError(QiskitError):
    """Base class of aerdask's own errors."""

    def __str__(self) -> str:  # QiskitError shows repr(message); a plain sentence reads better
        return self.message


class AerdaskInputError(AerdaskError, ValueError):
    """``run()`` or ``set_options()`` got input it cannot honour; the message says what is allowed."""


class UnsupportedInstructionError(AerdaskInputError):
    """A circuit holds an instruction aerdask cannot run; names the instruction and the circuit."""


class CircuitTooLargeError(AerdaskInputError, MemoryError):
    """A circuit's state would not fit in memory; gives bytes needed and available."""


class JobTimeoutError(_QiskitJobTimeoutError, concurrent.futures.TimeoutError):
    """A wait on a job ran out of time.

    Both ``qiskit.providers.JobTimeoutError`` and ``concurrent.futures.TimeoutError``
    (the built-in ``TimeoutError``), so either ``except`` clause catches it.
    """


class TaskLostError(AerdaskError):
    """A task will never finish (its client lost the scheduler); the job must be resubmitted."""


class ClusterError(AerdaskError):
    """The Dask cluster cannot run aerdask jobs (closed client, no workers, missing or mismatched kernels)."""


class JobFailedError(JobError):
    """A job ended in ERROR; names the failing experiment and the cause.

    Attributes:
        partial_result: A ``qiskit.result.Result`` with the experiments that did
            finish (``success`` False), or ``None`` if none did.

    """

    def __init__(self, message: str, partial_result=None):
        super().__init__(message)
        self.partial_result = partial_result
