"""Memory admission: what a task holds at its peak, against the workers that may run it.

A task holds more than one statevector. It also holds the state copies that
mid-circuit measurements keep for pending branches (one per pending branch, depth
first), saved data (a state per shot for a ``pershot`` statevector save), the
per-shot outcomes of ``memory=True``, and the probabilities it samples from. A
worker runs as many tasks at once as it has threads, and its nanny kills it at
its ``terminate`` fraction (95% by default) of the memory limit. A job must not end
as ``KilledWorker`` with no word of memory, so :class:`Admission` plans each
experiment before anything is submitted:

* the state, saves and shot arrays of one task must fit ``usable / threads`` of
  some worker, or ``run()`` raises :class:`~aerdask.errors.CircuitTooLargeError`
  with the bytes needed;
* branch copies beyond what fits are not made: the program's
  ``max_branch_copies`` makes the workers recompute those branches instead;
* where only some workers are big enough, the job's tasks are placed on those
  (:class:`Placement`: on Dask, as a demand for the memory each worker advertises per
  task, so a worker that restarts at a new address, or joins later, takes them too);
* a state that no worker holds but the cluster does is split into shards
  (:mod:`aerdask_kernels.sharded`) when the ``shards`` option is ``None``: the
  fewest shards whose peaks fit the workers (:func:`shard_places`). With
  ``shards=k`` the run is split into ``k`` shards, and refused if they do not fit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import psutil

from aerdask_kernels.format.program import Experiment
from aerdask_kernels.opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHANNEL_KRAUS,
    COL_ARG,
    COL_ARG2,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_BRANCH,
    OP_CHANNEL,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SET_STATE,
    OP_STANDARD,
)
from aerdask_kernels.sharded import max_needs, shard_bits

from .errors import AerdaskInputError, CircuitTooLargeError

__all__ = [
    "WorkerMemory",
    "Placement",
    "Admission",
    "task_bytes",
    "output_bytes",
    "shard_places",
    "MEMORY_BYTES_PER_SHOT",
    "SHARD_PEAK_STATES",
]

#: A shard's peak, in shards: its state, the copy a stage writes, and the pieces of an exchange.
SHARD_PEAK_STATES = 3

#: Worker bytes per shot with ``memory=True``: the outcome, the shot order and the sampler's draws.
MEMORY_BYTES_PER_SHOT = 40
_DICT_ENTRY_BYTES = 100  # a ``{hex: value}`` entry of a *_dict save


@dataclasses.dataclass(frozen=True)
class WorkerMemory:
    """What one worker (or the local pool) offers a job.

    Attributes:
        address: The worker's address (``None`` for the local pool).
        usable: Bytes before the worker is killed (limit x terminate fraction).
        threads: Tasks it runs at once.
    """

    address: str | None
    usable: int
    threads: int

    @property
    def per_task(self) -> int:
        """Bytes one task may use while the others run beside it."""
        return self.usable // max(self.threads, 1)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a task may run, when not every worker can hold it.

    Attributes:
        workers: The workers it fits now (addresses).
        task_bytes: Its peak (state, saves, per-shot memory): a worker fits it if it offers
            at least this much per task.
    """

    workers: tuple[str, ...]
    task_bytes: int


def _save_bytes(save: dict, num_qubits: int, state: int, shots: int, num_clbits: int) -> int:
    kind, subtype = save["kind"], save["subtype"]
    k = len(save["qubits"])
    one = {
        # A matrix product state's statevector save is contracted: 2**n amplitudes, whatever the chain.
        "statevector": max(state, (1 << min(num_qubits, 62)) * 8),
        "matrix_product_state": state,
        "statevector_dict": (1 << num_qubits) * _DICT_ENTRY_BYTES,
        "probabilities": (1 << k) * 8,
        "probabilities_dict": (1 << k) * _DICT_ENTRY_BYTES,
        "density_matrix": (1 << (2 * k)) * 16,
        "unitary": state,
        "superop": state,
        "stabilizer": 4 * num_qubits * num_qubits + 64,
        "clifford": 4 * num_qubits * num_qubits + 64,
        "amplitudes": len(save["params"]) * 16,
        "amplitudes_sq": len(save["params"]) * 8,
    }.get(kind, 64)
    base = subtype.removeprefix("c_")
    count = shots if base == "list" else (2 if base in ("average", "accum") else 1)  # a sum and its update
    if subtype.startswith("c_"):
        count *= min(1 << min(num_clbits, 62), shots)  # one value per clbit outcome seen
    return one * count


