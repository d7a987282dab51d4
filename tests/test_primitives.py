"""Primitives: Qiskit's backend ones on AerSimulator, and aerdask.primitives, against the statevector ones."""

import concurrent.futures

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2, StatevectorEstimator, StatevectorSampler
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp

from aerdask import AerSimulator


def ansatz():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(3)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.rx(b, 2)
    qc.cz(1, 2)
    return qc


def test_backend_sampler_v2_matches_statevector_sampler():
    qc = ansatz()
    qc.measure_all()
    values = [[0.3, 1.1], [2.0, -0.4]]
    shots = 20000
    ours = BackendSamplerV2(backend=AerSimulator(seed_simulator=7)).run([(qc, values)], shots=shots).result()
    ref = StatevectorSampler(seed=7).run([(qc, values)], shots=shots).result()
    for i in range(len(values)):
        got = ours[0].data.meas.get_counts(i)
        exp = ref[0].data.meas.get_counts(i)
        assert sum(got.values()) == shots
        keys = set(got) | set(exp)
        tv = 0.5 * sum(abs(got.get(k, 0) - exp.get(k, 0)) for k in keys) / shots
        assert tv < 0.03


def test_backend_estimator_v2_matches_statevector_estimator():
    qc = ansatz()
    obs = SparsePauliOp(["ZZI", "IXX", "YIZ"], [1.0, 0.5, -0.7])
    values = [[0.3, 1.1], [2.0, -0.4]]
    ours = BackendEstimatorV2(backend=AerSimulator(seed_simulator=3), options={"default_precision": 0.005})
    got = ours.run([(qc, obs, values)]).result()[0].data.evs
    exp = StatevectorEstimator().run([(qc, obs, values)]).result()[0].data.evs
    np.testing.assert_allclose(got, exp, atol=0.05)


# -- aerdask.primitives: compiled once, values as arrays, on every executor ---------------------
def test_sampler_matches_statevector_sampler_with_broadcast_shapes(executor):
    from aerdask.primitives import SamplerV2

    qc = ansatz()
    high, low = ClassicalRegister(1, "high"), ClassicalRegister(2, "low")
    qc.add_register(high)  # clbit 0
    qc.add_register(low)  # clbits 1, 2
    qc.measure([2, 0, 1], [0, 1, 2])
    values = np.array([[[0.3, 1.1], [2.0, -0.4], [1.0, 1.0]]] * 2) + np.arange(2)[:, None, None]  # shape (2, 3)
    shots = 4000
    job = SamplerV2(seed=7, executor=executor).run([(qc, values)], shots=shots)
    ours = job.result()
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()
    ref = StatevectorSampler(seed=7).run([(qc, values)], shots=shots).result()
    data = ours[0].data
    assert data.low.shape == (2, 3) and data.low.num_shots == shots and data.low.num_bits == 2
    for index in np.ndindex(2, 3):
        for name in ("high", "low"):
            got, exp = data[name].get_counts(index), ref[0].data[name].get_counts(index)
            keys = set(got) | set(exp)
            assert 0.5 * sum(abs(got.get(k, 0) - exp.get(k, 0)) for k in keys) / shots < 0.04
        # qubits 0 and 1 are entangled by the cx: low reads 00 or 11, never 01 or 10.
        assert set(data.low[index].get_counts()) <= {"00", "11"}


def test_sampler_is_seeded_and_each_point_has_its_own_stream():
    from aerdask.primitives import SamplerV2

    qc = ansatz()
    qc.measure_all()
    values = [[0.3, 1.1], [0.3, 1.1]]
    first = SamplerV2(seed=3).run([(qc, values)], shots=300).result()[0].data.meas
    again = SamplerV2(seed=3).run([(qc, values)], shots=300).result()[0].data.meas
    assert first.get_bitstrings(0) == again.get_bitstrings(0) and first.get_bitstrings(1) == again.get_bitstrings(1)
    assert first.get_bitstrings(0) != first.get_bitstrings(1)  # same values, other point: other samples


