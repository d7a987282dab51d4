"""Memory admission: a task's peak (state, branch copies, saves, per-shot memory) against its workers."""

import numpy as np
import pytest
from qiskit import QuantumCircuit

from aerdask import AerSimulator
from aerdask.admission import Admission, WorkerMemory, task_bytes
from aerdask.compiler import compile_circuit
from aerdask.errors import CircuitTooLargeError
from aerdask_kernels import Program, run_program

OPTIONS = {"precision": "double", "memory": False, "shots": 1000, "max_shot_size": None}
MiB = 1 << 20


def _mid_circuit(num_qubits: int = 12, measurements: int = 10) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits, measurements + num_qubits)
    for m in range(measurements):
        qc.h(range(num_qubits))
        qc.rx(0.3 + m, m % num_qubits)
        qc.measure(m % num_qubits, m)
    qc.measure(range(num_qubits), range(measurements, measurements + num_qubits))
    return qc


def _program_options():
    return {"shots": 1000, "memory": False, "precision": "double", "seed_simulator": 5, "max_parallel_threads": 1}


def test_task_bytes_counts_state_saves_memory_and_copies():
    qc = _mid_circuit(12, 10)
    qc.save_statevector(pershot=True)
    need = task_bytes(compile_circuit(qc, shots=100), {**OPTIONS, "memory": True}, 100)
    state = 16 << 12
    assert need["state"] == state + (8 << 12)  # the state and the probabilities it samples from
    # One pending branch per mid-circuit measurement: the save makes the 12 final ones mid-circuit too.
    assert need["copy"] == state and need["copies"] == 22
    assert need["saves"] == 100 * state  # a state per shot
    assert need["memory"] == 100 * 40


def test_a_loop_may_hold_a_copy_per_shot():
    qc = QuantumCircuit(1, 1)
    with qc.while_loop((qc.clbits[0], 0)):
        qc.h(0)
        qc.measure(0, 0)
    assert task_bytes(compile_circuit(qc, shots=50), OPTIONS, 50)["copies"] == 49


def test_threads_share_a_worker_and_the_nanny_fraction_counts():
    exp = compile_circuit(_mid_circuit(16, 2), shots=1000)  # 1.5 MiB a task, copies 1 MiB each
    roomy = Admission([WorkerMemory("a", 64 * MiB, 1)], OPTIONS, {})
    roomy.admit(exp)
    assert "max_branch_copies" not in roomy.program_options
    crowded = Admission([WorkerMemory("a", 16 * MiB, 8)], OPTIONS, {})  # 2 MiB a task: no room for copies
    crowded.admit(exp)
    assert crowded.program_options["max_branch_copies"] == 0
    with pytest.raises(CircuitTooLargeError, match=r"1,572,864 bytes .* usable memory 8,388,608 shared by 8 threads"):
        Admission([WorkerMemory("a", 8 * MiB, 8)], OPTIONS, {}).admit(exp)


def test_tasks_are_placed_on_the_workers_big_enough():
    small, big = WorkerMemory("tcp://small", 1 * MiB, 1), WorkerMemory("tcp://big", 64 * MiB, 1)
    admission = Admission([small, big], OPTIONS, {})
    wide = compile_circuit(_mid_circuit(16, 0), index=3)
    narrow = compile_circuit(_mid_circuit(4, 0), index=4)
    admission.admit(wide)
    admission.admit(narrow)
    assert admission.placement(Program([wide], {})).workers == ("tcp://big",)
    assert admission.placement(Program([narrow], {})) is None
    both = admission.placement(Program([narrow, wide], {}))
    assert both.workers == ("tcp://big",) and both.task_bytes > 2**20


def test_memory_mode_shots_are_refused_at_run_with_bytes(bell):
    with pytest.raises(CircuitTooLargeError, match="per-shot memory 40,000,000,000,000"):
        AerSimulator().run(bell, shots=10**12, memory=True)
    assert AerSimulator().run(bell, shots=10**12).result().success  # counts alone need no per-shot arrays


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_capped_branch_copies_recompute_with_identical_samples(cap):
    qc = _mid_circuit(8, 10)
    qc.save_probabilities([0, 1], label="p")
    exp = compile_circuit(qc, shots=500)
    options = {**_program_options(), "shots": 500, "memory": True}
    free = run_program(Program([exp], options))[0]
    capped = run_program(Program([exp], {**options, "max_branch_copies": cap}))[0]
    assert free["branch_copies"] > cap and free["branch_replays"] == 0
    assert capped["branch_copies"] <= cap and capped["branch_replays"] > 0
    assert np.array_equal(free["memory"], capped["memory"])
    assert np.array_equal(free["counts"], capped["counts"])
    assert np.allclose(free["saves"]["p"], capped["saves"]["p"])


