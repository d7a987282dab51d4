"""The CPU extended stabilizer engine: Clifford+T circuits as a sum of stabilizer states.

A state is a :class:`Rank`: stabilizer states in CH form (:mod:`..kernels.chform`, which
keeps their phases) with complex coefficients. A Clifford gate acts on every term. A
non-Clifford gate (T, Tdg, a phase ``u1``/``p``/``rz`` off the multiples of pi/2, CCX,
CCZ) is a sum of Cliffords, ``sum_j c_j C_j``: the phase between its two neighbouring
Clifford phases, the doubly controlled Z as ``I - (I - Z)(I - Z)(I - Z) / 4``. When the
exact sum has at most as many terms as Aer's sampled one would
(``extent / extended_stabilizer_approximation_error**2``, ``extent`` the product of
``(sum_j |c_j|)**2``), every branch is kept and the state is exact; otherwise each of
that many terms draws one branch per gate with probability ``|c_j| / sum |c|`` and
weight ``c_j / p_j`` (Bravyi et al.'s sparsification, Aer's method), whose error is
the approximation error with high probability.

Reading the sum: up to :data:`ENUMERATED_QUBITS` qubits its amplitudes are enumerated
(exact probabilities, measurements, saves, whatever the sampling method); past that,
one term is sampled over its support, and a sum by Metropolis chains over basis
states (``extended_stabilizer_sampling_method``: ``metropolis``, one chain;
``resampled_metropolis``, one chain per shot, run side by side; ``norm_estimation``
takes the resampled chains), each ``extended_stabilizer_metropolis_mixing_time``
steps, and a mid-circuit measurement's probability from
``extended_stabilizer_norm_estimation_samples`` times ``_repetitions`` chains. The
result's metadata says which (``extended_stabilizer_sampled_by``).
"""

from __future__ import annotations

import math

import numpy as np

from ..density import full_matrix
from ..format.standard import STANDARD_GATES
from ..kernels.chform import CHState, scalar_to_complex
from ..kernels.sampling import sample_indices
from ..opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_STANDARD,
)
from ..runtime.engine import Engine, host_rows
from ..runtime.outcomes import basis_indices

__all__ = [
    "ExtendedStabilizerEngine",
    "Rank",
    "NotExtendedError",
    "gate_actions",
    "matrix_actions",
    "row_actions",
    "ENUMERATED_QUBITS",
    "MAX_EXACT_TERMS",
    "MAX_SAVED_QUBITS",
]

#: Up to this many qubits the sum's amplitudes are enumerated (2**n of them per term).
ENUMERATED_QUBITS = 16
#: The widest experiment whose statevector or squared amplitudes are saved (by enumeration).
MAX_SAVED_QUBITS = 24
#: The exact sum is kept up to this many terms (else it is sampled, as Aer's).
MAX_EXACT_TERMS = 1 << 12
_HALF_PI = math.pi / 2
_NAMES = {code: name for name, (code, _, _) in STANDARD_GATES.items()}


class NotExtendedError(ValueError):
    """A gate the extended stabilizer method does not run."""


class Rank:
    """A sum of stabilizer states: ``sum_i coeffs[i] * terms[i]``."""

    __slots__ = ("terms", "coeffs")

    def __init__(self, terms: list, coeffs: np.ndarray):
        self.terms = terms
        self.coeffs = coeffs

    def copy(self) -> Rank:
        """An independent copy."""
        return Rank([t.copy() for t in self.terms], self.coeffs.copy())


# -- gates as Clifford operations and sums of them -----------------------------------
def _phase_branches(lam: float, q: int) -> list | None:
    """``diag(1, e^{i lam})`` on ``q``: its Clifford ops, or ``None`` and the two-term sum as branches."""
    k = lam / _HALF_PI
    nearest = round(k)
    names = ((), (("S", q),), (("Z", q),), (("Sdg", q),))
    if abs(k - nearest) < 1e-9:
        return [(1.0, names[nearest % 4])]
    low = math.floor(k)
    a_phase, b_phase = 1j ** (low % 4), 1j ** ((low + 1) % 4)
    b = (np.exp(1j * lam) - a_phase) / (b_phase - a_phase)  # a D(low) + b D(low + 1) = diag(1, e^{i lam})
    return [(complex(1 - b), names[low % 4]), (complex(b), names[(low + 1) % 4])]


