"""Monomial gates (x, cx, swap, ccx, iswap, dcx...): recognised at run time and moved, not multiplied."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import DCXGate, iSwapGate

from aerdask_kernels.kernels.bits import control_bits
from aerdask_kernels.kernels.gates import apply_matrix, target_offsets
from aerdask_kernels.kernels.monomial import apply_monomial, monomial

from .conftest import compiled, random_u_layer, reference_statevector, simulate_statevector
from .test_kernels import DTYPES, random_state, random_unitary

X = np.array([[0, 1], [1, 0]])
Y = np.array([[0, -1j], [1j, 0]])
CX = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])
ISWAP = np.asarray(iSwapGate().to_matrix())
DCX = np.asarray(DCXGate().to_matrix())  # a 3-cycle: not an involution, takes the copying path
PERM3 = np.eye(8)[[3, 0, 6, 1, 7, 2, 4, 5]] * np.exp(1j * np.arange(8))[:, None]  # an 8-cycle with phases


def _check(matrix):
    dim = matrix.shape[0]
    perm, phase = np.zeros(dim, dtype=np.int64), np.zeros(dim, dtype=np.complex128)
    return monomial(np.ascontiguousarray(matrix, dtype=np.complex128).ravel(), dim, perm, phase), perm, phase


@pytest.mark.parametrize(
    "matrix, expected_perm",
    [
        (X, [1, 0]),
        (Y, [1, 0]),
        (CX, [0, 3, 2, 1]),
        (ISWAP, [0, 2, 1, 3]),
        (DCX, [0, 3, 1, 2]),
        (np.diag([1, 1j]), [0, 1]),
    ],
)
def test_monomial_matrices_give_their_permutation_and_phases(matrix, expected_perm):
    ok, perm, phase = _check(matrix)
    assert ok
    assert perm.tolist() == expected_perm
    np.testing.assert_allclose(phase, matrix[np.arange(len(perm)), perm])


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[1, 1], [1, -1]]) / np.sqrt(2),  # h: two entries per row
        np.array([[1, 0], [1, 0]]),  # one entry per row, but a column used twice
        np.array([[0, 0], [0, 1]]),  # an empty row
    ],
)
def test_other_matrices_are_not_monomial(matrix):
    assert not _check(matrix)[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [6, 15])  # serial and threaded (PARALLEL_MIN_SIZE is 2**14)
@pytest.mark.parametrize(
    "controls, targets, matrix",
    [
        ((), (0,), X),
        ((), (5,), Y),
        ((), (4, 1), CX),
        ((3,), (0, 5), ISWAP),
        ((), (2, 0), DCX),
        ((1, 4), (5,), X),
        ((), (5, 0, 3), PERM3),
    ],
)
def test_apply_monomial_matches_the_dense_kernel(n, controls, targets, matrix, dtype, rng):
    controls, targets = np.array(controls, dtype=np.int64), np.array(targets, dtype=np.int64)
    ctrl_val = (1 << controls.size) - 1
    ok, perm, phase = _check(matrix)
    assert ok
    state = random_state(n, rng, dtype)
    expected = state.copy()
    apply_matrix(expected, controls, ctrl_val, targets, np.ascontiguousarray(matrix, dtype=dtype).ravel())
    positions = np.sort(np.concatenate((controls, targets)))
    base = control_bits(controls, ctrl_val)
    apply_monomial(state, positions, base, target_offsets(targets), perm, phase.astype(dtype))
    np.testing.assert_allclose(state, expected, atol=1e-6 if dtype is np.complex64 else 1e-14)


@pytest.mark.parametrize("blocking_qubits", [None, 5])
def test_circuits_of_monomial_gates_inside_and_outside_cache_blocks(blocking_qubits, rng):
    n = 8
    qc = random_u_layer(n, rng)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.swap(0, 7)
    qc.ccx(2, 4, 3)
    qc.cswap(1, 5, 6)
    qc.iswap(2, 6)
    qc.dcx(3, 5)
    qc.y(4)
    qc.append(DCXGate().control(1), [7, 0, 1])
    qc.compose(random_u_layer(n, rng), inplace=True)
    for fusion in (True, False):
        got = simulate_statevector(qc, blocking_qubits=blocking_qubits, fusion_enable=fusion)
        np.testing.assert_allclose(got, reference_statevector(qc), atol=1e-10)


def test_a_fused_row_that_is_a_permutation_runs_as_one():
    qc = QuantumCircuit(3)
    qc.cx(0, 1)
    qc.swap(0, 1)  # cx . swap on one pair: one fused row, still a permutation
    exp = compiled(qc, fusion=True)
    assert exp.ops.shape[0] == 1
    dim = 4
    assert monomial(exp.matrices[:16], dim, np.zeros(dim, np.int64), np.zeros(dim, np.complex128))
    unitary = random_unitary(3, rng=np.random.default_rng(1))
    full = QuantumCircuit(3)
    full.unitary(unitary, [0, 1, 2])
    full.compose(qc, inplace=True)
    np.testing.assert_allclose(simulate_statevector(full), reference_statevector(full), atol=1e-10)
