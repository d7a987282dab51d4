"""Compile Qiskit circuits into the plain-data program that workers run.

``compile_circuit`` walks a ``QuantumCircuit`` once and emits opcode rows (see
:mod:`aerdask_kernels.opcodes`); the worker never sees a Qiskit object. The client
only reads the circuit's structure: standard gates become rows of a gate number,
qubits and parameters, and workers build their matrices and fuse them. Top-level
instructions are read natively where Qiskit allows it (:mod:`aerdask.native`);
everything else is read here in Python. Measurements at the end of the circuit are
lifted out and sampled in one pass; everything else runs in order.

A circuit with unbound parameters compiles once: its gate parameters become
expressions of the parameter columns (:mod:`aerdask.expressions`), and each point
of its values array is bound on the worker.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from qiskit.circuit import ClassicalRegister, Clbit, Gate, ParameterExpression, QuantumCircuit
from qiskit.circuit.annotated_operation import AnnotatedOperation, ControlModifier
from qiskit.circuit.classical import expr, types
from qiskit.circuit.controlflow import CASE_DEFAULT
from qiskit.quantum_info import Clifford, DensityMatrix, Operator, StabilizerState

from aerdask_kernels.format.chain import pack_chain
from aerdask_kernels.format.program import Experiment, no_points
from aerdask_kernels.format.standard import STANDARD_GATES
from aerdask_kernels.opcodes import (
    COL_ARG,
    COL_ARG2,
    COL_MOFF,
    COL_NTARG,
    COL_OPCODE,
    OP_DIAG,
    OP_MATRIX,
    OP_SET_STATE,
    OP_STANDARD,
    SET_CHAIN,
    SET_DENSITY,
)
from aerdask_kernels.readiness import numba_loaded

from .classical import ClassicalCompiler
from .emitter import Emitter, NonNumericParameters
from .errors import AerdaskInputError, UnsupportedInstructionError
from .expressions import ExpressionTable, NotTemplatable, check_finite
from .gate_forms import UNITARY_ATOL, MatrixCache, householder, target_state, unitary_defect
from .instructions import SAVE_KINDS, lookup, names_of_kind, supported_summary

if TYPE_CHECKING:
    from .native import CircuitReader

__all__ = ["compile_batch", "compile_circuit", "MatrixCache", "NotTemplatable"]
_SUPPORTED_HINT = supported_summary()
# From the instruction table: control flow and stores may read or write any clbit; saves and
# state setting act on the whole state.
_WRITES_CLBITS = names_of_kind("control_flow", "store")
_READS_STATE = set(SAVE_KINDS) | names_of_kind("set_state")
_NATIVE_PATIENCE = 8  # native reads in a row that read nothing before Python takes the rest
#: Instructions from which the native reader pays for loading Numba in a process that has not yet
#: (about 0.7 s once from a warm cache; the Python compiler takes about 10 us per instruction of a
#: random circuit, the native one about 3 us, both with the rest of the compile).
NATIVE_MIN_INSTRUCTIONS = 50_000


def _native(instructions: int):
    """:mod:`aerdask.native` where reading ``instructions`` natively pays here, else ``None``.

    Once loaded (by a large batch, or by compiled kernels in this process), it reads every circuit.
    """
    loaded = sys.modules.get("aerdask.native")
    if loaded is not None:
        return loaded
    if instructions < NATIVE_MIN_INSTRUCTIONS and not numba_loaded():
        return None
    from . import native  # imports Numba

    return native


_INVERT = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_PY_CMP = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_EXPR_CMP = {
    expr.Binary.Op.EQUAL: "==",
    expr.Binary.Op.NOT_EQUAL: "!=",
    expr.Binary.Op.LESS: "<",
    expr.Binary.Op.LESS_EQUAL: "<=",
    expr.Binary.Op.GREATER: ">",
    expr.Binary.Op.GREATER_EQUAL: ">=",
}


@dataclasses.dataclass
class _Loop:
    break_label: int
    continue_label: int


class _CircuitCompiler:
    """Compiles one circuit into the arrays of an :class:`Experiment`.

    Args:
        circuit: The circuit; with unbound parameters only if ``expressions`` is given.
        cache: Matrix forms shared across a batch.
        standard: Emit standard gates as STANDARD rows (off: every gate's matrix is
            built here, the path for parameters that are neither numbers nor expressions).
        expressions: The circuit's expression table, to compile it once for many points.
        use_native: Read top-level instructions natively where possible.
    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        cache: MatrixCache,
        standard: bool = True,
        expressions: ExpressionTable | None = None,
        use_native: bool = True,
        noise=None,
    ):
        self.circuit = circuit
        self.cache = cache
        self.em = Emitter(expressions, size_hint=len(circuit.data))
        self.standard = standard
        # Noise is matched by instruction name, which only the Python path reads.
        self.noise = noise
        self.use_native = use_native and standard and noise is None
        self.inlined = 0  # > 0 inside a definition: noise applies to the instruction, not its parts
        self.depth = 0  # > 0 inside control flow, where a qubit's state is not known at compile time
        self.dirty = np.zeros(max(circuit.num_qubits, 1), dtype=np.bool_)  # qubits that may have left |0>
        self._qmap: dict | None = None
        self._cmap: dict | None = None
        self.classical = ClassicalCompiler(
            circuit.num_clbits, lambda reason: self.unsupported("classical expression", reason)
        )

    @property
    def qmap(self) -> dict:
        if self._qmap is None:
            self._qmap = {q: i for i, q in enumerate(self.circuit.qubits)}
        return self._qmap

    @property
    def top_clbits(self) -> dict:
        if self._cmap is None:
            self._cmap = {bit: i for i, bit in enumerate(self.circuit.clbits)}
        return self._cmap

    # -- errors -----------------------------------------------------------------
    def unsupported(self, name: str, reason: str) -> UnsupportedInstructionError:
        return UnsupportedInstructionError(
            f"circuit {self.circuit.name!r}: instruction {name!r} cannot run ({reason}); {_SUPPORTED_HINT}"
        )

    # -- entry ------------------------------------------------------------------
    def compile(self) -> dict:
        self.em.phase(self.circuit.global_phase)
        native = _native(len(self.circuit.data)) if self.use_native else None
        reader = None if native is None else native.reader(self.circuit)
        if reader is None:
            self._compile_python()
        else:
            self._compile_native(reader)
        self.em.num_vars = self.classical.num_vars
        return self.em.finish()

    def _compile_native(self, reader: CircuitReader) -> None:
        """The native reader takes every instruction it can; Python takes the rest, one at a time.

        Where the reader keeps stopping at once (a circuit of parameterized gates), each
        call costs more than it reads, so Python takes the rest of the circuit.
        """
        terminal = reader.terminal()
        data = self.circuit.data
        if terminal is None:
            terminal = self._terminal_measures(list(data))
        i, idle = 0, 0
        while True:
            start = i
            i = reader.read(i, self.em, terminal, self.dirty)
            if i >= reader.size:
                return
            idle = idle + 1 if i == start else 0
            if idle == _NATIVE_PATIENCE:
                self._compile_python(i, terminal)
                return
            self._top_level(data[i], terminal[i])
            i += 1

    def _compile_python(self, start: int = 0, terminal: np.ndarray | None = None) -> None:
        """Instructions ``start`` on, read from Python (``terminal``: as :meth:`_terminal_measures`)."""
        # Each access to circuit.data builds Python objects: read the instructions once.
        data = list(self.circuit.data) if terminal is None else self.circuit.data[start:]
        if terminal is None:
            terminal, data = self._terminal_measures(data), data[start:]
        qmap = self.qmap
        # The loop of a batch compile without the native reader: standard gates take
        # the shortest path, written out here.
        standard = STANDARD_GATES if self.standard and self.noise is None else {}
        em, dirty = self.em, self.dirty
        for i, inst in enumerate(data, start):
            spec = standard.get(inst.name)
            if spec is not None and inst.is_standard_gate():  # a user's gate may take a standard name
                qargs = [qmap[q] for q in inst.qubits]
                dirty[qargs] = True
                em.standard(spec[0], qargs, inst.params)
            else:
                self._top_level(inst, terminal[i])

    def _top_level(self, inst, terminal: bool) -> None:
        if terminal:  # Aer's measure may span several qubits: qubit i into clbit i
            qargs = [self.qmap[q] for q in inst.qubits]
            group = self.noise.group_readout_for(tuple(qargs)) if self.noise is not None else None
            if group is not None:  # a correlated readout error of exactly these qubits
                for q in qargs:
                    self._noise("measure", [q])
                self.em.final_measure_group(qargs, [self.top_clbits[c] for c in inst.clbits], group)
                return
            for qubit, clbit in zip(inst.qubits, inst.clbits, strict=True):
                q = self.qmap[qubit]
                self._noise("measure", [q])  # a measurement's error acts before it, as in Aer
                readout = self.noise.readout_for(q) if self.noise is not None else None
                self.em.final_measure(q, self.top_clbits[clbit], readout)
        else:
            self._instruction(inst, self.qmap, self.top_clbits, None)

    def _noise(self, name: str, qargs: list[int]) -> None:
        """Emit the noise model's errors for instruction ``name`` on ``qargs``."""
        if self.noise is None or self.inlined:
            return
        for channel in self.noise.errors_for(name, tuple(qargs)):
            self.dirty[qargs] = True
            self.em.channel(qargs, channel)

    def _terminal_measures(self, data) -> np.ndarray:
        """Bool per instruction: top-level measurements that nothing after them touches."""
        circuit, qmap, cmap = self.circuit, self.qmap, self.top_clbits
        touched_q: set[int] = set()
        touched_c: set[int] = set()
        terminal = np.zeros(len(data), dtype=np.bool_)
        all_qubits = set(range(circuit.num_qubits))
        all_clbits = set(range(circuit.num_clbits))
        for i in range(len(data) - 1, -1, -1):
            if len(touched_q) == circuit.num_qubits and len(touched_c) == circuit.num_clbits:
                break  # nothing earlier can be terminal
            inst = data[i]
            name = inst.name
            if name == "barrier":
                continue
            qs = {qmap[q] for q in inst.qubits}
            cs = {cmap[c] for c in inst.clbits}
            if name == "measure" and not (qs & touched_q) and not (cs & touched_c):
                terminal[i] = True
            if name in _READS_STATE:
                qs = all_qubits  # a save reads the whole state, so earlier measurements must happen first
            if name in _WRITES_CLBITS:
                cs = all_clbits  # control flow may read any bit, a store overwrites its bits
            touched_q |= qs
            touched_c |= cs
        return terminal

    # -- dispatch -----------------------------------------------------------------
    def _instruction(self, inst, qmap, cmap, loop: _Loop | None) -> None:
        if self.noise is None:
            self._dispatch(inst, qmap, cmap, loop)
            return
        qargs = [qmap[q] for q in inst.qubits]
        if inst.name == "measure":
            for q in qargs:
                self._noise("measure", [q])
            self._dispatch(inst, qmap, cmap, loop)
        else:
            self._dispatch(inst, qmap, cmap, loop)
            self._noise(inst.name, qargs)

    def _dispatch(self, inst, qmap, cmap, loop: _Loop | None) -> None:
        if self._standard(inst, qmap):
            return
        if inst.is_standard_gate():
            form = self.cache.standard_form(inst)
            if form is not None:
                qargs = [qmap[q] for q in inst.qubits]
                self.dirty[qargs] = True
                self.em.gate(qargs, form)
                return
        op = inst.operation
        qargs = [qmap[q] for q in inst.qubits]
        cargs = [cmap.get(c, self.top_clbits.get(c)) for c in inst.clbits]
        spec = lookup(op.name)
        kind = spec.kind if spec else None
        if kind == "directive":
            return
        if kind == "measure":
            if self.noise is not None and not self.inlined and self.noise.group_readout_for(tuple(qargs)) is not None:
                raise self.unsupported(
                    op.name, f"the correlated readout error of qubits {qargs} applies to final measurements only"
                )
            for qubit, clbit in zip(qargs, cargs, strict=True):
                readout = self.noise.readout_for(qubit) if self.noise is not None and not self.inlined else None
                self.em.measure(qubit, clbit, readout)
            self.dirty[qargs] = True
        elif kind == "channel":
            self._channel_instruction(op, qargs)
        elif kind == "reset":
            self._reset(qargs[0])
        elif kind == "global_phase":
            self.em.phase(op.params[0])
        elif kind == "save":
            self._save(op, qargs)
        elif kind == "store":
            self._store(op, cmap)
        elif kind == "multiplexer":
            self._multiplexer(op, qargs)
        elif kind == "set_state":
            self._set_state(op.name, np.asarray(op.params[0], dtype=np.complex128), qargs)
        elif kind == "initialize" and len(qargs) == self.circuit.num_qubits and self._initialize_all(op, qargs):
            pass
        elif kind == "set_unitary":
            self._set_unitary(op, qargs)
        elif kind == "set_stabilizer":
            self._set_stabilizer(op, qargs, cargs, loop)
        elif kind == "set_superop":
            self._set_superop(op, qargs)
        elif kind == "set_density_matrix":
            self._set_density_matrix(op, qargs)
        elif kind == "set_matrix_product_state":
            self._set_chain(op, qargs)
        elif kind == "state_preparation":
            self._state_preparation(op, qargs)
        elif kind == "control_flow":
            self._control_flow(op, inst, qargs, qmap, cmap, loop)
        elif _free_parameters(op):
            self._parameterized(op, qargs, cargs, loop)
        elif isinstance(op, AnnotatedOperation):
            self._annotated(op, qargs)
        elif isinstance(op, Gate) and kind != "initialize":
            self._gate(op, qargs, inst, qmap, cmap, loop)
        elif op.definition is not None:  # initialize and user instructions
            self._inline(op.definition, qargs, cargs, loop)
        else:
            raise self.unsupported(op.name, "it has neither a matrix nor a definition")

    def _standard(self, inst, qmap) -> bool:
        """Emit ``inst`` as a standard-gate row if it is one; returns whether it was."""
        spec = STANDARD_GATES.get(inst.name) if self.standard else None
        if spec is None or not inst.is_standard_gate():  # a user's gate may take a standard name
            return False
        qargs = [qmap[q] for q in inst.qubits]
        self.dirty[qargs] = True
        self.em.standard(spec[0], qargs, inst.params)
        return True

    def _parameterized(self, op, qargs, cargs, loop) -> None:
        """An instruction (not a standard gate) whose parameters are expressions: run its definition."""
        if self.em.expressions is None:
            raise self.unsupported(op.name, "it has unbound parameters")
        if getattr(op, "definition", None) is None:
            raise NotTemplatable(f"{op.name!r} has unbound parameters and no definition")
        self.dirty[qargs] = True
        self._inline(op.definition, qargs, cargs, loop)

    def _reset(self, qubit: int) -> None:
        if self.depth == 0 and not self.dirty[qubit]:
            return  # still |0>: the reset is a no-op
        self.em.reset(qubit)
        if self.depth == 0:
            self.dirty[qubit] = False  # a reset leaves the qubit in |0>, unentangled

    def _gate(self, op, qargs, inst, qmap, cmap, loop) -> None:
        self.dirty[qargs] = True
        form = self.cache.form(op)
        if form is not None:
            if not np.isfinite(form.data).all():
                raise AerdaskInputError(
                    f"circuit {self.circuit.name!r}: the matrix of {op.name!r} holds a NaN or infinite entry"
                )
            self._check_unitary(op.name, form.data, form.diagonal)
            self.em.gate(qargs, form)
        elif op.definition is not None:
            self._inline(op.definition, qargs, [], loop)
        else:
            raise self.unsupported(op.name, "it has neither a matrix nor a definition")

    def _check_unitary(self, name: str, data: np.ndarray, diagonal: bool = False) -> None:
        """Refuse a gate whose matrix is not unitary (a gate built with its checks off), as Aer does."""
        defect = unitary_defect(data, diagonal)
        if defect > UNITARY_ATOL:
            raise AerdaskInputError(
                f"circuit {self.circuit.name!r}: the matrix of {name!r} is not unitary (U^dagger U differs from "
                f"the identity by {defect:.3g}, allowed {UNITARY_ATOL:g})"
            )

    def _annotated(self, op: AnnotatedOperation, qargs) -> None:
        # Controls, inverse and power commute, so the controls can be peeled off and
        # run by the controlled kernel; only the (small) base is made dense.
        nctrl, ctrl_val, others = 0, 0, []
        for mod in op.modifiers:
            if isinstance(mod, ControlModifier):
                ctrl_val = int(mod.ctrl_state) | (ctrl_val << mod.num_ctrl_qubits)  # newest controls come first
                nctrl += mod.num_ctrl_qubits
            else:
                others.append(mod)
        base = AnnotatedOperation(op.base_op, others) if others else op.base_op
        matrix = self.cache.matrix(base)
        if matrix is None:
            raise self.unsupported(op.name, "its base operation has no matrix")
        self._check_unitary(op.name, matrix)
        self.dirty[qargs] = True
        self.em.unitary(qargs[:nctrl], ctrl_val, qargs[nctrl:], matrix)

    def _inline(self, definition: QuantumCircuit, qargs, cargs, loop) -> None:
        qmap = {q: qargs[i] for i, q in enumerate(definition.qubits)}
        cmap = {c: cargs[i] for i, c in enumerate(definition.clbits)}
        self.em.phase(definition.global_phase)
        self.inlined += 1
        try:
            for inst in definition.data:
                self._instruction(inst, qmap, cmap, loop)
        finally:
            self.inlined -= 1

    def _channel_instruction(self, op, qargs) -> None:
        """A noise channel written into the circuit: Aer's ``QuantumError``, ``kraus``, ``superop``..."""
        from .noise import as_channel

        error = op if hasattr(op, "probabilities") else getattr(op, "_quantum_error", None)
        if error is None:
            from qiskit.quantum_info import Kraus, SuperOp

            data = op.params
            error = SuperOp(np.asarray(data[0])) if op.name == "superop" else Kraus([np.asarray(k) for k in data])
        where = f"circuit {self.circuit.name!r}: {op.name} on qubits {list(qargs)}"
        self.dirty[qargs] = True
        self.em.channel(qargs, as_channel(error, where))

    def _state_preparation(self, op, qargs) -> None:
        if self.depth == 0 and not self.dirty[qargs].any():
            # From |0...0> any unitary whose first column is the target state will do.
            matrix = householder(target_state(op))
        else:
            matrix = np.asarray(Operator(op).data, dtype=np.complex128)
        self.dirty[qargs] = True
        self.em.unitary([], 0, qargs, matrix)

    def _store(self, op, cmap) -> None:
        bits = self.classical.target_bits(op.lvalue, lambda t: self._bits(t, cmap))
        self.em.classical_op(self.classical.program(op.rvalue, lambda t: self._bits(t, cmap)), bits)

    def _multiplexer(self, op, qargs) -> None:
        """Aer's multiplexer: matrix ``k`` acts on the targets (first qubits) when the controls read ``k``."""
        matrices = [np.asarray(m, dtype=np.complex128) for m in op.params]
        dim = matrices[0].shape[0] if matrices and matrices[0].ndim == 2 else 0
        n_targets = dim.bit_length() - 1
        if dim < 2 or dim != 1 << n_targets or any(m.shape != (dim, dim) for m in matrices):
            raise self.unsupported(op.name, "its parameters must be square matrices of one power-of-two size")
        n_controls = len(qargs) - n_targets
        if n_controls < 0 or len(matrices) != 1 << n_controls:
            raise self.unsupported(
                op.name, f"{len(matrices)} matrices of {n_targets} qubits do not fit {len(qargs)} qubits"
            )
        for value, matrix in enumerate(matrices):
            self._check_unitary(f"{op.name} (matrix {value})", matrix)
        targets, controls = qargs[:n_targets], qargs[n_targets:]
        self.dirty[qargs] = True
        for value, matrix in enumerate(matrices):  # the controls select one matrix: the rows commute
            self.em.unitary(controls, value, targets, matrix)

    def _initialize_all(self, op, qargs) -> bool:
        """``initialize`` of every qubit sets the state, as in Aer (no reset, so shots still sample).

        Returns False where the definition is not a reset followed by a state preparation.
        """
        preps = [inst.operation for inst in op.definition.data if inst.operation.name == "state_preparation"]
        if len(preps) != 1:
            return False
        self._set_state(op.name, target_state(preps[0]), qargs)
        return True

    def _set_state(self, name: str, amplitudes: np.ndarray, qargs) -> None:
        """Replace the state; bit ``i`` of ``amplitudes`` is qubit ``qargs[i]``."""
        n = self.circuit.num_qubits
        amplitudes = amplitudes.ravel()
        if sorted(qargs) != list(range(n)) or amplitudes.size != 1 << n:
            raise self.unsupported(name, f"it must act on all {n} qubits with {1 << n} amplitudes")
        if list(qargs) != list(range(n)):
            # Bit i of the given amplitudes is qubit qargs[i]; the state's bit q is qubit q.
            tensor = amplitudes.reshape((2,) * n)  # axis a is bit n - 1 - a
            order = [n - 1 - qargs.index(n - 1 - b) for b in range(n)]
            amplitudes = np.transpose(tensor, order).ravel()
        self.dirty[:] = True
        self.em.set_state(n, amplitudes)
        # The circuit's global phase multiplies the state it sets, as in Aer (it was applied at the start).
        self.em.phase(self.circuit.global_phase)

    def _all_qubits(self, op, qargs) -> int:
        """The circuit's qubit count, once ``op`` (a method's ``set_*``) acts on all of them in order.

        Raises:
            UnsupportedInstructionError: it acts on fewer qubits or in another order.
        """
        n = self.circuit.num_qubits
        if list(qargs) != list(range(n)):
            raise self.unsupported(op.name, f"it must act on all {n} qubits in order")
        return n

    def _set_unitary(self, op, qargs) -> None:
        """Replace the unitary (the unitary method): a SET_STATE row of ``4**n`` entries, scaled to norm 1."""
        n = self._all_qubits(op, qargs)
        matrix = np.asarray(Operator(op.params[0]).data, dtype=np.complex128)
        self.dirty[:] = True
        # Entry row + (column << n), as the unitary method holds its operator (column-stacked).
        self.em.set_state(n, matrix.ravel(order="F") / np.sqrt(1 << n), operator=True)

    def _set_density_matrix(self, op, qargs) -> None:
        """Replace the density matrix (the density_matrix method): a SET_STATE row of ``ARG`` 3, ``4**n`` entries."""
        n = self._all_qubits(op, qargs)
        rho = DensityMatrix(op.params[0])
        if rho.num_qubits != n or not rho.is_valid():
            why = "it needs a density matrix of the circuit's qubits (Hermitian, positive, trace 1)"
            raise self.unsupported(op.name, why)
        self.dirty[:] = True
        # Entry row + (column << n), as the density_matrix method holds its state (column-stacked).
        self.em.set_state(n, np.asarray(rho.data, dtype=np.complex128).ravel(order="F"), arg=SET_DENSITY)

    def _set_chain(self, op, qargs) -> None:
        """Replace the state by a matrix product state (Aer's Vidal form): a SET_STATE row of ``ARG`` 2."""
        n = self._all_qubits(op, qargs)
        pairs, lambdas = op.params[0]
        try:
            gammas = [
                np.stack([np.asarray(g0, dtype=np.complex128), np.asarray(g1, dtype=np.complex128)], axis=1)
                for g0, g1 in pairs
            ]
            data = pack_chain(gammas, [np.asarray(lam, dtype=np.float64).ravel() for lam in lambdas])
        except ValueError as exc:
            raise self.unsupported(op.name, f"the matrix product state does not chain: {exc}") from None
        self.dirty[:] = True
        self.em.set_state(n, data, arg=SET_CHAIN)

    def _set_superop(self, op, qargs) -> None:
        """Set the superoperator: at the start of a circuit (on the identity), the channel itself."""
        self._all_qubits(op, qargs)
        if self.depth or self.dirty.any():
            raise self.unsupported(op.name, "aerdask sets a superoperator at the start of a circuit only")
        from qiskit.quantum_info import SuperOp

        from .noise import as_channel

        where = f"circuit {self.circuit.name!r}: set_superop"
        self.dirty[:] = True
        self.em.channel(list(qargs), as_channel(SuperOp(np.asarray(op.params[0])), where))

    def _set_stabilizer(self, op, qargs, cargs, loop) -> None:
        """Replace the state by a stabilizer state: every qubit reset, then a circuit that prepares it."""
        state = op.params[0]
        if isinstance(state, dict):  # Aer's (and ours): Clifford.to_dict()
            clifford = Clifford.from_dict(state)
        else:
            clifford = state.clifford if isinstance(state, StabilizerState) else Clifford(state)
        prepare = QuantumCircuit(len(qargs))
        prepare.reset(range(len(qargs)))
        prepare.compose(clifford.to_circuit(), inplace=True)
        self._inline(prepare, qargs, cargs, loop)

    def _save(self, op, qargs) -> None:
        kind = SAVE_KINDS[op.name]
        label = getattr(op, "_label", None) or op.name
        state = op.name == "save_state"  # the method's state: aerdask.methods sets its kind and label
        if label == "_method_":  # Aer's save_state: the label is the method's name
            label = "statevector"
        if any(s["label"] == label for s in self.em.saves):
            raise UnsupportedInstructionError(
                f"circuit {self.circuit.name!r}: save label {label!r} is used twice; labels must be unique"
            )
        if kind in ("amplitudes", "amplitudes_sq"):
            params = [int(p) for p in op.params]
        elif kind == "expval":
            params = [
                [str(p[0]), float(np.real(p[1][0] if isinstance(p[1], tuple | list) else p[1]))] for p in op.params
            ]
        elif kind == "expval_var":  # (label, (coefficient in H, coefficient in H**2)), Aer's layout
            params = [[str(p[0]), float(np.real(p[1][0])), float(np.real(p[1][1]))] for p in op.params]
        else:
            params = []
        self.em.save(
            {
                "kind": kind,
                "label": label,
                "subtype": getattr(op, "_subtype", "single"),
                "qubits": [int(q) for q in qargs],
                "params": params,
                **({"state": True} if state else {}),
            }
        )

    # -- control flow -------------------------------------------------------------
    def _control_flow(self, op, inst, qargs, qmap, cmap, loop) -> None:
        name = op.name
        if name in ("break_loop", "continue_loop"):
            if loop is None:
                raise self.unsupported(name, "it is outside a loop")
            self.em.jump(loop.break_label if name == "break_loop" else loop.continue_label)
            return
        self.dirty[qargs] = True
        self.depth += 1
        try:
            getattr(self, f"_{name}")(op, inst, qmap, cmap, loop)
        finally:
            self.depth -= 1

    def _block(self, block: QuantumCircuit, inst, qmap, cmap, loop) -> None:
        bq = {q: qmap[inst.qubits[i]] for i, q in enumerate(block.qubits)}
        bc = {c: cmap.get(inst.clbits[i], self.top_clbits.get(inst.clbits[i])) for i, c in enumerate(block.clbits)}
        self.em.phase(block.global_phase)
        for sub in block.data:
            self._instruction(sub, bq, bc, loop)

    def _if_else(self, op, inst, qmap, cmap, loop) -> None:
        bits, cmp, value = self._condition(op.condition, cmap)
        else_label, end_label = self.em.new_label(), self.em.new_label()
        self.em.branch(bits, cmp, value, else_label)
        self._block(op.blocks[0], inst, qmap, cmap, loop)
        if len(op.blocks) > 1 and op.blocks[1] is not None:
            self.em.jump(end_label)
            self.em.place(else_label)
            self._block(op.blocks[1], inst, qmap, cmap, loop)
            self.em.place(end_label)
        else:
            self.em.place(else_label)

    def _while_loop(self, op, inst, qmap, cmap, loop) -> None:
        start, end = self.em.new_label(), self.em.new_label()
        self.em.place(start)
        bits, cmp, value = self._condition(op.condition, cmap)  # evaluated anew at each iteration
        self.em.branch(bits, cmp, value, end)
        self._block(op.blocks[0], inst, qmap, cmap, _Loop(end, start))
        self.em.jump(start)
        self.em.place(end)

    def _for_loop(self, op, inst, qmap, cmap, loop) -> None:
        # Unrolled: each iteration binds the loop parameter, so its gates get fixed matrices.
        indexset, loop_param, body = op.params
        end = self.em.new_label()
        for value in indexset:
            block = body
            if loop_param is not None and loop_param in body.parameters:
                block = body.assign_parameters({loop_param: value}, inplace=False)
            nxt = self.em.new_label()
            self._block(block, inst, qmap, cmap, _Loop(end, nxt))
            self.em.place(nxt)
        self.em.place(end)

    def _switch_case(self, op, inst, qmap, cmap, loop) -> None:
        bits = self._target_bits(op.target, cmap)
        end = self.em.new_label()
        for values, block in op.cases_specifier():
            if CASE_DEFAULT in values:
                self._block(block, inst, qmap, cmap, loop)
                self.em.jump(end)
                continue
            body, nxt = self.em.new_label(), self.em.new_label()
            for value in values:
                self.em.branch(bits, "!=", int(value), body)  # equal -> jump into the body
            self.em.jump(nxt)
            self.em.place(body)
            self._block(block, inst, qmap, cmap, loop)
            self.em.jump(end)
            self.em.place(nxt)
        self.em.place(end)

    # -- classical conditions -----------------------------------------------------
    def _bits(self, target, cmap) -> list[int]:
        bits = [target] if isinstance(target, Clbit) else list(target)
        return [cmap.get(b, self.top_clbits.get(b)) for b in bits]

    def _target_bits(self, target, cmap) -> list[int]:
        """Clbits holding ``target``'s value: its own, or scratch clbits that a CLASSICAL row fills."""
        if isinstance(target, expr.Var) and isinstance(target.var, Clbit | ClassicalRegister):
            target = target.var
        if isinstance(target, Clbit | ClassicalRegister):
            return self._bits(target, cmap)
        if isinstance(target, expr.Var):
            return self.classical.target_bits(target, lambda t: self._bits(t, cmap))
        return self._evaluated(target, cmap, target.type.width if target.type.kind is types.Uint else 1)

    def _evaluated(self, node, cmap, width: int) -> list[int]:
        """Scratch clbits that hold ``node``'s value from here on (a CLASSICAL row computes it)."""
        bits = self.classical.extra_bits(width)
        self.em.classical_op(self.classical.program(node, lambda t: self._bits(t, cmap)), bits)
        return bits

    def _condition(self, cond, cmap) -> tuple[list[int], str, int]:
        """``(clbits, comparison, value)`` a BRANCH row tests for ``cond``."""
        bits, cmp, value = self._compared(cond, cmap)
        if 0 <= value < 1 << min(len(bits), 62):
            return bits, cmp, value
        # The constant lies outside every value the clbits can hold (Qiskit allows 2**70 against
        # three bits): the comparison has one answer for every value, so it is a constant.
        outcome = _PY_CMP[cmp](0, value)
        return self._evaluated(expr.lift(bool(outcome)), cmap, 1), "==", 1

    def _compared(self, cond, cmap) -> tuple[list[int], str, int]:
        if isinstance(cond, tuple):
            target, value = cond
            return self._bits(target, cmap), "==", int(value)
        if isinstance(cond, expr.Var) and isinstance(cond.var, Clbit):
            return self._bits(cond.var, cmap), "==", 1
        if isinstance(cond, expr.Unary) and cond.op == expr.Unary.Op.LOGIC_NOT:
            bits, cmp, value = self._compared(cond.operand, cmap)
            return bits, _INVERT[cmp], value
        if isinstance(cond, expr.Binary) and cond.op in _EXPR_CMP:
            cmp = _EXPR_CMP[cond.op]
            left, right = cond.left, cond.right
            if isinstance(left, expr.Value) and isinstance(right, expr.Var):
                left, right, cmp = right, left, _MIRROR[cmp]
            if isinstance(left, expr.Var) and isinstance(right, expr.Value):
                return self._target_bits(left, cmap), cmp, int(right.value)
        if isinstance(cond, expr.Expr):  # any other Bool expression: computed into a scratch clbit
            return self._evaluated(cond, cmap, 1), "==", 1
        raise self.unsupported("condition", f"{cond!r} is neither a (register, value) pair nor an expression")


