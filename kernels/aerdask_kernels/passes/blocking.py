"""The cache-blocking planner: which gates run together in one pass over the state.

A *run* is a stretch of MATRIX/DIAG rows that control flow can enter only at its
first row (no jump lands inside) and leaves only at its end. The stage planner
(:mod:`.staging`) splits each run into stages of ``block_qubits`` local qubits:
a block holds the qubits its gates mix (a MATRIX row's targets); controls and
diagonal rows act on any qubit, local or not, since a block knows the bits of its
non-local qubits. The ``low_qubits`` lowest qubits are always local, so a block is
gathered in contiguous runs of at least ``2**low_qubits`` amplitudes (whole cache
lines, in prefetcher-friendly order); each block gathers its other local qubits
from anywhere, so no pass is spent relabelling qubits between stages.

A block of one gate gains nothing, so a lone gate is a plain step run by the
ordinary kernels. Small states (below ``min_qubits``) are not planned at all: they
sit in cache already.

The plan is plain int64 arrays for :func:`.interpreter.run_segment`:

* ``entry[pc]``: the run starting at row ``pc``, or -1.
* ``runs[r] = (first_step, end_step, resume_pc, threads)``; ``threads`` is the
  thread count of the task that planned it: each block step splits its blocks into
  ``4 * threads`` chunks, each with buffers of its own (see :func:`.blocked.apply_block`).
* ``steps[s] = (n_local, local_offset, rows_offset, n_rows)`` into ``pool``: the
  local qubits (ascending), then their buffer bits, at ``local_offset``; the rows at
  ``rows_offset``. ``n_local == 0`` means the rows run one by one with the ordinary kernels.
* ``positions``: parallel to the experiment's qubit table, each blocked row's
  qubits as buffer bits of its block, or ``-1 - qubit`` for an insular qubit
  (a control, or a DIAG row's qubit) outside the block.

The buffer bit order puts ``free_slots`` qubits that no gate of the block touches
lowest, so each dense gate's inner loop is long enough to vectorise. A block whose
dense gates all find long loops anyway (no target among its ``free_slots`` lowest
qubits: permutations, diagonals and gates on higher qubits only) keeps the state's
bit order instead, so it gathers whole runs with plain copies: GHZ's first stage at
24 qubits took 75 ms with the reordered buffer and 69 ms with copies (Intel Xeon, 2 cores).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import settings
from .._jit import load_numba, numba_loaded
from ..format.program import Experiment
from ..opcodes import (
    COL_ARG,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_BRANCH,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
)
from .staging import StageGate, plan_stages

__all__ = [
    "Plan",
    "plan_blocks",
    "runs",
    "stage_gate",
    "gate_needs",
    "BLOCK_QUBITS",
    "BLOCK_MIN_QUBITS",
    "BLOCK_LOW_QUBITS",
    "BLOCK_FREE_SLOTS",
]

#: Local qubits per block: 2**15 amplitudes, 512 KiB of complex128 buffers (``aerdask.kernels.block-qubits``).
BLOCK_QUBITS = settings.get_int("kernels.block-qubits")
#: Lowest qubits always in a block: contiguous runs of 2**7 amplitudes (2 KiB). With runs of
#: 2**5 (512 B, one per 4 KiB page when the other local qubits are high) a block's gather and
#: scatter took ~5x a memory pass (68 ms against 14 ms at 24 qubits, Intel Xeon), and QFT 24
#: ran 1.69 s against 1.45 s with 2**7; 2**8 was no better.
BLOCK_LOW_QUBITS = 7
#: Lowest buffer bits kept for qubits no gate of the block mixes: inner loops of >= 32 entries.
#: A dense two-qubit gate in a block ran 1.9x faster with them than with 3 (AMD EPYC, AVX2),
#: and quantum volume at 24 qubits 5-8% faster, in spite of fewer qubits left for gates.
BLOCK_FREE_SLOTS = 5
#: States of fewer qubits are not blocked (``aerdask.kernels.block-min-qubits``; 0 switches blocking off).
BLOCK_MIN_QUBITS = settings.get_int("kernels.block-min-qubits")


@dataclasses.dataclass
class Plan:
    """A blocking plan for one experiment (see the module docstring for the arrays)."""

    entry: np.ndarray
    runs: np.ndarray
    steps: np.ndarray
    pool: np.ndarray
    positions: np.ndarray

    def passes(self, exp: Experiment) -> int:
        """Passes over the state the plan makes for one walk through ``exp``'s gate rows.

        A block is one pass; a gate run on its own is one (a dense gate of several
        qubits costs more in time, but it is one read and one write of the state).
        """
        gate = (exp.ops[:, COL_OPCODE] == OP_MATRIX) | (exp.ops[:, COL_OPCODE] == OP_DIAG)
        planned = np.zeros(gate.size, dtype=bool)
        for first, end, _, _ in self.runs.tolist():
            for _, _, rows_off, n_rows in self.steps[first:end].tolist():
                planned[self.pool[rows_off : rows_off + n_rows]] = True
        blocks = int((self.steps[:, 0] > 0).sum())
        alone = int(self.steps[self.steps[:, 0] == 0, 3].sum())
        return blocks + alone + int((gate & ~planned).sum())

    @classmethod
    def empty(cls, exp: Experiment) -> Plan:
        """A plan that blocks nothing: every row runs with the ordinary kernels."""
        z = np.zeros((0, 4), dtype=np.int64)
        return cls(np.full(exp.ops.shape[0], -1, dtype=np.int64), z, z, z[:, 0], z[:, 0])


def gate_needs(ops: np.ndarray, qubits: np.ndarray, pc: int) -> frozenset:
    """The qubits gate row ``pc`` mixes: a MATRIX row's targets (a DIAG row mixes none)."""
    if ops[pc, COL_OPCODE] != OP_MATRIX:
        return frozenset()
    toff = ops[pc, COL_QOFF] + ops[pc, COL_NCTRL]
    return frozenset(qubits[toff : toff + ops[pc, COL_NTARG]].tolist())


