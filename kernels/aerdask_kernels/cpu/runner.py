"""The runner of a CPU program: compiled kernels (or Python ones for a small first job), an engine per method."""

from __future__ import annotations

import contextlib

from .. import readiness
from ..density import DENSITY_MATRIX
from ..runtime.engine import Engine, Runner
from .density_matrix import DensityMatrixEngine
from .statevector import StatevectorEngine

__all__ = ["CpuRunner"]


class CpuRunner(Runner):
    """Statevector and density-matrix points in this process (see :class:`.runtime.engine.Runner`).

    While a small program's compiled kernels are not ready in this process, its points
    run on the Python kernels (:func:`.readiness.kernels_for`); ``kernels`` says which.
    """

    def __init__(self, program):
        self.program = program
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> CpuRunner:
        python = self._stack.enter_context(readiness.kernels_for(self.program))
        self.kernels = "python" if python else "compiled"
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def engine(self, exp, dtype, cancel_flag, options) -> Engine:
        """A :class:`.DensityMatrixEngine` for a density-matrix experiment, else a :class:`.StatevectorEngine`."""
        engine = DensityMatrixEngine if exp.method == DENSITY_MATRIX else StatevectorEngine
        return engine(exp, dtype, cancel_flag, options.blocking_qubits)
