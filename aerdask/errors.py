"""Exceptions raised by aerdask.

Bad input raises :class:`AerdaskInputError`, which is both a ``QiskitError`` (what
Qiskit code catches) and a ``ValueError`` (what Python code catches).

Code moved from Aer catches ``qiskit_aer.AerError``. aerdask never imports
qiskit-aer, but where the program already has (it must have, to name
``AerError``), every aerdask error raised is also an ``AerError``: a subclass of
both is made on first use. ``isinstance`` checks against aerdask's classes and
pickling are unchanged.
"""

from __future__ import annotations

import concurrent.futures
import sys

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
    "ShardLostError",
    "WorkerCrashError",
    "ClusterError",
    "QobjValidationError",
    "ExperimentError",
    "JobCancelledError",
]


_AER_VARIANTS: dict[type, type] = {}


def _aer_variant(cls: type) -> type:
    """``cls``, or a subclass of ``cls`` and ``qiskit_aer.AerError`` when qiskit-aer is loaded."""
    aer = sys.modules.get("qiskit_aer.aererror")
    if aer is None or issubclass(cls, aer.AerError):
        return cls
    variant = _AER_VARIANTS.get(cls)
    if variant is None:
        variant = type(cls.__name__, (cls, aer.AerError), {"__module__": cls.__module__, "_aer_base": cls})
        _AER_VARIANTS[cls] = variant
    return variant


class AerdaskError(QiskitError):
    """Base class of aerdask's own errors (also a ``qiskit_aer.AerError`` once qiskit-aer is imported)."""

    def __new__(cls, *args, **kwargs):  # noqa: D102 (see the module docs)
        return super().__new__(_aer_variant(cls), *args, **kwargs)

    def __reduce__(self):  # pickle as the aerdask class: the variant exists only in this process
        return (getattr(type(self), "_aer_base", type(self)), self.args, self.__dict__)

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


class ShardLostError(TaskLostError):
    """A shard of a sharded state was lost with its worker.

    A sharded state lives only in its workers' memory, one copy of each shard, so a
    sharded run has no retry: the job fails and must be resubmitted.
    """


class WorkerCrashError(AerdaskError):
    """A task killed its worker more often than ``max_worker_deaths`` allows; it was given up."""


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
