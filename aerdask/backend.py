"""``AerSimulator``: a Qiskit ``BackendV2`` that takes Aer's option names."""

from __future__ import annotations

import itertools
import math
import secrets
import uuid
from collections.abc import Iterator

import psutil
from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from aerdask_kernels import Program, run_program
from aerdask_kernels.program import Experiment

from .binding import expand_experiments
from .chunking import auto_job_size, estimated_cost, split_program
from .compiler import MatrixCache, compile_circuit
from .errors import AerdaskInputError, CircuitTooLargeError
from .executors import adapt
from .executors.base import ExecutorAdapter
from .instructions import INSTRUCTIONS
from .job import AerJob
from .options import DEFAULTS, validate_options

__all__ = ["AerSimulator", "build_target", "statevector_bytes"]


def statevector_bytes(num_qubits: int, precision: str) -> int:
    """Bytes of a ``num_qubits`` statevector (16 per amplitude in double, 8 in single)."""
    return (1 << num_qubits) * (8 if precision == "single" else 16)


def _max_qubits() -> int:
    return max(1, int(math.log2(psutil.virtual_memory().total / 16)))


def build_target(num_qubits: int | None = None) -> Target:
    """The ``Target`` advertised by :class:`AerSimulator`, built from the instruction table."""
    target = Target(description="aerdask statevector simulator", num_qubits=num_qubits or _max_qubits())
    for name, spec in INSTRUCTIONS.items():
        target.add_instruction(spec.target_entry, name=name)
    return target


def _blocking_qubits(options: dict) -> int:
    """The program's ``blocking_qubits``: 0 off, -1 automatic, else the block width."""
    if not options["blocking_enable"]:
        return 0
    return -1 if options["blocking_qubits"] is None else options["blocking_qubits"]


