"""What both primitives share: a backend per executor, and PUBs compiled once and submitted as one job."""

from __future__ import annotations

import secrets

import numpy as np
from qiskit.circuit import QuantumCircuit

from aerdask_kernels import Program

from ..backend import AerSimulator
from ..job import AerJob

__all__ = ["PrimitiveBase", "flat_values", "submit_pubs", "merged_options"]


class PrimitiveBase:
    """What both primitives keep: their options and the :class:`AerSimulator` that runs their jobs.

    Args:
        executor: Where the jobs run; ``None``: the local pool.
        options: The primitive's options dataclass (``backend_options`` configures the backend).
    """

    def __init__(self, executor, options):
        self._options = options
        backend_options = dict(options.backend_options)
        if executor is not None:
            backend_options["executor"] = executor
        self._backend = AerSimulator(**backend_options)

    @classmethod
    def from_backend(cls, backend: AerSimulator, **kwargs):
        """A primitive running on an existing :class:`~aerdask.AerSimulator` (its options and executor)."""
        primitive = cls(**kwargs)
        primitive._backend = backend
        return primitive

    @property
    def options(self):
        """The primitive's options."""
        return self._options

    @property
    def backend(self) -> AerSimulator:
        """The :class:`~aerdask.AerSimulator` that runs the jobs."""
        return self._backend


def flat_values(circuit: QuantumCircuit, bindings) -> np.ndarray:
    """A PUB's ``BindingsArray`` as float64 ``(points, circuit.num_parameters)``, points in C order of its shape."""
    points = int(np.prod(bindings.shape, dtype=np.int64))
    return np.asarray(bindings.as_array(circuit.parameters), dtype=np.float64).reshape(points, circuit.num_parameters)


def submit_pubs(
    backend: AerSimulator, items: list[tuple[QuantumCircuit, np.ndarray, int]], run_options: dict, **program_options
) -> tuple[AerJob, list[int]]:
    """Compile each PUB's circuit once and run every point of every PUB as one job.

    Args:
        backend: Runs the job (its executor and options).
        items: ``(circuit, values, shots)`` per PUB, or ``(circuit, values, shots, options)``
            with run options of its own (``method``); ``values`` as :func:`flat_values`.
        run_options: Options of :meth:`AerSimulator.run` (``seed_simulator`` seeds the job).
        **program_options: Program options to set (``memory_format="bits"``).

    Returns:
        The submitted job and the first experiment number of each PUB: PUB ``k``'s
        points are results ``first[k]:first[k] + len(values)``, in order.
    """
    run_options = dict(run_options)
    if run_options.get("seed_simulator") is None:
        run_options["seed_simulator"] = secrets.randbits(63)  # one seed for every PUB of the job
    experiments, first, offset, programs = [], [], 0, []
    for circuit, values, shots, *own in items:  # own: a PUB's own run options (its method)
        indices = np.arange(offset, offset + values.shape[0])
        options = {**run_options, **(own[0] if own else {}), "shots": shots}
        program = backend.compile([circuit], indices=indices, parameter_values=[values], **options)
        experiments += program.experiments
        programs.append(program)
        first.append(offset)
        offset += values.shape[0]
    options = {**merged_options([p.options for p in programs]), **program_options}
    executor_options = {k: v for k, v in run_options.items() if k in ("executor", "max_job_size", "max_shot_size")}
    return backend.submit(Program(experiments=experiments, options=options), **executor_options), first


def merged_options(options: list[dict]) -> dict:
    """One program's options for the experiments of several compiled programs.

    Each PUB was admitted on its own; the job's tasks must hold to the strictest plan:
    the fewest branch copies any PUB may keep, and the most shards any needs.
    """
    merged = dict(options[0]) if options else {}
    caps = [o["max_branch_copies"] for o in options if o.get("max_branch_copies", -1) >= 0]
    if caps:
        merged["max_branch_copies"] = min(caps)
    shards = [o.get("shards", 1) for o in options]
    if max(shards, default=1) > 1:
        merged["shards"] = max(shards)
    return merged