def test_estimator_matches_statevector_estimator_exactly(executor):
    from aerdask.primitives import EstimatorV2

    qc = ansatz()
    observables = [[SparsePauliOp(["ZZI", "IXX"], [1.0, 0.5])], [SparsePauliOp("YIZ", -0.7)]]  # shape (2, 1)
    values = np.linspace(-1, 1, 12).reshape(2, 3, 2)  # broadcast with the observables to (2, 3)
    pub = (qc, observables, values)
    job = EstimatorV2(executor=executor).run([pub, (qc, "XXY", values[0, 0])])
    ours = job.result()
    ref = StatevectorEstimator().run([pub, (qc, "XXY", values[0, 0])]).result()
    assert ours[0].data.evs.shape == (2, 3) and ours[1].data.evs.shape == ()
    for got, exp in zip(ours, ref, strict=True):
        np.testing.assert_allclose(got.data.evs, exp.data.evs, atol=1e-12)
        np.testing.assert_array_equal(got.data.stds, np.zeros(got.data.evs.shape))


def test_estimator_precision_adds_seeded_noise_of_that_size():
    from aerdask.primitives import EstimatorV2

    qc = ansatz()
    values = np.tile([0.3, 1.1], (2000, 1))
    exact = StatevectorEstimator().run([(qc, "ZZI", values[:1])]).result()[0].data.evs[0]
    noisy = EstimatorV2(seed=5).run([(qc, "ZZI", values)], precision=0.02).result()[0]
    assert abs(noisy.data.evs.mean() - exact) < 0.003 and abs(noisy.data.evs.std() - 0.02) < 0.002
    assert np.all(noisy.data.stds == 0.02)
    again = EstimatorV2(seed=5).run([(qc, "ZZI", values)], precision=0.02).result()[0]
    np.testing.assert_array_equal(noisy.data.evs, again.data.evs)


def test_primitive_jobs_cancel_and_refuse_bad_values():
    from aerdask import AerdaskInputError
    from aerdask.primitives import EstimatorV2, SamplerV2

    qc = ansatz()
    with pytest.raises(AerdaskInputError, match="parameter 'b' at point 0"):
        EstimatorV2().run([(qc, "ZZZ", [0.1, np.nan])])
    with pytest.raises(ValueError, match="precision must be non-negative"):  # Qiskit's own check
        EstimatorV2().run([(qc, "ZZZ", [0.1, 0.2])], precision=-1)
    wide = QuantumCircuit(18)
    wide.h(range(18))
    for _ in range(30):
        wide.cx(range(17), range(1, 18))
    wide.measure_all()
    job = SamplerV2().run([(wide, None, 10)] * 8)
    assert job.cancel() and job.cancelled() and job.status() is JobStatus.CANCELLED
    with pytest.raises(concurrent.futures.CancelledError):
        job.result()


def test_pubs_admitted_apart_run_under_the_strictest_plan():
    from aerdask.primitives import SamplerV2

    def measured(num_qubits, measurements):
        qc = QuantumCircuit(num_qubits)
        for _ in range(measurements):
            qc.h(range(num_qubits))
            qc.t(range(num_qubits))  # no Clifford: statevector copies, which the cap bounds
            qc.measure_all()
        return qc

    # 18 qubits with 6 mid-circuit measurements needs copies a 24 MiB cap cannot hold; 2 qubits need none.
    sampler = SamplerV2(seed=3, options={"backend_options": {"max_memory_mb": 24}})
    for pubs in ([measured(18, 6), measured(2, 1)], [measured(2, 1), measured(18, 6)]):  # the order must not matter
        job = sampler.run([(qc, None, 50) for qc in pubs])
        caps = job._job.qobj().options.get("max_branch_copies")
        assert caps is not None and 0 <= caps < 5, caps
        assert job.result()[0].data


