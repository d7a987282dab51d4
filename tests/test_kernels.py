"""Kernels against small numpy references."""

import numpy as np
import pytest

from aerdask_kernels.kernels.gates import apply_diagonal, apply_matrix
from aerdask_kernels.kernels.measure import (
    collapse,
    expval_pauli,
    flip,
    marginal_probabilities,
    probability_one,
)

from .conftest import compiled

DTYPES = [np.complex128, np.complex64]


def random_state(n, rng, dtype=np.complex128):
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return (v / np.linalg.norm(v)).astype(dtype)


def random_unitary(k, rng):
    z = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def dense_operator(n, controls, ctrl_val, targets, matrix):
    """The full 2**n matrix of a controlled gate, built index by index."""
    dim = 2**n
    full = np.zeros((dim, dim), dtype=np.complex128)
    k = len(targets)
    for col in range(dim):
        active = all(((col >> c) & 1) == ((ctrl_val >> j) & 1) for j, c in enumerate(controls))
        if not active:
            full[col, col] = 1
            continue
        sub = sum(((col >> t) & 1) << b for b, t in enumerate(targets))
        rest = col & ~sum(1 << t for t in targets)
        for r in range(2**k):
            row = rest | sum(((r >> b) & 1) << t for b, t in enumerate(targets))
            full[row, col] += matrix[r, sub]
    return full


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,nctrl", [(1, 0), (1, 2), (2, 0), (2, 1), (3, 0), (3, 1)])
def test_apply_matrix_matches_dense(k, nctrl, dtype, rng):
    n = 5
    qubits = rng.permutation(n)[: k + nctrl]
    controls, targets = qubits[:nctrl].astype(np.int64), qubits[nctrl:].astype(np.int64)
    ctrl_val = int(rng.integers(0, 2**nctrl))
    u = random_unitary(k, rng)
    state = random_state(n, rng, dtype)
    expected = dense_operator(n, controls, ctrl_val, targets, u) @ state.astype(np.complex128)
    apply_matrix(state, controls, ctrl_val, targets, u.astype(dtype).ravel())
    atol = 1e-12 if dtype is np.complex128 else 1e-5
    np.testing.assert_allclose(state, expected, atol=atol)


@pytest.mark.parametrize("k,nctrl", [(0, 1), (1, 0), (2, 1), (3, 0)])
def test_apply_diagonal_matches_dense(k, nctrl, rng):
    n = 5
    qubits = rng.permutation(n)[: k + nctrl]
    controls, targets = qubits[:nctrl].astype(np.int64), qubits[nctrl:].astype(np.int64)
    diag = np.exp(1j * rng.uniform(0, 2 * np.pi, 2**k))
    state = random_state(n, rng)
    expected = dense_operator(n, controls, 1 if nctrl else 0, targets, np.diag(diag)) @ state
    apply_diagonal(state, controls, 1 if nctrl else 0, targets, diag)
    np.testing.assert_allclose(state, expected, atol=1e-12)


def test_measurement_kernels(rng):
    n = 4
    state = random_state(n, rng)
    probs = np.abs(state) ** 2
    for q in range(n):
        expected = probs[[i for i in range(2**n) if (i >> q) & 1]].sum()
        assert probability_one(state, q) == pytest.approx(expected, abs=1e-12)
    marg = marginal_probabilities(state, np.array([2, 0], dtype=np.int64))
    ref = np.zeros(4)
    for i, p in enumerate(probs):
        ref[((i >> 2) & 1) | (((i >> 0) & 1) << 1)] += p
    np.testing.assert_allclose(marg, ref, atol=1e-12)
    p1 = probability_one(state, 1)
    collapsed = state.copy()
    collapse(collapsed, 1, 1, p1)
    assert probability_one(collapsed, 1) == pytest.approx(1.0)
    assert np.linalg.norm(collapsed) == pytest.approx(1.0)
    flipped = state.copy()
    flip(flipped, 3)
    np.testing.assert_allclose(flipped, state.reshape(2, 8)[::-1].ravel())


