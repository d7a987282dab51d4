"""Clusters that grow with their work: adaptive, scaled after run(), late batch-queue workers, other images.

Real clusters on 127.0.0.1: ``LocalCluster`` with ``adapt`` and ``scale``, a dask-jobqueue
``SLURMCluster`` whose job script is run by bash long after ``run()``, and ``dask worker``
processes.
"""

import os
import subprocess
import time
from pathlib import Path

import dask
import distributed
import pytest
from distributed import Client, LocalCluster
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

from aerdask import AerSimulator, JobFailedError

from .clusters import NO_PAUSE, CliCluster, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def layered(i: int, num_qubits: int = 20, layers: int = 20) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits, name=f"layered-{i}")
    for layer in range(layers):
        qc.ry(0.1 * (i + layer), range(num_qubits))
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def local_cluster(n_workers: int, **kwargs):
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        **kwargs,
    )


def test_an_adaptive_cluster_from_zero_workers_starts_them_for_the_job():
    with local_cluster(0) as cluster, Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=2)
        assert not client.scheduler_info(n_workers=-1)["workers"]
        start = time.monotonic()
        job = AerSimulator(executor=client).run(bell(), shots=100, seed_simulator=1)
        assert time.monotonic() - start < 10  # submitted at once: the work is what starts the workers
        assert (
            job.result(timeout=120).get_counts()
            == AerSimulator().run(bell(), shots=100, seed_simulator=1).result().get_counts()
        )
        assert client.scheduler_info(n_workers=-1)["workers"]  # adaptive scaling saw the work


def test_a_batch_is_cut_for_the_workers_a_cluster_grows_to_and_each_takes_a_share():
    with local_cluster(1) as cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=60)
        backend = AerSimulator(executor=client)
        backend.run(bell()).result(timeout=120)  # the kernels are warm on the first worker
        cluster.scale(4)  # asked for: three workers are still starting when run() cuts the batch
        job = backend.run([layered(i) for i in range(24)], shots=50, seed_simulator=2)
        assert job.tasks() >= 8, job.tasks()  # cut for four threads, not for the one present
        result = job.result(timeout=300)
        ran_on = {h.started.worker(h.key) for h in job._handles}
        assert len(ran_on) == 4, ran_on  # every worker that joined took some of the tasks
    expected = AerSimulator().run([layered(i) for i in range(24)], shots=50, seed_simulator=2).result()
    assert result.get_counts() == expected.get_counts()


def test_a_planned_size_comes_from_the_setting_too():
    from aerdask.executors.dask_scale import planned_threads

    with local_cluster(1) as cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=60)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert planned_threads(client, workers) == 1
        cluster.adapt(minimum=1, maximum=6)
        assert planned_threads(client, workers) == 6
        with dask.config.set({"aerdask.planned-workers": 10}):
            assert planned_threads(client, workers) == 10


def test_workers_that_start_45_s_after_run_take_the_job(tmp_path):
    import dask_jobqueue

    from .clusters import jobqueue_settings

    home = tmp_path / "home"
    settings, scheduler_options = jobqueue_settings(home, "slurm", DEPLOY, cores=1, processes=1, memory="2GiB")
    loopback = {**scheduler_options, "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}
    with dask.config.set(settings), dask_jobqueue.SLURMCluster(scheduler_options=loopback) as cluster:
        with Client(cluster, timeout=60) as client:
            backend = AerSimulator(executor=client)
            start = time.monotonic()
            job = backend.run(bell(), shots=200, seed_simulator=5)
            assert time.monotonic() - start < 10 and job.status() is JobStatus.QUEUED
            assert wait_until(lambda: "waiting for a worker" in repr(job), timeout=20), repr(job)
            time.sleep(max(0.0, 45 - (time.monotonic() - start)))  # a queue that starts the job late
            assert job.status() is JobStatus.QUEUED
            script = tmp_path / "job.sh"
            script.write_text(cluster.job_script())
            # The compute node shares the home directory: its worker reads the same settings and certificates.
            env = {**os.environ, "HOME": str(home)}
            with (tmp_path / "worker.log").open("w") as log:
                proc = subprocess.Popen(["bash", str(script)], env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                counts = job.result(timeout=180).get_counts()
            finally:
                proc.terminate()
                proc.wait(30)
    assert counts == AerSimulator().run(bell(), shots=200, seed_simulator=5).result().get_counts()
    assert time.monotonic() - start >= 45


_OTHER_IMAGE = """
import aerdask_worker

_versions = aerdask_worker.versions


def _other():
    return {**_versions(), "kernels": "0" * 16}  # a worker built from other kernel sources


aerdask_worker._own_versions = _other


def dask_setup(worker):
    aerdask_worker.dask_setup(worker)
"""


def test_a_worker_of_another_image_that_joins_later_refuses_tasks_on_the_job(tmp_path):
    preload = tmp_path / "other_image.py"
    preload.write_text(_OTHER_IMAGE)
    cluster = CliCluster(tmp_path, n_workers=0, preload_module=str(preload))
    cluster.start_scheduler()
    try:
        with Client(cluster.address, timeout=30) as client:
            job = AerSimulator(executor=client).run(bell())  # no worker yet: nothing to check at run()
            cluster.start_worker("late")
            with pytest.raises(JobFailedError, match="cannot run this task: its aerdask differs.*kernels"):
                job.result(timeout=120)
    finally:
        cluster.stop()


def test_a_job_hands_its_futures_to_dasks_own_tools(tmp_path):
    with local_cluster(2) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        job = AerSimulator(executor=client).run([bell()] * 6, max_job_size=2)
        futures = job.futures()
        assert len(futures) == job.tasks() == 3
        assert all(isinstance(f, distributed.Future) and job.task_prefix in str(f.key) for f in futures)
        done, not_done = distributed.wait(futures, timeout=120)
        assert not not_done
        distributed.progress(futures, notebook=False)  # Dask's progress bar follows them (returns when done)
        assert len(job.result(timeout=60).results) == 6


def test_what_no_worker_can_hold_is_still_refused_at_run(tmp_path):
    from aerdask import CircuitTooLargeError

    wide = QuantumCircuit(24)
    wide.ry(0.3, range(24))  # a statevector (a Clifford circuit would be a small tableau)
    wide.measure_all()
    cluster = CliCluster(tmp_path, n_workers=0, nanny=False)
    cluster.start_scheduler()
    try:
        with Client(cluster.address, timeout=30) as client:
            with dask.config.set({"aerdask.max-worker-memory": "64 MiB"}):  # no worker has ever joined
                with pytest.raises(CircuitTooLargeError, match="bytes are available per task"):
                    AerSimulator(executor=client).run(wide)
            cluster.start_worker("small", memory_limit="300MiB", env=NO_PAUSE)
            client.wait_for_workers(1, timeout=60)
            AerSimulator(executor=client).run(bell()).result(timeout=120)  # seen: 300 MiB
            assert cluster.kill_workers() == 1
            assert wait_until(lambda: not client.scheduler_info(n_workers=-1)["workers"], timeout=30)
            with pytest.raises(CircuitTooLargeError, match="bytes are available per task"):
                AerSimulator(executor=client).run(wide)  # too large for any worker that ever joined
            job = AerSimulator(executor=client).run(bell())  # what fits waits for a worker
            assert job.status() is JobStatus.QUEUED
            job.cancel()
    finally:
        cluster.stop()