class AerSimulator(BackendV2):
    """A statevector simulator backend that runs jobs on a thread pool or a Dask cluster.

    Takes Aer's option names, so ``from qiskit_aer import AerSimulator`` becomes
    ``from aerdask import AerSimulator``. Options (``set_options`` or ``run``):

    * ``shots`` (int, default 1024), ``seed_simulator`` (int or None), ``memory`` (bool).
    * ``method``: ``"automatic"`` or ``"statevector"`` (the same thing for now).
    * ``precision``: ``"double"`` (complex128) or ``"single"`` (complex64).
    * ``executor``: a ``concurrent.futures.Executor`` or ``dask.distributed.Client``;
      ``None`` uses a shared local thread pool.
    * ``max_job_size``: experiments per task; ``max_shot_size``: shots per task.
    * ``max_parallel_threads``: threads one task may use (0: all cores).
    * ``fusion_enable``: fuse neighbouring gates into fewer passes (default True).
    * ``blocking_enable``: cache blocking (default True): runs of gates on large
      states are applied block by block in a cache-sized buffer, one memory pass per
      run. ``blocking_qubits``: qubits per block (int; None: 15 qubits, for states of
      19 qubits and more; an int blocks every wider state). In Aer these two options
      chunk the state for MPI or several GPUs; here they serve the CPU cache.

    Any other option raises :class:`~aerdask.errors.AerdaskInputError`.
    """

    def __init__(self, name: str = "aer_simulator", provider=None, **options):
        from . import __version__

        super().__init__(
            provider=provider,
            name=name,
            description="aerdask: statevector simulation on a thread pool or a Dask cluster",
            backend_version=__version__,
        )
        self._target = build_target()
        if options:
            self.set_options(**options)

    @classmethod
    def _default_options(cls) -> Options:
        return Options(**DEFAULTS)

    @property
    def target(self) -> Target:
        """Every instruction of the table, ideal, on every qubit."""
        return self._target

    @property
    def max_circuits(self):
        """No limit: big batches are split into tasks by ``max_job_size``."""
        return None

    def set_options(self, **fields) -> None:
        """Set default run options after validating each.

        Raises:
            AerdaskInputError: for an unknown option or a bad value.

        """
        super().set_options(**validate_options(fields))

    def run(self, run_input, parameter_binds=None, **run_options) -> AerJob:
        """Compile ``run_input`` and submit it; returns the running :class:`AerJob`.

        Without ``max_shot_size``, each task is submitted as soon as its circuits are
        compiled, so workers start while the rest compiles; a circuit that cannot be
        compiled still raises here, after cancelling the tasks already submitted.

        Args:
            run_input: A ``QuantumCircuit`` or a list of them.
            parameter_binds: Aer's form: one dict per circuit mapping each parameter
                to a list of values; each value set runs as one experiment.
            **run_options: Any option of the class docs, for this run only.

        Raises:
            AerdaskInputError: bad options, circuits or binds, an unsupported
                instruction, or a circuit too big for memory; raised before ``run``
                returns, and nothing of the job keeps running.

        """
        circuits = _as_circuit_list(run_input)
        bound = expand_experiments(circuits, parameter_binds)
        options = self._merged_options(run_options)
        if options["max_shot_size"] is not None:  # shot pieces are grouped across experiments: split the whole
            return self._submit(self.compile(bound, **run_options), options)
        adapter, program_options, indices = self._prepare(bound, None, options)
        size = options["max_job_size"] or _auto_job_size(adapter, [(c.num_qubits, len(c.data)) for c in bound])
        experiments = self._compiled(bound, indices, options)
        chunks = (
            Program(experiments=list(itertools.islice(experiments, size)), options=program_options)
            for _ in range(0, len(bound), size)
        )
        job = AerJob(self, str(uuid.uuid4()), run_program, None, options["executor"], chunks=chunks)
        job.submit()
        return job

    def compile(self, circuits: list[QuantumCircuit], indices: list[int] | None = None, **run_options) -> Program:
        """Compile bound circuits into a program without running it (``run`` = ``compile`` + ``submit``).

        Args:
            circuits: Parameter-bound circuits.
            indices: Each experiment's index, which keys its seed (default ``0..n-1``). A
                sweep passes global point numbers, so a point's samples do not depend on
                which other points share its job.
            **run_options: Options of the class docs.

        Raises:
            AerdaskInputError: as :meth:`run`.
        """
        options = self._merged_options(run_options)
        circuits = _as_circuit_list(circuits)
        expand_experiments(circuits, None)  # refuses unbound parameters
        _, program_options, indices = self._prepare(circuits, indices, options)
        return Program(experiments=list(self._compiled(circuits, indices, options)), options=program_options)

    def submit(self, program: Program, **run_options) -> AerJob:
        """Split ``program`` into tasks and submit them as one :class:`AerJob`.

        With neither ``max_job_size`` nor ``max_shot_size``, experiments are grouped so
        that every thread of the executor gets about four tasks, none much shorter
        than 20 ms of estimated work (one task for a single experiment).
        """
        return self._submit(program, self._merged_options(run_options))

    def _merged_options(self, run_options: dict) -> dict:
        return {**self.options.__dict__, **validate_options(run_options)}

    def _submit(self, program: Program, options: dict) -> AerJob:
        executor = options["executor"]
        max_job_size, max_shot_size = options["max_job_size"], options["max_shot_size"]
        if max_job_size is None and max_shot_size is None:
            max_job_size = _auto_job_size(
                adapt(executor), [(e.num_qubits, e.ops.shape[0]) for e in program.experiments]
            )
        chunks = split_program(program, max_job_size, max_shot_size)
        job = AerJob(self, str(uuid.uuid4()), run_program, program, executor, chunks=chunks)
        job.submit()
        return job

    def _prepare(self, circuits: list[QuantumCircuit], indices, options: dict):
        """Checks that need no compiling; returns the adapter, the program options and the indices."""
        adapter = adapt(options["executor"])
        adapter.prepare()
        limit = adapter.memory_limit()
        for circuit in circuits:
            self._check_memory(circuit, options["precision"], limit)
        seed = options["seed_simulator"]
        if seed is None:
            seed = secrets.randbits(63)  # reported in the result, so the run can be repeated
        indices = list(range(len(circuits))) if indices is None else list(indices)
        if len(indices) != len(circuits):
            raise AerdaskInputError(f"compile() got {len(indices)} indices for {len(circuits)} circuits")
        program_options = {
            "shots": options["shots"],
            "memory": options["memory"],
            "precision": options["precision"],
            "seed_simulator": seed,
            "max_parallel_threads": options["max_parallel_threads"],
            "blocking_qubits": _blocking_qubits(options),
        }
        return adapter, program_options, indices

    @staticmethod
    def _compiled(circuits: list[QuantumCircuit], indices: list[int], options: dict) -> Iterator[Experiment]:
        cache = MatrixCache()  # shared by the batch: it repeats the same few gates
        for i, circuit in zip(indices, circuits, strict=True):
            yield compile_circuit(
                circuit, index=i, shots=options["shots"], cache=cache, fusion=options["fusion_enable"]
            )

    @staticmethod
    def _check_memory(circuit: QuantumCircuit, precision: str, available: int) -> None:
        # Checked here because no one else will: a zeroed state is allocated lazily, so a
        # Dask nanny (which sees resident memory only) would let it start and die later.
        needed = statevector_bytes(circuit.num_qubits, precision)
        if needed > available:
            raise CircuitTooLargeError(
                f"circuit {circuit.name!r} has {circuit.num_qubits} qubits: its {precision}-precision statevector "
                f"needs {needed:,} bytes but {available:,} bytes are available (largest worker memory limit or "
                "free memory of this machine)"
            )

    def __repr__(self) -> str:
        return f"AerSimulator('{self.name}')"


def _auto_job_size(adapter: ExecutorAdapter, shapes: list[tuple[int, int]]) -> int:
    """Experiments per task for ``(num_qubits, num_ops)`` shapes (see :func:`~aerdask.chunking.auto_job_size`)."""
    cost = sum(estimated_cost(n, ops) for n, ops in shapes) / len(shapes)
    return auto_job_size(len(shapes), adapter.threads(), cost)


def _as_circuit_list(run_input) -> list[QuantumCircuit]:
    circuits = [run_input] if isinstance(run_input, QuantumCircuit) else run_input
    if not isinstance(circuits, list | tuple):
        raise AerdaskInputError(f"run() takes a QuantumCircuit or a list of them, got {type(run_input).__name__}")
    if not circuits:
        raise AerdaskInputError("run() got an empty list of circuits; pass at least one QuantumCircuit")
    for i, circuit in enumerate(circuits):
        if not isinstance(circuit, QuantumCircuit):
            raise AerdaskInputError(f"run() input {i} is a {type(circuit).__name__}, not a QuantumCircuit")
    return list(circuits)
