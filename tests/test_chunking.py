"""Tasks: how points are grouped, how programs travel, how results come back."""

import json
import pickle

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from aerdask import AerdaskInputError, AerSimulator
from aerdask.chunking import auto_job_size, plan_chunks
from aerdask.result import ResultData


@pytest.mark.parametrize(
    "points, threads, cost, overhead, tasks",
    [
        (1000, 8, 0.002, 0.0045, 8),  # 2 s of work: one task per thread, each ~0.25 s
        (1000, 1, 0.002, 0.0045, 4),  # one thread: four tasks (a slow one does not stall the end)
        (1000, 8, 0.01, 0.0045, 32),  # 10 s: four tasks per thread
        (64, 8, 1e-5, 0.0045, 8),  # little work: still every thread gets a task
        (3, 8, 1.0, 0.0045, 3),  # fewer points than threads
        (1000, 2, 0.002, 0.0005, 8),  # a thread pool's tasks cost little: more of them
    ],
)
def test_auto_job_size_gives_every_thread_the_same_work(points, threads, cost, overhead, tasks):
    size = auto_job_size(points, threads, cost, overhead)
    assert -(-points // size) == tasks
    if tasks >= threads:  # each task long enough for its overhead to stay near 3%
        assert size * cost >= overhead / 0.03 or tasks == threads


def _sweep_program(points=10):
    t = Parameter("t")
    qc = QuantumCircuit(2, 2, name="sweep")
    qc.rx(t, 0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    plain = QuantumCircuit(1, 1, name="plain")
    plain.h(0)
    plain.measure(0, 0)
    values = np.linspace(0, 1, points)[:, None]
    return AerSimulator().compile([plain, qc, plain], parameter_values=[None, values, None], shots=100)


def test_tasks_hold_whole_points_and_share_the_compiled_circuit():
    program = _sweep_program(10)
    chunks = list(plan_chunks(program.experiments, 4, None, program.options))
    assert [c.num_points for c in chunks] == [4, 4, 4]
    assert [[e.index for e in c.experiments] for c in chunks] == [[0, 1], [4], [8, 11]]
    template = program.experiments[1]
    assert all(e.ops is template.ops for c in chunks for e in c.experiments if e.name == "sweep")
    np.testing.assert_array_equal(np.concatenate([e.indices for c in chunks for e in c.experiments]), range(12))


def test_shot_chunks_of_a_compiled_circuit_merge_back():
    program = _sweep_program(3)
    split = AerSimulator().submit(program, max_shot_size=30).result()
    whole = AerSimulator().submit(program).result()
    assert len(split.results) == len(whole.results) == 5
    for i in range(5):
        assert sum(split.get_counts(i).values()) == 100
    assert split.get_counts(0).keys() <= {"0", "1"}


def test_duplicate_experiment_numbers_are_refused():
    program = AerSimulator().compile([QuantumCircuit(1, 1)] * 2, indices=[0, 0])
    with pytest.raises(AerdaskInputError, match="experiment number 0 appears twice"):
        AerSimulator().submit(program)


def test_packed_programs_round_trip_every_field():
    program = _sweep_program(5)
    copy = pickle.loads(pickle.dumps(program))
    assert len(copy.experiments) == 3
    for a, b in zip(program.experiments, copy.experiments, strict=True):
        for field, value in a.__dict__.items():
            other = getattr(b, field)
            if isinstance(value, np.ndarray):
                assert other.dtype == value.dtype and other.shape == value.shape, field
                np.testing.assert_array_equal(other, value, err_msg=field)
            else:
                assert other == value, field
    copy.validate()
    # Packed, a task of many small experiments is a few long arrays, the opcode table narrowed (int8 here).
    packed = copy.__getstate__()["experiments"]
    assert packed["ops"][0].dtype == np.int8 and packed["indices"][0].shape == (7,)


def test_counts_and_memory_are_built_when_first_read():
    data = ResultData(np.array([0, 3], dtype=np.uint8), np.array([7, 3], dtype=np.uint16), np.array([3, 0, 0]))
    assert "_counts_dict" not in data.__dict__
    assert data.counts == {"0x0": 7, "0x3": 3} and data.memory == ["0x3", "0x0", "0x0"]
    assert data.to_dict() == {"counts": {"0x0": 7, "0x3": 3}, "memory": ["0x3", "0x0", "0x0"]}
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    result = AerSimulator().run(qc, shots=50, memory=True, seed_simulator=1).result()
    assert json.loads(json.dumps(result.to_dict()))["results"][0]["data"]["counts"] == result.data(0)["counts"]
    assert pickle.loads(pickle.dumps(result)).get_counts() == result.get_counts()
    assert len(result.get_memory()) == 50
    no_clbits = AerSimulator().run(QuantumCircuit(1)).result()
    assert "counts" not in no_clbits.data(0)
