"""What code written for qiskit_aer.AerSimulator (statevector method) needs from a drop-in.

Aer's options, its result metadata, the save/set instructions, the multiplexer,
classical expressions in control flow, idle-qubit truncation, seeds per
experiment and Aer's error type. Oracle: ``qiskit.quantum_info``.
"""

import subprocess
import sys

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Instruction, Parameter
from qiskit.circuit.classical import expr, types
from qiskit.circuit.library import UCGate
from qiskit.providers import BackendV2, Options
from qiskit.quantum_info import (
    DensityMatrix,
    Operator,
    SparsePauliOp,
    Statevector,
    partial_trace,
    random_density_matrix,
    random_statevector,
)
from qiskit.transpiler import CouplingMap, Target

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError, CircuitTooLargeError, UnsupportedInstructionError
from aerdask.library import SetStatevector
from tests.conftest import random_u_layer


def _counts(circuit, **options):
    return AerSimulator().run(circuit, **options).result().get_counts()


# -- options ------------------------------------------------------------------------
def test_device_cpu_runs_and_methods_are_listed(bell):
    assert AerSimulator(method="statevector", device="CPU").run(bell, shots=10).result().success
    assert AerSimulator().available_devices()[0] == "CPU"  # "GPU" follows where there is one: test_gpu.py
    assert "statevector" in AerSimulator.available_methods()


def test_engine_knobs_are_accepted_and_reported_when_not_default(bell):
    backend = AerSimulator(blocking_qubits=10, statevector_parallel_threshold=12, fusion_max_qubit=5)
    result = backend.run(bell, shots=10, max_parallel_experiments=2, mps_log_data=False).result()
    assert result.success
    assert result.metadata["ignored_options"] == {
        "statevector_parallel_threshold": 12,
        "fusion_max_qubit": 5,
        "max_parallel_experiments": 2,
    }
    assert "ignored_options" not in AerSimulator().run(bell, shots=10).result().metadata


def test_aer_spellings_of_options(bell):
    with pytest.warns(DeprecationWarning, match="pass an int"):
        job = AerSimulator().run(bell, shots=1e4, memory=None, max_parallel_threads=None, seed_simulator=3)
    assert sum(job.result().get_counts().values()) == 10000
    with pytest.warns(DeprecationWarning):
        assert sum(AerSimulator().run(bell, shots="300").result().get_counts().values()) == 300
    assert AerSimulator(noise_model=None).run(bell, shots=5).result().success


def test_max_memory_mb_limits_the_state(bell):
    wide = QuantumCircuit(22)
    wide.ry(0.3, range(22))  # not a Clifford: a statevector
    with pytest.raises(CircuitTooLargeError, match="22 active qubits.*max_memory_mb"):
        AerSimulator(max_memory_mb=8).run(wide)


def test_basis_gates_shape_the_target_and_transpile():
    backend = AerSimulator(basis_gates=["rz", "sx", "cx", "mcu"])
    names = backend.target.operation_names
    assert {"rz", "sx", "cx", "measure", "if_else", "save_statevector"} <= set(names)
    assert "h" not in names and "mcu" not in names  # mcu: Aer's own spelling, accepted but never in circuits
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_statevector()
    tqc = transpile(qc, backend, optimization_level=0)
    assert set(tqc.count_ops()) <= {"rz", "sx", "cx", "save_statevector", "global_phase"}
    out = backend.run(tqc).result().get_statevector()
    assert out.equiv(Statevector([1, 0, 0, 1]) / np.sqrt(2))


def test_zero_threshold_filters_dict_saves():
    qc = QuantumCircuit(1)
    qc.ry(2 * np.arcsin(1e-4), 0)  # |1> with probability 1e-8
    qc.save_probabilities_dict(label="p")
    assert set(AerSimulator().run(qc).result().data(0)["p"]) == {"0x0", "0x1"}
    assert set(AerSimulator(zero_threshold=1e-6).run(qc).result().data(0)["p"]) == {"0x0"}