@functools.lru_cache(maxsize=256)
def _register_fields(qregs: tuple, cregs: tuple, num_clbits: int) -> dict:
    """The register part of a header; a batch shares a few layouts, and their (read-only) lists."""
    creg_sizes = [[reg.name, reg.size] for reg in cregs]
    clbit_labels = [[reg.name, j] for reg in cregs for j in range(reg.size)]
    if sum(size for _, size in creg_sizes) != num_clbits:
        creg_sizes = [["c", num_clbits]] if num_clbits else []
        clbit_labels = [["c", j] for j in range(num_clbits)]
    return {
        "creg_sizes": creg_sizes,
        "clbit_labels": clbit_labels,
        "qreg_sizes": [[reg.name, reg.size] for reg in qregs],
        "qubit_labels": [[reg.name, j] for reg in qregs for j in range(reg.size)],
    }


def _header(circuit: QuantumCircuit) -> dict:
    phase = circuit.global_phase
    return {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "memory_slots": circuit.num_clbits,
        **_register_fields(tuple(circuit.qregs), tuple(circuit.cregs), circuit.num_clbits),
        # An expression of the parameters differs by point: its text stands for it.
        "global_phase": str(phase) if isinstance(phase, ParameterExpression) and phase.parameters else float(phase),
        "metadata": dict(circuit.metadata or {}),
    }