def _ccz_branches(a: int, b: int, c: int, pre=(), post=()) -> list:
    """CCZ = I - (I - Z_a)(I - Z_b)(I - Z_c) / 4: eight Z products (optionally between H on a target)."""
    out = []
    for bits in range(8):
        qubits = [q for i, q in enumerate((a, b, c)) if (bits >> i) & 1]
        weight = -((-1) ** len(qubits)) / 4
        if bits == 0:
            weight += 1.0
        out.append((weight, (*pre, *(("Z", q) for q in qubits), *post)))
    return out


_ONE_QUBIT = {
    "x": ("X",),
    "y": ("Y",),
    "z": ("Z",),
    "h": ("H",),
    "s": ("S",),
    "sdg": ("Sdg",),
    "sx": ("H", "S", "H"),
    "sxdg": ("H", "Sdg", "H"),
}
_PHASES = {"t": math.pi / 4, "tdg": -math.pi / 4}


def gate_actions(name: str, qubits: list, params) -> list:
    """What gate ``name`` does to a sum: a list of branches ``(coefficient, ((op, qubit...), ...))``.

    One branch of coefficient 1 is a Clifford (up to a global phase, which every term shares).

    Raises:
        NotExtendedError: for a gate outside Aer's extended stabilizer gate set.
    """
    if name in _ONE_QUBIT:
        return [(1.0, tuple((op, qubits[0]) for op in _ONE_QUBIT[name]))]
    if name in _PHASES or name in ("p", "u1", "rz"):
        lam = _PHASES.get(name, float(params[0]) if len(params) else 0.0)
        return _phase_branches(lam, qubits[0])
    if name == "cx":
        return [(1.0, (("CX", qubits[0], qubits[1]),))]
    if name == "cz":
        return [(1.0, (("CZ", qubits[0], qubits[1]),))]
    if name == "cy":  # CY = (I x S) CX (I x Sdg)
        c, t = qubits
        return [(1.0, (("Sdg", t), ("CX", c, t), ("S", t)))]
    if name == "swap":
        a, b = qubits
        return [(1.0, (("CX", a, b), ("CX", b, a), ("CX", a, b)))]
    if name == "ecr":  # ECR = e^{-i pi/4}: S on the first, SX on the second, CX, X on the first
        a, b = qubits
        return [(1.0, (("S", a), ("H", b), ("S", b), ("H", b), ("CX", a, b), ("X", a)))]
    if name == "ccz":
        return _ccz_branches(*qubits)
    if name == "ccx":
        a, b, t = qubits
        return _ccz_branches(a, b, t, pre=(("H", t),), post=(("H", t),))
    if name == "global_phase":
        return [(1.0, ())]
    raise NotExtendedError(
        f"gate {name!r} is not in the extended stabilizer method's set (Cliffords, t, tdg, p/u1/rz, ccx, ccz)"
    )


_PAULI_MATS = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1, -1]),
}


def _clifford_words() -> list:
    """The 24 one-qubit Cliffords (up to phase) as words over H and S, shortest first."""
    h = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    s = np.diag([1, 1j])
    words, seen, frontier = [], [], [((), np.eye(2, dtype=complex))]
    while frontier:
        nxt = []
        for word, m in frontier:
            if any(_equal_up_to_phase(m, other) for other in seen):
                continue
            seen.append(m)
            words.append((word, m))
            nxt += [((*word, "H"), h @ m), ((*word, "S"), s @ m)]
        frontier = nxt
    return words


