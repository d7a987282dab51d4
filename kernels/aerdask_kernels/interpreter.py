"""The compiled walk over a program's opcodes.

``run_segment`` executes gates and classical jumps without returning to Python,
and stops at the first op that needs the Python driver (a measurement, a reset or
a save, which branch shots or build result data) or at the end. Between gates it
reads ``cancel_flag[0]``: another thread sets it to stop a running job.
"""

from __future__ import annotations

from ._jit import njit
from .gates import apply_diagonal, apply_matrix
from .program import OP_BRANCH, OP_DIAG, OP_JUMP, OP_MATRIX

__all__ = ["run_segment", "CANCELLED"]

#: Returned by :func:`run_segment` when the cancel flag was seen.
CANCELLED = -1


@njit
def _compare(lhs, cmp, rhs):
    if cmp == 0:
        return lhs == rhs
    if cmp == 1:
        return lhs != rhs
    if cmp == 2:
        return lhs < rhs
    if cmp == 3:
        return lhs <= rhs
    if cmp == 4:
        return lhs > rhs
    return lhs >= rhs


@njit
def register_value(creg, clbits):
    """Integer value of ``creg`` (int8 array) read at ``clbits``, little-endian."""
    value = 0
    for b in range(clbits.size):
        value |= int(creg[clbits[b]]) << b
    return value


@njit
def run_segment(state, ops, qubits, matrices, creg, pc, cancel_flag):
    """Run ops from ``pc`` until one needs the Python driver, in place.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        ops: int64, shape ``(n_ops, 8)``; the opcode table.
        qubits: int64; indices referenced by ``ops``.
        matrices: flattened matrices, same dtype as ``state``.
        creg: int8, shape ``(max(num_clbits, 1),)``; read by BRANCH ops.
        pc: int; first op to run.
        cancel_flag: uint8, shape ``(1,)``; non-zero stops the walk.

    Returns:
        int: the index of the first MEASURE/RESET/SAVE op reached, ``len(ops)`` at
        the end, or :data:`CANCELLED`.

    """
    n_ops = ops.shape[0]
    while pc < n_ops:
        if cancel_flag[0] != 0:
            return CANCELLED
        op = ops[pc, 0]
        qoff = ops[pc, 1]
        nctrl = ops[pc, 2]
        ntarg = ops[pc, 3]
        if op == OP_MATRIX:
            dim = 1 << ntarg
            moff = ops[pc, 4]
            apply_matrix(
                state,
                qubits[qoff : qoff + nctrl],
                ops[pc, 5],
                qubits[qoff + nctrl : qoff + nctrl + ntarg],
                matrices[moff : moff + dim * dim],
            )
            pc += 1
        elif op == OP_DIAG:
            moff = ops[pc, 4]
            apply_diagonal(
                state,
                qubits[qoff : qoff + nctrl],
                ops[pc, 5],
                qubits[qoff + nctrl : qoff + nctrl + ntarg],
                matrices[moff : moff + (1 << ntarg)],
            )
            pc += 1
        elif op == OP_JUMP:
            pc = ops[pc, 6]
        elif op == OP_BRANCH:
            value = register_value(creg, qubits[qoff : qoff + ntarg])
            if _compare(value, ops[pc, 7], ops[pc, 5]):
                pc += 1
            else:
                pc = ops[pc, 6]
        else:
            return pc
    return pc
