"""Compile Qiskit circuits into the plain-data program that workers run.

``compile_circuit`` walks a bound ``QuantumCircuit`` once and emits opcode rows
(see :mod:`aerdask_kernels.program`). Matrices are computed here, on the client,
so the worker never sees a Qiskit object. Measurements at the end of the circuit
are lifted out and sampled in one pass; everything else runs in order.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from qiskit.circuit import ClassicalRegister, Clbit, Gate, QuantumCircuit
from qiskit.circuit.annotated_operation import AnnotatedOperation, ControlModifier
from qiskit.circuit.classical import expr
from qiskit.circuit.controlflow import CASE_DEFAULT
from qiskit.quantum_info import Operator

from aerdask_kernels.program import Experiment
from aerdask_kernels.standard import OP_STANDARD, STANDARD_GATES

from .emitter import Emitter, NonNumericParameters
from .errors import UnsupportedInstructionError
from .gate_forms import MatrixCache, householder, target_state
from .instructions import SAVE_KINDS, lookup

__all__ = ["compile_circuit", "MatrixCache"]
_SUPPORTED_HINT = (
    "aerdask runs the standard gates, unitary, diagonal, multi-controlled gates, any gate with a matrix "
    "or a definition, measure, reset, initialize, state_preparation, barrier, delay, if_else, switch_case, "
    "for_loop, while_loop and Aer's save instructions"
)
_CONTROL_FLOW = {"if_else", "switch_case", "for_loop", "while_loop", "box"}
_INVERT = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
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
    """Compiles one bound circuit into an :class:`Experiment`."""

    def __init__(self, circuit: QuantumCircuit, cache: MatrixCache, fusion: bool = True, standard: bool = True):
        self.circuit = circuit
        self.cache = cache
        self.em = Emitter(fuse=fusion)
        self.standard = standard  # standard gates as rows whose matrices are built in compiled code
        self.depth = 0  # > 0 inside control flow, where a qubit's state is not known at compile time
        self.dirty: set[int] = set()  # qubits that may have left |0>
        self.final_qubits: list[int] = []
        self.final_clbits: list[int] = []
        self.top_clbits = {bit: i for i, bit in enumerate(circuit.clbits)}

    # -- errors -----------------------------------------------------------------
    def unsupported(self, name: str, reason: str) -> UnsupportedInstructionError:
        return UnsupportedInstructionError(
            f"circuit {self.circuit.name!r}: instruction {name!r} cannot run ({reason}); {_SUPPORTED_HINT}"
        )

    # -- entry ------------------------------------------------------------------
    def compile(self) -> dict:
        circuit = self.circuit
        qmap = {q: i for i, q in enumerate(circuit.qubits)}
        cmap = dict(self.top_clbits)
        self.em.phase(float(circuit.global_phase))
        data = list(circuit.data)  # each access to circuit.data builds Python objects: do it once
        terminal = self._terminal_measures(circuit, data, qmap, cmap)
        # The loop of a batch compile. Standard gates take Emitter.standard's path written
        # out here: the two calls per gate cost as much as everything else it does.
        standard = STANDARD_GATES if self.standard else {}
        rows, qubits, params, dirty = self.em.rows, self.em.qubits, self.em.params, self.dirty
        for i, inst in enumerate(data):
            spec = standard.get(inst.name)
            if spec is not None and inst.is_standard_gate():  # a user's gate may take a standard name
                qargs = [qmap[q] for q in inst.qubits]
                dirty.update(qargs)
                p = inst.params
                rows.append((OP_STANDARD, len(qubits), 0, len(qargs), spec[0], 0, len(params), len(p)))
                qubits += qargs
                params += p
            elif i in terminal:
                self.final_qubits.append(qmap[inst.qubits[0]])
                self.final_clbits.append(cmap[inst.clbits[0]])
            else:
                self._instruction(inst, qmap, cmap, None)
        out = self.em.finish()
        out["final_qubits"] = np.array(self.final_qubits, dtype=np.int64)
        out["final_clbits"] = np.array(self.final_clbits, dtype=np.int64)
        out["saves"] = self.em.saves
        return out

    @staticmethod
    def _terminal_measures(circuit, data, qmap, cmap) -> set[int]:
        """Indices of top-level measurements that nothing after them touches."""
        touched_q: set[int] = set()
        touched_c: set[int] = set()
        terminal = set()
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
                terminal.add(i)
            if name in SAVE_KINDS:
                qs = all_qubits  # a save reads the whole state, so earlier measurements must happen first
            if name in _CONTROL_FLOW:
                cs = all_clbits  # control flow may read any bit
            touched_q |= qs
            touched_c |= cs
        return terminal

    # -- dispatch -----------------------------------------------------------------
    def _instruction(self, inst, qmap, cmap, loop: _Loop | None) -> None:
        if self._standard(inst, qmap):
            return
        if inst.is_standard_gate():
            form = self.cache.standard_form(inst)
            if form is not None:
                qargs = [qmap[q] for q in inst.qubits]
                self.dirty.update(qargs)
                self.em.gate(qargs, form, inst.params)
                return
        op = inst.operation
        qargs = [qmap[q] for q in inst.qubits]
        cargs = [cmap.get(c, self.top_clbits.get(c)) for c in inst.clbits]
        spec = lookup(op.name)
        kind = spec.kind if spec else None
        if kind == "directive":
            return
        if kind == "measure":
            self.em.measure(qargs[0], cargs[0])
            self.dirty.add(qargs[0])
        elif kind == "reset":
            self._reset(qargs[0])
        elif kind == "global_phase":
            self.em.phase(float(op.params[0]))
        elif kind == "save":
            self._save(op, qargs)
        elif kind == "state_preparation":
            self._state_preparation(op, qargs)
        elif kind == "control_flow":
            self._control_flow(op, inst, qargs, qmap, cmap, loop)
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
        self.dirty.update(qargs)
        self.em.standard(spec[0], qargs, inst.params)
        return True

    def _reset(self, qubit: int) -> None:
        if self.depth == 0 and qubit not in self.dirty:
            return  # still |0>: the reset is a no-op
        self.em.reset(qubit)
        if self.depth == 0:
            self.dirty.discard(qubit)  # a reset leaves the qubit in |0>, unentangled

    def _gate(self, op, qargs, inst, qmap, cmap, loop) -> None:
        self.dirty.update(qargs)
        form = self.cache.form(op)
        if form is not None:
            self.em.gate(qargs, form, op.params)
        elif op.definition is not None:
            self._inline(op.definition, qargs, [], loop)
        else:
            raise self.unsupported(op.name, "it has neither a matrix nor a definition")

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
        self.dirty.update(qargs)
        self.em.unitary(qargs[:nctrl], ctrl_val, qargs[nctrl:], matrix, ())

    def _inline(self, definition: QuantumCircuit, qargs, cargs, loop) -> None:
        qmap = {q: qargs[i] for i, q in enumerate(definition.qubits)}
        cmap = {c: cargs[i] for i, c in enumerate(definition.clbits)}
        self.em.phase(float(definition.global_phase))
        for inst in definition.data:
            self._instruction(inst, qmap, cmap, loop)

    def _state_preparation(self, op, qargs) -> None:
        if self.depth == 0 and not (set(qargs) & self.dirty):
            # From |0...0> any unitary whose first column is the target state will do.
            matrix = householder(target_state(op))
        else:
            matrix = np.asarray(Operator(op).data, dtype=np.complex128)
        self.dirty.update(qargs)
        self.em.unitary([], 0, qargs, matrix, ())

    def _save(self, op, qargs) -> None:
        kind = SAVE_KINDS[op.name]
        label = getattr(op, "_label", None) or op.name
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
        else:
            params = []
        self.em.save(
            {
                "kind": kind,
                "label": label,
                "subtype": getattr(op, "_subtype", "single"),
                "qubits": [int(q) for q in qargs],
                "params": params,
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
        self.dirty.update(qargs)
        self.depth += 1
        try:
            getattr(self, f"_{name}")(op, inst, qmap, cmap, loop)
        finally:
            self.depth -= 1

    def _block(self, block: QuantumCircuit, inst, qmap, cmap, loop) -> None:
        bq = {q: qmap[inst.qubits[i]] for i, q in enumerate(block.qubits)}
        bc = {c: cmap.get(inst.clbits[i], self.top_clbits.get(inst.clbits[i])) for i, c in enumerate(block.clbits)}
        self.em.phase(float(block.global_phase))
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
        bits, cmp, value = self._condition(op.condition, cmap)
        start, end = self.em.new_label(), self.em.new_label()
        self.em.place(start)
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
        if isinstance(target, expr.Var) and isinstance(target.var, Clbit | ClassicalRegister):
            target = target.var
        if isinstance(target, Clbit | ClassicalRegister):
            return self._bits(target, cmap)
        raise self.unsupported("switch_case", f"its target {target!r} is not a clbit or classical register")

    def _condition(self, cond, cmap) -> tuple[list[int], str, int]:
        if isinstance(cond, tuple):
            target, value = cond
            return self._bits(target, cmap), "==", int(value)
        if isinstance(cond, expr.Var) and isinstance(cond.var, Clbit):
            return self._bits(cond.var, cmap), "==", 1
        if isinstance(cond, expr.Unary) and cond.op == expr.Unary.Op.LOGIC_NOT:
            bits, cmp, value = self._condition(cond.operand, cmap)
            return bits, _INVERT[cmp], value
        if isinstance(cond, expr.Binary) and cond.op in _EXPR_CMP:
            cmp = _EXPR_CMP[cond.op]
            left, right = cond.left, cond.right
            if isinstance(left, expr.Value) and isinstance(right, expr.Var):
                left, right, cmp = right, left, _MIRROR[cmp]
            if isinstance(left, expr.Var) and isinstance(right, expr.Value):
                return self._target_bits(left, cmap), cmp, int(right.value)
        raise self.unsupported(
            "condition",
            f"expression {cond} is not supported; use a clbit, a register compared with a constant, or their negation",
        )


def _header(circuit: QuantumCircuit) -> dict:
    creg_sizes = [[reg.name, reg.size] for reg in circuit.cregs]
    clbit_labels = [[reg.name, j] for reg in circuit.cregs for j in range(reg.size)]
    if sum(size for _, size in creg_sizes) != circuit.num_clbits:
        creg_sizes = [["c", circuit.num_clbits]] if circuit.num_clbits else []
        clbit_labels = [["c", j] for j in range(circuit.num_clbits)]
    return {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "memory_slots": circuit.num_clbits,
        "creg_sizes": creg_sizes,
        "clbit_labels": clbit_labels,
        "qreg_sizes": [[reg.name, reg.size] for reg in circuit.qregs],
        "qubit_labels": [[reg.name, j] for reg in circuit.qregs for j in range(reg.size)],
        "global_phase": float(circuit.global_phase),
        "metadata": dict(circuit.metadata or {}),
    }


def compile_circuit(
    circuit: QuantumCircuit,
    index: int = 0,
    shots: int = 1024,
    seed_key: tuple = (),
    cache: MatrixCache | None = None,
    fusion: bool = True,
) -> Experiment:
    """Compile one parameter-bound circuit.

    Args:
        circuit: A circuit with every parameter bound.
        index: The experiment's position in the job (names it in errors, keys its seed).
        shots: Shots to run.
        seed_key: Spawn key for the experiment's ``SeedSequence`` (default ``(index,)``).
        cache: A :class:`MatrixCache` shared across a batch.
        fusion: Fuse neighbouring gates (see :mod:`aerdask_kernels.fusion`); Aer's ``fusion_enable``.

    Returns:
        The experiment, not yet validated.

    Raises:
        UnsupportedInstructionError: naming the instruction and the circuit.

    """
    cache = cache or MatrixCache()
    try:
        arrays = _CircuitCompiler(circuit, cache, fusion).compile()
    except NonNumericParameters:  # e.g. an expression with a complex value: each gate's own path decides
        arrays = _CircuitCompiler(circuit, cache, fusion, standard=False).compile()
    return Experiment(
        name=circuit.name,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        header=_header(circuit),
        seed_key=tuple(seed_key) if seed_key else (index,),
        shots=shots,
        index=index,
        **arrays,
    )
