"""The job state machine on real futures, for every executor kind."""

import concurrent.futures
import os
import time
import uuid

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobError, JobStatus
from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError

from aerdask import AerJob, AerSimulator, JobFailedError, JobTimeoutError, QobjValidationError
from aerdask_kernels import run_program


def forever_circuit() -> QuantumCircuit:
    """Runs until cancelled: a while loop on a clbit that never changes."""
    qc = QuantumCircuit(1, 1, name="forever")
    with qc.while_loop((qc.clbits[0], 0)):
        qc.h(0)
    return qc


def quick_circuit(name="quick") -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name=name)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_initializing_then_done(executor):
    backend = AerSimulator(executor=executor)
    program = backend.run(quick_circuit(), shots=10).qobj()
    job_id = f"job-{uuid.uuid4()}"
    job = AerJob(backend, job_id, run_program, program, executor)
    assert job.status() is JobStatus.INITIALIZING
    assert job.job_id() == job_id and job.backend() is backend and job.qobj() is program
    assert job.version == 1
    job.submit()
    assert job.result(timeout=30).get_counts().keys() <= {"00", "11"}
    assert job.status() is JobStatus.DONE
    assert job.done() and job.in_final_state() and not job.running() and not job.cancelled()


def test_second_submit_raises(executor):
    job = AerSimulator(executor=executor).run(quick_circuit())
    with pytest.raises(JobError, match="already been submitted"):
        job.submit()


def test_invalid_program_is_refused_at_submit(executor):
    backend = AerSimulator()
    program = backend.run(quick_circuit()).qobj()
    program.options["shots"] = -1
    job = AerJob(backend, f"bad-{uuid.uuid4()}", run_program, program, executor)
    with pytest.raises(QobjValidationError, match="shots"):
        job.submit()
    assert job.status() is JobStatus.INITIALIZING


def test_running_job_cancel_stops_its_task(executor):
    # How fast a cancel lands is a benchmark's business (benchmarks/dask_overhead.py); here: that it does.
    backend = AerSimulator(executor=executor)
    jobs = [backend.run(forever_circuit()) for _ in range(2)]  # every executor here has two threads
    assert wait_until(lambda: all(job.status() is JobStatus.RUNNING for job in jobs))
    assert jobs[0].running()
    assert all(job.cancel() is True for job in jobs)
    assert all(job.status() is JobStatus.CANCELLED and job.cancelled() for job in jobs)
    with pytest.raises(concurrent.futures.CancelledError):
        jobs[0].result()
    assert jobs[0].cancel() is True  # cancelling again is harmless
    # The event that shows the running tasks stopped: both threads take new work again.
    assert backend.run(quick_circuit()).result(timeout=60).success


def ever_started(handle) -> bool:
    """Whether a task ever began running (Dask: it logged its start; futures: it was not cancelled queued)."""
    if hasattr(handle, "started"):
        return handle.key in handle.started
    return not handle.future.cancelled()


def test_queued_job_never_starts(executor):
    backend = AerSimulator(executor=executor)
    blockers = [backend.run(forever_circuit()) for _ in range(2)]  # every executor here has two threads
    try:
        assert wait_until(lambda: all(b.status() is JobStatus.RUNNING for b in blockers))
        queued = backend.run(quick_circuit())
        time.sleep(0.2)
        assert queued.status() is JobStatus.QUEUED
        assert queued.cancel() is True
        assert queued.status() is JobStatus.CANCELLED
    finally:
        for blocker in blockers:
            blocker.cancel()
    after = backend.run(quick_circuit())
    after.result(timeout=30)  # the cancelled blockers freed their threads
    assert not ever_started(queued._handles[0])


def test_finished_job_cannot_be_cancelled(executor):
    job = AerSimulator(executor=executor).run(quick_circuit())
    job.result()
    assert job.cancel() is False
    assert job.status() is JobStatus.DONE


def test_result_timeout_is_both_timeout_errors(executor):
    job = AerSimulator(executor=executor).run(forever_circuit())
    start = time.monotonic()
    with pytest.raises(concurrent.futures.TimeoutError):
        job.result(timeout=0.2)
    with pytest.raises(QiskitJobTimeoutError):
        job.result(timeout=0.01)
    assert issubclass(JobTimeoutError, concurrent.futures.TimeoutError)
    assert time.monotonic() - start < 2
    job.cancel()