def _equal_up_to_phase(a: np.ndarray, b: np.ndarray) -> bool:
    idx = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    if abs(b[idx]) < 1e-9 or abs(abs(a[idx]) - abs(b[idx])) > 1e-9:
        return False
    return np.allclose(a * (b[idx] / a[idx]), b, atol=1e-9)


_WORDS: list | None = None
_PAIRS: dict | None = None


def _phase_key(m: np.ndarray) -> bytes:
    """``m`` up to a global phase, rounded: equal keys for equal Cliffords."""
    flat = m.ravel()
    lead = flat[np.argmax(np.abs(flat) > 1e-6)]
    return (np.round(m * (abs(lead) / lead), 6) + 0.0).tobytes()  # + 0.0: no -0.0


def _two_qubit_cliffords() -> dict:
    """Every two-qubit Clifford (up to phase, 11520) as its shortest word over H, S and CX: a search, once."""
    h = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    s = np.diag([1, 1j])
    eye = np.eye(2)
    cx01 = np.eye(4)[:, [0, 3, 2, 1]]  # control qubit 0 (the low bit)
    cx10 = np.eye(4)[:, [0, 1, 3, 2]]
    gens = [
        (("H", 0), np.kron(eye, h)),
        (("H", 1), np.kron(h, eye)),
        (("S", 0), np.kron(eye, s)),
        (("S", 1), np.kron(s, eye)),
        (("CX", 0, 1), cx01),
        (("CX", 1, 0), cx10),
    ]
    start = np.eye(4, dtype=complex)
    found = {_phase_key(start): ()}
    frontier = [((), start)]
    while frontier:
        nxt = []
        for word, m in frontier:
            for op, g in gens:
                m2 = g @ m
                key = _phase_key(m2)
                if key not in found:
                    found[key] = (*word, op)
                    nxt.append(((*word, op), m2))
        frontier = nxt
    return found


def matrix_actions(matrix: np.ndarray, qubits: list) -> list:
    """A MATRIX or DIAG row's full matrix (controls included) as branches, where the method runs it.

    One-qubit gates: a Clifford (a word over H and S) or a phase; wider ones: a product of
    Paulis, or a diagonal CZ.

    Raises:
        NotExtendedError: for any other matrix.
    """
    global _WORDS, _PAIRS
    k = len(qubits)
    if k == 1:
        if abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12:
            return _phase_branches(float(np.angle(matrix[1, 1] / matrix[0, 0])), qubits[0])
        if _WORDS is None:
            _WORDS = _clifford_words()
        for word, m in _WORDS:
            if _equal_up_to_phase(m, matrix):
                return [(1.0, tuple((op, qubits[0]) for op in word))]
    if k == 2 and np.allclose(matrix, np.diag([1, 1, 1, -1]) * matrix[0, 0], atol=1e-9):
        return [(1.0, (("CZ", qubits[0], qubits[1]),))]
    if k == 2:  # any other two-qubit Clifford: its word over H, S and CX
        if _PAIRS is None:
            _PAIRS = _two_qubit_cliffords()
        word = _PAIRS.get(_phase_key(np.asarray(matrix, dtype=complex)))
        if word is not None:
            return [(1.0, tuple((op[0], *(qubits[i] for i in op[1:])) for op in word))]
    if k <= 3:  # a product of Paulis (a PauliGate)
        for code in range(4**k):
            labels = ["IXYZ"[(code >> (2 * j)) & 3] for j in range(k)]
            full = np.ones((1, 1))
            for label in labels:
                full = np.kron(_PAULI_MATS[label], full)
            if _equal_up_to_phase(full, matrix):
                return [(1.0, tuple((label, q) for label, q in zip(labels, qubits, strict=True) if label != "I"))]
    raise NotExtendedError(f"a {k}-qubit matrix gate that is not a Clifford, a phase or a Pauli product")