def _copies_needed(exp: Experiment, shots: int) -> int:
    """Most branch copies a depth-first walk may hold: one per pending group (each has a shot).

    A measurement or reset leaves one group pending, as does a readout error on a
    mid-circuit measurement (its flipped shots); a noise channel of ``n`` operators
    leaves up to ``n - 1`` (noisy trajectories branch there).
    """
    ops = exp.ops
    opcodes = ops[:, COL_OPCODE]
    measures = (opcodes == OP_MEASURE) | (opcodes == OP_RESET)
    splits = int(measures.sum()) + int(((opcodes == OP_MEASURE) & (ops[:, COL_ARG2] > 0)).sum())
    channel_rows = opcodes == OP_CHANNEL
    if channel_rows.any():
        splits += int((exp.channels[ops[channel_rows, COL_ARG], CHAN_COUNT] - 1).sum())
    if not splits:
        return 0
    jumps = (opcodes == OP_JUMP) | (opcodes == OP_BRANCH)
    loops = bool((ops[jumps, COL_ARG] <= np.flatnonzero(jumps)).any())  # a backward jump: a loop
    return shots - 1 if loops else min(splits, shots - 1)


def _per_shot_bytes(exp: Experiment) -> int:
    """Bytes per shot with ``memory=True``: the outcome and the sampler's draws.

    With readout errors on final measurements, also each shot's bits, uniforms and flips
    (8 + 8 + 1 bytes per noisy bit).
    """
    noisy = int((exp.final_readout != -1).sum()) if exp.final_readout.size else 0
    return MEMORY_BYTES_PER_SHOT + (17 * noisy + 16 if noisy else 0)


