"""Accumulates opcode rows and the flat arrays they point into (see :mod:`aerdask_kernels.program`)."""

from __future__ import annotations

import cmath

import numpy as np

from aerdask_kernels.fusion import fuse_rows
from aerdask_kernels.program import (
    CMP_CODES,
    N_COLS,
    OP_BRANCH,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SAVE,
)
from aerdask_kernels.standard import OP_STANDARD, expand_standard

from .gate_forms import GateForm, form_of

__all__ = ["Emitter", "NonNumericParameters"]


class NonNumericParameters(TypeError):
    """A standard gate's parameter is not a real number; compile the circuit without standard rows."""


class Emitter:
    """Builds one experiment's arrays; jumps name labels that :meth:`finish` resolves."""

    def __init__(self, fuse: bool = True):
        self.fuse = fuse
        self.rows: list = []  # lists, or tuples for rows that are never patched
        self.qubits: list[int] = []
        self.matrices: list[np.ndarray] = []
        self.moff = 0
        self.params: list[float] = []
        self.saves: list[dict] = []
        self.labels: dict[int, int] = {}
        self.pending: list[int] = []  # rows whose ARG holds a label, patched in finish()
        self.next_label = 0

    def _row(self, opcode, qubits=(), nctrl=0, moff=0, cval=0, arg=0, arg2=0) -> None:
        qoff = len(self.qubits)
        self.qubits.extend(qubits)
        self.rows.append([opcode, qoff, nctrl, len(qubits) - nctrl, moff, cval, arg, arg2])

    def _matrix_offset(self, data: np.ndarray) -> int:
        off = self.moff
        self.matrices.append(data.ravel())
        self.moff += data.size
        return off

    def gate(self, qubits: list[int], form: GateForm, params=()) -> None:
        """Add a gate on ``qubits`` (controls first); :meth:`finish` may fuse it with its neighbours."""
        if form.identity:
            return
        poff = len(self.params)
        if params and not self.fuse:  # fused rows carry no parameters
            self.params.extend(float(p) for p in params if isinstance(p, int | float))
        opcode = OP_DIAG if form.diagonal else OP_MATRIX
        moff = self._matrix_offset(form.data)
        self._row(opcode, qubits, form.nctrl, moff, form.ctrl_val, poff, len(self.params) - poff)

    def standard(self, code: int, qubits: list[int], params) -> None:
        """Add standard gate ``code`` (see :mod:`aerdask_kernels.standard`); its matrix is built in :meth:`finish`.

        ``params`` are the gate's parameters as Qiskit holds them; :meth:`finish`
        raises :class:`NonNumericParameters` if one is not a real number.
        """
        self.rows.append((OP_STANDARD, len(self.qubits), 0, len(qubits), code, 0, len(self.params), len(params)))
        self.qubits += qubits
        self.params += params  # kept even when fused: the matrix is built from them

    def unitary(self, controls, ctrl_val, targets, matrix, params=()) -> None:
        """Emit a (controlled) matrix, as a DIAG row when it is diagonal."""
        self.gate([*controls, *targets], form_of(matrix, len(controls), ctrl_val), params)

    def phase(self, angle: float) -> None:
        """Multiply the state by ``exp(i angle)``."""
        if angle:
            self.gate([], GateForm(0, 0, np.array([cmath.exp(1j * angle)], dtype=np.complex128), True))

    def measure(self, qubit: int, clbit: int) -> None:
        """Measure ``qubit`` into ``clbit``."""
        self._row(OP_MEASURE, [qubit], arg=clbit)

    def reset(self, qubit: int) -> None:
        """Reset ``qubit`` to ``|0>``."""
        self._row(OP_RESET, [qubit])

    def save(self, spec: dict) -> None:
        """Save data described by ``spec`` at this point."""
        self.saves.append(spec)
        self._row(OP_SAVE, arg=len(self.saves) - 1)

    def new_label(self) -> int:
        """A fresh label for :meth:`jump` and :meth:`branch`."""
        self.next_label += 1
        return self.next_label

    def place(self, label: int) -> None:
        """Bind ``label`` to the next row."""
        self.labels[label] = len(self.rows)

    def jump(self, label: int) -> None:
        """Continue at ``label``."""
        self.pending.append(len(self.rows))
        self._row(OP_JUMP, arg=label)

    def branch(self, clbits, cmp: str, value: int, label: int) -> None:
        """Continue unless ``value(clbits) cmp value`` holds; then go to ``label``."""
        self.pending.append(len(self.rows))
        self._row(OP_BRANCH, list(clbits), 0, 0, int(value), label, CMP_CODES[cmp])

    def finish(self) -> dict:
        """The experiment's arrays: ``ops``, ``qubits``, ``matrices``, ``params``."""
        for row in self.pending:
            self.rows[row][6] = self.labels[self.rows[row][6]]
        ops = np.array(self.rows, dtype=np.int64).reshape(-1, N_COLS)
        matrices = np.concatenate(self.matrices) if self.matrices else np.zeros(0, dtype=np.complex128)
        qubits = np.array(self.qubits, dtype=np.int64)
        matrices = matrices.astype(np.complex128, copy=False)
        try:
            params = np.array(self.params, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise NonNumericParameters(str(exc)) from exc
        if ops.shape[0] and (ops[:, 0] == OP_STANDARD).any():
            ops, matrices = expand_standard(ops, qubits, matrices, params)
        if self.fuse:
            ops, qubits, matrices = fuse_rows(ops, qubits, matrices)
            params = np.zeros(0, dtype=np.float64)  # fused rows carry no parameters
        return {"ops": ops, "qubits": qubits, "matrices": matrices, "params": params}