class _Device(BackendV2):
    """A 5-qubit line device (Qiskit's GenericBackendV2 would load qiskit-aer, which patches the circuit methods)."""

    def __init__(self):
        super().__init__(name="line5")
        self._target = Target.from_configuration(
            ["cx", "rz", "sx", "x", "id", "measure"], num_qubits=5, coupling_map=CouplingMap.from_line(5)
        )

    @property
    def target(self):
        return self._target

    @property
    def max_circuits(self):
        return None

    @classmethod
    def _default_options(cls):
        return Options()

    def run(self, run_input, **options):
        raise NotImplementedError


def test_from_backend_copies_couplings_and_basis():
    device = _Device()
    sim = AerSimulator.from_backend(device, shots=100)
    assert sim.name == f"aer_simulator_from({device.name})"
    assert sim.target.num_qubits == 5
    assert {"cx", "rz", "sx", "measure", "save_statevector", "if_else"} <= set(sim.target.operation_names)
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 2)
    qc.measure(range(3), range(3))
    tqc = transpile(qc, sim, seed_transpiler=1)
    edges = set(sim.target.build_coupling_map().get_edges())
    assert all(tuple(tqc.find_bit(q).index for q in inst.qubits) in edges for inst in tqc.data if inst.name == "cx")
    assert set(sim.run(tqc, seed_simulator=1).result().get_counts()) == {"000", "101"}
    with pytest.raises(AerdaskInputError, match="needs a BackendV2 with a target"):
        AerSimulator.from_backend(object())


# -- metadata, seeds, errors --------------------------------------------------------------
def test_result_metadata_has_aers_keys(bell):
    mid = QuantumCircuit(1, 1)
    mid.h(0)
    mid.measure(0, 0)
    mid.x(0)
    mid.measure(0, 0)
    result = AerSimulator().run([bell, mid], shots=20).result()
    for res in result.results:
        assert {"method", "device", "measure_sampling", "num_qubits", "active_input_qubits", "parallel_shots"} <= set(
            res.metadata
        )
        assert {"fusion", "time_taken", "parallel_state_update"} <= set(res.metadata)
        assert res.metadata["method"] == "stabilizer" and res.metadata["device"] == "CPU"  # Clifford: as Aer
    assert [r.metadata["measure_sampling"] for r in result.results] == [True, False]
    assert "active_input_qubits" not in result.results[0].header
    assert result.metadata["time_taken"] >= 0


def test_each_experiment_reports_seed_plus_index_and_replays_alone():
    theta = Parameter("t")
    qc = QuantumCircuit(2)
    qc.rx(theta, 0)
    qc.cx(0, 1)
    qc.measure_all()
    binds = [{theta: [0.3, 1.1, 2.5]}]
    result = AerSimulator().run(qc, shots=200, parameter_binds=binds, seed_simulator=100, memory=True).result()
    assert [r.seed_simulator for r in result.results] == [100, 101, 102]
    alone = AerSimulator().run(qc.assign_parameters([2.5]), shots=200, seed_simulator=102, memory=True).result()
    assert alone.get_memory(0) == result.get_memory(2)


