"""The CPU matrix product state engine: a chain of small tensors, a hundred qubits and more.

A state is a :class:`Chain`: one tensor per qubit (:mod:`..kernels.mps`), in the order
the qubits sit on the chain (a gate on qubits that are not neighbours first moves one
of them with swaps, as Aer's ``mps_swap_direction`` says, and the chain remembers where
each qubit went). Gate rows arrive unfused, as the workers build them: a one-qubit gate
multiplies its site, a wider gate contracts its neighbouring sites, applies and splits
them again by SVD, keeping at most ``matrix_product_state_max_bond_dimension`` singular
values and dropping those whose squares sum below
``matrix_product_state_truncation_threshold``. The chain is kept in mixed canonical form,
so a measurement reads and collapses one site; noise operators (Kraus included) are
applied at the centre and the norms of their outcomes read there.
"""

from __future__ import annotations

import numpy as np

from ..density import full_matrix
from ..kernels import mps as kern
from ..kernels.sampling import sample_indices
from ..opcodes import COL_NCTRL, COL_NTARG, COL_OPCODE, COL_QOFF, OP_DIAG, OP_MATRIX
from ..runtime.engine import Engine, host_rows
from ..runtime.outcomes import basis_indices, tally_batches
from ..runtime.saves import expectation

__all__ = ["Chain", "MPSEngine", "SWAP_LEFT", "SWAP_RIGHT", "APPLY_MEASURE", "PROBABILITIES", "HEURISTIC"]

SWAP_LEFT, SWAP_RIGHT = "mps_swap_left", "mps_swap_right"
APPLY_MEASURE, PROBABILITIES, HEURISTIC = "mps_apply_measure", "mps_probabilities", "mps_heuristic"
#: The heuristic samples from the marginal distribution up to this many measured qubits.
HEURISTIC_PROBABILITY_QUBITS = 12
#: ``mps_probabilities`` builds the measured qubits' ``2**k`` distribution up to this many; past it
#: (Aer too samples a wide register otherwise) the shots are drawn site by site.
MAX_PROBABILITY_QUBITS = 20
#: Shots drawn site by site at once (their left vectors are held together).
SAMPLE_BATCH = 1 << 14
#: The widest state ``save_statevector`` contracts (its ``2**n`` amplitudes).
MAX_CONTRACTED_QUBITS = 30

_SWAP = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]
_PAULI = {
    (1, 0): np.array([[0, 1], [1, 0]], dtype=np.complex128),
    (0, 1): np.array([[1, 0], [0, -1]], dtype=np.complex128),
    (1, 1): np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
}


class Chain:
    """One branch's matrix product state.

    Attributes:
        tensors: Site ``i``'s tensor, complex ``(left, 2, right)``.
        order: int64 ``(n,)``: the qubit at each site.
        where: int64 ``(n,)``: the site of each qubit.
        center: The site of the orthogonality centre.
    """

    __slots__ = ("tensors", "order", "where", "center")

    def __init__(self, tensors: list, order: np.ndarray, center: int):
        self.tensors = tensors
        self.order = order
        self.where = np.argsort(order)
        self.center = center

    def copy(self) -> Chain:
        """An independent copy (for a pending branch)."""
        return Chain([t.copy() for t in self.tensors], self.order.copy(), self.center)

    def bond_dimensions(self) -> list[int]:
        """The sizes of the ``n - 1`` bonds, left to right."""
        return [int(t.shape[2]) for t in self.tensors[:-1]]


