"""The CPU stabilizer engine: a Clifford tableau (:mod:`..kernels.tableau`), thousands of qubits.

Gate rows arrive as matrices (the workers build them as for a statevector); each is
read once as a Clifford (the image of every Pauli on its qubits, :func:`clifford_table`)
and the common gates get their own word-parallel rule. A gate that is not a Clifford
is an error naming it. Measurements and resets are Aaronson and Gottesman's; the
shots of measurements at the end are drawn from the affine set of outcomes that one
symbolic pass over the final tableau gives (:func:`..kernels.tableau.affine_outcomes`),
never by replaying the tableau per shot. Noise arrives as mixtures of Pauli (or other
Clifford) operators, applied as gates.
"""

from __future__ import annotations

import functools

import numpy as np

from .._jit import interpreted
from ..density import full_matrix
from ..format.standard import STANDARD_GATES, standard_matrix
from ..kernels import tableau as tb
from ..opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_CVAL,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_DIAG,
    OP_MATRIX,
    OP_STANDARD,
)
from ..runtime.engine import Engine, host_rows
from ..runtime.outcomes import basis_indices, tally_batches
from ..runtime.saves import expectation
from .frames import FrameSampler

__all__ = [
    "StabilizerEngine",
    "NotCliffordError",
    "clifford_table",
    "non_clifford",
    "tableau_bits",
    "from_tableau_bits",
]

#: How far a matrix's Pauli images may be from exact Paulis (float rounding of a Clifford's matrix).
CLIFFORD_ATOL = 1e-9
#: Widest gate (controls included) read as a Clifford table.
MAX_TABLE_QUBITS = 3
#: Shots drawn at once from the final tableau's affine set (their outcome words are held together).
SAMPLE_BATCH = 1 << 16
#: Up to this many free outcome bits, and fewer outcomes than shots, counts are one multinomial draw.
ENUMERATED_FREE_BITS = 16

_PAULI = (
    np.eye(2, dtype=np.complex128),
    np.array([[0, 1], [1, 0]], dtype=np.complex128),  # (x, z) = (1, 0)
    np.array([[1, 0], [0, -1]], dtype=np.complex128),  # (0, 1)
    np.array([[0, -1j], [1j, 0]], dtype=np.complex128),  # (1, 1)
)


class NotCliffordError(ValueError):
    """A gate of a stabilizer experiment is not a Clifford."""


def _pauli(pattern: int, k: int) -> np.ndarray:
    """The Hermitian Pauli of ``pattern`` (bit ``2j``: X on qubit ``j``, ``2j + 1``: Z), little-endian."""
    out = np.ones((1, 1), dtype=np.complex128)
    for j in range(k):
        out = np.kron(_PAULI[(pattern >> (2 * j)) & 3], out)
    return out


@functools.lru_cache(maxsize=8)
def _paulis(k: int) -> np.ndarray:
    return np.array([_pauli(v, k) for v in range(1 << (2 * k))])


def clifford_table(matrix: np.ndarray) -> np.ndarray | None:
    """The image of each Pauli under ``matrix`` (``U P U^dagger``), or ``None`` if it is not a Clifford.

    Returns:
        int64, ``(4**k,)``: entry ``v`` is the image's pattern, with its sign at bit ``2k``.
    """
    dim = matrix.shape[0]
    k = dim.bit_length() - 1
    paulis = _paulis(k)
    table = np.zeros(1 << (2 * k), dtype=np.int64)
    for v in range(1, 1 << (2 * k)):
        image = matrix @ paulis[v] @ matrix.conj().T
        # The coefficients Tr(P_w image) / dim: a Clifford gives one of +-1 and zeros.
        coeffs = np.einsum("wji,ij->w", paulis, image) / dim
        w = int(np.argmax(np.abs(coeffs)))
        c = coeffs[w]
        # Every other coefficient must vanish too: a small rotation has |c| within 1e-8 of 1.
        rest = np.delete(np.abs(coeffs), w)
        if abs(c.real) < 1 - CLIFFORD_ATOL or abs(c.imag) > CLIFFORD_ATOL or (rest > CLIFFORD_ATOL).any():
            return None
        table[v] = w | ((1 << (2 * k)) if c.real < 0 else 0)
    return table