def test_run_caps_copies_when_the_memory_limit_is_tight():
    qc = _mid_circuit(18, 6)  # 4 MiB state, 2 MiB probabilities, 6 possible copies
    result = AerSimulator(max_memory_mb=24).run(qc, shots=200, seed_simulator=3).result()
    free = AerSimulator().run(qc, shots=200, seed_simulator=3).result()
    assert result.get_counts() == free.get_counts()
    assert result.results[0].metadata["branch_replays"] > 0 and free.results[0].metadata["branch_replays"] == 0


def _noisy_model():
    from aerdask.noise import NoiseModel

    from .noise_cases import amplitude_damping, depolarizing

    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing(0.1, 1), ["h", "ry"])
    model.add_all_qubit_quantum_error(amplitude_damping(0.1), ["rx"])
    model.add_all_qubit_quantum_error(depolarizing(0.05, 2), ["cx"])
    model.add_readout_error([[0.9, 0.1], [0.2, 0.8]], [1])  # mid-circuit measurements too
    return model


def _noisy_circuit(num_qubits: int) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits, num_qubits)
    for layer in range(3):
        qc.h(range(num_qubits))
        qc.rx(0.3 + layer, range(num_qubits))
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
        qc.measure(1, 1)  # a mid-circuit measurement with a readout error
        qc.ry(0.2, range(num_qubits))
    qc.measure(range(num_qubits), range(num_qubits))
    return qc


@pytest.mark.parametrize("cap", [0, 2])
def test_noisy_trajectories_keep_to_the_copy_budget_with_identical_samples(cap):
    exp = compile_circuit(_noisy_circuit(6), shots=400, noise=_noisy_model())
    options = {**_program_options(), "shots": 400, "memory": True}
    free = run_program(Program([exp], options))[0]
    capped = run_program(Program([exp], {**options, "max_branch_copies": cap}))[0]
    assert free["branch_copies"] > cap and free["branch_replays"] == 0  # trajectories branch a lot
    assert capped["branch_copies"] <= cap and capped["branch_replays"] > 0
    assert np.array_equal(free["memory"], capped["memory"])
    assert np.array_equal(free["counts"], capped["counts"])


def test_admission_counts_noisy_copies_and_kraus_scratch():
    exp = compile_circuit(_noisy_circuit(6), shots=400, noise=_noisy_model())
    need = task_bytes(exp, {"precision": "double", "memory": False}, 400)
    state = (1 << 6) * 16
    assert need["state"] >= state + 2 * state  # amplitude damping: two operators' outputs at once
    assert need["copies"] > 3 * 4  # channels of 4 and 16 operators leave groups pending, not only measurements
    admission = Admission([WorkerMemory("a", need["state"] + 3 * state, 1)], {**OPTIONS, "shots": 400}, {})
    admission.admit(exp)
    assert admission.program_options["max_branch_copies"] == 3


def test_readout_errors_on_counts_need_no_per_shot_arrays(bell):
    from aerdask.noise import NoiseModel

    model = NoiseModel()
    model.add_all_qubit_readout_error([[0.9, 0.1], [0.2, 0.8]])
    result = AerSimulator(noise_model=model).run(bell, shots=10**12, seed_simulator=5).result()
    counts = result.get_counts()
    assert sum(counts.values()) == 10**12
    # P(read 00) = 0.5 * 0.9**2 + 0.5 * 0.2**2 = 0.425; the draw is exact to a few parts in 10**6.
    assert abs(counts["00"] / 10**12 - 0.425) < 1e-5
    with pytest.raises(CircuitTooLargeError, match="per-shot memory"):
        AerSimulator(noise_model=model).run(bell, shots=10**11, memory=True)


@pytest.mark.parametrize(
    ("method", "num_qubits", "state"),
    [
        ("statevector", 10, (1 << 10) * 16),
        ("density_matrix", 10, (1 << 20) * 16),
        ("unitary", 10, (1 << 20) * 16),
        ("superop", 5, (1 << 20) * 16),
        ("stabilizer", 1000, 2001 * 32 * 8),  # 2n + 1 columns of ceil(2n / 64) words
    ],
)
def test_each_method_counts_its_own_state(method, num_qubits, state):
    from aerdask.admission import state_bytes

    exp = compile_circuit(QuantumCircuit(num_qubits)).replace(method=method)
    assert state_bytes(exp, "double") == state


def test_a_unitary_too_big_is_refused_and_a_wide_tableau_admitted():
    wide = QuantumCircuit(13)
    wide.h(range(13))
    wide.save_unitary()  # 4**13 entries: 1 GiB, against a 64 MiB cap
    with pytest.raises(CircuitTooLargeError, match="13 active qubits"):
        AerSimulator(max_memory_mb=64).run(wide)
    ghz = QuantumCircuit(3000)
    ghz.h(0)
    for q in range(2999):
        ghz.cx(q, q + 1)
    ghz.measure_all()
    counts = AerSimulator(max_memory_mb=64).run(ghz, shots=100).result().get_counts()  # a 2.3 MB tableau
    assert set(counts) <= {"0" * 3000, "1" * 3000}
