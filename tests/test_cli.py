"""The ``aerdask`` command as a user runs it."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qiskit import QuantumCircuit, qpy

from aerdask.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
AERDASK = [sys.executable, "-m", "aerdask.cli"]


def run_cli(*args, timeout=120):
    return subprocess.run([*AERDASK, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [[], ["run"], ["sweep"], ["plot"], ["cluster"]])
def test_help_on_every_command(command):
    out = run_cli(*command, "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: aerdask")


def test_run_openqasm2_prints_a_counts_table(capsys):
    assert main(["run", str(EXAMPLES / "bell.qasm"), "--shots", "200", "--seed", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bell" and "outcome" in out[1]
    rows = {line.split()[0]: int(line.split()[1]) for line in out[2:]}
    assert set(rows) == {"00", "11"} and sum(rows.values()) == 200


def test_run_openqasm3_json_is_seeded(capsys):
    args = ["run", str(EXAMPLES / "ghz.qasm"), "--shots", "300", "--seed", "9", "--json", "--memory"]
    main(args)
    (first,) = json.loads(capsys.readouterr().out)
    main(args)
    assert json.loads(capsys.readouterr().out) == [first]
    assert set(first["counts"]) == {"0000", "1111"} and len(first["memory"]) == 300


def test_run_qpy_and_python_files(tmp_path, capsys):
    qc = QuantumCircuit(1, 1, name="flip")
    qc.x(0)
    qc.measure(0, 0)
    with open(tmp_path / "flip.qpy", "wb") as fh:
        qpy.dump(qc, fh)
    (tmp_path / "flip.py").write_text(
        "from qiskit import QuantumCircuit\ncircuit = QuantumCircuit(1, 1, name='flip')\ncircuit.x(0)\n"
        "circuit.measure(0, 0)\n"
    )
    for name in ("flip.qpy", "flip.py"):
        assert main(["run", str(tmp_path / name), "--shots", "10", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["counts"] == {"1": 10}


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "/no/such/file.qasm"], "no such file"),
        (["run", "BAD"], "<input>:4,0: 'hx' is not defined"),
        (["run", str(EXAMPLES / "bell.qasm"), "--shots", "0"], "shots must be an int"),
        (["run", str(EXAMPLES / "bell.qasm"), "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
        (["sweep", str(EXAMPLES / "rotation.qasm"), "-o", "OUT", "--grid", "theta=0:1:3"], "missing ['phi']"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message, tmp_path):
    bad = tmp_path / "bad.qasm"
    bad.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nhx q[0];\n')
    args = [str(bad) if a == "BAD" else str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    out = run_cli(*args)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerdask: error:")
    assert message in lines[0]


@pytest.mark.cluster
def test_run_on_a_scheduler_matches_the_local_run(cli_cluster):
    local = run_cli("run", str(EXAMPLES / "bell.qasm"), "--seed", "5", "--json")
    remote = run_cli("run", str(EXAMPLES / "bell.qasm"), "--seed", "5", "--json", "--scheduler", cli_cluster.address)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)


@pytest.mark.cluster
def test_cluster_command_serves_jobs_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [*AERDASK, "cluster", "--workers", "1", "--port", "0", "--dashboard-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("scheduler: tcp://127.0.0.1:")
        # Dask serves the dashboard only with bokeh: its link, or what to install.
        served = importlib.util.find_spec("bokeh") is not None
        assert lines[1].startswith("dashboard: http" if served else "dashboard: needs bokeh>=3.1"), lines[1]
        address = lines[0].split()[1]
        out = run_cli("run", str(EXAMPLES / "bell.qasm"), "--json", "--scheduler", address)
        assert out.returncode == 0 and set(json.loads(out.stdout)[0]["counts"]) <= {"00", "11"}
        assert out.stderr.startswith("job ") and "dashboard" in out.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert "cluster stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_readme_quick_start_commands_are_the_ones_tested():
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:12] if line.startswith("pip install")]
    assert commands[0].split("&&")[1].split("#")[0].strip() == "python examples/bell.py"
    assert commands[1].split("&&")[1].split("#")[0].strip() == "python -m pytest"
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.R_OK)
    time.sleep(0)
