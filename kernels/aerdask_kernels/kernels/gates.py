"""Gate kernels: apply a matrix or a diagonal to a statevector, in place.

Conventions shared by every kernel here:

* ``state`` is a C-contiguous 1-D ``complex128`` or ``complex64`` array of length
  ``2**num_qubits``; qubit ``q`` is bit ``q`` of the index (little-endian, as Qiskit).
* ``matrix`` is flattened row-major with the state's dtype: entry ``(r, c)`` is
  ``matrix[r * dim + c]``; bit ``b`` of ``r`` and ``c`` belongs to ``targets[b]``.
* ``controls`` (int64) must equal the bits of ``ctrl_val`` (control ``j`` is bit
  ``j``) for the gate to act; other amplitudes are left alone.
* Every kernel modifies ``state`` in place and returns nothing.

Threads: a state of at least :data:`PARALLEL_MIN_SIZE` amplitudes is split over
Numba's threads (``prange``; how many is ``numba.set_num_threads`` of the calling
thread); a smaller one runs serially, where starting threads would cost more than
the gate. Each kernel holds both loops, so there is one compiled function per kernel.
"""

from __future__ import annotations

import numpy as np

from .. import settings
from .._jit import njit, prange
from .bits import control_bits, gather_bits, insert_zero_bit, insert_zero_bits

__all__ = [
    "apply_matrix",
    "apply_diagonal",
    "target_offsets",
    "row_nonzeros",
    "PARALLEL_MIN_SIZE",
    "MAX_RUN",
]

#: Amplitudes from which kernels use threads (``aerdask.kernels.parallel-min-qubits``, default 14).
PARALLEL_MIN_SIZE = 1 << settings.get_int("kernels.parallel-min-qubits")
#: Longest run of contiguous amplitudes the 1- and 2-qubit kernels sweep at a time. The run
#: length is computed at run time on purpose: with a constant trip count (64) LLVM fully
#: unrolled the loop into code 1.3-1.7x slower per pass (measured on an Intel Xeon).
MAX_RUN = 1024
#: Low index bits handled by a lookup table in the diagonal kernel (blocks of 64 amplitudes).
_DIAG_BLOCK_BITS = 6


@njit
def _pair(state, i0, i1, m00, m01, m10, m11):
    a = state[i0]
    b = state[i1]
    state[i0] = m00 * a + m01 * b
    state[i1] = m10 * a + m11 * b


