"""The unitary and superoperator engines: an operator as a vector, run by the statevector kernels.

An operator ``M`` on ``m`` bits is held as a vector of ``4**m`` entries, ``M[i, j]`` at
index ``i + (j << m)`` (column-stacked, as Qiskit's ``SuperOp`` vectorises). A gate
``U`` on bits ``Q`` gives ``U M``: ``U`` on bits ``Q`` of the vector, the column bits
untouched. So the unitary method runs a circuit's gate rows on ``2n`` bits from the
identity (``m = n``), and the superoperator method runs its density-matrix rows
(:func:`..density.to_density`: ``conj(U) (x) U``, channels as superoperators) on ``4n``
bits (``m = 2n``). Neither measures: validation refuses measurements (and, for the
unitary, resets and noise), as Aer's methods do.
"""

from __future__ import annotations

import math

import numpy as np

from .rows import ArrayEngine

__all__ = ["OperatorEngine"]


class OperatorEngine(ArrayEngine):
    """A unitary or superoperator in this process (see :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment (``method`` ``"unitary"`` or ``"superop"``, on ``2m`` bits).
        dtype: ``np.complex128`` or ``np.complex64``.
        cancel_flag: uint8, shape ``(1,)``.
        blocking_qubits: Local qubits of a cache block (-1: the default; 0: no blocks).
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray, blocking_qubits: int = -1):
        super().__init__(exp, dtype, cancel_flag, blocking_qubits)
        self.half = exp.num_qubits // 2

    def fresh(self) -> np.ndarray:
        """The identity: ``dtype``, ``(4**m,)``."""
        state = np.zeros(1 << self.exp.num_qubits, dtype=self.dtype)
        dim = 1 << self.half
        state[:: dim + 1] = 1
        return state

    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """A SET_STATE row holds the operator over ``sqrt(2**m)`` (a unit vector): scale it back."""
        state[:] = amplitudes * math.sqrt(1 << self.half)

    def _no_measurement(self, *args):
        raise ValueError(f"the {self.exp.method} method does not measure")

    probability_one = collapse = flip = sample = _no_measurement

    def save_value(self, spec: dict, state, zero_threshold: float):
        """The operator, ``(2**m, 2**m)`` complex128, rows first (``save_unitary``, ``save_superop``)."""
        dim = 1 << self.half
        return np.ascontiguousarray(state.reshape(dim, dim).T).astype(np.complex128)
