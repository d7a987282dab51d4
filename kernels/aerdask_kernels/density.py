"""The density-matrix method: a mixed state as ``4**n`` numbers, run by the statevector kernels.

A density matrix ``rho`` of ``n`` qubits is stored as a vector of ``4**n`` entries,
``rho[i, j]`` at index ``i + (j << n)``: qubit ``q`` of the row index is bit ``q`` and
qubit ``q`` of the column index is bit ``q + n``. In that layout

* a gate ``U`` on qubits ``Q`` (``rho -> U rho U^dagger``) is ``U`` on bits ``Q`` and
  ``conj(U)`` on bits ``Q + n``, with the controls shifted alike;
* a channel with Kraus operators ``K_j`` is the superoperator ``sum_j conj(K_j) (x) K_j``
  on bits ``(Q, Q + n)`` (a mixture ``sum_j p_j conj(U_j) (x) U_j``); a reset is the
  channel with Kraus operators ``|0><0|`` and ``|0><1|``.

So :func:`to_density` rewrites a prepared experiment's rows onto ``2n`` bits once,
and the interpreter, fusion and cache blocking run it unchanged: ``U`` and
``conj(U)`` of a one-qubit gate fuse into one two-bit pass. Only measurements and
saves read the layout; they are here, in numpy (the states are small: 13 qubits
are 1 GiB).
"""

from __future__ import annotations

import numpy as np

from .kernels.gates import scaled_identity_plus_rank_one
from .opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHAN_MOFF,
    CHAN_POFF,
    CHANNEL_MIXTURE,
    COL_ARG,
    COL_CVAL,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    DENSITY_MATRIX,
    METHODS,
    N_COLS,
    OP_BRANCH,
    OP_CHANNEL,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_RESET,
    OP_SET_STATE,
    SET_AMPLITUDES,
    SET_DENSITY,
    STATEVECTOR,
    SUPEROP,
)

__all__ = [
    "DENSITY_MATRIX",
    "METHODS",
    "to_density",
    "diagonal",
    "probability_one",
    "collapse",
    "reduced",
    "expval_pauli",
    "full_matrix",
    "STATEVECTOR",
    "METHODS",
]

#: Save kinds that read amplitudes: a density matrix has none to give.
STATEVECTOR_SAVES = ("statevector", "statevector_dict", "amplitudes")

# Reset as a channel: Kraus |0><0| and |0><1|, as its superoperator on bits (q, q + n).
_RESET_KRAUS = (np.array([[1, 0], [0, 0]], dtype=np.complex128), np.array([[0, 1], [0, 0]], dtype=np.complex128))


def superoperator(kraus, probabilities=None) -> np.ndarray:
    """``sum_j p_j conj(K_j) (x) K_j``: complex128, ``(4**k, 4**k)``, acting on bits ``(Q, Q + n)``.

    Args:
        kraus: ``2**k x 2**k`` operators (the rows of a channel's ``chan_matrices``).
        probabilities: A mixture's weights, or ``None`` (Kraus operators, weight 1).
    """
    weights = np.ones(len(kraus)) if probabilities is None else probabilities
    return sum(float(w) * np.kron(np.conj(k), k) for w, k in zip(weights, kraus, strict=True))


