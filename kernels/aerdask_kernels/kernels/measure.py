"""Measurement kernels: probabilities, collapse and Pauli expectation values.

``state`` is a 1-D ``complex128`` or ``complex64`` statevector, little-endian
(qubit ``q`` is bit ``q`` of the index). Probabilities are always ``float64``,
also for single precision, so that sampling sums do not drift.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from .bits import insert_zero_bit

__all__ = [
    "probability_one",
    "collapse",
    "flip",
    "marginal_probabilities",
    "expval_pauli",
]


@njit
def probability_one(state, qubit):
    """Probability (float) that measuring ``qubit`` gives 1."""
    stride = 1 << qubit
    total = 0.0
    for i in range(state.size >> 1):
        i1 = insert_zero_bit(i, qubit) | stride
        a = state[i1]
        total += a.real * a.real + a.imag * a.imag
    return total


@njit
def collapse(state, qubit, outcome, probability):
    """Project ``qubit`` onto ``outcome`` (0 or 1) and renormalise, in place.

    Args:
        state: statevector; modified in place.
        qubit: int.
        outcome: int, 0 or 1.
        probability: float, the probability of ``outcome`` (must be > 0).

    """
    scale = 1.0 / np.sqrt(probability)
    stride = 1 << qubit
    for i in range(state.size >> 1):
        i0 = insert_zero_bit(i, qubit)
        i1 = i0 | stride
        if outcome:
            state[i0] = 0
            state[i1] *= scale
        else:
            state[i0] *= scale
            state[i1] = 0


@njit
def flip(state, qubit):
    """Apply X to ``qubit`` by swapping amplitude pairs, in place."""
    stride = 1 << qubit
    for i in range(state.size >> 1):
        i0 = insert_zero_bit(i, qubit)
        i1 = i0 | stride
        a = state[i0]
        state[i0] = state[i1]
        state[i1] = a


@njit
def marginal_probabilities(state, qubits):
    """Probabilities of the outcomes of ``qubits`` (int64, shape ``(m,)``).

    Returns:
        float64, shape ``(2**m,)``; bit ``b`` of the index is the outcome of ``qubits[b]``.

    """
    m = qubits.size
    out = np.zeros(1 << m, dtype=np.float64)
    for i in range(state.size):
        a = state[i]
        p = a.real * a.real + a.imag * a.imag
        idx = 0
        for b in range(m):
            idx |= ((i >> qubits[b]) & 1) << b
        out[idx] += p
    return out


@njit
def expval_pauli(state, x_mask, z_mask, num_y):
    """``<state| P |state>`` for the Pauli string given by its masks.

    Args:
        state: statevector (not modified).
        x_mask: int; bits where P has X or Y.
        z_mask: int; bits where P has Z or Y.
        num_y: int; number of Y factors (``Y = i X Z``).

    Returns:
        float: the real expectation value (P is Hermitian).

    """
    total = 0.0 + 0.0j
    for i in range(state.size):
        a = state[i]
        b = state[i ^ x_mask]
        parity = 0
        z = i & z_mask
        while z:
            z &= z - 1
            parity ^= 1
        term = b.conjugate() * a
        total += -term if parity else term
    phase = (1j) ** (num_y % 4)
    return (phase * total).real
