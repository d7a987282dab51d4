"""Faults at exact points on `dask scheduler` / `dask worker` processes: lost results, hung schedulers, deaths.

Each fault is injected where the test says (a gather held until the workers are
killed, a scheduler stopped with SIGSTOP while a job runs), never after a sleep,
and each test checks that the fault happened before it checks what aerdask did.
"""

import logging
import os
import signal
import threading
import time

import pytest
from distributed import Client
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from aerdask import AerSimulator, JobFailedError
from aerdask.errors import JobTimeoutError
from aerdask.executors import dask_monitor

from .clusters import NO_PAUSE, CliCluster, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def tiny(name: str) -> QuantumCircuit:
    qc = QuantumCircuit(2, name=name)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def slow(name: str = "slow", num_qubits: int = 18, layers: int = 60) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits, name=name)
    for _ in range(layers):
        qc.h(range(num_qubits))
        qc.rz(0.1, range(num_qubits))
        qc.cx(0, num_qubits - 1)
    qc.measure_all()
    return qc


def no_workers(client) -> bool:
    return not client.scheduler_info(n_workers=-1)["workers"]


class HeldGather:
    """Holds the monitor's background gather of ``key`` until :meth:`release` (the injection point)."""

    def __init__(self, monkeypatch, key_part: str):
        self.key_part = key_part
        self.reached = threading.Event()
        self.released = threading.Event()
        real = dask_monitor.gather

        def gather(client, futures, timeout=None):
            if any(key_part in str(f.key) for f in futures):
                self.reached.set()
                self.released.wait(120)
            return real(client, futures, timeout)

        monkeypatch.setattr(dask_monitor, "gather", gather)

    def release(self):
        self.released.set()


def _lost_after_finish(tmp_path, monkeypatch, caplog, *, worker_returns: bool):
    circuits = [tiny("t0"), tiny("t1"), slow("last", 16, 40)]
    calm = AerSimulator().run(circuits, shots=64, seed_simulator=9).result().get_counts()
    cluster = CliCluster(tmp_path, n_workers=2, nanny=False).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            backend = AerSimulator(executor=client)
            backend.run(tiny("warm")).result(timeout=120)  # the cluster is checked once
            job = backend.run(circuits, shots=64, seed_simulator=9, max_job_size=1, no_worker_timeout=8)
            last = job._handles[2]
            held = HeldGather(monkeypatch, last.key)
            assert held.reached.wait(120), "the last task's result never reached the gather"
            assert wait_until(lambda: all(h.gathered() for h in job._handles[:2]), timeout=30)
            assert last.future.status == "finished" and not last.done()  # finished there, not here
            with caplog.at_level(logging.INFO, logger="aerdask"):
                assert cluster.kill_workers() == 2  # the fault: every worker dies before the gather
                assert wait_until(lambda: no_workers(client), timeout=30)
                held.release()
                assert wait_until(lambda: "lost with worker" in caplog.text, timeout=30), caplog.text
            assert job.status() is JobStatus.RUNNING  # never DONE, nor back to it
            assert "lost with worker" in job.waiting_on() or "waiting for a worker" in job.waiting_on()
            start = time.monotonic()
            with pytest.raises(JobTimeoutError):
                job.result(timeout=2)  # the timeout holds while the result is being recomputed
            assert time.monotonic() - start < 5
            if worker_returns:
                cluster.start_worker("late")
                assert job.result(timeout=120).get_counts() == calm
                assert job.status() is JobStatus.DONE
                return
            with pytest.raises(JobFailedError, match="no worker for 8 s") as info:
                job.result(timeout=60)
            assert last.key in str(info.value) and "lost" in str(info.value)
            partial = info.value.partial_result
            assert [r.header["name"] for r in partial.results] == ["t0", "t1"]
            assert [partial.get_counts(i) for i in range(2)] == calm[:2]
            assert job.status() is JobStatus.ERROR
    finally:
        cluster.stop()


def test_results_lost_before_their_gather_fail_after_no_worker_timeout(tmp_path, monkeypatch, caplog):
    _lost_after_finish(tmp_path, monkeypatch, caplog, worker_returns=False)


def test_results_lost_before_their_gather_are_computed_again_by_a_new_worker(tmp_path, monkeypatch, caplog):
    _lost_after_finish(tmp_path, monkeypatch, caplog, worker_returns=True)


def test_a_finished_job_no_longer_needs_its_workers(tmp_path):
    cluster = CliCluster(tmp_path, n_workers=2, nanny=False).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            backend = AerSimulator(executor=client)
            job = backend.run([tiny(f"c{i}") for i in range(8)], shots=10, max_job_size=1, seed_simulator=3)
            assert wait_until(lambda: job.status() is JobStatus.DONE, timeout=120)
            assert cluster.kill_workers() == 2
            assert wait_until(lambda: no_workers(client), timeout=30)
            result = job.result(timeout=20)  # the reproduction: this used to wait forever
            assert len(result.results) == 8 and job.status() is JobStatus.DONE
    finally:
        cluster.stop()


def forever(name: str = "forever") -> QuantumCircuit:
    """Runs until cancelled, on the interpreter (small work: no compiled kernels, no resource)."""
    qc = QuantumCircuit(1, 1, name=name)
    with qc.while_loop((qc.clbits[0], 0)):
        qc.h(0)
    return qc