def _free_parameters(op) -> bool:
    """Whether an operation has a parameter that is an unbound expression."""
    return any(isinstance(p, ParameterExpression) and p.parameters for p in getattr(op, "params", ()))


def compile_circuit(
    circuit: QuantumCircuit,
    index: int = 0,
    shots: int = 1024,
    cache: MatrixCache | None = None,
    use_native: bool = True,
    noise=None,
) -> Experiment:
    """Compile one circuit; with unbound parameters, once for any values of them.

    Args:
        circuit: The circuit.
        index: The experiment's position in the job (names it in errors, keys its seed).
        shots: Shots to run.
        cache: A :class:`MatrixCache` shared across a batch.
        use_native: Read instructions through Qiskit's C API where it can (see
            :mod:`aerdask.native`); off, everything is read from Python.
        noise: An :class:`aerdask.noise.NoiseModel` whose errors follow the instructions.

    Returns:
        The experiment, not yet validated. With parameters, ``parameters`` names them
        (in ``circuit.parameters`` order) and ``values`` holds one placeholder point of
        zeros: replace it with the real points (``Experiment.replace(values=...,
        indices=...)``).

    Raises:
        UnsupportedInstructionError: naming the instruction and the circuit.
        NotTemplatable: for a circuit with parameters that cannot be compiled once
            (bind it per point and compile each).

    """
    return _compile(circuit, index, shots, cache or MatrixCache(), use_native, noise)[0]


