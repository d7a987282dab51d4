"""Parameter sweeps: a grid or a CSV of values, results written as they arrive, resumable.

Each point ``i`` runs as experiment ``i`` of the sweep, so its samples come from
``SeedSequence(seed + i)`` whatever job or task it lands in: a sweep
interrupted and run again produces the same file as one that was never stopped.

The journal is JSON lines, one object per point (``index``, the parameter values,
``shots``, and ``counts`` or, for an observable sweep, ``evs``). Lines are appended
as points finish; when the sweep completes, the file is rewritten in point order.
An output named ``*.parquet`` is a table (:mod:`.tables`): the journal is then
``<output>.journal.jsonl`` beside it, and the table is written from it whenever
the sweep stops (finished, interrupted or failed), so it always holds every point
that finished. :func:`load` reads either as a pandas DataFrame with one column per
parameter and per outcome; :func:`to_xarray` gives a grid its dimensions.

A sidecar ``<journal>.meta.json`` keeps the seed, shots, parameter
names and a hash of the compiled circuit, the options that change results and
every point's values, so a resumed run checks it is the same sweep. Both files
are replaced atomically (written aside, then ``os.replace``); a record torn by an
interruption is dropped, a record that lost its newline is repaired, and blank or
damaged lines never hide the finished points after them.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import os
import secrets
import threading
from pathlib import Path

import numpy as np
from qiskit.circuit import QuantumCircuit

from .binding import values_array
from .completion import FIRST_COMPLETED, wait
from .errors import AerdaskInputError, JobFailedError
from .progress import progress_bar
from .tables import check_writable, load, to_xarray, write_parquet

logger = logging.getLogger("aerdask")

__all__ = ["grid_points", "csv_points", "run_sweep", "sweep_hash", "SweepError", "load", "to_xarray", "journal_path"]


class SweepError(AerdaskInputError):
    """A sweep's grid, values or output file is not usable; says what and how to fix it."""


def _axis(spec: str) -> tuple[str, list[float]]:
    name, sep, values = spec.partition("=")
    if not sep or not name:
        raise SweepError(f"grid axis {spec!r}: write NAME=START:STOP:NUM or NAME=V1,V2,...")
    try:
        if ":" in values:
            start, stop, num = values.split(":")
            return name.strip(), [float(v) for v in np.linspace(float(start), float(stop), int(num))]
        return name.strip(), [float(v) for v in values.split(",")]
    except ValueError as exc:
        raise SweepError(f"grid axis {spec!r}: {exc}") from exc


def grid_points(specs: list[str]) -> tuple[list[str], list[tuple[float, ...]]]:
    """Parameter names and the Cartesian product of the axes (last axis fastest)."""
    axes = [_axis(spec) for spec in specs]
    names = [name for name, _ in axes]
    if len(set(names)) != len(names):
        raise SweepError(f"grid names a parameter twice: {names}")
    return names, list(itertools.product(*(values for _, values in axes)))


def csv_points(path: str | Path) -> tuple[list[str], list[tuple[float, ...]]]:
    """Parameter names (the header) and one point per row of a CSV file."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such file")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise SweepError(f"{path}: empty; the first row names the parameters")
    names = [name.strip() for name in rows[0]]
    points = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            points.append(tuple(float(v) for v in row))
        except ValueError as exc:
            raise SweepError(f"{path}:{line}: {exc}") from exc
        if len(row) != len(names):
            raise SweepError(f"{path}:{line}: {len(row)} values for {len(names)} parameters")
    return names, points


def _bind_names(circuit: QuantumCircuit, names: list[str]):
    """The circuit's parameters, in ``circuit.parameters`` order, checked against ``names``."""
    by_name = {p.name: p for p in circuit.parameters}
    missing, extra = set(by_name) - set(names), set(names) - set(by_name)
    if missing or extra:
        raise SweepError(
            f"the sweep gives {sorted(names)} but the circuit's parameters are {sorted(by_name)}"
            + (f"; missing {sorted(missing)}" if missing else "")
            + (f"; unknown {sorted(extra)}" if extra else "")
        )
    return list(circuit.parameters)


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step: a reader sees the old file or the new one."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def sweep_hash(circuit: QuantumCircuit, names: list[str], points, options: dict) -> str:
    """SHA-256 of what decides a sweep's results, but the seed: the compiled circuit, options, points.

    The circuit is hashed as compiled (its rows, matrices and parameter
    expressions), not as pickled or QPY bytes, which carry the random ids of its
    ``Parameter`` objects and so differ from process to process.
    """
    from .compiler import compile_circuit  # the compiler imports Qiskit's library: only when sweeping

    exp = compile_circuit(circuit)
    digest = hashlib.sha256()
    for field in ("ops", "qubits", "matrices", "params", "param_expr", "expr_code", "expr_start", "expr_consts"):
        digest.update(np.ascontiguousarray(getattr(exp, field)).tobytes())
    meta = [exp.num_qubits, exp.num_clbits, exp.parameters, names, options, exp.final_qubits.tolist()]
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(np.asarray(points, dtype=np.float64)).tobytes())
    return digest.hexdigest()