def stage_gate(ops: np.ndarray, qubits: np.ndarray, pc: int) -> StageGate:
    """Gate row ``pc`` for the stage planner: its needed and its insular qubits."""
    qoff, count = ops[pc, COL_QOFF], ops[pc, COL_NCTRL] + ops[pc, COL_NTARG]
    needs = gate_needs(ops, qubits, pc)
    return StageGate(int(pc), needs, frozenset(qubits[qoff : qoff + count].tolist()) - needs)


def runs(ops: np.ndarray):
    """(start, end) of each stretch of gate rows that no jump enters in the middle."""
    op = ops[:, COL_OPCODE]
    gate = (op == OP_MATRIX) | (op == OP_DIAG)
    jumps = (op == OP_JUMP) | (op == OP_BRANCH)
    target = np.zeros(op.size + 1, dtype=bool)
    target[ops[jumps, COL_ARG]] = True
    start = None
    for pc in range(op.size + 1):
        if start is not None and (pc == op.size or not gate[pc] or target[pc]):
            yield start, pc
            start = None
        if pc < op.size and gate[pc] and start is None:
            start = pc


def _dense(exp: Experiment, pc: int) -> bool:
    """Whether MATRIX row ``pc`` is dense: not monomial (a permutation with phases, run as moves)."""
    dim = 1 << int(exp.ops[pc, COL_NTARG])
    moff = int(exp.ops[pc, COL_MOFF])
    nonzero = exp.matrices[moff : moff + dim * dim].reshape(dim, dim) != 0
    return not ((nonzero.sum(axis=0) == 1).all() and (nonzero.sum(axis=1) == 1).all())


def _needs_free_slots(exp: Experiment, rows: list, local: list, free_slots: int) -> bool:
    """Whether a dense gate of ``rows`` targets one of the ``free_slots`` lowest of ``local`` (ascending)."""
    lowest = set(local[:free_slots])
    return any(gate_needs(exp.ops, exp.qubits, row) & lowest and _dense(exp, row) for row in rows)


