"""Gate rows on a state in this process: the compiled interpreter with its cache-block plan."""

from __future__ import annotations

import numpy as np

from ..kernels.gates import PARALLEL_MIN_SIZE
from ..kernels.interpreter import CANCELLED, run_segment, run_segment_serial
from ..passes.blocking import plan_blocks
from ..runtime.engine import Engine
from ..runtime.errors import JobCancelledError

__all__ = ["CpuRows", "ArrayEngine"]


class CpuRows:
    """The rows of one experiment, planned for :func:`.interpreter.run_segment`.

    Args:
        exp: The prepared experiment.
        matrices: ``exp.matrices`` in the state's dtype.
        cancel_flag: uint8, shape ``(1,)``.
        blocking_qubits: Local qubits of a cache block (-1: the default; 0: no blocks).
    """

    def __init__(self, exp, matrices: np.ndarray, cancel_flag: np.ndarray, blocking_qubits: int = -1):
        self.exp = exp
        self.matrices = matrices
        self.cancel_flag = cancel_flag
        plan = plan_blocks(exp, blocking_qubits)
        self.plan = (plan.entry, plan.runs, plan.steps, plan.pool, plan.positions)
        # Small states with no cache blocks take the serial interpreter, which compiles
        # far faster (it matters for the first job on a machine; see _jit.serial_variant).
        self.segment = pick_segment(exp.num_qubits, plan.runs)

    def run(self, state: np.ndarray, creg: np.ndarray, pc: int, stop: int = 0) -> int:
        """:meth:`.runtime.engine.Engine.run_segment` on a numpy state."""
        exp = self.exp
        pc = self.segment(state, exp.ops, exp.qubits, self.matrices, creg, pc, self.cancel_flag, self.plan, stop)
        if pc == CANCELLED:
            raise JobCancelledError("job cancelled while running")
        return pc


def pick_segment(num_qubits: int, runs: np.ndarray):
    """The serial interpreter for a small state with no cache blocks, else the threaded one."""
    small = (1 << num_qubits) < PARALLEL_MIN_SIZE and runs.shape[0] == 0
    return run_segment_serial if small else run_segment


class ArrayEngine(Engine):
    """What the CPU engines share: a numpy state of ``2**exp.num_qubits`` entries, rows by :class:`CpuRows`.

    Subclasses say what a measurement, a sample and a save read from it.

    Args:
        exp: The prepared experiment.
        dtype: ``np.complex128`` or ``np.complex64``.
        cancel_flag: uint8, shape ``(1,)``.
        blocking_qubits: Local qubits of a cache block (-1: the default; 0: no blocks).
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray, blocking_qubits: int = -1):
        super().__init__(exp, dtype, cancel_flag)
        self.rows = CpuRows(exp, self.matrices, cancel_flag, blocking_qubits)

    def fresh(self) -> np.ndarray:
        """Entry 0 set to 1 (``|0...0>``, or ``|0><0|`` vectorised): ``dtype``, ``(2**exp.num_qubits,)``."""
        state = np.zeros(1 << self.exp.num_qubits, dtype=self.dtype)
        state[0] = 1
        return state

    def run_segment(self, state, creg, pc: int, stop: int = 0) -> int:
        """The exact rows, through the compiled interpreter."""
        return self.rows.run(state, creg, pc, stop)

    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """Copy ``amplitudes`` into ``state``."""
        state[:] = amplitudes