def test_errors_are_aer_errors_when_qiskit_aer_is_loaded():
    # In a fresh process: importing qiskit-aer here would replace the circuit methods for later tests.
    script = """
from qiskit import QuantumCircuit
from qiskit.circuit import Instruction, Parameter
from qiskit_aer import AerError
from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
theta = Parameter("t")
qc = QuantumCircuit(1)
qc.rx(theta, 0)
for binds in ([{}], [{theta: [1.0]}] * 1):
    try:
        AerSimulator().run([qc, qc] if binds[0] else qc, parameter_binds=binds)
    except AerError as exc:
        assert isinstance(exc, AerdaskInputError), type(exc)
    else:
        raise SystemExit("no error")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    with pytest.raises(AerdaskInputError):  # without qiskit-aer loaded: the aerdask class alone
        AerSimulator().run(QuantumCircuit(1), shots=0)


def test_legacy_parameterizations_bind_instruction_parameters():
    qc = QuantumCircuit(1, name="ry", metadata={"k": 1})
    qc.ry(0.0, 0)
    qc.measure_all()
    plain = QuantumCircuit(1, name="plain")
    plain.x(0)
    plain.measure_all()
    result = AerSimulator().run([qc, plain], shots=50, parameterizations=[[[[0, 0], [0.0, np.pi]]], []]).result()
    assert [result.get_counts(i) for i in range(3)] == [{"0": 50}, {"1": 50}, {"1": 50}]
    assert result.results[1].header["metadata"] == {"k": 1}
    with pytest.raises(AerdaskInputError, match="no parameter 3 of instruction 0"):
        AerSimulator().run([qc], parameterizations=[[[[0, 3], [1.0]]]])


def test_multi_qubit_measure_instruction():
    for sampled in (True, False):
        qc = QuantumCircuit(3, 3)
        qc.x([0, 2])
        qc.append(Instruction("measure", 3, 3, []), [0, 1, 2], [0, 1, 2])
        if not sampled:
            qc.x(1)
            qc.append(Instruction("measure", 2, 2, []), [1, 2], [1, 2])
        result = AerSimulator().run(qc, shots=20).result()
        assert result.get_counts() == {"101" if sampled else "111": 20}
        assert result.results[0].metadata["measure_sampling"] is sampled


def test_initialize_of_every_qubit_sets_the_state_and_keeps_sampling():
    qc = QuantumCircuit(2)
    qc.initialize([0, 1], [1])
    qc.h([0, 1])
    qc.initialize([0, 0, 1, 0], [0, 1])  # all qubits: the state is set, nothing is measured
    qc.measure_all()
    result = AerSimulator().run(qc, shots=100).result()
    assert result.get_counts() == {"10": 100}
    assert result.results[0].metadata["measure_sampling"] is True
    part = QuantumCircuit(2)
    part.h([0, 1])
    part.initialize([0, 1], [1])  # some qubits: reset them, then prepare (random, as in Aer)
    part.measure_all()
    counts = AerSimulator().run(part, shots=400, seed_simulator=1).result().get_counts()
    assert set(counts) == {"10", "11"}
    phased = QuantumCircuit(2, global_phase=np.pi)
    phased.initialize([1, 0, 0, 0])
    phased.x(0)
    phased.save_statevector()
    assert np.allclose(AerSimulator().run(phased).result().get_statevector().data, [0, -1, 0, 0])


# -- saves and set_statevector -----------------------------------------------------------
@pytest.mark.parametrize("qubits", [[0, 2], [2, 0], [1]])
def test_save_expval_var_and_density_matrix(rng, qubits):
    qc = random_u_layer(3, rng)
    qc.cx(0, 1)
    qc.cx(1, 2)
    state = Statevector(qc)
    op = SparsePauliOp.from_list([("Z" * len(qubits), 0.7), ("X" * len(qubits), -0.4), ("Y" * len(qubits), 0.2)])
    qc.save_expectation_value_variance(op, qubits, label="ev")
    qc.save_density_matrix(qubits, label="rho")
    data = AerSimulator().run(qc, shots=1).result().data(0)
    mean = state.expectation_value(op, qubits).real
    assert np.allclose(data["ev"], [mean, state.expectation_value(op.dot(op), qubits).real - mean**2])
    traced = [q for q in range(3) if q not in qubits]
    expected = partial_trace(state, traced)
    if qubits == [2, 0]:  # the first listed qubit is the low bit
        expected = DensityMatrix(Operator(expected.data)).reverse_qargs()
    assert isinstance(data["rho"], DensityMatrix) and data["rho"] == expected


def test_save_density_matrix_conditional_and_pershot():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    qc.save_density_matrix(label="c", conditional=True)
    qc.save_density_matrix(label="l", pershot=True)
    data = AerSimulator().run(qc, shots=30, seed_simulator=4).result().data(0)
    assert data["c"] == {"0x0": DensityMatrix.from_label("00"), "0x3": DensityMatrix.from_label("11")}
    assert len(data["l"]) == 30


def test_save_state_is_the_statevector_and_set_statevector_sets_it(rng):
    target = random_statevector(8, seed=5)
    qc = QuantumCircuit(3)
    qc.h(range(3))
    qc.set_statevector(target)
    qc.save_state()
    out = AerSimulator().run(qc).result().data(0)["statevector"]
    assert out.equiv(target)
    # On permuted qubits, bit i of the amplitudes is the i-th listed qubit.
    permuted = QuantumCircuit(3)
    permuted.append(SetStatevector(target), [2, 0, 1])
    permuted.save_statevector()
    got = AerSimulator().run(permuted).result().get_statevector()
    ref = QuantumCircuit(3)
    ref.initialize(target, [2, 0, 1])
    assert got.equiv(Statevector(ref))


def test_set_statevector_mid_circuit_survives_fusion_and_measurement():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.set_statevector(Statevector.from_label("10"))
    qc.x(0)
    qc.measure([0, 1], [0, 1])
    assert _counts(qc, shots=50) == {"11": 50}


@pytest.mark.parametrize("num_qubits", [1, 3])
def test_set_density_matrix_sets_the_density_matrix_methods_state(num_qubits):
    from aerdask import QobjValidationError

    from .noise_cases import SHOTS, assert_fits

    target = random_density_matrix(1 << num_qubits, seed=100)
    gates = QuantumCircuit(num_qubits)
    gates.h(0)
    gates.cx(0, num_qubits - 1) if num_qubits > 1 else gates.s(0)
    qc = QuantumCircuit(num_qubits, num_qubits)
    qc.set_density_matrix(target)  # aerdask.library adds Aer's circuit method
    qc.save_density_matrix(label="set")
    qc.compose(gates, inplace=True)
    qc.save_density_matrix(label="evolved")
    qc.measure(range(num_qubits), range(num_qubits))
    backend = AerSimulator()  # automatic: the density matrix, as in Aer
    result = backend.run(transpile(qc, backend, optimization_level=0), shots=SHOTS, seed_simulator=1).result()
    evolved = target.evolve(gates)
    assert result.results[0].metadata["method"] == "density_matrix"
    assert result.data(0)["set"] == target and result.data(0)["evolved"] == evolved
    assert_fits(result.get_counts(), evolved.probabilities(), num_qubits)
    with pytest.raises(UnsupportedInstructionError, match="set_density_matrix.*use method='density_matrix'"):
        AerSimulator(method="statevector").run(qc)
    invalid = QuantumCircuit(1)
    invalid.append(Instruction("set_density_matrix", 1, 0, [np.eye(2)]), [0])  # trace 2, as qiskit-aer names it
    with pytest.raises(UnsupportedInstructionError, match="set_density_matrix.*Hermitian, positive, trace 1"):
        AerSimulator().run(invalid)
    program = AerSimulator().run(qc).qobj()  # the program format checks what it is sent
    program.experiments[0].matrices[1] += 0.5  # rho[1, 0] no longer conj(rho[0, 1])
    with pytest.raises(QobjValidationError, match="density matrix: it is not Hermitian"):
        program.validate()


# -- multiplexer ------------------------------------------------------------------------
def test_multiplexer_matches_its_block_diagonal(rng):
    gates = [Operator(random_u_layer(1, rng)).data for _ in range(4)]
    qc = random_u_layer(3, rng)
    qc.append(UCGate(gates, up_to_diagonal=False), [1, 0, 2])  # target 1, controls 0 and 2
    qc.save_statevector()
    out = AerSimulator().run(qc).result().get_statevector()
    block = np.zeros((8, 8), dtype=complex)  # index: target bit, then the controls above it
    for k, g in enumerate(gates):
        block[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = g
    before = QuantumCircuit(3)
    for inst in qc.data[:3]:
        before.append(inst)
    assert out.equiv(Statevector(before).evolve(Operator(block), [1, 0, 2]))


# -- classical expressions ----------------------------------------------------------------
class _Bits(list):
    """The circuit's clbits, with its registers as ``cregs``."""

    def __init__(self, qc):
        super().__init__(qc.clbits)
        self.cregs = qc.cregs