def _compile(circuit, index, shots, cache, use_native=True, noise=None) -> tuple[Experiment, ExpressionTable | None]:
    parameters = list(circuit.parameters) if circuit.num_parameters else []
    expressions = ExpressionTable(parameters) if parameters else None
    try:
        arrays = _CircuitCompiler(circuit, cache, True, expressions, use_native, noise).compile()
    except NonNumericParameters:  # e.g. an expression with a complex value: each gate's own path decides
        if expressions is not None:
            raise NotTemplatable("a gate parameter is neither a number nor a real expression") from None
        arrays = _CircuitCompiler(circuit, cache, standard=False, noise=noise).compile()
    extra = {}
    if parameters:
        extra = {"parameters": [p.name for p in parameters], "values": np.zeros((1, len(parameters)))}
    return _experiment(circuit, index, shots, {**arrays, **extra}), expressions


def _experiment(circuit: QuantumCircuit, index: int, shots: int, fields: dict) -> Experiment:
    return Experiment(
        name=circuit.name,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        header=_header(circuit),
        indices=no_points(index),
        shots=shots,
        **fields,
    )


_STANDARD_NAMES = {code: name for name, (code, _, _) in STANDARD_GATES.items()}


def check_numbers(exp: Experiment) -> None:
    """Refuse a gate angle, phase or matrix entry that is NaN or infinite, naming the instruction.

    Such a number runs without complaint and gives wrong counts, so it is caught
    here, at ``run()``. Angles that are expressions of the parameters are checked per
    point (:func:`aerdask.expressions.check_finite`); their slots hold placeholders.

    Raises:
        AerdaskInputError: naming the circuit, the instruction's row and the value.
    """
    # The common case, all finite, in a few vector checks (the slots of expressions hold 0.0).
    if all(arr.size == 0 or np.isfinite(arr).all() for arr in (exp.params, exp.matrices, exp.expr_consts)):
        return
    for row in exp.ops:
        opcode, moff, arg, arg2 = int(row[COL_OPCODE]), int(row[COL_MOFF]), int(row[COL_ARG]), int(row[COL_ARG2])
        if opcode == OP_STANDARD:
            values = exp.params[arg : arg + arg2]
            if exp.param_expr.size:
                values = values[exp.param_expr[arg : arg + arg2] < 0]
            bad = values[~np.isfinite(values)]
            if bad.size:
                raise AerdaskInputError(
                    f"circuit {exp.name!r}: {_STANDARD_NAMES.get(moff, 'gate')} has parameter {bad[0]}; "
                    "gate angles and phases must be finite real numbers"
                )
        elif opcode in (OP_MATRIX, OP_DIAG, OP_SET_STATE):
            size = {OP_MATRIX: 1 << (2 * int(row[COL_NTARG])), OP_DIAG: 1 << int(row[COL_NTARG])}.get(
                opcode, 1 << int(row[COL_NTARG])
            )
            if not np.isfinite(exp.matrices[moff : moff + size]).all():
                what = "set_statevector" if opcode == OP_SET_STATE else f"a {int(row[COL_NTARG])}-qubit gate's matrix"
                raise AerdaskInputError(f"circuit {exp.name!r}: {what} holds a NaN or infinite entry")
    if not np.isfinite(exp.expr_consts).all():
        raise AerdaskInputError(f"circuit {exp.name!r}: a parameter expression holds a NaN or infinite constant")