def to_density(exp):
    """``exp`` (prepared: no STANDARD rows) on the vectorised density matrix of ``2n`` bits.

    Gate rows become a pair (``U`` on ``Q``, ``conj(U)`` on ``Q + n``); CHANNEL and RESET
    rows become MATRIX rows of their superoperators; SET_STATE sets ``|psi><psi|``
    (or, with ``ARG`` ``SET_DENSITY``, the density matrix it holds).
    MEASURE, SAVE and classical rows stay (they name row qubits, ``< n``), and
    JUMP/BRANCH targets follow their rows.

    Returns:
        A copy of ``exp`` with ``num_qubits = 2n`` and ``method = "density_matrix"``;
        its channel and readout tables are kept (readout errors still apply to outcomes).
    """
    n = exp.num_qubits
    ops, qubits = exp.ops, exp.qubits
    extra: list[np.ndarray] = []  # matrices appended after exp.matrices
    moff = exp.matrices.size
    out_ops: list[np.ndarray] = []
    out_qubits: list[np.ndarray] = []
    nq = 0
    where = np.empty(ops.shape[0] + 1, dtype=np.int64)  # old row -> its first new row

    def emit(row, bits, data=None):
        nonlocal nq, moff
        row = row.copy()
        row[COL_QOFF] = nq
        out_ops.append(row)
        out_qubits.append(np.asarray(bits, dtype=np.int64))
        nq += len(bits)
        if data is not None:
            row[COL_MOFF] = moff
            extra.append(np.ravel(data).astype(np.complex128))
            moff += extra[-1].size

    merged = False  # the row before was a gate taken into this CHANNEL row's superoperator
    for pc in range(ops.shape[0]):
        where[pc] = len(out_ops)
        row = ops[pc]
        opcode, qoff = row[COL_OPCODE], row[COL_QOFF]
        k = row[COL_NCTRL] + row[COL_NTARG]
        bits = qubits[qoff : qoff + k]
        if merged:
            where[pc] = where[pc - 1]  # a jump to the error row lands on the merged row
            merged = False
            continue
        gate_then_error = _gate_then_error(exp, pc)
        if gate_then_error is not None:
            # A gate and the error after it on the same qubits: one superoperator pass
            # (S_error @ conj(U) (x) U) instead of three (U, conj(U), then S_error).
            fields = np.zeros(N_COLS, dtype=np.int64)
            fields[COL_OPCODE], fields[COL_NTARG] = OP_MATRIX, 2 * len(bits)
            emit(fields, np.concatenate((bits, bits + n)), gate_then_error)
            merged = True
        elif opcode in (OP_MATRIX, OP_DIAG):
            ntarg = row[COL_NTARG]
            size = 1 << (2 * ntarg if opcode == OP_MATRIX else ntarg)
            emit(row, bits)
            emit(row, bits + n, np.conj(exp.matrices[row[COL_MOFF] : row[COL_MOFF] + size]))
        elif opcode in (OP_CHANNEL, OP_RESET):
            if opcode == OP_RESET:
                matrix = _reset_superop()
            else:
                matrix = _channel_superop(exp, row[COL_ARG], len(bits))
                if exp.method != SUPEROP:  # a superoperator's entries are what is saved: keep its scale
                    matrix = _without_scale(matrix)
            fields = np.zeros(N_COLS, dtype=np.int64)
            fields[COL_OPCODE], fields[COL_NTARG] = OP_MATRIX, 2 * len(bits)
            emit(fields, np.concatenate((bits, bits + n)), matrix)
        elif opcode == OP_SET_STATE:
            fields = row.copy()
            fields[COL_NTARG], fields[COL_ARG] = 2 * n, SET_AMPLITUDES
            if row[COL_ARG] == SET_DENSITY:  # set_density_matrix: already rho[i, j] at i + (j << n)
                rho = exp.matrices[row[COL_MOFF] : row[COL_MOFF] + (1 << (2 * n))]
            else:
                psi = exp.matrices[row[COL_MOFF] : row[COL_MOFF] + (1 << n)]
                rho = np.kron(np.conj(psi), psi)
            # Its qubit list names every bit, as NTARG says: passes (fusion) copy NTARG entries of it.
            emit(fields, np.arange(2 * n, dtype=np.int64), rho)
        else:
            emit(row, bits)
    where[ops.shape[0]] = len(out_ops)
    new_ops = np.array(out_ops, dtype=np.int64).reshape(-1, N_COLS)
    jumps = (new_ops[:, COL_OPCODE] == OP_JUMP) | (new_ops[:, COL_OPCODE] == OP_BRANCH)
    new_ops[jumps, COL_ARG] = where[new_ops[jumps, COL_ARG]]
    return exp.replace(
        num_qubits=2 * n,
        method=DENSITY_MATRIX,
        ops=new_ops,
        qubits=np.concatenate(out_qubits) if out_qubits else np.zeros(0, dtype=np.int64),
        matrices=np.concatenate([exp.matrices.astype(np.complex128, copy=False), *extra]),
    )


