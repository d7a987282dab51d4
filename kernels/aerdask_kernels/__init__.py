"""aerdask_kernels: Numba statevector kernels and the program they run.

This package is everything a worker imports: numpy and numba, nothing else (a
test checks it). The client side (``aerdask``) compiles Qiskit circuits into a
:class:`Program` and ships it with :func:`run_program`.
"""

from importlib.metadata import PackageNotFoundError, version

from . import (
    _moved,  # noqa: F401  (first: old module paths keep importing; see _moved)
    warmup,  # noqa: F401  (registers how readiness builds compiled kernels)
)
from .format.options import ProgramOptions
from .format.program import FORMAT_VERSION, Experiment, Program, QobjValidationError
from .run import run_experiment, run_program
from .runtime import Engine, Runner, Walker
from .runtime.errors import ExperimentError, JobCancelledError

try:  # one source: pyproject.toml, through the installed distribution that ships both packages
    __version__ = version("aerdask")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = [
    "FORMAT_VERSION",
    "Experiment",
    "ExperimentError",
    "JobCancelledError",
    "Program",
    "ProgramOptions",
    "Engine",
    "Runner",
    "Walker",
    "run_experiment",
    "QobjValidationError",
    "run_program",
    "__version__",
]
