"""Parameterized programs: compiled once, bound on the workers, identical to binding on the client."""

import pickle

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import RXGate

from aerdask import AerdaskInputError, AerSimulator, QobjValidationError
from aerdask.compiler import compile_circuit
from aerdask.expressions import ExpressionTable, NotTemplatable
from aerdask_kernels import ExperimentError, run_program

from .conftest import random_u_layer, reference_statevector


def layered(num_qubits: int = 5, layers: int = 3) -> QuantumCircuit:
    """ry/rz layers with affine expressions of two parameters, a cx ladder, a parameterized global phase."""
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(num_qubits, name="layered")
    for layer in range(layers):
        for q in range(num_qubits):
            qc.ry(a * (q + 1) + layer, q)
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
        qc.rz(b, range(num_qubits))
    qc.global_phase = a / 2
    return qc


def bound_copies(circuit: QuantumCircuit, values: np.ndarray) -> list[QuantumCircuit]:
    return [circuit.assign_parameters(dict(zip(circuit.parameters, row, strict=True))) for row in values]


def test_sweep_results_equal_client_bound_results(executor, rng):
    qc = layered()
    qc.measure_all()
    values = rng.uniform(-np.pi, np.pi, (12, qc.num_parameters))
    binds = [{p: values[:, j] for j, p in enumerate(qc.parameters)}]
    backend = AerSimulator(executor=executor)
    swept = backend.run(qc, parameter_binds=binds, shots=500, seed_simulator=11, max_job_size=5)
    bound = backend.run(bound_copies(qc, values), shots=500, seed_simulator=11, max_job_size=5)
    assert swept.tasks() == 3 and len(swept.qobj().experiments) == 3  # one circuit, its points in 3 tasks
    assert swept.result().get_counts() == bound.result().get_counts()


@pytest.mark.parametrize("fusion", [True, False])
def test_bound_on_workers_equals_the_statevector_oracle(fusion, rng):
    qc = random_u_layer(5, rng).compose(layered())
    qc.save_statevector()
    values = rng.uniform(-np.pi, np.pi, (4, 2))
    binds = [dict(zip(qc.parameters, values.T, strict=True))]
    result = AerSimulator().run(qc, parameter_binds=binds, fusion_enable=fusion).result()
    for i, circuit in enumerate(bound_copies(qc, values)):
        circuit.data.pop()  # the save
        expected = reference_statevector(circuit)
        np.testing.assert_allclose(result.get_statevector(i).data, expected, atol=1e-12)


EXPRESSIONS = {
    "affine": lambda t, p: 2 * t + p,
    "general": lambda t, p: t.sin() * p,
    "functions": lambda t, p: (t.cos() + p.exp()).arctan() - (p * p + 1).log() + abs(t) * t.sign(),
    "reversed": lambda t, p: (2 - t) / (1 + p**2) + 2**t - 3 / (p - 7),
    "trig": lambda t, p: t.tan() * 0.1 + (t / 9).arcsin() + (p / 9).arccos(),
}


@pytest.mark.parametrize("kind", sorted(EXPRESSIONS))
def test_parameter_expressions_are_evaluated_on_the_workers(kind, rng):
    theta, phi = Parameter("theta"), Parameter("phi")
    angle = EXPRESSIONS[kind](theta, phi)
    qc = random_u_layer(3, rng)
    qc.rx(angle, 0)
    qc.crz(angle * 0.5, 1, 2)
    qc.u(theta, phi, angle, 2)
    qc.rzz(angle, 0, 2)
    qc.save_statevector()
    values = rng.uniform(0.2, 1.5, (5, 2))
    program = AerSimulator().compile([qc], parameter_values=[values])
    (exp,) = program.experiments
    assert exp.parameterized and exp.parameters == ["phi", "theta"]
    outputs = run_program(program)
    for row, out in zip(values, outputs, strict=True):
        circuit = qc.assign_parameters(dict(zip(qc.parameters, row, strict=True)))
        circuit.data.pop()
        np.testing.assert_allclose(next(iter(out["saves"].values())), reference_statevector(circuit), atol=1e-12)


def test_a_task_carries_the_compiled_circuit_and_its_rows_of_values(local_cluster_client, rng):
    qc = layered(6, 4)
    qc.measure_all()
    values = rng.uniform(0, 1, (400, 2))
    job = AerSimulator(executor=local_cluster_client).run(
        qc, parameter_binds=[dict(zip(qc.parameters, values.T, strict=True))], max_job_size=100
    )
    assert job.tasks() == 4
    for task in job._chunks:  # each task: the one compiled template and 100 rows of values
        (exp,) = task.experiments
        assert exp.values.shape == (100, 2) and exp.ops.shape[0] == len(qc.data) - qc.num_qubits  # + phase - barrier
    one_point = pickle.dumps(job._chunks[0].points(0, 1))
    assert len(pickle.dumps(job._chunks[0])) < len(one_point) + 100 * 2 * 8 + 2000
    assert len(job.result().results) == 400


