"""Faults while sweeping: workers SIGKILLed at random, and many jobs in a row on one cluster.

Bounded: the killing stops after ``KILL_FOR_S`` seconds, so the sweep always ends.
"""

import json
import os
import random
import signal
import threading
import time

import dask

# Imported for its config defaults: they must exist before the dask.config.set below, or leaving
# that set would drop the whole "distributed" section it did not see.
import distributed  # noqa: F401
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from aerdask import AerSimulator
from aerdask.sweep import run_sweep

from .clusters import local_client

KILL_FOR_S = 25.0
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


def _killer(client, stop: threading.Event, kills: list) -> None:
    rng = random.Random(7)
    deadline = time.monotonic() + KILL_FOR_S
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(rng.uniform(1.0, 2.0))
        try:
            pids = list(client.run(os.getpid, wait=True, callback_timeout=5).values())
        except (OSError, TimeoutError):  # a worker died mid-call: ask again next time
            continue
        if pids:
            pid = rng.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except ProcessLookupError:  # it died on its own since it answered
                pass


# A fresh CI machine (2 cores, an empty Numba cache) has the session's clusters compiling their
# kernels in the background beside this test, and each killed worker reloads its kernels; the sweep
# ends (the killing is bounded), but past pytest's 300 s default there. Alone it takes about 90 s.
@pytest.mark.timeout(900)
def test_a_sweep_under_worker_kills_loses_and_repeats_no_point(tmp_path):
    names = ["a", "b"]
    points = [(0.01 * i, 0.02 * (i % 17)) for i in range(2000)]
    calm = tmp_path / "calm.jsonl"
    run_sweep(_circuit(), names, points, calm, AerSimulator(), shots=64, seed=11, points_per_job=50, progress=None)
    # A LocalCluster closes a worker's nanny for good when no worker of that name is back 15 s
    # after one left (distributed.deploy.lost-worker-timeout): with a kill every 1-2 s, a name
    # caught between a kill and its restart at that moment loses its nanny, and with all three
    # gone the job is (rightly) lost. Nannies of `dask worker` processes restart forever.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}), local_client(n_workers=3) as client:
        stop, kills = threading.Event(), []
        killer = threading.Thread(target=_killer, args=(client, stop, kills), daemon=True)
        killer.start()
        try:
            out = tmp_path / "chaos.jsonl"
            backend = AerSimulator(executor=client)
            summary = run_sweep(
                _circuit(), names, points, out, backend, shots=64, seed=11, points_per_job=50, progress=None
            )
        finally:
            stop.set()
            killer.join(timeout=10)
    assert len(kills) >= 5, f"the killer landed only {len(kills)} kills: the test tested nothing"
    assert summary["ran"] == 2000
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(2000))  # every point exactly once
    assert out.read_text() == calm.read_text()  # and the same counts as undisturbed
    print(f"{len(kills)} workers killed")


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
