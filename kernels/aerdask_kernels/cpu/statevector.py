"""The CPU statevector engine: ``2**n`` amplitudes in a numpy array, gates by the compiled interpreter.

With noise, straight-line programs also get fused copies between checkpoints
(:mod:`..checkpoints`), which :meth:`StatevectorEngine.advance` runs between the rows
where the walker drew an error.
"""

from __future__ import annotations

import numpy as np

from ..kernels.interpreter import CANCELLED
from ..kernels.measure import collapse, flip, probability_one
from ..kernels.sampling import sample_indices
from ..passes.checkpoints import Checkpoints
from ..runtime.errors import JobCancelledError
from ..runtime.noise import loops_back
from ..runtime.saves import save_value
from .rows import ArrayEngine, pick_segment

__all__ = ["StatevectorEngine"]


class StatevectorEngine(ArrayEngine):
    """A statevector in this process (see :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment.
        dtype: ``np.complex128`` or ``np.complex64``.
        cancel_flag: uint8, shape ``(1,)``.
        blocking_qubits: Local qubits of a cache block (-1: the default; 0: no blocks).
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray, blocking_qubits: int = -1):
        super().__init__(exp, dtype, cancel_flag, blocking_qubits)
        self.checkpoints = None
        if exp.noisy and not loops_back(exp.ops):
            self.checkpoints = Checkpoints.build(exp, dtype, blocking_qubits)

    def _rows_only(self) -> bool:
        """With checkpoints, fused copies run rows on the state directly: it must be written first."""
        return self.checkpoints is None

    def advance(self, state, creg, pc: int, stop: int = 0, level: int | None = None) -> int:
        """:meth:`run_segment` from ``pc`` with ``stop``, through the fused copies between checkpoints.

        The coarsest copy with two checkpoints in ``[pc, stop]`` runs between them; the
        stretches before and after go to the finer copies, the exact rows last.
        """
        fast = self.checkpoints
        if fast is None:
            return self.run_segment(state, creg, pc, stop)
        if level is None:
            level = len(fast.levels) - 1
        while level >= 0:
            copy = fast.levels[level]
            span = copy.span(pc, stop)
            if span is not None:
                first, last = span
                self.advance(state, creg, pc, int(copy.exact[first]), level - 1)  # ends at that checkpoint
                segment = pick_segment(self.exp.num_qubits, copy.plan[1])
                start, end = int(copy.fast[first]), int(copy.fast[last])
                args = (copy.ops, copy.qubits, copy.matrices, creg, start, self.cancel_flag, copy.plan, end)
                if segment(state, *args) == CANCELLED:
                    raise JobCancelledError("job cancelled while running")
                return self.advance(state, creg, int(copy.exact[last]), stop, level - 1)
            level -= 1
        return self.run_segment(state, creg, pc, stop)

    def probability_one(self, state, qubit: int) -> float:
        """``sum |a_i|**2`` over the basis states with ``qubit`` set."""
        return probability_one(state, qubit)

    def collapse(self, state, qubit: int, outcome: int, probability: float) -> None:
        """Zero the other outcome's amplitudes and rescale, in place."""
        collapse(state, qubit, outcome, probability)

    def flip(self, state, qubit: int) -> None:
        """X on ``qubit``, in place."""
        flip(state, qubit)

    def sample(self, state, shots: int, rng, memory: bool):
        """:func:`.sampling.sample_indices`."""
        return sample_indices(state, shots, rng, memory)

    def save_value(self, spec: dict, state, zero_threshold: float):
        """:func:`.runtime.saves.save_value`."""
        return save_value(spec, state, zero_threshold)
