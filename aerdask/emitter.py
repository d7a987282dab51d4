"""Accumulates one experiment's opcode rows and the flat arrays they point into.

The buffers are numpy arrays that grow on demand, so the native reader
(:mod:`aerdask.native`) and the Python compiler write into the same ones; ``counts``
says how much of each is used. Nothing here builds a matrix for a standard gate or
fuses gates: workers do that (:mod:`aerdask_kernels.passes.prepare`).
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import ParameterExpression

from aerdask_kernels.format.standard import STANDARD_GATES
from aerdask_kernels.opcodes import (
    CMP_CODES,
    COL_ARG,
    N_COLS,
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
    OP_STANDARD,
)

from .expressions import ExpressionTable
from .gate_forms import GateForm, form_of

__all__ = ["Emitter", "NonNumericParameters"]

_ROWS, _QUBITS, _PARAMS, _FINALS = range(4)  # slots of Emitter.counts
_NO_MATRICES = np.zeros(0, dtype=np.complex128)  # shared: it holds no element
_GLOBAL_PHASE = STANDARD_GATES["global_phase"][0]


class NonNumericParameters(TypeError):
    """A standard gate's parameter is neither a real number nor an expression of the circuit's parameters."""


def _grown(buffer: np.ndarray, used: int, need: int) -> np.ndarray:
    if used + need <= buffer.shape[0]:
        return buffer
    out = np.empty((max(2 * buffer.shape[0], used + need), *buffer.shape[1:]), dtype=buffer.dtype)
    out[:used] = buffer[:used]
    return out


class Emitter:
    """Builds one experiment's arrays; jumps name labels that :meth:`finish` resolves.

    Args:
        expressions: The circuit's parameter expressions, for a circuit compiled once
            for many points (``None``: every parameter must be a number).
        size_hint: Instructions of the circuit: room for their rows is made at once.
    """

    def __init__(self, expressions: ExpressionTable | None = None, size_hint: int = 16):
        rows = size_hint + 2
        self.ops = np.empty((rows, N_COLS), dtype=np.int64)
        self.qubits = np.empty(3 * rows, dtype=np.int64)
        self.params = np.empty(4 * rows, dtype=np.float64)
        self.finals = np.empty((2, rows), dtype=np.int64)  # qubit, clbit of each final measurement
        self.counts = np.zeros(4, dtype=np.int64)  # rows, qubits, params, finals in use
        self.param_expr: dict[int, int] = {}  # params slot -> expression
        self.expressions = expressions
        self.matrices: list[np.ndarray] = []
        self.moff = 0
        self.saves: list[dict] = []
        self.classical: list[dict] = []
        self.num_vars = 0  # clbits past the circuit's, for variables and scratch conditions
        self.labels: dict[int, int] = {}
        self.pending: list[int] = []  # rows whose ARG holds a label, patched in finish()
        self.next_label = 0
        # Noise: the channels and readout errors this experiment uses, each stored once.
        self.channel_index: dict[int, int] = {}  # id(Channel) -> row of the channels table
        # The channels indexed, held: a channel made for one instruction and freed could otherwise leave its
        # id to the next one made, which would then be read as the first (a 1-qubit channel for a 2-qubit one).
        self.channel_refs: list = []
        self.channels: list[tuple] = []
        self.chan_matrices: list[np.ndarray] = []
        self.chan_probs: list[np.ndarray] = []
        self.chan_sizes = [0, 0]  # entries of chan_matrices and chan_probs so far
        self.readout_index: dict[tuple, int] = {}
        self.final_readout: dict[int, int] = {}  # position among the final measurements -> readout
        # Correlated readout errors of final multi-qubit measurements: 2**k x 2**k matrices.
        self.readout_groups: list[np.ndarray] = []

    def reserve(self, rows: int, qubits: int, params: int) -> None:
        """Make room for ``rows`` more rows, ``qubits`` more qubit entries and ``params`` parameters."""
        rows_used, qubits_used, params_used, finals_used = self.counts.tolist()
        if (
            rows_used + rows <= self.ops.shape[0]
            and qubits_used + qubits <= self.qubits.shape[0]
            and params_used + params <= self.params.shape[0]
            and finals_used + rows <= self.finals.shape[1]
        ):
            return
        self.ops = _grown(self.ops, rows_used, rows)
        self.qubits = _grown(self.qubits, qubits_used, qubits)
        self.params = _grown(self.params, params_used, params)
        if finals_used + rows > self.finals.shape[1]:
            grown = np.empty((2, max(2 * self.finals.shape[1], finals_used + rows)), dtype=np.int64)
            grown[:, :finals_used] = self.finals[:, :finals_used]
            self.finals = grown

    @property
    def n_rows(self) -> int:
        """Rows emitted so far."""
        return int(self.counts[_ROWS])

    def _row(self, opcode, qubits=(), nctrl=0, moff=0, cval=0, arg=0, arg2=0) -> None:
        self.reserve(1, len(qubits), 0)
        row, qoff = int(self.counts[_ROWS]), int(self.counts[_QUBITS])
        self.qubits[qoff : qoff + len(qubits)] = qubits
        self.ops[row] = (opcode, qoff, nctrl, len(qubits) - nctrl, moff, cval, arg, arg2)
        self.counts[_ROWS] += 1
        self.counts[_QUBITS] += len(qubits)

    def _params(self, params) -> tuple[int, int]:
        """Store gate parameters (numbers, or expressions of the circuit's parameters); returns offset, count."""
        self.reserve(0, 0, len(params))
        offset = int(self.counts[_PARAMS])
        for i, p in enumerate(params):
            if isinstance(p, ParameterExpression) and p.parameters:
                if self.expressions is None:
                    raise NonNumericParameters(f"parameter {p} is not bound")
                self.param_expr[offset + i] = self.expressions.add(p)
                value = 0.0
            else:
                try:
                    value = float(p)
                except (TypeError, ValueError) as exc:
                    raise NonNumericParameters(f"parameter {p!r} is not a real number") from exc
            self.params[offset + i] = value
        self.counts[_PARAMS] += len(params)
        return offset, len(params)

    def _matrix_offset(self, data: np.ndarray) -> int:
        off = self.moff
        self.matrices.append(data.ravel())
        self.moff += data.size
        return off

    def gate(self, qubits: list[int], form: GateForm) -> None:
        """Add a gate with a fixed matrix on ``qubits`` (controls first)."""
        if form.identity:
            return
        opcode = OP_DIAG if form.diagonal else OP_MATRIX
        self._row(opcode, qubits, form.nctrl, self._matrix_offset(form.data), form.ctrl_val)

    def standard(self, code: int, qubits: list[int], params) -> None:
        """Add standard gate ``code`` (see :mod:`aerdask_kernels.format.standard`); workers build its matrix.

        Raises:
            NonNumericParameters: for a parameter that is neither a real number nor
                (with an expression table) an expression of the circuit's parameters.
        """
        offset, count = self._params(params)
        self._row(OP_STANDARD, qubits, 0, code, 0, offset, count)

    def unitary(self, controls, ctrl_val, targets, matrix) -> None:
        """Emit a (controlled) matrix, as a DIAG row when it is diagonal."""
        self.gate([*controls, *targets], form_of(matrix, len(controls), ctrl_val))

    def phase(self, angle) -> None:
        """Multiply the state by ``exp(i angle)``; ``angle`` may be an expression of the parameters."""
        if (isinstance(angle, ParameterExpression) and angle.parameters) or angle:
            self.standard(_GLOBAL_PHASE, [], [angle])

    def measure(self, qubit: int, clbit: int, readout: np.ndarray | None = None) -> None:
        """Measure ``qubit`` into ``clbit``; ``readout``: flip probabilities ``[P(1|0), P(0|1)]``."""
        self._row(OP_MEASURE, [qubit], arg=clbit, arg2=0 if readout is None else self._readout(readout) + 1)

    def final_measure(self, qubit: int, clbit: int, readout: np.ndarray | None = None) -> None:
        """Measure ``qubit`` into ``clbit`` at the end (sampled with the others), with a readout error or not."""
        self.reserve(1, 0, 0)
        used = int(self.counts[_FINALS])
        self.finals[:, used] = qubit, clbit
        self.counts[_FINALS] += 1
        if readout is not None:
            self.final_readout[used] = self._readout(readout)

    def final_measure_group(self, qubits: list[int], clbits: list[int], matrix: np.ndarray) -> None:
        """Measure ``qubits`` into ``clbits`` at the end with one correlated readout error.

        ``matrix[i, j]`` is ``P(read j | measured i)``, bit ``b`` of ``i`` and ``j`` being ``qubits[b]``.
        """
        group = len(self.readout_groups)
        self.readout_groups.append(np.asarray(matrix, dtype=np.float64))
        for qubit, clbit in zip(qubits, clbits, strict=True):
            self.final_measure(qubit, clbit)
            self.final_readout[int(self.counts[_FINALS]) - 1] = -2 - group

    def _readout(self, flips: np.ndarray) -> int:
        return self.readout_index.setdefault(tuple(float(f) for f in flips), len(self.readout_index))

    def channel(self, qubits: list[int], channel) -> None:
        """Apply a noise channel (an :class:`aerdask.noise.Channel`) to ``qubits``."""
        index = self.channel_index.get(id(channel))
        if index is None:
            index = self.channel_index[id(channel)] = len(self.channels)
            self.channel_refs.append(channel)
            moff, poff = self.chan_sizes
            self.channels.append((channel.kind, channel.matrices.shape[0], moff, poff, channel.identity))
            self.chan_matrices.append(channel.matrices.ravel())
            self.chan_probs.append(channel.probabilities)
            self.chan_sizes = [moff + channel.matrices.size, poff + channel.probabilities.size]
        self._row(OP_CHANNEL, list(qubits), arg=index)

    def reset(self, qubit: int) -> None:
        """Reset ``qubit`` to ``|0>``."""
        self._row(OP_RESET, [qubit])

    def save(self, spec: dict) -> None:
        """Save data described by ``spec`` at this point."""
        self.saves.append(spec)
        self._row(OP_SAVE, arg=len(self.saves) - 1)

    def classical_op(self, program: dict, clbits: list[int]) -> None:
        """Evaluate ``program`` (:mod:`aerdask_kernels.format.classical`) and write it to ``clbits``."""
        self.classical.append(program)
        self._row(OP_CLASSICAL, list(clbits), arg=len(self.classical) - 1)

    def set_state(self, num_qubits: int, amplitudes: np.ndarray, operator: bool = False, arg: int = 0) -> None:
        """Replace the state by ``amplitudes`` (complex, ``2**num_qubits``, qubit ``q`` is bit ``q``).

        With ``operator``, the unitary method's operator: ``4**num_qubits`` entries, over ``sqrt(2**n)``;
        with ``arg`` 2, a matrix product state (:mod:`aerdask_kernels.format.chain`).
        """
        data = np.ascontiguousarray(amplitudes, dtype=np.complex128)
        arg = 1 if operator else arg
        self._row(OP_SET_STATE, list(range(num_qubits)), moff=self._matrix_offset(data), arg=arg)

    def new_label(self) -> int:
        """A fresh label for :meth:`jump` and :meth:`branch`."""
        self.next_label += 1
        return self.next_label

    def place(self, label: int) -> None:
        """Bind ``label`` to the next row."""
        self.labels[label] = self.n_rows

    def jump(self, label: int) -> None:
        """Continue at ``label``."""
        self.pending.append(self.n_rows)
        self._row(OP_JUMP, arg=label)

    def branch(self, clbits, cmp: str, value: int, label: int) -> None:
        """Continue unless ``value(clbits) cmp value`` holds; then go to ``label``."""
        self.pending.append(self.n_rows)
        self._row(OP_BRANCH, list(clbits), 0, 0, int(value), label, CMP_CODES[cmp])

    def finish(self) -> dict:
        """The experiment's arrays, as the :class:`~aerdask_kernels.Experiment` fields of the same names."""
        rows, n_qubits, n_params, n_finals = (int(c) for c in self.counts)
        # Views of the buffers, not copies: the emitter is done with them (a pickle holds the view only).
        ops = self.ops[:rows]
        for row in self.pending:
            ops[row, COL_ARG] = self.labels[int(ops[row, COL_ARG])]
        out = {
            "ops": ops,
            "qubits": self.qubits[:n_qubits],
            "matrices": np.concatenate(self.matrices) if self.matrices else _NO_MATRICES,
            "params": self.params[:n_params],
            "final_qubits": self.finals[0, :n_finals],
            "final_clbits": self.finals[1, :n_finals],
            "saves": self.saves,
        }
        if self.classical or self.num_vars:
            out["classical"], out["num_vars"] = self.classical, self.num_vars
        out["matrices"] = out["matrices"].astype(np.complex128, copy=False)
        if self.param_expr:
            slots = np.full(n_params, -1, dtype=np.int64)
            slots[list(self.param_expr)] = list(self.param_expr.values())
            out["param_expr"] = slots
        if self.expressions is not None and len(self.expressions):
            out.update(self.expressions.arrays())
        if self.channels:
            out["channels"] = np.array(self.channels, dtype=np.int64)
            out["chan_matrices"] = np.concatenate(self.chan_matrices).astype(np.complex128)
            out["chan_probs"] = np.concatenate(self.chan_probs).astype(np.float64)
        if self.readout_index:
            out["readout"] = np.array(list(self.readout_index), dtype=np.float64).reshape(-1, 2)
        if self.readout_groups:
            sizes = [m.shape[0] for m in self.readout_groups]
            offsets = np.concatenate(([0], np.cumsum([s * s for s in sizes])[:-1]))
            out["readout_groups"] = np.stack([offsets, sizes], axis=1).astype(np.int64)
            out["group_matrices"] = np.concatenate([m.ravel() for m in self.readout_groups])
        if self.final_readout:
            finals = np.full(n_finals, -1, dtype=np.int64)
            finals[list(self.final_readout)] = list(self.final_readout.values())
            out["final_readout"] = finals
        return out