def _kind_tables() -> dict[bytes, int]:
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    s = np.diag([1, 1j])
    cx = np.eye(4)[:, [0, 3, 2, 1]]  # control qubit 0
    cz = np.diag([1, 1, 1, -1])
    known = {
        tb.KIND_H: h,
        tb.KIND_S: s,
        tb.KIND_SDG: s.conj(),
        tb.KIND_X: _PAULI[1],
        tb.KIND_Y: _PAULI[3],
        tb.KIND_Z: _PAULI[2],
        tb.KIND_CX: cx,
        tb.KIND_CZ: cz,
    }
    return {clifford_table(np.asarray(m, dtype=np.complex128)).tobytes(): kind for kind, m in known.items()}


_KINDS = _kind_tables()


class _Gates:
    """An experiment's gate rows read as Cliffords once: per row, a kind, its qubits and table."""

    def __init__(self, exp, matrices: np.ndarray):
        ops, qubits = exp.ops, exp.qubits
        rows = np.flatnonzero((ops[:, COL_OPCODE] == OP_MATRIX) | (ops[:, COL_OPCODE] == OP_DIAG))
        self.index = np.full(ops.shape[0] + 1, -1, dtype=np.int64)  # row -> gate number
        self.index[rows] = np.arange(rows.size)
        self.kinds = np.zeros(rows.size, dtype=np.int64)
        self.targets = np.full((rows.size, MAX_TABLE_QUBITS), -1, dtype=np.int64)
        self.table_start = np.zeros(rows.size, dtype=np.int64)
        self.table_width = np.zeros(rows.size, dtype=np.int64)
        tables: list[np.ndarray] = []
        seen: dict[bytes, tuple[int, int]] = {}
        offset = 0
        for g, pc in enumerate(rows.tolist()):
            row = ops[pc]
            k = int(row[COL_NCTRL] + row[COL_NTARG])
            if k == 0:  # a global phase: nothing a tableau holds
                self.kinds[g] = tb.KIND_SKIP
                continue
            if k > MAX_TABLE_QUBITS:
                raise NotCliffordError(f"op {pc}: a {k}-qubit gate; the stabilizer method takes gates of at most 3")
            key = row[[COL_OPCODE, COL_NCTRL, COL_NTARG]].tobytes() + _row_data(row, matrices).tobytes()
            if key not in seen:
                table = clifford_table(full_matrix(row, matrices))
                if table is None:
                    raise NotCliffordError(
                        f"op {pc}: a {k}-qubit gate that is not a Clifford; the stabilizer method runs Clifford "
                        "gates only (use method='statevector' or 'extended_stabilizer' for T and rotations)"
                    )
                identity = np.arange(table.size, dtype=np.int64)
                kind = tb.KIND_SKIP if np.array_equal(table, identity) else _KINDS.get(table.tobytes(), tb.KIND_TABLE)
                seen[key] = (kind, offset)
                tables.append(table)
                offset += table.size
            kind, start = seen[key]
            self.kinds[g] = kind
            self.targets[g, :k] = qubits[row[COL_QOFF] : row[COL_QOFF] + k]
            self.table_start[g] = start
            self.table_width[g] = k
        self.tables = np.concatenate(tables) if tables else np.zeros(1, dtype=np.int64)

    def run(self, t: np.ndarray, n: int, pc: int) -> int:
        """The gate rows from row ``pc`` on ``t`` (a tableau, or frames) in one compiled call; returns the next row."""
        end = pc
        while end < self.index.size - 1 and self.index[end] >= 0:
            end += 1
        first, last = self.index[pc], self.index[end - 1] + 1
        tb.run_gates(t, n, self.kinds, self.targets, self.table_start, self.table_width, self.tables, first, last)
        return end


def _row_data(row, matrices) -> np.ndarray:
    dim = 1 << int(row[COL_NTARG])
    size = dim * dim if row[COL_OPCODE] == OP_MATRIX else dim
    return matrices[row[COL_MOFF] : row[COL_MOFF] + size]


