"""``AerSimulator``: a Qiskit ``BackendV2`` that takes Aer's option names."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import secrets
import uuid

import numpy as np
import psutil
from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from aerdask_kernels import Program, ProgramOptions, __version__, run_program
from aerdask_kernels.format.options import DEFAULTS as PROGRAM_DEFAULTS
from aerdask_kernels.format.options import ENGINE_SHARDED
from aerdask_kernels.gpu.tiles import MAX_TARGETS as GPU_MAX_TARGETS
from aerdask_kernels.opcodes import COL_NTARG, COL_OPCODE, OP_MATRIX

from .admission import Admission
from .binding import bind_values, expand_parameterizations, values_array
from .chunking import auto_job_size, estimated_cost, plan_chunks
from .compiler import compile_batch
from .configuration import BackendConfiguration, configuration_of
from .errors import AerdaskInputError
from .executors import adapt
from .executors.base import ExecutorAdapter
from .instructions import INSTRUCTIONS
from .job import AerJob
from .methods import with_method
from .options import DEFAULTS, ENGINE_KNOBS, METHODS, ignored_options, validate_options
from .truncation import truncate

__all__ = ["AerSimulator", "build_target"]

logger = logging.getLogger("aerdask")


#: The gates the extended_stabilizer method's Target advertises (Aer's basis for it).
EXTENDED_BASIS = ("x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "t", "tdg", "p", "u1", "rz")
EXTENDED_BASIS += ("cx", "cy", "cz", "swap", "ecr", "ccx", "ccz", "pauli")
#: The matrix_product_state method's Target width (Aer's says 63; a chain of 100 sites is its use).
MPS_TARGET_QUBITS = 1024


def _max_qubits(method: str = "statevector") -> int:
    """The widest circuit ``method`` holds in this machine's memory (its ``Target``'s qubits, as Aer's)."""
    total = psutil.virtual_memory().total
    if method == "stabilizer":  # (2n + 1) columns of 2n bits
        return max(1, min(1 << 16, int(math.sqrt(total / 2))))
    if method == "matrix_product_state":  # its bonds, not its width, bound its memory
        return MPS_TARGET_QUBITS
    if method == "extended_stabilizer":  # its terms' bit strings are words (Aer's 63)
        return 63
    per_qubit = {"density_matrix": 2, "unitary": 2, "superop": 4}.get(method, 1)
    return max(1, int(math.log2(total / 16)) // per_qubit)


def build_target(
    num_qubits: int | None = None, basis_gates=None, method: str = "statevector", noise_basis=None
) -> Target:
    """The ``Target`` advertised by :class:`AerSimulator`, built from the instruction table.

    Args:
        num_qubits: Qubits of the target (default: the most this machine's memory holds with ``method``).
        basis_gates: Names of the gates to advertise (Aer's ``basis_gates`` option);
            measurements, control flow, saves and directives are always advertised.
            ``None`` advertises the method's gates (every gate of the table but under the
            extended stabilizer), less those ``noise_basis`` lacks.
        method: The simulation method whose widest circuit sets the default ``num_qubits``.
        noise_basis: The noise model's ``basis_gates`` (or ``None``: no noise model). As in Aer,
            ``transpile`` then leaves only gates the model's errors are attached to (or that
            ``cx id rz sx``, its default, unroll to), so that the errors apply.
    """
    target = Target(description=f"aerdask simulator ({method})", num_qubits=num_qubits or _max_qubits(method))
    if basis_gates is None:  # the method's gates (an explicit option is taken as it is, as in Aer)
        if method == "extended_stabilizer":
            basis_gates = EXTENDED_BASIS  # the gates a sum of stabilizer states takes, as Aer's
        if noise_basis is not None:
            gates = basis_gates or [name for name, spec in INSTRUCTIONS.items() if spec.kind == "gate"]
            basis_gates = [name for name in gates if name in noise_basis]
            if not basis_gates:
                logger.warning(
                    "no gate of the noise model's basis_gates %s is a gate of the %s method: the Target has none",
                    sorted(noise_basis),
                    method,
                )
    for name, spec in INSTRUCTIONS.items():
        if basis_gates is None or spec.kind != "gate" or name in basis_gates:
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

    * ``shots`` (int, default 1024), ``seed_simulator`` (int or None; experiment ``i``
      is seeded ``seed_simulator + i``, as in Aer), ``memory`` (bool).
    * ``method``: ``"statevector"``, ``"density_matrix"`` (the mixed state, exact
      channels; ``4**n`` entries) or ``"automatic"`` (per circuit, as Aer: see
      :mod:`aerdask.methods`); ``result.results[i].metadata["method"]`` says which ran.
      ``device``: ``"CPU"`` or ``"GPU"`` (statevector without noise, through numba-cuda:
      on this process's GPU with a thread pool, on workers with a ``GPU`` resource on
      Dask; ``available_devices()`` says what is there, ``run()`` refuses what is not).
    * ``precision``: ``"double"`` (complex128) or ``"single"`` (complex64).
    * ``executor``: a ``concurrent.futures.Executor`` or ``dask.distributed.Client``;
      ``None`` uses a shared local thread pool.
    * ``max_job_size``: experiments per task; ``max_shot_size``: shots per task.
    * ``shards``: split each state into this many shards (a power of two) across the
      workers, one Dask future each (:mod:`aerdask_kernels.sharded`, ``docs/sharding.md``);
      ``None`` (default): only a state that fits no worker but fits the cluster.
    * ``max_parallel_threads``: threads one task may use (0 or None: all cores).
    * ``max_memory_mb``: caps the bytes one state may use (MiB; None: the executor's limit).
    * ``enable_truncation``: simulate only the qubits something acts on (default True).
    * ``zero_threshold``: amplitudes and probabilities below it are left out of
      ``*_dict`` saves (default 1e-10).
    * ``basis_gates``: the gate names the ``Target`` advertises (default: all; with a noise
      model, those of its ``basis_gates``, as in Aer, so that ``transpile`` leaves the gates its
      errors are attached to). ``configuration()`` lists them, Aer's way.
    * ``fusion_enable``: fuse neighbouring gates into fewer passes (default True).
    * ``blocking_enable``: cache blocking (default True): runs of gates on large
      states are applied block by block in a cache-sized buffer, one memory pass per
      run. ``blocking_qubits``: qubits per block (int; None: 15 qubits, for states of
      19 qubits and more; an int blocks every wider state). In Aer these two options
      chunk the state for MPI or several GPUs; here they serve the CPU cache.
    * ``noise_model``: ``None`` (ideal), a ``qiskit_aer.noise.NoiseModel`` or an
      :class:`aerdask.noise.NoiseModel` (``qiskit.quantum_info`` channels, no qiskit-aer
      needed). The statevector method runs shots as trajectories (:mod:`aerdask.noise`),
      the density-matrix method applies each error as its exact channel.

    Aer's engine knobs (:data:`aerdask.options.ENGINE_KNOBS`) are accepted and not
    acted on; the result lists those set to a non-default value in
    ``result.metadata["ignored_options"]``. Any other option raises
    :class:`~aerdask.errors.AerdaskInputError`.
    """

    def __init__(self, name: str = "aer_simulator", provider=None, **options):
        super().__init__(
            provider=provider,
            name=name,
            description="aerdask: Aer's simulation methods on a thread pool or a Dask cluster",
            backend_version=__version__,
        )
        self._target = build_target()
        self._device_target = False  # from_backend: the device's target, kept whatever the method
        self._noise_basis = None  # the noise_model option's basis_gates (None: no model)
        if options:
            self.set_options(**options)

    @classmethod
    def _default_options(cls) -> Options:
        return Options(**DEFAULTS, basis_gates=None, **ENGINE_KNOBS)

    @classmethod
    def from_backend(cls, backend, **options) -> AerSimulator:
        """A simulator with ``backend``'s qubits, coupling map and gates (Aer's ``from_backend``).

        The ``Target`` is a copy of ``backend.target`` (so ``transpile`` maps circuits
        onto the device's basis and couplings, with its error and duration data), plus
        the instructions aerdask adds: measurement, control flow and the save
        instructions. Its noise model is the device's, as Aer builds it
        (:meth:`aerdask.noise.NoiseModel.from_backend`), unless ``noise_model`` is given.

        Args:
            backend: A ``BackendV2`` (e.g. a fake backend from ``qiskit_ibm_runtime``).
            **options: Run options, as for the constructor.

        Raises:
            AerdaskInputError: if ``backend`` has no ``target``.
        """
        target = getattr(backend, "target", None)
        if not isinstance(target, Target):
            raise AerdaskInputError(f"from_backend needs a BackendV2 with a target, got {type(backend).__name__}")
        if "noise_model" not in options:
            from .noise import NoiseModel

            options["noise_model"] = NoiseModel.from_backend(backend)
        sim = cls(name=f"aer_simulator_from({backend.name})", **options)
        sim._target = copy.deepcopy(target)
        sim._device_target = True
        for name, spec in INSTRUCTIONS.items():
            if spec.kind != "gate" and name not in sim._target:
                sim._target.add_instruction(spec.target_entry, name=name)
        return sim

    def retrieve_job(self, job_id: str) -> AerJob:
        """The job ``job_id`` of this backend's Dask cluster, e.g. from a restarted notebook.

        ``AerSimulator(executor=client).retrieve_job(job_id)``, as ``BackendV2`` providers
        retrieve jobs. Jobs on Dask are published on the scheduler while it lives, until their
        result is read (or, with ``keep``, until ``job.unpublish()``).

        Raises:
            JobError: if the cluster holds no job with that id, or what it holds under that
                id is not a valid aerdask job (nothing stored there is unpickled).
        """
        return AerJob.attach(self, job_id)

    @staticmethod
    def available_methods() -> tuple[str, ...]:
        """The simulation methods aerdask runs (``automatic`` picks one per circuit)."""
        return METHODS

    def available_devices(self) -> tuple[str, ...]:
        """The devices this backend's executor can simulate on: ``("CPU",)``, with ``"GPU"`` where it has one.

        On a thread pool, ``"GPU"`` when numba-cuda finds a usable GPU in this process;
        on a Dask cluster, when a worker advertises a ``GPU`` resource and reports its GPU.
        """
        adapter = adapt(self.options.executor)
        return ("CPU", "GPU") if adapter.gpu_memory() else ("CPU",)

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
        # Read before validation: an ideal model validates to None, and still has Aer's basis.
        model = fields.get("noise_model")
        noise_basis = None if model is None else getattr(model, "basis_gates", None)
        fields = validate_options(fields)
        if "noise_model" in fields:
            self._noise_basis = noise_basis
        if "basis_gates" in fields or (not self._device_target and {"method", "noise_model"} & set(fields)):
            basis = fields.get("basis_gates", getattr(self.options, "basis_gates", None))
            method = fields.get("method", self.options.method)
            self._target = build_target(basis_gates=basis, method=method, noise_basis=self._noise_basis)
        super().set_options(**fields)

    def configuration(self) -> BackendConfiguration:
        """Aer's backend configuration, read off :attr:`target`: ``basis_gates``, ``num_qubits``...

        ``basis_gates`` lists the gates the ``Target`` advertises (with a noise model, those of
        its ``basis_gates``, as in Aer) and then ``custom_instructions``.
        """
        return configuration_of(self.name, self.backend_version, self.target, self._device_target)

    def run(self, run_input, parameter_binds=None, parameterizations=None, **run_options) -> AerJob:
        """Compile ``run_input`` and submit it; returns the running :class:`AerJob`.

        The data path, top to bottom: check the values of the parameters, connect to
        the executor, compile the circuits (a circuit with parameters once, for all
        its points), group the points into tasks, and submit each task as soon as its
        circuits are compiled, so workers start while the rest compiles. A circuit
        that cannot be compiled still raises here, after cancelling the tasks already
        submitted.

        Args:
            run_input: A ``QuantumCircuit`` or a list of them.
            parameter_binds: Aer's form: one dict per circuit mapping each parameter
                (or its name) to a list of values; each value set runs as one
                experiment, in circuit order.
            parameterizations: Aer's legacy form: per circuit, a list of
                ``[[instruction, parameter], [values]]``; bound on the client (see
                :func:`aerdask.binding.expand_parameterizations`).
            **run_options: Any option of the class docs, for this run only.

        Raises:
            AerdaskInputError: bad options, circuits or values (naming the parameter),
                an unsupported instruction, or a circuit too big for memory; raised
                before ``run`` returns, and nothing of the job keeps running.

        """
        options = self._merged_options(run_options)
        circuits = _as_circuit_list(run_input)
        if parameterizations is not None:
            circuits = expand_parameterizations(circuits, parameterizations)
        values = bind_values(circuits, parameter_binds)
        adapter, admission = self._connect(options)
        experiments = self._admitted(
            compile_batch(circuits, values, options["shots"], noise=options["noise_model"]), options, admission
        )
        if admission.may_need_shards([qc.num_qubits for qc in circuits]):
            # Whether the job is sharded, and into how many shards, is known once every circuit is admitted.
            experiments = list(experiments)
            if ProgramOptions.from_dict(admission.program_options).engine == ENGINE_SHARDED:
                _check_sharded_options(options)
                program = Program(experiments=experiments, options=admission.program_options)
                return self._start([program], options, validate=False)
        size = options["max_job_size"] or _auto_job_size(adapter, _shapes(circuits, values, options["shots"]))
        shot_size = options["max_shot_size"] or _auto_shot_size(adapter, options, len(circuits))
        split_density = options["max_shot_size"] is not None  # only where asked for: see plan_chunks
        tasks = plan_chunks(experiments, size, shot_size, admission.program_options, split_density)
        # Our compiler's output: the workers validate it.
        return self._start(tasks, options, validate=False, placement=admission.placement)

    def compile(
        self,
        circuits: list[QuantumCircuit],
        indices=None,
        parameter_binds=None,
        parameter_values=None,
        **run_options,
    ) -> Program:
        """Compile circuits into a program without running it (``run`` = ``compile`` + ``submit``).

        Each circuit compiles once; with parameters, its experiment runs at every row
        of its values, and ``submit`` sends each task only its rows.

        Args:
            circuits: A circuit or a list of them.
            indices: Each point's experiment number, which keys its seed (default
                ``0..n-1`` in Aer's order: per circuit, per value set). A sweep passes
                global point numbers, so a point's samples do not depend on which other
                points share its job.
            parameter_binds: As :meth:`run`.
            parameter_values: Instead of ``parameter_binds``: per circuit, an array of
                shape ``(points, circuit.num_parameters)``, columns in
                ``circuit.parameters`` order (a circuit without parameters may take
                ``(points, 0)`` to run several times with distinct seeds, or ``None``).
            **run_options: Options of the class docs.

        Raises:
            AerdaskInputError: as :meth:`run`, or for indices that do not match the points.
        """
        options = self._merged_options(run_options)
        circuits = _as_circuit_list(circuits)
        if parameter_values is not None and parameter_binds is not None:
            raise AerdaskInputError("compile() takes parameter_binds or parameter_values, not both")
        if parameter_values is None:
            values = bind_values(circuits, parameter_binds)
        else:
            values = _values_per_circuit(circuits, parameter_values)
        _, admission = self._connect(options)
        if indices is not None:
            indices = np.asarray(indices, dtype=np.int64)
            points = sum(1 if v is None else v.shape[0] for v in values)
            if indices.shape != (points,):
                raise AerdaskInputError(f"compile() got {indices.size} indices for {points} experiments")
        compiled = compile_batch(circuits, values, options["shots"], indices, noise=options["noise_model"])
        experiments = list(self._admitted(compiled, options, admission))
        return Program(experiments=experiments, options=admission.program_options)

    def submit(self, program: Program, **run_options) -> AerJob:
        """Split ``program`` into tasks and submit them as one :class:`AerJob`.

        With neither ``max_job_size`` nor ``max_shot_size``, points are grouped so
        that every thread of the executor gets work (see
        :func:`aerdask.chunking.auto_job_size`); ``max_job_size`` counts points.
        """
        options = self._merged_options(run_options)
        if program.typed_options.engine == ENGINE_SHARDED:  # one sharded task drives every experiment
            _check_sharded_options(options)
            return self._start([program], options)
        size = options["max_job_size"]
        if size is None and options["max_shot_size"] is None:
            shapes = [(e.num_qubits, e.ops.shape[0], e.num_points, e.shots) for e in program.experiments]
            size = _auto_job_size(adapt(options["executor"]), shapes)
        tasks = plan_chunks(program.experiments, size, options["max_shot_size"], program.options)
        # Placed as run() places its tasks: on the workers big enough, where only some are.
        _, admission = self._connect(options)
        for exp in program.experiments:
            admission.admit(exp)
        return self._start(tasks, options, placement=admission.placement)

    def _start(self, tasks, options: dict, validate: bool = True, placement=None) -> AerJob:
        ignored = ignored_options(options)
        metadata = {"ignored_options": ignored} if ignored else None
        noise = options["noise_model"]
        # As Aer: a job whose noise model has quantum errors samples every circuit's shots as
        # trajectories, even a circuit that no error reaches.
        per_experiment = {"measure_sampling": False} if noise is not None and noise.has_quantum_errors else None
        job = AerJob(
            self,
            str(uuid.uuid4()),
            run_program,
            tasks,
            options["executor"],
            validate=validate,
            metadata=metadata,
            experiment_metadata=per_experiment,
            placement=placement,
            keep=options["keep"],
        )
        job.configure_executor(
            max_worker_deaths=options["max_worker_deaths"], no_worker_timeout=options["no_worker_timeout"]
        )
        job.submit()
        return job

    def _merged_options(self, run_options: dict) -> dict:
        return {**self.options.__dict__, **validate_options(run_options)}

    def _connect(self, options: dict) -> tuple[ExecutorAdapter, Admission]:
        """The executor's adapter, checked, and the memory plan of the job's tasks.

        Raises:
            AerdaskInputError: for a device this machine has not got.
            ClusterError: if the executor cannot run tasks.
        """
        adapter = adapt(options["executor"])
        adapter.prepare()
        if options["device"] == "GPU":
            _check_gpu_options(options)
            workers = adapter.gpu_memory()
            if not workers:
                raise AerdaskInputError(
                    f"device='GPU' is not available: {adapter.gpu_missing()}; available_devices() lists what is"
                )
        else:
            workers = adapter.workers_memory()
        if options["max_memory_mb"]:
            cap = options["max_memory_mb"] << 20
            workers = [dataclasses.replace(w, usable=min(w.usable, cap)) for w in workers]
        place_all = not adapter.workers_known()
        return adapter, Admission(workers, options, self._program_options(options), place_all=place_all)

    @staticmethod
    def _admitted(experiments, options: dict, admission: Admission):
        """The compiled experiments with their method, each truncated to its active qubits and admitted.

        See :mod:`.methods` and :mod:`.admission`.
        """
        method = options["method"]
        if method == "automatic" and (options["device"] == "GPU" or (options.get("shards") or 0) > 1):
            method = "statevector"  # what a GPU and shards run: automatic picks among what is asked for
        for exp in experiments:
            exp = with_method(exp, method, options["noise_model"])
            if options["enable_truncation"] and exp.method not in ("unitary", "superop"):
                exp = truncate(exp)  # an operator is of every qubit, idle ones included
            if options["device"] == "GPU":
                _check_gpu_experiment(exp)
            admission.admit(exp)
            yield exp

    @staticmethod
    def _program_options(options: dict) -> dict:
        seed = options["seed_simulator"]
        if seed is None:
            seed = secrets.randbits(63)  # reported in the result, so the run can be repeated
        return {
            "shots": options["shots"],
            "memory": options["memory"],
            "precision": options["precision"],
            "seed_simulator": seed,
            "max_parallel_threads": options["max_parallel_threads"],
            "blocking_qubits": _blocking_qubits(options),
            "fusion_enable": options["fusion_enable"],
            "zero_threshold": options["zero_threshold"],
            **_mps_options(options),
            # Only GPU programs name their device: a CPU program stays what older workers read.
            **({"device": "GPU"} if options["device"] == "GPU" else {}),
        }

    def __repr__(self) -> str:
        return f"AerSimulator('{self.name}')"


def _mps_options(options: dict) -> dict:
    """The matrix_product_state and extended_stabilizer options a program carries: those not at their defaults."""
    out = {
        "matrix_product_state_max_bond_dimension": options["matrix_product_state_max_bond_dimension"] or 0,
        "matrix_product_state_truncation_threshold": options["matrix_product_state_truncation_threshold"],
        "mps_sample_measure_algorithm": options["mps_sample_measure_algorithm"],
        "mps_swap_direction": options["mps_swap_direction"],
        "mps_log_data": options["mps_log_data"],
        **{key: options[key] for key in PROGRAM_DEFAULTS if key.startswith("extended_stabilizer_")},
    }
    return {key: value for key, value in out.items() if value != PROGRAM_DEFAULTS[key]}


def _check_gpu_options(options: dict) -> None:
    """Refuse the options a GPU job cannot honour.

    Raises:
        AerdaskInputError: naming the option and what is allowed.
    """
    if options["method"] not in ("statevector", "automatic"):
        raise AerdaskInputError(
            f"device='GPU' runs the statevector method, not method={options['method']!r}; "
            "use method='statevector' (or 'automatic') or device='CPU'"
        )
    if options["noise_model"] is not None:
        raise AerdaskInputError("device='GPU' runs noiseless circuits; drop noise_model or use device='CPU'")
    if options["shards"] not in (None, 1):
        raise AerdaskInputError(
            f"device='GPU' keeps each state on one GPU; shards={options['shards']!r} needs device='CPU'"
        )


def _check_gpu_experiment(exp) -> None:
    """Refuse a compiled experiment the GPU cannot run (see ``aerdask_kernels.gpu.walk.gpu_compatibility``).

    Raises:
        AerdaskInputError: naming the circuit and what is allowed.
    """
    if exp.noisy or exp.method != "statevector":
        raise AerdaskInputError(
            f"circuit {exp.name!r}: device='GPU' runs noiseless statevector circuits "
            f"(this one: method {exp.method!r}{', with noise channels' if exp.noisy else ''}); use device='CPU'"
        )
    gates = exp.ops[:, COL_OPCODE] == OP_MATRIX  # standard gates are at most 3 qubits besides their controls
    widest = int(exp.ops[gates, COL_NTARG].max()) if gates.any() else 0
    if widest > GPU_MAX_TARGETS:
        raise AerdaskInputError(
            f"circuit {exp.name!r} has a {widest}-qubit unitary; device='GPU' runs dense gates of up to "
            f"{GPU_MAX_TARGETS} qubits (a GPU tile's width); use device='CPU'"
        )


def _check_sharded_options(options: dict) -> None:
    """Refuse the options a sharded job cannot honour: it is one task that samples every shot at once.

    Raises:
        AerdaskInputError: naming the option.
    """
    for name in ("max_job_size", "max_shot_size"):
        if options[name] is not None:
            raise AerdaskInputError(
                f"{name}={options[name]} splits a job into tasks, but a sharded job is one state across the "
                f"workers, run as one task; drop {name}, or set shards=1 to run unsharded"
            )


def _values_per_circuit(circuits: list[QuantumCircuit], parameter_values) -> list[np.ndarray]:
    if not isinstance(parameter_values, list | tuple) or len(parameter_values) != len(circuits):
        raise AerdaskInputError(
            f"parameter_values must be a list with one array per circuit ({len(circuits)} circuits)"
        )
    out = []
    for i, (circuit, values) in enumerate(zip(circuits, parameter_values, strict=True)):
        if values is None and not circuit.num_parameters:
            out.append(None)
        else:
            names = [p.name for p in circuit.parameters]
            out.append(values_array(values, names, f"parameter_values[{i}] (circuit {circuit.name!r})"))
    return out


def _shapes(circuits: list[QuantumCircuit], values: list, shots: int) -> list[tuple[int, int, int, int]]:
    return [
        (c.num_qubits, len(c.data), 1 if v is None else v.shape[0], shots)
        for c, v in zip(circuits, values, strict=True)
    ]


def _auto_job_size(adapter: ExecutorAdapter, shapes: list[tuple[int, int, int, int]]) -> int:
    """Points per task for ``(num_qubits, num_ops, points, shots)`` shapes.

    See :func:`~aerdask.chunking.auto_job_size`.
    """
    points = sum(p for _, _, p, _ in shapes)
    cost = sum(p * estimated_cost(n, ops, shots) for n, ops, p, shots in shapes) / points
    return auto_job_size(points, adapter.threads(), cost, adapter.task_overhead())


#: Fewest trajectories a task of an automatically split noisy experiment runs: each task
#: simulates its shots' error-free prefix again.
MIN_NOISY_SHOTS_PER_TASK = 64


def _auto_shot_size(adapter: ExecutorAdapter, options: dict, circuits: int) -> int | None:
    """Shots per task for noisy circuits on a cluster: every worker thread gets trajectories.

    Only where tasks run in processes of their own (a Dask cluster); on a thread pool the
    trajectories' Python driver shares one GIL. ``None`` when nothing is split.
    """
    # (Density-matrix experiments keep their shots whole: see plan_chunks.)
    if options["noise_model"] is None or options["max_job_size"] or not adapter.separate_processes:
        return None
    per_circuit = max(adapter.threads() // max(circuits, 1), 1)
    size = max(-(-options["shots"] // per_circuit), MIN_NOISY_SHOTS_PER_TASK)
    return size if size < options["shots"] else None


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
