"""The values a program's rows point at: finite, unitary where a gate is, CPTP where a channel is.

:mod:`.validation` checks every index and shape; this checks what the indices point
at, after them, so a program built by hand (or damaged) cannot feed NaN or a
non-unitary matrix to the kernels. The rows' values are checked inside the compiled
screen of every row (``validation.suspect_rows``), so they cost no call of their own.
The client refuses such circuits at ``run()`` already; a worker checks again because
it runs whatever program it is handed.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHAN_MOFF,
    CHANNEL_MIXTURE,
    COL_ARG,
    COL_MOFF,
    COL_NTARG,
    COL_OPCODE,
    OP_CHANNEL,
    OP_DIAG,
    OP_MATRIX,
    OP_SET_STATE,
    SET_CHAIN,
    SET_DENSITY,
    SET_OPERATOR,
)

__all__ = ["UNITARY_ATOL", "row_defect", "value_defect", "unitary_defect", "check_row_values", "check_channels"]

#: How far from unitary (largest entry of ``U^dagger U - I``), from modulus 1 (a diagonal) or from
#: norm 1 (a state) a worker lets a row be. The client's own check is tighter (``aerdask.gate_forms``).
UNITARY_ATOL = 1e-6
#: Rows of matrices up to this size are checked in compiled code; wider ones with numpy's matmul.
_COMPILED_DIM = 32


@njit
def _finite(values, start, count):
    for i in range(start, start + count):
        if not np.isfinite(values[i].real) or not np.isfinite(values[i].imag):
            return False
    return True


@njit
def row_defect(op, ntarg, moff, matrices):
    """How far a MATRIX, DIAG or SET_STATE row's values are from unitary (or normalised).

    Args:
        op: The row's opcode.
        ntarg: Its target count.
        moff: Its offset in ``matrices`` (validated: the values lie inside).
        matrices: complex128, shape ``(m,)``.

    Returns:
        ``0`` for other rows, ``inf`` for a non-finite value, ``-1`` for a MATRIX row wider
        than 32 that the caller checks with numpy (:func:`unitary_defect`).
    """
    if (op == OP_DIAG or op == OP_SET_STATE) and not _finite(matrices, moff, 1 << ntarg):
        return np.inf
    if op == OP_DIAG:
        worst = 0.0
        for i in range(1 << ntarg):
            worst = max(worst, abs(abs(matrices[moff + i]) - 1.0))
        return worst
    if op == OP_SET_STATE:
        norm = 0.0
        for i in range(1 << ntarg):
            v = matrices[moff + i]
            norm += v.real * v.real + v.imag * v.imag
        return abs(norm - 1.0)
    if op != OP_MATRIX:
        return 0.0
    dim = 1 << ntarg
    if dim > _COMPILED_DIM:
        return -1.0
    if not _finite(matrices, moff, dim * dim):  # NaN compares false: max() would hide it
        return np.inf
    worst = 0.0
    for i in range(dim):  # (U^dagger U)[i, j] = sum_k conj(U[k, i]) U[k, j]
        for j in range(dim):
            acc = 0j
            for k in range(dim):
                acc += np.conj(matrices[moff + k * dim + i]) * matrices[moff + k * dim + j]
            target = 1.0 if i == j else 0.0
            worst = max(worst, abs(acc - target))
    return worst


def value_defect(exp, pc: int) -> float:
    """:func:`row_defect` of row ``pc`` of ``exp``, the wide matrices included (0 where the values hold)."""
    op, ntarg, moff = (int(v) for v in exp.ops[pc, [COL_OPCODE, COL_NTARG, COL_MOFF]])
    if op == OP_SET_STATE and exp.ops[pc, COL_ARG] in (SET_CHAIN, SET_DENSITY):
        return 0.0  # a matrix product state or a density matrix: checked with the row (validate_row)
    if op == OP_SET_STATE and exp.ops[pc, COL_ARG] == SET_OPERATOR:
        ntarg *= 2  # an operator's 4**n entries, scaled to a unit vector
    defect = float(row_defect(op, ntarg, moff, exp.matrices))
    if defect < 0:
        dim = 1 << ntarg
        defect = unitary_defect(exp.matrices[moff : moff + dim * dim].reshape(dim, dim))
    return defect if defect > UNITARY_ATOL else 0.0


def check_row_values(exp, pc: int, fail) -> None:
    """Call ``fail(message)`` if row ``pc``'s values are not what its opcode claims."""
    defect = value_defect(exp, pc)
    if defect:
        what = {OP_MATRIX: "matrix is not unitary", OP_DIAG: "diagonal is not unitary (|d| != 1)"}
        what = what.get(int(exp.ops[pc, COL_OPCODE]), "state is not normalised")
        fail(f"op {pc}: its {what} (off by {defect:.3g}; NaN or infinity count as infinitely off)")


def unitary_defect(matrix: np.ndarray) -> float:
    """Largest entry of ``|U^dagger U - I|`` (``inf`` for a non-finite entry); complex, square."""
    if not np.isfinite(matrix).all():
        return float("inf")
    return float(np.abs(matrix.conj().T @ matrix - np.eye(matrix.shape[0])).max())


def check_channels(exp, fail) -> None:
    """Call ``fail(message)`` for the first channel whose operators are not what its kind claims.

    Args:
        exp: An experiment whose indices :mod:`.validation` has checked.
        fail: Raises with the message.
    """
    used = np.unique(exp.ops[exp.ops[:, COL_OPCODE] == OP_CHANNEL, 6])
    for c in used.tolist():
        _check_channel(exp, c, _channel_width(exp, c), fail)


def _channel_width(exp, c: int) -> int:
    rows = exp.ops[(exp.ops[:, COL_OPCODE] == OP_CHANNEL) & (exp.ops[:, COL_ARG] == c)]
    return int(rows[0, COL_NTARG])


def _check_channel(exp, c: int, k: int, fail) -> None:
    # A mixture's probabilities are checked with the channel table (validation._check_noise).
    kind, count, moff = (int(v) for v in exp.channels[c, [CHAN_KIND, CHAN_COUNT, CHAN_MOFF]])
    dim = 1 << k
    ops = exp.chan_matrices[moff : moff + count * dim * dim].reshape(count, dim, dim)
    if not np.isfinite(ops).all():
        fail(f"channel {c}: an operator holds NaN or infinity")
    if kind == CHANNEL_MIXTURE:
        for i in range(count):
            if unitary_defect(ops[i]) > UNITARY_ATOL:
                fail(f"channel {c}: operator {i} of a unitary mixture is not unitary")
        return
    total = np.einsum("kji,kjl->il", ops.conj(), ops)  # sum of K^dagger K
    if np.abs(total - np.eye(dim)).max() > UNITARY_ATOL:
        fail(f"channel {c}: its Kraus operators are not trace preserving (sum of K^dagger K is not the identity)")
