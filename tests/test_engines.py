"""Engine conformance: every engine on the one walker, the same circuits, saves, branches and seeds.

A new engine joins :data:`ENGINES` (or :data:`DENSITY_ENGINES` for a mixed-state method)
and must pass every test here: the :class:`aerdask_kernels.Engine` contract on its own,
then whole walks that agree exactly with the CPU statevector engine (counts and memory
drawn from the same seeded stream; saves to rounding).
"""

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import SparsePauliOp

from aerdask import AerSimulator
from aerdask_kernels import Engine, run_experiment
from aerdask_kernels.cpu import DensityMatrixEngine, MPSEngine, StatevectorEngine
from aerdask_kernels.format.options import ProgramOptions
from aerdask_kernels.gpu.walk import GpuEngine
from aerdask_kernels.opcodes import COL_OPCODE, COL_QOFF, OP_MEASURE
from aerdask_kernels.passes.prepare import prepare_point
from aerdask_kernels.runtime import JobCancelledError
from aerdask_kernels.sharded import LocalShardStore, ShardedEngine

SEED = 20261205
SHOTS = 300


def _options(**extra) -> ProgramOptions:
    return ProgramOptions(
        shots=SHOTS, memory=True, precision="double", seed_simulator=SEED, max_parallel_threads=0, **extra
    )


#: name -> engine(exp, dtype, cancel_flag), for pure states. GPU: numba-cuda's simulator in CI.
ENGINES = {
    "statevector": lambda exp, dtype, flag: StatevectorEngine(exp, dtype, flag),
    "statevector-blocked": lambda exp, dtype, flag: StatevectorEngine(exp, dtype, flag, blocking_qubits=2),
    "sharded-2": lambda exp, dtype, flag: ShardedEngine(exp, dtype, flag, LocalShardStore(), 2),
    "sharded-4": lambda exp, dtype, flag: ShardedEngine(exp, dtype, flag, LocalShardStore(), 4),
    "gpu": lambda exp, dtype, flag: GpuEngine(exp, dtype, flag),
    # A chain draws its final shots from the measured qubits' distribution as a statevector does.
    "mps": lambda exp, dtype, flag: MPSEngine(exp, dtype, flag, _options()),
    "mps-swap-right": lambda exp, dtype, flag: MPSEngine(
        exp, dtype, flag, _options(mps_swap_direction="mps_swap_right")
    ),
}
#: Engines of mixed states: they run density-matrix experiments.
DENSITY_ENGINES = {"density_matrix": lambda exp, dtype, flag: DensityMatrixEngine(exp, dtype, flag)}