@pytest.mark.parametrize("worker_returns", [False, True])
def test_a_worker_death_is_told_apart_for_running_and_waiting_tasks(tmp_path, caplog, worker_returns):
    cluster = CliCluster(tmp_path, n_workers=1, nanny=False).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            backend = AerSimulator(executor=client, no_worker_timeout=6)
            backend.run(tiny("warm")).result(timeout=120)
            blocker = backend.run(forever())
            first = blocker._handles[0]
            assert wait_until(first.running, timeout=60)
            first_worker = first.started.worker(first.key)
            waiter = backend.run(tiny("waiter"))
            second = waiter._handles[0]
            # The one-thread worker holds the second task queued behind the first (Dask's saturation).
            processing = client.processing()
            assert {first.key, second.key} <= set(map(str, next(iter(processing.values())))), processing
            with caplog.at_level(logging.INFO, logger="aerdask"):
                assert cluster.kill_workers() == 1
                assert wait_until(lambda: "died while running it" in caplog.text, timeout=30), caplog.text
                assert wait_until(lambda: "while the task waited there" in caplog.text, timeout=30), caplog.text
            running_line = next(r.message for r in caplog.records if "died while running it" in r.message)
            waiting_line = next(r.message for r in caplog.records if "waited there" in r.message)
            assert first.key in running_line and second.key in waiting_line
            assert first.started.deaths(first.key) == 1 and second.started.deaths(second.key) == 0
            if worker_returns:
                cluster.start_worker("late")
                assert wait_until(lambda: first.started.worker(first.key) != first_worker, timeout=60)
                assert first.running() and blocker.cancel()  # it ran again, on the new worker
                assert waiter.result(timeout=120).get_counts()  # and the one that waited runs after it
                return
            for job in (blocker, waiter):
                with pytest.raises(JobFailedError, match="no worker for 6 s"):
                    job.result(timeout=60)
    finally:
        cluster.stop()


def test_a_frozen_scheduler_never_holds_a_wait_past_its_timeout(tmp_path):
    cluster = CliCluster(tmp_path, n_workers=1).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            backend = AerSimulator(executor=client)
            backend.run(tiny("warm")).result(timeout=120)
            job = backend.run(slow("frozen", 18, 150), shots=16)
            assert wait_until(lambda: job.status() is JobStatus.RUNNING, timeout=60)
            os.kill(cluster.scheduler.pid, signal.SIGSTOP)  # the fault: a hung, not a dead, scheduler
            try:
                assert cluster.scheduler.poll() is None
                start = time.monotonic()
                with pytest.raises(JobTimeoutError):
                    job.result(timeout=3)
                assert time.monotonic() - start < 5
                with pytest.raises(JobTimeoutError):
                    job.wait_for_final_state(timeout=2, wait=0.5)
                assert time.monotonic() - start < 9
                assert job.status() in (JobStatus.RUNNING, JobStatus.DONE)
                assert wait_until(lambda: "has not answered" in repr(job), timeout=20), repr(job)
                assert time.monotonic() - start < 30
            finally:
                os.kill(cluster.scheduler.pid, signal.SIGCONT)
            assert len(job.result(timeout=240).results) == 1  # and the job goes on once it thaws
    finally:
        cluster.stop()


def test_a_cluster_without_workers_says_the_job_waits_for_one(tmp_path):
    cluster = CliCluster(tmp_path, n_workers=1, nanny=False).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            backend = AerSimulator(executor=client)  # the default no_worker_timeout: aerdask.worker-timeout
            backend.run(tiny("warm")).result(timeout=120)
            assert cluster.kill_workers() == 1
            assert wait_until(lambda: no_workers(client), timeout=30)
            job = backend.run(tiny("waits"))
            assert wait_until(lambda: "waiting for a worker" in repr(job), timeout=20), repr(job)
            assert "no_worker_timeout=600 s" in repr(job) and job.status() is JobStatus.QUEUED
            job.cancel()
    finally:
        cluster.stop()


def test_a_task_that_fits_one_worker_follows_it_when_it_restarts_at_a_new_address(tmp_path):
    from aerdask_worker import MEMORY_RESOURCE

    qc = slow("wide", 24, 6)
    calm = AerSimulator().run(qc, shots=32, seed_simulator=2).result().get_counts()
    cluster = CliCluster(tmp_path, n_workers=0)
    cluster.start_scheduler()
    cluster.start_worker("small", memory_limit="300MiB", nanny=False, env=NO_PAUSE)  # too small for the state
    cluster.start_worker("big", memory_limit="3GiB")  # under a nanny: restarted when killed
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            job = AerSimulator(executor=client).run(qc, shots=32, seed_simulator=2)
            handle = job._handles[0]
            key = handle.key
            restrictions = client.run_on_scheduler(
                lambda dask_scheduler: dict(dask_scheduler.tasks[key].resource_restrictions or {})
            )
            assert restrictions.get(MEMORY_RESOURCE, 0) > 300  # placed by the memory it needs, not by address
            assert wait_until(handle.running, timeout=240)
            big = handle.started.worker(handle.key)
            pid = client.run(os.getpid, workers=[big])[big]
            os.kill(pid, signal.SIGKILL)  # the fault: the nanny restarts it at a new address
            assert wait_until(lambda: handle.started.worker(handle.key) not in (None, big), timeout=120)
            assert job.result(timeout=240).get_counts() == calm
    finally:
        cluster.stop()