def _measured_0101():
    qc = QuantumCircuit(7, 7)
    qc.x(0)
    qc.x(2)
    qc.measure(range(4), range(4))
    return qc


@pytest.mark.parametrize(
    "make, flips",
    [
        (lambda c: expr.bit_and(c[0], c[2]), True),
        (lambda c: expr.bit_and(c[0], c[1]), False),
        (lambda c: expr.bit_or(c[1], c[3]), False),
        (lambda c: expr.bit_xor(c[0], c[1]), True),
        (lambda c: expr.bit_not(c[1]), True),
        (lambda c: expr.logic_and(c[0], expr.logic_not(c[3])), True),
        (lambda c: expr.equal(expr.bit_not(expr.Var(c.cregs[0], types.Uint(7))), 0b1111010), True),
        (lambda c: expr.less(expr.bit_and(c.cregs[0], 0b110), 3), False),  # 0b100 & 0b110 = 4
        (lambda c: expr.equal(expr.shift_left(c.cregs[0], 1), 0b0001010), True),
    ],
)
def test_conditions_on_classical_expressions(make, flips):
    qc = _measured_0101()
    with qc.if_test(make(_Bits(qc))):
        qc.x(5)
    qc.measure(range(7), range(7))
    assert _counts(qc, shots=10) == {("01" if flips else "00") + "00101": 10}