def test_wait_for_final_state_calls_back_and_times_out(executor):
    job = AerSimulator(executor=executor).run(forever_circuit())
    calls = []
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=0.55, wait=0.1, callback=lambda *args: calls.append(args))
    assert len(calls) >= 2  # called back while it waited (how many depends on the machine's load)
    job_id, status, same_job = calls[-1]
    assert job_id == job.job_id() and status in (JobStatus.QUEUED, JobStatus.RUNNING) and same_job is job
    job.cancel()


def slow_circuit(num_qubits=20, layers=40) -> QuantumCircuit:
    """Finishes on its own after a fraction of a second (a statevector: the T gates are no Cliffords)."""
    qc = QuantumCircuit(num_qubits, name="slow")
    for _ in range(layers):
        qc.h(range(num_qubits))
        qc.t(range(num_qubits))
    qc.measure_all()
    return qc


def test_wait_for_final_state_is_woken_by_the_future(executor):
    job = AerSimulator(executor=executor).run(slow_circuit(18, 30))  # about a second even on one thread
    calls = []
    start = time.monotonic()
    job.wait_for_final_state(wait=60, callback=lambda *args: calls.append(args))
    assert time.monotonic() - start < 30  # returned when the future finished, not after the 60 s poll
    assert job.status() is JobStatus.DONE
    assert len(calls) == 1


def test_error_keeps_the_cause_and_names_the_experiment(executor):
    def flaky(program, flag):
        for exp in program.experiments:
            if exp.name == "bad":
                raise RuntimeError("boom in the kernel")
        return run_program(program, flag)

    backend = AerSimulator(executor=executor)
    program = backend.run([quick_circuit("a"), quick_circuit("bad"), quick_circuit("c")]).qobj()
    from aerdask.chunking import split_program

    job = AerJob(backend, f"flaky-{uuid.uuid4()}", flaky, split_program(program, max_job_size=1), executor)
    job.submit()
    job.wait_for_final_state(timeout=30, wait=0.1)
    assert job.status() is JobStatus.ERROR
    with pytest.raises(JobFailedError, match="'bad'.*RuntimeError: boom in the kernel") as info:
        job.result()
    partial = info.value.partial_result
    assert [r.header["name"] for r in partial.results] == ["a", "c"]
    assert partial.success is False
    assert "boom" in job.error_message()


def test_experiment_error_from_the_kernels_is_named(executor):
    backend = AerSimulator(executor=executor, method="statevector")
    program = backend.run([quick_circuit("ok"), quick_circuit("huge")]).qobj()
    program.experiments[1].num_qubits = 45  # valid, but no machine can allocate it: fails on the worker
    job = AerJob(backend, f"exp-error-{uuid.uuid4()}", run_program, program, executor)
    job.submit()
    with pytest.raises(JobFailedError, match="experiment 1 \\('huge'\\) failed: MemoryError") as info:
        job.result(timeout=30)
    assert [r.header["name"] for r in info.value.partial_result.results] == ["ok"]
    assert job.partial_result().get_counts().keys() <= {"00", "11"}


def test_two_jobs_run_concurrently_on_the_default_pool():
    backend = AerSimulator()
    jobs = [backend.run(forever_circuit()) for _ in range(2)]
    assert wait_until(lambda: all(j.status() is JobStatus.RUNNING for j in jobs))
    for job in jobs:
        assert job.cancel()


def test_max_job_size_and_max_shot_size_split_locally(executor):
    circuits = [quick_circuit(f"c{i}") for i in range(5)]
    backend = AerSimulator(executor=executor, seed_simulator=3)
    job = backend.run(circuits, max_job_size=2, shots=100)
    assert job.tasks() == 3
    whole = backend.run(circuits, shots=100).result()
    assert job.result().get_counts() == whole.get_counts()  # splitting experiments never changes a result
    shot_job = backend.run(circuits[0], max_shot_size=30, shots=100, memory=True)
    assert shot_job.tasks() == 4
    result = shot_job.result()
    assert sum(result.get_counts().values()) == 100 and len(result.get_memory()) == 100
    again = backend.run(circuits[0], max_shot_size=30, shots=100, memory=True).result()
    assert again.get_memory() == result.get_memory()


