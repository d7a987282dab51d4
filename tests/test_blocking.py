"""Cache blocking: the planner's invariants, and blocked runs against Statevector."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import quantum_volume
from qiskit.circuit.random import random_circuit

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask_kernels.format.program import Program, QobjValidationError
from aerdask_kernels.opcodes import COL_ARG, COL_NCTRL, COL_NTARG, COL_OPCODE, COL_QOFF, OP_DIAG, OP_MATRIX
from aerdask_kernels.passes.blocking import BLOCK_MIN_QUBITS, plan_blocks, stage_gate
from aerdask_kernels.passes.staging import commutes

from .conftest import compiled, random_u_layer, reference_statevector, simulate_statevector


def blocked_steps(plan):
    """(local qubits, rows) of every step that is a block."""
    out = []
    for n_local, loff, roff, n_rows in plan.steps:
        if n_local:
            out.append((plan.pool[loff : loff + n_local], plan.pool[roff : roff + n_rows]))
    return out


def row_qubits(exp, row):
    qoff, count = exp.ops[row, COL_QOFF], exp.ops[row, COL_NCTRL] + exp.ops[row, COL_NTARG]
    return exp.qubits[qoff : qoff + count]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fusion", [True, False])
def test_plan_keeps_every_gate_once_and_each_qubits_order(seed, fusion):
    qc = random_circuit(12, 12, max_operands=3, seed=seed)
    exp = compiled(qc, fusion=fusion)
    plan = plan_blocks(exp, 8)
    order = []
    for n_local, loff, roff, n_rows in plan.steps:
        rows = plan.pool[roff : roff + n_rows].tolist()
        order += rows
        local = set(plan.pool[loff : loff + n_local].tolist())
        slots = plan.pool[loff + n_local : loff + 2 * n_local].tolist()
        assert len(local) <= 8 and sorted(slots) == list(range(n_local))
        for row in rows if n_local else []:
            gate = stage_gate(exp.ops, exp.qubits, row)
            assert gate.needs <= local  # the qubits it mixes are in the block
            qoff, count = exp.ops[row, COL_QOFF], exp.ops[row, COL_NCTRL] + exp.ops[row, COL_NTARG]
            qs, ps = exp.qubits[qoff : qoff + count].tolist(), plan.positions[qoff : qoff + count].tolist()
            for q, p in zip(qs, ps, strict=True):
                assert p == (slots[sorted(local).index(q)] if q in local else -1 - q)
    gates = [pc for pc in range(exp.ops.shape[0]) if exp.ops[pc, COL_OPCODE] in (OP_MATRIX, OP_DIAG)]
    planned = [r for r in range(exp.ops.shape[0]) if plan.entry[r] >= 0]
    assert sorted(order) == gates or not planned
    for i, a in enumerate(order):  # gates change places only where they commute
        for b in order[i + 1 :]:
            if b < a:
                assert commutes(stage_gate(exp.ops, exp.qubits, a), stage_gate(exp.ops, exp.qubits, b))
    assert blocked_steps(plan), "a 12-qubit random circuit in 8-qubit blocks has blocks"


def test_untouched_qubits_take_the_lowest_buffer_bits():
    qc = QuantumCircuit(12)
    for q in (0, 1, 2, 9):
        qc.h(q)
    qc.cx(0, 9)
    exp = compiled(qc, fusion=False)
    plan = plan_blocks(exp, 9)
    ((local, rows),) = blocked_steps(plan)
    n_local = local.size
    loff = plan.steps[0, 1]
    slots = dict(zip(local.tolist(), plan.pool[loff + n_local : loff + 2 * n_local].tolist(), strict=True))
    touched = {0, 1, 2, 9}
    free = min(5, 9 // 3)
    assert all(slots[q] >= free for q in touched)  # untouched qubits below every gate
    assert len(rows) == 5


def test_no_jump_lands_inside_a_planned_run():
    qc = QuantumCircuit(10, 1)
    qc.h(range(10))
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.cx(1, 2)
        qc.h(3)
    qc.cx(2, 3)
    qc.h(4)
    exp = compiled(qc)
    plan = plan_blocks(exp, 6)
    targets = {int(exp.ops[pc, COL_ARG]) for pc in range(exp.ops.shape[0]) if exp.ops[pc, COL_OPCODE] in (6, 7)}
    starts = [pc for pc in range(exp.ops.shape[0]) if plan.entry[pc] >= 0]
    assert starts
    for start in starts:
        resume = plan.runs[plan.entry[start], 2]
        assert not any(start < t < resume for t in targets)


def test_automatic_blocking_starts_at_the_documented_width():
    for n, blocked in [(BLOCK_MIN_QUBITS - 1, False), (BLOCK_MIN_QUBITS, True)]:
        qc = QuantumCircuit(n)
        for q in range(n):
            qc.h(q)
        plan = plan_blocks(compiled(qc), -1)
        assert bool(blocked_steps(plan)) == blocked
    assert not blocked_steps(plan_blocks(compiled(qc), 0))  # 0 switches it off


@pytest.mark.parametrize("num_qubits,blocking_qubits", [(9, 6), (11, 8), (12, 7)])
@pytest.mark.parametrize("seed", [4, 5])
def test_blocked_random_circuits_match_statevector(num_qubits, blocking_qubits, seed):
    rng = np.random.default_rng(seed)
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 10, max_operands=3, seed=seed))
    got = simulate_statevector(qc, blocking_qubits=blocking_qubits)
    np.testing.assert_allclose(got, reference_statevector(qc), atol=1e-10)
    unfused = simulate_statevector(qc, blocking_qubits=blocking_qubits, fusion_enable=False)
    np.testing.assert_allclose(unfused, reference_statevector(qc), atol=1e-10)


@pytest.mark.timeout(900)  # from an empty Numba cache (CI) it compiles the single-precision blocked kernels
def test_blocked_single_precision():
    rng = np.random.default_rng(9)
    qc = random_u_layer(11, rng).compose(quantum_volume(11, seed=3).decompose())
    got = simulate_statevector(qc, blocking_qubits=7, precision="single")
    error = np.max(np.abs(got - reference_statevector(qc)))
    assert 1e-12 < error < 5e-5


def test_blocked_at_the_automatic_width_matches_statevector():
    n = BLOCK_MIN_QUBITS
    rng = np.random.default_rng(11)
    qc = random_u_layer(n, rng)
    for q in range(0, n - 1, 3):
        qc.cx(q, q + 1)
        qc.cp(0.3 * q, q + 1, n - 1 - q)
        qc.rzz(0.2, q, (q + 7) % n)
    np.testing.assert_allclose(simulate_statevector(qc), reference_statevector(qc), atol=1e-10)


def test_blocked_dynamic_circuit_gives_the_unblocked_counts():
    qc = QuantumCircuit(10, 2)
    qc.h(range(10))
    qc.cx(0, 5)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as orelse:
        qc.cx(1, 2)
        qc.ry(0.4, 7)
    with orelse:
        qc.rx(0.9, 8)
    qc.cx(2, 9)
    qc.measure(9, 1)
    backend = AerSimulator(shots=500, seed_simulator=17)
    blocked = backend.run(qc, blocking_qubits=6).result().get_counts()
    plain = backend.run(qc, blocking_enable=False).result().get_counts()
    assert blocked == plain


def test_blocking_runs_on_every_executor(executor):
    rng = np.random.default_rng(3)
    qc = random_u_layer(10, rng).compose(random_circuit(10, 6, max_operands=2, seed=8))
    expected = reference_statevector(qc)
    qc.save_statevector()
    result = AerSimulator(executor=executor).run(qc, blocking_qubits=7).result(timeout=120)
    np.testing.assert_allclose(result.get_statevector().data, expected, atol=1e-10)


@pytest.mark.parametrize(
    "options,message",
    [
        ({"blocking_qubits": 1}, "blocking_qubits must be an int in"),
        ({"blocking_qubits": "8"}, "blocking_qubits must be an int in"),
        ({"blocking_enable": 1}, "blocking_enable must be True or False"),
    ],
)
def test_bad_blocking_options_are_refused(options, message):
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().run(QuantumCircuit(1), **options)


def test_program_option_is_validated_and_passed():
    qc = QuantumCircuit(2)
    qc.h(0)
    program = AerSimulator().run(qc, blocking_enable=False).qobj()
    assert program.options["blocking_qubits"] == 0
    assert AerSimulator().run(qc, blocking_qubits=9).qobj().options["blocking_qubits"] == 9
    assert AerSimulator().run(qc).qobj().options["blocking_qubits"] == -1
    bad = Program(program.experiments, {**program.options, "blocking_qubits": 99})
    with pytest.raises(QobjValidationError, match="blocking_qubits"):
        bad.validate()


def _slots_in_state_order(plan):
    """For each block step: whether its buffer keeps the state's bit order."""
    out = []
    for n_local, loff, _, _ in plan.steps.tolist():
        if n_local:
            out.append(plan.pool[loff + n_local : loff + 2 * n_local].tolist() == list(range(n_local)))
    return out


