"""aerdask: Qiskit circuits as jobs on a local thread pool or a Dask cluster.

``from aerdask import AerSimulator`` replaces ``from qiskit_aer import AerSimulator``;
``executor=`` takes a ``ThreadPoolExecutor`` or a ``dask.distributed.Client``.
Importing aerdask never imports distributed.
"""

from aerdask_kernels import QobjValidationError, __version__

from . import library  # noqa: E402  (adds Aer's save methods to QuantumCircuit)
from .backend import AerSimulator  # noqa: E402
from .completion import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait  # noqa: E402
from .errors import (  # noqa: E402
    AerdaskError,
    AerdaskInputError,
    CircuitTooLargeError,
    JobFailedError,
    JobTimeoutError,
    UnsupportedInstructionError,
)
from .job import AerJob  # noqa: E402

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "AerJob",
    "AerSimulator",
    "AerdaskError",
    "AerdaskInputError",
    "CircuitTooLargeError",
    "JobFailedError",
    "JobTimeoutError",
    "QobjValidationError",
    "UnsupportedInstructionError",
    "as_completed",
    "library",
    "wait",
    "__version__",
]
