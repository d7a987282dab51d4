"""The stabilizer, unitary and superoperator methods against ``qiskit.quantum_info``'s oracles.

The stabilizer: ``Clifford``/``StabilizerState`` (the tableau itself), ``Statevector`` (outcome
probabilities, expectation values). The unitary and superoperator: ``Operator`` and ``SuperOp``
of circuits opened by a seeded random Clifford layer (so no entry is special), with noise
channels for the superoperator. Each runs on the thread pool and on a Dask cluster.
"""

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.quantum_info import (
    Clifford,
    DensityMatrix,
    Kraus,
    Operator,
    Pauli,
    StabilizerState,
    Statevector,
    SuperOp,
    random_clifford,
    random_pauli,
    random_unitary,
)

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask.noise import NoiseModel

from .noise_cases import depolarizing

EXACT = 1e-10


def clifford_circuit(n: int, seed: int, depth: int = 3) -> QuantumCircuit:
    """A seeded random Clifford on ``n`` qubits, as gates (H, S, CX... from its synthesis), ``depth`` times."""
    qc = QuantumCircuit(n)
    for layer in range(depth):
        qc.compose(random_clifford(n, seed=seed * 31 + layer).to_circuit(), inplace=True)
    return qc


@pytest.mark.parametrize("seed", range(6))
def test_stabilizer_tableau_equals_qiskit_clifford(executor, seed):
    n = 2 + seed
    qc = clifford_circuit(n, seed)
    qc.sx(0)
    qc.sxdg(n - 1)
    qc.ecr(0, 1)
    qc.iswap(1, 0)
    expected = Clifford(qc)
    qc.save_clifford()
    qc.save_stabilizer()
    data = AerSimulator(method="stabilizer", executor=executor).run(qc, shots=1).result().data(0)
    assert data["clifford"] == expected
    assert data["stabilizer"] == StabilizerState(expected)


@pytest.mark.parametrize("seed", range(4))
def test_stabilizer_probabilities_and_expectation_values_equal_the_statevector(seed):
    n = 5
    qc = clifford_circuit(n, seed)
    psi = Statevector(qc)
    paulis = [Pauli((p.z, p.x)) for p in (random_pauli(n, seed=seed * 7 + i) for i in range(6))]
    paulis.append(Pauli("Z" * n))
    for i, p in enumerate(paulis):
        qc.save_expectation_value(p, range(n), label=f"e{i}")
    qc.save_probabilities([3, 0, 1], label="probs")
    qc.save_probabilities_dict([2, 4], label="pdict")
    qc.save_amplitudes_squared([0, 5, 17, 31], label="amps")
    data = AerSimulator(method="stabilizer").run(qc, shots=1).result().data(0)
    for i, p in enumerate(paulis):
        assert data[f"e{i}"] == pytest.approx(psi.expectation_value(p).real, abs=EXACT)
    np.testing.assert_allclose(data["probs"], psi.probabilities([3, 0, 1]), atol=EXACT)
    expected = {hex(i): v for i, v in enumerate(psi.probabilities([2, 4])) if v > 1e-10}
    assert data["pdict"].keys() == expected.keys()
    np.testing.assert_allclose([data["pdict"][k] for k in expected], list(expected.values()), atol=EXACT)
    np.testing.assert_allclose(data["amps"], psi.probabilities()[[0, 5, 17, 31]], atol=EXACT)


def test_stabilizer_counts_follow_the_final_distribution(executor):
    qc = clifford_circuit(6, 3)
    probs = Statevector(qc).probabilities_dict()
    qc.measure_all()
    shots = 20_000
    counts = AerSimulator(method="stabilizer", executor=executor).run(qc, shots=shots, seed_simulator=5).result()
    counts = counts.get_counts()
    assert set(counts) <= {k for k, v in probs.items() if v > 1e-10}
    for key, p in probs.items():
        if p > 1e-10:
            assert abs(counts.get(key, 0) / shots - p) < 5 * np.sqrt(p * (1 - p) / shots) + 1e-9


def test_stabilizer_mid_circuit_measurement_reset_and_condition():
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.reset(1)
    qc.measure(1, 1)
    qc.measure(2, 2)
    result = AerSimulator(method="stabilizer").run(qc, shots=4000, seed_simulator=11).result()
    counts = result.get_counts()
    assert set(counts) == {"000", "101"}
    assert abs(counts["101"] - 2000) < 200
    assert result.results[0].metadata["method"] == "stabilizer"


