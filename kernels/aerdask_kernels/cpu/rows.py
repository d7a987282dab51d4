"""Gate rows on a state in this process: the compiled interpreter with its cache-block plan."""

from __future__ import annotations

import numpy as np

from ..kernels.gates import PARALLEL_MIN_SIZE
from ..kernels.interpreter import CANCELLED, from_zero_plan, run_segment, run_segment_serial
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
        #: The plan for a state not yet written, or None where row 0 is not a block step.
        self.zero_plan = from_zero_plan(self.plan)
        # Small states with no cache blocks take the serial interpreter, which compiles
        # far faster (it matters for the first job on a machine; see _jit.serial_variant).
        self.segment = pick_segment(exp.num_qubits, plan.runs)

    def run(self, state: np.ndarray, creg: np.ndarray, pc: int, stop: int = 0, from_zero: bool = False) -> int:
        """:meth:`.runtime.engine.Engine.run_segment` on a numpy state.

        ``from_zero``: ``state`` is not written yet and ``pc`` is 0; the first block step
        builds ``|0...0>`` (only where :attr:`zero_plan` is not None).
        """
        exp = self.exp
        plan = self.zero_plan if from_zero else self.plan
        pc = self.segment(state, exp.ops, exp.qubits, self.matrices, creg, pc, self.cancel_flag, plan, stop)
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
        self._unwritten = None  # a fresh state whose first block step will write it

    def fresh(self) -> np.ndarray:
        """Entry 0 set to 1 (``|0...0>``, or ``|0><0|`` vectorised): ``dtype``, ``(2**exp.num_qubits,)``.

        Where the program starts with a block step and runs its rows only through
        :meth:`run_segment`, the state is left unwritten: that step builds ``|0...0>`` block
        by block as it writes every entry (no zeroing pass, and each page first touched by
        the thread that fills it: 1.5 passes' time at 24 qubits).
        """
        size = 1 << self.exp.num_qubits
        if self.rows.zero_plan is not None and self._rows_only():
            self._unwritten = np.empty(size, dtype=self.dtype)
            return self._unwritten
        state = np.zeros(size, dtype=self.dtype)
        state[0] = 1
        return state

    def _rows_only(self) -> bool:
        """Whether the walker reaches row 0 through :meth:`run_segment` alone (not fused copies)."""
        return True

    def run_segment(self, state, creg, pc: int, stop: int = 0) -> int:
        """The exact rows, through the compiled interpreter."""
        if state is self._unwritten:
            self._unwritten = None
            if pc == 0:
                return self.rows.run(state, creg, pc, stop, from_zero=True)
            state[:] = 0  # never taken by the walker; kept so a new caller cannot read garbage
            state[0] = 1
        return self.rows.run(state, creg, pc, stop)

    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """Copy ``amplitudes`` into ``state``."""
        state[:] = amplitudes