#: Gates of at most this many qubits (controls included) merge with the error after them.
MAX_MERGED_QUBITS = 2


def _gate_then_error(exp, pc: int) -> np.ndarray | None:
    """``S_error @ (conj(U) (x) U)`` when row ``pc`` is a gate and row ``pc + 1`` its error on the same qubits.

    Row ``pc + 1`` must not be a jump target (nothing may enter between the two).
    """
    ops, qubits = exp.ops, exp.qubits
    if pc + 1 >= ops.shape[0] or ops[pc + 1, COL_OPCODE] != OP_CHANNEL:
        return None
    row, error = ops[pc], ops[pc + 1]
    k = int(row[COL_NCTRL] + row[COL_NTARG])
    if row[COL_OPCODE] not in (OP_MATRIX, OP_DIAG) or not 0 < k <= MAX_MERGED_QUBITS or error[COL_NTARG] != k:
        return None
    if not np.array_equal(qubits[row[COL_QOFF] : row[COL_QOFF] + k], qubits[error[COL_QOFF] : error[COL_QOFF] + k]):
        return None
    jumps = (ops[:, COL_OPCODE] == OP_JUMP) | (ops[:, COL_OPCODE] == OP_BRANCH)
    if (ops[jumps, COL_ARG] == pc + 1).any():
        return None
    superop = _channel_superop(exp, error[COL_ARG], k)
    if scaled_identity_plus_rank_one(superop.ravel(), superop.shape[0])[1].size:
        return None  # a depolarizing error alone costs less than the product (see the kernel)
    unitary = full_matrix(row, exp.matrices)
    return superop @ np.kron(np.conj(unitary), unitary)


def full_matrix(row, matrices) -> np.ndarray:
    """The ``2**k x 2**k`` matrix of a MATRIX or DIAG row on its qubits (controls are the low bits).

    Args:
        row: The opcode row (int64, ``(8,)``).
        matrices: What its ``MOFF`` points into.
    """
    nctrl, ntarg, moff = int(row[COL_NCTRL]), int(row[COL_NTARG]), int(row[COL_MOFF])
    dim_t = 1 << ntarg
    if row[COL_OPCODE] == OP_MATRIX:
        block = matrices[moff : moff + dim_t * dim_t].reshape(dim_t, dim_t)
    else:
        block = np.diag(matrices[moff : moff + dim_t])
    full = np.eye(1 << (nctrl + ntarg), dtype=np.complex128)
    active = int(row[COL_CVAL]) + (np.arange(dim_t) << nctrl)  # the indices where the controls are on
    full[np.ix_(active, active)] = block
    return full


def _without_scale(superop: np.ndarray) -> np.ndarray:
    """A depolarizing superoperator ``alpha * I + u v^T`` divided by ``alpha > 0``.

    The kernel then touches only the entries ``u`` and ``v`` name (``alpha`` is 1); the
    state is off by a positive factor, which every reader here divides out (the trace).
    """
    alpha, rows = scaled_identity_plus_rank_one(superop.ravel(), superop.shape[0])[:2]
    if rows.size and abs(alpha.imag) < 1e-15 and alpha.real > 0:
        return superop / alpha.real
    return superop


def _reset_superop() -> np.ndarray:
    return superoperator(_RESET_KRAUS)


