"""One statevector in shards: the layout, and the functions a worker runs on one shard.

A state of ``n`` qubits split into ``2**k`` shards keeps ``L = n - k`` *local*
qubits per shard. Amplitude ``(shard << L) | local`` lives in shard ``shard`` at
``local``. The :class:`Layout` says which circuit qubit sits at each of those ``n``
physical bits: the circuit's qubits move between bits as the plan exchanges
them (:mod:`.staging`), so a gate on a qubit held by the shard index (a *global*
qubit) can run after an exchange makes it local.

Every function here takes a shard and returns a new array (or plain numbers): a
shard held by Dask is a value other tasks may still read (a branch's copy of the
state shares its shards), so none is changed in place.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._jit import njit, prange
from ..format.program import Experiment
from ..kernels.bits import insert_zero_bits
from ..kernels.gates import PARALLEL_MIN_SIZE
from ..kernels.interpreter import CANCELLED, run_segment, run_segment_serial
from ..kernels.measure import collapse, expval_pauli, flip, marginal_probabilities, probability_one
from ..kernels.sampling import block_norms, norm_squared, sample_sorted
from ..opcodes import N_COLS, OP_DIAG, OP_MATRIX
from ..passes.blocking import plan_blocks

__all__ = [
    "Layout",
    "shard_start",
    "shard_run",
    "shard_split",
    "shard_piece",
    "shard_assemble",
    "shard_transpose",
    "shard_norm",
    "shard_probability_one",
    "shard_collapse",
    "shard_scale",
    "shard_flip",
    "shard_sample",
    "shard_block_norms",
    "shard_block_sample",
    "shard_marginal",
    "shard_reduced",
    "shard_paulis",
    "shard_take",
    "local_rows",
]


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which circuit qubit sits at each physical bit of a sharded state.

    Attributes:
        num_local: Local qubits per shard (``L``); bits ``L`` and up index the shard.
        order: ``order[p]`` is the circuit qubit at physical bit ``p`` (a permutation
            of ``range(n)``).
    """

    num_local: int
    order: tuple

    @classmethod
    def identity(cls, num_qubits: int, num_local: int) -> Layout:
        """Qubit ``q`` at bit ``q``: shard ``s`` holds amplitudes ``s * 2**L`` to ``(s + 1) * 2**L - 1``."""
        return cls(num_local, tuple(range(num_qubits)))

    @property
    def num_qubits(self) -> int:
        """Qubits of the whole state."""
        return len(self.order)

    @property
    def positions(self) -> np.ndarray:
        """int64, shape ``(n,)``: the physical bit of each circuit qubit."""
        out = np.empty(len(self.order), dtype=np.int64)
        out[list(self.order)] = np.arange(len(self.order))
        return out

    @property
    def local(self) -> frozenset:
        """The circuit qubits held inside every shard."""
        return frozenset(self.order[: self.num_local])

    def is_identity(self) -> bool:
        """Whether every qubit sits at its own bit (the circuit's order)."""
        return self.order == tuple(range(len(self.order)))

    def swap_for(self, local: frozenset) -> tuple[Layout, tuple]:
        """The layout with ``local`` local, reached by swapping bits pairwise.

        Each qubit that comes in takes the bit of one that goes out, which takes its
        global bit; every other qubit keeps its bit, so the exchange moves only the
        amplitudes whose bits change.

        Returns:
            ``(layout, pairs)``: ``pairs`` holds ``(local bit, global bit)`` per swap.

        Raises:
            ValueError: if ``local`` does not hold exactly ``num_local`` qubits.
        """
        if len(local) != self.num_local or not local <= set(self.order):
            raise ValueError(f"a shard holds {self.num_local} qubits of {self.num_qubits}, not {sorted(local)}")
        pos = self.positions
        incoming = sorted(int(pos[q]) for q in local - self.local)
        outgoing = sorted(int(pos[q]) for q in self.local - local)
        order = list(self.order)
        for low, high in zip(outgoing, incoming, strict=True):
            order[low], order[high] = order[high], order[low]
        return Layout(self.num_local, tuple(order)), tuple(zip(outgoing, incoming, strict=True))

    def global_bit(self, shard: int, qubit: int) -> int:
        """The value of global ``qubit`` in every amplitude of ``shard``."""
        return (shard >> (int(self.positions[qubit]) - self.num_local)) & 1

    def to_logical(self, physical: np.ndarray) -> np.ndarray:
        """A whole state in physical order (the shards one after another) in the circuit's order."""
        n = len(self.order)
        if self.is_identity():
            return physical
        # Axis a of the tensor is bit n - 1 - a; the circuit's qubit q must end at axis n - 1 - q.
        pos = self.positions
        axes = [n - 1 - int(pos[n - 1 - a]) for a in range(n)]
        return np.ascontiguousarray(physical.reshape((2,) * n).transpose(axes)).reshape(-1)

    def physical_index(self, index: int) -> int:
        """Where the circuit's basis-state ``index`` lies: ``(shard << L) | local``."""
        out = 0
        for p, q in enumerate(self.order):
            out |= ((index >> q) & 1) << p
        return out