def test_blocks_without_dense_gates_on_low_qubits_keep_the_state_order():
    """Free low buffer bits are for dense gates' loops; a block of moves and phases gathers runs in order."""
    moves = QuantumCircuit(12)
    for q in range(8):  # cx and cz on the lowest qubits: permutations and phases only
        moves.cx(q, q + 1)
        moves.cz(q, q + 2)
    assert _slots_in_state_order(plan_blocks(compiled(moves, fusion=False), 9)) == [True, True]
    dense = moves.copy()
    dense.h(1)  # a dense gate on a low qubit wants the free slots
    assert False in _slots_in_state_order(plan_blocks(compiled(dense, fusion=False), 9))
    # In front of it, a seeded random layer; the blocks after it keep the state's order.
    qc = random_u_layer(12, np.random.default_rng(3)).compose(moves)
    assert True in _slots_in_state_order(plan_blocks(compiled(qc, fusion=False), 9))
    for fusion in (True, False):
        got = simulate_statevector(qc, blocking_qubits=9, fusion_enable=fusion)
        np.testing.assert_allclose(got, reference_statevector(qc), atol=1e-10)


@pytest.mark.parametrize("method", ["statevector", "density_matrix"])
def test_a_new_state_is_built_by_its_first_block_without_being_read(method):
    """Where row 0 starts a block step, fresh() leaves the state unwritten and that step writes |0...0>.

    The fault: the new array is filled with NaN before the rows run (memory as np.empty may
    hand it out); a single NaN read would spread to the whole result.
    """
    from qiskit.quantum_info import DensityMatrix

    from aerdask_kernels.cpu.density_matrix import DensityMatrixEngine
    from aerdask_kernels.cpu.statevector import StatevectorEngine
    from aerdask_kernels.passes.prepare import prepare_point

    n = 5 if method == "density_matrix" else 10
    qc = random_u_layer(n, np.random.default_rng(6)).compose(random_circuit(n, 6, max_operands=2, seed=6))
    program = AerSimulator(method=method, enable_truncation=False).compile([qc], shots=1)
    exp = prepare_point(program.experiments[0], 0, True)
    engine_class = StatevectorEngine if method == "statevector" else DensityMatrixEngine
    engine = engine_class(exp, np.complex128, np.zeros(1, dtype=np.uint8), 4)
    assert engine.rows.zero_plan is not None, "row 0 should start a block step"
    state = engine.fresh()
    assert state is engine._unwritten
    state[:] = np.nan
    assert engine.run_segment(state, np.zeros(1, dtype=np.int8), 0) == exp.ops.shape[0]
    if method == "statevector":
        np.testing.assert_allclose(state, reference_statevector(qc), atol=1e-10)
    else:
        rho = state.reshape(1 << n, 1 << n).T  # vectorised column by column
        np.testing.assert_allclose(rho, DensityMatrix(qc).data, atol=1e-10)
    again = engine.fresh()  # every new state: the flag is per state
    assert again is engine._unwritten and again is not state
