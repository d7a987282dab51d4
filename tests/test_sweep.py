"""Sweeps: grids and CSVs, results as they arrive, and resuming after an interruption."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aerdask import AerSimulator
from aerdask.sweep import SweepError, csv_points, grid_points, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SWEEP_CIRCUIT = """
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

a, b = Parameter("a"), Parameter("b")
circuit = QuantumCircuit(14, name="sweep")
for layer in range(6):
    for q in range(14):
        circuit.ry(a * (q + 1) + layer, q)
    for q in range(13):
        circuit.cx(q, q + 1)
    circuit.rz(b, range(14))
circuit.measure_all()
"""


def test_grid_and_csv_points(tmp_path):
    names, points = grid_points(["a=0:1:3", "b=5,6"])
    assert names == ["a", "b"] and points == [(0, 5), (0, 6), (0.5, 5), (0.5, 6), (1, 5), (1, 6)]
    csv = tmp_path / "values.csv"
    csv.write_text("a,b\n0.1,0.2\n0.3,0.4\n")
    assert csv_points(csv) == (["a", "b"], [(0.1, 0.2), (0.3, 0.4)])
    with pytest.raises(SweepError, match="NAME=START:STOP:NUM"):
        grid_points(["nonsense"])
    csv.write_text("a,b\n0.1,x\n")
    with pytest.raises(SweepError, match="values.csv:2"):
        csv_points(csv)


def test_sweep_writes_json_lines_in_point_order(tmp_path):
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    out = tmp_path / "rx.jsonl"
    names, points = grid_points(["theta=0:3.141592653589793:7"])
    summary = run_sweep(qc, names, points, out, AerSimulator(), shots=500, seed=1, points_per_job=2, progress=None)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(7)) and summary["ran"] == 7
    assert rows[0]["counts"] == {"0": 500} and rows[-1]["counts"] == {"1": 500}
    again = run_sweep(qc, names, points, out, AerSimulator(), shots=500, seed=1, progress=None)
    assert again == {"points": 7, "ran": 0, "skipped": 7, "seed": 1}
    with pytest.raises(SweepError, match="different sweep"):
        run_sweep(qc, names, points, out, AerSimulator(), shots=10, seed=1, progress=None)


def _rx_sweep(tmp_path, points=None, **kwargs):
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    points = points or [(0.1 * i,) for i in range(6)]
    out = tmp_path / "rx.jsonl"
    options = {"shots": 100, "seed": 3, "points_per_job": 2, "progress": None, **kwargs}
    return out, lambda pts=points: run_sweep(qc, ["theta"], pts, out, AerSimulator(), **options)


def test_a_different_grid_of_the_same_shape_is_refused(tmp_path):
    out, run = _rx_sweep(tmp_path)
    run()
    with pytest.raises(SweepError, match="circuit, options or point values differ"):
        run([(0.2 * i,) for i in range(6)])


def test_torn_blank_and_unterminated_lines_lose_no_finished_point(tmp_path):
    out, run = _rx_sweep(tmp_path)
    run()
    whole = out.read_text()
    lines = whole.splitlines()
    # A blank line in the middle, a damaged record, and a last record that lost its newline.
    out.write_text(lines[0] + "\n\n" + lines[1] + "\n" + '{"index": 4, "cou' + "\n" + lines[2] + "\n" + lines[3])
    summary = run()
    assert summary["skipped"] == 4 and summary["ran"] == 2  # points 0-3 kept, 4 and 5 run again
    assert out.read_text() == whole  # the same file as the undisturbed sweep


def test_a_damaged_meta_file_is_refused_or_replaced(tmp_path):
    out, run = _rx_sweep(tmp_path)
    run()
    meta = out.with_name(out.name + ".meta.json")
    meta.write_text(meta.read_text()[:10])
    with pytest.raises(SweepError, match="is damaged"):
        run()
    out.unlink()
    assert run()["ran"] == 6  # nothing recorded under it: a fresh start
    assert json.loads(meta.read_text())["seed"] == 3


def _sweep(workdir, output, extra=()):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aerdask.cli",
            "sweep",
            str(workdir / "circuit.py"),
            "-o",
            str(output),
            "--grid",
            "a=0:1:40",
            "b=0:2:25",
            "--seed",
            "2026",
            "--shots",
            "64",
            "--points-per-job",
            "10",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def uninterrupted_sweep(tmp_path_factory):
    """The sweep of :func:`_sweep` run once, undisturbed, to a Parquet table (and its JSON-lines journal)."""
    from aerdask.sweep import journal_path

    workdir = tmp_path_factory.mktemp("reference")
    (workdir / "circuit.py").write_text(SWEEP_CIRCUIT)
    reference = workdir / "reference.parquet"
    assert _sweep(workdir, reference, ["--quiet"]).wait(600) == 0
    assert len(journal_path(reference).read_text().splitlines()) == 1000
    return reference


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_interrupted_sweep_resumes_to_the_same_file(tmp_path, suffix, uninterrupted_sweep):
    """Interrupted once results arrive, then resumed: the same records, and the same table, as one run."""
    from aerdask.sweep import journal_path, load

    (tmp_path / "circuit.py").write_text(SWEEP_CIRCUIT)
    reference = uninterrupted_sweep  # JSON lines are the Parquet output's journal, record for record
    resumed = tmp_path / f"resumed{suffix}"
    journal = journal_path(resumed)
    proc = _sweep(tmp_path, resumed)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # interrupt once results are arriving, well before the end
        if journal.exists() and len(journal.read_text().splitlines()) >= 300:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    written = len(journal.read_text().splitlines())
    assert 300 <= written < 1000
    if suffix == ".parquet":  # the table holds every point that finished before the interruption
        assert len(load(resumed)) == written

    second = _sweep(tmp_path, resumed)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert f"{1000 - written} run now, {written} already done" in out
    assert journal.read_bytes() == journal_path(reference).read_bytes()
    table, expected = load(resumed), load(reference)
    assert len(table) == 1000 and table.equals(expected)
    assert list(table.columns[:4]) == ["index", "a", "b", "shots"]
    assert (table.filter(like="counts.").sum(axis=1) == 64).all()


def _rx_grid():
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    names, points = grid_points(["theta=0:3:4"])
    return qc, names, points


@pytest.mark.parametrize("points_per_job", [-5, 0, 1.5, True])
def test_points_per_job_must_be_a_positive_int(tmp_path, points_per_job):
    qc, names, points = _rx_grid()
    out = tmp_path / "rx.jsonl"
    with pytest.raises(SweepError, match="points_per_job must be a positive int"):
        run_sweep(qc, names, points, out, AerSimulator(), points_per_job=points_per_job, progress=None)
    assert not out.exists()


def test_a_resume_with_another_noise_model_is_refused(tmp_path):
    from aerdask.noise import NoiseModel

    from .noise_cases import depolarizing

    qc, names, points = _rx_grid()
    out = tmp_path / "rx.jsonl"
    run_sweep(qc, names, points[:2], out, AerSimulator(), shots=50, seed=3, progress=None)
    noisy = NoiseModel()
    noisy.add_all_qubit_quantum_error(depolarizing(0.2, 1), ["rx"])
    for backend in (
        AerSimulator(noise_model=noisy),
        AerSimulator(precision="single"),
        AerSimulator(fusion_enable=False),
    ):
        with pytest.raises(SweepError, match="holds a different sweep"):
            run_sweep(qc, names, points[:2], out, backend, shots=50, seed=3, progress=None)
    same = NoiseModel()
    same.add_all_qubit_quantum_error(depolarizing(0.2, 1), ["rx"])
    other = tmp_path / "noisy.jsonl"
    run_sweep(qc, names, points[:2], other, AerSimulator(noise_model=noisy), shots=50, seed=3, progress=None)
    # A model with the same errors (another object) is the same sweep; so is another executor.
    again = run_sweep(
        qc, names, points[:2], other, AerSimulator(noise_model=same, max_job_size=1), shots=50, seed=3, progress=None
    )
    assert again["skipped"] == 2


def test_foreign_records_never_reach_the_final_file(tmp_path):
    qc, names, points = _rx_grid()
    calm = tmp_path / "calm.jsonl"
    run_sweep(qc, names, points, calm, AerSimulator(), shots=50, seed=3, progress=None)
    out = tmp_path / "rx.jsonl"
    run_sweep(qc, names, points, out, AerSimulator(), shots=50, seed=3, progress=None)
    lines = out.read_text().splitlines()
    foreign = [
        {"index": 1, "shots": 50, "theta": 99.0, "counts": {"0": 50}},  # another sweep's point 1
        {"index": 17, "shots": 50, "theta": 0.0, "counts": {"0": 50}},  # no such point
        {"index": 2, "shots": 7, "theta": points[2][0], "counts": {"0": 7}},  # other shots
        {"note": "hello"},
    ]
    out.write_text("\n".join([*(json.dumps(r) for r in foreign), *lines[1:]]) + "\n")  # point 0 lost too
    summary = run_sweep(qc, names, points, out, AerSimulator(), shots=50, seed=3, progress=None)
    assert summary["ran"] == 1 and out.read_text() == calm.read_text()
