"""Jobs on real Dask clusters: splitting, seeds, workers, failures (real processes and signals)."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.providers import JobStatus

from aerdask import AerJob, AerSimulator, CircuitTooLargeError, JobFailedError
from aerdask.chunking import split_program
from aerdask.errors import ClusterError
from aerdask_kernels import run_program
from aerdask_worker import JIT_RESOURCE

from .clusters import CliCluster, local_client, wait_until

pytestmark = pytest.mark.cluster


def small_batch(n, num_qubits=4, seed=0):
    circuits = []
    for i in range(n):
        qc = random_circuit(num_qubits, 3, max_operands=2, seed=seed + i)
        qc.name = f"c{i}"
        qc.measure_all()
        circuits.append(qc)
    return circuits


def forever_circuit():
    qc = QuantumCircuit(1, 1, name="forever")
    with qc.while_loop((qc.clbits[0], 0)):
        qc.h(0)
    return qc


def slow_circuit(num_qubits=20, layers=60):
    qc = QuantumCircuit(num_qubits, name="slow")
    for _ in range(layers):
        qc.h(range(num_qubits))
        qc.rz(0.1, range(num_qubits))
    qc.measure_all()
    return qc


def test_200_circuits_with_max_job_size_10_are_20_tasks(local_cluster_client):
    client = local_cluster_client
    job = AerSimulator(executor=client).run(small_batch(200), max_job_size=10, seed_simulator=1)
    prefix = f"{job.task_prefix}-{job.job_id()}-"

    def scheduler_keys():
        return client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks if str(k).startswith(prefix)]
        )

    # Submissions reach the scheduler in batches: wait until they all arrived, then count.
    assert wait_until(lambda: len(scheduler_keys()) >= 20, timeout=30)
    assert len(scheduler_keys()) == 20
    result = job.result(timeout=120)
    assert [r.header["name"] for r in result.results] == [f"c{i}" for i in range(200)]
    assert result.success


def test_seeded_results_identical_to_the_thread_pool(executor):  # conftest's: every executor kind
    circuits = small_batch(6, num_qubits=5, seed=10)
    with_state = circuits[0].remove_final_measurements(inplace=False)
    with_state.save_statevector()
    circuits.append(with_state)
    options = {"seed_simulator": 99, "memory": True, "shots": 500}
    for split in ({}, {"max_job_size": 2}, {"max_shot_size": 128}):
        local = AerSimulator().run(circuits, **options, **split).result()
        remote = AerSimulator(executor=executor).run(circuits, **options, **split).result()
        assert [local.get_memory(i) for i in range(6)] == [remote.get_memory(i) for i in range(6)]
        assert local.get_statevector(6) == remote.get_statevector(6)


def test_client_accepted_in_constructor_set_options_and_run(local_cluster_client):
    qc = small_batch(1)[0]
    by_init = AerSimulator(executor=local_cluster_client).run(qc, seed_simulator=3)
    backend = AerSimulator()
    backend.set_options(executor=local_cluster_client)
    by_option = backend.run(qc, seed_simulator=3)
    by_run = AerSimulator().run(qc, executor=local_cluster_client, seed_simulator=3)
    for job in (by_init, by_option, by_run):
        assert job.executor() is local_cluster_client
    assert by_init.result().get_counts() == by_option.result().get_counts() == by_run.result().get_counts()


def test_identical_submissions_are_not_merged(local_cluster_client):
    qc = small_batch(1)[0]
    jobs = [AerSimulator(executor=local_cluster_client).run(qc, seed_simulator=5) for _ in range(2)]
    keys = [job._handles[0].key for job in jobs]
    assert keys[0] != keys[1] and all(jobs[0].job_id() in keys[0] for _ in [0])
    assert jobs[0].result().get_counts() == jobs[1].result().get_counts()


def test_default_split_keeps_every_executors_threads_busy(local_cluster_client):
    circuits = small_batch(64)
    dask_job = AerSimulator(executor=local_cluster_client).run(circuits)
    assert 2 <= dask_job.tasks() <= 32
    assert len(dask_job.result().results) == 64
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        pool_job = AerSimulator(executor=pool).run(circuits, shots=10)
        assert pool_job.tasks() == 2  # tiny circuits: one task per thread
        assert len(pool_job.result().results) == 64
    assert AerSimulator().run(circuits[0]).tasks() == 1


def test_workers_compile_in_the_background_and_then_advertise_it(local_cluster_client, cli_cluster_client):
    AerSimulator(executor=local_cluster_client).run(small_batch(1)).result()  # registers the plugin
    for client in (local_cluster_client, cli_cluster_client):

        def ready(dask_worker):
            quantity = dask_worker.state.total_resources.get(JIT_RESOURCE)
            return (
                getattr(dask_worker, "aerdask_warm_up_s", None) is not None and quantity == dask_worker.state.nthreads
            )

        assert wait_until(lambda c=client: all(c.run(ready).values()), timeout=600)
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert all(w["resources"][JIT_RESOURCE] == w["nthreads"] for w in workers)  # the scheduler knows
    wide = slow_circuit(num_qubits=16, layers=2)
    job = AerSimulator(executor=cli_cluster_client).run(wide, shots=10)
    assert all(h.needs_jit for h in job._handles)  # held for workers whose kernels are ready
    assert job.result(timeout=300).results[0].metadata["kernels"] == "compiled"
    assert job.waiting_on() is None


def test_a_fresh_worker_runs_small_jobs_at_once_and_gets_large_ones_when_compiled(tmp_path):
    preload = Path(__file__).parent / "data" / "slow_compile_preload.py"
    cluster = CliCluster(tmp_path, n_workers=1, preload_module=str(preload)).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            backend = AerSimulator(executor=client)
            small = backend.run(small_batch(1)[0], shots=100).result(timeout=60)
            assert small.results[0].metadata["kernels"] == "python"  # no compiled kernels there yet
            assert list(client.run(lambda dask_worker: dask_worker.state.total_resources[JIT_RESOURCE]).values()) == [0]
            large = backend.run(slow_circuit(num_qubits=16, layers=2), shots=10)
            assert large._handles[0].needs_jit
            assert wait_until(lambda: large.waiting_on() == "workers compiling kernels, first run only", timeout=10)
            assert not large.in_final_state()  # held by the scheduler, not run on the Python kernels
            assert large.result(timeout=300).results[0].metadata["kernels"] == "compiled"
            assert large.waiting_on() is None
    finally:
        cluster.stop()


def test_cancel_stops_running_tasks_and_frees_worker_threads(cli_cluster_client):
    backend = AerSimulator(executor=cli_cluster_client)
    jobs = [backend.run(forever_circuit()) for _ in range(2)]
    assert wait_until(lambda: all(job.status() is JobStatus.RUNNING for job in jobs))
    start = time.monotonic()
    assert all(job.cancel() for job in jobs)
    assert all(job.status() is JobStatus.CANCELLED for job in jobs)
    backend.run(small_batch(1)).result(timeout=10)  # both worker threads were freed
    assert time.monotonic() - start < 5


def test_worker_killed_mid_job_is_retried_with_the_same_result(tmp_path):
    qc = slow_circuit()
    expected = AerSimulator().run(qc, seed_simulator=17, memory=True, shots=200).result().get_memory()
    cluster = CliCluster(tmp_path, n_workers=2).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            job = AerSimulator(executor=client).run(qc, seed_simulator=17, memory=True, shots=200)
            handle = job._handles[0]
            assert wait_until(lambda: handle.running(), timeout=60)
            victim = handle.started.worker(handle.key)
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            assert job.result(timeout=120).get_memory() == expected
            assert handle.started.worker(handle.key) != victim  # it ran again elsewhere
    finally:
        cluster.stop()


def test_task_that_kills_every_worker_fails_alone():
    def crash(program, flag):
        os._exit(13)

    # One retry (Dask's default is three) keeps the test short; three single-thread workers
    # let the survivor hold one while the doomed task kills the other two in turn.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with local_client(n_workers=3) as client:
            backend = AerSimulator(executor=client)
            survivor = backend.run(slow_circuit(18, 80), seed_simulator=1)
            assert wait_until(lambda: survivor.status() is JobStatus.RUNNING, timeout=60)
            program = backend.run(small_batch(1)).qobj()
            program.experiments[0].name = "crasher"
            doomed = AerJob(backend, f"doomed-{uuid.uuid4()}", crash, program, client)
            doomed.submit()
            assert len(survivor.result(timeout=120).results) == 1
            doomed.wait_for_final_state(timeout=120, wait=1)
            assert doomed.status() is JobStatus.ERROR
            message = doomed.error_message()
            # Dask's KilledWorker reaches the user as aerdask's WorkerCrashError, naming Dask's limit.
            assert "WorkerCrashError" in message and "allowed-failures" in message and "crasher" in message
            with pytest.raises(JobFailedError, match="WorkerCrashError"):
                doomed.result()


def test_scheduler_loss_turns_the_job_to_error(tmp_path):
    cluster = CliCluster(tmp_path, n_workers=1).start()
    try:
        client = Client(cluster.address, timeout=3)
        client.wait_for_workers(1, timeout=60)
        backend = AerSimulator(executor=client)
        job = backend.run(forever_circuit())
        assert wait_until(lambda: job.status() is JobStatus.RUNNING, timeout=30)
        cluster.kill_scheduler()
        assert wait_until(lambda: job.status() is JobStatus.ERROR, timeout=30)
        assert "resubmit" in job.error_message()
        with pytest.raises(JobFailedError, match="resubmit"):
            job.result(timeout=10)
        start = time.monotonic()
        with pytest.raises(ClusterError, match="reconnecting|not connected"):
            backend.run(small_batch(1))
        assert time.monotonic() - start < 5
        assert wait_until(lambda: client.status == "closed", timeout=30)
        with pytest.raises(ClusterError, match="not connected"):
            backend.run(small_batch(1))
        client.close()
    finally:
        cluster.stop()


def test_a_cluster_with_no_worker_takes_the_job_and_fails_it_after_the_setting(tmp_path):
    cluster = CliCluster(tmp_path, n_workers=0)
    cluster.start_scheduler()
    try:
        with Client(cluster.address, timeout=30) as client, dask.config.set({"aerdask.worker-timeout": "3s"}):
            start = time.monotonic()
            job = AerSimulator(executor=client).run(small_batch(1))  # submitted at once: no wait for workers
            assert time.monotonic() - start < 10 and job.status() is JobStatus.QUEUED
            with pytest.raises(
                JobFailedError, match=r"no worker for 3 s \(no_worker_timeout, default aerdask.worker-timeout"
            ):
                job.result(timeout=60)
    finally:
        cluster.stop()


def test_closed_client_is_an_error_at_run(local_cluster_client):
    client = Client(local_cluster_client.scheduler.address, timeout=30)
    client.close()
    with pytest.raises(ClusterError, match="not connected"):
        AerSimulator(executor=client).run(small_batch(1))


def test_state_bigger_than_any_worker_is_refused_at_run():
    # An in-process worker's limit covers this whole test process, so leave it room to run the small job.
    with local_client(n_workers=1, processes=False, memory_limit="2GiB") as client:
        qc = QuantumCircuit(28)
        qc.ry(0.3, range(28))  # every qubit active: truncation leaves it whole (and no Clifford: a statevector)
        # 4 GiB of state and 2 GiB of probabilities, against 95% of 2 GiB shared by the worker's threads.
        with pytest.raises(CircuitTooLargeError, match="needs 6,442,450,944 bytes .* usable memory 2,040,109,465"):
            AerSimulator(executor=client).run(qc)
        AerSimulator(executor=client).run(QuantumCircuit(20)).result()  # 16 MiB fits


def test_kernel_or_format_mismatch_is_an_error_other_differences_a_warning(monkeypatch, caplog):
    import aerdask.executors.cluster as cluster_mod

    real = cluster_mod.versions()
    with LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster:
        with Client(cluster) as client:
            monkeypatch.setattr(cluster_mod, "versions", lambda: {**real, "kernels": "0123456789abcdef"})
            with pytest.raises(ClusterError, match="scheduler does not match.*kernels: client 0123456789abcdef"):
                AerSimulator(executor=client).run(small_batch(1))
        with Client(cluster) as client:
            monkeypatch.setattr(cluster_mod, "versions", lambda: {**real, "program_format": 2})
            monkeypatch.setattr(cluster_mod, "_check_scheduler", lambda client, mine: None)
            with pytest.raises(ClusterError, match="worker does not match.*program_format: client 2, worker"):
                AerSimulator(executor=client).run(small_batch(1))
        # numba, numpy minors and python only exchange plain data: a warning, and the job runs.
        with Client(cluster) as client:
            monkeypatch.setattr(cluster_mod, "versions", lambda: {**real, "numba": "0.0.1", "numpy": "2.0.0"})
            with caplog.at_level("WARNING", logger="aerdask"):
                counts = AerSimulator(executor=client).run(small_batch(1), seed_simulator=1).result().get_counts()
            assert counts
            assert "numba: client 0.0.1, worker" in caplog.text and "numpy: client 2.0.0" in caplog.text


def _bare_python(tmp_path) -> str:
    """An environment with numpy, numba and distributed but without aerdask."""
    env_dir = tmp_path / "bare-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = str(env_dir / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A path line in a .pth is added to sys.path but its own .pth files (our editable install) are not run.
    (os.path.join(purelib, "parent.pth") and open(os.path.join(purelib, "parent.pth"), "w")).write(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return python


def test_worker_without_aerdask_gets_a_clear_error_then_shipped_kernels(tmp_path):
    python = _bare_python(tmp_path)
    probe = [python, "-c", "import aerdask_kernels"]
    assert subprocess.run(probe, cwd=tmp_path, capture_output=True).returncode != 0
    assert subprocess.run([python, "-c", "import distributed, numba"], cwd=tmp_path).returncode == 0
    cluster = CliCluster(tmp_path / "cluster", n_workers=1, preload=False, worker_python=python).start()
    try:
        with Client(cluster.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            qc = small_batch(1)[0]
            with pytest.raises(ClusterError, match="cannot import aerdask_kernels.*ship_kernels"):
                AerSimulator(executor=client).run(qc)
            from aerdask.dask import ship_kernels

            ship_kernels(client)
            got = AerSimulator(executor=client).run(qc, seed_simulator=8).result(timeout=120).get_counts()
            assert got == AerSimulator().run(qc, seed_simulator=8).result().get_counts()
    finally:
        cluster.stop()


def test_multithreaded_worker_runs_concurrent_jobs():
    with local_client(n_workers=1, threads_per_worker=2) as client:
        backend = AerSimulator(executor=client)
        jobs = [backend.run(slow_circuit(16, 20), seed_simulator=i) for i in range(4)]
        assert all(len(job.result(timeout=120).results) == 1 for job in jobs)


@pytest.mark.parametrize(
    "env",
    [
        {"NUMBA_CACHE_DIR": "/proc/aerdask-not-writable"},
        {"DASK_AERDASK__NUMBA__CACHE_DIR": "/proc/aerdask-not-writable"},
        {"DASK_AERDASK__NUMBA__CACHE": "0"},
    ],
)
def test_unwritable_cache_or_cache_off_is_not_an_import_error(env, tmp_path):
    # One kernel compiled in memory proves it (the whole warm-up would take minutes without a cache).
    code = (
        "import numpy as np\n"
        "from aerdask_kernels import _jit\n"
        "from aerdask_kernels.kernels.gates import apply_matrix\n"
        "s = np.zeros(1 << 4, complex); s[0] = 1\n"
        "apply_matrix(s, np.zeros(0, np.int64), 0, np.array([3]), np.array([0, 1, 1, 0], complex))\n"
        "print('ok' if s[8] == 1 else s, _jit.cache_enabled())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", "False"]


def test_flaky_fn_on_dask_keeps_partial_results(local_cluster_client):
    def flaky(program, flag):
        if any(exp.name == "c1" for exp in program.experiments):
            raise RuntimeError("bad chunk")
        return run_program(program, flag)

    backend = AerSimulator(executor=local_cluster_client)
    program = backend.run(small_batch(4)).qobj()
    job = AerJob(
        backend, f"partial-{uuid.uuid4()}", flaky, split_program(program, max_job_size=1), local_cluster_client
    )
    job.submit()
    with pytest.raises(JobFailedError, match="'c1'.*bad chunk") as info:
        job.result(timeout=60)
    assert [r.header["name"] for r in info.value.partial_result.results] == ["c0", "c2", "c3"]


def test_job_can_be_retrieved_from_another_client(local_cluster_client):
    from qiskit.providers import JobError

    job = AerSimulator(executor=local_cluster_client).run(small_batch(6), seed_simulator=3, max_job_size=2, keep=True)
    counts = job.result().get_counts()
    with Client(local_cluster_client.scheduler.address, timeout=30) as other:  # e.g. after a kernel restart
        again = AerSimulator(executor=other).retrieve_job(job.job_id())
        again.wait_for_final_state(timeout=30, wait=0.5)  # the new client learns the futures' states
        assert again.status() is JobStatus.DONE and again.tasks() == 3
        assert again.result().get_counts() == counts
        with pytest.raises(JobError, match="no job 'nope'") as missing:
            AerSimulator(executor=other).retrieve_job("nope")
        assert job.job_id() not in str(missing.value)  # other users' ids are never listed
    job.unpublish()
    assert job.job_id() not in job._adapter.published()


def test_finished_jobs_leave_the_cluster_unless_kept(local_cluster_client):
    backend = AerSimulator(executor=local_cluster_client)
    adapter_of = lambda job: job._adapter  # noqa: E731
    read = backend.run(small_batch(2))
    assert read.job_id() in adapter_of(read).published()  # findable while it runs
    read.result()
    kept = backend.run(small_batch(2), keep=True)
    kept.result()
    brief = backend.run(small_batch(2), keep=0.5)
    brief.result()
    published = adapter_of(read).published()
    assert read.job_id() not in published and kept.job_id() in published
    assert wait_until(lambda: brief.job_id() not in adapter_of(brief).published(), timeout=10)
    kept.unpublish()


class _Explodes:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_retrieve_never_unpickles_a_tampered_dataset(local_cluster_client, tmp_path):
    from qiskit.providers import JobError

    from aerdask.executors.dask_publish import PREFIX

    client = local_cluster_client
    job = AerSimulator(executor=client).run(small_batch(2), seed_simulator=3, keep=True)
    counts = job.result().get_counts()
    marker = tmp_path / "pwned"
    # Another client replaces the job's dataset with a pickle that runs code when it is read.
    with Client(client.scheduler.address, timeout=30) as other:
        other.publish_dataset(**{PREFIX + job.job_id(): _Explodes(str(marker))}, override=True)
        assert PREFIX + job.job_id() in other.list_datasets()  # the replacement landed
    again = AerSimulator(executor=client).retrieve_job(job.job_id())
    assert again.result(timeout=30).get_counts() == counts  # the signed record still names the real tasks
    assert not marker.exists()  # and nothing stored on the cluster was unpickled here
    meta = ["aerdask", "jobs", job.job_id()]
    good = client.get_metadata(meta)
    assert isinstance(good, dict)
    for record, match in [
        ({"job": "text"}, "not written by aerdask"),
        ({**good, "job_id": "another"}, "is that of job 'another'"),
        ({**good, "keys": ["aerdask-impostor-0"]}, "not published with this user's key"),
        ({**good, "job": bytes(good["job"])[:100]}, "not published with this user's key"),
    ]:
        client.set_metadata(meta, record)
        with pytest.raises(JobError, match=match):
            AerSimulator(executor=client).retrieve_job(job.job_id())
    client.set_metadata(meta, good)
    job.unpublish()


def test_an_impostor_job_under_the_same_id_is_refused(local_cluster_client, tmp_path):
    from qiskit.providers import JobError

    client = local_cluster_client
    job = AerSimulator(executor=client).run(small_batch(2), seed_simulator=3, keep=True)
    job.result()
    # Another user (another key) publishes a valid job of its own under the same id.
    with dask.config.set({"aerdask.publish-key-file": str(tmp_path / "impostor.key")}):
        impostor = AerJob(AerSimulator(executor=client), job.job_id(), run_program, job.qobj(), client, keep=True)
        impostor.submit()
        impostor.result(timeout=60)
    with pytest.raises(JobError, match="not published with this user's key"):
        AerSimulator(executor=client).retrieve_job(job.job_id())
    assert (tmp_path / "impostor.key").stat().st_mode & 0o777 == 0o600
    impostor.unpublish()
    job.unpublish()


def test_html_repr_and_terminal_progress(local_cluster_client):
    import io

    job = AerSimulator(executor=local_cluster_client).run(small_batch(8), max_job_size=2)
    stream = io.StringIO()
    job.progress(file=stream)
    bar = stream.getvalue().split("\r")[-1]  # tqdm's last refresh: label, bar, count, rate, state
    # Experiments, not tasks: 8 circuits in 4 tasks of 2.
    assert bar.startswith(f"job {job.task_prefix}: 100%") and "8/8 [" in bar and "experiment/s, DONE]" in bar, bar
    html = job._repr_html_()
    assert job.job_id() in html and "DONE" in html and "8/8 experiments in 4/4 tasks" in html and "dashboard" in html


def _wide_program(num_qubits: int, layers: int = 1):
    qc = QuantumCircuit(num_qubits, name="wide")
    for _ in range(layers):
        qc.h(range(num_qubits))
        qc.rz(0.3, range(num_qubits))
    qc.measure_all()
    return AerSimulator(max_memory_mb=1 << 20).compile([qc], shots=10, seed_simulator=1)


@pytest.mark.cluster
def test_a_task_that_kills_its_workers_fails_its_job_by_name():
    from aerdask.errors import WorkerCrashError  # noqa: F401 (named in the message)

    # 1 GiB of state on workers the nanny kills at 95% of 700 MiB (a worker with freshly compiled
    # kernels holds about 300 MiB: below the 80% at which Dask pauses it). run() would refuse the
    # job (memory admission); a hand-built job goes around that, as a misconfigured cluster would.
    with local_client(n_workers=2, memory_limit="700MiB") as client:
        job = AerJob(AerSimulator(executor=client), "crash", run_program, _wide_program(26), client)
        job.configure_executor(max_worker_deaths=1)
        job.submit()
        with pytest.raises(JobFailedError, match="killed 2 workers: each died while running it.*max_worker_deaths=1"):
            job.result(timeout=240)


@pytest.mark.cluster
def test_a_job_without_workers_fails_after_no_worker_timeout():
    with local_client(n_workers=1, processes=False) as client:
        backend = AerSimulator(executor=client, no_worker_timeout=1.0)
        backend.run(small_batch(1)).result()  # the cluster was checked once: no new wait for workers
        client.cluster.scale(0)  # every worker goes, and none comes back
        assert wait_until(lambda: not client.scheduler_info(n_workers=1)["workers"], timeout=60)
        job = backend.run(small_batch(2))
        with pytest.raises(JobFailedError, match="no worker for 1 s"):
            job.result(timeout=60)