def shard_start(shard: int, num_local: int, single: bool) -> np.ndarray:
    """Shard ``shard`` of ``|0...0>``: complex64 or complex128, shape ``(2**num_local,)``."""
    state = np.zeros(1 << num_local, dtype=np.complex64 if single else np.complex128)
    if shard == 0:
        state[0] = 1
    return state


def local_rows(ops, qubits, matrices, rows, layout: Layout, shard: int):
    """Gate ``rows`` as shard ``shard`` applies them: on its local bits only.

    A control on a global qubit is known in a shard: the row runs without it, or not
    at all. A diagonal keeps the entries of the shard's global bits; one with no
    local qubit left is a phase on the shard, or on the part its local controls select.

    Args:
        ops: int64, shape ``(n_ops, 8)``: the prepared experiment's rows (only MATRIX
            and DIAG rows are read; every target of a MATRIX row must be local).
        qubits: int64; the indices ``ops`` points into.
        matrices: The flat matrices ``ops`` points into (the state's dtype).
        rows: int64; the rows, in the order they run.
        layout: The state's layout.
        shard: The shard's index.

    Returns:
        ``(ops, qubits, matrices)`` of an experiment on ``layout.num_local`` qubits.

    Raises:
        ValueError: if a MATRIX row targets a global qubit (the plan was not followed).
    """
    nl, pos = layout.num_local, layout.positions
    out_ops, out_q, out_m = [], [], []
    moff = 0
    for r in np.asarray(rows).tolist():
        op, qoff, nctrl, ntarg, mo, cval = (int(v) for v in ops[r, :6])
        controls, values, run = [], [], True
        for i, q in enumerate(qubits[qoff : qoff + nctrl].tolist()):
            p, want = int(pos[q]), (cval >> i) & 1
            if p >= nl:
                run = run and ((shard >> (p - nl)) & 1) == want
            else:
                controls.append(p)
                values.append(want)
        if not run:
            continue
        targets = [int(pos[q]) for q in qubits[qoff + nctrl : qoff + nctrl + ntarg].tolist()]
        if op == OP_MATRIX:
            if max(targets) >= nl:
                raise ValueError(f"row {r} mixes a global qubit; the stage plan must make it local first")
            matrix = matrices[mo : mo + (1 << (2 * ntarg))]
        elif op == OP_DIAG:
            targets, matrix = _local_diagonal(matrices[mo : mo + (1 << ntarg)], targets, nl, shard)
            if not targets:  # a phase on the shard: on a local control's 1-part, or on everything
                if controls:
                    targets = [controls.pop()]
                    phase = matrix[0]
                    matrix = np.array([1, phase] if values.pop() else [phase, 1], dtype=matrices.dtype)
                else:
                    targets, matrix = [0], np.array([matrix[0], matrix[0]], dtype=matrices.dtype)
        else:
            raise ValueError(f"row {r} is not a gate row (opcode {op})")
        cval = sum(v << i for i, v in enumerate(values))
        out_ops.append((op, len(out_q), len(controls), len(targets), moff, cval, 0, 0))
        out_q.extend(controls + targets)
        out_m.append(matrix)
        moff += matrix.size
    table = np.array(out_ops, dtype=np.int64).reshape(-1, N_COLS)
    flat = np.concatenate(out_m) if out_m else np.zeros(0, dtype=matrices.dtype)
    return table, np.array(out_q, dtype=np.int64), flat.astype(matrices.dtype, copy=False)


def _local_diagonal(diagonal, targets: list, num_local: int, shard: int):
    """The entries of ``diagonal`` (bit ``j`` of its index: ``targets[j]``) that a shard sees."""
    kept = [j for j, p in enumerate(targets) if p < num_local]
    fixed = sum(((shard >> (p - num_local)) & 1) << j for j, p in enumerate(targets) if p >= num_local)
    entries = np.arange(1 << len(kept))
    index = np.full(entries.size, fixed, dtype=np.int64)
    for b, j in enumerate(kept):
        index |= ((entries >> b) & 1) << j
    return [targets[j] for j in kept], np.ascontiguousarray(diagonal[index])