def _channel_superop(exp, index: int, k: int) -> np.ndarray:
    channel = exp.channels[index]
    count, moff, size = int(channel[CHAN_COUNT]), int(channel[CHAN_MOFF]), 1 << (2 * k)
    dim = 1 << k
    kraus = [exp.chan_matrices[moff + j * size : moff + (j + 1) * size].reshape(dim, dim) for j in range(count)]
    probs = None
    if channel[CHAN_KIND] == CHANNEL_MIXTURE:
        probs = exp.chan_probs[channel[CHAN_POFF] : channel[CHAN_POFF] + count]
        probs = probs / probs.sum()
    return superoperator(kraus, probs)


# -- reading the state -------------------------------------------------------------
def _width(state: np.ndarray) -> int:
    return (state.size.bit_length() - 1) // 2


def diagonal(state: np.ndarray) -> np.ndarray:
    """The outcome probabilities ``rho[i, i] / Tr(rho)``: float64, ``(2**n,)``, rounding below 0 clipped.

    The vector holds ``rho`` up to a positive factor (see :func:`_without_scale`): readers divide by the trace.
    """
    dim = 1 << _width(state)
    diag = np.clip(state[:: dim + 1].real.astype(np.float64), 0.0, None)
    return diag / diag.sum()


def trace(state: np.ndarray) -> float:
    """``Tr(rho)`` of the vector as it is held (a positive factor off the true state's 1)."""
    dim = 1 << _width(state)
    return float(state[:: dim + 1].real.astype(np.float64).sum())


def probability_one(state: np.ndarray, qubit: int) -> float:
    """Probability that measuring ``qubit`` gives 1."""
    diag = diagonal(state)
    return float(diag[(np.arange(diag.size) >> qubit) & 1 == 1].sum())


def collapse(state: np.ndarray, qubit: int, outcome: int, probability: float) -> None:
    """Project ``qubit`` onto ``outcome`` (rows and columns) and divide by ``probability``, in place."""
    dim = 1 << _width(state)
    matrix = state.reshape(dim, dim)  # [column, row]: a view
    other = ((np.arange(dim) >> qubit) & 1) != outcome
    matrix[other, :] = 0
    matrix[:, other] = 0
    matrix *= 1.0 / probability


def density_matrix(state: np.ndarray) -> np.ndarray:
    """``rho`` as a ``(2**n, 2**n)`` view, rows first."""
    dim = 1 << _width(state)
    return state.reshape(dim, dim).T


def reduced(state: np.ndarray, qubits: np.ndarray) -> np.ndarray:
    """The density matrix of ``qubits`` (the rest traced out): complex128, ``(2**k, 2**k)``.

    ``qubits[0]`` is the least significant bit of the row index, as Qiskit orders them.
    """
    n = _width(state)
    k = qubits.size
    keep = [n - 1 - int(q) for q in qubits[::-1]]  # axis a of the tensor is qubit n - 1 - a
    rest = [a for a in range(n) if a not in keep]
    tensor = density_matrix(state).astype(np.complex128).reshape((2,) * (2 * n))
    order = rest + keep + [n + a for a in rest] + [n + a for a in keep]
    tensor = np.transpose(tensor, order).reshape(1 << (n - k), 1 << k, 1 << (n - k), 1 << k)
    return np.einsum("aiaj->ij", tensor) / trace(state)


def expval_pauli(state: np.ndarray, x_mask: int, z_mask: int, num_y: int) -> float:
    """``Tr(P rho)`` for the Pauli string of the masks (as :func:`.measure.expval_pauli`).

    ``P|i> = i**num_y (-1)**popcount(i & z_mask) |i ^ x_mask>``, so
    ``Tr(P rho) = sum_i i**num_y (-1)**popcount(i & z_mask) rho[i, i ^ x_mask]``.
    """
    n = _width(state)
    rows = np.arange(1 << n, dtype=np.int64)
    values = state[rows + ((rows ^ x_mask) << n)].astype(np.complex128)
    z = z_mask
    while z:
        bit = z & -z
        values[(rows & bit) != 0] *= -1
        z ^= bit
    return float(((1j) ** (num_y % 4) * values.sum()).real) / trace(state)
