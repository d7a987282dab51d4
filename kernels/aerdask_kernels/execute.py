"""The function a worker runs: a :class:`Program` in, plain data out.

:func:`run_program` is module-level and imports only numpy and numba, so a Dask
worker needs nothing but this package. It prepares each point of each experiment
(binds its parameters, builds the matrices and fuses them: :mod:`.prepare`), runs
it, and returns one plain dict per point; the client turns them into a
``qiskit.result.Result``.

Shots are simulated as a tree: the state runs once until a measurement or reset
before the end; there the shots split between the two outcomes by a binomial
draw, and each outcome with shots continues on its own copy of the state
(depth first, so at most one copy per pending branch is alive). Past the
program's ``max_branch_copies``, a pending branch keeps only its path of outcomes
and its state is recomputed from the start when it runs: the same samples, in
the memory the client planned for. Measurements at
the end of the circuit are sampled from the final probabilities in one pass.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np

from . import density, readiness
from ._jit import is_interpreted, load_numba
from .blocking import plan_blocks
from .checkpoints import Checkpoints
from .classical import evaluate
from .gates import PARALLEL_MIN_SIZE
from .interpreter import CANCELLED, run_segment, run_segment_serial
from .measure import (
    collapse,
    expval_pauli,
    flip,
    marginal_probabilities,
    probability_one,
)
from .noise import Noise
from .opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_MOFF,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_CHANNEL,
    OP_CLASSICAL,
    OP_MEASURE,
    OP_RESET,
    OP_SAVE,
    OP_SET_STATE,
)
from .prepare import prepare_point
from .program import Experiment, Program
from .sampling import sample_indices

#: A path entry ``(row, READOUT_FLIP)``: the readout error of MEASURE ``row`` flipped its bit.
READOUT_FLIP = -2

__all__ = [
    "run_program",
    "run_experiment",
    "JobCancelledError",
    "ExperimentError",
    "experiment_rng",
    "experiment_seed",
]

#: Amplitudes and probabilities below this are left out of ``*_dict`` saves (Aer's ``zero_threshold``).
ZERO_THRESHOLD = 1e-10


class JobCancelledError(Exception):
    """The job's cancel flag was set while it ran."""


class ExperimentError(RuntimeError):
    """An experiment failed on the worker; names it and keeps the results done before it.

    Attributes:
        index: Input position of the failed experiment.
        name: Its circuit name.
        partial: Plain results of the experiments of the same task that finished first.

    """

    def __init__(self, message: str, index: int = -1, name: str = "", partial: list | None = None):
        super().__init__(message)
        self.index = index
        self.name = name
        self.partial = partial or []

    def __reduce__(self):  # keep the fields across pickling (Dask ships exceptions)
        return (type(self), (self.args[0], self.index, self.name, self.partial))


def experiment_seed(seed: int, index: int) -> int:
    """Experiment ``index``'s seed in a job seeded ``seed``: ``seed + index`` (mod 2**63), as Aer.

    So experiment ``i`` of a job and experiment 0 of a job seeded with the ``i``-th
    result's ``seed_simulator`` sample the same outcomes.
    """
    return (seed + index) % (1 << 63)


def experiment_rng(seed: int, seed_key: tuple) -> np.random.Generator:
    """The generator of a point with ``seed_key`` ``(index,)`` or ``(index, shot_chunk)``: PCG64.

    Seeded by ``SeedSequence(experiment_seed(seed, index), spawn_key=(shot_chunk,))``.
    """
    key = tuple(seed_key)
    sequence = np.random.SeedSequence(experiment_seed(seed, key[0]), spawn_key=key[1:])
    return np.random.Generator(np.random.PCG64(sequence))


