"""Build a ``qiskit.result.Result`` from the plain data workers return."""

from __future__ import annotations

import datetime

import numpy as np
from qiskit.quantum_info import Statevector
from qiskit.result import Result

__all__ = ["build_result", "experiment_data"]


def experiment_data(raw: dict, kinds: dict[str, str]) -> dict:
    """The ``data`` dict of one experiment, Aer style.

    Args:
        raw: One element of :func:`aerdask_kernels.run_program`'s output.
        kinds: Save label -> save kind, from the experiment's save specs.

    """
    data: dict = {}
    if raw.get("has_counts", True):
        data["counts"] = raw["counts"]  # hex keys, built by the workers
    if raw.get("memory") is not None:
        data["memory"] = raw["memory"]
    for label, value in raw["saves"].items():
        data[label] = _save_value(kinds.get(label), value)
    return data


def _save_value(kind: str | None, value):
    if isinstance(value, dict) and kind not in ("statevector_dict", "probabilities_dict"):
        return {k: _save_value(kind, v) for k, v in value.items()}  # conditional: per memory value
    if isinstance(value, list):
        return [_save_value(kind, v) for v in value]
    if kind == "statevector":
        return Statevector(np.asarray(value))
    if kind == "expval":
        return float(value)
    return value


def build_result(
    backend_name: str,
    backend_version: str,
    job_id: str,
    program,
    raw_results: list[dict | None],
    time_taken: float = 0.0,
    error: str | None = None,
) -> Result:
    """Assemble the job's ``Result`` in input order.

    Args:
        backend_name: ``backend.name``.
        backend_version: ``backend.backend_version``.
        job_id: The job's id.
        program: The job's :class:`~aerdask_kernels.Program` (gives headers and saves).
        raw_results: One merged raw dict per experiment of ``program``, ``None`` for
            an experiment that did not finish (it is left out and ``success`` is False).
        time_taken: Wall time of the job in seconds.
        error: Status message of a failed job.

    """
    results = []
    for exp, raw in zip(program.experiments, raw_results, strict=True):
        if raw is None:
            continue
        kinds = {save["label"]: save["kind"] for save in exp.saves}
        raw = dict(raw, has_counts=exp.num_clbits > 0)
        results.append(
            {
                "shots": exp.shots,
                "success": True,
                "status": "DONE",
                "data": experiment_data(raw, kinds),
                "header": exp.header,
                "seed_simulator": raw["seed_simulator"],
                "time_taken": raw["time_taken"],
                "metadata": {
                    "method": "statevector",
                    "precision": program.options["precision"],
                    "index": exp.index,
                    "parallel_state_update": raw.get("threads", 1),
                },
            }
        )
    success = error is None and len(results) == len(program.experiments)
    return Result.from_dict(
        {
            "backend_name": backend_name,
            "backend_version": backend_version,
            "job_id": job_id,
            "qobj_id": job_id,
            "success": success,
            "results": results,
            "date": datetime.datetime.now().isoformat(),
            "status": "COMPLETED" if success else (error or "PARTIAL COMPLETED"),
            "time_taken": time_taken,
            "metadata": {"omp_enabled": True, "parallel_experiments": 1},
        }
    )
