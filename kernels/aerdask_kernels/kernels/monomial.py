"""Monomial gates: ``x``, ``cx``, ``swap``, ``ccx``, ``cswap``, ``iswap``, ``y``...

Every row of a monomial matrix holds exactly one nonzero entry, so the gate moves
amplitudes (each times a phase) instead of summing products: output ``r`` of a
group is ``phase[r] * input[perm[r]]``. A dense two-qubit kernel spends 16
multiply-adds per amplitude; a move spends one complex multiply, so in the cache
blocks, where the arithmetic is the cost, a ``cx`` runs several times faster.

There is no opcode for them: the interpreter and the block kernel recognise a
monomial matrix at run time (:func:`monomial`, up to :data:`MAX_MONOMIAL_TARGETS`
targets). So a fused row that comes out a permutation (``cx`` then ``swap``) takes
this path too, and programs need no new format.

Shared arguments: ``positions`` are every qubit the gate involves (controls and
targets), sorted ascending; ``base_bits`` the index bits of the active controls;
``offsets[r]`` the index bits of target setting ``r`` (:func:`.gates.target_offsets`).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, prange
from .bits import insert_zero_bits
from .gates import MAX_RUN, PARALLEL_MIN_SIZE

__all__ = ["monomial", "apply_monomial", "block_monomial", "MAX_MONOMIAL_TARGETS", "BLOCK_MOVE_RUN"]

#: Widest gate checked for the monomial path (a 3-target group is 8 amplitudes).
MAX_MONOMIAL_TARGETS = 3
#: Longest run of contiguous groups moved at a time in a cache block (scratch of 8 x 256 entries).
BLOCK_MOVE_RUN = 256


@njit
def monomial(matrix, dim, perm, phase):
    """Whether ``matrix`` (``dim x dim``, row-major) is monomial; if so, fill ``perm`` and ``phase``.

    Args:
        matrix: complex64 or complex128, shape ``(dim * dim,)``.
        dim: int; ``2**k`` for ``k <= 6`` (a bit mask marks the columns used).
        perm: int64, shape ``(>= dim,)``; set to the source of each output.
        phase: ``matrix``'s dtype, shape ``(>= dim,)``; set to each output's factor.

    Returns:
        bool: True if every row and every column holds exactly one nonzero entry.
    """
    used = 0
    for r in range(dim):
        col = -1
        for c in range(dim):
            if matrix[r * dim + c] != 0:
                if col >= 0:
                    return False
                col = c
        if col < 0 or (used >> col) & 1:
            return False
        used |= 1 << col
        perm[r] = col
        phase[r] = matrix[r * dim + col]
    return True


@njit
def _involution(perm, dim):
    """Whether ``perm[:dim]`` only fixes entries or swaps pairs (x, cx, swap, ccx, cswap, iswap do)."""
    for r in range(dim):
        if perm[perm[r]] != r:
            return False
    return True


@njit(fastmath=True)
def _move(state, base, run, offsets, perm, phase, buf):
    """``run`` consecutive groups from ``base``, any permutation: copy out, write back moved."""
    dim = offsets.size
    for r in range(dim):
        src = state[base + offsets[r] : base + offsets[r] + run]
        tmp = buf[r * run : (r + 1) * run]
        for j in range(run):
            tmp[j] = src[j]
    for r in range(dim):
        dst = state[base + offsets[r] : base + offsets[r] + run]
        tmp = buf[perm[r] * run : (perm[r] + 1) * run]
        p = phase[r]
        for j in range(run):
            dst[j] = p * tmp[j]


@njit(fastmath=True)
def _swap(state, base, run, offsets, perm, phase):
    """``run`` consecutive groups from ``base``, an involution: pairs swap in place, fixed points scale.

    Touches only the amplitudes that change (a ``cx`` moves half of them), with no copy.
    """
    for r in range(offsets.size):
        p = perm[r]
        if p == r:
            if phase[r] != 1:
                a = state[base + offsets[r] : base + offsets[r] + run]
                f = phase[r]
                for j in range(run):
                    a[j] = f * a[j]
        elif r < p:
            a = state[base + offsets[r] : base + offsets[r] + run]
            b = state[base + offsets[p] : base + offsets[p] + run]
            f, g = phase[r], phase[p]
            for j in range(run):
                x, y = a[j], b[j]
                a[j] = f * y
                b[j] = g * x


@njit
def _runs(state, base, run, offsets, perm, phase, buf, pairs):
    if pairs:
        _swap(state, base, run, offsets, perm, phase)
    else:
        _move(state, base, run, offsets, perm, phase, buf)


@njit(parallel=True)
def apply_monomial(state, positions, base_bits, offsets, perm, phase):
    """Apply a (controlled) monomial gate to ``state`` in place.

    Args:
        state: complex128 or complex64, shape ``(2**n,)``; modified in place.
        positions: int64, sorted; every qubit of the gate.
        base_bits: int; the index bits of the active controls.
        offsets: int64, shape ``(2**k,)``; see :func:`.gates.target_offsets`.
        perm: int64; output ``r`` takes input ``perm[r]``.
        phase: ``state``'s dtype; output ``r`` is multiplied by ``phase[r]``.
    """
    groups = state.size >> positions.size
    # Groups 0..2**positions[0]-1 lie at consecutive indices: move them as runs.
    run = min(1 << positions[0], groups, MAX_RUN)
    n_runs = groups // run
    pairs = _involution(perm, offsets.size)
    if state.size < PARALLEL_MIN_SIZE:
        buf = np.empty(0 if pairs else offsets.size * run, dtype=state.dtype)
        for c in range(n_runs):
            _runs(state, insert_zero_bits(c * run, positions) | base_bits, run, offsets, perm, phase, buf, pairs)
    else:
        per = max(1, n_runs // 64)  # one scratch buffer per chunk of runs
        for t in prange((n_runs + per - 1) // per):
            buf = np.empty(0 if pairs else offsets.size * run, dtype=state.dtype)
            for c in range(t * per, min(n_runs, (t + 1) * per)):
                _runs(state, insert_zero_bits(c * run, positions) | base_bits, run, offsets, perm, phase, buf, pairs)


@njit(fastmath=True)
def _scale_split(re, im, i, run, f):
    a = re[i : i + run]
    b = im[i : i + run]
    fr, fi = f.real, f.imag
    for j in range(run):
        x, y = a[j], b[j]
        a[j] = fr * x - fi * y
        b[j] = fr * y + fi * x


@njit(fastmath=True)
def _swap_split(re, im, i, k, run, f, g):
    """Runs at ``i`` and ``k`` trade places: the one at ``i`` becomes ``f`` times the other, and back with ``g``."""
    a = re[i : i + run]
    b = im[i : i + run]
    c = re[k : k + run]
    d = im[k : k + run]
    fr, fi, gr, gi = f.real, f.imag, g.real, g.imag
    for j in range(run):
        xr, xi, yr, yi = a[j], b[j], c[j], d[j]
        a[j] = fr * yr - fi * yi
        b[j] = fr * yi + fi * yr
        c[j] = gr * xr - gi * xi
        d[j] = gr * xi + gi * xr


@njit(fastmath=True)
def _move_split(re, im, base, run, offsets, perm, phase, tr, ti):
    dim = offsets.size
    for r in range(dim):
        s = base + offsets[r]
        for j in range(run):
            tr[r * run + j] = re[s + j]
            ti[r * run + j] = im[s + j]
    for r in range(dim):
        d = base + offsets[r]
        t = perm[r] * run
        fr, fi = phase[r].real, phase[r].imag
        for j in range(run):
            x, y = tr[t + j], ti[t + j]
            re[d + j] = fr * x - fi * y
            im[d + j] = fr * y + fi * x


@njit
def block_monomial(re, im, positions, base_bits, offsets, perm, phase, tr, ti):
    """Apply a monomial gate to a cache block held as real and imaginary parts, in place.

    Args:
        re: float64 or float32, shape ``(2**K,)``; real parts, modified in place.
        im: same as ``re``; imaginary parts.
        positions: int64, sorted; every qubit of the gate, as buffer bits.
        base_bits: int; buffer bits of the active controls.
        offsets: int64, shape ``(2**k,)``; see :func:`.gates.target_offsets`.
        perm: int64, at least ``2**k`` entries; output ``r`` takes input ``perm[r]``.
        phase: complex, at least ``2**k`` entries; output ``r`` is multiplied by ``phase[r]``.
        tr: scratch like ``re``, at least ``2**k * 256`` entries (used by permutations
            that are not involutions).
        ti: scratch like ``re``, same size.
    """
    dim = offsets.size
    groups = re.size >> positions.size
    run = min(1 << positions[0], groups, BLOCK_MOVE_RUN)
    pairs = _involution(perm, offsets.size)
    for g in range(0, groups, run):
        base = insert_zero_bits(g, positions) | base_bits
        if not pairs:
            _move_split(re, im, base, run, offsets, perm, phase, tr, ti)
            continue
        for r in range(dim):
            p = perm[r]
            if p == r:
                if phase[r] != 1:
                    _scale_split(re, im, base + offsets[r], run, phase[r])
            elif r < p:
                _swap_split(re, im, base + offsets[r], base + offsets[p], run, phase[r], phase[p])
