"""The walk of one experiment point: the tree of its branches, over any :class:`.engine.Engine`.

Shots are simulated as a tree: the state runs once until a measurement or reset
before the end; there the shots split between the two outcomes by a binomial
draw, and each outcome with shots continues on its own copy of the state
(depth first, so at most one copy per pending branch is alive). Past the
program's ``max_branch_copies``, a pending branch keeps only its path of outcomes
and its state is recomputed from the start when it runs: the same samples, in
the memory the client planned for. Noise channels split the shots the same way
(by operator), and readout errors by flipped bits. Measurements at the end of the
circuit are sampled from the final probabilities in one pass.

The walker draws every random number, in one order, whatever the engine: so a
seeded run gives the same counts on every engine that holds the same state.
"""

from __future__ import annotations

import time

import numpy as np

from ..format.chain import unpack_chain
from ..format.classical import evaluate
from ..opcodes import (
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
    SET_CHAIN,
)
from .engine import Engine
from .noise import Noise
from .saves import ZERO_THRESHOLD, SaveCollector
from .seeds import experiment_seed

__all__ = ["Walker", "READOUT_FLIP"]

#: A path entry ``(row, READOUT_FLIP)``: the readout error of MEASURE ``row`` flipped its bit.
READOUT_FLIP = -2


