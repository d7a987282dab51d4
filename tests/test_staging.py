"""Staging: the planner's rules, its distance from the best plan, and staged runs against unstaged ones."""

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit.library import quantum_volume
from qiskit.circuit.random import random_circuit
from qiskit.synthesis import synth_qft_full

from aerdask import AerSimulator
from aerdask_kernels.opcodes import COL_OPCODE, OP_DIAG, OP_MATRIX
from aerdask_kernels.passes.blocking import plan_blocks, stage_gate
from aerdask_kernels.passes.staging import StageGate, commutes, fewest_passes, plan_stages

from .conftest import compiled, random_u_layer, reference_statevector


def gate(row, needs=(), insular=()):
    return StageGate(row, frozenset(needs), frozenset(insular))


def gates_of(qc, fusion=True):
    exp = compiled(qc, fusion=fusion)
    rows = [pc for pc in range(exp.ops.shape[0]) if exp.ops[pc, COL_OPCODE] in (OP_MATRIX, OP_DIAG)]
    return [stage_gate(exp.ops, exp.qubits, pc) for pc in rows]


def assert_valid(schedule, gates, capacity, fixed=frozenset()):
    """Every gate once, its needs local, and only commuting gates reordered."""
    order = [row for stage in schedule.stages for row in stage.rows]
    assert sorted(order) == sorted(g.row for g in gates)
    by_row = {g.row: g for g in gates}
    for stage in schedule.stages:
        if len(stage.rows) > 1:
            assert len(stage.local) <= capacity and fixed <= stage.local
        for row in stage.rows:
            assert by_row[row].needs <= stage.local
    position = {row: i for i, row in enumerate(order)}
    for i, a in enumerate(gates):
        for b in gates[i + 1 :]:
            if position[b.row] < position[a.row]:
                assert commutes(a, b)


def test_commutation_rule_is_shared_qubits_insular_in_both():
    cz, cp, h, cx = gate(0, (), (0, 1)), gate(1, (), (1, 2)), gate(2, (1,)), gate(3, (2,), (1,))
    assert commutes(cz, cp)  # diagonals commute
    assert commutes(cx, cz)  # a control commutes with a diagonal on it
    assert not commutes(h, cz) and not commutes(cx, cp)  # cx mixes qubit 2, cp is diagonal on it


def test_diagonal_and_controls_need_no_local_qubit():
    qc = QuantumCircuit(6)
    qc.cp(0.3, 0, 5)
    qc.cx(4, 1)
    qc.h(2)
    needs = [g.needs for g in gates_of(qc, fusion=False)]
    assert needs == [frozenset(), frozenset({1}), frozenset({2})]


def test_a_qft_is_a_few_stages():
    gates = gates_of(synth_qft_full(24, do_swaps=False))
    schedule = plan_stages(gates, 15, frozenset(range(7)), num_qubits=24, reserve=5)
    assert_valid(schedule, gates, 15, frozenset(range(7)))
    # 17 qubits above the 7 fixed ones take a Hadamard, 3 blocks of up to 8 more: 3 stages.
    assert len(schedule.stages) == 3 and schedule.passes == 3


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("relabel", [False, True])
def test_greedy_plan_is_valid_and_near_the_fewest_passes(seed, relabel):
    qc = random_circuit(7, 6, max_operands=2, seed=seed)
    gates = gates_of(qc)
    fixed = frozenset(range(4)) if relabel else frozenset({0})
    schedule = plan_stages(gates, 4, fixed, relabel=relabel, num_qubits=7)
    assert_valid(schedule, gates, 4, frozenset() if relabel else fixed)
    best = fewest_passes(gates, 4, 7, fixed, relabel=relabel)
    assert best <= schedule.passes <= best + 2