@njit(parallel=True)
def _apply_1q(state, target, matrix):
    m00, m01, m10, m11 = matrix[0], matrix[1], matrix[2], matrix[3]
    stride = 1 << target
    if state.size < PARALLEL_MIN_SIZE:
        for i in range(state.size >> 1):
            i0 = insert_zero_bit(i, target)
            _pair(state, i0, i0 | stride, m00, m01, m10, m11)
    elif target >= 6:
        # Runs of pairs are contiguous in both halves. Slices, not index arithmetic on
        # one array: LLVM then proves the halves apart and vectorises the loop.
        run = min(stride, MAX_RUN, state.size >> 8)  # not a constant (see MAX_RUN); >= 64 chunks for the threads
        for c in prange(state.size // (2 * run)):
            i0 = insert_zero_bit(c * run, target)
            a = state[i0 : i0 + run]
            b = state[i0 + stride : i0 + stride + run]
            for j in range(run):
                x, y = a[j], b[j]
                a[j] = m00 * x + m01 * y
                b[j] = m10 * x + m11 * y
    else:
        for i in prange(state.size >> 1):
            i0 = insert_zero_bit(i, target)
            _pair(state, i0, i0 | stride, m00, m01, m10, m11)


@njit
def _quad(state, i0, s0, s1, m):
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


@njit(fastmath=True)
def _quad_run(state, i0, s0, s1, m, n):
    """``n`` consecutive quads from ``i0``, as slices (which vectorise)."""
    a0 = state[i0 : i0 + n]
    a1 = state[i0 + s0 : i0 + s0 + n]
    a2 = state[i0 + s1 : i0 + s1 + n]
    a3 = state[i0 + s0 + s1 : i0 + s0 + s1 + n]
    for j in range(n):
        x0, x1, x2, x3 = a0[j], a1[j], a2[j], a3[j]
        a0[j] = m[0] * x0 + m[1] * x1 + m[2] * x2 + m[3] * x3
        a1[j] = m[4] * x0 + m[5] * x1 + m[6] * x2 + m[7] * x3
        a2[j] = m[8] * x0 + m[9] * x1 + m[10] * x2 + m[11] * x3
        a3[j] = m[12] * x0 + m[13] * x1 + m[14] * x2 + m[15] * x3


@njit(parallel=True)
def _apply_2q(state, t0, t1, matrix):
    lo, hi = min(t0, t1), max(t0, t1)
    s0, s1 = 1 << t0, 1 << t1
    if state.size >= PARALLEL_MIN_SIZE and lo >= 6:
        run = min(1 << lo, MAX_RUN, state.size >> 8)
        for c in prange(state.size // (4 * run)):
            _quad_run(state, insert_zero_bit(insert_zero_bit(c * run, lo), hi), s0, s1, matrix, run)
    elif state.size < PARALLEL_MIN_SIZE:
        for i in range(state.size >> 2):
            _quad(state, insert_zero_bit(insert_zero_bit(i, lo), hi), s0, s1, matrix)
    else:
        for i in prange(state.size >> 2):
            _quad(state, insert_zero_bit(insert_zero_bit(i, lo), hi), s0, s1, matrix)


@njit
def row_nonzeros(matrix, dim):
    """The nonzero columns of each row of a row-major ``dim x dim`` matrix, or none if it is dense.

    A density matrix's channels are sparse superoperators (a two-qubit Pauli channel has 4
    nonzeros in each row of 16), so their groups take a quarter of the products.

    Returns:
        ``(cols, counts)``: int64 ``(dim, dim)`` and ``(dim,)``, row ``r``'s nonzero columns
        being ``cols[r, :counts[r]]``; ``counts`` is empty when over half the entries are nonzero.
    """
    cols = np.zeros((dim, dim), dtype=np.int64)
    counts = np.zeros(dim, dtype=np.int64)
    total = 0
    for r in range(dim):
        for c in range(dim):
            if matrix[r * dim + c] != 0:
                cols[r, counts[r]] = c
                counts[r] += 1
        total += counts[r]
    if 2 * total > dim * dim:
        return cols, counts[:0]
    return cols, counts


@njit
def scaled_identity_plus_rank_one(matrix, dim):
    """``matrix = alpha * I + u v^T`` with ``u`` and ``v`` on few rows and columns, if it is.

    A depolarizing channel's superoperator is: ``rho -> (1 - p) rho + p Tr(rho) I / d`` is
    ``alpha = 1 - p`` plus the rank-one map from the diagonal entries to the diagonal
    entries. Applied as such, a group costs ``dim + |rows| + |cols|`` products, not
    ``dim**2`` (or its sparse count).

    Returns:
        ``(alpha, rows, u, cols, v)``; ``rows`` is empty when ``matrix`` has not that form
        (or the form would not save work).
    """
    none = np.zeros(0, dtype=np.int64)
    empty = np.zeros(0, dtype=matrix.dtype)
    alpha = matrix[0] * 0
    found = False
    for r in range(dim):  # alpha: the diagonal of a row whose only nonzero is on the diagonal
        only = matrix[r * dim + r] != 0
        for c in range(dim):
            if c != r and matrix[r * dim + c] != 0:
                only = False
                break
        if only:
            alpha = matrix[r * dim + r]
            found = True
            break
    if not found:
        return alpha, none, empty, none, empty
    rows = np.zeros(dim, dtype=np.int64)
    cols = np.zeros(dim, dtype=np.int64)
    nr = nc = 0
    for r in range(dim):
        for c in range(dim):
            d = matrix[r * dim + c] - (alpha if r == c else 0)
            if abs(d) > 1e-14:
                if nr == 0 or rows[nr - 1] != r:
                    rows[nr] = r
                    nr += 1
    if nr == 0 or 4 * nr > dim:
        return alpha, none, empty, none, empty
    first = rows[0]
    for c in range(dim):
        d = matrix[first * dim + c] - (alpha if first == c else 0)
        if abs(d) > 1e-14:
            cols[nc] = c
            nc += 1
    if 4 * nc > dim:
        return alpha, none, empty, none, empty
    pivot = cols[0]
    v = np.empty(nc, dtype=matrix.dtype)
    for j in range(nc):
        v[j] = matrix[first * dim + cols[j]] - (alpha if first == cols[j] else 0)
    u = np.empty(nr, dtype=matrix.dtype)
    for i in range(nr):
        r = rows[i]
        u[i] = (matrix[r * dim + pivot] - (alpha if r == pivot else 0)) / v[0]
        for c in range(dim):  # every entry must match alpha * I + u v^T
            expected = (alpha if r == c else 0) * 1
            for j in range(nc):
                if cols[j] == c:
                    expected += u[i] * v[j]
            if abs(matrix[r * dim + c] - expected) > 1e-12 * (1 + abs(expected)):
                return alpha, none, empty, none, empty
    for r in range(dim):  # and rows outside ``rows`` must be alpha on the diagonal only
        inside = False
        for i in range(nr):
            inside = inside or rows[i] == r
        if not inside:
            for c in range(dim):
                if abs(matrix[r * dim + c] - (alpha if r == c else 0)) > 1e-14:
                    return alpha, none, empty, none, empty
    return alpha, rows[:nr].copy(), u, cols[:nc].copy(), v


@njit(inline="always")
def _group(state, base, offsets, matrix, buf, cols, counts, low_rank):
    dim = offsets.size
    alpha, lr_rows, lr_u, lr_cols, lr_v = low_rank
    if lr_rows.size:  # alpha * I + u v^T (see scaled_identity_plus_rank_one)
        acc = 0j
        for j in range(lr_cols.size):
            acc += lr_v[j] * state[base + offsets[lr_cols[j]]]
        if alpha != 1:
            for r in range(dim):
                state[base + offsets[r]] *= alpha
        for i in range(lr_rows.size):
            state[base + offsets[lr_rows[i]]] += lr_u[i] * acc
        return
    for r in range(dim):
        buf[r] = state[base + offsets[r]]
    if counts.size:  # sparse rows: their nonzero columns only
        for r in range(dim):
            acc = 0j
            for t in range(counts[r]):
                acc += matrix[r * dim + cols[r, t]] * buf[cols[r, t]]
            state[base + offsets[r]] = acc
        return
    for r in range(dim):
        acc = matrix[r * dim] * buf[0]
        for c in range(1, dim):
            acc += matrix[r * dim + c] * buf[c]
        state[base + offsets[r]] = acc


@njit
def target_offsets(targets):
    """``offsets[r]``: the index bits of target setting ``r`` (bit ``b`` of ``r`` is ``targets[b]``).

    Args:
        targets: int64, shape ``(k,)``; qubits (or buffer bits).

    Returns:
        int64 array, shape ``(2**k,)``.
    """
    dim = 1 << targets.size
    offsets = np.zeros(dim, dtype=np.int64)
    for r in range(dim):
        for b in range(targets.size):
            if (r >> b) & 1:
                offsets[r] |= 1 << targets[b]
    return offsets


@njit(parallel=True)
def _apply_general(state, positions, base_bits, targets, matrix):
    """Any number of targets, with controls: ``positions`` are all involved qubits, sorted."""
    dim = 1 << targets.size
    offsets = target_offsets(targets)
    cols, counts = row_nonzeros(matrix, dim)
    low_rank = scaled_identity_plus_rank_one(matrix, dim)
    groups = state.size >> positions.size
    if state.size < PARALLEL_MIN_SIZE:
        buf = np.empty(dim, dtype=state.dtype)
        for i in range(groups):
            _group(state, insert_zero_bits(i, positions) | base_bits, offsets, matrix, buf, cols, counts, low_rank)
    else:
        chunk = max(1, groups // 64)  # one scratch buffer per chunk of groups, not per group
        for c in prange((groups + chunk - 1) // chunk):
            buf = np.empty(dim, dtype=state.dtype)
            for i in range(c * chunk, min(groups, (c + 1) * chunk)):
                base = insert_zero_bits(i, positions) | base_bits
                _group(state, base, offsets, matrix, buf, cols, counts, low_rank)


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
    if controls.size == 0 and targets.size == 1:
        _apply_1q(state, targets[0], matrix)
    elif controls.size == 0 and targets.size == 2:
        _apply_2q(state, targets[0], targets[1], matrix)
    else:
        positions = np.sort(np.concatenate((controls, targets)))
        _apply_general(state, positions, control_bits(controls, ctrl_val), targets, matrix)


@njit(inline="always")
def _diag_block(state, start, block, low_index, targets, first_high, diagonal):
    d_high = gather_bits(start, targets, first_high)
    for j in range(block):
        state[start + j] *= diagonal[d_high | low_index[j]]


@njit(parallel=True)
def _apply_diagonal_free(state, targets, diagonal):
    # Targets below the block size index a 64-entry table; the others are read once
    # per block. So the inner loop is a contiguous multiply, whatever the targets.
    block_bits = min(_DIAG_BLOCK_BITS, int(np.log2(state.size)))
    block = 1 << block_bits
    order = np.argsort(targets)
    sorted_targets = targets[order]
    sorted_diag = np.empty_like(diagonal)
    for d in range(diagonal.size):  # re-index the diagonal for the sorted target order
        src = 0
        for b in range(order.size):
            src |= ((d >> b) & 1) << order[b]
        sorted_diag[d] = diagonal[src]
    first_high = 0
    while first_high < sorted_targets.size and sorted_targets[first_high] < block_bits:
        first_high += 1
    low_index = np.zeros(block, dtype=np.int64)
    for j in range(block):
        for b in range(first_high):
            low_index[j] |= ((j >> sorted_targets[b]) & 1) << b
    if state.size < PARALLEL_MIN_SIZE:
        for blk in range(state.size >> block_bits):
            _diag_block(state, blk << block_bits, block, low_index, sorted_targets, first_high, sorted_diag)
    else:
        for blk in prange(state.size >> block_bits):
            _diag_block(state, blk << block_bits, block, low_index, sorted_targets, first_high, sorted_diag)


@njit
def _controlled_diagonal_table(controls, ctrl_val, targets, diagonal):
    """The controlled diagonal as a plain diagonal over ``controls + targets`` (ones where inactive)."""
    nc = controls.size
    table = np.ones(1 << (nc + targets.size), dtype=diagonal.dtype)
    for d in range(diagonal.size):
        table[ctrl_val | (d << nc)] = diagonal[d]
    return np.concatenate((controls, targets)), table


@njit
def _apply_diagonal_controlled_serial(state, positions, base_bits, targets, diagonal):
    for i in range(state.size >> positions.size):
        idx = insert_zero_bits(i, positions) | base_bits
        state[idx] *= diagonal[gather_bits(idx, targets, 0)]


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
    if controls.size == 0:
        _apply_diagonal_free(state, targets, diagonal)
    elif controls.size + targets.size <= 16:
        qubits, table = _controlled_diagonal_table(controls, ctrl_val, targets, diagonal)
        _apply_diagonal_free(state, qubits, table)
    else:  # very many controls: touch only the controlled subspace
        base_bits = control_bits(controls, ctrl_val)
        _apply_diagonal_controlled_serial(state, np.sort(controls), base_bits, targets, diagonal)
