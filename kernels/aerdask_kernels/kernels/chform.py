"""Stabilizer states in CH form, with their phase: the terms of the extended stabilizer's sum.

Bravyi, Browne, Calpin, Campbell, Gosset and Howard, *Simulation of quantum circuits by
low-rank stabilizer decompositions* (Quantum 3, 181, 2019), section 4: a stabilizer state
is ``omega U_C U_H |s>``, ``U_C`` a Clifford made of S, CZ and CX (kept as the binary
matrices ``F``, ``G``, ``M`` and the phase vector ``gamma``), ``U_H`` Hadamards on the
qubits of ``v``. Unlike a tableau it keeps the global phase, so the amplitudes of a sum
of such states add up; gates update it in ``O(n)`` word operations (H in ``O(n**2)``).

Bit strings of ``n <= 63`` qubits are Python ints (bit ``q`` is qubit ``q``); the
matrices are lists of their columns. Amplitudes of many basis states at once are numpy
word operations (:meth:`CHState.amplitudes`). The update rules follow the paper and
qiskit-aer's ``chstabilizer.hpp``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHState", "MAX_QUBITS", "scalar_to_complex"]

#: The widest CH state (bit strings are 64-bit words).
MAX_QUBITS = 63

_RE = (1, 1, 0, -1, -1, -1, 0, 1)
_IM = (0, 1, 1, 1, 0, -1, -1, -1)


def _parity(x: int) -> int:
    return x.bit_count() & 1


def scalar_to_complex(e: np.ndarray, p: np.ndarray, nonzero: np.ndarray) -> np.ndarray:
    """``eps * 2**(p / 2) * exp(i pi e / 4)`` (the paper's scalars), elementwise: complex128."""
    phase = np.exp(1j * np.pi * np.asarray(e) / 4)
    return np.where(nonzero, np.power(2.0, np.asarray(p) / 2) * phase, 0.0)


class CHState:
    """One stabilizer state ``omega U_C U_H |s>`` of ``n`` qubits (starts as ``|0...0>``).

    Attributes:
        F, G, M: Columns of the binary matrices of ``U_C`` (``U_C^-1 Z_p U_C`` is the Z string
            ``G[.., p]``; ``U_C^-1 X_p U_C`` is ``i**gamma_p`` times X string ``F[.., p]`` and
            Z string ``M[.., p]``).
        g1, g2: ``gamma = g1 + 2 g2`` (mod 4), bit per qubit.
        v: The Hadamard layer. s: The basis state.
        e, p, eps: ``omega = eps * 2**(p / 2) * exp(i pi e / 4)``.
    """

    __slots__ = ("n", "mask", "F", "G", "M", "g1", "g2", "v", "s", "e", "p", "eps")

    def __init__(self, n: int):
        if n > MAX_QUBITS:
            raise ValueError(f"a CH-form state holds at most {MAX_QUBITS} qubits, got {n}")
        self.n = n
        self.mask = (1 << n) - 1
        self.F = [1 << q for q in range(n)]
        self.G = [1 << q for q in range(n)]
        self.M = [0] * n
        self.g1 = self.g2 = self.v = self.s = 0
        self.e = self.p = 0
        self.eps = 1

    def copy(self) -> CHState:
        """An independent copy."""
        out = CHState.__new__(CHState)
        out.n, out.mask = self.n, self.mask
        out.F, out.G, out.M = list(self.F), list(self.G), list(self.M)
        out.g1, out.g2, out.v, out.s = self.g1, self.g2, self.v, self.s
        out.e, out.p, out.eps = self.e, self.p, self.eps
        return out

    def _row(self, cols: list, q: int) -> int:
        out = 0
        for j, c in enumerate(cols):
            out |= ((c >> q) & 1) << j
        return out

    # -- left multiplication by gates --------------------------------------------
    def S(self, q: int) -> None:
        """``S`` on qubit ``q`` (left-multiplied)."""
        c = 1 << q
        for j in range(self.n):
            if (self.G[j] >> q) & 1:
                self.M[j] ^= c
        self.g1 ^= c
        if (self.g1 >> q) & 1:
            self.g2 ^= c

    def Sdg(self, q: int) -> None:
        """``S^dagger`` on qubit ``q``."""
        c = 1 << q
        for j in range(self.n):
            if (self.G[j] >> q) & 1:
                self.M[j] ^= c
        if (self.g1 >> q) & 1:
            self.g2 ^= c
        self.g1 ^= c

    def Z(self, q: int) -> None:
        """``Z`` on qubit ``q``."""
        self.g2 ^= 1 << q

    def X(self, q: int) -> None:
        """``X`` on qubit ``q``."""
        x_row, z_row = self._row(self.F, q), self._row(self.M, q)
        phase = 2 * ((self.g1 >> q) & 1) + 4 * ((self.g2 >> q) & 1)
        nv = ~self.v & self.mask
        self.s ^= z_row & self.v
        phase += 4 * _parity(z_row & nv & self.s)
        self.s ^= x_row & nv
        phase += 4 * _parity(x_row & self.v & self.s)
        self.e = (self.e + phase) % 8

    def Y(self, q: int) -> None:
        """``Y`` on qubit ``q``."""
        self.Z(q)
        self.X(q)
        self.e = (self.e + 2) % 8

    def CX(self, q: int, r: int) -> None:
        """CX with control ``q`` and target ``r``."""
        c, t = 1 << q, 1 << r
        b = 0
        F, G, M = self.F, self.G, self.M
        for j in range(self.n):
            b ^= 1 if (M[j] & c) and (F[j] & t) else 0
            if (G[j] >> q) & 1:
                G[j] ^= t
            if (F[j] >> r) & 1:
                F[j] ^= c
            if (M[j] >> r) & 1:
                M[j] ^= c
        if b:
            self.g2 ^= c
        b = 1 if (self.g1 & c) and (self.g1 & t) else 0
        if (self.g1 >> r) & 1:
            self.g1 ^= c
        if (self.g2 >> r) & 1:
            self.g2 ^= c
        if b:
            self.g2 ^= c

    def CZ(self, q: int, r: int) -> None:
        """CZ on qubits ``q`` and ``r``."""
        c, t = 1 << q, 1 << r
        for j in range(self.n):
            if (self.G[j] >> r) & 1:
                self.M[j] ^= c
            if (self.G[j] >> q) & 1:
                self.M[j] ^= t

    def H(self, q: int) -> None:
        """``H`` on qubit ``q`` (the paper's proposition 4 restores the form)."""
        row_f, row_g, row_m = self._row(self.F, q), self._row(self.G, q), self._row(self.M, q)
        v, s = self.v, self.s
        nv = ~v & self.mask
        t = s ^ (row_g & v)
        u = s ^ (row_f & nv) ^ (row_m & v)
        alpha = (row_g & nv & s).bit_count()
        beta = ((row_m & nv & s) ^ (row_f & v & (row_m ^ s))).bit_count()
        if alpha % 2:
            self.e = (self.e + 4) % 8
        phase = ((self.g1 >> q) & 1) + 2 * ((self.g2 >> q) & 1)
        b = (phase + 2 * alpha + 2 * beta) % 4
        if t == u:
            self.s = t
            if b not in (1, 3):
                raise ArithmeticError("CH form: an H update left an unnormalised state")
            self.e = (self.e + (1 if b == 1 else 7)) % 8
        else:
            self._update_s(t, u, b)

    # -- right multiplication (U_C's own updates) ----------------------------------
    def _right_cx(self, q: int, r: int) -> None:
        self.G[q] ^= self.G[r]
        self.F[r] ^= self.F[q]
        self.M[q] ^= self.M[r]

    def _right_cz(self, q: int, r: int) -> None:
        self.M[q] ^= self.F[r]
        self.M[r] ^= self.F[q]
        self.g2 ^= self.F[q] & self.F[r]

    def _right_s(self, q: int) -> None:
        f = self.F[q]
        self.M[q] ^= f
        self.g2 ^= f ^ (self.g1 & f)
        self.g1 ^= f

    def _update_s(self, t: int, u: int, b: int) -> None:
        """``U_H (|t> + i**b |u>)`` back into CH form (the paper's proposition 4)."""
        if t == u:
            self.s = t
            if b == 0:
                self.p += 1
            elif b == 1:
                self.e = (self.e + 1) % 8
            elif b == 2:
                self.eps = 0
            else:
                self.e = (self.e + 7) % 8
            return
        nv = ~self.v & self.mask
        nu0, nu1 = nv & (u ^ t), self.v & (u ^ t)
        b %= 4
        if nu0:
            q = (nu0 & -nu0).bit_length() - 1
            nu0 ^= 1 << q
            for q1 in range(q + 1, self.n):
                if (nu0 >> q1) & 1:
                    self._right_cx(q, q1)
            for q1 in range(self.n):
                if (nu1 >> q1) & 1:
                    self._right_cz(q, q1)
        else:
            q = (nu1 & -nu1).bit_length() - 1
            nu1 ^= 1 << q
            for q1 in range(q + 1, self.n):
                if (nu1 >> q1) & 1:
                    self._right_cx(q1, q)
        qpos = 1 << q
        if t & qpos:
            self.s = u
            self.e = (self.e + 2 * b) % 8
            b = (4 - b) % 4
        else:
            self.s = t
        a = 1 if self.v & qpos else 0
        e1 = a * (b % 2) * (3 * b - 2)
        e3 = (not a) != (a and b % 2 > 0)
        e4 = ((not a) and b >= 2) != (a and b in (1, 2))
        self.s = (self.s & ~qpos) | (qpos if e4 else 0)
        self.v = (self.v & ~qpos) | (qpos if e3 else 0)
        self.e = (self.e + e1) % 8
        if b % 2:
            self._right_s(q)

    def project(self, z_mask: int, sign: int) -> None:
        """Apply ``(I + (-1)**sign Z_mask) / 2`` (a measurement's projector), in place; may zero the state."""
        rz = 0
        for q in range(self.n):
            if _parity(z_mask & self.G[q]):
                rz |= 1 << q
        v, nv = self.v, ~self.v & self.mask
        x, z = v & rz, nv & rz  # after U_H: the Z string's v bits turn into X
        e = 2 * sign % 4
        b = (e + 2 * (z & self.s).bit_count()) % 4
        self._update_s(self.s, self.s ^ x, b)
        self.p -= 1

    # -- reading -----------------------------------------------------------------
    def amplitudes(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``<x|phi>`` for every ``x`` of ``xs`` (uint64) as scalars ``(e, p, nonzero)`` (:func:`scalar_to_complex`)."""
        n = self.n
        xs = xs.astype(np.uint64, copy=False)
        px = np.zeros(xs.shape, dtype=np.uint64)
        pz = np.zeros(xs.shape, dtype=np.uint64)
        pe = np.zeros(xs.shape, dtype=np.int64)
        for q in range(n):  # P = prod over set bits of x of U_C^-1 X_q U_C, in order
            hit = ((xs >> np.uint64(q)) & np.uint64(1)).astype(bool)
            if not hit.any():
                continue
            fx, mz = np.uint64(self._row(self.F, q)), np.uint64(self._row(self.M, q))
            g = ((self.g1 >> q) & 1) + 2 * ((self.g2 >> q) & 1)
            overlap = np.bitwise_count(pz & fx).astype(np.int64)
            pe = np.where(hit, (pe + g + 2 * overlap) % 4, pe)
            px = np.where(hit, px ^ fx, px)
            pz = np.where(hit, pz ^ mz, pz)
        v, s = np.uint64(self.v), np.uint64(self.s)
        nv = np.uint64(~self.v & self.mask)
        nonzero = ((px & nv) == (s & nv)) & bool(self.eps)
        e = 2 * pe + 4 * (np.bitwise_count(s & px & v).astype(np.int64) % 2)
        e = (8 - e % 8) % 8  # the conjugate
        e = (e + self.e) % 8
        p = np.full(xs.shape, self.p - self.v.bit_count(), dtype=np.int64)
        return e, p, nonzero

    def sample(self, bits: int) -> int:
        """A basis state of the support: ``U_C`` maps ``|s XOR (v AND bits)>`` (uniform over ``bits``)."""
        w = self.s ^ (self.v & bits)
        x = 0
        for q in range(self.n):
            if (w >> q) & 1:
                x ^= self.G[q]
        return x