def compile_batch(
    circuits: list[QuantumCircuit], values: list, shots: int, indices: np.ndarray | None = None, noise=None
) -> Iterator[Experiment]:
    """Compile a job's circuits, lazily: each experiment is yielded as soon as it is compiled.

    A circuit with parameters is compiled once and runs at the rows of its values
    array. One that cannot be (:class:`NotTemplatable`: an opaque gate with unbound
    parameters, a complex-valued expression) is bound here, point by point, and each
    bound copy compiled: the same results, at the client's expense.

    Args:
        circuits: The circuits.
        values: Per circuit, ``None`` (no parameters) or float64 ``(points, parameters)``
            in ``circuit.parameters`` order (see :func:`aerdask.binding.bind_values`).
        shots: Shots of every point.
        indices: int64, one experiment number per point; default ``0, 1, ...`` in order.
        noise: An :class:`aerdask.noise.NoiseModel`, or ``None`` for ideal circuits.

    Raises:
        UnsupportedInstructionError: naming the instruction and the circuit.
        AerdaskInputError: for a point at which a gate angle has no finite value.
    """
    cache = MatrixCache()  # shared by the batch: it repeats the same few gates
    native = _native(sum(len(c.data) for c in circuits)) if noise is None else None  # noise needs names
    fast = None if native is None else native.batch_compiler()
    first = 0
    for circuit, vals in zip(circuits, values, strict=True):
        if circuit.num_input_vars:
            names = [v.name for v in circuit.iter_input_vars()]
            raise UnsupportedInstructionError(
                f"circuit {circuit.name!r}: input variables {names} have no values; declare them with add_var"
            )
        count = 1 if vals is None else vals.shape[0]
        numbers = np.arange(first, first + count) if indices is None else indices[first : first + count]
        first += count
        if vals is None:
            arrays = None if fast is None else fast.arrays(circuit)
            if arrays is None:
                experiment = compile_circuit(circuit, int(numbers[0]), shots, cache, noise=noise)
            else:  # a plain circuit, read whole by one native call
                experiment = _experiment(circuit, int(numbers[0]), shots, arrays)
            check_numbers(experiment)
            yield experiment
            continue
        try:
            template, table = _compile(circuit, 0, shots, cache, noise=noise)
        except NotTemplatable:
            params = list(circuit.parameters)
            for row, index in zip(vals.tolist(), numbers.tolist(), strict=True):
                bound = circuit.assign_parameters(dict(zip(params, row, strict=True)), inplace=False)
                experiment = compile_circuit(bound, index, shots, cache, noise=noise)
                check_numbers(experiment)
                yield experiment
            continue
        experiment = template.replace(values=vals, indices=np.asarray(numbers, dtype=np.int64))
        check_numbers(experiment)
        check_finite(experiment, [str(e) for e in table.exprs] if table else None)
        yield experiment
