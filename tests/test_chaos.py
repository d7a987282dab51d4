"""Faults while sweeping: workers SIGKILLed at random, and many jobs in a row on one cluster.

Bounded: the killing stops after a set time, so the sweep always ends.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Imported for its config defaults: they must exist before the dask.config.set below, or leaving
# that set would drop the whole "distributed" section it did not see.
import distributed  # noqa: F401
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from aerdask import AerSimulator
from aerdask.sweep import run_sweep

from .clusters import local_client

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _circuit() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(12, name="chaos")
    for layer in range(6):
        for q in range(12):
            qc.ry(a * (q + 1) + layer, q)
        for q in range(11):
            qc.cx(q, q + 1)
        qc.rz(b, range(12))
    qc.measure_all()
    return qc


SOAK_CIRCUIT = """
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

a, b = Parameter("a"), Parameter("b")
circuit = QuantumCircuit(8, name="soak")
for layer in range(4):
    for q in range(8):
        circuit.ry(a * (q + 1) + layer, q)
    for q in range(7):
        circuit.cx(q, q + 1)
    circuit.rz(b, range(8))
circuit.measure_all()
"""
SOAK_GRID = ["a=0:2:200", "b=0:1:100"]  # 20,000 points
AERDASK = [sys.executable, "-m", "aerdask.cli"]


def _sweep_command(circuit, out):
    options = ["--shots", "64", "--seed", "11", "--points-per-job", "400"]  # 50 jobs, each cut for the workers
    return [*AERDASK, "sweep", str(circuit), "--grid", *SOAK_GRID, "-o", str(out), *options]


class _Churn:
    """SIGKILLs a random worker of ``cluster`` every 1-3 s and starts a new one in its place (bounded)."""

    def __init__(self, cluster, seconds: float):
        self.cluster, self.seconds = cluster, seconds
        self.stop = threading.Event()
        self.kills = 0
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        rng = random.Random(7)
        deadline = time.monotonic() + self.seconds
        born = len(self.cluster.workers)
        while not self.stop.wait(rng.uniform(1.0, 3.0)) and time.monotonic() < deadline:
            alive = [p for p in self.cluster.workers if p.poll() is None]
            if not alive:
                continue
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            self.kills += 1
            self.cluster.start_worker(f"w{born}")
            born += 1


# The soak of issue 30: workers pre-empted all through a long sweep, replaced by new ones.
@pytest.mark.timeout(900)
def test_a_sweep_soaks_worker_kills_and_replacements_and_loses_no_point(tmp_path):
    from .clusters import CliCluster

    circuit = tmp_path / "soak.py"
    circuit.write_text(SOAK_CIRCUIT)
    calm = tmp_path / "calm.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*_sweep_command(circuit, calm), "--scheduler", "local", "--quiet"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    cluster = CliCluster(tmp_path / "cluster", n_workers=3, nanny=False).start()
    churn = _Churn(cluster, seconds=600)
    out = tmp_path / "soak.jsonl"
    try:
        start = time.monotonic()
        sweep = subprocess.Popen(
            [*_sweep_command(circuit, out), "--scheduler", cluster.address, "--quiet"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        churn.thread.start()
        stdout, stderr = sweep.communicate(timeout=840)
        elapsed = time.monotonic() - start
    finally:
        churn.stop.set()
        churn.thread.join(timeout=30)
        cluster.stop()
    assert sweep.returncode == 0, stderr[-3000:]
    assert churn.kills >= 5, f"only {churn.kills} workers were killed: the soak tested nothing"
    lines = out.read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(20_000))  # every point, once
    assert out.read_text() == calm.read_text()  # and what an undisturbed run gives
    print(f"soak: 20,000 points in {elapsed:.0f} s with {churn.kills} workers killed and replaced")


def test_many_jobs_leave_nothing_behind():
    import psutil

    qc = QuantumCircuit(4)
    qc.h(range(4))
    qc.measure_all()
    with local_client(n_workers=1, processes=False) as client:
        backend = AerSimulator(executor=client)
        for _ in range(50):  # warm: caches, pools and the first allocations settle
            backend.run(qc, shots=16).result()
        before = psutil.Process().memory_info().rss
        for _ in range(500):
            backend.run(qc, shots=16).result()
        after = psutil.Process().memory_info().rss
        assert not client.list_datasets()  # no job left published
        assert not client.futures  # no future left held
    assert after < before * 1.10, f"{before:,} -> {after:,} bytes"


def test_a_scheduler_killed_mid_sweep_fails_clearly_and_a_rerun_completes_the_file(tmp_path):
    from distributed import Client

    from aerdask.errors import AerdaskError
    from aerdask.sweep import SweepError  # noqa: F401 (a clear error is an aerdask or job error)

    from .clusters import CliCluster

    points = [(0.01 * i, 0.03 * (i % 11)) for i in range(600)]

    def sweep(out, backend):
        return run_sweep(
            _circuit(), ["a", "b"], points, out, backend, shots=32, seed=5, points_per_job=20, progress=None
        )

    calm = tmp_path / "calm.jsonl"
    sweep(calm, AerSimulator())
    out = tmp_path / "cut.jsonl"
    first = CliCluster(tmp_path / "c1", n_workers=1).start()
    error: list = []
    try:
        client = Client(first.address, timeout=5)
        client.wait_for_workers(1, timeout=60)

        def interrupted():
            try:
                sweep(out, AerSimulator(executor=client))
            except BaseException as exc:  # noqa: BLE001 (the test inspects it)
                error.append(exc)

        thread = threading.Thread(target=interrupted, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 40):
            time.sleep(0.05)
        first.kill_scheduler()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the sweep hung after its scheduler died"
        client.close()
    finally:
        first.stop()
    from qiskit.providers import JobError

    assert error and isinstance(error[0], AerdaskError | JobError), error
    assert 0 < len(out.read_text().splitlines()) < len(points)
    second = CliCluster(tmp_path / "c2", n_workers=1).start()
    try:
        with Client(second.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            summary = sweep(out, AerSimulator(executor=client))
    finally:
        second.stop()
    assert summary["skipped"] > 0
    assert out.read_text() == calm.read_text()
