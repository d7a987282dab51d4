"""Gate fusion over an experiment's opcode rows: fewer passes over the state.

The compiler emits one row per gate and calls :func:`fuse_rows` once per
experiment; this is compiled code because fusing in Python (a few numpy calls per
gate) cost more than simulating a batch of small circuits.

Two blocks are kept open while gate rows stream in, and their qubit sets never
overlap, so they commute and may be emitted in any order:

* a dense block on at most :data:`MAX_DENSE_QUBITS` qubits. Gates whose qubits lie
  inside it are multiplied in, and a one-qubit block grows into the two-qubit gate
  that follows it. Two one-qubit gates on different qubits are *not* merged: a dense
  two-qubit pass costs about three one-qubit passes, so that would be slower.
* a diagonal block on up to :data:`MAX_DIAGONAL_QUBITS` qubits. Diagonal gates
  (``rz``, ``p``, ``cz``, ``cp``, ``rzz``, ``mcphase``...) commute with each other,
  and a diagonal pass costs about one memory pass whatever its width, so a QFT's
  ladders of controlled phases become a few passes.

A gate that overlaps an open block it cannot join closes that block first. Wider
gates pass through as they are. Rows that are not gates (measure, reset, save,
jumps) and rows a jump lands on close both blocks, so no block spans them.
Fused rows carry no gate parameters (``ARG``/``ARG2`` are 0).

Streaming sees only neighbours in circuit order, so a second pass,
:func:`absorb_rows`, looks along each qubit instead: a one-qubit gate (or a
two-qubit diagonal) whose previous or next gate on every one of its qubits is the
same dense two-qubit row is multiplied into that row, and two dense two-qubit rows
on the same pair with nothing between them on either qubit become one. Gates on
other qubits in between commute with the moved gate. A random circuit at 24 qubits
loses about a third of its rows this way; a dense two-qubit pass costs the same
with or without the absorbed gates.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_CVAL,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    N_COLS,
    OP_BRANCH,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_SET_STATE,
)

__all__ = ["fuse_rows", "absorb_rows", "MAX_DIAGONAL_QUBITS", "MAX_DENSE_QUBITS"]

MAX_DIAGONAL_QUBITS = 10
MAX_DENSE_QUBITS = 2


@njit
def _copy(dst, src, n, at):
    """``dst[at:at+n] = src[:n]`` as a loop: slice assignment compiles broadcasting checks (seconds, cold)."""
    for i in range(n):
        dst[at + i] = src[i]


@njit
def _find(qubit, onto, m):
    for j in range(m):
        if onto[j] == qubit:
            return j
    return -1


@njit
def _positions(qs, k, onto, m):
    """Where each of ``qs[:k]`` sits in ``onto[:m]`` (-1 where it does not)."""
    pos = np.empty(max(k, 1), dtype=np.int64)
    for b in range(k):
        pos[b] = _find(qs[b], onto, m)
    return pos


@njit
def _inner(index, pos, k):
    """The bits of ``index`` at ``pos[:k]``, packed into bits ``0..k-1``."""
    value = 0
    for b in range(k):
        value |= ((index >> pos[b]) & 1) << b
    return value


@njit
def _overlaps(qs, k, onto, m):
    for b in range(k):
        if _find(qs[b], onto, m) >= 0:
            return True
    return False


@njit
def _inside(qs, k, onto, m):
    for b in range(k):
        if _find(qs[b], onto, m) < 0:
            return False
    return True


@njit
def _embed_matrix(matrix, qs, k, onto, m):
    """The ``k``-qubit ``matrix`` on ``qs`` as a matrix on the superset ``onto[:m]``."""
    pos = _positions(qs, k, onto, m)
    dim = 1 << m
    mask = 0
    for b in range(k):
        mask |= 1 << pos[b]
    kd = 1 << k
    out = np.zeros(dim * dim, dtype=np.complex128)
    for r in range(dim):
        ri = _inner(r, pos, k)
        for c in range(dim):
            if (r & ~mask) == (c & ~mask):
                out[r * dim + c] = matrix[ri * kd + _inner(c, pos, k)]
    return out


@njit
def _matmul(a, b, dim):
    out = np.zeros(dim * dim, dtype=np.complex128)
    for r in range(dim):
        for j in range(dim):
            x = a[r * dim + j]
            if x != 0:
                for c in range(dim):
                    out[r * dim + c] += x * b[j * dim + c]
    return out


@njit
def _grow(matrices, used, need):
    """``matrices`` with room for ``need`` more entries after ``used``."""
    if used + need <= matrices.size:
        return matrices
    bigger = np.empty(max(2 * matrices.size, used + need), dtype=np.complex128)
    _copy(bigger, matrices, used, 0)
    return bigger


@njit
def _emit(out_ops, out_qubits, out_m, counts, fields, qs, data, size):
    """Append a row (``fields``: opcode, nctrl, ntarg, cval); returns ``out_m``, reallocated when full.

    The fields come in an array because Numba compiles a function anew for every
    combination of constant arguments it is called with (seconds each, cold).
    """
    row, nq, nm = counts[0], counts[1], counts[2]
    out_m = _grow(out_m, nm, size)
    nctrl, ntarg = fields[1], fields[2]
    for c in range(N_COLS):
        out_ops[row, c] = 0
    out_ops[row, COL_OPCODE] = fields[0]
    out_ops[row, COL_QOFF] = nq
    out_ops[row, COL_NCTRL] = nctrl
    out_ops[row, COL_NTARG] = ntarg
    out_ops[row, COL_MOFF] = nm
    out_ops[row, COL_CVAL] = fields[3]
    for b in range(nctrl + ntarg):
        out_qubits[nq + b] = qs[b]
    _copy(out_m, data, size, nm)
    counts[0] = row + 1
    counts[1] = nq + nctrl + ntarg
    counts[2] = nm + size
    return out_m


@njit
def _flush_dense(dq, dn, dm, out_ops, out_qubits, out_m, counts):
    dim = 1 << dn
    for r in range(dim):
        for c in range(dim):
            if r != c and dm[r * dim + c] != 0:
                fields = np.array([OP_MATRIX, 0, dn, 0])
                return _emit(out_ops, out_qubits, out_m, counts, fields, dq, dm, dim * dim)
    diag = np.empty(dim, dtype=np.complex128)  # e.g. rz . rz: run it as a diagonal
    for r in range(dim):
        diag[r] = dm[r * dim + r]
    return _emit(out_ops, out_qubits, out_m, counts, np.array([OP_DIAG, 0, dn, 0]), dq, diag, dim)


@njit
def _flush_diagonal(gq, gn, gd, out_ops, out_qubits, out_m, counts):
    size = 1 << gn
    for i in range(size):
        if gd[i] != 1:
            return _emit(out_ops, out_qubits, out_m, counts, np.array([OP_DIAG, 0, gn, 0]), gq, gd, size)
    return out_m  # the identity: nothing to run


@njit
def _uncontrolled(ops, r, qubits, matrices):
    """Row ``r``'s qubits (controls first) and its matrix or diagonal over all of them."""
    qoff, nc, nt, moff, cval = (
        ops[r, COL_QOFF],
        ops[r, COL_NCTRL],
        ops[r, COL_NTARG],
        ops[r, COL_MOFF],
        ops[r, COL_CVAL],
    )
    k = nc + nt
    qs = qubits[qoff : qoff + k].copy()
    td = 1 << nt
    if ops[r, COL_OPCODE] == OP_DIAG:
        full = np.ones(1 << k, dtype=np.complex128)
        for t in range(td):
            full[cval | (t << nc)] = matrices[moff + t]
        return qs, full
    dim = 1 << k
    full = np.zeros(dim * dim, dtype=np.complex128)
    for i in range(dim):
        full[i * dim + i] = 1
    for a in range(td):
        for b in range(td):
            full[(cval | (a << nc)) * dim + (cval | (b << nc))] = matrices[moff + a * td + b]
    return qs, full