def test_store_to_clbits_and_variables_on_every_executor(executor):
    qc = QuantumCircuit(4, 4)
    flag = qc.add_var("flag", expr.lift(False))
    count = qc.add_var("count", expr.lift(3, types.Uint(4)))
    qc.x(2)
    qc.measure(range(4), range(4))
    qc.store(qc.cregs[0], 0b1000)  # overrides what was measured
    qc.store(flag, expr.equal(qc.cregs[0], 0b1000))
    qc.store(count, expr.bit_xor(count, 0b0101))  # 0b0110
    with qc.if_test(expr.logic_and(flag, expr.equal(count, 6))):
        qc.x(1)
    with qc.switch(expr.bit_and(count, 0b11)) as case:  # 0b10
        with case(2):
            qc.x(0)
        with case(case.DEFAULT):
            qc.x(3)
    qc.measure([0, 1], [0, 1])
    # Two experiments in one task: the program travels packed, classical programs and all.
    result = AerSimulator().run([qc, qc], shots=20, executor=executor, max_job_size=2).result()
    assert result.get_counts() == [{"1011": 20}, {"1011": 20}]


def test_while_loop_on_an_expression_reevaluates_each_pass():
    qc = QuantumCircuit(1, 1)
    n = qc.add_var("n", expr.lift(0, types.Uint(3)))
    with qc.while_loop(expr.less(n, 5)):
        qc.x(0)
        qc.store(n, expr.bit_or(expr.shift_left(n, 1), 1))  # 0, 1, 3, 7: three passes
    qc.measure(0, 0)
    assert _counts(qc, shots=10) == {"1": 10}


def test_input_variables_are_refused():
    qc = QuantumCircuit(1)
    qc.add_input("a", types.Bool())
    with pytest.raises(UnsupportedInstructionError, match="input variables"):
        AerSimulator().run(qc)


# -- truncation ------------------------------------------------------------------------------
def test_idle_qubits_are_truncated_and_restored_in_the_layout():
    qc = QuantumCircuit(50, 3)
    qc.h(7)
    qc.cx(7, 42)
    qc.save_probabilities([42, 7], label="p")
    qc.measure([7, 42, 3], [0, 1, 2])
    result = AerSimulator().run(qc, shots=400, seed_simulator=2).result()
    assert set(result.get_counts()) == {"000", "011"}
    assert result.results[0].metadata["active_input_qubits"] == [3, 7, 42]
    assert result.results[0].metadata["num_qubits"] == 3
    assert np.allclose(result.data(0)["p"], [0.5, 0, 0, 0.5])
    with pytest.raises(CircuitTooLargeError, match="50 active qubits"):
        AerSimulator(enable_truncation=False, method="statevector").run(qc)
