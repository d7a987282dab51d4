"""The CPU density-matrix engine: ``rho`` vectorised to ``4**n`` entries, gates as superoperators.

:func:`..density.to_density` turns an experiment's gates and channels into rows on the
vectorised matrix (entry ``row + (column << n)``), which the compiled interpreter runs
as it runs a statevector's. Measurements, samples and saves read the matrix.
"""

from __future__ import annotations

import numpy as np

from .. import density
from ..kernels.measure import flip
from ..kernels.sampling import sample_indices
from ..runtime.saves import save_value
from .rows import ArrayEngine

__all__ = ["DensityMatrixEngine"]


class DensityMatrixEngine(ArrayEngine):
    """A vectorised density matrix in this process (see :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment, in density form (``exp.method == "density_matrix"``).
        dtype: ``np.complex128`` or ``np.complex64``.
        cancel_flag: uint8, shape ``(1,)``.
        blocking_qubits: Local qubits of a cache block (-1: the default; 0: no blocks).
    """

    def probability_one(self, state, qubit: int) -> float:
        """The diagonal's weight on ``qubit`` = 1."""
        return density.probability_one(state, qubit)

    def collapse(self, state, qubit: int, outcome: int, probability: float) -> None:
        """Project rows and columns onto ``outcome`` and rescale, in place."""
        density.collapse(state, qubit, outcome, probability)

    def flip(self, state, qubit: int) -> None:
        """``X rho X``: the row bit and the column bit of ``qubit`` both flip."""
        # Resets are channels in density form, so the walker never flips; this keeps the contract.
        flip(state, qubit)
        flip(state, qubit + (self.exp.num_qubits >> 1))

    def sample(self, state, shots: int, rng, memory: bool):
        """Draws from the diagonal, as :func:`.sampling.sample_indices` draws from amplitudes."""
        # The sampler reads |a|**2: the square roots of the diagonal give the outcome probabilities.
        return sample_indices(np.sqrt(density.diagonal(state)).astype(self.dtype), shots, rng, memory)

    def save_value(self, spec: dict, state, zero_threshold: float):
        """A save on the matrix (amplitude saves are refused by validation)."""
        kind = spec["kind"]
        qubits = np.asarray(spec["qubits"], dtype=np.int64)
        if kind == "density_matrix":
            return density.reduced(state, qubits)
        if kind in ("expval", "expvals", "expval_var"):
            return save_value(spec, state, zero_threshold, expval=density.expval_pauli)
        # Probabilities and squared amplitudes: those of the amplitudes sqrt(rho[i, i]).
        return save_value(spec, np.sqrt(density.diagonal(state)).astype(np.complex128), zero_threshold)
