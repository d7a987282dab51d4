"""The qobj: plain data, validated, round-trips through pickle and .npz."""

import os
import pickle

import numpy as np
import pytest
from qiskit import QuantumCircuit

from aerdask import AerSimulator, QobjValidationError
from aerdask_kernels import Program, run_program
from aerdask_kernels.format.standard import STANDARD_ARITY
from aerdask_kernels.format.validation import suspect_rows, validate_row
from aerdask_kernels.opcodes import COL_ARG, COL_OPCODE, OP_MATRIX


@pytest.fixture
def program():
    qc = QuantumCircuit(3, 2, name="prog")
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(0.4, 2)
    qc.unitary(np.array([[0, 1j], [1j, 0]]), [1])  # a row with its own matrix
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.measure(2, 1)
    qc.save_statevector()
    job = AerSimulator().run(qc, shots=50, seed_simulator=1, memory=True)
    job.result()
    return job.qobj()


def _plain(obj):
    """Every leaf is numpy, a number, a string, or a container of those."""
    if isinstance(obj, dict):
        return all(_plain(k) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return all(_plain(v) for v in obj)
    return obj is None or isinstance(obj, np.ndarray | int | float | str | bool)


def test_program_is_plain_data(program):
    assert isinstance(program, Program)
    for exp in program.experiments:
        assert _plain({k: getattr(exp, k) for k in exp.__dataclass_fields__})
    assert "qiskit" not in pickle.dumps(program).decode("latin1")


@pytest.mark.parametrize("roundtrip", ["pickle", "npz"])
def test_round_trip_gives_the_same_results(program, roundtrip, tmp_path):
    if roundtrip == "pickle":
        copy = pickle.loads(pickle.dumps(program))
    else:
        program.save(tmp_path / "prog.npz")
        copy = Program.load(tmp_path / "prog.npz")
    copy.validate()
    a, b = run_program(program)[0], run_program(copy)[0]
    for field in ("outcomes", "counts", "memory"):
        np.testing.assert_array_equal(a[field], b[field])
    np.testing.assert_array_equal(a["saves"]["statevector"], b["saves"]["statevector"])
    assert copy.experiments[0].header == program.experiments[0].header


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: setattr(p, "version", 99), "version"),
        (lambda p: p.options.update(shots=0), "shots"),
        (lambda p: p.options.update(precision="half"), "precision"),
        (lambda p: p.options.update(bogus=1), "unknown"),
        (lambda p: p.experiments[0].ops.__setitem__((0, 0), 42), "opcode"),
        (lambda p: p.experiments[0].qubits.__setitem__(0, 17), "index 17"),
        (lambda p: setattr(p.experiments[0], "matrices", p.experiments[0].matrices[:2]), "outside matrices"),
        (lambda p: setattr(p.experiments[0], "params", p.experiments[0].params[:0]), "outside params"),
        (lambda p: p.experiments[0].ops.__setitem__((0, 4), 99), "not a standard gate"),
        (lambda p: setattr(p.experiments[0], "ops", p.experiments[0].ops.astype(np.int32)), "int64"),
        (lambda p: setattr(p, "experiments", []), "at least one"),
    ],
)
def test_validate_names_the_problem(program, corrupt, message):
    bad = pickle.loads(pickle.dumps(program))
    corrupt(bad)
    with pytest.raises(QobjValidationError, match=message):
        bad.validate()


def test_jump_target_checked(program):
    bad = pickle.loads(pickle.dumps(program))
    exp = bad.experiments[0]
    row = int(np.flatnonzero(exp.ops[:, COL_OPCODE] != OP_MATRIX)[0])
    exp.ops[row, COL_OPCODE] = 6  # JUMP
    exp.ops[row, COL_ARG] = 10_000
    with pytest.raises(QobjValidationError, match="jump target"):
        bad.validate()


def test_load_refuses_non_program_files(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(QobjValidationError):
        Program.load(path)


def test_vectorised_screen_never_misses_a_bad_row(program, rng):
    """Every row the row-by-row check rejects is among the rows the fast screen flags."""
    exp = program.experiments[0]
    for _ in range(300):
        bad = pickle.loads(pickle.dumps(exp))
        row, col = int(rng.integers(bad.ops.shape[0])), int(rng.integers(8))
        bad.ops[row, col] = int(rng.choice([-1, 0, 1, 2, 3, 7, 8, 9, 40, 99, 100, 2**40]))
        suspects = suspect_rows(
            bad.ops,
            bad.qubits,
            bad.matrices,
            bad.params.size,
            bad.num_qubits,
            bad.num_clbits,
            bad.num_clbits + bad.num_vars,
            len(bad.saves),
            len(bad.classical),
            STANDARD_ARITY,
        )
        for pc in range(bad.ops.shape[0]):
            try:
                validate_row(bad, pc, bad.ops[pc], lambda msg: (_ for _ in ()).throw(QobjValidationError(msg)))
            except QobjValidationError:
                assert suspects[pc], (pc, bad.ops[pc])


def test_packing_carries_every_field_of_an_experiment():
    import dataclasses

    from aerdask_kernels.format.packing import ARRAY_FIELDS, SCALAR_FIELDS
    from aerdask_kernels.format.program import Experiment

    assert set(ARRAY_FIELDS) | set(SCALAR_FIELDS) == {f.name for f in dataclasses.fields(Experiment)}


def test_shipped_kernels_go_to_a_private_directory():
    import io
    import stat
    import sys
    import zipfile

    from aerdask._ship import install_package

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("aerdask_probe_pkg/__init__.py", "")
    first, second = install_package(buffer.getvalue()), install_package(buffer.getvalue())
    try:
        assert first != second and stat.S_IMODE(os.stat(first).st_mode) == 0o700
    finally:
        for path in (first, second):
            sys.path.remove(path)