class Walker:
    """Walks the branch tree of one experiment point on ``engine`` and collects its outcomes.

    Args:
        exp: The prepared point (:func:`.prepare.prepare_point`).
        engine: Holds the states (see :class:`.engine.Engine`).
        rng: The point's generator (:func:`.seeds.experiment_rng`); every draw of the walk.
        memory: Keep each shot's outcome (``memory=True``).
        max_copies: State copies kept at once for pending branches (-1: no limit);
            past it, pending branches wait as their paths and are replayed.
        zero_threshold: Passed to the engine's save values (Aer's ``zero_threshold``).

    Attributes:
        peak_copies: Most state copies held at once for pending branches.
        replays: Branches whose state was recomputed from the start.
    """

    def __init__(
        self,
        exp,
        engine: Engine,
        rng: np.random.Generator,
        memory: bool = False,
        max_copies: int = -1,
        zero_threshold: float = ZERO_THRESHOLD,
    ):
        self.exp = exp
        self.engine = engine
        self.rng = rng
        self.want_memory = memory
        self.counts: dict[int, int] = {}
        self.memory_parts: list[np.ndarray] = []
        self.max_copies = max_copies
        self.copies = self.peak_copies = self.replays = 0
        self.saves = SaveCollector(exp, lambda spec, state: engine.save_value(spec, state, zero_threshold))
        self.noise = Noise(exp, engine.dtype, rng, engine) if exp.noisy else None

    def run(self) -> None:
        """Walk every branch to its leaf: counts, memory and saves collected (see :meth:`result`)."""
        exp = self.exp
        batches = self.engine.sample_experiment(self.rng, exp.shots)
        if batches is not None:  # the engine samples every shot itself (no saves, no feedback)
            for registers in batches:
                values, inverse = np.unique(registers, return_inverse=True)
                counts = np.bincount(inverse.ravel(), minlength=values.size).astype(np.int64)
                per_shot = inverse.ravel() if self.want_memory else None
                if exp.final_readout.size:
                    values, counts, per_shot = self.noise.final_readout(values, counts, per_shot)
                self._add(values, counts, per_shot)
            return
        creg = np.zeros(max(exp.num_clbits + exp.num_vars, 1), dtype=np.int8)
        stack = [(0, self.engine.fresh(), creg, exp.shots, ())]
        while stack:
            pc, state, creg, shots, path = stack.pop()
            if state is None:  # a branch kept as its path of outcomes: recompute its state
                state, creg = self._replay(path)
            elif pc > 0:  # a copy made at a split (the first entry, at op 0, is the start state)
                self.copies -= 1
            self._walk(pc, state, creg, shots, list(path), stack)

    def _walk(self, pc, state, creg, shots, path: list, stack) -> None:
        exp = self.exp
        n_ops = exp.ops.shape[0]
        noise = self.noise
        stop = noise.next_stop(pc, shots) if noise is not None else 0
        while True:
            pc = self.engine.advance(state, creg, pc, stop)
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
                    state1, creg1 = self.engine.copy(state), creg.copy()
                    self._settle(opcode, qubit, arg, 1, p1, state1, creg1)
                shots -= ones  # all of the 1-branch's shots, before its readout flips split it
                ones, flipped = self._readout(pc, 1, state1, creg1, ones, stack, (*path, 1))
                stack.append((pc + 1, state1, creg1, ones, (*path, 1, *flipped)))
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
                stack.append((pc + 1, self.engine.copy(state), flipped, flips, (*prefix, flip)))
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
        state = self.engine.fresh()
        creg = np.zeros(max(exp.num_clbits + exp.num_vars, 1), dtype=np.int8)
        after = exp.ops.shape[0] if self.noise is not None else 0  # channel rows not in the path: identity
        pc = 0
        for entry in path:
            channel = isinstance(entry, tuple)
            if channel and entry[1] == READOUT_FLIP:
                clbit = int(exp.ops[entry[0], COL_ARG])
                creg[clbit] = 1 - creg[clbit]
                continue
            while True:
                pc = self.engine.run_segment(state, creg, pc, entry[0] if channel else after)
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
        return min(max(self.engine.probability_one(state, qubit), 0.0), 1.0)

    def _settle(self, opcode, qubit, clbit, outcome, probability, state, creg) -> None:
        self.engine.collapse(state, qubit, outcome, probability)
        if opcode == OP_MEASURE:
            creg[clbit] = outcome
        elif opcode == OP_RESET and outcome:
            self.engine.flip(state, qubit)

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
            if exp.ops[pc, COL_ARG] == SET_CHAIN:  # a matrix product state (Aer's set_matrix_product_state)
                self.engine.set_chain(state, *unpack_chain(self.engine.matrices, moff, exp.num_qubits))
            else:
                self.engine.set_state(state, self.engine.matrices[moff : moff + (1 << exp.num_qubits)])
            return True
        return False

    def _leaf(self, state, creg, shots) -> None:
        exp = self.exp
        self.engine.complete(state)  # every operation on the state done (and its errors raised)
        base = 0
        for bit in np.flatnonzero(creg[: exp.num_clbits]):
            base |= 1 << int(bit)
        if exp.final_qubits.size == 0:
            self._add(np.array([base], dtype=object), np.array([shots], dtype=np.int64), None)
            return
        indices, counts, per_shot = self.engine.sample(state, shots, self.rng, self.want_memory)
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

    def _clbit_values(self, base: int, indices: np.ndarray) -> np.ndarray:
        """Clbit register values (int64, or Python ints past 62 clbits) for basis-state indices."""
        exp = self.exp
        pairs = list(zip(exp.final_qubits.tolist(), exp.final_clbits.tolist(), strict=True))
        # Final measurements overwrite their clbits on top of the mid-circuit ones.
        keep = base & ~sum(1 << c for c in set(exp.final_clbits.tolist()))
        if exp.num_clbits <= 62 and indices.dtype != object:
            values = np.full(indices.shape, keep, dtype=np.int64)
            for qubit, clbit in pairs:
                values |= ((indices >> qubit) & 1) << clbit
            return values
        # Wide registers (a stabilizer's thousands of qubits): each index's bits, moved at once.
        width = max(exp.num_qubits, 1)
        raw = b"".join(int(i).to_bytes((width + 7) // 8, "little") for i in indices.tolist())
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(indices.size, -1), axis=1, bitorder="little")
        out_bits = np.zeros((indices.size, max(exp.num_clbits, 1)), dtype=np.uint8)
        if pairs:
            qubits, clbits = (np.array(v, dtype=np.int64) for v in zip(*pairs, strict=True))
            out_bits[:, clbits] = bits[:, qubits]
        packed = np.packbits(out_bits, axis=1, bitorder="little")
        values = [keep | int.from_bytes(row.tobytes(), "little") for row in packed]
        return np.array(values, dtype=np.int64 if exp.num_clbits <= 62 else object)

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

    def result(self, seed_simulator: int, memory_format: str, start: float) -> dict:
        """The plain result of the finished walk (see :func:`aerdask_kernels.run_experiment`).

        Args:
            seed_simulator: The job's seed (the point's own is derived from it).
            memory_format: ``"hex"`` or ``"bits"`` (see :meth:`memory`).
            start: The ``time.perf_counter()`` at which the point started.
        """
        exp = self.exp
        outcomes, counts = self.histogram()
        return {
            "index": exp.index,
            "name": exp.name,
            "shots": exp.shots,
            "seed_simulator": experiment_seed(seed_simulator, exp.index),
            "seed_key": list(exp.seed_key(0)),
            "outcomes": outcomes,
            "counts": counts,
            "memory": self.memory(memory_format),
            "saves": self.saves.finish(),
            "save_weights": self.saves.weights(),
            "time_taken": time.perf_counter() - start,
            "branch_copies": self.peak_copies,
            "branch_replays": self.replays,
            **self.engine.stats(),
        }


def _value_dtype(num_clbits: int):
    """The narrowest unsigned dtype for clbit register values (``object`` past 62 clbits, as simulated)."""
    return object if num_clbits > 62 else np.min_scalar_type((1 << num_clbits) - 1 if num_clbits else 0)


def _packed_bits(values: np.ndarray, num_clbits: int) -> np.ndarray:
    """Register values as big-endian bytes: uint8, shape ``(len(values), ceil(num_clbits / 8))``."""
    width = (num_clbits + 7) // 8
    if values.dtype != object and width <= 8:
        return np.ascontiguousarray(values.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - width :])
    return np.frombuffer(b"".join(int(v).to_bytes(width, "big") for v in values), dtype=np.uint8).reshape(-1, width)
