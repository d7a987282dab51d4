"""Index bit helpers shared by the kernels: small njit functions, one definition each.

A state index is little-endian: qubit ``q`` is bit ``q``. Kernels walk the indices
that have given bits cleared (``insert_zero_bit(s)``), set the bits of active
controls (``control_bits``) and read a gate's bits back out of an index
(``gather_bits``). These are called in the innermost loops; LLVM inlines them.
"""

from __future__ import annotations

from .._jit import njit

__all__ = ["insert_zero_bit", "insert_zero_bits", "control_bits", "gather_bits"]


@njit
def insert_zero_bit(index, p):
    """``index`` with a 0 inserted at bit ``p`` (the bits from ``p`` up move one higher)."""
    return ((index >> p) << (p + 1)) | (index & ((1 << p) - 1))


@njit
def insert_zero_bits(index, sorted_positions):
    """Spread ``index`` over the bits not in ``sorted_positions`` (ascending int64).

    Not ``inline="always"``: Numba's parfor pass mistypes a loop-carried variable of an
    inlined body inside ``prange``; LLVM inlines the call anyway.
    """
    out = index
    for p in sorted_positions:
        out = ((out >> p) << (p + 1)) | (out & ((1 << p) - 1))
    return out


@njit
def control_bits(controls, ctrl_val):
    """The index bits set by the controls in their active state: control ``j`` wants bit ``j`` of ``ctrl_val``."""
    bits = 0
    for j in range(controls.size):
        if (ctrl_val >> j) & 1:
            bits |= 1 << controls[j]
    return bits


@njit
def gather_bits(index, positions, first):
    """Bits of ``index`` at ``positions[first:]``, packed at bits ``first...`` of the result.

    A plain function, not inlined: a reduction inside a ``prange`` body confuses parfor typing.
    """
    out = 0
    for b in range(first, positions.size):
        out |= ((index >> positions[b]) & 1) << b
    return out