def run_program(program: Program, cancel_flag: np.ndarray | None = None) -> list[dict]:
    """Run every point of every experiment of ``program``, in order.

    Args:
        program: The program; validated here first (kernels index arrays without
            bounds checks, so nothing malformed may reach them).
        cancel_flag: uint8, shape ``(1,)``; set element 0 from another thread to stop.

    Returns:
        One dict per point (see :func:`run_experiment`).

    Raises:
        QobjValidationError: if the program is malformed or of another format version.
        GpuUnavailableError: for a ``device="GPU"`` program in a process without a usable GPU.
        ValueError: for a ``device="GPU"`` program the GPU cannot run (noise, density
            matrices, shards: :func:`.gpu.walk.gpu_compatibility`).
        JobCancelledError: if the flag was set.
        ExperimentError: if a point failed; it names the experiment and keeps the
            results of the points before it.

    """
    if program.options.get("device", "CPU") == "GPU":
        from .gpu import run_program as run_on_gpu  # numba.cuda loads only here

        return run_on_gpu(program, cancel_flag)
    if cancel_flag is None:
        cancel_flag = np.zeros(1, dtype=np.uint8)
    program.validate()
    # Python kernels while a small program's compiled ones are not ready here (see .readiness).
    with readiness.kernels_for(program) as python:
        results = _run_validated(program, cancel_flag)
    for result in results:
        result["kernels"] = "python" if python else "compiled"
    return results


def _run_validated(program: Program, cancel_flag: np.ndarray, run=None) -> list[dict]:
    """Each point prepared and run by ``run(prepared, options, cancel_flag)`` (:func:`run_experiment`)."""
    run = run or run_experiment
    options = program.options
    fusion = options.get("fusion_enable", True)
    results: list[dict] = []
    with _thread_share(options["max_parallel_threads"]) as threads:
        for exp in program.experiments:
            prepared = None  # without expressions, every point runs the same rows: prepare them once
            for point in range(exp.num_points):
                index = int(exp.indices[point])
                try:
                    if exp.parameterized or prepared is None:
                        prepared = prepare_point(exp, point, fusion)
                    else:
                        prepared = prepared.replace(indices=exp.indices[point : point + 1])
                    results.append(run(prepared, options, cancel_flag))
                except JobCancelledError:
                    raise
                except Exception as exc:
                    raise ExperimentError(
                        f"experiment {index} ({exp.name!r}) failed: {type(exc).__name__}: {exc}",
                        index,
                        exp.name,
                        results,
                    ) from exc
                results[-1]["threads"] = threads
    return results


_active_lock = threading.Lock()
_active_tasks = 0


@contextlib.contextmanager
def _thread_share(requested: int):
    """Set this thread's Numba thread count for one task, without oversubscribing.

    ``requested`` (``max_parallel_threads``) wins when non-zero. Otherwise the cores
    are shared among the tasks running in this process at the start of this one,
    and capped by ``OMP_NUM_THREADS`` when set (Dask's nanny sets it to 1 for its
    workers, whose parallelism is the number of worker threads).
    """
    global _active_tasks
    if is_interpreted():  # Python kernels: one thread, and no Numba to load
        yield 1
        return
    numba = load_numba()
    cores = numba.config.NUMBA_NUM_THREADS
    with _active_lock:
        _active_tasks += 1
        share = max(1, cores // _active_tasks)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        share = min(share, int(omp))
    threads = min(requested, cores) if requested else share
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)
        with _active_lock:
            _active_tasks -= 1


def run_experiment(exp: Experiment, options: dict, cancel_flag: np.ndarray) -> dict:
    """Simulate the first point of a prepared experiment (see :func:`.prepare.prepare_point`).

    Returns:
        dict with ``index``, ``name``, ``shots``, ``seed_simulator``, ``seed_key``,
        ``outcomes`` and ``counts`` (the clbit values seen, ascending, and how often:
        arrays of the narrowest unsigned type; past 62 clbits the outcomes are an
        object array of ints),
        ``memory`` (per-shot clbit values, an array like ``outcomes``; with
        ``memory_format="bits"`` a uint8 array of shape ``(shots, bytes)``, big-endian;
        ``None`` without ``memory``), ``saves`` (``{label: value}``), ``save_weights``
        (shots behind each averaged save, to merge shot chunks), ``time_taken`` (s),
        ``branch_copies`` (most state copies held at once for pending branches) and
        ``branch_replays`` (branches whose state was recomputed, past
        ``max_branch_copies``). Outcomes travel as numbers: the client formats only
        what is read.

    Raises:
        JobCancelledError: if ``cancel_flag[0]`` was set.

    """
    start = time.perf_counter()
    dtype = np.complex64 if options["precision"] == "single" else np.complex128
    rng = experiment_rng(options["seed_simulator"], exp.seed_key(0))
    walker = _Walker(exp, dtype, options["memory"], rng, cancel_flag, options.get("blocking_qubits", -1))
    walker.saves.zero_threshold = options.get("zero_threshold", ZERO_THRESHOLD)
    # Past the copies the client planned for, pending branches (outcomes, noise groups, readout
    # flips) wait as their paths and are recomputed when their turn comes.
    walker.max_copies = options.get("max_branch_copies", -1)
    walker.run()
    return walker_result(walker, options, start)