class StabilizerEngine(Engine):
    """A stabilizer state as a tableau (see :class:`.runtime.engine.Engine`).

    The state is the uint64 array of :mod:`..kernels.tableau`. Probabilities of a
    single qubit are 0, 1/2 or 1, so the walker's binomial splits stay exact.

    Args:
        exp: The prepared experiment (``exp.method == "stabilizer"``, not fused).
        dtype: Unused by the tableau (signs are bits); kept for the contract.
        cancel_flag: uint8, shape ``(1,)``.

    Raises:
        NotCliffordError: for a gate row that is not a Clifford of at most 3 qubits.
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray):
        super().__init__(exp, dtype, cancel_flag)
        self.n = exp.num_qubits
        self.gates = _Gates(exp, exp.matrices)

    def fresh(self) -> np.ndarray:
        """``|0...0>``: uint64, ``(2n + 1, ceil(2n / 64))``."""
        return tb.fresh_tableau(self.n)

    def run_segment(self, state, creg, pc: int, stop: int = 0) -> int:
        """Rows in Python (:func:`.runtime.host_rows`); each run of gates in one compiled call."""
        return host_rows(self, state, creg, pc, stop, self._gates)

    def _gates(self, state, pc: int) -> int:
        return self.gates.run(state, self.n, pc)

    def sample_experiment(self, rng, shots: int):
        """Every shot's clbits from Pauli frames (:mod:`.frames`), in batches, where frames apply; else ``None``."""
        sampler = FrameSampler(self)
        return sampler.sample(rng, shots) if sampler.applies() else None

    def apply_operator(self, state, targets: np.ndarray, matrix: np.ndarray) -> None:
        """A noise operator (a Pauli or other Clifford matrix, flat) on ``targets``."""
        dim = 1 << targets.size
        table = clifford_table(np.asarray(matrix, dtype=np.complex128).reshape(dim, dim))
        if table is None:
            raise NotCliffordError("a noise operator that is not a Clifford; the stabilizer method takes Pauli errors")
        tb.run_gates(
            state,
            self.n,
            np.array([tb.KIND_TABLE]),
            np.concatenate([targets, np.full(MAX_TABLE_QUBITS - targets.size, -1)]).reshape(1, -1).astype(np.int64),
            np.zeros(1, dtype=np.int64),
            np.array([targets.size], dtype=np.int64),
            table,
            0,
            1,
        )

    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """Replace the tableau by a SET_STATE row's bits (:func:`from_tableau_bits`)."""
        state[:] = from_tableau_bits(np.rint(amplitudes.real).astype(np.uint8), self.n)

    def probability_one(self, state, qubit: int) -> float:
        """1/2 when some stabilizer has X or Y on ``qubit``, else the certain outcome (0 or 1)."""
        if tb.first_x_stabilizer(state, self.n, qubit) >= 0:
            return 0.5
        return float(self._certain_outcome(state, qubit))

    def _certain_outcome(self, state, qubit: int) -> int:
        words = state.shape[1]
        sel = np.zeros(words, dtype=np.uint64)
        tb.stabilizer_mask(state[qubit], self.n, sel)
        px = np.zeros(self.n, dtype=np.uint8)
        pz = np.zeros(self.n, dtype=np.uint8)
        e = tb.product(state, self.n, sel, np.zeros((0, words), dtype=np.uint64), px, pz, np.zeros(0, dtype=np.uint8))
        return (e >> 1) & 1

    def collapse(self, state, qubit: int, outcome: int, probability: float) -> None:
        """Measure ``qubit`` as ``outcome`` (a certain outcome changes nothing)."""
        p = tb.first_x_stabilizer(state, self.n, qubit)
        if p >= 0:
            tb.measure_random(state, self.n, qubit, p, outcome, np.zeros((0, state.shape[1]), dtype=np.uint64), -1)

    def flip(self, state, qubit: int) -> None:
        """X on ``qubit``: every generator with Z or Y there changes sign."""
        state[2 * self.n] ^= state[self.n + qubit]

    def sample(self, state, shots: int, rng, memory: bool):
        """Shots of the final measurements from the affine set of their outcomes (one pass, no replay).

        The other qubits read 0 in the returned indices (the walker reads only
        ``exp.final_qubits``). Indices are int64 up to 62 qubits, Python ints past that.
        """
        qubits = np.unique(np.asarray(self.exp.final_qubits, dtype=np.int64))
        c, d = tb.affine_outcomes(state, self.n, qubits)
        k, r = d.shape
        words = max((k + 63) // 64, 1)
        c_words = _pack_bits(c[None, :], words)[0]
        rows = _pack_bits(np.ascontiguousarray(d.T), words)
        if not memory and r <= ENUMERATED_FREE_BITS and (1 << r) < shots:
            # Few equally likely outcomes and many shots: one multinomial draw over all of them.
            patterns = c_words[None, :]
            for v in range(r):
                patterns = np.concatenate([patterns, patterns ^ rows[v][None, :]])
            counts = rng.multinomial(shots, np.full(1 << r, 1.0 / (1 << r)))
            indices = _indices(patterns, qubits, self.n)
            order = np.argsort(indices, kind="stable")
            return indices[order], counts[order].astype(np.int64), None
        top = np.iinfo(np.uint64).max

        def batches():  # a billion shots' draws are not held at once
            done = 0
            while done < shots:
                batch = min(SAMPLE_BATCH, shots - done)
                draws = rng.integers(0, top, size=(batch, max((r + 63) // 64, 1)), dtype=np.uint64, endpoint=True)
                out = np.empty((batch, words), dtype=np.uint64)
                tb.sample_affine(c_words, rows, draws, out)
                yield out
                done += batch

        return tally_batches(batches(), memory, lambda found: _indices(found.reshape(-1, words), qubits, self.n))

    def save_value(self, spec: dict, state, zero_threshold: float):
        """Aer's stabilizer saves: the tableau, probabilities, squared amplitudes, expectation values."""
        kind = spec["kind"]
        qubits = np.asarray(spec["qubits"], dtype=np.int64)
        if kind in ("stabilizer", "clifford"):
            return tableau_bits(state, self.n)
        if kind in ("probabilities", "probabilities_dict"):
            probs = self._probabilities(state, qubits)
            if kind == "probabilities":
                return probs
            return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
        if kind == "amplitudes_sq":
            probs = self._probabilities(state, np.arange(self.n, dtype=np.int64))
            return probs[np.asarray(spec["params"], dtype=np.int64)]
        if kind in ("expval", "expval_var", "expvals"):
            if kind == "expvals":
                return np.array([expectation(t, qubits, state, self._expval) for t in spec["params"]])
            if kind == "expval":
                return expectation(spec["params"], qubits, state, self._expval)
            mean = expectation([(lb, c1) for lb, c1, _ in spec["params"]], qubits, state, self._expval)
            square = expectation([(lb, c2) for lb, _, c2 in spec["params"]], qubits, state, self._expval)
            return np.array([mean, square - mean * mean], dtype=np.float64)
        raise ValueError(f"the stabilizer method cannot save {kind!r}")

    def _probabilities(self, state, qubits: np.ndarray) -> np.ndarray:
        """The outcome distribution of ``qubits`` (uniform over an affine set): float64, ``(2**k,)``."""
        c, d = tb.affine_outcomes(state, self.n, qubits)
        k, r = d.shape
        probs = np.zeros(1 << k, dtype=np.float64)
        weights = 1 << np.arange(k, dtype=np.int64)
        base = int(c.astype(np.int64) @ weights)
        columns = (d.T.astype(np.int64) @ weights).tolist()  # each free bit's flip of the outcome
        outcomes = np.array([base], dtype=np.int64)
        for col in columns:
            outcomes = np.concatenate([outcomes, outcomes ^ col])
        probs[outcomes] = 1.0 / outcomes.size
        return probs

    def _expval(self, state, x_mask: int, z_mask: int, num_y: int) -> float:
        """``<P>``: 0 unless ``+-P`` is a stabilizer; then its sign (``num_y``: the Ys are Hermitian)."""
        n = self.n
        px = np.array([(x_mask >> q) & 1 for q in range(n)], dtype=np.uint8)
        pz = np.array([(z_mask >> q) & 1 for q in range(n)], dtype=np.uint8)
        words = state.shape[1]
        anti = np.zeros(words, dtype=np.uint64)
        tb.anticommuting(state, n, px, pz, anti)
        bits = np.unpackbits(anti.view(np.uint8), bitorder="little")
        if bits[n : 2 * n].any():
            return 0.0
        sel = np.zeros(words, dtype=np.uint64)
        tb.stabilizer_mask(anti, n, sel)
        ox = np.zeros(n, dtype=np.uint8)
        oz = np.zeros(n, dtype=np.uint8)
        e = tb.product(state, n, sel, np.zeros((0, words), dtype=np.uint64), ox, oz, np.zeros(0, dtype=np.uint8))
        return -1.0 if e == 2 else 1.0


def _pack_bits(bits: np.ndarray, words: int) -> np.ndarray:
    """uint8 ``(m, k)`` bits to uint64 ``(m, words)``, bit ``i`` of a row at bit ``i % 64`` of word ``i // 64``."""
    padded = np.zeros((bits.shape[0], words * 64), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    return np.ascontiguousarray(np.packbits(padded, axis=1, bitorder="little")).view(np.uint64).reshape(-1, words)


def _indices(patterns: np.ndarray, qubits: np.ndarray, n: int) -> np.ndarray:
    """Basis-state indices with bit ``qubits[i]`` from bit ``i`` of each pattern."""
    bits = np.unpackbits(patterns.view(np.uint8), axis=1, bitorder="little")[:, : qubits.size]
    return basis_indices(bits, qubits, n)


def tableau_bits(state: np.ndarray, n: int) -> np.ndarray:
    """The tableau as Qiskit's ``Clifford`` reads it: uint8, ``(2n, 2n + 1)`` (X bits, Z bits, sign per row)."""
    bits = np.unpackbits(state.view(np.uint8), axis=1, bitorder="little")[:, : 2 * n]  # (2n + 1, 2n): columns
    return np.ascontiguousarray(bits.T)


def from_tableau_bits(bits: np.ndarray, n: int) -> np.ndarray:
    """The inverse of :func:`tableau_bits`: ``bits`` of shape ``(2n, 2n + 1)`` (or flat) as a tableau."""
    bits = bits.reshape(2 * n, 2 * n + 1)
    words = max((2 * n + 63) // 64, 1)
    return _pack_bits(np.ascontiguousarray(bits.T), words)


#: Standard gates that are Cliffords at any parameters they take (none): read without building a matrix.
_CLIFFORD_NAMES = ("x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "cx", "cy", "cz", "swap", "iswap", "dcx", "ecr")


def non_clifford(exp) -> str | None:
    """Why ``exp`` (compiled, not prepared) cannot run on a tableau, or ``None`` if every gate is a Clifford.

    A gate whose parameters are expressions of the circuit's parameters is taken as a
    Clifford here; its point is checked where it is prepared. Runs on the client, in
    Python (no compile): only the gates that are not always Cliffords build a matrix.
    """
    ops = exp.ops
    codes = ops[:, COL_OPCODE]
    always = [STANDARD_GATES[name][0] for name in _CLIFFORD_NAMES]
    names = {code: name for name, (code, _, _) in STANDARD_GATES.items()}
    seen: dict[bytes, bool] = {}
    check = np.flatnonzero(((codes == OP_STANDARD) & ~np.isin(ops[:, COL_MOFF], always)) | (codes == OP_MATRIX))
    check = np.concatenate([check, np.flatnonzero(codes == OP_DIAG)])
    for pc in np.sort(check).tolist():
        row = ops[pc]
        if codes[pc] == OP_STANDARD:
            first, count = int(row[COL_ARG]), int(row[COL_ARG2])
            if exp.param_expr.size and (exp.param_expr[first : first + count] >= 0).any():
                continue
            code = int(row[COL_MOFF])
            params = exp.params[first : first + count]
            key = np.array([code], dtype=np.float64).tobytes() + params.tobytes()
            if key not in seen:
                out = np.zeros(16, dtype=np.complex128)
                with interpreted():
                    nctrl, cval, ntarg = standard_matrix(code, params, out)
                if ntarg == 0:
                    seen[key] = True
                else:
                    fields = np.zeros_like(row)
                    fields[COL_OPCODE], fields[COL_NCTRL], fields[COL_NTARG] = OP_MATRIX, nctrl, ntarg
                    fields[COL_CVAL] = cval
                    seen[key] = nctrl + ntarg <= MAX_TABLE_QUBITS and (
                        clifford_table(full_matrix(fields, out[: 1 << (2 * ntarg)])) is not None
                    )
            if not seen[key]:
                angles = f" with parameters {[round(float(p), 6) for p in params]}" if count else ""
                return f"gate {names.get(code, code)!r}{angles} is not a Clifford"
        else:
            k = int(row[COL_NCTRL] + row[COL_NTARG])
            if k > MAX_TABLE_QUBITS:
                return f"a {k}-qubit matrix gate (the stabilizer method reads gates of at most {MAX_TABLE_QUBITS})"
            key = row[[COL_OPCODE, COL_NCTRL, COL_NTARG]].tobytes() + _row_data(row, exp.matrices).tobytes()
            if key not in seen:
                seen[key] = clifford_table(full_matrix(row, exp.matrices)) is not None
            if not seen[key]:
                return f"a {k}-qubit matrix gate that is not a Clifford"
    return None