def test_stabilizer_runs_a_thousand_qubits_and_samples_without_replay():
    n = 1000
    qc = QuantumCircuit(n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    backend = AerSimulator(method="stabilizer")
    assert backend.target.num_qubits >= n  # its Target is the tableau's width, not a statevector's
    qc = transpile(qc, backend, optimization_level=0)
    result = backend.run(qc, shots=500, seed_simulator=3, memory=True).result()
    counts = result.get_counts()
    assert set(counts) == {"0" * n, "1" * n}
    assert sum(counts.values()) == 500
    assert len(result.get_memory()) == 500
    assert result.results[0].metadata["measure_sampling"] is True


def test_stabilizer_pauli_noise_as_trajectories():
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing(0.2, 1), ["x"])
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    result = AerSimulator(method="stabilizer", noise_model=model).run(qc, shots=20_000, seed_simulator=2).result()
    flipped = result.get_counts().get("0", 0) / 20_000
    expected = DensityMatrix(_x()).evolve(depolarizing(0.2, 1)).probabilities()[0]
    assert abs(flipped - expected) < 0.015


@pytest.mark.parametrize(
    ("build", "what"),
    [
        (lambda qc: qc.t(0), "'t'"),
        (lambda qc: qc.rx(0.3, 0), "'rx'"),
        (lambda qc: qc.save_statevector(), "save_statevector"),
        (lambda qc: qc.unitary(random_unitary(2, seed=1), [0]), "not a Clifford"),
    ],
)
def test_stabilizer_refuses_what_a_tableau_cannot_hold(build, what):
    qc = QuantumCircuit(2)
    qc.h(0)
    build(qc)
    with pytest.raises(AerdaskInputError, match=what):
        AerSimulator(method="stabilizer").run(qc)


def test_stabilizer_takes_rotations_at_clifford_angles():
    qc = QuantumCircuit(2)
    qc.rx(np.pi / 2, 0)
    qc.rz(np.pi, 1)
    qc.ry(-np.pi / 2, 1)
    qc.rzz(np.pi / 2, 0, 1)
    expected = StabilizerState(qc)
    qc.save_stabilizer()
    assert AerSimulator(method="stabilizer").run(qc).result().data(0)["stabilizer"] == expected


def _x() -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.x(0)
    return qc


def _input_layer(n: int, seed: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.unitary(random_unitary(2, seed=seed * 13 + q), [q])
    return qc


@pytest.mark.parametrize("precision", ["double", "single"])
def test_unitary_equals_the_operator(executor, precision):
    qc = _input_layer(4, 1)
    qc.cx(0, 2)
    qc.ccx(0, 1, 3)
    qc.rzz(0.7, 1, 2)
    qc.swap(3, 0)
    expected = Operator(qc).data
    qc.save_unitary()
    result = AerSimulator(method="unitary", precision=precision, executor=executor).run(qc).result()
    got = result.get_unitary(qc)
    np.testing.assert_allclose(np.asarray(got), expected, atol=EXACT if precision == "double" else 1e-5)
    assert result.results[0].metadata["method"] == "unitary"


def test_unitary_keeps_idle_qubits_and_set_unitary_replaces_it():
    target = random_unitary(8, seed=4)
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.set_unitary(target)
    qc.cx(2, 1)
    after = QuantumCircuit(3)
    after.cx(2, 1)
    expected = Operator(after).data @ target.data
    qc.save_unitary()
    data = AerSimulator().run(qc).result().data(0)  # automatic: set_unitary picks the unitary method
    np.testing.assert_allclose(np.asarray(data["unitary"]), expected, atol=EXACT)


def test_superop_equals_the_channel_composition(executor):
    qc = _input_layer(2, 3)
    qc.cx(0, 1)
    qc.reset(1)
    qc.append(Kraus([np.sqrt(0.7) * np.eye(2), np.sqrt(0.3) * np.diag([1, -1])]), [0])
    qc.ry(0.4, 1)
    expected = SuperOp(qc).data
    qc.save_superop()
    result = AerSimulator(method="superop", executor=executor).run(qc).result()
    np.testing.assert_allclose(np.asarray(result.data(0)["superop"]), expected, atol=EXACT)


def test_superop_with_a_noise_model():
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing(0.1, 2), ["cx"])
    cx = QuantumCircuit(2)
    cx.cx(0, 1)
    expected = SuperOp(_input_layer(2, 5)).compose(SuperOp(cx)).compose(SuperOp(depolarizing(0.1, 2)))
    qc = _input_layer(2, 5).compose(cx)
    qc.save_superop()
    result = AerSimulator(method="superop", noise_model=model).run(qc).result()
    np.testing.assert_allclose(np.asarray(result.data(0)["superop"]), expected.data, atol=EXACT)


@pytest.mark.parametrize(
    ("method", "build", "what"),
    [
        ("unitary", lambda qc: qc.measure_all(), "measurements"),
        ("unitary", lambda qc: qc.reset(0), "resets"),
        ("superop", lambda qc: qc.measure_all(), "measurements"),
        ("statevector", lambda qc: qc.save_unitary(), "save_unitary"),
        ("unitary", lambda qc: qc.save_statevector(), "save_statevector"),
    ],
)
def test_operator_methods_refuse_what_aer_refuses(method, build, what):
    qc = QuantumCircuit(2)
    qc.h(0)
    build(qc)
    with pytest.raises(AerdaskInputError, match=what):
        AerSimulator(method=method).run(qc)


