"""The runner of a CPU program: compiled kernels (or Python ones for a small first job), an engine per method."""

from __future__ import annotations

import contextlib

from .. import readiness
from ..opcodes import DENSITY_MATRIX, EXTENDED_STABILIZER, MATRIX_PRODUCT_STATE, STABILIZER, SUPEROP, UNITARY
from ..runtime.engine import Engine, Runner
from .density_matrix import DensityMatrixEngine
from .extended import ExtendedStabilizerEngine
from .mps import MPSEngine
from .operator import OperatorEngine
from .stabilizer import StabilizerEngine
from .statevector import StatevectorEngine

__all__ = ["CpuRunner"]


class CpuRunner(Runner):
    """Every method's points in this process (see :class:`.runtime.engine.Runner`).

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
        """The engine of ``exp.method``: statevector, density matrix, stabilizer, unitary, superoperator or MPS."""
        if exp.method == STABILIZER:
            return StabilizerEngine(exp, dtype, cancel_flag)
        if exp.method == MATRIX_PRODUCT_STATE:
            return MPSEngine(exp, dtype, cancel_flag, options)
        if exp.method == EXTENDED_STABILIZER:
            return ExtendedStabilizerEngine(exp, dtype, cancel_flag, options)
        engine = _ENGINES.get(exp.method, StatevectorEngine)
        return engine(exp, dtype, cancel_flag, options.blocking_qubits)


_ENGINES = {DENSITY_MATRIX: DensityMatrixEngine, UNITARY: OperatorEngine, SUPEROP: OperatorEngine}
