"""aerdask_kernels: Numba statevector kernels and the program they run.

This package is everything a worker imports: numpy and numba, nothing else (a
test checks it). The client side (``aerdask``) compiles Qiskit circuits into a
:class:`Program` and ships it with :func:`run_program`.
"""

from .execute import ExperimentError, JobCancelledError, run_program
from .program import FORMAT_VERSION, Experiment, Program, QobjValidationError

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "Experiment",
    "ExperimentError",
    "JobCancelledError",
    "Program",
    "QobjValidationError",
    "run_program",
    "__version__",
]
