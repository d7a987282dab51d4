"""Clifford tableau kernels: a stabilizer state of ``n`` qubits in bit-packed columns.

The state is Aaronson and Gottesman's tableau of ``2n`` generators (destabilizers
``0..n-1``, stabilizers ``n..2n-1``), each a Hermitian Pauli string with a sign.
It is stored by *column*, so that a gate on qubit ``q`` touches a few words per
column rather than one bit in each of ``2n`` rows (what Aer's tableau does too):

``T``: uint64, shape ``(2n + 1, W)`` with ``W = ceil(2n / 64)``. Bit ``i % 64`` of
word ``i // 64`` of a column is generator ``i``'s entry: ``T[q]`` the X bits of
qubit ``q``, ``T[n + q]`` its Z bits, ``T[2n]`` the signs (1: ``-P``). An entry
``(x, z)`` is ``I``, ``X``, ``Z`` or ``Y`` for ``(0, 0)``, ``(1, 0)``, ``(0, 1)``,
``(1, 1)``.

Measurements may carry *dependency columns* ``D`` (uint64, ``(k, W)``): bit ``i`` of
``D[v]`` says that generator ``i``'s sign also flips with the free outcome ``v``. They
follow every row operation as the signs do, so one symbolic pass over a copy of the
tableau gives the outcomes of a set of qubits as an affine function of a few random
bits (:func:`affine_outcomes`), and shots are drawn from that without replaying the
tableau.

Kernels know no walker: the engine (:mod:`aerdask_kernels.cpu.stabilizer`) calls them.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

__all__ = [
    "KIND_TABLE",
    "KIND_SKIP",
    "KIND_H",
    "KIND_S",
    "KIND_SDG",
    "KIND_X",
    "KIND_Y",
    "KIND_Z",
    "KIND_CX",
    "KIND_CZ",
    "fresh_tableau",
    "run_gates",
    "first_x_stabilizer",
    "measure_random",
    "stabilizer_mask",
    "anticommuting",
    "product",
    "affine_outcomes",
    "sample_affine",
]

#: Gate kinds of :func:`run_gates`: a lookup table (any Clifford of up to 3 qubits), nothing
#: (identity, global phase), and the common gates' own rules (Aaronson and Gottesman's).
KIND_TABLE, KIND_SKIP, KIND_H, KIND_S, KIND_SDG, KIND_X, KIND_Y, KIND_Z, KIND_CX, KIND_CZ = range(10)

_ONE = np.uint64(1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)


def fresh_tableau(n: int) -> np.ndarray:
    """``|0...0>``: destabilizer ``i`` is ``X_i``, stabilizer ``i`` is ``Z_i``; uint64, ``(2n + 1, W)``."""
    words = max((2 * n + 63) // 64, 1)
    t = np.zeros((2 * n + 1, words), dtype=np.uint64)
    for i in range(n):
        t[i, i >> 6] |= np.uint64(1) << np.uint64(i & 63)
        t[n + i, (n + i) >> 6] |= np.uint64(1) << np.uint64((n + i) & 63)
    return t


@njit
def _popcount(x):
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    # Byte sums by shifts, not a multiply: the Python path (small jobs) must not overflow.
    x += x >> np.uint64(8)
    x += x >> np.uint64(16)
    x += x >> np.uint64(32)
    return np.int64(x & np.uint64(0x7F))


@njit
def _apply_table(t, n, qubits, table):
    """A Clifford of ``k = qubits.size`` qubits by its table: ``table[v]`` is the image of Pauli ``v``.

    Pattern ``v`` has bit ``2j`` the X and bit ``2j + 1`` the Z entry on ``qubits[j]``;
    ``table[v]`` holds the image's pattern and, at bit ``2k``, its sign. Every generator
    matches one pattern, so the new entries are ORs of the matches (word-parallel).
    """
    k = qubits.size
    nbits = 2 * k
    ins = np.empty(nbits, dtype=np.uint64)
    outs = np.empty(nbits, dtype=np.uint64)
    for w in range(t.shape[1]):
        for j in range(k):
            ins[2 * j] = t[qubits[j], w]
            ins[2 * j + 1] = t[n + qubits[j], w]
        any_bits = np.uint64(0)
        for b in range(nbits):
            outs[b] = np.uint64(0)
            any_bits |= ins[b]
        if any_bits == 0:
            continue
        sign = np.uint64(0)
        for v in range(1, 1 << nbits):
            m = _ALL
            for b in range(nbits):
                m &= ins[b] if (v >> b) & 1 else ~ins[b]
            if m == 0:
                continue
            image = table[v]
            for b in range(nbits):
                if (image >> b) & 1:
                    outs[b] |= m
            if (image >> nbits) & 1:
                sign |= m
        for j in range(k):
            t[qubits[j], w] = outs[2 * j]
            t[n + qubits[j], w] = outs[2 * j + 1]
        t[2 * n, w] ^= sign


@njit
def run_gates(t, n, kinds, targets, table_start, table_width, tables, first, last):
    """Gates ``first..last-1`` of a prepared list on tableau ``t``, in place.

    Args:
        t: The tableau (see the module docs).
        n: Qubits.
        kinds: int64, a ``KIND_*`` per gate.
        targets: int64, ``(gates, 3)``: the gate's qubits (-1 past its width).
        table_start: int64, per gate: its table's offset in ``tables`` (``KIND_TABLE``).
        table_width: int64, per gate: its qubit count (``KIND_TABLE``).
        tables: int64, the tables, concatenated.
        first: First gate.
        last: One past the last gate.
    """
    r = 2 * n
    for g in range(first, last):
        kind = kinds[g]
        a = targets[g, 0]
        b = targets[g, 1]
        if kind == KIND_SKIP:
            continue
        if kind == KIND_TABLE:
            k = table_width[g]
            _apply_table(t, n, targets[g, :k], tables[table_start[g] : table_start[g] + (1 << (2 * k))])
            continue
        for w in range(t.shape[1]):
            xa = t[a, w]
            za = t[n + a, w]
            if kind == KIND_H:
                t[r, w] ^= xa & za
                t[a, w] = za
                t[n + a, w] = xa
            elif kind == KIND_S:
                t[r, w] ^= xa & za
                t[n + a, w] = za ^ xa
            elif kind == KIND_SDG:
                t[r, w] ^= xa & ~za
                t[n + a, w] = za ^ xa
            elif kind == KIND_X:
                t[r, w] ^= za
            elif kind == KIND_Z:
                t[r, w] ^= xa
            elif kind == KIND_Y:
                t[r, w] ^= xa ^ za
            elif kind == KIND_CX:
                xb = t[b, w]
                zb = t[n + b, w]
                t[r, w] ^= xa & zb & ~(xb ^ za)
                t[b, w] = xb ^ xa
                t[n + a, w] = za ^ zb
            elif kind == KIND_CZ:
                xb = t[b, w]
                zb = t[n + b, w]
                t[r, w] ^= xa & xb & (za ^ zb)
                t[n + a, w] = za ^ xb
                t[n + b, w] = zb ^ xa


@njit
def first_x_stabilizer(t, n, q):
    """The first stabilizer (index ``n..2n-1``) with an X or Y on ``q``; -1: measuring ``q`` in Z is certain."""
    for i in range(n, 2 * n):
        if (t[q, i >> 6] >> np.uint64(i & 63)) & _ONE:
            return i
    return -1


@njit
def _bit(word, i):
    return (word >> np.uint64(i & 63)) & _ONE


@njit
def measure_random(t, n, q, p, outcome, deps, var):
    """Measure ``q`` in Z, whose outcome is random, as ``outcome``, in place (Aaronson and Gottesman).

    Every other generator that anticommutes with ``Z_q`` is multiplied by generator ``p``
    (all at once: the phase of each product is summed in two bit planes, one word per 64
    generators), destabilizer ``p - n`` becomes the old ``p``, and ``p`` becomes
    ``(-1)**outcome Z_q``.

    Args:
        t: The tableau.
        n: Qubits.
        q: The qubit.
        p: :func:`first_x_stabilizer` of ``q`` (not -1).
        outcome: 0 or 1.
        deps: uint64, ``(k, W)``: dependency columns (see the module docs), or ``(0, W)``.
        var: The free outcome this measurement is (its column of ``deps``), or -1.
    """
    words = t.shape[1]
    pw = p >> 6
    mask = t[q].copy()
    mask[pw] &= ~(_ONE << np.uint64(p & 63))
    lo = np.zeros(words, dtype=np.uint64)
    hi = np.zeros(words, dtype=np.uint64)
    for j in range(n):
        xp = _bit(t[j, pw], p)
        zp = _bit(t[n + j, pw], p)
        if xp == 0 and zp == 0:
            continue
        for w in range(words):
            m = mask[w]
            if m == 0:
                continue
            x2 = t[j, w]
            z2 = t[n + j, w]
            # g(x1, z1, x2, z2) of the rowsum: the power of i from this column's product.
            if xp and zp:
                plus = z2 & ~x2
                minus = x2 & ~z2
            elif xp:
                plus = z2 & x2
                minus = z2 & ~x2
            else:
                plus = x2 & ~z2
                minus = x2 & z2
            plus &= m
            minus &= m
            carry = lo[w] & plus
            lo[w] ^= plus
            hi[w] ^= carry
            hi[w] ^= minus & ~lo[w]
            lo[w] ^= minus
            if xp:
                t[j, w] = x2 ^ m
            if zp:
                t[n + j, w] = z2 ^ m
    sign = 2 * n
    rp = _bit(t[sign, pw], p)
    for w in range(words):
        t[sign, w] ^= hi[w]  # the products' powers of i are 0 or 2: the high plane is the sign
        if rp:
            t[sign, w] ^= mask[w]
    for v in range(deps.shape[0]):
        if _bit(deps[v, pw], p):
            for w in range(words):
                deps[v, w] ^= mask[w]
    # Destabilizer p - n takes the old generator p; p becomes (-1)**outcome Z_q.
    d = p - n
    dw = d >> 6
    dbit = _ONE << np.uint64(d & 63)
    pbit = _ONE << np.uint64(p & 63)
    for c in range(2 * n + 1):
        if t[c, pw] & pbit:
            t[c, dw] |= dbit
        else:
            t[c, dw] &= ~dbit
        t[c, pw] &= ~pbit
    for v in range(deps.shape[0]):
        if deps[v, pw] & pbit:
            deps[v, dw] |= dbit
        else:
            deps[v, dw] &= ~dbit
        deps[v, pw] &= ~pbit
    t[n + q, pw] |= pbit
    if outcome:
        t[sign, pw] |= pbit
    if var >= 0:
        deps[var, pw] |= pbit


@njit
def stabilizer_mask(bits, n, out):
    """``out``: the stabilizers ``n + i`` for the destabilizers ``i`` set in ``bits`` (generator bit sets)."""
    out[:] = 0
    for i in range(n):
        if _bit(bits[i >> 6], i):
            j = n + i
            out[j >> 6] |= _ONE << np.uint64(j & 63)


@njit
def anticommuting(t, n, px, pz, out):
    """``out``: the generators that anticommute with the Pauli ``(px, pz)`` (uint8 per qubit)."""
    out[:] = 0
    for j in range(n):
        if px[j]:
            for w in range(out.size):
                out[w] ^= t[n + j, w]
        if pz[j]:
            for w in range(out.size):
                out[w] ^= t[j, w]


@njit
def product(t, n, sel, deps, out_x, out_z, out_deps):
    """The product of the generators in ``sel`` (commuting ones: the order does not matter).

    Args:
        t: The tableau.
        n: Qubits.
        sel: uint64, ``(W,)``: the generators multiplied.
        deps: Dependency columns (``(k, W)``), or ``(0, W)``.
        out_x: uint8, ``(n,)``: set to the product's X entries.
        out_z: uint8, ``(n,)``: its Z entries.
        out_deps: uint8, ``(k,)``: the free outcomes its sign depends on.

    Returns:
        ``e`` in ``0..3``: the product is ``i**e`` times the Hermitian Pauli ``(out_x, out_z)``.
    """
    words = sel.size
    e = 0
    for w in range(words):
        e += 2 * _popcount(t[2 * n, w] & sel[w])
    for j in range(n):
        carry = 0
        a = 0
        cross = 0
        for w in range(words):
            s = sel[w]
            if s == 0:
                continue
            xm = t[j, w] & s
            zm = t[n + j, w] & s
            e += _popcount(xm & zm)  # each Y is i X Z
            # Moving each Z past the later X's: (-1) per pair; the parity of the Z's before each bit.
            pre = zm
            pre ^= pre << np.uint64(1)
            pre ^= pre << np.uint64(2)
            pre ^= pre << np.uint64(4)
            pre ^= pre << np.uint64(8)
            pre ^= pre << np.uint64(16)
            pre ^= pre << np.uint64(32)
            before = pre << np.uint64(1)
            if carry:
                before = ~before
            cross += _popcount(xm & before)
            carry ^= _popcount(zm) & 1
            a ^= _popcount(xm) & 1
        b = carry
        e += 2 * cross - a * b  # X**a Z**b is i**(-ab) times the Hermitian Pauli
        out_x[j] = a
        out_z[j] = b
    for v in range(deps.shape[0]):
        parity = 0
        for w in range(words):
            parity ^= _popcount(deps[v, w] & sel[w]) & 1
        out_deps[v] = parity
    return e % 4


def affine_outcomes(t: np.ndarray, n: int, qubits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Z outcomes of ``qubits`` (measured in order) as ``c XOR D v`` over uniform random bits ``v``.

    Runs on a copy of ``t``: each random outcome becomes a free bit (a dependency column)
    and each certain one is read as the product of the stabilizers that give it.

    Returns:
        ``(c, D)``: uint8 ``(k,)`` and uint8 ``(k, r)``, ``r`` the free bits; every
        outcome in the affine set has probability ``2**-r``.
    """
    t = t.copy()
    k = qubits.size
    words = t.shape[1]
    deps = np.zeros((k, words), dtype=np.uint64)
    c = np.zeros(k, dtype=np.uint8)
    d = np.zeros((k, k), dtype=np.uint8)
    free = 0
    sel = np.zeros(words, dtype=np.uint64)
    px = np.zeros(n, dtype=np.uint8)
    pz = np.zeros(n, dtype=np.uint8)
    dep = np.zeros(k, dtype=np.uint8)
    for i, q in enumerate(qubits.tolist()):
        p = first_x_stabilizer(t, n, q)
        if p >= 0:
            measure_random(t, n, q, p, 0, deps, free)
            d[i, free] = 1
            free += 1
        else:
            stabilizer_mask(t[q], n, sel)
            e = product(t, n, sel, deps, px, pz, dep)
            c[i] = (e >> 1) & 1
            d[i] = dep
    return c, d[:, :free]


@njit
def sample_affine(c_words, rows, draws, out):
    """``out[s] = c XOR (XOR of rows[v] for the bits v set in draws[s])``: outcome words per shot.

    Args:
        c_words: uint64, ``(K,)``: the constant outcomes, packed.
        rows: uint64, ``(r, K)``: free bit ``v``'s column of ``D``, packed.
        draws: uint64, ``(shots, ceil(r / 64))``: the random bits.
        out: uint64, ``(shots, K)``.
    """
    r = rows.shape[0]
    for s in range(draws.shape[0]):
        for w in range(c_words.size):
            out[s, w] = c_words[w]
        for v in range(r):
            if (draws[s, v >> 6] >> np.uint64(v & 63)) & _ONE:
                for w in range(c_words.size):
                    out[s, w] ^= rows[v, w]