def state_bytes(exp: Experiment, precision: str, max_bond: int = 0) -> int:
    """Bytes of one state of ``exp``'s method.

    A statevector holds ``2**n`` amplitudes, a density matrix and a unitary ``4**n`` (see
    ``aerdask_kernels.density`` and ``cpu.operator``), a superoperator ``16**n``, a
    stabilizer tableau ``2n + 1`` columns of ``2n`` bits (:mod:`aerdask_kernels.kernels.tableau`),
    and a matrix product state ``2 * left * right`` entries a site (:func:`mps_bonds`, bonds of at
    most ``max_bond``; 0: no limit).
    """
    n = exp.num_qubits
    if exp.method == "stabilizer":
        return (2 * n + 1) * max((2 * n + 63) // 64, 1) * 8
    if exp.method == "matrix_product_state":
        bonds = [1, *mps_bonds(exp, max_bond), 1]
        entries = sum(2 * bonds[i] * bonds[i + 1] for i in range(n))
        # A gate's block of k sites and its SVD's factors (two-site blocks: 4 * chi**2, three copies).
        return (entries + 12 * max(bonds) ** 2) * (8 if precision == "single" else 16)
    bits = n * {"density_matrix": 2, "unitary": 2, "superop": 4}.get(exp.method, 1)
    return (1 << bits) * (8 if precision == "single" else 16)


def mps_bonds(exp: Experiment, max_bond: int = 0) -> list[int]:
    """A bound on each of the ``n - 1`` bonds of ``exp``'s matrix product state, from its gates.

    A bond starts at 1; a gate of ``k`` qubits multiplies the bonds between its lowest and
    highest qubit by ``2**k`` (through the swaps that bring them together); a bond never
    exceeds ``2**min(left, right)`` (the qubits on either side) nor ``max_bond``. A set
    state or a loop (rows that may run again) takes the structural bound.
    """
    n = exp.num_qubits
    cap = [min(1 << min(b + 1, n - b - 1, 62), max_bond or 1 << 62) for b in range(n - 1)]
    if n < 2:
        return []
    ops = exp.ops
    codes = ops[:, COL_OPCODE]
    loops = bool(((codes == OP_JUMP) & (ops[:, COL_ARG] <= np.arange(ops.shape[0]))).any())
    if loops or (codes == OP_SET_STATE).any():
        return cap
    log_bond = np.zeros(n - 1, dtype=np.int64)  # log2 of each bond's bound
    width = ops[:, COL_NCTRL] + ops[:, COL_NTARG]
    for pc in np.flatnonzero(np.isin(codes, (OP_MATRIX, OP_DIAG, OP_STANDARD, OP_CHANNEL)) & (width > 1)).tolist():
        qoff, k = int(ops[pc, COL_QOFF]), int(width[pc])
        qubits = exp.qubits[qoff : qoff + k]
        log_bond[int(qubits.min()) : int(qubits.max())] += k
        np.minimum(log_bond, 62, out=log_bond)
    return [min(1 << int(b), c) for b, c in zip(log_bond.tolist(), cap, strict=True)]


def _mps_hint(exp: Experiment, options: dict) -> str:
    if exp.method != "matrix_product_state":
        return ""
    bonds = mps_bonds(exp, options.get("matrix_product_state_max_bond_dimension", 0))
    return (
        f"; its bonds may reach {max(bonds, default=1):,} (from its gates); "
        "set matrix_product_state_max_bond_dimension to bound them"
    )


def task_bytes(exp: Experiment, options: dict, shots: int) -> dict[str, int]:
    """Peak bytes of one task of ``exp`` running ``shots`` shots, by part.

    Returns:
        ``state`` (the state, the probabilities sampled from it and a Kraus split's scratch), ``saves``,
        ``memory`` (per-shot outcomes), ``copy`` (one branch copy) and ``copies``
        (branch copies an unlimited walk may keep).
    """
    state = state_bytes(exp, options["precision"], options.get("matrix_product_state_max_bond_dimension", 0))
    saves = sum(_save_bytes(s, exp.num_qubits, state, shots, exp.num_clbits) for s in exp.saves)
    # A Kraus channel's split holds every operator's output at once, for their norms.
    kraus = exp.channels[exp.channels[:, CHAN_KIND] == CHANNEL_KRAUS, CHAN_COUNT] if exp.channels.size else ()
    scratch = int(max(kraus, default=0)) * state
    if exp.method == "stabilizer":
        # The sampler's symbolic copy of the tableau, and a batch of shots' outcome words (drawn, then
        # sorted), or a batch of Pauli frames (aerdask_kernels.cpu: SAMPLE_BATCH, frames.BATCH_SHOTS).
        batch = min(shots, 1 << 16)
        sampled = 2 * state + 3 * batch * 8 * ((exp.num_qubits + 63) // 64 + 1)
    elif exp.method in ("unitary", "superop"):
        sampled = 0  # an operator is not sampled
    elif exp.method == "matrix_product_state":
        # A copy of the chain, and a batch of shots' left vectors and bits (aerdask_kernels.cpu.mps).
        batch = min(shots, 1 << 14)
        sampled = state + batch * (
            48 * max(mps_bonds(exp, options.get("matrix_product_state_max_bond_dimension", 0)) or [1]) + exp.num_qubits
        )
    else:
        sampled = (1 << exp.num_qubits) * 8  # the probabilities (a density matrix's diagonal)
    return {
        "state": state + sampled + scratch,
        "saves": saves,
        "memory": shots * _per_shot_bytes(exp) if options["memory"] else 0,
        "copy": state,
        "copies": _copies_needed(exp, shots),
    }


def output_bytes(program) -> int:
    """About how many bytes a task of ``program`` sends back: saves, per-shot memory and counts.

    The counts are bounded by the distinct outcomes (shots, or ``2**clbits``); a pickled
    ``{outcome: count}`` pair costs about 24 bytes.
    """
    total = 0
    for exp in program.experiments:
        points = len(exp.indices)
        state = state_bytes(
            exp, program.options["precision"], program.options.get("matrix_product_state_max_bond_dimension", 0)
        )
        saves = sum(_save_bytes(s, exp.num_qubits, state, exp.shots, exp.num_clbits) for s in exp.saves)
        outcomes = min(exp.shots, 1 << min(exp.num_clbits, 62))
        memory = exp.shots * 8 if program.options.get("memory") else 0
        total += points * (saves + memory + 24 * outcomes)
    return total


def client_memory() -> int:
    """Bytes available in this process's machine (where a sharded run gathers a saved statevector)."""
    return psutil.virtual_memory().available


def shard_places(workers: list[WorkerMemory], shards: int, shard_bytes: int) -> list:
    """The worker of each of ``shards`` shards: in turn over the workers with room, the roomiest first.

    Args:
        workers: What each worker offers (a worker's whole ``usable`` memory: a shard
            task runs beside the job's other shards there).
        shards: Shard count.
        shard_bytes: Bytes of one shard's amplitudes.

    Raises:
        CircuitTooLargeError: if the workers have room for fewer shards, with the bytes.
    """
    peak = SHARD_PEAK_STATES * shard_bytes
    room = {w.address: w.usable // peak for w in workers}
    if sum(room.values()) < shards:
        raise CircuitTooLargeError(
            f"{shards} shards of {shard_bytes:,} bytes need {peak:,} bytes each at their peak "
            f"({SHARD_PEAK_STATES} shards' worth during an exchange); the {len(workers)} workers "
            f"(usable {', '.join(f'{w.usable:,}' for w in workers)} bytes) have room for {sum(room.values())}"
        )
    order = sorted(workers, key=lambda w: -w.usable)
    places: list = []
    while len(places) < shards:
        for w in order:
            if room[w.address] > 0 and len(places) < shards:
                places.append(w.address)
                room[w.address] -= 1
    return places


class Admission:
    """Plans a job's experiments against its workers (see the module docs).

    Args:
        workers: What each worker offers.
        options: The run options (``precision``, ``memory``, ``shots``, ``max_shot_size``).
        program_options: The options the job's tasks carry; ``max_branch_copies`` is
            lowered here as experiments are admitted (tasks already made hold a cap
            that was safe for their own experiments).
        place_all: Give every task a :class:`Placement` (its peak), not only those that
            fit some workers: for a cluster with no worker yet, whose workers to come
            take only the tasks that fit them.
    """

    def __init__(self, workers: list[WorkerMemory], options: dict, program_options: dict, place_all: bool = False):
        self.workers = workers
        self.options = options
        self.program_options = program_options
        self.place_all = place_all
        self.placed: dict[int, Placement] = {}  # experiment number -> the workers it fits and its peak
        self._plans: dict[tuple, tuple] = {}

    def admit(self, exp: Experiment) -> None:
        """Check ``exp``; lower ``max_branch_copies`` if copies would not fit; note where it fits.

        With ``shards`` > 1, or ``None`` where no worker holds it, it is admitted sharded.

        Raises:
            CircuitTooLargeError: if neither one task nor the shards of it fit, with the bytes.
            AerdaskInputError: if it must be sharded but cannot be (see :meth:`admit_sharded`).
        """
        shards = self.options.get("shards")
        if shards is not None and shards > 1:
            self.admit_sharded(exp, shards)
            return
        try:
            self._admit_whole(exp)
        except CircuitTooLargeError:
            if shards is not None or not self.can_shard or exp.method != "statevector" or exp.noisy:
                raise  # only a noiseless statevector is split
            self.admit_sharded(exp, self._fewest_shards(exp))

    @property
    def can_shard(self) -> bool:
        """Whether an automatic split could help: the job runs on a cluster of several workers."""
        if self.options.get("device", "CPU") == "GPU":  # a GPU state stays on one GPU
            return False
        return len(self.workers) > 1 and all(w.address is not None for w in self.workers)

    def may_need_shards(self, widths: list[int]) -> bool:
        """Whether circuits of these widths might be sharded (before compiling: widths only).

        ``shards > 1`` always; ``None`` where a cluster cannot hold the widest state in one task.
        """
        shards = self.options.get("shards")
        if shards is not None:
            return shards > 1
        if not self.can_shard or not widths:
            return False
        state = (1 << max(widths)) * (8 if self.options["precision"] == "single" else 16)
        return state > max(w.per_task for w in self.workers)

    def _fewest_shards(self, exp: Experiment) -> int:
        """The fewest shards (a power of two) whose peaks fit the workers.

        Raises:
            CircuitTooLargeError: if none does (the cluster's memory is too small).
        """
        most = 1 << max(exp.num_qubits - max(max_needs(exp), 1), 1)  # each shard holds the widest gate
        shards = 2
        while True:
            try:
                shard_places(self.workers, shards, self._shard_bytes(exp, shards))
                return shards
            except CircuitTooLargeError:
                if shards >= most:
                    raise
                shards <<= 1

    def _shard_bytes(self, exp: Experiment, shards: int) -> int:
        return (1 << (exp.num_qubits - shard_bits(shards))) * (8 if self.options["precision"] == "single" else 16)

    def admit_sharded(self, exp: Experiment, shards: int) -> None:
        """Check that ``exp`` runs on ``shards`` shards that fit; the job's ``shards`` is the largest admitted.

        Raises:
            AerdaskInputError: for a noisy or density-matrix experiment, or shards that
                would hold fewer qubits than a gate of it mixes.
            CircuitTooLargeError: if the shards do not fit the workers.
        """
        if exp.noisy or exp.method != "statevector":
            raise AerdaskInputError(
                f"circuit {exp.name!r}: only the statevector method without noise runs sharded "
                f"(method {exp.method!r}{', with noise' if exp.noisy else ''}); set shards=1 or None"
            )
        local = exp.num_qubits - shard_bits(shards)
        if local < max(max_needs(exp), 1):
            raise AerdaskInputError(
                f"circuit {exp.name!r} has {exp.num_qubits} active qubits: {shards} shards would hold {local} "
                f"qubits each, but a gate of it mixes {max_needs(exp)}; use at most "
                f"{1 << max(exp.num_qubits - max(max_needs(exp), 1), 0)} shards"
            )
        shard_places(self.workers, shards, self._shard_bytes(exp, shards))
        gathered = [s for s in exp.saves if s["kind"] in ("statevector", "statevector_dict")]
        if gathered:  # the one save that brings the whole state to the client
            state = (1 << exp.num_qubits) * (8 if self.options["precision"] == "single" else 16)
            per_save = state * (_DICT_ENTRY_BYTES // 16 + 1 if gathered[0]["kind"] == "statevector_dict" else 2)
            available = client_memory()
            if per_save > available:
                raise CircuitTooLargeError(
                    f"circuit {exp.name!r} saves its statevector ({exp.num_qubits} qubits): a sharded run gathers it "
                    f"to this process, which needs about {per_save:,} bytes, but {available:,} are available here; "
                    "save probabilities, amplitudes or expectation values instead"
                )
        self.program_options["shards"] = max(self.program_options.get("shards", 1), shards)

    def _admit_whole(self, exp: Experiment) -> None:
        shots = min(exp.shots, self.options.get("max_shot_size") or exp.shots)
        # A batch repeats a few shapes: without saves, the plan depends on the width and shots only.
        key = None if exp.saves else (exp.num_qubits, exp.method, shots)
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._plan(exp, shots)
            if key is not None:
                self._plans[key] = plan
        fits, copies, fixed = plan
        if copies < shots - 1 and _copies_needed(exp, shots) > copies:  # the scan only where it can matter
            current = self.program_options.get("max_branch_copies", -1)
            self.program_options["max_branch_copies"] = copies if current < 0 else min(current, copies)
        if len(fits) < len(self.workers) or self.place_all:
            place = Placement(fits, fixed)
            for index in exp.indices.tolist():
                self.placed[index] = place

    def _plan(self, exp: Experiment, shots: int) -> tuple[tuple, int, int]:
        """The workers a task of ``exp`` fits, the branch copies they all have room for, and its peak."""
        need = task_bytes(exp, self.options, shots)
        fixed = need["state"] + need["saves"] + need["memory"]
        fits = [w for w in self.workers if fixed <= w.per_task]
        if not fits:
            best = max(self.workers, key=lambda w: w.per_task)
            raise CircuitTooLargeError(
                f"circuit {exp.name!r} has {exp.num_qubits} active qubits: one task needs {fixed:,} bytes "
                f"(state and sampling {need['state']:,}, saves {need['saves']:,}, per-shot memory "
                f"{need['memory']:,}) but {best.per_task:,} bytes are available per task (the largest worker's "
                f"usable memory {best.usable:,} shared by {best.threads} threads, or max_memory_mb)"
                + _mps_hint(exp, self.options)
            )
        return tuple(w.address for w in fits), min((w.per_task - fixed) // need["copy"] for w in fits), fixed

    def placement(self, program) -> Placement | None:
        """Where a task of ``program`` may run (``None``: any worker)."""
        if not self.placed:
            return None
        allowed: set | None = None
        peak = 0
        for exp in program.experiments:
            for index in exp.indices.tolist():
                place = self.placed.get(index)
                if place is not None:
                    allowed = set(place.workers) if allowed is None else allowed & set(place.workers)
                    peak = max(peak, place.task_bytes)
        return None if allowed is None else Placement(tuple(sorted(allowed)), peak)
