"""Qiskit's common standard gates, built from their parameters in compiled code.

A batch of small circuits spends most of its compile time turning gates into
matrices: computing and classifying a 2x2 matrix in Python costs more than
simulating the gate. The compiler instead emits one :data:`OP_STANDARD` row per
standard gate (the gate's code in the ``MOFF`` column, its parameters at
``params[ARG:ARG+ARG2]``), and a worker's :func:`expand_standard` turns every such
row into a MATRIX or DIAG row, in one pass per experiment (per point of a
parameterized one, after binding its parameters).

Matrices follow Qiskit's conventions (little-endian over the gate's qubits; the
controls of a controlled gate come first, and the row holds only the matrix on the
targets). A test compares every entry of :data:`STANDARD_GATES` with Qiskit's own
matrix.
"""

from __future__ import annotations

import cmath
import math

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
    OP_STANDARD,
)

__all__ = ["STANDARD_GATES", "STANDARD_ARITY", "OP_STANDARD", "expand_standard", "standard_matrix"]

_NAMES = (
    # one qubit
    "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
    "rx", "ry", "rz", "p", "u1", "u2", "u3", "u", "r",
    # one control, one target: the code of the base gate above plus _CONTROLLED
    "cx", "cy", "cz", "ch", "cs", "csdg", "csx", "crx", "cry", "crz", "cp", "cu1", "cu3", "cu",
    # two controls
    "ccx", "ccz",
    # two qubits
    "swap", "iswap", "dcx", "ecr", "rxx", "ryy", "rzz", "rzx", "cswap",
    # no qubits
    "global_phase",
)  # fmt: skip
_ONE = _NAMES.index("r") + 1  # codes below are one-qubit gates
_CONTROLLED = 100  # a controlled gate's code is its base's code + this
_BASE = {"cx": "x", "cy": "y", "cz": "z", "ch": "h", "cs": "s", "csdg": "sdg", "csx": "sx", "crx": "rx"}
_BASE |= {"cry": "ry", "crz": "rz", "cp": "p", "cu1": "u1", "cu3": "u3", "cu": "u", "ccx": "x", "ccz": "z"}
_NUM_PARAMS = {"rx": 1, "ry": 1, "rz": 1, "p": 1, "u1": 1, "u2": 2, "u3": 3, "u": 3, "r": 2, "cu": 4}
_NUM_PARAMS |= {"rxx": 1, "ryy": 1, "rzz": 1, "rzx": 1, "global_phase": 1}


def _table() -> dict[str, tuple[int, int, int]]:
    table = {}
    for name in _NAMES:
        base = _BASE.get(name)
        nctrl = 2 if name.startswith("cc") else (1 if base else 0)
        if name == "cswap":
            nctrl = 1
        code = _NAMES.index(base) + _CONTROLLED * nctrl if base else _NAMES.index(name)
        num_qubits = nctrl + (1 if base or code < _ONE else 2)
        if name == "global_phase":
            num_qubits = 0
        params = _NUM_PARAMS.get(name, _NUM_PARAMS.get(base, 0))
        table[name] = (code, num_qubits, params)
    return table


#: Gate name -> (code, number of qubits, number of parameters).
STANDARD_GATES: dict[str, tuple[int, int, int]] = _table()


def _arity() -> np.ndarray:
    out = np.full((max(code for code, _, _ in STANDARD_GATES.values()) + 1, 2), -1, dtype=np.int64)
    for code, num_qubits, num_params in STANDARD_GATES.values():
        out[code] = num_qubits, num_params
    return out


#: int64, shape ``(codes, 2)``: the qubits and parameters of each code (``-1, -1`` where unused).
STANDARD_ARITY = _arity()

_SQ = 1 / math.sqrt(2)
_X, _Y, _Z, _H, _S, _SDG, _T, _TDG, _SX, _SXDG = range(10)
_RX, _RY, _RZ, _P, _U1, _U2, _U3, _U, _R = range(10, _ONE)
_SWAP, _ISWAP, _DCX, _ECR, _RXX, _RYY, _RZZ, _RZX, _CSWAP, _GPHASE = (
    _NAMES.index(n) for n in _NAMES[_NAMES.index("swap") :]
)


@njit
def _set2(out, a, b, c, d):
    out[0] = a
    out[1] = b
    out[2] = c
    out[3] = d


