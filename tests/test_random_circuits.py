"""Seeded random circuits against Statevector, 1 to 10 qubits."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit

from aerdask import AerSimulator
from aerdask_kernels.opcodes import COL_ARG, COL_NTARG, COL_OPCODE

from .conftest import compiled, random_u_layer, reference_statevector, simulate_statevector


@pytest.mark.parametrize("num_qubits", range(1, 11))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_circuit_double(num_qubits, seed):
    rng = np.random.default_rng(seed * 100 + num_qubits)
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 8, max_operands=3, seed=seed))
    np.testing.assert_allclose(simulate_statevector(qc), reference_statevector(qc), atol=1e-10)


@pytest.mark.parametrize("num_qubits", [3, 7, 10])
def test_random_circuit_single_precision(num_qubits):
    rng = np.random.default_rng(num_qubits)
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 8, max_operands=3, seed=7))
    got = simulate_statevector(qc, precision="single")
    error = np.max(np.abs(got - reference_statevector(qc)))
    assert error < 5e-5
    assert error > 1e-12  # float32 rounding shows: the run really was single precision


@pytest.mark.parametrize("num_qubits", [2, 5, 9])
def test_fusion_off_gives_the_same_state(num_qubits):
    rng = np.random.default_rng(num_qubits + 50)
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 10, max_operands=3, seed=11))
    on = simulate_statevector(qc, fusion_enable=True)
    off = simulate_statevector(qc, fusion_enable=False)
    np.testing.assert_allclose(on, off, atol=1e-12)
    np.testing.assert_allclose(on, reference_statevector(qc), atol=1e-10)


def test_fusion_cuts_the_passes_of_a_qft():
    from qiskit.synthesis import synth_qft_full

    qc = synth_qft_full(12)
    fused = compiled(qc, fusion=True).ops.shape[0]
    plain = compiled(qc, fusion=False).ops.shape[0]
    assert fused * 2.5 < plain
    np.testing.assert_allclose(simulate_statevector(qc), reference_statevector(qc), atol=1e-10)


def test_gates_move_along_their_own_qubits_into_a_neighbouring_pair():
    qc = QuantumCircuit(5)
    qc.h(0)  # next on qubit 0: cx(0, 1), past cx(2, 3) -> taken in
    qc.cx(2, 3)
    qc.cx(0, 1)
    qc.ccx(1, 2, 4)
    qc.sx(0)  # previous on qubit 0: cx(0, 1), the ccx does not touch 0 -> taken in
    qc.sx(1)  # previous on qubit 1: the ccx -> stays
    exp = compiled(qc, fusion=True)
    rows = [exp.qubits[r[1] : r[1] + r[2] + r[3]].tolist() for r in exp.ops]
    assert rows == [[2, 3], [0, 1], [1, 2, 4], [1]]
    rng = np.random.default_rng(3)
    full = random_u_layer(5, rng).compose(qc)
    np.testing.assert_allclose(simulate_statevector(full), reference_statevector(full), atol=1e-10)


def test_fused_rows_keep_jump_targets_and_grow_their_matrix_buffer():
    from aerdask_kernels.opcodes import OP_BRANCH, OP_DIAG, OP_JUMP

    qc = QuantumCircuit(10, 2)
    for q in range(10):
        qc.rz(0.1 * (q + 1), q)  # ten one-qubit diagonals: one 1024-entry DIAG, from 20 entries
    qc.h(range(10))
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.h(1)
        qc.rz(0.3, 1)
    with else_:
        qc.x(2)
        qc.t(2)
    qc.h(3)
    with qc.if_test((qc.clbits[0], 0)):  # its jump lands on the end, past the block still open there
        qc.x(4)
    qc.measure(4, 1)
    fused = compiled(qc, fusion=True)
    plain = compiled(qc, fusion=False)
    fused.validate()
    assert fused.ops.shape[0] < plain.ops.shape[0]
    assert any(r[COL_OPCODE] == OP_DIAG and r[COL_NTARG] == 10 for r in fused.ops)
    for program in (fused, plain):  # every jump lands on the first row of its block, in both
        branches = program.ops[program.ops[:, COL_OPCODE] == OP_BRANCH]
        assert (
            program.ops[branches[0, COL_ARG] - 1, COL_OPCODE] == OP_JUMP
        )  # the else block starts right after the then-jump
        assert branches[1, COL_ARG] == program.ops.shape[0]  # the last if ends the program
        assert program.ops[-1, COL_OPCODE] != OP_BRANCH  # x(4) is inside it
    results = [
        AerSimulator().run(qc, shots=2000, seed_simulator=4, fusion_enable=f).result().get_counts()
        for f in (True, False)
    ]
    assert results[0] == results[1]
