"""The compiled walk over a program's opcodes.

``run_segment`` executes gates and classical jumps without returning to Python,
runs the cache blocks of a :class:`.blocking.Plan` where one starts,
and stops at the first op that needs the Python driver (a measurement, a reset or
a save, which branch shots or build result data) or at the end. Between gates it
reads ``cancel_flag[0]``: another thread sets it to stop a running job.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, serial_variant
from ..opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_CVAL,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_BRANCH,
    OP_CHANNEL,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
)
from .bits import control_bits
from .blocked import apply_block
from .gates import apply_diagonal, apply_matrix, target_offsets
from .monomial import MAX_MONOMIAL_TARGETS, apply_monomial, monomial

__all__ = [
    "run_segment",
    "run_segment_serial",
    "run_blocks",
    "from_zero_plan",
    "CANCELLED",
    "compare",
    "register_value",
    "control_next",
]

#: Returned by :func:`run_segment` when the cancel flag was seen.
CANCELLED = -1


@njit
def compare(lhs, cmp, rhs):
    """``lhs <cmp> rhs`` for a BRANCH row's comparison code (0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=)."""
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
def control_next(ops, qubits, creg, pc):
    """The row after control row ``pc`` (a JUMP, or a BRANCH on the clbits of ``creg``).

    The one definition of jumps and branches: :func:`run_segment` compiles it in, and
    engines that walk rows on the host call it as Python (``runtime.engine.host_rows``).
    """
    if ops[pc, COL_OPCODE] == OP_JUMP:
        return ops[pc, COL_ARG]
    qoff, ntarg = ops[pc, COL_QOFF], ops[pc, COL_NTARG]
    value = register_value(creg, qubits[qoff : qoff + ntarg])
    if compare(value, ops[pc, COL_ARG2], ops[pc, COL_CVAL]):
        return pc + 1
    return ops[pc, COL_ARG]


@njit
def _apply_gate_row(state, ops, pc, qubits, matrices):
    """Apply the MATRIX or DIAG row ``pc`` with the ordinary kernels."""
    qoff, nctrl, ntarg, moff = ops[pc, COL_QOFF], ops[pc, COL_NCTRL], ops[pc, COL_NTARG], ops[pc, COL_MOFF]
    controls = qubits[qoff : qoff + nctrl]
    targets = qubits[qoff + nctrl : qoff + nctrl + ntarg]
    if ops[pc, COL_OPCODE] == OP_MATRIX:
        dim = 1 << ntarg
        matrix = matrices[moff : moff + dim * dim]
        if ntarg <= MAX_MONOMIAL_TARGETS:
            perm = np.empty(dim, dtype=np.int64)
            phase = np.empty(dim, dtype=matrix.dtype)
            if monomial(matrix, dim, perm, phase):  # x, cx, swap, ccx...: moves, no products
                positions = np.sort(np.concatenate((controls, targets)))
                base_bits = control_bits(controls, ops[pc, COL_CVAL])
                apply_monomial(state, positions, base_bits, target_offsets(targets), perm, phase)
                return
        apply_matrix(state, controls, ops[pc, COL_CVAL], targets, matrix)
    else:
        apply_diagonal(state, controls, ops[pc, COL_CVAL], targets, matrices[moff : moff + (1 << ntarg)])


@njit
def run_blocks(state, ops, qubits, matrices, cancel_flag, run, steps, pool, positions):
    """The steps of one planned run; False if the cancel flag stopped it.

    A step with ``-n_local`` local qubits is a block step that starts from ``|0...0>``
    without reading the state (see :func:`from_zero_plan`).
    """
    for s in range(run[0], run[1]):
        if cancel_flag[0] != 0:
            return False
        n_local, local_off, rows_off, n_rows = steps[s, 0], steps[s, 1], steps[s, 2], steps[s, 3]
        rows = pool[rows_off : rows_off + n_rows]
        if n_local == 0:
            for r in range(n_rows):
                _apply_gate_row(state, ops, rows[r], qubits, matrices)
        else:
            from_zero = n_local < 0
            n_local = abs(n_local)
            local = pool[local_off : local_off + n_local]
            slots = pool[local_off + n_local : local_off + 2 * n_local]
            apply_block(state, local, slots, rows, ops, positions, matrices, run[3], from_zero)
    return True


