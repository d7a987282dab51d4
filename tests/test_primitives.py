"""Qiskit's own backend primitives run on AerSimulator and agree with the statevector ones."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2, StatevectorEstimator, StatevectorSampler
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