@pytest.mark.parametrize(
    ("build", "method"),
    [
        (lambda qc: qc.measure_all(), "stabilizer"),
        (lambda qc: (qc.t(0), qc.measure_all()), "statevector"),
        (lambda qc: qc.save_unitary(), "unitary"),
        (lambda qc: qc.save_superop(), "superop"),
        (lambda qc: qc.save_statevector(), "statevector"),
    ],
)
def test_automatic_picks_as_aer_does(build, method):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    build(qc)
    assert AerSimulator().run(qc, shots=10).result().results[0].metadata["method"] == method


def _noisy_clifford_program() -> tuple[QuantumCircuit, NoiseModel]:
    qc = QuantumCircuit(3, 5)
    qc.h(0)
    qc.cx(0, 1)
    qc.s(1)
    qc.h(1)
    qc.measure(1, 0)
    qc.reset(1)
    qc.cx(0, 2)
    qc.h(2)
    qc.measure(2, 1)
    qc.cx(2, 1)
    qc.measure([0, 1, 2], [2, 3, 4])
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing(0.1, 1), ["h", "s"])
    model.add_all_qubit_quantum_error(depolarizing(0.05, 2), ["cx"])
    model.add_all_qubit_readout_error([[0.9, 0.1], [0.2, 0.8]])
    return qc, model


def test_stabilizer_pauli_frames_sample_what_trajectories_sample():
    """Frames (one reference run, every shot's Pauli) against the statevector's trajectories."""
    qc, model = _noisy_clifford_program()
    shots = 40_000
    frames = AerSimulator(method="stabilizer", noise_model=model).run(qc, shots=shots, seed_simulator=4).result()
    paths = AerSimulator(method="statevector", noise_model=model).run(qc, shots=shots, seed_simulator=4).result()
    a, b = frames.get_counts(), paths.get_counts()
    for key in set(a) | set(b):
        p, q = a.get(key, 0) / shots, b.get(key, 0) / shots
        pooled = (p + q) / 2
        assert abs(p - q) < 5 * np.sqrt(2 * pooled * (1 - pooled) / shots) + 1e-3, (key, p, q)


def test_stabilizer_takes_frames_only_without_feedback():
    from aerdask_kernels.cpu.frames import FrameSampler
    from aerdask_kernels.cpu.stabilizer import StabilizerEngine
    from aerdask_kernels.passes.prepare import prepare_point

    qc, model = _noisy_clifford_program()
    backend = AerSimulator(method="stabilizer", noise_model=model)
    exp = backend.compile([qc]).experiments[0]
    assert exp.method == "stabilizer"
    engine = StabilizerEngine(prepare_point(exp, 0, False), np.complex128, np.zeros(1, np.uint8))
    assert FrameSampler(engine).applies()
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    exp = backend.compile([qc]).experiments[0]
    engine = StabilizerEngine(prepare_point(exp, 0, False), np.complex128, np.zeros(1, np.uint8))
    assert not FrameSampler(engine).applies()  # a condition on a measured bit: the walker's branches
    quiet = _noisy_clifford_program()[0]
    exp = AerSimulator(method="stabilizer").compile([quiet]).experiments[0]
    engine = StabilizerEngine(prepare_point(exp, 0, False), np.complex128, np.zeros(1, np.uint8))
    assert not FrameSampler(engine).applies()  # no noise, two measurements: at most four leaves to walk


@pytest.mark.parametrize("method", ["statevector", "density_matrix", "stabilizer"])
def test_readout_error_on_a_branching_measurement_keeps_each_shot_once(method):
    """The 1-branch's flipped shots left it once (they were counted in both branches before)."""
    model = NoiseModel()
    model.add_all_qubit_readout_error([[0.9, 0.1], [0.2, 0.8]])
    qc = QuantumCircuit(1, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(0, 1)
    shots = 40_000
    counts = AerSimulator(method=method, noise_model=model).run(qc, shots=shots, seed_simulator=4).result()
    counts = counts.get_counts()
    assert sum(counts.values()) == shots
    # Each true outcome is 1/2; clbit 0 reads it through the error, clbit 1 (a final measurement) too.
    expected = {"00": 0.5 * 0.81 + 0.5 * 0.04, "11": 0.5 * 0.01 + 0.5 * 0.64, "01": 0.125, "10": 0.125}
    for key, p in expected.items():
        assert abs(counts.get(key, 0) / shots - p) < 5 * np.sqrt(p * (1 - p) / shots)
