"""Cache-blocked gate runs: many gates per pass over a large state.

A large state is read from memory once per gate by the kernels in :mod:`.gates`,
and a dense two-qubit gate costs two to three memory passes on a many-core-per-
channel machine. Here a run of gates whose qubits all lie in one set of ``K``
*local* qubits is applied block by block: for each setting of the other qubits,
the ``2**K`` amplitudes are copied into a cache-sized buffer as separate real and
imaginary arrays (a layout the compiler vectorises, unlike interleaved complex
numbers), every gate of the run is applied there, and the buffer is written back.
One memory pass for the whole run.

The buffer's bit order is the planner's choice (:mod:`.blocking`): local qubit
``local[i]`` is buffer index bit ``slots[i]``. The lowest buffer bits go to local
qubits no gate of the run touches, so every gate's inner loop runs over at least
``2**3`` contiguous buffer entries (short loops do not vectorise). The planner
stores each row's qubits as buffer bits in ``positions``, parallel to the
program's qubit table.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, prange
from ..opcodes import COL_CVAL, COL_MOFF, COL_NCTRL, COL_NTARG, COL_OPCODE, COL_QOFF, OP_MATRIX
from .bits import control_bits, insert_zero_bit, insert_zero_bits
from .gates import row_nonzeros, scaled_identity_plus_rank_one, target_offsets
from .monomial import MAX_MONOMIAL_TARGETS, block_monomial, monomial

__all__ = ["apply_block"]


@njit(fastmath=True)
def _block_1q(re, im, p, m):
    m00r, m00i, m01r, m01i = m[0].real, m[0].imag, m[1].real, m[1].imag
    m10r, m10i, m11r, m11i = m[2].real, m[2].imag, m[3].real, m[3].imag
    stride = 1 << p
    for i0 in range(0, re.size, 2 * stride):
        r0 = re[i0 : i0 + stride]
        q0 = im[i0 : i0 + stride]
        r1 = re[i0 + stride : i0 + 2 * stride]
        q1 = im[i0 + stride : i0 + 2 * stride]
        for j in range(stride):
            ar, ai, br, bi = r0[j], q0[j], r1[j], q1[j]
            r0[j] = m00r * ar - m00i * ai + m01r * br - m01i * bi
            q0[j] = m00r * ai + m00i * ar + m01r * bi + m01i * br
            r1[j] = m10r * ar - m10i * ai + m11r * br - m11i * bi
            q1[j] = m10r * ai + m10i * ar + m11r * bi + m11i * br


@njit(fastmath=True)
def _block_1q_low(re, im, p, m):
    """Targets 0 and 1: a flat loop over pairs, which vectorises where short runs would not."""
    m00r, m00i, m01r, m01i = m[0].real, m[0].imag, m[1].real, m[1].imag
    m10r, m10i, m11r, m11i = m[2].real, m[2].imag, m[3].real, m[3].imag
    stride = 1 << p
    for i in range(re.size >> 1):
        a = insert_zero_bit(i, p)
        b = a + stride
        ar, ai, br, bi = re[a], im[a], re[b], im[b]
        re[a] = m00r * ar - m00i * ai + m01r * br - m01i * bi
        im[a] = m00r * ai + m00i * ar + m01r * bi + m01i * br
        re[b] = m10r * ar - m10i * ai + m11r * br - m11i * bi
        im[b] = m10r * ai + m10i * ar + m11r * bi + m11i * br


@njit(fastmath=True)
def _block_2q(re, im, p0, p1, m):
    # Matrix entries as scalars: loaded from an array, LLVM would reload them after
    # every store (the buffers might alias them) and not vectorise.
    m00r, m00i = m[0].real, m[0].imag
    m01r, m01i = m[1].real, m[1].imag
    m02r, m02i = m[2].real, m[2].imag
    m03r, m03i = m[3].real, m[3].imag
    m10r, m10i = m[4].real, m[4].imag
    m11r, m11i = m[5].real, m[5].imag
    m12r, m12i = m[6].real, m[6].imag
    m13r, m13i = m[7].real, m[7].imag
    m20r, m20i = m[8].real, m[8].imag
    m21r, m21i = m[9].real, m[9].imag
    m22r, m22i = m[10].real, m[10].imag
    m23r, m23i = m[11].real, m[11].imag
    m30r, m30i = m[12].real, m[12].imag
    m31r, m31i = m[13].real, m[13].imag
    m32r, m32i = m[14].real, m[14].imag
    m33r, m33i = m[15].real, m[15].imag
    lo, hi = min(p0, p1), max(p0, p1)
    s0, s1 = 1 << p0, 1 << p1
    run = 1 << lo
    for a in range(0, re.size, 2 << hi):
        for i in range(a, a + (1 << hi), 2 << lo):
            r0 = re[i : i + run]
            q0 = im[i : i + run]
            r1 = re[i + s0 : i + s0 + run]
            q1 = im[i + s0 : i + s0 + run]
            r2 = re[i + s1 : i + s1 + run]
            q2 = im[i + s1 : i + s1 + run]
            r3 = re[i + s0 + s1 : i + s0 + s1 + run]
            q3 = im[i + s0 + s1 : i + s0 + s1 + run]
            for j in range(run):
                x0, y0, x1, y1 = r0[j], q0[j], r1[j], q1[j]
                x2, y2, x3, y3 = r2[j], q2[j], r3[j], q3[j]
                r0[j] = (
                    (m00r * x0 - m00i * y0)
                    + (m01r * x1 - m01i * y1)
                    + (m02r * x2 - m02i * y2)
                    + (m03r * x3 - m03i * y3)
                )
                q0[j] = (
                    (m00r * y0 + m00i * x0)
                    + (m01r * y1 + m01i * x1)
                    + (m02r * y2 + m02i * x2)
                    + (m03r * y3 + m03i * x3)
                )
                r1[j] = (
                    (m10r * x0 - m10i * y0)
                    + (m11r * x1 - m11i * y1)
                    + (m12r * x2 - m12i * y2)
                    + (m13r * x3 - m13i * y3)
                )
                q1[j] = (
                    (m10r * y0 + m10i * x0)
                    + (m11r * y1 + m11i * x1)
                    + (m12r * y2 + m12i * x2)
                    + (m13r * y3 + m13i * x3)
                )
                r2[j] = (
                    (m20r * x0 - m20i * y0)
                    + (m21r * x1 - m21i * y1)
                    + (m22r * x2 - m22i * y2)
                    + (m23r * x3 - m23i * y3)
                )
                q2[j] = (
                    (m20r * y0 + m20i * x0)
                    + (m21r * y1 + m21i * x1)
                    + (m22r * y2 + m22i * x2)
                    + (m23r * y3 + m23i * x3)
                )
                r3[j] = (
                    (m30r * x0 - m30i * y0)
                    + (m31r * x1 - m31i * y1)
                    + (m32r * x2 - m32i * y2)
                    + (m33r * x3 - m33i * y3)
                )
                q3[j] = (
                    (m30r * y0 + m30i * x0)
                    + (m31r * y1 + m31i * x1)
                    + (m32r * y2 + m32i * x2)
                    + (m33r * y3 + m33i * x3)
                )


@njit
def _block_general(re, im, ctrl_pos, ctrl_val, targ_pos, matrix):
    """Controls and any number of targets: one group of ``2**k`` amplitudes at a time."""
    k = targ_pos.size
    dim = 1 << k
    positions = np.sort(np.concatenate((ctrl_pos, targ_pos)))
    base_bits = control_bits(ctrl_pos, ctrl_val)
    offsets = target_offsets(targ_pos)
    alpha, lr_rows, lr_u, lr_cols, lr_v = scaled_identity_plus_rank_one(matrix, dim)
    if lr_rows.size:  # alpha * I + u v^T: a depolarizing channel's superoperator
        for g in range(re.size >> positions.size):
            base = insert_zero_bits(g, positions) | base_bits
            sr = 0.0
            si = 0.0
            for j in range(lr_cols.size):
                e = lr_v[j]
                x, y = re[base + offsets[lr_cols[j]]], im[base + offsets[lr_cols[j]]]
                sr += e.real * x - e.imag * y
                si += e.real * y + e.imag * x
            if alpha != 1:
                for r in range(dim):
                    x, y = re[base + offsets[r]], im[base + offsets[r]]
                    re[base + offsets[r]] = alpha.real * x - alpha.imag * y
                    im[base + offsets[r]] = alpha.real * y + alpha.imag * x
            for i in range(lr_rows.size):
                e = lr_u[i]
                re[base + offsets[lr_rows[i]]] += e.real * sr - e.imag * si
                im[base + offsets[lr_rows[i]]] += e.real * si + e.imag * sr
        return
    cols, counts = row_nonzeros(matrix, dim)
    if counts.size == 0:  # dense: every column of every row
        counts = np.full(dim, dim, dtype=np.int64)
        for r in range(dim):
            cols[r] = np.arange(dim)
    vr = np.empty(dim, dtype=re.dtype)
    vi = np.empty(dim, dtype=re.dtype)
    for g in range(re.size >> positions.size):
        base = insert_zero_bits(g, positions) | base_bits
        for r in range(dim):
            vr[r] = re[base + offsets[r]]
            vi[r] = im[base + offsets[r]]
        for r in range(dim):
            accr = 0.0
            acci = 0.0
            for t in range(counts[r]):
                c = cols[r, t]
                e = matrix[r * dim + c]
                accr += e.real * vr[c] - e.imag * vi[c]
                acci += e.real * vi[c] + e.imag * vr[c]
            re[base + offsets[r]] = accr
            im[base + offsets[r]] = acci


#: A diagonal's entries are tabled per chunk of at most ``2**DIAG_CHUNK_BITS`` buffer entries.
DIAG_CHUNK_BITS = 8


@njit(fastmath=True)
def _block_diagonal(re, im, ctrl_pos, ctrl_val, targ_pos, diagonal, tr, ti):
    """Multiply the buffers by a (controlled) diagonal, in place.

    With every qubit of the gate at buffer bit 6 or above, the entry is the same
    along each run of ``2**lowest`` entries: one scalar product per run. Otherwise,
    within a chunk of ``2**c`` entries, an entry depends on the chunk's bits at the
    gate's higher positions and on its own low bits: a table holds the ``2**c``
    entries for each setting of the higher ones (one gather per table entry), and
    each chunk's loop is a plain vectorised product. The table never outgrows the
    buffer (it is written to ``tr``/``ti``, scratch of the buffer's size); if it
    would, a gather per entry.
    """
    pos = np.concatenate((ctrl_pos, targ_pos))
    full = _with_controls(pos.size, ctrl_pos.size, ctrl_val, diagonal)
    lowest = _log2(re.size)
    for b in range(pos.size):
        lowest = min(lowest, pos[b])
    if lowest >= DIAG_CHUNK_BITS:
        _diagonal_runs(re, im, pos, full, lowest)
        return
    for c in (DIAG_CHUNK_BITS, 3):
        c = min(c, _log2(re.size))
        nh = 0
        for b in range(pos.size):
            nh += pos[b] >= c
        if (1 << (c + nh)) <= re.size:
            _diagonal_table(re, im, pos, full, c, tr, ti)
            return
    _block_diagonal_gather(re, im, ctrl_pos, ctrl_val, targ_pos, diagonal)


@njit
def _with_controls(n, nc, ctrl_val, diagonal):
    """The diagonal over the controls and the targets (controls lowest): 1 where a control is off."""
    if nc == 0:
        return diagonal
    full = np.ones(1 << n, dtype=diagonal.dtype)
    want = ctrl_val & ((1 << nc) - 1)
    for t in range(1 << (n - nc)):
        full[(t << nc) | want] = diagonal[t]
    return full


@njit
def _diagonal_index(i, pos):
    """The diagonal's index of buffer index ``i``: its bits at ``pos``."""
    d = 0
    for b in range(pos.size):
        d |= ((i >> pos[b]) & 1) << b
    return d


@njit(fastmath=True)
def _diagonal_runs(re, im, pos, full, lowest):
    run = 1 << lowest
    for start in range(0, re.size, run):
        e = full[_diagonal_index(start, pos)]
        if e == 1:
            continue
        er, ei = e.real, e.imag
        r = re[start : start + run]
        q = im[start : start + run]
        for j in range(run):
            x, y = r[j], q[j]
            r[j] = er * x - ei * y
            q[j] = er * y + ei * x


@njit(fastmath=True)
def _diagonal_table(re, im, pos, full, chunk_bits, tr, ti):
    chunk = 1 << chunk_bits
    high = np.empty(pos.size, dtype=np.int64)  # the gate's positions above the chunk
    nh = 0
    for b in range(pos.size):
        if pos[b] >= chunk_bits:
            high[nh] = pos[b]
            nh += 1
    low_index = np.empty(chunk, dtype=np.int64)
    for j in range(chunk):
        low_index[j] = _diagonal_index(j, pos)
    for h in range(1 << nh):
        index = 0
        for k in range(nh):
            index |= ((h >> k) & 1) << high[k]
        high_index = _diagonal_index(index, pos)
        for j in range(chunk):
            e = full[high_index | low_index[j]]
            tr[(h << chunk_bits) + j] = e.real
            ti[(h << chunk_bits) + j] = e.imag
    for start in range(0, re.size, chunk):
        h = 0
        for k in range(nh):
            h |= ((start >> high[k]) & 1) << k
        a = tr[h << chunk_bits : (h + 1) << chunk_bits]
        c = ti[h << chunk_bits : (h + 1) << chunk_bits]
        r = re[start : start + chunk]
        q = im[start : start + chunk]
        for j in range(chunk):
            x, y = r[j], q[j]
            r[j] = a[j] * x - c[j] * y
            q[j] = a[j] * y + c[j] * x


@njit
def _log2(size):
    k = 0
    while (1 << (k + 1)) <= size:
        k += 1
    return k


@njit(fastmath=True)
def _block_diagonal_gather(re, im, ctrl_pos, ctrl_val, targ_pos, diagonal):
    mask = 0
    want = 0
    for j in range(ctrl_pos.size):
        mask |= 1 << ctrl_pos[j]
        if (ctrl_val >> j) & 1:
            want |= 1 << ctrl_pos[j]
    dr = diagonal.real.copy()
    di = diagonal.imag.copy()
    # The index into the diagonal from the 6 low bits comes from a table; the high
    # bits are read once per 64 amplitudes, so the inner loop has no bit gathering.
    block = min(64, re.size)
    low_index = np.zeros(block, dtype=np.int64)
    for j in range(block):
        for b in range(targ_pos.size):
            if targ_pos[b] < 6:
                low_index[j] |= ((j >> targ_pos[b]) & 1) << b
    for start in range(0, re.size, block):
        high = 0
        for b in range(targ_pos.size):
            if targ_pos[b] >= 6:
                high |= ((start >> targ_pos[b]) & 1) << b
        for j in range(block):
            i = start + j
            if (i & mask) == want:
                d = high | low_index[j]
                x, y = re[i], im[i]
                re[i] = dr[d] * x - di[d] * y
                im[i] = dr[d] * y + di[d] * x


@njit
def _local_controls(ctrl_all, cval, base):
    """(met, controls inside the block, their values): ``met`` is False if an outside one is not met.

    An outside control's bit is the same for the whole block: ``base`` holds it.
    """
    ctrl = np.empty(ctrl_all.size, dtype=np.int64)
    value = 0
    n = 0
    for j in range(ctrl_all.size):
        bit = (cval >> j) & 1
        p = ctrl_all[j]
        if p < 0:
            if ((base >> (-1 - p)) & 1) != bit:
                return False, ctrl[:0], 0
        else:
            ctrl[n] = p
            value |= bit << n
            n += 1
    return True, ctrl[:n], value


@njit
def _local_diagonal(targ_all, diagonal, base):
    """The targets inside the block, and the diagonal's entries for this block's outside bits."""
    inside = True
    for j in range(targ_all.size):
        inside = inside and targ_all[j] >= 0
    if inside:
        return targ_all, diagonal
    targ = np.empty(targ_all.size, dtype=np.int64)
    which = np.empty(targ_all.size, dtype=np.int64)  # each local target's bit in the diagonal index
    fixed = 0
    n = 0
    for j in range(targ_all.size):
        p = targ_all[j]
        if p < 0:
            fixed |= ((base >> (-1 - p)) & 1) << j
        else:
            targ[n] = p
            which[n] = j
            n += 1
    sub = np.empty(1 << n, dtype=diagonal.dtype)
    for c in range(1 << n):
        index = fixed
        for b in range(n):
            index |= ((c >> b) & 1) << which[b]
        sub[c] = diagonal[index]
    return targ[:n], sub


@njit
def _apply_row(re, im, row, positions, matrices, is_monomial, perm, phase, tr, ti, base):
    """Apply one row to the block at state index ``base``; insular qubits may lie outside it.

    ``positions`` gives each qubit of the row as a buffer bit, or ``-1 - qubit`` outside
    the block (controls and DIAG rows' qubits only; see :mod:`.blocking`).
    """
    qoff, nctrl, ntarg, moff, cval = row[COL_QOFF], row[COL_NCTRL], row[COL_NTARG], row[COL_MOFF], row[COL_CVAL]
    met, ctrl, ctrl_val = _local_controls(positions[qoff : qoff + nctrl], cval, base)
    if not met:
        return
    targ = positions[qoff + nctrl : qoff + nctrl + ntarg]
    if row[COL_OPCODE] == OP_MATRIX:
        dim = 1 << ntarg
        matrix = matrices[moff : moff + dim * dim]
        if is_monomial:
            gate_bits = np.sort(np.concatenate((ctrl, targ)))
            block_monomial(re, im, gate_bits, control_bits(ctrl, ctrl_val), target_offsets(targ), perm, phase, tr, ti)
        elif ctrl.size == 0 and ntarg == 1:
            if targ[0] < 2:
                _block_1q_low(re, im, targ[0], matrix)
            else:
                _block_1q(re, im, targ[0], matrix)
        elif ctrl.size == 0 and ntarg == 2:
            _block_2q(re, im, targ[0], targ[1], matrix)
        else:
            _block_general(re, im, ctrl, ctrl_val, targ, matrix)
    else:
        local_targ, diagonal = _local_diagonal(targ, matrices[moff : moff + (1 << ntarg)], base)
        if local_targ.size == 0 and ctrl.size == 0 and diagonal[0] == 1:
            return  # this block sees the identity
        _block_diagonal(re, im, ctrl, ctrl_val, local_targ, diagonal, tr, ti)


@njit
def _gather_maps(local, slots):
    """State offsets of a block's contiguous runs, and the buffer slots of runs and of run elements."""
    k = local.size
    low = 0
    while low < k and local[low] == low:
        low += 1
    high = k - low
    run_offsets = np.zeros(1 << high, dtype=np.int64)
    run_slots = np.zeros(1 << high, dtype=np.int64)
    for h in range(1 << high):
        for b in range(high):
            if (h >> b) & 1:
                run_offsets[h] |= 1 << local[low + b]
                run_slots[h] |= 1 << slots[low + b]
    element_slots = np.zeros(1 << low, dtype=np.int64)
    for j in range(1 << low):
        for b in range(low):
            if (j >> b) & 1:
                element_slots[j] |= 1 << slots[b]
    return run_offsets, run_slots, element_slots


@njit(fastmath=True)
def _gather(src, re, im, slot, element_slots, in_order):
    """One contiguous run of the state into the buffers, at ``slot``."""
    if in_order:
        a = re[slot : slot + src.size]
        b = im[slot : slot + src.size]
        for j in range(src.size):
            a[j] = src[j].real
            b[j] = src[j].imag
    else:
        for j in range(src.size):
            re[slot | element_slots[j]] = src[j].real
            im[slot | element_slots[j]] = src[j].imag


@njit(fastmath=True)
def _scatter(dst, re, im, slot, element_slots, in_order):
    """The buffers at ``slot`` back into one contiguous run of the state."""
    if in_order:
        a = re[slot : slot + dst.size]
        b = im[slot : slot + dst.size]
        for j in range(dst.size):
            dst[j] = complex(a[j], b[j])
    else:
        for j in range(dst.size):
            dst[j] = complex(re[slot | element_slots[j]], im[slot | element_slots[j]])


@njit(parallel=True)
def apply_block(state, local, slots, rows, ops, positions, matrices, threads=1, from_zero=False):
    """Apply ``ops[rows]`` (MATRIX/DIAG rows on ``local`` qubits only) in one pass, in place.

    Rows whose matrix is monomial (x, cx, swap...) are found once, before the blocks,
    and run as moves (:func:`.monomial.block_monomial`).

    With ``from_zero`` the state's entries are not read: each block starts as its part of
    ``|0...0>`` and every entry is written. A new state then needs no zeroing pass, and
    its pages are first touched by the threads that write them.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        local: int64, ascending; the block's qubits (``2**local.size`` amplitudes per block).
        slots: int64, parallel to ``local``: the buffer index bit of each local qubit.
        rows: int64; indices of the rows of ``ops`` to apply, in order.
        ops: int64, shape ``(n_ops, 8)``; the program's opcode table.
        positions: int64, parallel to the program's qubit table: each row's qubits as
            buffer index bits (the ``slots`` of those qubits), or ``-1 - qubit`` for a
            control or a DIAG row's qubit outside the block.
        matrices: the program's matrices, same dtype as ``state``.
        threads: The task's thread count: the blocks are split into ``4 * threads`` chunks.
        from_zero: Start from ``|0...0>`` whatever ``state`` holds (it may be uninitialised).
    """
    k = local.size
    run_offsets, run_slots, element_slots = _gather_maps(local, slots)
    run = element_slots.size
    n_blocks = state.size >> k
    # Which rows are monomial (x, cx, swap...), found once for all blocks.
    is_monomial = np.zeros(rows.size, dtype=np.bool_)
    perms = np.zeros((rows.size, 1 << MAX_MONOMIAL_TARGETS), dtype=np.int64)
    phases = np.zeros((rows.size, 1 << MAX_MONOMIAL_TARGETS), dtype=matrices.dtype)
    for r in range(rows.size):
        row = ops[rows[r]]
        if row[COL_OPCODE] == OP_MATRIX and row[COL_NTARG] <= MAX_MONOMIAL_TARGETS:
            dim = 1 << row[COL_NTARG]
            is_monomial[r] = monomial(matrices[row[COL_MOFF] : row[COL_MOFF] + dim * dim], dim, perms[r], phases[r])
    scratch = 1 << k  # a monomial's moves, or a diagonal's table (see _block_diagonal)
    in_order = True  # a run's amplitudes keep their order in the buffer: plain copies
    for j in range(run):
        in_order = in_order and element_slots[j] == j
    # One set of buffers per chunk of blocks, a few chunks per thread: on a Dask worker
    # (MALLOC_TRIM_THRESHOLD_ set, so malloc's mmap threshold stays at 128 KiB) every buffer
    # is a fresh mapping, faulted in page by page; 256 chunks per step cost 1.6x there.
    n_chunks = min(n_blocks, 4 * max(threads, 1))
    for c in prange(n_chunks):
        re = np.empty(1 << k, dtype=state.real.dtype)
        im = np.empty(1 << k, dtype=state.real.dtype)
        tr = np.empty(scratch, dtype=state.real.dtype)
        ti = np.empty(scratch, dtype=state.real.dtype)
        for g in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
            base = insert_zero_bits(g, local)
            if from_zero:
                re[:] = 0
                im[:] = 0
                if base == 0:  # amplitude 0 is buffer entry 0 of block 0
                    re[0] = 1
            else:
                for h in range(run_offsets.size):
                    src = state[base + run_offsets[h] : base + run_offsets[h] + run]
                    _gather(src, re, im, run_slots[h], element_slots, in_order)
            for r in range(rows.size):
                _apply_row(re, im, ops[rows[r]], positions, matrices, is_monomial[r], perms[r], phases[r], tr, ti, base)
            for h in range(run_offsets.size):
                dst = state[base + run_offsets[h] : base + run_offsets[h] + run]
                _scatter(dst, re, im, run_slots[h], element_slots, in_order)