def test_default_pool_survives_fork():
    AerSimulator().run(quick_circuit()).result()  # the parent's pool has threads now
    pid = os.fork()
    if pid == 0:  # child: a fresh pool must run the job
        code = 1
        try:
            counts = AerSimulator().run(quick_circuit(), shots=50).result(timeout=60).get_counts()
            code = 0 if sum(counts.values()) == 50 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_a_circuit_that_fails_to_compile_cancels_the_tasks_already_submitted(executor, monkeypatch):
    from qiskit.circuit import Instruction

    import aerdask.job
    from aerdask import UnsupportedInstructionError

    adapters = []

    def recording_adapt(executor):
        adapter = real_adapt(executor)
        adapter.submitted, adapter.cancelled = [], []
        submit, cancel = adapter.submit, adapter.cancel
        adapter.submit = lambda *a: adapter.submitted.append(submit(*a)) or adapter.submitted[-1]
        adapter.cancel = lambda handles, job_id: (adapter.cancelled.extend(handles), cancel(handles, job_id))
        adapters.append(adapter)
        return adapter

    real_adapt = aerdask.job.adapt
    monkeypatch.setattr(aerdask.job, "adapt", recording_adapt)
    bad = QuantumCircuit(1, name="bad")
    bad.append(Instruction("mystery_op", 1, 0, []), [0])
    circuits = [forever_circuit(), quick_circuit(), bad, quick_circuit()]
    with pytest.raises(UnsupportedInstructionError, match="mystery_op"):
        AerSimulator(executor=executor).run(circuits, max_job_size=1)
    (adapter,) = adapters
    assert len(adapter.submitted) == 2  # the tasks compiled before the bad circuit were running...
    assert adapter.cancelled == adapter.submitted  # ...and were cancelled before run() raised
    assert wait_until(lambda: all(h.done() for h in adapter.submitted), timeout=30)


def test_a_job_with_nothing_to_run_is_refused():
    job = AerJob(AerSimulator(), f"empty-{uuid.uuid4()}", run_program, iter([]))
    with pytest.raises(JobError, match="no tasks"):
        job.submit()
    with pytest.raises(JobError, match="no program"):
        AerJob(AerSimulator(), f"none-{uuid.uuid4()}", run_program, None).submit()


def test_wait_and_as_completed_follow_concurrent_futures(executor):
    import aerdask

    backend = AerSimulator(executor=executor)
    forever, quick = backend.run(forever_circuit()), backend.run(quick_circuit())
    done, not_done = aerdask.wait([forever, quick], timeout=60, return_when=aerdask.FIRST_COMPLETED)
    assert done == {quick} and not_done == {forever}
    start = time.monotonic()
    result = aerdask.wait([forever], timeout=0.3)  # ALL_COMPLETED by default; a timeout is not an error
    assert result.done == set() and result.not_done == {forever} and time.monotonic() - start < 10
    with pytest.raises(concurrent.futures.TimeoutError):
        list(aerdask.as_completed([forever], timeout=0.2))
    forever.cancel()
    assert list(aerdask.as_completed([forever, quick], timeout=30)) != []
    assert aerdask.wait([forever, quick]).not_done == set()
    with pytest.raises(ValueError, match="return_when"):
        aerdask.wait([quick], return_when="SOMETIMES")


def test_wait_first_exception_returns_on_a_failed_job(executor):
    import aerdask

    def broken(program, flag):
        raise RuntimeError("broken task")

    backend = AerSimulator(executor=executor)
    program = backend.run(quick_circuit()).qobj()
    failing = AerJob(backend, f"broken-{uuid.uuid4()}", broken, program, executor)
    failing.submit()
    forever = backend.run(forever_circuit())
    done, not_done = aerdask.wait([failing, forever], timeout=60, return_when=aerdask.FIRST_EXCEPTION)
    assert done == {failing} and not_done == {forever}
    forever.cancel()


def test_retrieve_job_needs_an_executor_whose_jobs_outlive_the_client():
    from aerdask.executors.base import Publishing

    job = AerSimulator().run(quick_circuit())
    assert not isinstance(job._adapter, Publishing)  # a thread pool publishes nothing
    job.unpublish()  # harmless there
    with pytest.raises(JobError, match="only jobs on a Dask cluster outlive their client"):
        AerSimulator().retrieve_job(job.job_id())