def _layout(touched: set, low: frozenset, free_slots: int, num_qubits: int):
    """The block's local qubits (ascending) and the buffer bit of each: untouched ones lowest."""
    untouched = sorted(low - touched)
    candidates = (q for q in range(num_qubits) if q not in touched and q not in low)
    while len(untouched) < free_slots:
        untouched.append(next(candidates))
    order = sorted(untouched) + sorted(touched)
    local = sorted(order)
    slot = {q: i for i, q in enumerate(order)}
    return local, [slot[q] for q in local], slot


def plan_blocks(
    exp: Experiment,
    blocking_qubits: int = -1,
    low_qubits: int = BLOCK_LOW_QUBITS,
    free_slots: int = BLOCK_FREE_SLOTS,
) -> Plan:
    """Plan cache blocks for ``exp``.

    Args:
        exp: The experiment.
        blocking_qubits: The program option: ``-1`` blocks of :data:`BLOCK_QUBITS`
            qubits from :data:`BLOCK_MIN_QUBITS` qubits on; ``0`` no blocking (an empty
            plan); ``k > 0`` blocks of ``k`` qubits whenever the state is wider.
        low_qubits: Lowest qubits always local (contiguous gathers).
        free_slots: Lowest buffer bits kept for untouched qubits.
    """
    n = exp.num_qubits
    block_qubits = blocking_qubits
    if blocking_qubits < 0:
        block_qubits = BLOCK_QUBITS if 0 < BLOCK_MIN_QUBITS <= n else 0
    if block_qubits <= 0 or n <= block_qubits:
        return Plan.empty(exp)
    ops, qubits = exp.ops, exp.qubits
    threads = load_numba().get_num_threads() if numba_loaded() else 1  # the task's share (thread_share)
    entry = np.full(ops.shape[0], -1, dtype=np.int64)
    positions = np.zeros(qubits.size, dtype=np.int64)
    runs_out, steps, pool = [], [], []
    # Narrow blocks (tests, warm-up) scale both reserves down, so gates still fit; a
    # default block keeps half its qubits for the low runs at most.
    low = frozenset(range(min(low_qubits, block_qubits // 2)))
    free_slots = min(free_slots, block_qubits // 3)

    def add_step(local, slots, rows):
        steps.append((len(local), len(pool), len(pool) + 2 * len(local), len(rows)))
        pool.extend(local)
        pool.extend(slots)
        pool.extend(rows)

    for start, end in runs(ops):
        if end - start < 2:
            continue
        gates = [stage_gate(ops, qubits, pc) for pc in range(start, end)]
        first = len(steps)
        schedule = plan_stages(gates, block_qubits, low, num_qubits=n, reserve=free_slots)
        for stage in schedule.stages:
            rows = list(stage.rows)
            if len(rows) == 1:
                add_step([], [], rows)
                continue
            touched = set().union(*(gate_needs(ops, qubits, row) for row in rows))
            local = sorted(touched | low)
            if _needs_free_slots(exp, rows, local, free_slots):
                local, slots, slot = _layout(touched, low, free_slots, n)
            else:  # the state's own order: runs gathered by plain copies
                slots = list(range(len(local)))
                slot = {q: i for i, q in enumerate(local)}
            for row in rows:
                qoff, count = ops[row, COL_QOFF], ops[row, COL_NCTRL] + ops[row, COL_NTARG]
                # Insular qubits outside the block: -1 - qubit (the block knows their bit).
                positions[qoff : qoff + count] = [slot.get(q, -1 - q) for q in qubits[qoff : qoff + count].tolist()]
            add_step(local, slots, rows)
        entry[start] = len(runs_out)
        runs_out.append((first, len(steps), end, threads))
    as_array = lambda rows, width: np.array(rows, dtype=np.int64).reshape(-1, width)  # noqa: E731
    return Plan(entry, as_array(runs_out, 4), as_array(steps, 4), np.array(pool, dtype=np.int64), positions)
