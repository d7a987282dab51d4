"""Seeded random circuits against Statevector, 1 to 10 qubits."""

import numpy as np
import pytest
from qiskit.circuit.random import random_circuit

from .conftest import random_u_layer, reference_statevector, simulate_statevector


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