@njit
def fuse_rows(ops, qubits, matrices):
    """Fuse the gate rows of one experiment (see the module docs).

    Args:
        ops: int64, shape ``(n, 8)``; the unfused opcode table, jumps resolved.
        qubits: int64; the indices ``ops`` points into.
        matrices: complex128; the flat matrices ``ops`` points into.

    Returns:
        tuple: ``(ops, qubits, matrices)`` of the fused experiment, same dtypes; jump
        targets renumbered.

    """
    n = ops.shape[0]
    target = np.zeros(n + 1, dtype=np.bool_)
    for r in range(n):
        if ops[r, COL_OPCODE] == OP_JUMP or ops[r, COL_OPCODE] == OP_BRANCH:
            target[ops[r, COL_ARG]] = True
    new_index = np.empty(n + 1, dtype=np.int64)
    out_ops = np.empty((n, N_COLS), dtype=np.int64)
    out_qubits = np.empty(qubits.size, dtype=np.int64)
    out_m = np.empty(max(matrices.size, 16), dtype=np.complex128)
    counts = np.zeros(3, dtype=np.int64)  # rows, qubits, matrix entries written
    dq = np.empty(MAX_DENSE_QUBITS, dtype=np.int64)
    dm = np.empty(1 << (2 * MAX_DENSE_QUBITS), dtype=np.complex128)
    # blk[0]: qubits of the open dense block (0: none); blk[1]: qubits of the open diagonal
    # block (0 is a global phase; -1: none). In an array, not in locals: a local that is
    # 0 here would reach the helpers as a constant and compile them once more.
    blk = np.zeros(2, dtype=np.int64)
    gq = np.empty(MAX_DIAGONAL_QUBITS, dtype=np.int64)
    gd = np.empty(1 << MAX_DIAGONAL_QUBITS, dtype=np.complex128)
    blk[1] = -1
    for r in range(n):
        opcode = ops[r, COL_OPCODE]
        k = ops[r, COL_NCTRL] + ops[r, COL_NTARG]
        gate = opcode == OP_MATRIX or opcode == OP_DIAG
        fusible = (opcode == OP_DIAG and k <= MAX_DIAGONAL_QUBITS) or (opcode == OP_MATRIX and k <= MAX_DENSE_QUBITS)
        qoff = ops[r, COL_QOFF]
        if target[r] or not gate:
            if blk[0] > 0:
                out_m = _flush_dense(dq, blk[0], dm, out_ops, out_qubits, out_m, counts)
                blk[0] = 0
            if blk[1] >= 0:
                out_m = _flush_diagonal(gq, blk[1], gd, out_ops, out_qubits, out_m, counts)
                blk[1] = -1
        elif not fusible:
            if blk[0] > 0 and _overlaps(qubits[qoff:], k, dq, blk[0]):
                out_m = _flush_dense(dq, blk[0], dm, out_ops, out_qubits, out_m, counts)
                blk[0] = 0
            if blk[1] >= 0 and _overlaps(qubits[qoff:], k, gq, blk[1]):
                out_m = _flush_diagonal(gq, blk[1], gd, out_ops, out_qubits, out_m, counts)
                blk[1] = -1
        new_index[r] = counts[0]
        if not gate or not fusible:
            size = 0
            if opcode == OP_MATRIX:
                size = 1 << (2 * ops[r, COL_NTARG])
            elif opcode == OP_DIAG or opcode == OP_SET_STATE:
                size = 1 << ops[r, COL_NTARG]
                if opcode == OP_SET_STATE and ops[r, COL_ARG] == 1:
                    size = 1 << (2 * ops[r, COL_NTARG])  # an operator (set_unitary): 4**n entries
            moff = ops[r, COL_MOFF]
            row = counts[0]
            fields = np.array([opcode, ops[r, COL_NCTRL], ops[r, COL_NTARG], ops[r, COL_CVAL]])
            out_m = _emit(out_ops, out_qubits, out_m, counts, fields, qubits[qoff:], matrices[moff:], size)
            if not gate and opcode != OP_SET_STATE:  # SET_STATE keeps its amplitudes, like a gate
                out_ops[row, COL_MOFF] = 0
                out_ops[row, COL_ARG] = ops[r, COL_ARG]
                out_ops[row, COL_ARG2] = ops[r, COL_ARG2]
            if opcode == OP_SET_STATE:
                out_ops[row, COL_ARG] = ops[r, COL_ARG]
            continue
        qs, data = _uncontrolled(ops, r, qubits, matrices)
        if opcode == OP_DIAG:
            if blk[0] > 0 and _inside(qs, k, dq, blk[0]):
                pos = _positions(qs, k, dq, blk[0])
                dim = 1 << blk[0]
                for i in range(dim):
                    s = data[_inner(i, pos, k)]
                    for c in range(dim):
                        dm[i * dim + c] *= s
                continue
            if blk[0] > 0 and _overlaps(qs, k, dq, blk[0]):
                out_m = _flush_dense(dq, blk[0], dm, out_ops, out_qubits, out_m, counts)
                blk[0] = 0
            if blk[1] >= 0:
                m = blk[1]
                union = np.empty(blk[1] + k, dtype=np.int64)
                _copy(union, gq, blk[1], 0)
                for b in range(k):
                    if _find(qs[b], gq, blk[1]) < 0:
                        union[m] = qs[b]
                        m += 1
                if m <= MAX_DIAGONAL_QUBITS:
                    pos = _positions(qs, k, union, m)
                    low = (1 << blk[1]) - 1
                    merged = np.empty(1 << m, dtype=np.complex128)
                    for i in range(1 << m):
                        merged[i] = gd[i & low] * data[_inner(i, pos, k)]  # the block's qubits come first
                    _copy(gq, union, m, 0)
                    _copy(gd, merged, 1 << m, 0)
                    blk[1] = m
                    continue
                out_m = _flush_diagonal(gq, blk[1], gd, out_ops, out_qubits, out_m, counts)
            _copy(gq, qs, k, 0)
            _copy(gd, data, 1 << k, 0)
            blk[1] = k
            continue
        if blk[1] >= 0 and _overlaps(qs, k, gq, blk[1]):
            out_m = _flush_diagonal(gq, blk[1], gd, out_ops, out_qubits, out_m, counts)  # it came first
            blk[1] = -1
        if blk[0] > 0:
            if _inside(qs, k, dq, blk[0]):
                _copy(dm, _matmul(_embed_matrix(data, qs, k, dq, blk[0]), dm, 1 << blk[0]), 1 << (2 * blk[0]), 0)
                continue
            if blk[0] == 1 and _find(dq[0], qs, k) >= 0:  # a one-qubit block grows into this gate
                _copy(dm, _matmul(data, _embed_matrix(dm, dq, blk[0], qs, k), 1 << k), 1 << (2 * k), 0)
                _copy(dq, qs, k, 0)
                blk[0] = k
                continue
            out_m = _flush_dense(dq, blk[0], dm, out_ops, out_qubits, out_m, counts)
        _copy(dq, qs, k, 0)
        _copy(dm, data, 1 << (2 * k), 0)
        blk[0] = k
    if blk[0] > 0:
        out_m = _flush_dense(dq, blk[0], dm, out_ops, out_qubits, out_m, counts)
    if blk[1] >= 0:
        out_m = _flush_diagonal(gq, blk[1], gd, out_ops, out_qubits, out_m, counts)
    new_index[n] = counts[0]  # after the last blocks: a jump to the end skips nothing
    rows = counts[0]
    for r in range(rows):
        if out_ops[r, COL_OPCODE] == OP_JUMP or out_ops[r, COL_OPCODE] == OP_BRANCH:
            out_ops[r, COL_ARG] = new_index[out_ops[r, COL_ARG]]
    return absorb_rows(out_ops[:rows].copy(), out_qubits[: counts[1]].copy(), out_m[: counts[2]].copy())