def from_zero_plan(plan: tuple) -> tuple | None:
    """``plan`` for a state not yet written: its first block step builds ``|0...0>`` itself.

    Args:
        plan: ``(entry, runs, steps, pool, positions)`` of a :class:`.blocking.Plan`.

    Returns:
        The same plan with that step's local count negated (read by :func:`run_blocks`), or
        ``None`` if row 0 does not start with a block step (the state must then be zeroed).
    """
    entry, runs, steps, pool, positions = plan
    if entry.size == 0 or entry[0] < 0:
        return None
    first = runs[entry[0], 0]
    if steps[first, 0] <= 0:
        return None
    steps = steps.copy()
    steps[first, 0] = -steps[first, 0]
    return entry, runs, steps, pool, positions


@njit
def run_segment(state, ops, qubits, matrices, creg, pc, cancel_flag, plan, stop=0):
    """Run ops from ``pc`` until one needs the Python driver, in place.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        ops: int64, shape ``(n_ops, 8)``; the opcode table.
        qubits: int64; indices referenced by ``ops``.
        matrices: flattened matrices, same dtype as ``state``.
        creg: int8, shape ``(max(num_clbits, 1),)``; read by BRANCH ops.
        pc: int; first op to run.
        cancel_flag: uint8, shape ``(1,)``; non-zero stops the walk.
        plan: tuple ``(entry, runs, steps, pool, positions)`` of a
            :class:`.blocking.Plan`; runs with an entry are applied block by block.
        stop: CHANNEL rows before op ``stop`` apply their identity (the driver drew no
            error there for these shots) and are passed; the first one at or after it
            returns.

    Returns:
        int: the index of the first MEASURE/RESET/SAVE op reached (or a CHANNEL op at
        or after ``stop``), ``len(ops)`` at the end, or :data:`CANCELLED`.

    """
    entry, runs, steps, pool, positions = plan
    n_ops = ops.shape[0]
    while pc < n_ops:
        if cancel_flag[0] != 0:
            return CANCELLED
        op = ops[pc, COL_OPCODE]
        if entry[pc] >= 0:
            run = runs[entry[pc]]
            if not run_blocks(state, ops, qubits, matrices, cancel_flag, run, steps, pool, positions):
                return CANCELLED
            pc = run[2]
        elif op == OP_MATRIX or op == OP_DIAG:
            _apply_gate_row(state, ops, pc, qubits, matrices)
            pc += 1
        elif op == OP_JUMP or op == OP_BRANCH:
            pc = control_next(ops, qubits, creg, pc)
        elif op == OP_CHANNEL and pc < stop:
            pc += 1
        else:
            return pc
    return pc


@njit
def _no_blocks(state, ops, qubits, matrices, cancel_flag, run, steps, pool, positions):
    """Stands in for :func:`run_blocks` in the serial interpreter, which runs only empty plans."""
    return False


@njit
def _not_monomial(matrix, dim, perm, phase):
    """Stands in for :func:`.monomial.monomial` in the serial interpreter: every matrix runs dense."""
    return False


@njit
def _no_monomial(state, positions, base_bits, offsets, perm, phase):
    """Stands in for :func:`.monomial.apply_monomial` in the serial interpreter (never called)."""


#: :func:`run_segment` without threads, cache blocks or the monomial path, for states
#: below ``PARALLEL_MIN_SIZE`` with an empty plan: same results, and about half the
#: cold compile (the parallel loops and the blocked kernels are never compiled for
#: it). A small state sits in cache, where a dense pass over it is cheap anyway.
run_segment_serial = serial_variant(
    run_segment,
    replace={"run_blocks": _no_blocks, "monomial": _not_monomial, "apply_monomial": _no_monomial},
)