class MPSEngine(Engine):
    """Matrix product states (see :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment (``exp.method == "matrix_product_state"``, not fused).
        dtype: ``np.complex128`` or ``np.complex64`` (the tensors' dtype).
        cancel_flag: uint8, shape ``(1,)``.
        options: The program's :class:`.options.ProgramOptions` (its ``matrix_product_state_*``
            and ``mps_*`` fields).
    """

    def __init__(self, exp, dtype, cancel_flag: np.ndarray, options):
        super().__init__(exp, dtype, cancel_flag)
        self.n = exp.num_qubits
        self.max_bond = options.matrix_product_state_max_bond_dimension
        self.threshold = options.matrix_product_state_truncation_threshold
        self.swap_right = options.mps_swap_direction == SWAP_RIGHT
        self.algorithm = options.mps_sample_measure_algorithm
        self.log = [] if options.mps_log_data else None
        self.discarded = 0.0  # summed over every split of every branch
        self.max_bond_seen = 1
        self._gates: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._instruction = 0

    # -- the contract ------------------------------------------------------------
    def fresh(self) -> Chain:
        """``|0...0>``: every site ``(1, 2, 1)`` with its ``|0>`` entry set."""
        site = np.zeros((1, 2, 1), dtype=self.dtype)
        site[0, 0, 0] = 1
        return Chain([site.copy() for _ in range(self.n)], np.arange(self.n, dtype=np.int64), 0)

    def run_segment(self, state: Chain, creg, pc: int, stop: int = 0) -> int:
        """Rows in Python (:func:`.runtime.host_rows`), one gate at a time."""
        return host_rows(self, state, creg, pc, stop, self._run_gates)

    def _run_gates(self, state: Chain, pc: int) -> int:
        ops = self.exp.ops
        while pc < ops.shape[0] and ops[pc, COL_OPCODE] in (OP_MATRIX, OP_DIAG):
            if self.cancel_flag[0] != 0:
                return pc  # host_rows raises
            qubits, matrix = self._gate(pc)
            if qubits.size:
                self.apply(state, qubits, matrix)
                self._log_gate("gate", state, qubits)
            else:  # a global phase
                state.tensors[state.center] = state.tensors[state.center] * matrix[0, 0]
            pc += 1
        return pc

    def _gate(self, pc: int) -> tuple[np.ndarray, np.ndarray]:
        known = self._gates.get(pc)
        if known is None:
            row = self.exp.ops[pc]
            k = int(row[COL_NCTRL] + row[COL_NTARG])
            qubits = self.exp.qubits[row[COL_QOFF] : row[COL_QOFF] + k]
            known = self._gates[pc] = (qubits, full_matrix(row, self.matrices).astype(self.dtype))
        return known

    def apply(self, state: Chain, qubits: np.ndarray, matrix: np.ndarray) -> None:
        """Apply ``matrix`` (``2**k`` square, bit ``j`` of its index on ``qubits[j]``), in place."""
        k = qubits.size
        if k == 1:
            pos = int(state.where[qubits[0]])
            a = state.tensors[pos]
            state.tensors[pos] = np.einsum("st,atb->asb", matrix, a)
            return
        first = self._gather(state, qubits)
        # The sites first.. hold qubits order[first:first + k]; the block's index has the first site
        # most significant, the matrix's has qubits[0] least: permute the matrix's axes to match.
        sites_bits = [int(np.flatnonzero(qubits == q)[0]) for q in state.order[first : first + k]]
        tensor = matrix.reshape((2,) * (2 * k))  # axes: out bits k-1..0, then in bits k-1..0
        perm = [k - 1 - b for b in sites_bits] + [2 * k - 1 - b for b in sites_bits]
        block = np.transpose(tensor, perm).reshape(1 << k, 1 << k)
        state.center = kern.move_center_into(state.tensors, state.center, first, first + k - 1)
        self._discard(kern.apply_block(state.tensors, first, block, self.max_bond, self.threshold))
        state.center = first + k - 1
        self._note_bonds(state)

    def _gather(self, state: Chain, qubits: np.ndarray) -> int:
        """Swap ``qubits`` onto neighbouring sites; returns the first of them."""
        positions = sorted(int(state.where[q]) for q in qubits)
        if len(positions) == 2 and self.swap_right:  # the left qubit moves right, next to the other
            low, high = positions
            for p in range(low, high - 1):
                self._swap(state, p)
            return high - 1
        first = positions[0]
        for j, p in enumerate(positions[1:], start=1):  # each next one moves left, next to the block
            for q in range(p - 1, first + j - 1, -1):
                self._swap(state, q, center_left=True)  # the next swap is on the left: no QR between
        return first

    def _swap(self, state: Chain, p: int, center_left: bool = False) -> None:
        """Exchange the qubits of sites ``p`` and ``p + 1`` (a SWAP on the chain), updating the order."""
        state.center = kern.move_center_into(state.tensors, state.center, p, p + 1)
        swap = _SWAP.astype(self.dtype)
        self._discard(kern.apply_block(state.tensors, p, swap, self.max_bond, self.threshold, center_left))
        state.center = p if center_left else p + 1
        a, b = state.order[p], state.order[p + 1]
        state.order[p], state.order[p + 1] = b, a
        state.where[a], state.where[b] = p + 1, p
        if self.log is not None:
            self.log.append(f"internal_swap on qubits {p},{p + 1}{_bonds(state)}")

    def apply_operator(self, state: Chain, targets: np.ndarray, matrix: np.ndarray) -> None:
        """A noise operator (flat ``4**k`` entries, a Kraus operator too) on ``targets``, at the centre.

        A Kraus operator leaves the state unnormalised; the walker reads :meth:`norm_squared`
        and rescales.
        """
        dim = 1 << targets.size
        if targets.size == 1:  # it may not be unitary: apply it at the centre, where the norm is read
            state.center = kern.move_center(state.tensors, state.center, int(state.where[targets[0]]))
        self.apply(state, targets, np.asarray(matrix, dtype=self.dtype).reshape(dim, dim))

    def norm_squared(self, state: Chain) -> float:
        """``<psi|psi>``: the centre's squared norm (the other sites are orthonormal)."""
        c = state.tensors[state.center]
        return float(np.vdot(c, c).real)

    def scale(self, state: Chain, factor: float) -> None:
        """Multiply the state by ``factor`` (at the centre)."""
        state.tensors[state.center] = state.tensors[state.center] * factor

    def assign(self, state: Chain, other: Chain) -> None:
        """Make ``state`` hold ``other``'s state."""
        state.tensors, state.order, state.where, state.center = other.tensors, other.order, other.where, other.center

    def set_state(self, state: Chain, amplitudes: np.ndarray) -> None:
        """Replace the chain by a statevector's decomposition (SVDs from the left), qubits in order."""
        n = self.n
        psi = np.asarray(amplitudes).reshape((2,) * n).transpose(range(n - 1, -1, -1))  # qubit 0 first
        tensors = [np.ones((1, 1, 1), dtype=self.dtype)] * n
        rest = psi.reshape(1, -1)
        for i in range(n - 1):
            left = rest.shape[0]
            a, b, d = kern.split(rest.reshape(left, 2, 2, -1), self.max_bond, self.threshold)
            self._discard(d)
            tensors[i] = a.astype(self.dtype)
            rest = b.reshape(b.shape[0], -1)
        tensors[n - 1] = rest.reshape(rest.shape[0], 2, 1).astype(self.dtype)
        self.assign(state, Chain(tensors, np.arange(n, dtype=np.int64), n - 1))

    def set_chain(self, state: Chain, gammas: list, lambdas: list) -> None:
        """Replace the chain by a Vidal-form MPS (Aer's ``set_matrix_product_state``), qubits in order.

        Args:
            state: The chain replaced.
            gammas: Per qubit, complex ``(left, 2, right)``.
            lambdas: Per bond, float ``(right,)`` of the qubit before it.
        """
        n = self.n
        tensors = [g * lam[None, None, :] for g, lam in zip(gammas[:-1], lambdas, strict=True)] + [gammas[-1]]
        tensors = [np.ascontiguousarray(t, dtype=self.dtype) for t in tensors]
        center = kern.move_center(tensors, 0, n - 1)  # QR from the left: orthonormal whatever was given
        c = tensors[center]
        tensors[center] = c / np.sqrt(float(np.vdot(c, c).real))
        self.assign(state, Chain(tensors, np.arange(n, dtype=np.int64), center))

    def probability_one(self, state: Chain, qubit: int) -> float:
        """The weight of the qubit's ``1`` entries at its site (made the centre)."""
        pos = int(state.where[qubit])
        state.center = kern.move_center(state.tensors, state.center, pos)
        a = state.tensors[pos]
        one = float(np.vdot(a[:, 1, :], a[:, 1, :]).real)
        total = float(np.vdot(a, a).real)
        return one / total if total > 0 else 0.0

    def collapse(self, state: Chain, qubit: int, outcome: int, probability: float) -> None:
        """Zero the other outcome at the qubit's site and renormalise it."""
        pos = int(state.where[qubit])
        state.center = kern.move_center(state.tensors, state.center, pos)
        a = state.tensors[pos].copy()
        a[:, 1 - outcome, :] = 0
        norm = np.sqrt(float(np.vdot(a, a).real))
        state.tensors[pos] = a / (norm if norm > 0 else 1.0)
        if self.log is not None:
            self.log.append(f"I{self._instruction}:measure on qubits {qubit}{_bonds(state)}")
            self._instruction += 1

    def flip(self, state: Chain, qubit: int) -> None:
        """X on ``qubit``: its site's two outcomes exchanged."""
        pos = int(state.where[qubit])
        state.tensors[pos] = state.tensors[pos][:, ::-1, :].copy()

    def sample(self, state: Chain, shots: int, rng, memory: bool):
        """Shots of the final measurements: from their marginal distribution, or site by site.

        ``mps_probabilities`` (up to :data:`MAX_PROBABILITY_QUBITS` measured qubits; the
        heuristic up to :data:`HEURISTIC_PROBABILITY_QUBITS`) draws from the measured
        qubits' distribution as a statevector's draws are made
        (:func:`.sampling.sample_indices`); ``mps_apply_measure`` draws every shot along
        the chain, each site's outcome from its conditional probabilities, as Aer applies
        measurements to copies, in batches (:func:`..kernels.mps.sample_chain`).
        """
        qubits = np.unique(np.asarray(self.exp.final_qubits, dtype=np.int64))
        if self._by_probabilities(qubits.size):
            probs = kern.marginal_probabilities(state.tensors, state.center, state.where[qubits])
            amplitudes = np.sqrt(np.clip(probs, 0, None) / probs.sum()).astype(np.complex128)
            drawn, counts, per_shot = sample_indices(amplitudes, shots, rng, memory)
            # Bit j of a drawn index is qubits[j] (ascending): the spread keeps the order.
            indices = self._spread(drawn, qubits)
            return indices, counts, self._spread(per_shot, qubits) if memory else None
        chain = state.copy()
        chain.center = kern.move_center(chain.tensors, chain.center, 0)
        sites = chain.where[qubits]
        width = qubits.size

        def batches():
            done = 0
            while done < shots:
                batch = min(SAMPLE_BATCH, shots - done)
                yield kern.sample_chain(chain.tensors, rng.random((batch, self.n)))[:, sites]
                done += batch

        return tally_batches(batches(), memory, lambda rows: basis_indices(rows.reshape(-1, width), qubits, self.n))

    def _spread(self, drawn: np.ndarray, qubits: np.ndarray) -> np.ndarray:
        bits = ((drawn[:, None] >> np.arange(qubits.size)) & 1).astype(np.uint8)
        return basis_indices(bits, qubits, self.n)

    def _by_probabilities(self, measured: int) -> bool:
        if self.algorithm == PROBABILITIES:
            return measured <= MAX_PROBABILITY_QUBITS
        return self.algorithm == HEURISTIC and measured <= HEURISTIC_PROBABILITY_QUBITS

    # -- saves -------------------------------------------------------------------
    def save_value(self, spec: dict, state: Chain, zero_threshold: float):
        """Aer's MPS saves: the chain itself, amplitudes, probabilities, density matrices, expectation values."""
        kind = spec["kind"]
        qubits = np.asarray(spec["qubits"], dtype=np.int64)
        if kind == "matrix_product_state":
            return self._vidal(state)
        if kind == "statevector":
            if self.n > MAX_CONTRACTED_QUBITS:
                raise ValueError(
                    f"save_statevector of {self.n} qubits: the MPS contracts at most {MAX_CONTRACTED_QUBITS}"
                )
            return self._statevector(state)
        if kind in ("amplitudes", "amplitudes_sq"):
            indices = [int(i) for i in spec["params"]]
            bits = np.array([[(i >> int(q)) & 1 for q in state.order] for i in indices], dtype=np.uint8)
            amps = kern.amplitudes(state.tensors, bits.reshape(len(indices), self.n))
            return amps if kind == "amplitudes" else (amps.real**2 + amps.imag**2)
        if kind in ("probabilities", "probabilities_dict"):
            probs = kern.marginal_probabilities(state.tensors, state.center, state.where[qubits])
            if kind == "probabilities":
                return probs
            return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
        if kind == "density_matrix":
            return kern.reduced_density(state.tensors, state.center, state.where[qubits])
        if kind in ("expval", "expvals", "expval_var"):
            expval = lambda st, x, z, y: self._expval(st, x, z)  # noqa: E731
            if kind == "expval":
                return expectation(spec["params"], qubits, state, expval)
            if kind == "expvals":
                return np.array([expectation(t, qubits, state, expval) for t in spec["params"]], dtype=np.float64)
            mean = expectation([(lb, c1) for lb, c1, _ in spec["params"]], qubits, state, expval)
            square = expectation([(lb, c2) for lb, _, c2 in spec["params"]], qubits, state, expval)
            return np.array([mean, square - mean * mean], dtype=np.float64)
        raise ValueError(f"the matrix_product_state method cannot save {kind!r}")

    def _expval(self, state: Chain, x_mask: int, z_mask: int) -> float:
        paulis = {}
        for q in range(self.n):
            x, z = (x_mask >> q) & 1, (z_mask >> q) & 1
            if x or z:
                paulis[int(state.where[q])] = _PAULI[(x, z)].astype(self.dtype)
        return float(kern.pauli_expectation(state.tensors, state.center, paulis).real)

    def _statevector(self, state: Chain) -> np.ndarray:
        """The ``2**n`` amplitudes, bit ``q`` of an index from qubit ``q``."""
        n = self.n
        psi = kern.contract(state.tensors).reshape((2,) * n)  # axis a: site n - 1 - a
        perm = [n - 1 - int(state.where[n - 1 - a]) for a in range(n)]
        return np.ascontiguousarray(np.transpose(psi, perm)).reshape(-1).astype(np.complex128)

    def _vidal(self, state: Chain) -> tuple[list, list]:
        """Aer's form of the chain, qubits in order: ``([(Gamma_0, Gamma_1) per qubit], [lambda per bond])``."""
        chain = state.copy()
        for target in range(self.n):  # bubble each qubit to its own site (swaps on the copy)
            pos = int(chain.where[target])
            for p in range(pos - 1, target - 1, -1):
                self._swap(chain, p)
        tensors = chain.tensors
        kern.move_center(tensors, chain.center, 0)
        gammas, lambdas = [], []
        previous = np.ones(1)
        for i in range(self.n - 1):
            left, _, right = tensors[i].shape
            u, s, vh = np.linalg.svd(tensors[i].reshape(left * 2, right), full_matrices=False)
            keep = max(int(np.count_nonzero(s * s > kern.CHOP)), 1)
            u, s, vh = u[:, :keep], s[:keep], vh[:keep]
            gammas.append(u.reshape(left, 2, keep) / _safe(previous)[:, None, None])
            lambdas.append(s.astype(np.float64))
            tensors[i + 1] = np.tensordot(s[:, None] * vh, tensors[i + 1], axes=(1, 0))
            previous = s
        gammas.append(tensors[-1] / _safe(previous)[:, None, None])
        pairs = [
            (np.ascontiguousarray(g[:, 0, :], np.complex128), np.ascontiguousarray(g[:, 1, :], np.complex128))
            for g in gammas
        ]
        return pairs, lambdas

    # -- bookkeeping -------------------------------------------------------------
    def _discard(self, discarded: float) -> None:
        if discarded > 0:
            self.discarded += discarded
            if self.log is not None:
                self.log.append(f"discarded_value={discarded:.6g}, ")

    def _note_bonds(self, state: Chain) -> None:
        bonds = state.bond_dimensions()
        if bonds:
            self.max_bond_seen = max(self.max_bond_seen, max(bonds))

    def _log_gate(self, name: str, state: Chain, qubits: np.ndarray) -> None:
        if self.log is not None and qubits.size > 1:
            listed = ",".join(str(int(q)) for q in qubits)
            self.log.append(f"I{self._instruction}:{name} on qubits {listed}{_bonds(state)}")
            self._instruction += 1

    def stats(self) -> dict:
        """The truncation's figures for the result's metadata (and Aer's ``MPS_log_data`` when asked)."""
        meta = {
            "matrix_product_state_discarded_weight": self.discarded,
            "matrix_product_state_max_bond_dimension_reached": self.max_bond_seen,
        }
        if self.log is not None:
            meta["MPS_log_data"] = "{" + "".join(self.log) + "}"
        return {"metadata": meta}


def _bonds(state: Chain) -> str:
    return ", BD=[" + " ".join(str(b) for b in state.bond_dimensions()) + "],  "


def _safe(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) > 1e-300, values, 1.0)