@njit
def _is_pair(ops, r):
    """Row ``r`` is a dense uncontrolled two-qubit gate: it can take in its neighbours."""
    return ops[r, COL_OPCODE] == OP_MATRIX and ops[r, COL_NCTRL] == 0 and ops[r, COL_NTARG] == 2


@njit
def _is_small(ops, r):
    """Row ``r`` is an uncontrolled one-qubit gate or two-qubit diagonal: it can be taken in."""
    if ops[r, COL_NCTRL] != 0:
        return False
    if ops[r, COL_NTARG] == 1:
        return ops[r, COL_OPCODE] == OP_MATRIX or ops[r, COL_OPCODE] == OP_DIAG
    return ops[r, COL_NTARG] == 2 and ops[r, COL_OPCODE] == OP_DIAG


@njit
def _dense(ops, r, qubits, matrices):
    """Row ``r`` (uncontrolled) as its qubits and a dense matrix over them."""
    qs, data = _uncontrolled(ops, r, qubits, matrices)
    if ops[r, COL_OPCODE] == OP_MATRIX:
        return qs, data
    dim = data.size
    full = np.zeros(dim * dim, dtype=np.complex128)
    for i in range(dim):
        full[i * dim + i] = data[i]
    return qs, full


@njit
def _last(last, stamp, q, run):
    """The last row on qubit ``q`` in the current run, or -1."""
    return last[q] if stamp[q] == run else -1