@njit
def _one_qubit(code, p, out):
    """The 2x2 matrix of one-qubit gate ``code`` with parameters ``p`` into ``out[:4]`` (row-major).

    Every entry is passed as a complex: Numba compiles ``_set2`` once per combination of argument types.
    """
    if code == _X:
        _set2(out, 0j, 1 + 0j, 1 + 0j, 0j)
    elif code == _Y:
        _set2(out, 0j, -1j, 1j, 0j)
    elif code == _Z:
        _set2(out, 1 + 0j, 0j, 0j, -1 + 0j)
    elif code == _H:
        _set2(out, complex(_SQ), complex(_SQ), complex(_SQ), complex(-_SQ))
    elif code == _S:
        _set2(out, 1 + 0j, 0j, 0j, 1j)
    elif code == _SDG:
        _set2(out, 1 + 0j, 0j, 0j, -1j)
    elif code == _T:
        _set2(out, 1 + 0j, 0j, 0j, cmath.exp(0.25j * math.pi))
    elif code == _TDG:
        _set2(out, 1 + 0j, 0j, 0j, cmath.exp(-0.25j * math.pi))
    elif code == _SX:
        _set2(out, 0.5 + 0.5j, 0.5 - 0.5j, 0.5 - 0.5j, 0.5 + 0.5j)
    elif code == _SXDG:
        _set2(out, 0.5 - 0.5j, 0.5 + 0.5j, 0.5 + 0.5j, 0.5 - 0.5j)
    elif code == _RX:
        c, s = math.cos(p[0] / 2), math.sin(p[0] / 2)
        _set2(out, complex(c), -1j * s, -1j * s, complex(c))
    elif code == _RY:
        c, s = math.cos(p[0] / 2), math.sin(p[0] / 2)
        _set2(out, complex(c), complex(-s), complex(s), complex(c))
    elif code == _RZ:
        _set2(out, cmath.exp(-0.5j * p[0]), 0j, 0j, cmath.exp(0.5j * p[0]))
    elif code == _P or code == _U1:
        _set2(out, 1 + 0j, 0j, 0j, cmath.exp(1j * p[0]))
    elif code == _U2:
        a, b = cmath.exp(1j * p[0]), cmath.exp(1j * p[1])
        _set2(out, complex(_SQ), -b * _SQ, a * _SQ, a * b * _SQ)
    elif code == _U3 or code == _U:
        c, s = math.cos(p[0] / 2), math.sin(p[0] / 2)
        _set2(out, complex(c), -cmath.exp(1j * p[2]) * s, cmath.exp(1j * p[1]) * s, cmath.exp(1j * (p[1] + p[2])) * c)
        if p.size > 3:  # cu: a phase on the controlled block
            g = cmath.exp(1j * p[3])
            for i in range(4):
                out[i] *= g
    else:  # _R
        c, s = math.cos(p[0] / 2), math.sin(p[0] / 2)
        _set2(out, complex(c), -1j * cmath.exp(-1j * p[1]) * s, -1j * cmath.exp(1j * p[1]) * s, complex(c))


@njit
def _two_qubit(code, p, out):
    """The 4x4 matrix of two-qubit gate ``code`` into ``out[:16]`` (row-major, little-endian)."""
    for i in range(16):
        out[i] = 0
    if code == _SWAP or code == _CSWAP:
        out[0], out[6], out[9], out[15] = 1, 1, 1, 1
    elif code == _ISWAP:
        out[0], out[6], out[9], out[15] = 1, 1j, 1j, 1
    elif code == _DCX:
        out[0], out[7], out[9], out[14] = 1, 1, 1, 1
    elif code == _ECR:
        out[1], out[3], out[4], out[6] = _SQ, 1j * _SQ, _SQ, -1j * _SQ
        out[9], out[11], out[12], out[14] = 1j * _SQ, _SQ, -1j * _SQ, _SQ
    elif code == _RZZ:
        a, b = cmath.exp(-0.5j * p[0]), cmath.exp(0.5j * p[0])
        out[0], out[5], out[10], out[15] = a, b, b, a
    else:  # rxx, ryy, rzx: cos on the diagonal, -i sin (or +i sin) off it
        c, s = math.cos(p[0] / 2), -1j * math.sin(p[0] / 2)
        out[0], out[5], out[10], out[15] = c, c, c, c
        if code == _RXX:
            out[3], out[6], out[9], out[12] = s, s, s, s
        elif code == _RYY:
            out[3], out[6], out[9], out[12] = -s, s, s, -s
        else:  # _RZX: X on the second qubit, Z on the first
            out[2], out[7], out[8], out[13] = s, -s, s, -s


