"""Standard gates built in compiled code (aerdask_kernels.format.standard) against the Python path they replace."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping

from aerdask import AerSimulator
from aerdask.compiler import MatrixCache, _CircuitCompiler, compile_circuit
from aerdask.emitter import Emitter, NonNumericParameters
from aerdask_kernels import Experiment
from aerdask_kernels.format.standard import OP_STANDARD, STANDARD_GATES
from aerdask_kernels.opcodes import COL_OPCODE, OP_DIAG, OP_JUMP
from aerdask_kernels.passes.prepare import prepare_point

from .conftest import compiled


def _compiled(circuit, standard, fusion=False):
    """The rows a worker runs, from STANDARD rows (``standard``) or from matrices built on the client."""
    arrays = _CircuitCompiler(circuit, MatrixCache(), standard=standard).compile()
    exp = Experiment(name="t", num_qubits=circuit.num_qubits, num_clbits=circuit.num_clbits, **arrays)
    exp.validate()
    return prepare_point(exp, 0, fusion)


def test_table_agrees_with_qiskit():
    qiskit = get_standard_gate_name_mapping()
    for name, (_, num_qubits, num_params) in STANDARD_GATES.items():
        assert qiskit[name].num_qubits == num_qubits, name
        assert len(qiskit[name].params) == num_params, name
    assert len({code for code, _, _ in STANDARD_GATES.values()}) == len(STANDARD_GATES)


@pytest.mark.parametrize("fusion", [False, True])
@pytest.mark.parametrize("name", sorted(STANDARD_GATES))
def test_rows_equal_the_python_path(name, fusion, rng):
    gate = get_standard_gate_name_mapping()[name].copy()
    qc = QuantumCircuit(4)
    for _ in range(3):
        if gate.params:
            gate = gate.copy()
            gate.params = list(rng.uniform(-np.pi, np.pi, len(gate.params)))
        qc.append(gate, [int(q) for q in rng.permutation(4)[: gate.num_qubits]])
    fast, slow = _compiled(qc, True, fusion), _compiled(qc, False, fusion)
    assert OP_STANDARD not in fast.ops[:, COL_OPCODE] and OP_STANDARD not in slow.ops[:, COL_OPCODE]
    np.testing.assert_array_equal(fast.ops[:, :6], slow.ops[:, :6])  # ARG/ARG2 point at the parameters
    np.testing.assert_array_equal(fast.qubits, slow.qubits)
    np.testing.assert_allclose(fast.matrices, slow.matrices, rtol=0, atol=1e-15)


def test_identity_rows_are_dropped_and_jumps_renumbered():
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 0)):
        qc.x(1)
    qc.rz(0.0, 1)  # the identity, where the if's jump lands: it must land on the next row instead
    qc.p(0.0, 0)
    qc.h(1)
    qc.measure(1, 1)
    ops = compiled(qc, fusion=False).ops
    assert ops.shape[0] == 5  # x, measure, branch, x, h (the last measure is sampled)
    branch = ops[2]
    assert ops[branch[6], 3] == 1 and ops[branch[6], 0] != OP_DIAG  # lands on the h
    assert OP_JUMP not in ops[:, COL_OPCODE]
    counts = AerSimulator().run(qc, shots=400, seed_simulator=3, fusion_enable=False).result().get_counts()
    assert set(counts) == {"01", "11"} and sum(counts.values()) == 400


def test_non_numeric_parameters_take_the_python_path(monkeypatch):
    em = Emitter()
    with pytest.raises(NonNumericParameters):
        em.standard(STANDARD_GATES["rz"][0], [0], ["not a number"])
    # compile_circuit compiles such a circuit again without standard rows.
    qc = QuantumCircuit(1)
    qc.rz(0.5, 0)
    calls = []

    def standard(self, code, qubits, params):
        calls.append(code)
        raise NonNumericParameters("as if a parameter were a complex expression")

    monkeypatch.setattr(Emitter, "standard", standard)
    exp = compile_circuit(qc, use_native=False)
    assert calls and exp.ops[0, COL_OPCODE] == OP_DIAG
    np.testing.assert_allclose(exp.matrices, np.exp([-0.25j, 0.25j]))