@njit
def _take_in(ops, qubits, matrices, host, r):
    """Multiply row ``r`` into the dense pair row ``host``, before or after it as ``r`` comes.

    Sizes come from ``ops``, not literals, and ``hq`` is a copy: Numba would compile
    the helpers once more for a constant argument or a new array layout (seconds, cold).
    """
    k = ops[host, COL_NTARG]
    dim = 1 << k
    hq = qubits[ops[host, COL_QOFF] : ops[host, COL_QOFF] + k].copy()
    rq, data = _dense(ops, r, qubits, matrices)
    embedded = _embed_matrix(data, rq, rq.size, hq, k)
    moff = ops[host, COL_MOFF]
    current = matrices[moff : moff + dim * dim].copy()
    product = _matmul(current, embedded, dim) if r < host else _matmul(embedded, current, dim)
    _copy(matrices, product, dim * dim, moff)


@njit
def absorb_rows(ops, qubits, matrices):
    """Take one-qubit gates and two-qubit diagonals into the dense pair rows next to them on their qubits.

    Runs on :func:`fuse_rows` output, in which every row owns its matrix (the pair
    rows' matrices are rewritten in place). Rows a jump lands on and rows that are
    not gates end a run; nothing moves across them.

    Args:
        ops: int64, shape ``(n, 8)``; a fused opcode table, jumps resolved.
        qubits: int64; the indices ``ops`` points into.
        matrices: complex128; the flat matrices ``ops`` points into (modified in place).

    Returns:
        tuple: ``(ops, qubits, matrices)`` without the absorbed rows; jump targets
        renumbered. ``qubits`` and ``matrices`` keep the absorbed rows' (unused) entries.
    """
    n = ops.shape[0]
    target = np.zeros(n + 1, dtype=np.bool_)
    width = 1
    for r in range(n):
        if ops[r, COL_OPCODE] == OP_JUMP or ops[r, COL_OPCODE] == OP_BRANCH:
            target[ops[r, COL_ARG]] = True
    for i in range(qubits.size):
        width = max(width, qubits[i] + 1)
    last = np.full(width, -1, dtype=np.int64)
    stamp = np.full(width, -1, dtype=np.int64)  # the run in which last[q] was set
    dead = np.zeros(n, dtype=np.bool_)
    run = 0
    for r in range(n):
        gate = ops[r, COL_OPCODE] == OP_MATRIX or ops[r, COL_OPCODE] == OP_DIAG
        if target[r] or not gate:
            run += 1
            if not gate:
                continue
        qoff, k = ops[r, COL_QOFF], ops[r, COL_NCTRL] + ops[r, COL_NTARG]
        if _is_pair(ops, r):
            a, b = qubits[qoff], qubits[qoff + 1]
            h = _last(last, stamp, a, run)
            if h >= 0 and h == _last(last, stamp, b, run) and _is_pair(ops, h):
                _take_in(ops, qubits, matrices, h, r)  # same pair, nothing between
                dead[r] = True
                continue
            for side in range(2):
                s = _last(last, stamp, qubits[qoff + side], run)
                if s < 0 or dead[s] or not _is_small(ops, s):
                    continue
                sk = ops[s, COL_NTARG]
                ok = True
                for j in range(sk):
                    sq = qubits[ops[s, COL_QOFF] + j]
                    if (sq != a and sq != b) or _last(last, stamp, sq, run) != s:
                        ok = False
                if ok:
                    _take_in(ops, qubits, matrices, r, s)
                    dead[s] = True
        elif _is_small(ops, r):
            h = _last(last, stamp, qubits[qoff], run)
            ok = h >= 0 and _is_pair(ops, h)
            for j in range(1, k):
                ok = ok and _last(last, stamp, qubits[qoff + j], run) == h
            if ok:
                _take_in(ops, qubits, matrices, h, r)
                dead[r] = True
                continue
        for j in range(k):
            last[qubits[qoff + j]] = r
            stamp[qubits[qoff + j]] = run
    new_index = np.empty(n + 1, dtype=np.int64)
    rows = 0
    for r in range(n):
        new_index[r] = rows  # an absorbed row maps to the next row kept
        if not dead[r]:
            rows += 1
    new_index[n] = rows
    out = np.empty((rows, N_COLS), dtype=np.int64)
    i = 0
    for r in range(n):
        if not dead[r]:
            for c in range(N_COLS):
                out[i, c] = ops[r, c]
            if out[i, COL_OPCODE] == OP_JUMP or out[i, COL_OPCODE] == OP_BRANCH:
                out[i, COL_ARG] = new_index[out[i, COL_ARG]]
            i += 1
    return out, qubits, matrices
