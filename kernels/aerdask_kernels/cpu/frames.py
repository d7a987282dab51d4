"""Pauli frames: every shot of a noisy Clifford circuit from one reference run (as Stim samples).

A shot's state differs from a reference run's by a Pauli (its *frame*), because Clifford
gates map Paulis to Paulis. So one tableau run fixes a reference outcome per measurement,
and each shot only carries its frame: gates conjugate it, a Pauli error multiplies into
it, a measurement reads ``reference XOR (X part of the frame)``, and after a measurement
or reset the Z part is drawn at random (the outcome's gauge: this is what makes random
outcomes random). Frames of 64 shots share a word, and the frame array has the tableau's
column layout (:mod:`..kernels.tableau`: X rows, Z rows, a scratch sign row), so the
tableau's gate kernel runs it unchanged.

It applies to circuits without classical feedback (no condition, loop, store or save:
a shot's frame must not change which rows run) whose noise is Pauli mixtures; the
walker takes the others (:meth:`.stabilizer.StabilizerEngine.sample_experiment`).
"""

from __future__ import annotations

import numpy as np

from ..kernels import tableau as tb
from ..opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHAN_MOFF,
    CHAN_POFF,
    CHANNEL_MIXTURE,
    COL_ARG,
    COL_ARG2,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_BRANCH,
    OP_CHANNEL,
    OP_CLASSICAL,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SAVE,
    OP_SET_STATE,
)

__all__ = ["FrameSampler", "pauli_bits"]

#: Mid-circuit measurements and resets of a noiseless circuit from which frames sample (see ``applies``).
FRAMES_MIN_MEASUREMENTS = 12
#: Past this many shots the walker takes the experiment (it splits groups of shots, frames go shot by shot).
FRAMES_MAX_SHOTS = 1 << 24
#: Shots whose frames are held at once (a batch): 16384 shots are 256 words per row.
BATCH_SHOTS = 1 << 14
_FEEDBACK = (OP_JUMP, OP_BRANCH, OP_CLASSICAL, OP_SAVE, OP_SET_STATE)
_PAULI = (
    np.eye(2, dtype=np.complex128),
    np.array([[0, 1], [1, 0]], dtype=np.complex128),
    np.array([[1, 0], [0, -1]], dtype=np.complex128),
    np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
)


