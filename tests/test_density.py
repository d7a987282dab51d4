"""The density-matrix method against ``qiskit.quantum_info.DensityMatrix`` evolved through the same channels."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, SparsePauliOp, partial_trace, random_unitary

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask.noise import NoiseModel

from .noise_cases import SHOTS, amplitude_damping, assert_fits, depolarizing, exact_probabilities, model_of

EXACT = 1e-10


def input_layer(n: int, seed: int) -> QuantumCircuit:
    """A seeded random one-qubit unitary on every qubit: no amplitude is special."""
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.unitary(random_unitary(2, seed=seed * 101 + q), [q], label="u_in")
    return qc


def exact_rho(qc: QuantumCircuit, model: NoiseModel | None) -> DensityMatrix:
    """``qc``'s gates, resets and written channels, each followed by ``model``'s errors; saves skipped."""
    rho = DensityMatrix.from_label("0" * qc.num_qubits)
    for inst in qc.data:
        name = inst.operation.name
        qargs = [qc.find_bit(q).index for q in inst.qubits]
        if name.startswith("save_") or name in ("barrier", "measure"):
            continue
        if name == "reset":
            rho = rho.reset(qargs)
        elif name in ("kraus", "superop"):
            rho = rho.evolve(Kraus(inst.operation), qargs)
        else:
            rho = rho.evolve(Operator(inst.operation), qargs)
        for channel in model.errors_for(name, tuple(qargs)) if model is not None else ():
            weights = np.sqrt(channel.probabilities) if channel.kind == 0 else np.ones(len(channel.matrices))
            rho = rho.evolve(Kraus([w * m for w, m in zip(weights, channel.matrices, strict=True)]), qargs)
    return rho


def noisy_program(n: int, seed: int) -> QuantumCircuit:
    qc = input_layer(n, seed).compose(random_circuit(n, 4, max_operands=2, seed=seed))
    qc.reset(n - 1)
    qc.h(n - 1)
    return qc


@pytest.mark.parametrize("kind", ["depolarizing", "amplitude_damping", "reset_and_local", "none"])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_density_matrix_equals_the_exact_evolution(kind, precision):
    model = model_of(kind) if kind != "none" else None
    qc = noisy_program(4, 5)
    expected = exact_rho(qc, model)
    qc.save_density_matrix()
    qc.save_density_matrix([2, 0], label="reduced")
    qc.save_probabilities([1, 3], label="probs")
    qc.save_probabilities_dict(label="probs_dict")
    qc.save_amplitudes_squared([0, 5, 15], label="amps_sq")
    observable = SparsePauliOp(["XYZI", "ZZII", "IXIY", "YYXZ"], [0.3, -0.5, 0.2, 0.7])
    qc.save_expectation_value(observable, [0, 1, 2, 3], label="expval")
    qc.save_expectation_value_variance(SparsePauliOp(["XZ"]), [3, 1], label="expval_var")
    backend = AerSimulator(method="density_matrix", noise_model=model, precision=precision)
    result = backend.run(qc).result()
    data = result.data(0)
    tol = EXACT if precision == "double" else 1e-5
    assert result.results[0].metadata["method"] == "density_matrix"
    np.testing.assert_allclose(np.asarray(data["density_matrix"]), expected.data, atol=tol)
    reduced = partial_trace(expected, [1, 3]).reverse_qargs()  # qargs [2, 0]: qubit 2 is the low bit
    np.testing.assert_allclose(np.asarray(data["reduced"]), reduced.data, atol=tol)
    np.testing.assert_allclose(data["probs"], expected.probabilities([1, 3]), atol=tol)
    exact_dict = expected.probabilities_dict()
    assert {int(k, 16) for k in data["probs_dict"]} == {int(k, 2) for k, p in exact_dict.items() if p > 1e-10}
    np.testing.assert_allclose(data["amps_sq"], expected.probabilities()[[0, 5, 15]], atol=tol)
    assert data["expval"] == pytest.approx(expected.expectation_value(observable).real, abs=tol)
    z_x = expected.expectation_value(SparsePauliOp(["ZIXI"])).real  # "XZ" on [3, 1]: Z on 3, X on 1
    assert data["expval_var"][0] == pytest.approx(z_x, abs=tol)
    assert data["expval_var"][1] == pytest.approx(1 - z_x**2, abs=tol)


def test_save_state_is_the_density_matrix_and_channels_in_the_circuit_are_exact():
    qc = input_layer(2, 1)
    qc.cx(0, 1)
    qc.append(amplitude_damping(0.4), [0])
    qc.append(depolarizing(0.3, 2), [0, 1])
    expected = exact_rho(qc, None)
    qc.save_state()
    result = AerSimulator(method="density_matrix").run(qc).result()
    state = result.data(0)["density_matrix"]
    assert isinstance(state, DensityMatrix)
    np.testing.assert_allclose(state.data, expected.data, atol=EXACT)


@pytest.mark.parametrize("kind", ["depolarizing", "readout"])
def test_counts_are_sampled_from_the_diagonal(kind):
    model = model_of(kind)
    qc = random_circuit(3, 4, max_operands=2, seed=4)
    qc.measure_all()
    readout = {}
    if model.default_readout is not None:
        readout = {i: model.readout_for(i) for i in range(3)}  # measure_all: qubit i -> clbit i
    backend = AerSimulator(method="density_matrix", noise_model=model)
    result = backend.run(qc, shots=SHOTS, seed_simulator=3, memory=True).result()
    assert result.results[0].metadata["method"] == "density_matrix"
    assert len(result.get_memory()) == SHOTS
    assert_fits(result.get_counts(), exact_probabilities(qc, model, readout), qc.num_clbits)


def test_automatic_picks_the_density_matrix_as_aer_does():
    model = model_of("depolarizing")
    small = random_circuit(3, 3, max_operands=2, seed=2, measure=True)
    mid = QuantumCircuit(3, 1)
    mid.h(0)
    mid.measure(0, 0)
    mid.h(0)  # after the measurement on the same qubit: shots cannot share one final state
    backend = AerSimulator(noise_model=model)
    methods = lambda result: [r.metadata["method"] for r in result.results]  # noqa: E731
    # shots > 2**n and sampled at the end: the density matrix; a mid-circuit measurement or few shots: not
    # (``mid`` is a Clifford circuit and the noise Pauli: the stabilizer, as Aer picks).
    assert methods(backend.run([small, mid], shots=100).result()) == ["density_matrix", "stabilizer"]
    assert methods(backend.run(small, shots=8).result()) == ["statevector"]
    assert methods(AerSimulator().run(small, shots=100).result()) == ["statevector"]  # no noise
    sv_save = small.remove_final_measurements(inplace=False)
    sv_save.save_statevector()
    assert methods(backend.run(sv_save, shots=100).result()) == ["statevector"]


def test_amplitude_saves_are_refused_at_run_naming_the_save():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.save_statevector(label="psi")
    with pytest.raises(AerdaskInputError, match=r"save_statevector \(label 'psi'\) reads amplitudes.*density_matrix"):
        AerSimulator(method="density_matrix").run(qc)
    qc = QuantumCircuit(1)
    qc.save_amplitudes([0])
    with pytest.raises(AerdaskInputError, match="save_amplitudes"):
        AerSimulator(method="density_matrix").run(qc)
    assert "density_matrix" in AerSimulator.available_methods()


def test_density_matrix_memory_is_admitted_as_four_to_the_n():
    qc = QuantumCircuit(14)
    qc.h(range(14))
    qc.save_probabilities(label="p")
    # 14 qubits: a 256 KiB statevector, a 4 GiB density matrix.
    AerSimulator(max_memory_mb=64).run(qc).result()
    with pytest.raises(AerdaskInputError, match="14 active qubits"):
        AerSimulator(method="density_matrix", max_memory_mb=64).run(qc)


@pytest.mark.cluster
def test_seeded_density_counts_are_the_same_on_dask(local_cluster_client):
    model = model_of("readout")
    qc = random_circuit(3, 3, max_operands=2, seed=6, measure=True)
    local = AerSimulator(method="density_matrix", noise_model=model).run(qc, shots=3000, seed_simulator=4)
    remote = AerSimulator(method="density_matrix", noise_model=model, executor=local_cluster_client)
    remote_job = remote.run(qc, shots=3000, seed_simulator=4)
    assert remote_job.tasks() == 1  # a density matrix is not evolved once per shot chunk
    assert remote_job.result().get_counts() == local.result().get_counts()


def test_a_set_state_then_nested_conditions_run_fused():
    """The density form of a SET_STATE row lists its bits (fusion copies them; it overran before)."""
    qc = QuantumCircuit(3, 3)
    qc.initialize("010", qc.qubits)
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test((0, True)):
        with qc.if_test((1, False)):
            qc.x(2)
    with qc.if_test((0, False)):
        with qc.if_test((1, True)):
            qc.x(2)
    qc.measure(range(3), range(3))
    assert AerSimulator(method="density_matrix").run(qc, shots=100).result().get_counts() == {"110": 100}
