"""AerSimulator: options, parameter binds, target, and synchronous errors from run()."""

import concurrent.futures

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.providers import BackendV2

from aerdask import AerSimulator, CircuitTooLargeError
from aerdask.errors import AerdaskInputError
from aerdask.instructions import INSTRUCTIONS


def test_is_a_backend_v2_with_aer_defaults():
    backend = AerSimulator()
    assert isinstance(backend, BackendV2)
    assert backend.options.shots == 1024
    assert backend.options.method == "automatic"
    assert backend.options.precision == "double"


def test_target_comes_from_the_instruction_table():
    target = AerSimulator().target
    assert set(target.operation_names) == set(INSTRUCTIONS)
    assert set(get_standard_gate_name_mapping()) <= set(target.operation_names)
    for name in ("if_else", "switch_case", "for_loop", "while_loop", "save_statevector", "mcx", "unitary"):
        assert name in target.operation_names


def test_transpile_keeps_supported_gates():
    qc = QuantumCircuit(3)
    qc.ccx(0, 1, 2)
    qc.rzz(0.3, 0, 2)
    qc.save_statevector()
    out = transpile(qc, AerSimulator(), optimization_level=0)
    assert {"ccx", "rzz", "save_statevector"} <= set(out.count_ops())


@pytest.mark.parametrize("shots", [1.5, "ten", "2.5", 0, -5, 2**63, True, None, float("inf")])
def test_bad_shots_raise_at_run(bell, shots):
    with pytest.raises(AerdaskInputError, match="shots must be an int in \\[1, "):
        AerSimulator().run(bell, shots=shots)


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("method", "tensor_network", "method must be one of"),
        ("precision", "half", "precision must be one of"),
        ("memory", "yes", "memory must be True or False"),
        ("seed_simulator", -1, "seed_simulator must be"),
        ("max_job_size", 0, "max_job_size must be"),
        ("max_shot_size", 2.0, "max_shot_size must be"),
        ("max_parallel_threads", -2, "max_parallel_threads must be"),
        ("noise_model", object(), "noise_model must be None"),
        ("device", "TPU", "device must be one of"),
        ("shots", 10.5, "shots must be"),
        ("basis_gates", ["cx", "cxx"], "basis_gates names instructions aerdask does not know: \\['cxx'\\]"),
        ("zero_threshold", -1.0, "zero_threshold must be"),
        ("no_such_option", 1, "not supported.*supported options"),
        ("executor", "localhost:8786", "executor must be a concurrent.futures.Executor"),
    ],
)
def test_bad_options_raise_in_run_and_set_options(bell, option, value, message):
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().run(bell, **{option: value})
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().set_options(**{option: value})
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator(**{option: value})


def test_set_options_applies(bell):
    backend = AerSimulator()
    backend.set_options(shots=33, memory=True, seed_simulator=5)
    result = backend.run(bell).result()
    assert len(result.get_memory()) == 33
    assert result.results[0].seed_simulator == 5


@pytest.mark.parametrize(
    "run_input, message",
    [
        ([], "empty list"),
        ("qc", "QuantumCircuit"),
        ([QuantumCircuit(1), 3], "input 1 is a int"),
    ],
)
def test_bad_run_input(run_input, message):
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().run(run_input)


def test_unbound_parameters_are_listed():
    a, b = Parameter("alpha"), Parameter("beta")
    qc = QuantumCircuit(1, name="param")
    qc.rx(a, 0)
    qc.rz(b, 0)
    with pytest.raises(AerdaskInputError, match="unbound parameters: alpha, beta"):
        AerSimulator().run(qc)
    with pytest.raises(AerdaskInputError, match="unbound parameters: beta"):
        AerSimulator().run(qc, parameter_binds=[{a: [0.1]}])


def test_parameter_binds_run_one_experiment_per_value_set():
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    other = QuantumCircuit(1, 1)
    other.x(0)
    other.measure(0, 0)
    values = [0.0, np.pi, np.pi / 2]
    result = (
        AerSimulator().run([qc, other], parameter_binds=[{theta: values}, {}], shots=4000, seed_simulator=1).result()
    )
    counts = result.get_counts()
    assert len(counts) == 4
    assert counts[0] == {"0": 4000} and counts[1] == {"1": 4000} and counts[3] == {"1": 4000}
    assert abs(counts[2]["1"] / 4000 - 0.5) < 0.05


@pytest.mark.parametrize(
    "binds, message",
    [
        ([], "one dict per circuit"),
        ([{}, {}], "one dict per circuit"),
        ("nope", "one dict per circuit"),
    ],
)
def test_parameter_binds_of_wrong_length(binds, message):
    qc = QuantumCircuit(1)
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().run(qc, parameter_binds=binds)


def test_parameter_binds_unequal_and_unknown():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1)
    qc.rx(a, 0)
    qc.ry(b, 0)
    with pytest.raises(AerdaskInputError, match="differ in length"):
        AerSimulator().run(qc, parameter_binds=[{a: [1, 2], b: [1]}])
    with pytest.raises(AerdaskInputError, match="'c', which is not a parameter.*a, b"):
        AerSimulator().run(qc, parameter_binds=[{a: [1], b: [1], Parameter("c"): [1]}])


def test_forty_qubits_fail_at_once_with_bytes():
    qc = QuantumCircuit(40)
    qc.h(range(40))  # every qubit active: nothing to truncate
    message = "one task needs 26,388,279,066,624 bytes .*state and sampling.* but [0-9,]+ bytes are available per task"
    with pytest.raises(CircuitTooLargeError, match=message):
        AerSimulator(method="statevector").run(qc)  # (automatic: a Clifford circuit is a small tableau)


def test_executor_types_accepted(bell):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        job = AerSimulator(executor=pool).run(bell, shots=10)
        assert job.executor() is pool
        assert sum(job.result().get_counts().values()) == 10


def test_nothing_is_silently_dropped_for_unsupported_instructions():
    from qiskit.circuit import Instruction

    qc = QuantumCircuit(1, name="has_store")
    qc.append(Instruction("mystery_op", 1, 0, []), [0])
    with pytest.raises(AerdaskInputError, match="'has_store'.*'mystery_op'"):
        AerSimulator().run(qc)


def test_max_parallel_threads_is_honoured(bell):
    import numba

    result = AerSimulator().run(bell, max_parallel_threads=1).result()
    assert result.results[0].metadata["parallel_state_update"] == 1
    result = AerSimulator().run(bell).result()
    assert 1 <= result.results[0].metadata["parallel_state_update"] <= numba.config.NUMBA_NUM_THREADS


def test_capability_lists_derive_from_the_instruction_table():
    from aerdask import compiler, instructions

    summary = instructions.supported_summary()
    listed = summary.split("definition, ")[1].split(" and Aer's")[0].split(", ")
    assert listed and all(instructions.lookup(name) is not None for name in listed)
    assert compiler._WRITES_CLBITS == instructions.names_of_kind("control_flow", "store")
    assert {"if_else", "while_loop", "store"} <= compiler._WRITES_CLBITS and "box" not in compiler._WRITES_CLBITS
    target = AerSimulator().target.operation_names
    assert all(name in target for name in instructions.INSTRUCTIONS)
