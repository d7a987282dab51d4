"""Gate kernels: apply a matrix or a diagonal to a statevector, in place.

Conventions shared by every kernel here:

* ``state`` is a C-contiguous 1-D ``complex128`` or ``complex64`` array of length
  ``2**num_qubits``; qubit ``q`` is bit ``q`` of the index (little-endian, as Qiskit).
* ``matrix`` is flattened row-major with the state's dtype: entry ``(r, c)`` is
  ``matrix[r * dim + c]``; bit ``b`` of ``r`` and ``c`` belongs to ``targets[b]``.
* ``controls`` (int64) must equal the bits of ``ctrl_val`` (control ``j`` is bit
  ``j``) for the gate to act; other amplitudes are left alone.
* Every kernel modifies ``state`` in place and returns nothing.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit

__all__ = ["apply_matrix", "apply_diagonal", "insert_zero_bits", "control_bits"]


@njit(inline="always")
def insert_zero_bits(index, sorted_positions):
    """Spread ``index`` over the bits not in ``sorted_positions`` (ascending int64)."""
    for p in sorted_positions:
        low = index & ((1 << p) - 1)
        index = ((index >> p) << (p + 1)) | low
    return index


@njit
def control_bits(controls, ctrl_val):
    """The index bits set by the controls in their active state (int)."""
    bits = 0
    for j in range(controls.size):
        if (ctrl_val >> j) & 1:
            bits |= 1 << controls[j]
    return bits


@njit
def _apply_1q(state, free_positions, base_bits, target, matrix):
    m00, m01, m10, m11 = matrix[0], matrix[1], matrix[2], matrix[3]
    stride = 1 << target
    for i in range(state.size >> free_positions.size):
        i0 = insert_zero_bits(i, free_positions) | base_bits
        i1 = i0 | stride
        a = state[i0]
        b = state[i1]
        state[i0] = m00 * a + m01 * b
        state[i1] = m10 * a + m11 * b


@njit
def _apply_2q(state, free_positions, base_bits, t0, t1, m):
    s0 = 1 << t0
    s1 = 1 << t1
    for i in range(state.size >> free_positions.size):
        i0 = insert_zero_bits(i, free_positions) | base_bits
        i1 = i0 | s0
        i2 = i0 | s1
        i3 = i1 | s1
        a0 = state[i0]
        a1 = state[i1]
        a2 = state[i2]
        a3 = state[i3]
        state[i0] = m[0] * a0 + m[1] * a1 + m[2] * a2 + m[3] * a3
        state[i1] = m[4] * a0 + m[5] * a1 + m[6] * a2 + m[7] * a3
        state[i2] = m[8] * a0 + m[9] * a1 + m[10] * a2 + m[11] * a3
        state[i3] = m[12] * a0 + m[13] * a1 + m[14] * a2 + m[15] * a3


@njit
def _apply_kq(state, free_positions, base_bits, targets, matrix):
    k = targets.size
    dim = 1 << k
    offsets = np.zeros(dim, dtype=np.int64)
    for r in range(dim):
        for b in range(k):
            if (r >> b) & 1:
                offsets[r] |= 1 << targets[b]
    buf = np.empty(dim, dtype=state.dtype)
    for i in range(state.size >> free_positions.size):
        base = insert_zero_bits(i, free_positions) | base_bits
        for r in range(dim):
            buf[r] = state[base + offsets[r]]
        for r in range(dim):
            acc = matrix[r * dim] * buf[0]
            for c in range(1, dim):
                acc += matrix[r * dim + c] * buf[c]
            state[base + offsets[r]] = acc


@njit
def apply_matrix(state, controls, ctrl_val, targets, matrix):
    """Apply a (controlled) ``2**k x 2**k`` matrix to ``targets``, in place.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        controls: int64, shape ``(c,)``; control qubits (may be empty).
        ctrl_val: int; control ``j`` must be in state ``(ctrl_val >> j) & 1``.
        targets: int64, shape ``(k,)``, ``k >= 1``; target qubits, none a control.
        matrix: same dtype as ``state``, shape ``(4**k,)``; row-major matrix.

    """
    positions = np.sort(np.concatenate((controls, targets)))
    base_bits = control_bits(controls, ctrl_val)
    if targets.size == 1:
        _apply_1q(state, positions, base_bits, targets[0], matrix)
    elif targets.size == 2:
        _apply_2q(state, positions, base_bits, targets[0], targets[1], matrix)
    else:
        _apply_kq(state, positions, base_bits, targets, matrix)


@njit
def apply_diagonal(state, controls, ctrl_val, targets, diagonal):
    """Multiply amplitudes by a (controlled) diagonal, in place.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        controls: int64, shape ``(c,)``; control qubits (may be empty).
        ctrl_val: int; control ``j`` must be in state ``(ctrl_val >> j) & 1``.
        targets: int64, shape ``(k,)``, ``k >= 0``; with ``k == 0`` the single
            entry is a phase on the whole (controlled) subspace.
        diagonal: same dtype as ``state``, shape ``(2**k,)``.

    """
    positions = np.sort(controls)
    base_bits = control_bits(controls, ctrl_val)
    k = targets.size
    for i in range(state.size >> positions.size):
        idx = insert_zero_bits(i, positions) | base_bits
        d = 0
        for b in range(k):
            d |= ((idx >> targets[b]) & 1) << b
        state[idx] *= diagonal[d]