def test_relabel_brings_in_the_qubits_the_pending_gates_need():
    gates = [gate(0, (0,)), gate(1, (5,)), gate(2, (4,)), gate(3, (1,)), gate(4, (5,), (0,))]
    schedule = plan_stages(gates, 3, frozenset({0, 1, 2}), relabel=True, num_qubits=6)
    assert [s.relabel for s in schedule.stages] == [False, True]
    assert schedule.stages[0].rows == (0, 3)  # gate 3 moves ahead of the gates it commutes with
    assert {4, 5} <= schedule.stages[1].local
    assert schedule.passes == 3 == fewest_passes(gates, 3, 6, frozenset({0, 1, 2}), relabel=True)
    with pytest.raises(ValueError, match="needs 2 local qubits"):
        plan_stages([gate(0, (0, 1))], 1, frozenset({0}), relabel=True)


def test_gate_too_wide_for_a_block_runs_alone():
    gates = [gate(0, (0,)), gate(1, range(6)), gate(2, (1,))]
    schedule = plan_stages(gates, 4, frozenset({0}))
    assert [s.rows for s in schedule.stages] == [(0,), (1,), (2,)]


def test_blocks_of_a_qft_leave_diagonals_outside():
    exp = compiled(synth_qft_full(12))
    plan = plan_blocks(exp, 6)
    assert (plan.positions < 0).any()  # some diagonal qubits stay outside their block


def staged_and_unstaged(qc, blocking_qubits, **options):
    backend = AerSimulator(seed_simulator=23, shots=400, **options)
    staged = backend.run(qc, blocking_qubits=blocking_qubits).result()
    plain = backend.run(qc, blocking_enable=False).result()
    return staged, plain


def random_dynamic_circuit(num_qubits, seed):
    """Random gates (controlled, diagonal, dense) with mid-circuit measurements and an if/else."""
    rng = np.random.default_rng(seed)
    qc = random_u_layer(num_qubits, rng)
    qc.add_register(ClassicalRegister(3, "c"))
    body = random_circuit(num_qubits, 5, max_operands=3, seed=seed)
    qc.compose(body, inplace=True)
    for q in range(0, num_qubits - 2, 3):
        qc.cp(0.1 + q, q, num_qubits - 1 - q)
        qc.mcx([q, q + 1], num_qubits - 2 - q)
    qc.measure(1, 0)
    with qc.if_test((qc.clbits[0], 1)) as orelse:
        qc.cry(0.7, num_qubits - 1, 2)
        qc.rzz(0.3, 0, num_qubits - 2)
    with orelse:
        qc.h(num_qubits - 1)
    qc.compose(random_circuit(num_qubits, 4, max_operands=2, seed=seed + 1), inplace=True)
    qc.measure(num_qubits - 1, 1)
    qc.cswap(num_qubits - 1, 0, 3)
    qc.save_statevector(pershot=True)
    qc.measure(2, 2)
    return qc


@pytest.mark.parametrize("num_qubits,blocking_qubits", [(10, 5), (12, 6), (12, 9)])
@pytest.mark.parametrize("seed", [31, 32])
def test_staged_runs_equal_unstaged_runs(num_qubits, blocking_qubits, seed):
    qc = random_dynamic_circuit(num_qubits, seed)
    staged, plain = staged_and_unstaged(qc, blocking_qubits)
    assert staged.get_counts() == plain.get_counts()
    got = np.asarray(staged.data(0)["statevector"])
    want = np.asarray(plain.data(0)["statevector"])
    assert got.shape == want.shape and got.shape[0] > 1  # several shots, several branches
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("make", [synth_qft_full, lambda n: quantum_volume(n, seed=5).decompose()])
def test_staged_circuits_match_statevector(make):
    rng = np.random.default_rng(2)
    qc = random_u_layer(12, rng).compose(make(12))
    want = reference_statevector(qc)
    qc.save_statevector()
    for precision, tol in (("double", 1e-12), ("single", 5e-5)):
        result = AerSimulator(precision=precision).run(qc, blocking_qubits=6, shots=1).result()
        np.testing.assert_allclose(np.asarray(result.data(0)["statevector"]), want, atol=tol)