class _Expected:
    """What a record of this sweep holds: an index in range, its point's values, the sweep's shots."""

    def __init__(self, names: list[str], points, shots: int):
        self.names, self.points, self.shots = names, points, shots

    def __call__(self, record) -> int | None:
        """The record's index if it is one of this sweep's, else ``None``."""
        if not isinstance(record, dict):
            return None
        index = record.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.points):
            return None
        if record.get("shots") != self.shots:
            return None
        values = [record.get(name) for name in self.names]
        if values != [float(v) for v in self.points[index]]:  # JSON round-trips floats exactly
            return None
        return index


class _Output:
    """The JSON-lines file: which points are done, appending, the final ordered rewrite.

    Only records of this sweep count (:class:`_Expected`); anything else in the file is
    dropped with a warning, so the final file holds each point once and nothing more.
    """

    def __init__(self, path: Path, meta: dict, expected: _Expected):
        self.path = path
        self.meta_path = path.with_name(path.name + ".meta.json")
        self.expected = expected
        self._check_meta(meta)
        self.done = self._read_done()
        self.fh = self.path.open("a")

    def _check_meta(self, meta: dict) -> None:
        has_records = self.path.exists() and self.path.stat().st_size > 0
        old = None
        if self.meta_path.exists():
            try:
                old = json.loads(self.meta_path.read_text())
            except ValueError:
                if has_records:
                    raise SweepError(
                        f"{self.meta_path} is damaged, so {self.path} cannot be checked for resuming; "
                        "delete both to start again, or use another output file"
                    ) from None
                # Nothing was recorded under it: start afresh.
        if old is not None:
            for key in ("names", "shots", "points", "hash"):
                if old.get(key) != meta.get(key):
                    what = "its circuit, options or point values differ" if key == "hash" else f"{key}"
                    raise SweepError(
                        f"{self.path} holds a different sweep ({what}: {old.get(key)!r} there, {meta.get(key)!r} "
                        "now); use another output file or delete it"
                    )
            meta["seed"] = old["seed"]  # resume with the seed the file was started with
        elif has_records:
            raise SweepError(f"{self.path} exists but was not written by a sweep; use another output file")
        self.meta = meta
        if old != meta:
            _atomic_write(self.meta_path, json.dumps(meta, sort_keys=True))

    def _read_done(self) -> set[int]:
        """Indices already recorded; the file is rewritten with only whole, valid records."""
        if not self.path.exists():
            return set()
        raw = self.path.read_bytes()
        done, keep, changed, foreign = set(), [], False, 0
        for line in raw.split(b"\n"):
            try:
                record = json.loads(line)
            except ValueError:
                changed |= bool(line.strip())  # a torn or damaged record: dropped, the rest kept
                continue
            index = self.expected(record)
            if index is None:
                foreign += 1
                changed = True
                continue
            if index not in done:
                done.add(index)
                keep.append(line)
            else:
                changed = True
        if foreign:
            logger.warning("sweep: %s held %d records of no point of this sweep; dropped", self.path, foreign)
        text = b"".join(line + b"\n" for line in keep)
        if changed or text != raw:  # also repairs a last record that lost its newline
            _atomic_write(self.path, text.decode())
        return done

    def write(self, records: list[dict]) -> None:
        for record in records:
            self.fh.write(json.dumps(record, sort_keys=True) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.done.update(r["index"] for r in records)

    def records(self) -> dict[int, dict]:
        """The whole records of this sweep in the file, by index."""
        records = {}
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # only whole records count; _read_done already dropped the torn ones
            index = self.expected(record)
            if index is not None:  # a record written beside this run by something else is not kept
                records.setdefault(index, record)
        return records

    def finish(self) -> None:
        self.fh.close()
        records = self.records()
        _atomic_write(self.path, "".join(json.dumps(records[i], sort_keys=True) + "\n" for i in sorted(records)))

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()


def journal_path(output: str | Path) -> Path:
    """The JSON-lines journal of a sweep writing ``output``: itself, or beside a ``.parquet`` table."""
    output = Path(output)
    return output.with_name(output.name + ".journal.jsonl") if output.suffix == ".parquet" else output


def _observable_labels(observables) -> tuple[list[str], list]:
    """(column labels, observables) of ``observables``: Pauli strings label themselves, a dict gives labels."""
    if isinstance(observables, dict):
        return [str(k) for k in observables], list(observables.values())
    observables = [observables] if isinstance(observables, str) else list(observables)
    labels = [o if isinstance(o, str) else f"obs{i}" for i, o in enumerate(observables)]
    if len(set(labels)) != len(labels):
        raise SweepError(f"observables {labels} name one column twice")
    return labels, observables


def run_sweep(
    circuit: QuantumCircuit,
    names: list[str],
    points: list[tuple[float, ...]],
    output: str | Path,
    backend,
    shots: int = 1024,
    seed: int | None = None,
    points_per_job: int = 50,
    progress="auto",
    stop: threading.Event | None = None,
    max_attempts: int = 20,
    observables=None,
) -> dict:
    """Run every point not yet in ``output``; append results as jobs finish.

    Args:
        circuit: The parameterised circuit (with measurements).
        names: Parameter names, in the order of each point's values.
        points: The values, one tuple per point.
        output: The JSON-lines file, or a ``.parquet`` table (created, or resumed).
        backend: An :class:`~aerdask.AerSimulator` (its executor runs the jobs).
        shots: Shots per point (an observable sweep's exact values take one; under noise
            it averages the estimator's trajectories instead).
        seed: Seed of the whole sweep; default a fresh one, kept in the sidecar.
        points_per_job: Points per job (each job is split further on a Dask cluster).
        progress: ``"auto"`` (a widget in Jupyter, a bar on stderr elsewhere), a stream
            for a text bar, or ``None``. It counts points; points already done when a
            sweep resumes are its starting value, not part of its rate.
        stop: Set from a signal handler to interrupt the sweep at its next check (between
            jobs, and while waiting): safer than a ``KeyboardInterrupt`` raised anywhere,
            which can leave a lock of a future held and hang the exit.
        max_attempts: Times a point is submitted before the sweep gives up on it. A job
            that fails because workers died (or its tasks were lost with them) keeps the
            points that finished and submits the others again; a point that raises on
            the worker fails the sweep at once.
        observables: Pauli strings (``"ZZ"``), ``SparsePauliOp``s, or a dict of them by
            column label: the sweep then stores each point's expectation values
            (``evs``), computed as :class:`~aerdask.primitives.EstimatorV2` computes them,
            instead of counts. The circuit's final measurements are dropped.

    Returns:
        ``{"points": total, "ran": run now, "skipped": already done, "seed": seed}``.

    Raises:
        SweepError: parameters that do not match, or an output file of another sweep.
        KeyboardInterrupt: after cancelling the running jobs; what finished is kept.
    """
    if isinstance(points_per_job, bool) or not isinstance(points_per_job, int) or points_per_job < 1:
        raise SweepError(f"points_per_job must be a positive int, got {points_per_job!r}")
    order = [names.index(p.name) for p in _bind_names(circuit, names)]
    check_writable(output)
    options = _result_options(backend, shots)
    records = _CountRecords(names, points)
    run_circuit, run_shots, run_options = circuit, shots, {}
    if observables is not None:
        from .primitives.estimator import ObservableSaves  # Qiskit's primitives: only for observable sweeps

        labels, observables = _observable_labels(observables)
        saves = ObservableSaves(backend, circuit, observables)
        run_circuit, run_shots, run_options = saves.circuit, saves.shots, {"method": saves.method}
        records = _ValueRecords(names, points, labels, saves)
        options["shots"] = run_shots  # the estimator's, whatever shots were asked for
        options["observables"] = {label: str(obs) for label, obs in zip(labels, observables, strict=True)}
    journal = journal_path(output)
    meta = {
        "names": names,
        "shots": run_shots,
        "points": len(points),
        "seed": seed if seed is not None else secrets.randbits(63),
        "hash": sweep_hash(circuit, names, points, options),
    }
    if seed is not None and Path(str(journal) + ".meta.json").exists():
        try:
            old = json.loads(Path(str(journal) + ".meta.json").read_text())
        except ValueError:
            old = {"seed": seed}  # damaged: _Output says what to do about it
        if old.get("seed") != seed:
            raise SweepError(f"{output} was started with seed {old.get('seed')}, not {seed}")
    out = _Output(journal, meta, _Expected(names, points, run_shots))
    todo = [i for i in range(len(points)) if i not in out.done]
    skipped = len(points) - len(todo)
    jobs = []
    try:
        if todo:
            # Compiled once: each job sends only its rows of the values array.
            values = values_array(points, names, f"sweep of circuit {circuit.name!r}")[todo][:, order]
            program = backend.compile(
                [run_circuit],
                indices=todo,
                parameter_values=[values],
                shots=run_shots,
                seed_simulator=out.meta["seed"],
                **run_options,
            )
        for start in range(0, len(todo), points_per_job):
            _check(stop)
            batch = todo[start : start + points_per_job]
            jobs.append((batch, backend.submit(program.points(start, start + len(batch)))))
        resubmit = _Resubmitter(backend, program, todo, max_attempts) if todo else None
        _collect(jobs, records, out, len(points), progress, stop, resubmit)
    except BaseException:
        for _, job in jobs:
            if not job.in_final_state():
                job.cancel()
        out.close()
        _write_table(output, out, names)  # what finished is in the table too
        raise
    out.finish()
    _write_table(output, out, names)
    return {"points": len(points), "ran": len(todo), "skipped": skipped, "seed": out.meta["seed"]}


def _write_table(output: str | Path, out: _Output, names: list[str]) -> None:
    """The Parquet table of a ``.parquet`` output, from the journal's whole records."""
    if Path(output).suffix != ".parquet":
        return
    records = out.records()
    write_parquet(output, [records[i] for i in sorted(records)], names)


#: Backend options that cannot change a sweep's records: where and how it runs, and what it keeps.
#: Every other option is part of the sweep's hash (the seed is kept on its own). Splitting into
#: jobs and tasks is left out: each point's samples come from its own experiment seed.
_NEUTRAL_OPTIONS = frozenset(
    {
        "executor",
        "max_job_size",
        "max_parallel_threads",
        "max_memory_mb",
        "keep",
        "max_worker_deaths",
        "no_worker_timeout",
        "shards",
        "seed_simulator",
        "shots",
        "memory",
    }
)


def _result_options(backend, shots: int) -> dict:
    """The backend options that can change a sweep's records (the seed is kept on its own).

    Every option aerdask acts on but :data:`_NEUTRAL_OPTIONS`; a noise model as the digest of
    its errors (two models with the same errors are the same sweep).
    """
    from .noise import as_noise_model
    from .options import DEFAULTS

    options = {"shots": shots}
    for key in sorted(set(DEFAULTS) - _NEUTRAL_OPTIONS):
        value = getattr(backend.options, key, DEFAULTS[key])
        if key == "noise_model":
            model = as_noise_model(value)
            value = None if model is None else model.digest()
        options[key] = value
    return options


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt("sweep stopped by a signal")


class _Resubmitter:
    """Submits the points of a failed job again, when workers died under them."""

    def __init__(self, backend, program, todo: list[int], max_attempts: int):
        self.backend = backend
        self.program = program
        self.row = {index: row for row, index in enumerate(todo)}  # sweep point -> row of the program
        self.attempts: dict[int, int] = {}
        self.max_attempts = max_attempts

    def __call__(self, lost: list[int], job, error: BaseException):
        if not all(_worker_fault(exc) for exc in job.task_errors()):
            raise error  # a point that fails on the worker fails again: stop here
        for index in lost:
            self.attempts[index] = self.attempts.get(index, 1) + 1
            if self.attempts[index] > self.max_attempts:
                raise SweepError(
                    f"point {index} was lost {self.max_attempts} times with its workers; giving up"
                ) from error
        exp = self.program.experiments[0]
        rows = [self.row[i] for i in lost]
        part = self.program.replace(experiments=[exp.replace(values=exp.values[rows], indices=exp.indices[rows])])
        retry = self.backend.submit(part)
        logger.warning(
            "sweep: %d points lost with their workers in job %s; retrying them as job %s (attempt %d of %d)",
            len(lost),
            job.job_id(),
            retry.job_id(),
            max(self.attempts[i] for i in lost),
            self.max_attempts,
        )
        return lost, retry


def _worker_fault(exc: BaseException) -> bool:
    """Whether a task failed because its workers died, not because of what it computed.

    Dask's own errors reach aerdask as its errors (``KilledWorker`` as a
    :class:`~aerdask.errors.WorkerCrashError`); results lost with a worker are computed
    again by Dask and never fail a job while the cluster has workers.
    """
    from .errors import WorkerCrashError

    return isinstance(exc, WorkerCrashError)


class _CountRecords:
    """A job's results as a counts sweep's records: ``index``, the values, ``shots``, ``counts``."""

    def __init__(self, names, points):
        self.names, self.points = names, points

    def __call__(self, result) -> list[dict]:
        records = []
        for k, res in enumerate(result.results):
            index = int(res.metadata["index"])
            record = {"index": index, "shots": res.shots, **self.outcome(result, k)}
            record.update(zip(self.names, self.points[index], strict=True))
            records.append(record)
        return records

    def outcome(self, result, k: int) -> dict:
        return {"counts": result.get_counts(k)}


class _ValueRecords(_CountRecords):
    """An observable sweep's records: ``evs`` (label to expectation value) in place of counts."""

    def __init__(self, names, points, labels, saves):
        super().__init__(names, points)
        self.labels, self.saves = labels, saves

    def outcome(self, result, k: int) -> dict:
        return {"evs": dict(zip(self.labels, self.saves.values(result, k), strict=True))}


def _collect(jobs, records, out: _Output, total: int, progress, stop=None, resubmit=None) -> None:
    bar = None
    if progress is not None:
        stream = None if isinstance(progress, str) and progress == "auto" else progress
        bar = progress_bar(total, "point", "sweep", stream, initial=len(out.done))
    try:
        _collect_into(jobs, records, out, bar, stop, resubmit)
    finally:
        if bar is not None:
            bar.close()


def _collect_into(jobs, records, out: _Output, bar, stop, resubmit) -> None:
    pending = list(jobs)
    while pending:
        _check(stop)
        still = []
        for batch, job in pending:
            if not job.in_final_state():
                still.append((batch, job))
                continue
            try:
                out.write(records(job.result()))
            except JobFailedError as exc:  # keep what finished; what was lost with workers runs again
                if exc.partial_result is not None:
                    out.write(records(exc.partial_result))
                lost = [i for i in batch if i not in out.done]
                if resubmit is None or not lost:
                    raise
                still.append(resubmit(lost, job, exc))
        pending = still
        if bar is not None:
            bar.update(len(out.done) - bar.n)
        if pending:
            wait([job for _, job in pending], 0.2, FIRST_COMPLETED)