def _input_layer(qc: QuantumCircuit, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for q in range(qc.num_qubits):
        qc.u(*rng.uniform(0, 2 * np.pi, 3), q)


def _walk_circuit(statevector_saves: bool, reset: bool = True) -> QuantumCircuit:
    """Five qubits: a seeded input layer, mid-circuit measurements, a reset, conditions, saves."""
    qr, mid, out = QuantumRegister(5), ClassicalRegister(2, "mid"), ClassicalRegister(5, "out")
    qc = QuantumCircuit(qr, mid, out)
    _input_layer(qc, 11)
    for q in range(4):
        qc.cx(q, q + 1)
    qc.save_probabilities([0, 3], label="p_before")
    qc.save_expectation_value(SparsePauliOp(["ZZIII", "IXXIY"], [0.5, -1.5]), range(5), label="e_before")
    if statevector_saves:
        qc.save_statevector(label="psi_before")
        qc.save_amplitudes([0, 5, 31], label="amps")
    qc.measure(4, mid[0])  # a global qubit on four shards
    qc.measure(0, mid[1])
    with qc.if_test((mid[0], 1)):
        qc.x(2)
    if reset:  # a branch on a statevector; a channel (no draw) on a density matrix
        qc.reset(1)
    qc.h(1)
    qc.cx(1, 4)
    qc.save_probabilities(range(5), label="p_after", conditional=True)
    qc.save_expectation_value(SparsePauliOp(["XXZII"]), range(5), label="e_after")
    qc.measure(range(5), out)
    return qc


def _point(qc: QuantumCircuit, method: str = "statevector", **options):
    program = AerSimulator(method=method, enable_truncation=False).compile(
        [qc], shots=SHOTS, seed_simulator=SEED, memory=True, **options
    )
    # Unfused rows: every engine runs the same gates (a shard holds as few as three qubits).
    return prepare_point(program.experiments[0], 0, False), program.options


def _walk(make, qc, method="statevector", program_options=None, **options) -> dict:
    exp, opts = _point(qc, method, **options)
    opts = {**opts, **(program_options or {})}
    dtype = np.complex64 if opts["precision"] == "single" else np.complex128
    flag = np.zeros(1, dtype=np.uint8)
    engine = make(exp, dtype, flag)
    assert isinstance(engine, Engine)
    return run_experiment(exp, opts, flag, engine)


def _counts(result: dict) -> dict:
    return dict(zip(result["outcomes"].tolist(), result["counts"].tolist(), strict=True))


def _assert_saves_close(saves: dict, expected: dict, atol: float) -> None:
    assert set(saves) == set(expected)
    for label, value in expected.items():
        if isinstance(value, dict):  # conditional: per clbit value
            assert set(saves[label]) == set(value), label
            for key in value:
                np.testing.assert_allclose(saves[label][key], value[key], atol=atol, err_msg=label)
        else:
            np.testing.assert_allclose(saves[label], value, atol=atol, err_msg=label)


ALL = {**ENGINES, **DENSITY_ENGINES}


@pytest.mark.parametrize("name", sorted(ALL))
def test_the_engine_contract(name):
    """fresh, run_segment, probability_one, copy, collapse, flip, cancel: what the walker relies on."""
    qc = QuantumCircuit(5, 1)
    _input_layer(qc, 5)
    qc.cx(0, 4)
    qc.measure(4, 0)  # mid-circuit: a gate follows
    qc.h(4)
    method = "density_matrix" if name in DENSITY_ENGINES else "statevector"
    exp, _ = _point(qc, method)
    flag = np.zeros(1, dtype=np.uint8)
    assert_engine_contract(ALL[name](exp, np.complex128, flag), exp, flag)


def assert_engine_contract(engine, exp, flag: np.ndarray) -> None:
    """What the walker relies on, for ``engine`` of ``exp``: a circuit that measures qubit 4 mid-circuit.

    fresh, run_segment (stops at the measurement), probability_one, copy (independent), collapse,
    flip, sample (memory, the measured qubits only) and cancel (``flag``, the engine's).
    """
    assert isinstance(engine, Engine)
    creg = np.zeros(1, dtype=np.int8)
    state = engine.fresh()
    assert engine.probability_one(state, 4) == pytest.approx(0.0, abs=1e-12)
    pc = engine.run_segment(state, creg, 0)
    assert exp.ops[pc, COL_OPCODE] == OP_MEASURE and exp.qubits[exp.ops[pc, COL_QOFF]] == 4
    p1 = engine.probability_one(state, 4)
    assert 0.01 < p1 < 0.99
    copy = engine.copy(state)
    engine.collapse(copy, 4, 1, p1)
    assert engine.probability_one(copy, 4) == pytest.approx(1.0, abs=1e-12)
    assert engine.probability_one(state, 4) == pytest.approx(p1, abs=1e-12)  # the copy is its own
    engine.flip(copy, 4)
    assert engine.probability_one(copy, 4) == pytest.approx(0.0, abs=1e-12)
    indices, counts, per_shot = engine.sample(copy, 50, np.random.default_rng(1), True)
    assert counts.sum() == 50 and per_shot.size == 50 and not (indices & (1 << 4)).any()
    flag[0] = 1
    with pytest.raises(JobCancelledError):
        engine.run_segment(engine.fresh(), creg, 0)


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_walks_as_the_cpu_statevector_does(name, precision):
    qc = _walk_circuit(statevector_saves=True)
    expected = _walk(ENGINES["statevector"], qc, precision=precision)
    result = _walk(ENGINES[name], qc, precision=precision)
    assert sum(_counts(result).values()) == SHOTS
    if precision == "double":
        assert _counts(result) == _counts(expected)  # the same seeded draws on the same probabilities
        np.testing.assert_array_equal(result["memory"], expected["memory"])
        _assert_saves_close(result["saves"], expected["saves"], atol=1e-12)
        return
    # Single precision: each engine sums its probabilities in its own order (a GPU reduction,
    # shard by shard), so a draw that lands within float32 rounding of a boundary may differ.
    _assert_saves_close(result["saves"], expected["saves"], atol=1e-5)
    ours, theirs = _counts(result), _counts(expected)
    moved = sum(abs(ours.get(k, 0) - theirs.get(k, 0)) for k in set(ours) | set(theirs)) / 2
    assert moved <= 0.02 * SHOTS, (ours, theirs)


@pytest.mark.parametrize("name", sorted(DENSITY_ENGINES))
def test_mixed_state_engines_agree_with_the_statevector_on_pure_states(name):
    # No reset: a density matrix resets by a channel, drawing nothing, so the streams would part.
    qc = _walk_circuit(statevector_saves=False, reset=False)
    expected = _walk(ENGINES["statevector"], qc)
    result = _walk(DENSITY_ENGINES[name], qc, "density_matrix")
    assert _counts(result) == _counts(expected)
    _assert_saves_close(result["saves"], expected["saves"], atol=1e-10)


def test_replays_draw_the_stream_that_copies_draw():
    """Past max_branch_copies the walker replays branches; the outcomes are the ones copies give."""
    qc = _walk_circuit(statevector_saves=False)
    copies = _walk(ENGINES["statevector"], qc)
    replayed = _walk(ENGINES["statevector"], qc, program_options={"max_branch_copies": 0})
    assert replayed["branch_replays"] > 0 and copies["branch_replays"] == 0
    assert _counts(replayed) == _counts(copies)
    np.testing.assert_array_equal(replayed["memory"], copies["memory"])
