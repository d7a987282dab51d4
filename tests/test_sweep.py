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


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_the_same_file(tmp_path):
    (tmp_path / "circuit.py").write_text(SWEEP_CIRCUIT)
    reference = tmp_path / "reference.jsonl"
    assert _sweep(tmp_path, reference, ["--quiet"]).wait(600) == 0
    assert len(reference.read_text().splitlines()) == 1000

    resumed = tmp_path / "resumed.jsonl"
    proc = _sweep(tmp_path, resumed)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # interrupt once results are arriving, well before the end
        if resumed.exists() and len(resumed.read_text().splitlines()) >= 300:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    written = len(resumed.read_text().splitlines())
    assert 300 <= written < 1000

    second = _sweep(tmp_path, resumed)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert f"{1000 - written} run now, {written} already done" in out
    assert resumed.read_bytes() == reference.read_bytes()
