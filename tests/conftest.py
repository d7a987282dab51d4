"""Shared fixtures: seeded rng, executors, and the Statevector oracle helpers."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from aerdask import AerSimulator


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def backend():
    return AerSimulator()


@pytest.fixture(params=["default", "thread_pool"])
def executor(request):
    """Each executor kind the job tests run on (None is the shared default pool)."""
    if request.param == "default":
        yield None
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def random_u_layer(num_qubits: int, rng) -> QuantumCircuit:
    """A layer of random ``u`` gates, so that phase bugs show in amplitudes."""
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.u(*rng.uniform(0, 2 * np.pi, 3), q)
    return qc


def simulate_statevector(circuit: QuantumCircuit, **options) -> np.ndarray:
    """aerdask's final statevector of ``circuit`` (a ``save_statevector`` is appended)."""
    qc = circuit.copy()
    qc.save_statevector()
    return np.asarray(AerSimulator().run(qc, **options).result().get_statevector().data)


def reference_statevector(circuit: QuantumCircuit) -> np.ndarray:
    return Statevector(circuit).data