def walker_result(walker, options: dict, start: float) -> dict:
    """The plain result of a finished walk (see :func:`run_experiment`); ``start``: its ``perf_counter``."""
    exp = walker.exp
    outcomes, counts = walker.histogram()
    return {
        "index": exp.index,
        "name": exp.name,
        "shots": exp.shots,
        "seed_simulator": experiment_seed(options["seed_simulator"], exp.index),
        "seed_key": list(exp.seed_key(0)),
        "outcomes": outcomes,
        "counts": counts,
        "memory": walker.memory(options.get("memory_format", "hex")),
        "saves": walker.saves.finish(),
        "save_weights": walker.saves.weights(),
        "time_taken": time.perf_counter() - start,
        "branch_copies": walker.peak_copies,
        "branch_replays": walker.replays,
    }


class _Walker:
    """Walks the branch tree of one experiment and collects outcomes.

    What it does to a state goes through a few methods (``_fresh``, ``_segment``,
    ``_probability_one``, ``_settle``, ``_set_state``, ``_sample`` and the save
    collector's ``value``), so that a sharded state (:mod:`.sharded`) walks the same
    tree and draws the same random numbers.
    """

    def __init__(self, exp: Experiment, dtype, memory: bool, rng, cancel_flag, blocking_qubits: int = -1):
        self.exp = exp
        self.dtype = dtype
        self.rng = rng
        self.cancel_flag = cancel_flag
        self.want_memory = memory
        self.matrices = exp.matrices.astype(dtype, copy=False)
        plan = plan_blocks(exp, blocking_qubits)
        self.plan = (plan.entry, plan.runs, plan.steps, plan.pool, plan.positions)
        # Small states with no cache blocks take the serial interpreter, which compiles
        # far faster (it matters for the first job on a machine; see _jit.serial_variant).
        small = (1 << exp.num_qubits) < PARALLEL_MIN_SIZE and plan.runs.shape[0] == 0
        self.segment = run_segment_serial if small else run_segment
        self.counts: dict[int, int] = {}
        self.memory_parts: list[np.ndarray] = []
        self.max_copies = -1  # state copies kept for pending branches (-1: no limit); beyond it, replays
        self.copies = self.peak_copies = self.replays = 0
        self.saves = self._new_saves(exp)
        self.noise = Noise(exp, dtype, rng) if exp.noisy else None
        self.density = exp.method == density.DENSITY_MATRIX
        self.checkpoints = None
        if self.noise is not None and not self.density and self.noise.skip_ahead:
            self.checkpoints = Checkpoints.build(exp, dtype, blocking_qubits)
        self.saves.density = self.density

    def _new_saves(self, exp: Experiment):
        return _SaveCollector(exp)

    def run(self) -> None:
        exp = self.exp
        stack = [(0, self._fresh(), np.zeros(max(exp.num_clbits + exp.num_vars, 1), dtype=np.int8), exp.shots, ())]
        while stack:
            pc, state, creg, shots, path = stack.pop()
            if state is None:  # a branch kept as its path of outcomes: recompute its state
                state, creg = self._replay(path)
            elif pc > 0:  # a copy made at a split (the first entry, at op 0, is the start state)
                self.copies -= 1
            self._walk(pc, state, creg, shots, list(path), stack)

    def _fresh(self) -> np.ndarray:
        state = np.zeros(1 << self.exp.num_qubits, dtype=self.dtype)
        state[0] = 1
        return state

    def _segment(self, state, creg, pc: int, stop: int = 0) -> int:
        exp = self.exp
        pc = self.segment(state, exp.ops, exp.qubits, self.matrices, creg, pc, self.cancel_flag, self.plan, stop)
        if pc == CANCELLED:
            raise JobCancelledError("job cancelled while running")
        return pc

    def _advance(self, state, creg, pc: int, stop: int, level: int | None = None) -> int:
        """:meth:`_segment` from ``pc`` with ``stop``, through the fused copies between checkpoints.

        The coarsest copy with two checkpoints in ``[pc, stop]`` runs between them; the
        stretches before and after go to the finer copies, the exact rows last.
        """
        fast = self.checkpoints
        if fast is None:
            return self._segment(state, creg, pc, stop)
        if level is None:
            level = len(fast.levels) - 1
        while level >= 0:
            copy = fast.levels[level]
            span = copy.span(pc, stop)
            if span is not None:
                first, last = span
                self._advance(state, creg, pc, int(copy.exact[first]), level - 1)  # ends at that checkpoint
                small = (1 << self.exp.num_qubits) < PARALLEL_MIN_SIZE and copy.plan[1].shape[0] == 0
                segment = run_segment_serial if small else run_segment
                start, end = int(copy.fast[first]), int(copy.fast[last])
                args = (copy.ops, copy.qubits, copy.matrices, creg, start, self.cancel_flag, copy.plan, end)
                if segment(state, *args) == CANCELLED:
                    raise JobCancelledError("job cancelled while running")
                return self._advance(state, creg, int(copy.exact[last]), stop, level - 1)
            level -= 1
        return self._segment(state, creg, pc, stop)

    def _classical_step(self, opcode, pc: int, state, creg) -> bool:
        """Run a CLASSICAL or SET_STATE row; False for any other row."""
        exp = self.exp
        if opcode == OP_CLASSICAL:
            value = evaluate(exp.classical[exp.ops[pc, COL_ARG]], creg)
            qoff = exp.ops[pc, COL_QOFF]
            for i, bit in enumerate(exp.qubits[qoff : qoff + exp.ops[pc, COL_NTARG]].tolist()):
                creg[bit] = (value >> i) & 1
            return True
        if opcode == OP_SET_STATE:
            moff = exp.ops[pc, COL_MOFF]
            self._set_state(state, self.matrices[moff : moff + (1 << exp.num_qubits)])
            return True
        return False

    def _set_state(self, state, amplitudes: np.ndarray) -> None:
        """Replace the amplitudes of ``state`` (a SET_STATE row)."""
        state[:] = amplitudes

    def _walk(self, pc, state, creg, shots, path: list, stack) -> None:
        exp = self.exp
        n_ops = exp.ops.shape[0]
        noise = self.noise
        stop = noise.next_stop(pc, shots) if noise is not None else 0
        while True:
            pc = self._advance(state, creg, pc, stop)
            if pc >= n_ops:
                self._leaf(state, creg, shots)
                return
            opcode, qoff, arg = exp.ops[pc, COL_OPCODE], exp.ops[pc, COL_QOFF], exp.ops[pc, COL_ARG]
            if opcode == OP_CHANNEL:
                # The larger groups wait (with a state copy while the budget lasts, else as their
                # path); this walk goes on with the smallest, whose subtree is small: few wait at once.
                groups = noise.split(pc, state, shots, self._reserve)
                for count, operator, other in groups[:-1]:
                    entry = (*path, (pc, operator))
                    stack.append((pc + 1, other, None if other is None else creg.copy(), count, entry))
                shots, operator, state = groups[-1]
                path.append((pc, operator))
                pc += 1
                stop = noise.next_stop(pc, shots)
                continue
            if opcode == OP_SAVE:
                self.saves.record(int(arg), state, creg, shots)
                pc += 1
                continue
            if self._classical_step(opcode, pc, state, creg):
                pc += 1
                continue
            qubit = int(exp.qubits[qoff])
            p1 = self._probability_one(state, qubit)
            ones = int(self.rng.binomial(shots, p1))
            if 0 < ones < shots:
                # Both outcomes happen: the 1-branch waits on the stack, with its own copy of
                # the state while copies fit (max_branch_copies), else as its path of outcomes.
                state1 = creg1 = None
                if self._reserve():
                    state1, creg1 = state.copy(), creg.copy()
                    self._settle(opcode, qubit, arg, 1, p1, state1, creg1)
                ones, flipped = self._readout(pc, 1, state1, creg1, ones, stack, (*path, 1))
                stack.append((pc + 1, state1, creg1, ones, (*path, 1, *flipped)))
                shots -= ones
                outcome = 0
            else:
                outcome = 1 if ones else 0
            self._settle(opcode, qubit, arg, outcome, p1 if outcome else 1.0 - p1, state, creg)
            shots, flipped = self._readout(pc, outcome, state, creg, shots, stack, (*path, outcome))
            path.append(outcome)
            path.extend(flipped)
            pc += 1
            if noise is not None:
                stop = noise.next_stop(pc, shots)

    def _reserve(self) -> bool:
        """Take a state copy for a pending branch if ``max_branch_copies`` allows; False: it is replayed."""
        if self.max_copies < 0 or self.copies < self.max_copies:
            self.copies += 1
            self.peak_copies = max(self.peak_copies, self.copies)
            return True
        return False

    def _readout(self, pc: int, outcome: int, state, creg, shots: int, stack, prefix: tuple) -> tuple[int, tuple]:
        """Flip the recorded bit of some of ``shots`` (a readout error).

        The flipped ones go on as a group of their own (same state, other clbit), with a
        copy or, past the budget (or when ``state`` is ``None``: a branch to be replayed), as
        their path ``prefix`` and the flip.

        Returns:
            The shots left as they are, and the path entries to add when all of them flipped.
        """
        readout = int(self.exp.ops[pc, COL_ARG2]) - 1
        if readout < 0 or self.exp.ops[pc, COL_OPCODE] != OP_MEASURE:
            return shots, ()
        clbit = int(self.exp.ops[pc, COL_ARG])
        flips = self.noise.flips(readout, outcome, shots)
        flip = (pc, READOUT_FLIP)
        if flips == shots:
            if creg is not None:
                creg[clbit] = 1 - outcome
            return shots, (flip,)
        if flips:
            if state is not None and self._reserve():
                flipped = creg.copy()
                flipped[clbit] = 1 - outcome
                stack.append((pc + 1, state.copy(), flipped, flips, (*prefix, flip)))
            else:
                stack.append((pc + 1, None, None, flips, (*prefix, flip)))
            return shots - flips, ()
        return shots, ()

    def _replay(self, path: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The state and clbits after ``path``, recomputed from the start.

        ``path`` holds the outcome (0 or 1) of each measurement or reset in order, and
        ``(row, operator)`` for each CHANNEL row where the shots split (operator ``-1``:
        a mixture's identity; ``(row, READOUT_FLIP)``: the readout error flipped that
        measurement's bit); the CHANNEL rows not in it applied their identity. Saves are skipped: the branches
        that shared this prefix recorded them with these shots included. No random
        number is drawn, so the seeded stream is the one the branch would have seen
        with a copy.
        """
        exp = self.exp
        state = self._fresh()
        creg = np.zeros(max(exp.num_clbits + exp.num_vars, 1), dtype=np.int8)
        after = exp.ops.shape[0] if self.noise is not None else 0  # channel rows not in the path: identity
        pc = 0
        for entry in path:
            channel = isinstance(entry, tuple)
            if channel and entry[1] == READOUT_FLIP:
                clbit = int(exp.ops[entry[0], 6])
                creg[clbit] = 1 - creg[clbit]
                continue
            while True:
                pc = self._segment(state, creg, pc, entry[0] if channel else after)
                opcode = exp.ops[pc, COL_OPCODE]
                if opcode != OP_SAVE and not self._classical_step(opcode, pc, state, creg):
                    break
                pc += 1
            if channel:
                if entry[1] >= 0:  # -1: a mixture's identity (the entry says where the branch went on)
                    self.noise.apply(pc, entry[1], state)
            else:
                qubit = int(exp.qubits[exp.ops[pc, COL_QOFF]])
                p1 = self._probability_one(state, qubit)
                self._settle(opcode, qubit, exp.ops[pc, COL_ARG], entry, p1 if entry else 1.0 - p1, state, creg)
            pc += 1
        self.replays += 1
        return state, creg

    def _probability_one(self, state, qubit: int) -> float:
        p1 = density.probability_one(state, qubit) if self.density else probability_one(state, qubit)
        return min(max(p1, 0.0), 1.0)

    def _settle(self, opcode, qubit, clbit, outcome, probability, state, creg) -> None:
        # A density matrix has no RESET rows (they are channels there): only measurements collapse it.
        (density.collapse if self.density else collapse)(state, qubit, outcome, probability)
        if opcode == OP_MEASURE:
            creg[clbit] = outcome
        elif opcode == OP_RESET and outcome:
            flip(state, qubit)

    def _leaf(self, state, creg, shots) -> None:
        exp = self.exp
        base = 0
        for bit in np.flatnonzero(creg[: exp.num_clbits]):
            base |= 1 << int(bit)
        if exp.final_qubits.size == 0:
            self._add(np.array([base], dtype=object), np.array([shots], dtype=np.int64), None)
            return
        if self.density:
            # The sampler reads |a|**2: the square roots of the diagonal give the outcome probabilities.
            state = np.sqrt(density.diagonal(state)).astype(self.dtype)
        indices, counts, per_shot = self._sample(state, shots)
        values = self._clbit_values(base, indices)
        # Different basis states can give the same clbits (unmeasured qubits): merge them.
        values, inverse = np.unique(values, return_inverse=True)
        merged = np.zeros(values.size, dtype=np.int64)
        np.add.at(merged, inverse, counts)  # in integers: float weights would round counts past 2**53
        if per_shot is not None:
            per_shot = inverse[np.searchsorted(indices, per_shot)]
        if self.exp.final_readout.size:
            values, merged, per_shot = self.noise.final_readout(values, merged, per_shot)
        self._add(values, merged, per_shot)

    def _sample(self, state, shots: int):
        """``(indices, counts, per_shot)`` of ``shots`` draws from ``state`` (see :func:`.sampling.sample_indices`)."""
        return sample_indices(state, shots, self.rng, self.want_memory)

    def _clbit_values(self, base: int, indices: np.ndarray) -> np.ndarray:
        """Clbit register values (int64, or Python ints past 62 clbits) for basis-state indices."""
        exp = self.exp
        pairs = list(zip(exp.final_qubits.tolist(), exp.final_clbits.tolist(), strict=True))
        # Final measurements overwrite their clbits on top of the mid-circuit ones.
        keep = base & ~sum(1 << c for c in set(exp.final_clbits.tolist()))
        if exp.num_clbits <= 62:
            values = np.full(indices.shape, keep, dtype=np.int64)
            for qubit, clbit in pairs:
                values |= ((indices >> qubit) & 1) << clbit
            return values
        out = []
        for index in indices.tolist():
            value = keep
            for qubit, clbit in pairs:
                value |= ((index >> qubit) & 1) << clbit
            out.append(value)
        return np.array(out, dtype=object)

    def _add(self, values, counts, inverse) -> None:
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            if count:
                self.counts[value] = self.counts.get(value, 0) + count
        if self.want_memory:
            self.memory_parts.append(values[inverse] if inverse is not None else np.repeat(values, counts))

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """The outcomes seen, ascending, and their counts.

        Both travel to the client in the narrowest unsigned type that holds them
        (outcomes past 62 clbits as Python ints): a batch's results are mostly these.
        """
        items = sorted(self.counts.items())
        outcomes = np.array([k for k, _ in items], dtype=_value_dtype(self.exp.num_clbits))
        return outcomes, np.array([v for _, v in items], dtype=np.min_scalar_type(self.exp.shots))

    def memory(self, fmt: str = "hex"):
        """Per-shot outcomes in a seeded random order, or ``None`` without memory.

        Args:
            fmt: ``"hex"`` for the clbit values (int64, or objects past 62 clbits),
                which the client shows as hex strings; ``"bits"`` for a uint8 array of
                shape ``(shots, ceil(num_clbits / 8))``, big-endian (clbit 0 is the
                lowest bit of the last byte, as ``qiskit.primitives.BitArray`` stores it).
        """
        if not self.want_memory:
            return None
        mem = np.concatenate(self.memory_parts) if self.memory_parts else np.zeros(0, dtype=object)
        if len(self.memory_parts) > 1:
            # Branches are visited depth first; shuffle so the shot order carries no structure.
            mem = mem[self.rng.permutation(mem.size)]
        if fmt == "bits":
            return _packed_bits(mem, self.exp.num_clbits)
        return mem.astype(_value_dtype(self.exp.num_clbits))


def _value_dtype(num_clbits: int):
    """The narrowest unsigned dtype for clbit register values (``object`` past 62 clbits, as simulated)."""
    return object if num_clbits > 62 else np.min_scalar_type((1 << num_clbits) - 1 if num_clbits else 0)


def _packed_bits(values: np.ndarray, num_clbits: int) -> np.ndarray:
    """Register values as big-endian bytes: uint8, shape ``(len(values), ceil(num_clbits / 8))``."""
    width = (num_clbits + 7) // 8
    if values.dtype != object and width <= 8:
        return np.ascontiguousarray(values.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - width :])
    return np.frombuffer(b"".join(int(v).to_bytes(width, "big") for v in values), dtype=np.uint8).reshape(-1, width)


class _SaveCollector:
    """Accumulates save instructions over branches by Aer's subtypes."""

    def __init__(self, exp: Experiment):
        self.exp = exp
        self.data: dict[str, object] = {}
        self.zero_threshold = ZERO_THRESHOLD
        self.density = False  # the state is a vectorised density matrix (:mod:`.density`)

    def record(self, index: int, state, creg, shots: int) -> None:
        spec = self.exp.saves[index]
        value = self.value(spec, state)
        subtype, label = spec["subtype"], spec["label"]
        if subtype.startswith("c_"):
            key = hex(sum(1 << int(b) for b in np.flatnonzero(creg[: self.exp.num_clbits])))
            slot = self.data.setdefault(label, {})
            _accumulate(slot, key, subtype[2:], value, shots)
        else:
            _accumulate(self.data, label, subtype, value, shots)

    def value(self, spec: dict, state):
        """What save ``spec`` records for ``state`` (one branch's value)."""
        if self.density:
            return _density_save_value(spec, state, self.zero_threshold)
        return _save_value(spec, state, self.zero_threshold)

    def weights(self) -> dict:
        """Shots behind each averaged value: ``{label: n}`` or ``{label: {key: n}}``."""
        out = {}
        for spec in self.exp.saves:
            label, subtype = spec["label"], spec["subtype"]
            if label in self.data and subtype in ("average", "accum"):
                out[label] = self.data[label][1]
            elif label in self.data and subtype in ("c_average", "c_accum"):
                out[label] = {k: v[1] for k, v in self.data[label].items()}
        return out

    def finish(self) -> dict:
        out = {}
        for spec in self.exp.saves:
            label, subtype = spec["label"], spec["subtype"]
            if label not in self.data:
                continue
            value = self.data[label]
            if subtype == "average":
                value = _divide(*value)
            elif subtype == "c_average":
                value = {k: _divide(*v) for k, v in value.items()}
            elif subtype == "accum":
                value = value[0]
            elif subtype == "c_accum":
                value = {k: v[0] for k, v in value.items()}
            out[label] = value
        return out


def _divide(total, shots: int):
    if isinstance(total, dict):
        return {k: v / shots for k, v in total.items()}
    return total / shots


def _accumulate(slot: dict, key: str, subtype: str, value, shots: int) -> None:
    if subtype == "single":
        slot.setdefault(key, value)  # the first branch (all outcomes 0 first) wins, as one shot would
    elif subtype == "list":
        slot.setdefault(key, []).extend([value] * shots)
    else:  # average / accum: weighted sums, divided by the shots at the end
        if isinstance(value, dict):
            value = {k: v * shots for k, v in value.items()}
        else:
            value = value * shots
        if key in slot:
            old, n = slot[key]
            if isinstance(value, dict):
                for k, v in value.items():
                    old[k] = old.get(k, 0) + v
                slot[key] = (old, n + shots)
            else:
                slot[key] = (old + value, n + shots)
        else:
            slot[key] = (value, shots)


def _save_value(spec: dict, state: np.ndarray, zero_threshold: float = ZERO_THRESHOLD, expval=expval_pauli):
    kind = spec["kind"]
    qubits = np.asarray(spec["qubits"], dtype=np.int64)
    if kind == "statevector":
        return state.copy()
    if kind == "statevector_dict":
        idx = np.flatnonzero(np.abs(state) > zero_threshold)
        return {hex(int(i)): complex(state[i]) for i in idx}
    if kind in ("probabilities", "probabilities_dict"):
        probs = marginal_probabilities(state, qubits)
        if kind == "probabilities":
            return probs
        return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
    if kind == "density_matrix":
        return reduced_density_matrix(state, qubits)
    if kind == "expval_var":  # params: [label, coefficient in H, coefficient in H**2]
        mean = _expectation([(label, c1) for label, c1, _ in spec["params"]], qubits, state, expval)
        square = _expectation([(label, c2) for label, _, c2 in spec["params"]], qubits, state, expval)
        return np.array([mean, square - mean * mean], dtype=np.float64)
    if kind == "amplitudes":
        return state[np.asarray(spec["params"], dtype=np.int64)].astype(np.complex128)
    if kind == "amplitudes_sq":
        amps = state[np.asarray(spec["params"], dtype=np.int64)]
        return (amps.real.astype(np.float64) ** 2) + (amps.imag.astype(np.float64) ** 2)
    if kind == "expval":
        return _expectation(spec["params"], qubits, state, expval)
    if kind == "expvals":  # several observables on the same qubits (the estimator's)
        return np.array([_expectation(terms, qubits, state, expval) for terms in spec["params"]], dtype=np.float64)
    raise ValueError(f"unknown save kind {kind!r}")


def _density_save_value(spec: dict, state: np.ndarray, zero_threshold: float):
    """A save's value on a vectorised density matrix (no amplitude saves: validation refuses them)."""
    kind = spec["kind"]
    qubits = np.asarray(spec["qubits"], dtype=np.int64)
    if kind == "density_matrix":
        return density.reduced(state, qubits)
    if kind in ("expval", "expvals", "expval_var"):
        return _save_value(spec, state, zero_threshold, expval=density.expval_pauli)
    # Probabilities and squared amplitudes: those of the amplitudes sqrt(rho[i, i]).
    return _save_value(spec, np.sqrt(density.diagonal(state)).astype(np.complex128), zero_threshold)


def reduced_density_matrix(state: np.ndarray, qubits: np.ndarray) -> np.ndarray:
    """The density matrix of ``qubits`` (the rest traced out): complex128, ``(2**k, 2**k)``.

    ``qubits[0]`` is the least significant bit of the row index, as Qiskit orders them.
    """
    n = state.size.bit_length() - 1
    k = qubits.size
    # Axis a of the tensor is qubit n - 1 - a. Put the kept qubits last, most significant first.
    keep = [n - 1 - int(q) for q in qubits[::-1]]
    rest = [a for a in range(n) if a not in keep]
    psi = np.transpose(state.astype(np.complex128).reshape((2,) * n), rest + keep).reshape(-1, 1 << k)
    return psi.T @ psi.conj()


def _expectation(terms: list, qubits: np.ndarray, state: np.ndarray, expval=expval_pauli) -> float:
    total = 0.0
    for label, coeff in terms:
        x_mask = z_mask = num_y = 0
        # Pauli labels are big-endian: the last character acts on the instruction's first qubit.
        for pos, char in enumerate(reversed(label)):
            bit = 1 << int(qubits[pos])
            if char in "XY":
                x_mask |= bit
            if char in "ZY":
                z_mask |= bit
            num_y += char == "Y"
        total += float(coeff) * expval(state, x_mask, z_mask, num_y)
    return total
