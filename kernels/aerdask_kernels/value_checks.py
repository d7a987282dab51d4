"""The values a program's rows point at: finite, unitary where a gate is, CPTP where a channel is.

:mod:`.validation` checks every index and shape; this checks what the indices point
at, after them, so a program built by hand (or damaged) cannot feed NaN or a
non-unitary matrix to the kernels. The client refuses such circuits at ``run()``
already; a worker checks again because it runs whatever program it is handed.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from .opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHAN_MOFF,
    CHANNEL_MIXTURE,
    COL_MOFF,
    COL_NTARG,
    COL_OPCODE,
    OP_CHANNEL,
    OP_DIAG,
    OP_MATRIX,
    OP_SET_STATE,
)

__all__ = ["UNITARY_ATOL", "row_defects", "unitary_defect", "check_values"]

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
def row_defects(ops, matrices):
    """How far each MATRIX, DIAG and SET_STATE row's values are from unitary (or normalised).

    Args:
        ops: int64, shape ``(n, 8)``; rows already validated (offsets inside ``matrices``).
        matrices: complex128, shape ``(m,)``.

    Returns:
        float64, shape ``(n,)``: ``0`` for other rows, ``inf`` for a non-finite value,
        ``-1`` for a MATRIX row wider than 32 that the caller checks (:func:`unitary_defect`).
    """
    n = ops.shape[0]
    out = np.zeros(n)
    for r in range(n):
        op, ntarg, moff = ops[r, COL_OPCODE], ops[r, COL_NTARG], ops[r, COL_MOFF]
        if (op == OP_DIAG or op == OP_SET_STATE) and not _finite(matrices, moff, 1 << ntarg):
            out[r] = np.inf
        elif op == OP_DIAG:
            for i in range(1 << ntarg):
                out[r] = max(out[r], abs(abs(matrices[moff + i]) - 1.0))
        elif op == OP_SET_STATE:
            norm = 0.0
            for i in range(1 << ntarg):
                v = matrices[moff + i]
                norm += v.real * v.real + v.imag * v.imag
            out[r] = abs(norm - 1.0)
        elif op == OP_MATRIX:
            dim = 1 << ntarg
            if dim > _COMPILED_DIM:
                out[r] = -1.0
                continue
            if not _finite(matrices, moff, dim * dim):  # NaN compares false: max() would hide it
                out[r] = np.inf
                continue
            worst = 0.0
            for i in range(dim):  # (U^dagger U)[i, j] = sum_k conj(U[k, i]) U[k, j]
                for j in range(dim):
                    acc = 0j
                    for k in range(dim):
                        acc += np.conj(matrices[moff + k * dim + i]) * matrices[moff + k * dim + j]
                    target = 1.0 if i == j else 0.0
                    worst = max(worst, abs(acc - target))
            out[r] = worst
    return out


def unitary_defect(matrix: np.ndarray) -> float:
    """Largest entry of ``|U^dagger U - I|`` (``inf`` for a non-finite entry); complex, square."""
    if not np.isfinite(matrix).all():
        return float("inf")
    return float(np.abs(matrix.conj().T @ matrix - np.eye(matrix.shape[0])).max())


def check_values(exp, fail) -> None:
    """Call ``fail(message)`` for the first row or channel whose values are not what it claims.

    Args:
        exp: An experiment whose indices :mod:`.validation` has checked.
        fail: Raises with the message.
    """
    defects = row_defects(exp.ops, exp.matrices)
    for pc in np.flatnonzero((defects > UNITARY_ATOL) | (defects < 0)).tolist():
        defect = float(defects[pc])
        op, ntarg, moff = (int(v) for v in exp.ops[pc, [COL_OPCODE, COL_NTARG, COL_MOFF]])
        if defect < 0:
            dim = 1 << ntarg
            defect = unitary_defect(exp.matrices[moff : moff + dim * dim].reshape(dim, dim))
            if defect <= UNITARY_ATOL:
                continue
        what = {OP_MATRIX: "matrix is not unitary", OP_DIAG: "diagonal is not unitary (|d| != 1)"}
        what = what.get(op, "state is not normalised")
        fail(f"op {pc}: its {what} (off by {defect:.3g}; NaN or infinity count as infinitely off)")
    used = np.unique(exp.ops[exp.ops[:, COL_OPCODE] == OP_CHANNEL, 6])
    for c in used.tolist():
        _check_channel(exp, c, _channel_width(exp, c), fail)


def _channel_width(exp, c: int) -> int:
    rows = exp.ops[(exp.ops[:, COL_OPCODE] == OP_CHANNEL) & (exp.ops[:, 6] == c)]
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
