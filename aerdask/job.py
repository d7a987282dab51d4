"""``AerJob``: Aer's job API over the futures of one or more tasks.

A job is a thin facade: the executor adapter owns the futures, the job only
submits, reads their states in a fixed order and merges their outputs.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
from qiskit.providers import JobError, JobStatus, JobV1
from qiskit.providers.jobstatus import JOB_FINAL_STATES
from qiskit.result import Result

from aerdask_kernels import ExperimentError, Program, run_program
from aerdask_kernels.format.options import ENGINE_SHARDED

from .chunking import check_unique, merge_results, result_slots
from .completion import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait
from .errors import JobFailedError, JobTimeoutError, TaskLostError
from .executors import adapt
from .executors.base import Publishing
from .result import build_result
from .sharded_task import submit_sharded

# Multi-job waits live in .completion (progress bars use them, and jobs show progress bars);
# imported here too, where they used to be.
__all__ = ["AerJob", "task_prefix", "wait", "as_completed", "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"]

#: How long ``cancel()`` waits for running tasks to reach their next gate.
CANCEL_GRACE_S = 2.0
logger = logging.getLogger("aerdask")
# Dask groups tasks by key prefix: the words before the first one that is not all letters,
# skipping 8-letter hex words. The job id is hex, so it is spelled in letters that are not.
_TAG_LETTERS = str.maketrans("0123456789abcdef", "ghjkmnpqrstvwxyz")


def task_prefix(job_id: str) -> str:
    """The prefix of a job's task keys, e.g. ``aerdask-kwpqsg``: one group in Dask's dashboard.

    The keys are ``<prefix>-<job id>-<task number>``; the prefix spells the job id's first
    six hex digits in other letters, because Dask's dashboard drops hex words from prefixes.
    """
    tag = "".join(ch for ch in job_id.lower() if ch in "0123456789abcdef")[:6].translate(_TAG_LETTERS)
    return f"aerdask-{tag or 'job'}"


class AerJob(JobV1):
    """A simulation job: one program, run as one or more tasks on an executor.

    Args:
        backend: The :class:`~aerdask.AerSimulator` that made the job.
        job_id: Unique id; task keys derive from it.
        fn: Module-level function run per task as ``fn(program, cancel_flag)``
            (normally :func:`aerdask_kernels.run_program`).
        qobj: What to run: a :class:`~aerdask_kernels.Program` (one task), or an
            iterable of programs, one task each, submitted as they arrive (``run()``
            passes a generator that compiles while the first tasks already run). After
            :meth:`submit`, :meth:`qobj` is the whole program: every task's experiments.
        executor: A ``concurrent.futures.Executor``, a Dask ``Client``, or ``None``
            for the shared local thread pool.
        validate: Validate each task's program before submitting it (the workers
            validate again before running). ``run()`` leaves this to the workers for
            the programs its own compiler made.
        metadata: Extra keys for the ``Result``'s ``metadata`` (``run()`` reports
            the Aer options it did not act on there).
        experiment_metadata: Keys set in every experiment's ``metadata`` (what holds for
            the whole job, e.g. ``measure_sampling`` under a noise model).
        placement: Maps a task's program to an :class:`~aerdask.admission.Placement`
            (``None``: any worker); ``run()`` passes its memory plan's (:mod:`aerdask.admission`).
        keep: On Dask, how long the job stays findable by :meth:`retrieve` (its
            program and results held on the cluster): ``True`` until
            :meth:`unpublish`, a number of seconds after submission, or ``False``
            (the default): until :meth:`result` has returned or raised, the job was
            cancelled, or this object is gone. ``run()`` passes the ``keep`` option
            (default False), so long sweeps do not fill the cluster.

    """

    def __init__(
        self,
        backend,
        job_id: str,
        fn: Callable,
        qobj,
        executor=None,
        *,
        validate: bool = True,
        metadata=None,
        experiment_metadata: dict | None = None,
        placement: Callable | None = None,
        keep: bool | float = False,
    ):
        super().__init__(backend, job_id)
        self._keep = keep
        self._validate = validate
        self._placement = placement
        self._metadata = dict(metadata or {})
        self._experiment_metadata = dict(experiment_metadata or {})
        self._fn = fn
        self._tasks = [qobj] if isinstance(qobj, Program) else qobj
        self._qobj: Program | None = qobj if isinstance(qobj, Program) else None
        self._adapter = adapt(executor)
        self._chunks: list[Program] = []
        self._indices: list | None = None  # each task's experiment numbers (_chunk_indices)
        self._handles: list | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self._submit_time = 0.0

    def configure_executor(self, **settings) -> None:
        """Set the executor's limits for this job where it has them; call before :meth:`submit`.

        Dask has ``max_worker_deaths`` and ``no_worker_timeout`` (see the options).
        """
        for name, value in settings.items():
            if hasattr(self._adapter, name):
                setattr(self._adapter, name, value)

    # -- submission ----------------------------------------------------------------
    def submit(self) -> None:
        """Validate each task's program and submit it, in order, as it arrives.

        If the task iterable raises (a circuit that does not compile) or a task is
        invalid, the tasks already submitted are cancelled and the error propagates.

        Raises:
            JobError: if the job was already submitted, or has nothing to run.
            QobjValidationError: if a task's program is invalid.
            AerdaskInputError: if two points of the job share an experiment number.

        """
        with self._lock:
            if self._handles is not None:
                raise JobError(f"job {self._job_id} has already been submitted; create a new job to run again")
            if self._tasks is None:
                raise JobError(f"job {self._job_id} has no program to run")
            self._submit_time = time.monotonic()
            # A Dask client that is reconnecting would hold every future submitted now forever.
            self._adapter.prepare()
            handles, chunks, seen = [], [], set()
            prefix = self.task_prefix
            try:
                with self._adapter.span(prefix):
                    for i, chunk in enumerate(self._tasks):
                        if self._validate:
                            chunk.validate()
                        check_unique(chunk, seen)
                        chunk = chunk.replace(job_id=self._job_id)
                        placed = self._placement(chunk) if self._placement else None
                        key = f"{prefix}-{self._job_id}-{i}"
                        if chunk.typed_options.engine == ENGINE_SHARDED:  # one state on many workers: a walk here
                            handles.append(submit_sharded(self._adapter, chunk, key))
                        else:
                            handles.append(self._adapter.submit(self._fn, chunk, key, self._job_id, placed))
                        chunks.append(chunk)
                        logger.debug(
                            "job %s: task %s: %d experiments, %d points%s",
                            self._job_id,
                            key,
                            len(chunk.experiments),
                            chunk.num_points,
                            f" on workers with {placed.task_bytes:,} bytes a task" if placed else "",
                        )
                if not chunks:
                    raise JobError(f"job {self._job_id} got no tasks to run")
            except BaseException as exc:
                if handles:
                    logger.info("job %s: submission failed (%s); cancelling %d tasks", self._job_id, exc, len(handles))
                    self._adapter.cancel(handles, self._job_id)
                raise
            experiments = [exp for chunk in chunks for exp in chunk.experiments]
            self._qobj = Program(experiments=experiments, options=chunks[0].options, job_id=self._job_id)
            self._chunks, self._handles = chunks, handles
            logger.info(
                "job %s: submitted %d experiments as %d tasks (%s-*) to %s",
                self._job_id,
                len(experiments),
                len(handles),
                prefix,
                type(self._adapter.executor).__name__,
            )
            # A sharded run is driven from this process: it cannot be found again from another one.
            if isinstance(self._adapter, Publishing) and self._qobj.typed_options.engine != ENGINE_SHARDED:
                self._adapter.publish(self._job_id, self._handles, self._qobj, self._chunks)
                if self._keep is False:  # a job nobody reads must not hold its results on the cluster
                    weakref.finalize(self, self._adapter.unpublish_soon, self._job_id)
            if self._keep is not True and self._keep is not False:
                timer = threading.Timer(float(self._keep), self.unpublish)
                timer.daemon = True  # a time to live: the job is dropped from the cluster then
                timer.start()

    @classmethod
    def attach(cls, backend, job_id: str) -> AerJob:
        """Re-attach to a job on the cluster of ``backend``'s executor (``AerSimulator.retrieve_job``).

        Jobs on Dask are published as datasets named ``aerdask-job-<id>`` (see
        ``client.list_datasets()``) and can be found while the scheduler lives.

        Raises:
            JobError: if the cluster holds no job with that id, or what it holds under
                that id is not a valid aerdask job (nothing stored there is unpickled).
        """
        # keep=True: reading a retrieved job leaves it published as its owner chose.
        job = cls(backend, job_id, run_program, None, backend.options.executor, keep=True)
        if not isinstance(job._adapter, Publishing):
            raise JobError(
                f"job {job_id!r} cannot be looked up on a {type(job._adapter.executor).__name__}: only jobs on a "
                "Dask cluster outlive their client (give the backend executor=client)"
            )
        found = job._adapter.lookup(job_id)
        if found is None:
            # Other users' job ids are not listed: ids are the only key to a job's results.
            raise JobError(f"no job {job_id!r} on this cluster (it finished and was removed, or the id is wrong)")
        job._qobj, job._chunks, job._handles = found
        job._submit_time = time.monotonic()
        return job

    def unpublish(self) -> None:
        """Stop keeping this job findable (and its results) on the cluster."""
        if isinstance(self._adapter, Publishing):
            self._adapter.unpublish(self._job_id)

    def _require_submitted(self) -> list:
        if self._handles is None:
            raise JobError(f"job {self._job_id} has not been submitted")
        return self._handles

    def wait_target(self) -> tuple:
        """``(adapter, handles)``: what a wait across jobs (:func:`aerdask.wait`) blocks on.

        Raises:
            JobError: if the job was never submitted.
        """
        return self._adapter, self._require_submitted()

    # -- state -----------------------------------------------------------------------
    def status(self) -> JobStatus:
        """The job's state; never blocks.

        INITIALIZING before ``submit``; CANCELLED once ``cancel`` succeeded; ERROR as
        soon as a task failed; DONE when every task finished; RUNNING while any task
        runs; QUEUED otherwise. Checked in that order, so a cancelled job whose
        kernels are still reaching their next gate already reads CANCELLED.
        """
        handles = self._handles
        if handles is None:
            return JobStatus.INITIALIZING
        if self._cancelled:
            return JobStatus.CANCELLED
        if any(h.failure() is not None for h in handles):
            return JobStatus.ERROR
        if all(h.done() for h in handles):
            return JobStatus.DONE
        if any(h.running() for h in handles):
            return JobStatus.RUNNING
        return JobStatus.QUEUED

    def task_errors(self) -> list[BaseException]:
        """The errors of the tasks that failed so far (empty before submission or without failures)."""
        return [exc for exc in (h.failure() for h in self._handles or []) if exc is not None]

    def error_message(self) -> str | None:
        """Why the job failed (naming the experiment where known, and every lost task), or ``None``."""
        failed = [(i, h, h.failure()) for i, h in enumerate(self._handles or [])]
        failed = [(i, h, exc) for i, h, exc in failed if exc is not None]
        if not failed:
            return None
        i, handle, exc = failed[0]
        if isinstance(exc, ExperimentError):
            return f"job {self._job_id}: {exc}"
        names = ", ".join(f"{e.index} ({e.name!r})" for e in self._chunks[i].experiments[:5])
        message = (
            f"job {self._job_id}: task {handle.key} running experiments {names} failed: {type(exc).__name__}: {exc}"
        )
        lost = [h.key for _, h, e in failed[1:] if isinstance(e, TaskLostError)]
        if isinstance(exc, TaskLostError) and lost:
            shown = ", ".join(lost[:10]) + (f" and {len(lost) - 10} more" if len(lost) > 10 else "")
            message += f"; also lost: {shown}"
        return message

    # -- results ---------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> Result:
        """Wait for the job and return its merged ``Result``, in input order.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.

        Raises:
            JobTimeoutError: (a ``concurrent.futures.TimeoutError`` too) if the job is
                not done within ``timeout``.
            concurrent.futures.CancelledError: if the job was cancelled.
            JobFailedError: if a task failed; names the experiment and the cause, and
                carries ``partial_result`` with the experiments that finished (the
                other tasks are waited for, within ``timeout``, before it is raised).

        """
        try:
            return self._result(timeout)
        finally:
            if self._keep is False and self.in_final_state():
                self.unpublish()  # read: the cluster need not hold it any longer

    def _result(self, timeout: float | None) -> Result:
        handles = self._require_submitted()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status in JOB_FINAL_STATES:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise JobTimeoutError(f"job {self._job_id} did not finish within {timeout} s (status {status.name})")
            self._adapter.wait(handles, remaining)
        if status is JobStatus.CANCELLED:
            raise concurrent.futures.CancelledError(f"job {self._job_id} was cancelled")
        if status is JobStatus.ERROR:
            # The other tasks keep running; wait for them (within the timeout) so the
            # partial result holds every experiment that can finish.
            # A lost task never finishes: only the others are waited for.
            while not all(h.done() or h.failure() is not None for h in handles):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._adapter.wait([h for h in handles if not h.done() and h.failure() is None], remaining)
            raise JobFailedError(self.error_message(), partial_result=self.partial_result())
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            outputs = self._adapter.results(handles, remaining)
        except TaskLostError as exc:
            raise JobFailedError(f"job {self._job_id}: {exc}", partial_result=self.partial_result()) from exc
        except TimeoutError as exc:
            raise JobTimeoutError(f"job {self._job_id} did not finish within {timeout} s: {exc}") from exc
        return self._build(outputs)

    def partial_result(self) -> Result:
        """The experiments that finished so far, as a ``Result`` (``success`` False unless all did)."""
        outputs = []
        for handle in self._require_submitted():
            exc = handle.failure()
            if isinstance(exc, ExperimentError):
                outputs.append(exc.partial)
            elif handle.done() and not handle.cancelled() and exc is None:
                outputs.append(handle.result())
        return self._build(outputs, error=self.error_message() or "PARTIAL COMPLETED")

    def _build(self, outputs: list, error: str | None = None) -> Result:
        backend = self.backend()
        slots = result_slots(self._qobj)
        return build_result(
            backend.name,
            backend.backend_version,
            self._job_id,
            self._qobj,
            slots,
            merge_results(self._qobj, outputs, slots),
            time.monotonic() - self._submit_time,
            error,
            self._metadata,
            self._experiment_metadata,
        )

    # -- control -----------------------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the job: queued tasks never start, running ones stop at the next gate.

        Waits up to ``CANCEL_GRACE_S`` for running tasks to stop, so their threads are
        free for the next job when this returns.

        Returns:
            True if the job is now cancelled; False if it had already finished (or
            was never submitted).

        """
        handles = self._handles
        if handles is None or self._cancelled:
            return self._cancelled
        if all(h.done() for h in handles):
            return False
        running = sum(h.running() for h in handles)
        logger.info("job %s: cancelled (%d tasks running, %d queued)", self._job_id, running, len(handles) - running)
        self._adapter.cancel(handles, self._job_id)
        self._cancelled = True
        if self._keep is False:
            self.unpublish()
        deadline = time.monotonic() + CANCEL_GRACE_S
        while not all(h.done() for h in handles) and time.monotonic() < deadline:
            self._adapter.wait(handles, 0.05)
        return True

    def wait_for_final_state(self, timeout: float | None = None, wait: float = 5, callback: Callable | None = None):
        """Block until the job is DONE, ERROR or CANCELLED.

        Woken by the futures as soon as they finish; ``wait`` only paces the callback.

        Args:
            timeout: Seconds to wait at most; ``None`` for no limit.
            wait: Seconds between callbacks (> 0).
            callback: Called as ``callback(job_id, status, job)`` before each wait.

        Raises:
            JobTimeoutError: if the job is not final within ``timeout``.
            JobError: if the job was never submitted.
            ValueError: if ``wait`` is not positive.

        """
        if not wait > 0:
            raise ValueError(f"wait must be a positive number of seconds, got {wait!r}")
        handles = self._require_submitted()
        start = time.monotonic()
        while True:
            status = self.status()
            if status in JOB_FINAL_STATES:
                return
            elapsed = time.monotonic() - start
            if timeout is not None and elapsed >= timeout:
                raise JobTimeoutError(f"job {self._job_id} not final after {timeout} s (status {status.name})")
            if callback is not None:
                callback(self._job_id, status, self)
            self._adapter.wait(handles, wait if timeout is None else min(wait, timeout - elapsed))

    # -- accessors ---------------------------------------------------------------------
    @property
    def task_prefix(self) -> str:
        """The prefix of this job's task keys: its group in Dask's dashboard and its span's name."""
        return task_prefix(self._job_id)

    def qobj(self) -> Program:
        """The compiled program (plain data; see :class:`aerdask_kernels.Program`)."""
        return self._qobj

    def executor(self):
        """The executor the tasks run on (the shared pool if none was given)."""
        return self._adapter.executor

    def tasks(self) -> int:
        """Number of tasks (chunks) the job runs as."""
        return len(self._chunks)

    def futures(self) -> list:
        """The futures of the job's tasks, in task order.

        On a Dask cluster these are ``distributed.Future`` objects, for Dask's own tools:
        ``distributed.progress(job.futures())``, ``distributed.wait(job.futures(), timeout)``,
        ``client.who_has(job.futures())``; their keys are the job's (``job.task_prefix``). On a
        thread pool, ``concurrent.futures.Future`` objects. A future's value is its task's raw
        output (pickled bytes on Dask): read the job's results with :meth:`result`. Cancelling
        one future cancels that task only; :meth:`cancel` stops the whole job.

        Raises:
            JobError: if the job was never submitted.
        """
        return [h.future for h in self._require_submitted()]

    def tasks_done(self) -> int:
        """Number of tasks that finished (successfully or not)."""
        return sum(h.done() for h in self._handles or [])

    def experiments(self) -> int:
        """Number of experiments the job returns (``len(result.results)``)."""
        return int(np.unique(np.concatenate(self._chunk_indices())).size) if self._chunks else 0

    def experiments_done(self) -> int:
        """Experiments whose every task finished (a shot-split experiment counts once all its parts are in)."""
        if not self._handles:
            return 0
        per_chunk = self._chunk_indices()
        pending = [idx for idx, h in zip(per_chunk, self._handles, strict=True) if not h.done()]
        if not pending:
            return self.experiments()
        return self.experiments() - int(np.unique(np.concatenate(pending)).size)

    def _chunk_indices(self) -> list:
        """Each task's experiment numbers (int64 arrays), computed once."""
        if getattr(self, "_indices", None) is None:
            self._indices = [
                np.concatenate([exp.indices for exp in chunk.experiments] or [np.zeros(0, dtype=np.int64)])
                for chunk in self._chunks
            ]
        return self._indices

    def waiting_on(self) -> str | None:
        """What the job's unfinished tasks wait on besides running, or ``None``.

        ``"compiling kernels, first run only"`` while the kernels it runs compile (past a
        second), in this process or on the workers a cluster holds its tasks for. On Dask
        also: a cluster with no worker (and when the job gives up on it), a scheduler that
        does not answer, and results being computed again after their worker died.
        """
        if self._handles is None:
            return None
        return self._adapter.waiting_note([h for h in self._handles if not h.done()])

    def progress(self, interval: float = 0.2, file=None) -> None:
        """Show experiments done out of total until the job is final: a widget in Jupyter, a bar elsewhere."""
        from .progress import show_progress

        show_progress(self, interval=interval, file=file)

    def _repr_html_(self) -> str:
        import html

        status = self.status()
        colour = {"DONE": "#2e7d32", "ERROR": "#c62828", "CANCELLED": "#6d4c41"}.get(status.name, "#1565c0")
        done, total = self.tasks_done(), self.tasks()
        experiments = f"{self.experiments_done()}/{self.experiments()} experiments in " if self._chunks else ""
        link = self._adapter.dashboard_link()
        dashboard = f' &middot; <a href="{html.escape(link)}" target="_blank">dashboard</a>' if link else ""
        error = self.error_message() if status is JobStatus.ERROR else None
        note = error or (None if status in JOB_FINAL_STATES else self.waiting_on())
        detail = f"<br><small>{html.escape(note)}</small>" if note else ""
        return (
            f"<div><b>AerJob</b> <code>{html.escape(self._job_id)}</code> &middot; "
            f'<span style="color:{colour}">{status.name}</span> &middot; '
            f'<progress value="{done}" max="{total}"></progress> {experiments}{done}/{total} tasks'
            f"{dashboard}{detail}</div>"
        )

    def __repr__(self) -> str:
        status = self.status()
        note = None if status in JOB_FINAL_STATES else self.waiting_on()
        waiting = f" ({note})" if note else ""
        return f"<AerJob {self._job_id} status={status.name} tasks={len(self._chunks)}{waiting}>"