def shard_run(
    state: np.ndarray,
    program: tuple,
    rows: np.ndarray,
    layout: Layout,
    shard: int,
    blocking: int,
    inplace: bool = False,
):
    """``state`` with gate ``rows`` applied (see :func:`local_rows`): a copy, or ``state`` itself.

    Args:
        state: complex64 or complex128, shape ``(2**L,)``; modified only with ``inplace``.
        program: ``(ops, qubits, matrices)`` of the prepared experiment, matrices in
            the state's dtype.
        rows: int64; the stage's rows in the order they run.
        layout: The state's layout.
        shard: This shard's index.
        blocking: The ``blocking_qubits`` option for the shard's own cache blocks.
        inplace: Change ``state`` and return it, where no one else reads it (the walk
            knows: :class:`.sharded.ShardedState`); saves a pass.
    """
    from ..runtime.threads import thread_share  # the task's share of this process's cores, as run_program's

    ops, qubits, matrices = local_rows(*program, rows, layout, shard)
    out = state if inplace else state.copy()
    if not ops.shape[0]:
        return out
    nl = layout.num_local
    empty = np.zeros(0, dtype=np.int64)
    exp = Experiment("shard", nl, 0, ops, qubits, matrices, np.zeros(0), empty, empty)
    creg, flag = np.zeros(1, dtype=np.int8), np.zeros(1, dtype=np.uint8)
    with thread_share(0):
        plan = plan_blocks(exp, blocking)  # in the task's thread share: it sizes the block chunks
        small = (1 << nl) < PARALLEL_MIN_SIZE and plan.runs.shape[0] == 0
        segment = run_segment_serial if small else run_segment
        pc = segment(
            out, ops, qubits, matrices, creg, 0, flag, (plan.entry, plan.runs, plan.steps, plan.pool, plan.positions), 0
        )
    if pc == CANCELLED or pc != ops.shape[0]:
        raise RuntimeError(f"shard stage stopped at row {pc} of {ops.shape[0]}")
    return out


def _offsets(bits) -> tuple:
    """The sorted ``bits`` (int64) and, per ``v``, the index offset where bit ``bits[i]`` is bit ``i`` of ``v``."""
    bits = np.asarray(bits, dtype=np.int64)
    v = np.arange(1 << bits.size, dtype=np.int64)
    offsets = np.zeros(v.size, dtype=np.int64)
    for i, b in enumerate(bits.tolist()):
        offsets |= ((v >> i) & 1) << b
    return np.sort(bits), offsets