def row_actions(exp, pc: int, matrices: np.ndarray) -> list:
    """The branches of gate row ``pc`` (STANDARD, MATRIX or DIAG) of ``exp``."""
    row = exp.ops[pc]
    qubits = exp.qubits[row[COL_QOFF] : row[COL_QOFF] + row[COL_NCTRL] + row[COL_NTARG]].tolist()
    if row[COL_OPCODE] == OP_STANDARD:
        params = exp.params[row[COL_ARG] : row[COL_ARG] + row[COL_ARG2]]
        return gate_actions(_NAMES[int(row[COL_MOFF])], qubits, params)
    if not qubits:
        return [(1.0, ())]  # a global phase
    return matrix_actions(full_matrix(row, matrices), qubits)


def extent(branches: list) -> float:
    """``(sum_j |c_j|)**2``: how many terms a sampled sum needs per unit of precision."""
    return sum(abs(c) for c, _ in branches) ** 2


class ExtendedStabilizerEngine(Engine):
    """Sums of stabilizer states (see :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment (``exp.method == "extended_stabilizer"``; STANDARD rows kept).
        dtype: Unused (the terms are bits and exact scalars); kept for the contract.
        cancel_flag: uint8, shape ``(1,)``.
        options: The program's :class:`.options.ProgramOptions` (its ``extended_stabilizer_*`` fields).

    Raises:
        NotExtendedError: for a gate outside the method's set.
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray, options):
        super().__init__(exp, dtype, cancel_flag)
        self.n = exp.num_qubits
        self.error = options.extended_stabilizer_approximation_error
        self.method = options.extended_stabilizer_sampling_method
        self.mixing = options.extended_stabilizer_metropolis_mixing_time
        self.norm_samples = options.extended_stabilizer_norm_estimation_samples
        self.norm_repetitions = options.extended_stabilizer_norm_estimation_repetitions
        point = int(exp.indices[0]) if exp.indices.size else 0
        self.rng = np.random.default_rng([options.seed_simulator, point, 0xE5])  # the sparsification's draws
        self.actions: dict[int, list] = {}
        self.sampled_by = None  # how the final shots were drawn, for the metadata
        rows = np.flatnonzero(np.isin(exp.ops[:, COL_OPCODE], (OP_STANDARD, OP_MATRIX, OP_DIAG)))
        terms, xi = 1, 1.0
        for pc in rows.tolist():
            branches = self.actions[pc] = row_actions(exp, pc, exp.matrices)
            if len(branches) > 1:
                terms *= len(branches)
                xi *= extent(branches)
        self.chi = max(1, math.ceil(xi / self.error**2))
        loops = bool((exp.ops[:, COL_OPCODE] == OP_JUMP).any())  # a gate may run again
        self.exact = not loops and terms <= max(self.chi, 1) and terms <= MAX_EXACT_TERMS

    def fresh(self) -> Rank:
        """``|0...0>``: one term."""
        return Rank([CHState(self.n)], np.ones(1, dtype=np.complex128))

    def run_segment(self, state: Rank, creg, pc: int, stop: int = 0) -> int:
        """Rows in Python (:func:`.runtime.host_rows`)."""
        return host_rows(self, state, creg, pc, stop, self._gates)

    def _gates(self, state: Rank, pc: int) -> int:
        ops = self.exp.ops
        while pc < ops.shape[0] and ops[pc, COL_OPCODE] in (OP_STANDARD, OP_MATRIX, OP_DIAG):
            self._apply(state, self.actions[pc])
            pc += 1
        return pc

    def _apply(self, state: Rank, branches: list) -> None:
        if len(branches) == 1:
            for term in state.terms:
                _run(term, branches[0][1])
            return
        weights = np.array([c for c, _ in branches], dtype=np.complex128)
        if self.exact:
            terms, coeffs = [], []
            for term, coeff in zip(state.terms, state.coeffs.tolist(), strict=True):
                for j, (c, ops) in enumerate(branches):
                    t = term if j == len(branches) - 1 else term.copy()
                    _run(t, ops)
                    terms.append(t)
                    coeffs.append(coeff * c)
            state.terms, state.coeffs = terms, np.array(coeffs, dtype=np.complex128)
            return
        if len(state.terms) < self.chi:  # the sampled sum: chi copies, each drawing its own branches
            copies = self.chi // len(state.terms)
            state.terms = [t.copy() for t in state.terms for _ in range(copies)]
            state.coeffs = np.repeat(state.coeffs, copies) / copies
        probs = np.abs(weights) / np.abs(weights).sum()
        picks = self.rng.choice(len(branches), size=len(state.terms), p=probs)
        for i, j in enumerate(picks.tolist()):
            _run(state.terms[i], branches[j][1])
        state.coeffs = state.coeffs * (weights[picks] / probs[picks])

    def apply_operator(self, state: Rank, targets: np.ndarray, matrix: np.ndarray) -> None:
        """A Pauli error (the only noise the method takes) on every term."""
        dim = 1 << targets.size
        branches = matrix_actions(np.asarray(matrix, dtype=np.complex128).reshape(dim, dim), targets.tolist())
        self._apply(state, branches)

    def set_state(self, state: Rank, amplitudes: np.ndarray) -> None:
        """Not offered (validation keeps SET_STATE rows from this method)."""
        raise ValueError("the extended_stabilizer method sets no statevector")

    # -- amplitudes --------------------------------------------------------------
    def amplitudes(self, state: Rank, xs: np.ndarray) -> np.ndarray:
        """``sum_i c_i <x|phi_i>`` for each basis state ``x`` of ``xs`` (uint64): complex128."""
        out = np.zeros(xs.shape, dtype=np.complex128)
        for term, coeff in zip(state.terms, state.coeffs.tolist(), strict=True):
            if term.eps:
                out += coeff * scalar_to_complex(*term.amplitudes(xs))
        return out

    def _vector(self, state: Rank) -> np.ndarray:
        """Every amplitude, normalised (up to :data:`ENUMERATED_QUBITS` qubits)."""
        psi = self.amplitudes(state, np.arange(1 << self.n, dtype=np.uint64))
        norm = np.linalg.norm(psi)
        return psi / norm if norm > 0 else psi

    def _chains(self, state: Rank, chains: int, steps: int, rng) -> np.ndarray:
        """Metropolis over basis states (Aer's): ``chains`` side by side, ``steps`` single-bit proposals each."""
        n = self.n
        # Each chain starts in the support of a term (drawn by |c|**2), not at a random string: in a
        # sparse state a walk from a string of amplitude 0 would wander before it finds the support.
        weights = np.abs(state.coeffs) ** 2
        picks = rng.choice(len(state.terms), size=chains, p=weights / weights.sum())
        bits = rng.integers(0, 1 << n, size=chains, dtype=np.uint64)
        x = np.array(
            [state.terms[t].sample(int(b)) for t, b in zip(picks.tolist(), bits.tolist(), strict=True)], dtype=np.uint64
        )
        amp = np.abs(self.amplitudes(state, x)) ** 2
        for _ in range(steps):
            flip = np.uint64(1) << rng.integers(0, n, size=chains).astype(np.uint64)
            proposal = x ^ flip
            new = np.abs(self.amplitudes(state, proposal)) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(amp > 0, new / amp, np.inf)
            accept = rng.random(chains) < ratio
            x = np.where(accept, proposal, x)
            amp = np.where(accept, new, amp)
        return x

    def probability_one(self, state: Rank, qubit: int) -> float:
        """Exact (enumerated) up to :data:`ENUMERATED_QUBITS` qubits; else the fraction of Metropolis chains."""
        if self.n <= ENUMERATED_QUBITS:
            psi = self._vector(state)
            ones = (np.arange(psi.size) >> qubit) & 1
            return float(np.sum(np.abs(psi[ones == 1]) ** 2))
        chains = self.norm_samples * self.norm_repetitions
        xs = self._chains(state, chains, self.mixing, self.rng)
        return float(np.mean((xs >> np.uint64(qubit)) & np.uint64(1)))

    def collapse(self, state: Rank, qubit: int, outcome: int, probability: float) -> None:
        """Project every term onto ``outcome`` (terms left empty are dropped)."""
        for term in state.terms:
            term.project(1 << qubit, outcome)
        keep = [i for i, t in enumerate(state.terms) if t.eps]
        state.terms = [state.terms[i] for i in keep]
        state.coeffs = state.coeffs[keep] / math.sqrt(max(probability, 1e-300))

    def flip(self, state: Rank, qubit: int) -> None:
        """X on ``qubit`` of every term."""
        for term in state.terms:
            term.X(qubit)

    def sample(self, state: Rank, shots: int, rng, memory: bool):
        """Shots of the final measurements: one term's own sampler, enumerated amplitudes, or Metropolis."""
        qubits = np.unique(np.asarray(self.exp.final_qubits, dtype=np.int64))
        if self.n <= ENUMERATED_QUBITS:
            self.sampled_by = "enumerated"
            return sample_indices(self._vector(state), shots, rng, memory)
        self.sampled_by = "metropolis" if self.method == "metropolis" else "resampled_metropolis"
        if len(state.terms) == 1:  # a stabilizer state: uniform over its support
            self.sampled_by = "stabilizer"
            term = state.terms[0]
            draws = rng.integers(0, 1 << self.n, size=shots, dtype=np.uint64)
            xs = np.array([term.sample(int(b)) for b in draws.tolist()], dtype=np.uint64)
        elif self.method == "metropolis":  # one chain, mixed once, then consecutive states
            xs = np.empty(shots, dtype=np.uint64)
            x = self._chains(state, 1, self.mixing, rng)
            for i in range(shots):
                x = self._chains_from(state, x, 1, rng)
                xs[i] = x[0]
        else:  # resampled: a chain per shot, all mixed side by side
            xs = self._chains(state, shots, self.mixing, rng)
        bits = ((xs[:, None] >> qubits.astype(np.uint64)) & np.uint64(1)).astype(np.uint8)
        values = basis_indices(bits, qubits, self.n)
        uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        per_shot = uniq[inverse.ravel()] if memory else None
        return uniq, counts.astype(np.int64), per_shot

    def _chains_from(self, state: Rank, x: np.ndarray, steps: int, rng) -> np.ndarray:
        amp = np.abs(self.amplitudes(state, x)) ** 2
        for _ in range(steps):
            proposal = x ^ (np.uint64(1) << rng.integers(0, self.n, size=x.size).astype(np.uint64))
            new = np.abs(self.amplitudes(state, proposal)) ** 2
            accept = (amp == 0) | (rng.random(x.size) * amp < new)
            x = np.where(accept, proposal, x)
            amp = np.where(accept, new, amp)
        return x

    def save_value(self, spec: dict, state: Rank, zero_threshold: float):
        """Aer's extended stabilizer saves: the statevector and squared amplitudes (enumerated)."""
        kind = spec["kind"]
        if kind == "statevector":
            return self._vector(state)
        if kind == "amplitudes_sq":
            return np.abs(self._vector(state)[np.asarray(spec["params"], dtype=np.int64)]) ** 2
        raise ValueError(f"the extended_stabilizer method cannot save {kind!r}")

    def stats(self) -> dict:
        """How the sum was kept: its terms (Aer's ``num_states``-like figure) and whether exactly."""
        meta = {"extended_stabilizer_terms_bound": self.chi, "extended_stabilizer_exact": self.exact}
        if self.sampled_by:
            meta["extended_stabilizer_sampled_by"] = self.sampled_by
        return {"metadata": meta}


def _run(term: CHState, ops) -> None:
    for op in ops:
        getattr(term, op[0])(*op[1:])