# -- under noise, against qiskit-aer's own primitives (issue 31) -----------------------------------
def _aer_noise_models():
    from qiskit_aer.noise import NoiseModel, amplitude_damping_error, depolarizing_error, thermal_relaxation_error

    depolarizing = NoiseModel()
    depolarizing.add_all_qubit_quantum_error(depolarizing_error(0.2, 2), ["cx", "cz"])
    damping = NoiseModel()
    damping.add_all_qubit_quantum_error(amplitude_damping_error(0.3), ["ry", "rx", "h"])
    damping.add_all_qubit_quantum_error(depolarizing_error(0.05, 2), ["cx", "cz"])
    thermal = NoiseModel()
    thermal.add_all_qubit_quantum_error(thermal_relaxation_error(50e3, 40e3, 2e3), ["ry", "rx", "h"])
    thermal.add_all_qubit_readout_error([[0.95, 0.05], [0.1, 0.9]])  # no effect on expectation values
    return {"depolarizing": depolarizing, "damping": damping, "thermal": thermal}


@pytest.mark.parametrize("model", ["depolarizing", "damping", "thermal"])
def test_estimator_under_noise_matches_qiskit_aers_exactly(model, qiskit_aer_in_process):
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    from aerdask.primitives import EstimatorV2

    noise = _aer_noise_models()[model]
    observables = [SparsePauliOp(p) for p in ("ZZI", "XXI", "IYZ")] + [SparsePauliOp(["ZII", "IIZ"], [1.0, 0.5])]
    pub = (ansatz(), [[o] for o in observables], [[0.3, 1.1], [1.7, -0.4]])
    ours = EstimatorV2(options={"backend_options": {"noise_model": noise}}).run([pub]).result()[0]
    theirs = AerEstimator(options={"backend_options": {"noise_model": noise}}).run([pub]).result()[0]
    assert ours.metadata["simulator_metadata"]["method"] == "density_matrix"
    np.testing.assert_allclose(ours.data.evs, theirs.data.evs, atol=1e-10)
    np.testing.assert_array_equal(ours.data.stds, 0.0)


def test_estimator_trajectories_report_an_honest_standard_error(qiskit_aer_in_process):
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    from aerdask.primitives import EstimatorV2

    noise = _aer_noise_models()["damping"]
    pub = (ansatz(), [SparsePauliOp("ZZI"), SparsePauliOp("IXX")], [0.3, 1.1])
    exact = AerEstimator(options={"backend_options": {"noise_model": noise}}).run([pub]).result()[0].data.evs
    options = {"backend_options": {"noise_model": noise, "method": "statevector"}, "trajectories": 4000}
    result = EstimatorV2(seed=11, options=options).run([pub]).result()[0]
    assert result.metadata["simulator_metadata"] == {"method": "statevector", "trajectories": True}
    stds = result.data.stds
    assert (stds > 0).all() and (stds < 1 / np.sqrt(4000)).all()  # a Pauli's variance is at most 1
    assert (np.abs(result.data.evs - exact) < 5 * stds).all(), (result.data.evs, exact, stds)
    # A precision asks for its own number of trajectories: ceil(1 / p**2).
    coarse = EstimatorV2(seed=11, options=options).run([pub], precision=0.05).result()[0]
    assert (coarse.data.stds <= 0.05).all() and (np.abs(coarse.data.evs - exact) < 5 * coarse.data.stds).all()


def test_sampler_under_noise_matches_the_noisy_distribution_as_qiskit_aers_does(qiskit_aer_in_process):
    from qiskit_aer import AerSimulator as Aer
    from qiskit_aer.primitives import SamplerV2 as AerSampler
    from scipy.stats import chisquare

    from aerdask.primitives import SamplerV2

    noise = _aer_noise_models()["damping"]
    qc = ansatz().assign_parameters([0.9, 1.3])
    exact_circuit = qc.copy()
    exact_circuit.save_probabilities()
    exact = Aer(method="density_matrix", noise_model=noise).run(exact_circuit).result().data()["probabilities"]
    qc.measure_all()
    shots = 20_000
    for sampler in (
        SamplerV2(seed=3, options={"backend_options": {"noise_model": noise}}),
        AerSampler(seed=3, options={"backend_options": {"noise_model": noise}}),
    ):
        counts = sampler.run([(qc, None, shots)]).result()[0].data.meas.get_int_counts()
        observed = np.array([counts.get(i, 0) for i in range(8)])
        assert chisquare(observed, exact * shots).pvalue > 1e-4, (type(sampler).__module__, observed, exact * shots)