@njit(parallel=True)
def _split(state, sorted_bits, offsets, out):
    """``out[v, j] = state[insert_zero_bits(j, sorted_bits) | offsets[v]]``: one pass, writing ``out``.

    Indices below the lowest cut bit stay together: each is copied as a run.
    """
    run = 1 << sorted_bits[0]
    for g in prange(out.shape[1] // run):
        base = insert_zero_bits(np.int64(g) * run, sorted_bits)  # prange's index is unsigned: keep int64
        for v in range(offsets.size):
            src = base | offsets[v]
            out[v, g * run : (g + 1) * run] = state[src : src + run]


@njit(parallel=True)
def _merge(pieces, sorted_bits, offsets, out):
    """The inverse of :func:`_split`: ``out[insert_zero_bits(j, sorted_bits) | offsets[v]] = pieces[v][j]``."""
    run = 1 << sorted_bits[0]
    for g in prange((out.size >> sorted_bits.size) // run):
        base = insert_zero_bits(np.int64(g) * run, sorted_bits)
        for v in range(offsets.size):
            dst = base | offsets[v]
            out[dst : dst + run] = pieces[v][g * run : (g + 1) * run]


def shard_split(state: np.ndarray, bits: list) -> np.ndarray:
    """The shard cut by the values of its local ``bits``, in one pass.

    Returns:
        Same dtype, shape ``(2**len(bits), 2**(L - len(bits)))``: row ``v`` holds, in
        index order, the amplitudes whose bit ``bits[i]`` is bit ``i`` of ``v``.
        A row is the piece an exchange sends to one shard (:func:`shard_assemble`).
    """
    sorted_bits, offsets = _offsets(bits)
    out = np.empty((offsets.size, state.size >> sorted_bits.size), dtype=state.dtype)
    from ..runtime.threads import thread_share

    with thread_share(0):
        _split(state, sorted_bits, offsets, out)
    return out


def shard_piece(split: np.ndarray, v: int) -> np.ndarray:
    """Row ``v`` of a :func:`shard_split` (a view: no copy on the worker that made it)."""
    return split[v]


def shard_assemble(pieces: list, bits: list) -> np.ndarray:
    """A new shard from ``pieces``: piece ``v`` fills the amplitudes whose bit ``bits[i]`` is bit ``i`` of ``v``.

    Each piece holds ``2**(L - len(bits))`` amplitudes, in index order (see
    :func:`shard_split`); one pass.
    """
    sorted_bits, offsets = _offsets(bits)
    out = np.empty(pieces[0].size << sorted_bits.size, dtype=pieces[0].dtype)
    from ..runtime.threads import thread_share

    with thread_share(0):
        _merge(tuple(_read_only(p) for p in pieces), sorted_bits, offsets, out)
    return out


def _read_only(piece: np.ndarray) -> np.ndarray:
    """A read-only view: pieces received from other workers may be read-only, and Numba takes one type."""
    view = piece.view()
    view.flags.writeable = False
    return view


def shard_transpose(state: np.ndarray, order: tuple) -> np.ndarray:
    """A copy of ``state`` whose amplitude at bit ``p`` moves to bit ``order[p]`` (a permutation of the local bits).

    The restore before sampling uses it: ``order`` is the layout's local part, and
    afterwards local qubit ``q`` sits at bit ``q``.
    """
    nl = state.size.bit_length() - 1
    pos = np.empty(nl, dtype=np.int64)
    pos[list(order)] = np.arange(nl)
    axes = [nl - 1 - int(pos[nl - 1 - a]) for a in range(nl)]
    return np.ascontiguousarray(state.reshape((2,) * nl).transpose(axes)).reshape(-1)


def shard_norm(state: np.ndarray) -> float:
    """Sum of ``|amplitude|**2`` over the shard."""
    return float(norm_squared(state))


def shard_probability_one(state: np.ndarray, bit: int) -> float:
    """The shard's part of the probability that local ``bit`` reads 1."""
    return float(probability_one(state, bit))


def shard_collapse(state: np.ndarray, bit: int, outcome: int, probability: float) -> np.ndarray:
    """A copy projected on local ``bit`` = ``outcome`` and divided by ``sqrt(probability)``."""
    out = state.copy()
    collapse(out, bit, outcome, probability)
    return out


def shard_scale(state: np.ndarray, factor: float) -> np.ndarray:
    """``factor * state`` (0 clears a shard that a global measurement ruled out)."""
    return np.zeros_like(state) if factor == 0 else state * state.dtype.type(factor)


def shard_flip(state: np.ndarray, bit: int) -> np.ndarray:
    """A copy with X applied to local ``bit``."""
    out = state.copy()
    flip(out, bit)
    return out


def shard_sample(state: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Local indices (int64, ascending) of sorted ``uniforms`` (float64, from 0 at the shard's start)."""
    if not uniforms.size:
        return np.zeros(0, dtype=np.int64)
    return sample_sorted(state, uniforms)


def shard_block_norms(state: np.ndarray, block_bits: int) -> np.ndarray:
    """The probability of each run of ``2**block_bits`` amplitudes (float64)."""
    return block_norms(state, block_bits)


def shard_block_sample(state: np.ndarray, block_bits: int, blocks: np.ndarray, shots: np.ndarray, rng):
    """Per visited block, a multinomial draw of its ``shots`` over its amplitudes.

    The draws use ``rng`` in block order, as the one-process sampler does.

    Returns:
        ``(indices, counts, rng)``: local int64 indices, their counts, and the generator after the draws.
    """
    indices, counts = [], []
    for block, n in zip(blocks.tolist(), shots.tolist(), strict=True):
        start = block << block_bits
        amps = state[start : start + (1 << block_bits)]
        probs = amps.real.astype(np.float64) ** 2 + amps.imag.astype(np.float64) ** 2
        drawn = rng.multinomial(n, probs / probs.sum())
        hit = np.flatnonzero(drawn)
        indices.append(hit + start)
        counts.append(drawn[hit])
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(indices) if indices else empty), (np.concatenate(counts) if counts else empty), rng


def shard_marginal(state: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Probabilities of the outcomes of local ``bits`` (float64, ``2**len(bits)``; bit ``b``: ``bits[b]``)."""
    return marginal_probabilities(state, np.asarray(bits, dtype=np.int64))


def shard_reduced(state: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """The shard's part of the reduced density matrix of local ``bits`` (``bits[0]`` least significant)."""
    from ..runtime.saves import reduced_density_matrix

    return reduced_density_matrix(state, np.asarray(bits, dtype=np.int64))


def shard_paulis(state: np.ndarray, masks: list) -> np.ndarray:
    """``<shard| P |shard>`` per ``(x_mask, z_mask, num_y)`` on local bits (float64)."""
    return np.array([expval_pauli(state, x, z, y) for x, z, y in masks], dtype=np.float64)


def shard_take(state: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The amplitudes at ``local`` indices (complex128)."""
    return state[np.asarray(local, dtype=np.int64)].astype(np.complex128)