def pauli_bits(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The X and Z bits (uint8 per qubit, little-endian) of a Pauli matrix up to phase, or ``None``."""
    dim = matrix.shape[0]
    k = dim.bit_length() - 1
    for pattern in range(1 << (2 * k)):
        pauli = np.ones((1, 1), dtype=np.complex128)
        for j in range(k):
            pauli = np.kron(_PAULI[(pattern >> (2 * j)) & 3], pauli)
        overlap = np.vdot(pauli, matrix) / dim
        if abs(abs(overlap) - 1) < 1e-9:
            bits = np.array([(pattern >> (2 * j)) & 3 for j in range(k)])
            return (bits & 1).astype(np.uint8), (bits >> 1).astype(np.uint8)
    return None


class FrameSampler:
    """The Pauli-frame sampler of one stabilizer experiment (see the module docs).

    Args:
        engine: The experiment's :class:`.stabilizer.StabilizerEngine` (its gates and reference run).
    """

    def __init__(self, engine):
        self.engine = engine
        self.exp = engine.exp
        self.channels: dict[int, tuple[np.ndarray, list]] = {}

    def applies(self) -> bool:
        """Whether frames give this experiment's shots: no feedback, only Pauli noise, and something to gain.

        Without noise or mid-circuit measurements all shots share one final state, which the
        walker samples at once; frames pay where trajectories would branch into many leaves.
        """
        exp = self.exp
        rows = exp.ops[:, COL_OPCODE]
        if np.isin(rows, _FEEDBACK).any() or exp.readout_groups.size:
            return False
        # Without noise, shots split only where outcomes are random: at most 2**m leaves for m
        # mid-circuit measurements, which the walker takes as cheaply (and with the statevector's
        # seeded draws); past FRAMES_MIN_MEASUREMENTS of them, frames pay.
        measured = int(np.isin(rows, (OP_MEASURE, OP_RESET)).sum())
        if not measured and not (rows == OP_CHANNEL).any():
            return False  # all shots share the final state (final readout errors apply to counts)
        if not exp.noisy and measured < FRAMES_MIN_MEASUREMENTS:
            return False
        if exp.shots > FRAMES_MAX_SHOTS:
            return False  # frames cost per shot; the walker's groups of shots do not
        for pc in np.flatnonzero(rows == OP_CHANNEL).tolist():
            if self._channel(pc) is None:
                return False
        return True

    def _channel(self, pc: int):
        """A CHANNEL row as ``(cumulative probabilities, [(x bits, z bits) per operator])``, or ``None``."""
        index = int(self.exp.ops[pc, COL_ARG])
        if index in self.channels:
            return self.channels[index]
        exp = self.exp
        channel = exp.channels[index]
        found = None
        if channel[CHAN_KIND] == CHANNEL_MIXTURE:
            k = int(exp.ops[pc, COL_NTARG])
            size = 1 << (2 * k)
            count, moff, poff = int(channel[CHAN_COUNT]), int(channel[CHAN_MOFF]), int(channel[CHAN_POFF])
            paulis = []
            for j in range(count):
                matrix = exp.chan_matrices[moff + j * size : moff + (j + 1) * size].reshape(1 << k, 1 << k)
                paulis.append(pauli_bits(matrix))
            if all(p is not None for p in paulis):
                probs = exp.chan_probs[poff : poff + count]
                found = (np.cumsum(probs / probs.sum()), paulis)
        self.channels[index] = found
        return found

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """One noiseless run: each MEASURE row's outcome (random ones taken as 0), and the final ones."""
        engine, exp = self.engine, self.exp
        state = engine.fresh()
        outcomes = np.zeros(exp.ops.shape[0], dtype=np.uint8)
        creg = np.zeros(max(exp.num_clbits, 1), dtype=np.int8)
        pc = 0
        n_ops = exp.ops.shape[0]
        while pc < n_ops:
            pc = engine.run_segment(state, creg, pc, n_ops)  # channels: their identity
            if pc >= n_ops:
                break
            qubit = int(exp.qubits[exp.ops[pc, COL_QOFF]])
            outcome = 0 if engine.probability_one(state, qubit) == 0.5 else int(engine.probability_one(state, qubit))
            engine.collapse(state, qubit, outcome, 0.5)
            outcomes[pc] = outcome
            if exp.ops[pc, COL_OPCODE] == OP_RESET and outcome:
                engine.flip(state, qubit)
            pc += 1
        final = np.asarray(exp.final_qubits, dtype=np.int64)
        constant, _ = tb.affine_outcomes(state, engine.n, final) if final.size else (np.zeros(0, np.uint8), None)
        return outcomes, constant

    def sample(self, rng: np.random.Generator, shots: int):
        """Every shot's clbit register (before final readout errors), in batches of at most :data:`BATCH_SHOTS`.

        Yields:
            int64 arrays, or object arrays of Python ints past 62 clbits.
        """
        outcomes, final = self.reference()
        done = 0
        while done < shots:
            batch = min(BATCH_SHOTS, shots - done)
            yield self._batch(rng, batch, outcomes, final)
            done += batch

    def _batch(self, rng, shots: int, outcomes: np.ndarray, final: np.ndarray) -> np.ndarray:
        engine, exp = self.engine, self.exp
        n = engine.n
        words = (shots + 63) // 64
        top = np.uint64(np.iinfo(np.uint64).max)
        frames = np.zeros((2 * n + 1, words), dtype=np.uint64)
        frames[n : 2 * n] = rng.integers(0, top, size=(n, words), dtype=np.uint64, endpoint=True)
        record = np.zeros((max(exp.num_clbits, 1), words), dtype=np.uint64)
        ops, qubits = exp.ops, exp.qubits
        pc, n_ops = 0, ops.shape[0]
        gates = engine.gates
        while pc < n_ops:
            op = ops[pc, COL_OPCODE]
            if op == OP_MATRIX or op == OP_DIAG:
                pc = gates.run(frames, n, pc)  # the tableau's kernel: frames have its layout
                continue
            qoff = ops[pc, COL_QOFF]
            if op == OP_CHANNEL:
                self._error(rng, pc, frames, qubits[qoff : qoff + ops[pc, COL_NTARG]], shots)
            else:
                q = int(qubits[qoff])
                if op == OP_MEASURE:
                    bits = frames[q] ^ (top if outcomes[pc] else np.uint64(0))
                    readout = int(ops[pc, COL_ARG2]) - 1
                    if readout >= 0:
                        bits = bits ^ _flips(rng, bits, exp.readout[readout], shots)
                    record[int(ops[pc, COL_ARG])] = bits
                else:  # RESET: no X part left
                    frames[q] = 0
                frames[n + q] = rng.integers(0, top, size=words, dtype=np.uint64, endpoint=True)
            pc += 1
        for i, (q, c) in enumerate(zip(exp.final_qubits.tolist(), exp.final_clbits.tolist(), strict=True)):
            record[c] = frames[q] ^ (top if final[i] else np.uint64(0))
        return _registers(record[: exp.num_clbits], shots)

    def _error(self, rng, pc: int, frames: np.ndarray, targets: np.ndarray, shots: int) -> None:
        cumulative, paulis = self._channel(pc)
        n = self.engine.n
        chosen = np.minimum(np.searchsorted(cumulative, rng.random(shots), side="right"), len(paulis) - 1)
        for j in np.unique(chosen).tolist():
            px, pz = paulis[j]
            if not px.any() and not pz.any():
                continue
            mask = _pack(chosen == j)
            for t, q in enumerate(targets.tolist()):
                if px[t]:
                    frames[q] ^= mask
                if pz[t]:
                    frames[n + q] ^= mask


def _pack(bits: np.ndarray) -> np.ndarray:
    """Bool ``(shots,)`` to uint64 words, shot ``s`` at bit ``s % 64`` of word ``s // 64``."""
    words = (bits.size + 63) // 64
    padded = np.zeros(words * 64, dtype=np.uint8)
    padded[: bits.size] = bits
    return np.packbits(padded, bitorder="little").view(np.uint64)


def _unpack(words: np.ndarray, shots: int) -> np.ndarray:
    return np.unpackbits(words.view(np.uint8), bitorder="little")[:shots]


def _flips(rng, bits: np.ndarray, readout: np.ndarray, shots: int) -> np.ndarray:
    """Readout flips of one measurement: ``P(read 1 | 0)`` where the bit is 0, ``P(read 0 | 1)`` where 1."""
    values = _unpack(bits, shots)
    return _pack(rng.random(shots) < readout[values])


def _registers(record: np.ndarray, shots: int) -> np.ndarray:
    """Per shot, the clbits (rows of ``record``) as one register value."""
    clbits = record.shape[0]
    bits = np.unpackbits(np.ascontiguousarray(record).view(np.uint8), axis=1, bitorder="little")[:, :shots]
    if clbits <= 62:
        return (bits.T.astype(np.int64) << np.arange(clbits, dtype=np.int64)).sum(axis=1)
    packed = np.packbits(np.ascontiguousarray(bits.T), axis=1, bitorder="little")
    return np.array([int.from_bytes(row.tobytes(), "little") for row in packed], dtype=object)