@pytest.mark.parametrize(
    "binds, message",
    [
        ([{"a": [0.1, 0.2], "b": [0.3]}], "differ in length"),
        ([{"a": [0.1, float("nan")], "b": [0.3, 0.4]}], "parameter 'a' at point 1: nan is not finite"),
        ([{"a": ["0.5"], "b": [0.3]}], "parameter 'a' at point 0: '0.5' \\(str\\) is not a real number"),
        ([{"a": "0.5", "b": 0.3}], "parameter 'a' at point 0: '0.5'"),
        ([{"a": [1j], "b": [0.3]}], "parameter 'a' at point 0: 1j \\(complex\\)"),
        ([{"a": [None], "b": [0.3]}], "parameter 'a' at point 0: None"),
        ([{"a": [0.1], "b": [np.inf]}], "parameter 'b' at point 0: inf is not finite"),
        ([{"a": [10**400], "b": [0.3]}], "parameter 'a' at point 0: .* too large"),
        ([{"a": [0.1]}], "unbound parameters: b"),
    ],
)
def test_bad_values_are_refused_at_run_naming_the_parameter(binds, message):
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().run(layered(), parameter_binds=binds)


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros((3, 3)), r"shape \(points, 2\) for parameters \['a', 'b'\], got shape \(3, 3\)"),
        (np.zeros((0, 2)), "got shape"),
        ([[0.1, 0.2], [0.3]], "rows differ in length"),
        ([[0.1, "x"]], "parameter 'b' at point 0: 'x'"),
        (np.array([[0.1, np.nan]]), "parameter 'b' at point 0: nan"),
    ],
)
def test_bad_values_arrays_are_refused_naming_the_parameter(values, message):
    with pytest.raises(AerdaskInputError, match=message):
        AerSimulator().compile([layered()], parameter_values=[values])


def test_validate_covers_the_parameter_fields():
    program = AerSimulator().compile([layered()], parameter_values=[np.ones((3, 2))])
    program.validate()
    corruptions = {
        "expression 0: parameter column out of range": lambda e: e.expr_code.__setitem__((0, 1), 7),
        "expression 0: unknown opcode": lambda e: e.expr_code.__setitem__((0, 0), 99),
        "pops an empty stack": lambda e: setattr(e, "expr_code", np.array([[3, 0], *e.expr_code[1:]])),
        "param_expr": lambda e: e.param_expr.__setitem__(np.flatnonzero(e.param_expr >= 0)[0], 1000),
        "values has 3 columns": lambda e: setattr(e, "values", np.ones((3, 3))),
        "one entry per point": lambda e: setattr(e, "indices", np.arange(2)),
        "parameter 'b' at point 1 is nan": lambda e: e.values.__setitem__((1, 1), np.nan),
        "constant index": lambda e: setattr(e, "expr_consts", np.zeros(0)),
    }
    for message, corrupt in corruptions.items():
        bad = pickle.loads(pickle.dumps(program))
        corrupt(bad.experiments[0])
        with pytest.raises(QobjValidationError, match=message):
            bad.validate()


def test_an_angle_without_a_finite_value_is_refused_at_run_naming_the_point():
    t = Parameter("t")
    qc = QuantumCircuit(1, 1)
    qc.rx(t.log(), 0)
    qc.measure(0, 0)
    with pytest.raises(AerdaskInputError, match=r"angle log\(t\) has no finite real value at point 1 \(t=-1.0\)"):
        AerSimulator().run(qc, parameter_binds=[{t: [1.0, -1.0]}])
    # Workers check too, for programs made by hand.
    program = AerSimulator().compile([qc], parameter_values=[[[1.0]]])
    program.experiments[0].values[0, 0] = -1.0
    with pytest.raises(ExperimentError, match=r"point 0 \(t=-1.0\).*finite real"):
        run_program(program)


class OpaqueRotation(Gate):
    """A gate with a parameter, a matrix and no definition: it cannot be compiled before binding."""

    def __init__(self, theta):
        super().__init__("opaque_rx", 1, [theta])

    def __array__(self, dtype=None, copy=None):
        return RXGate(float(self.params[0])).to_matrix()


def test_circuits_that_cannot_compile_once_are_bound_point_by_point(rng):
    t = Parameter("t")
    qc = random_u_layer(2, rng)
    qc.append(OpaqueRotation(t), [0])
    qc.rxx(t, 0, 1)
    qc.measure_all()
    values = [0.3, 1.2, 2.5]
    job = AerSimulator().run(qc, parameter_binds=[{t: values}], shots=300, seed_simulator=5)
    assert len(job.qobj().experiments) == 3  # one bound experiment per point
    expected = AerSimulator().run(bound_copies(qc, np.array([values]).T), shots=300, seed_simulator=5)
    assert job.result().get_counts() == expected.result().get_counts()


def test_expression_table_refuses_complex_constants_and_unknown_parameters():
    a, b = Parameter("a"), Parameter("b")
    table = ExpressionTable([a])
    with pytest.raises(NotTemplatable, match="not a real number"):
        table.add(a * 1j)
    with pytest.raises(NotTemplatable, match="'b' is not a parameter"):
        table.add(a + b)
    assert table.add(2 * a) == 0 and table.add(2 * a) == 0 and len(table) == 1


def test_parameter_vectors_and_for_loops_compile_once(rng):
    v = ParameterVector("v", 3)
    layer = random_u_layer(3, rng)
    qc = layer.copy()
    with qc.for_loop(range(2)) as i:
        qc.rx(v[0] * i + v[1], 0)
        qc.cry(v[2], 0, 1)
    qc.save_statevector()
    unrolled = layer.copy()  # the oracle: Statevector does not run control flow
    for i in range(2):
        unrolled.rx(v[0] * i + v[1], 0)
        unrolled.cry(v[2], 0, 1)
    values = rng.uniform(0, 1, (3, 3))
    assert compile_circuit(qc).parameterized
    result = AerSimulator().run(qc, parameter_binds=[dict(zip(qc.parameters, values.T, strict=True))]).result()
    for i, circuit in enumerate(bound_copies(unrolled, values)):
        np.testing.assert_allclose(result.get_statevector(i).data, reference_statevector(circuit), atol=1e-12)