@njit
def standard_matrix(code, p, out):
    """Write gate ``code``'s matrix on its targets into ``out``; returns ``(nctrl, ctrl_val, ntarg)``.

    Args:
        code: A code of :data:`STANDARD_GATES`.
        p: float64; the gate's parameters.
        out: complex128, at least 16 entries; receives the ``2**ntarg`` square matrix.

    """
    nctrl = code // _CONTROLLED
    base = code % _CONTROLLED
    if base == _GPHASE:
        out[0] = cmath.exp(1j * p[0])
        return 0, 0, 0
    if base < _ONE:
        _one_qubit(base, p, out)
        return nctrl, (1 << nctrl) - 1, 1
    _two_qubit(base, p, out)
    return (1, 1, 2) if base == _CSWAP else (0, 0, 2)


@njit
def expand_standard(ops, qubits, matrices, params):
    """Replace the :data:`OP_STANDARD` rows of one experiment by MATRIX or DIAG rows.

    A gate whose matrix has no nonzero entry off the diagonal becomes a DIAG row; one
    whose diagonal is all ones is dropped (jump targets are renumbered).

    Args:
        ops: int64, shape ``(n, 8)``; jumps resolved.
        qubits: int64; unchanged (a standard row's qubits stay where they are).
        matrices: complex128; the other rows' matrices, kept at their offsets.
        params: float64; the parameters the standard rows point into.

    Returns:
        tuple: ``(ops, matrices)``, same dtypes.

    """
    n = ops.shape[0]
    extra = 0
    for r in range(n):
        if ops[r, COL_OPCODE] == OP_STANDARD:
            extra += 16
    out_m = np.empty(matrices.size + extra, dtype=np.complex128)
    for i in range(matrices.size):
        out_m[i] = matrices[i]
    nm = matrices.size
    out_ops = np.empty((n, N_COLS), dtype=np.int64)
    new_index = np.empty(n + 1, dtype=np.int64)
    buf = np.empty(16, dtype=np.complex128)
    row = 0
    for r in range(n):
        new_index[r] = row
        if ops[r, COL_OPCODE] != OP_STANDARD:
            for c in range(N_COLS):
                out_ops[row, c] = ops[r, c]
            row += 1
            continue
        poff, npar = ops[r, COL_ARG], ops[r, COL_ARG2]
        nctrl, cval, ntarg = standard_matrix(ops[r, COL_MOFF], params[poff : poff + npar], buf)
        dim = 1 << ntarg
        diagonal, identity = True, True
        for i in range(dim):
            identity = identity and buf[i * dim + i] == 1
            for j in range(dim):
                if i != j and buf[i * dim + j] != 0:
                    diagonal = False
        if diagonal and identity:
            continue  # does nothing
        if diagonal:
            for i in range(dim):
                out_m[nm + i] = buf[i * dim + i]
        else:
            for i in range(dim * dim):
                out_m[nm + i] = buf[i]
        out_ops[row, COL_OPCODE] = OP_DIAG if diagonal else OP_MATRIX
        out_ops[row, COL_QOFF] = ops[r, COL_QOFF]
        out_ops[row, COL_NCTRL] = nctrl
        out_ops[row, COL_NTARG] = ntarg
        out_ops[row, COL_MOFF] = nm
        out_ops[row, COL_CVAL] = cval
        out_ops[row, COL_ARG] = poff
        out_ops[row, COL_ARG2] = npar
        nm += dim if diagonal else dim * dim
        row += 1
    new_index[n] = row
    for r in range(row):
        if out_ops[r, COL_OPCODE] == OP_JUMP or out_ops[r, COL_OPCODE] == OP_BRANCH:
            out_ops[r, COL_ARG] = new_index[out_ops[r, COL_ARG]]
    return out_ops[:row].copy(), out_m[:nm].copy()