@pytest.mark.parametrize("label", ["Z", "X", "Y", "XZ", "YY", "ZIXY"])
def test_expval_pauli_matches_dense(label, rng):
    from qiskit.quantum_info import Pauli

    n = len(label)
    state = random_state(n, rng)
    x_mask = sum(1 << i for i, c in enumerate(reversed(label)) if c in "XY")
    z_mask = sum(1 << i for i, c in enumerate(reversed(label)) if c in "ZY")
    expected = np.vdot(state, Pauli(label).to_matrix() @ state).real
    assert expval_pauli(state, x_mask, z_mask, label.count("Y")) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "controls, targets",
    [
        ((), (0,)),
        ((), (9,)),
        ((), (14,)),
        ((), (2, 13)),
        ((), (12, 7)),
        ((5,), (1,)),
        ((14, 0), (7,)),
        ((), (3, 11, 6)),
    ],
)
def test_parallel_paths_match_the_serial_reference(controls, targets, rng):
    """15 qubits: above the threshold where kernels split the work over threads."""
    from aerdask_kernels.kernels.gates import PARALLEL_MIN_SIZE

    n = 15
    assert 2**n >= PARALLEL_MIN_SIZE
    controls = np.array(controls, dtype=np.int64)
    targets = np.array(targets, dtype=np.int64)
    state = random_state(n, rng)
    u = random_unitary(targets.size, rng)
    diag = np.exp(1j * rng.uniform(0, 6, 2**targets.size))
    ctrl_val = (1 << controls.size) - 1
    for matrix, apply in ((u, apply_matrix), (np.diag(diag), apply_diagonal)):
        got = state.copy()
        data = matrix.ravel() if apply is apply_matrix else diag
        apply(got, controls, ctrl_val, targets, data)
        # Reference: the same gate on the state viewed as a tensor, with numpy only.
        expected = state.copy()
        psi = expected.reshape([2] * n)  # axis n-1-q is qubit q
        k = targets.size
        axes = [n - 1 - t for t in targets[::-1]]
        sub = np.moveaxis(psi, axes, range(k)).reshape(2**k, -1)
        cmask = np.ones(sub.shape[1], dtype=bool)
        rest_qubits = [q for q in range(n - 1, -1, -1) if q not in targets]
        for j, c in enumerate(controls):
            bit = (np.arange(sub.shape[1]) >> (len(rest_qubits) - 1 - rest_qubits.index(c))) & 1
            cmask &= bit == ((ctrl_val >> j) & 1)
        sub[:, cmask] = matrix @ sub[:, cmask]
        expected = np.moveaxis(sub.reshape([2] * n), range(k), axes).reshape(-1)
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_kernel_called_from_a_fresh_process_with_a_warm_cache(tmp_path):
    """A plain kernel whose cached code calls a threaded one used to segfault on its first call."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from aerdask_kernels.kernels.gates import apply_matrix\n"
        "s = np.zeros(1 << 16, complex); s[0] = 1\n"
        "apply_matrix(s, np.zeros(0, np.int64), 0, np.array([3]), np.array([0, 1, 1, 0], complex))\n"
        "print(abs(s[8]))\n"
    )
    env = {**os.environ, "DASK_AERDASK__NUMBA__CACHE_DIR": str(tmp_path), "DASK_AERDASK__NUMBA__CACHE": "1"}
    for _ in range(2):  # the first run fills the cache, the second links from it
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "1.0"


@pytest.mark.parametrize("fusion", [True, False])
def test_serial_interpreter_matches_the_parallel_one_and_runs_small_states(fusion, rng):
    from qiskit.circuit.random import random_circuit

    from aerdask_kernels.cpu import StatevectorEngine
    from aerdask_kernels.kernels.gates import PARALLEL_MIN_SIZE
    from aerdask_kernels.kernels.interpreter import run_segment, run_segment_serial
    from aerdask_kernels.passes.blocking import plan_blocks

    qc = random_circuit(9, 12, max_operands=4, seed=int(rng.integers(1000)))  # controlled and diagonal gates too
    exp = compiled(qc, fusion=fusion)
    plan = plan_blocks(exp, -1)
    flags, creg = np.zeros(1, dtype=np.uint8), np.zeros(max(exp.num_clbits, 1), dtype=np.int8)
    states = []
    for segment in (run_segment, run_segment_serial):
        state = np.zeros(1 << 9, dtype=np.complex128)
        state[0] = 1
        plan_tuple = (plan.entry, plan.runs, plan.steps, plan.pool, plan.positions)
        assert segment(state, exp.ops, exp.qubits, exp.matrices, creg, 0, flags, plan_tuple, 0) == exp.ops.shape[0]
        states.append(state)
    np.testing.assert_allclose(states[1], states[0], atol=1e-13)
    assert not np.allclose(states[0][0], 1)  # the circuit did something
    engine = StatevectorEngine(exp, np.complex128, flags)
    assert engine.rows.segment is run_segment_serial and (1 << 9) < PARALLEL_MIN_SIZE
    blocked = StatevectorEngine(exp, np.complex128, flags, blocking_qubits=4)
    assert blocked.rows.segment is run_segment  # a plan with cache blocks needs the full interpreter


def test_matrices_lose_parts_below_eps_squared_of_their_precision():
    """Rounding residue of fusion would make subnormal products in single precision (slow on CPUs)."""
    from aerdask_kernels.passes.precision import in_precision

    matrices = np.array([0.6 + 8e-17j, 1e-33 - 0.8j, 1e-13 + 0j, 0j])
    single = in_precision(matrices, np.complex64)
    assert single.dtype == np.complex64
    np.testing.assert_array_equal(single, np.array([0.6, 0 - 0.8j, 1e-13, 0], dtype=np.complex64))
    double = in_precision(matrices, np.complex128)
    np.testing.assert_array_equal(double, [0.6 + 8e-17j, -0.8j, 1e-13, 0])
    assert matrices[1] == 1e-33 - 0.8j  # the program's own array is left alone
    clean = np.array([0.6 + 0.8j, 1j])
    assert in_precision(clean, np.complex128) is clean  # nothing to flush: no copy
