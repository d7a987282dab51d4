"""A program's run options, typed: :class:`ProgramOptions`, each default written once.

On the wire a program's options stay a plain dict (``Program.options``, the format's
own); :meth:`ProgramOptions.of` reads one into this frozen object, filling what a
program left out. Whatever needs an option reads it here, and the one decision every
side makes (which engine a program runs on) is :attr:`ProgramOptions.engine`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .validation import MAX_SHOTS, QobjValidationError

__all__ = [
    "ProgramOptions",
    "ENGINE_CPU",
    "ENGINE_GPU",
    "ENGINE_SHARDED",
    "MEMORY_FORMATS",
    "DEVICES",
    "PRECISIONS",
    "validate_options",
    "MPS_CHOICES",
]

#: The runners a program can go to (:attr:`ProgramOptions.engine`).
ENGINE_CPU, ENGINE_GPU, ENGINE_SHARDED = "cpu", "gpu", "sharded"
MEMORY_FORMATS = ("hex", "bits")
DEVICES = ("CPU", "GPU")
PRECISIONS = ("double", "single")
#: The MPS options' values (Aer's).
MPS_CHOICES = {
    "mps_sample_measure_algorithm": ("mps_heuristic", "mps_apply_measure", "mps_probabilities"),
    "mps_swap_direction": ("mps_swap_left", "mps_swap_right"),
    "extended_stabilizer_sampling_method": ("resampled_metropolis", "metropolis", "norm_estimation"),
}


@dataclasses.dataclass(frozen=True)
class ProgramOptions:
    """The run options of a program (the first five are required on the wire).

    Attributes:
        shots: Shots per experiment, ``[1, MAX_SHOTS]``.
        memory: Keep each shot's outcome.
        precision: ``"double"`` (complex128) or ``"single"`` (complex64).
        seed_simulator: The job's seed, ``[0, 2**63)``.
        max_parallel_threads: Numba threads per task, 0: the process's share of its cores.
        blocking_qubits: Cache blocks: -1 automatic, 0 off, ``k`` blocks of ``k`` qubits.
        fusion_enable: Workers fuse the gate rows before running them.
        memory_format: Per-shot outcomes as ``"hex"`` values, or ``"bits"``: uint8
            ``(shots, bytes)``, big-endian.
        zero_threshold: Amplitudes and probabilities below it are left out of ``*_dict`` saves.
        max_branch_copies: State copies a task may keep for pending branches of mid-circuit
            measurements (-1: no limit); past it a branch keeps only its outcomes and its
            state is recomputed when it runs.
        shards: One state split into this many shards (a power of two) across workers; 1: whole.
        device: Where the state lives: ``"CPU"``, or ``"GPU"`` (through numba.cuda).
        matrix_product_state_max_bond_dimension: Singular values an MPS bond keeps (0: all).
        matrix_product_state_truncation_threshold: An MPS split drops its smallest singular
            values while their squares sum below it.
        mps_sample_measure_algorithm: ``"mps_heuristic"``, ``"mps_apply_measure"`` or
            ``"mps_probabilities"`` (how final measurements of an MPS are sampled).
        mps_swap_direction: ``"mps_swap_left"`` or ``"mps_swap_right"``: which of two distant
            qubits of an MPS moves next to the other.
        mps_log_data: Keep Aer's log of bond dimensions (``MPS_log_data``).
        extended_stabilizer_approximation_error: The extended stabilizer's sampled sum has
            ``extent / error**2`` terms.
        extended_stabilizer_sampling_method: ``"resampled_metropolis"``, ``"metropolis"`` or
            ``"norm_estimation"``.
        extended_stabilizer_metropolis_mixing_time: Steps of a Metropolis chain.
        extended_stabilizer_norm_estimation_samples: Chains estimating a probability (times the
            repetitions).
        extended_stabilizer_norm_estimation_repetitions: See above.
    """

    shots: int
    memory: bool
    precision: str
    seed_simulator: int
    max_parallel_threads: int
    blocking_qubits: int = -1
    fusion_enable: bool = True
    memory_format: str = "hex"
    zero_threshold: float = 1e-10
    max_branch_copies: int = -1
    shards: int = 1
    device: str = "CPU"
    matrix_product_state_max_bond_dimension: int = 0
    matrix_product_state_truncation_threshold: float = 1e-16
    mps_sample_measure_algorithm: str = "mps_heuristic"
    mps_swap_direction: str = "mps_swap_left"
    mps_log_data: bool = False
    extended_stabilizer_approximation_error: float = 0.05
    extended_stabilizer_sampling_method: str = "resampled_metropolis"
    extended_stabilizer_metropolis_mixing_time: int = 5000
    extended_stabilizer_norm_estimation_samples: int = 100
    extended_stabilizer_norm_estimation_repetitions: int = 3

    @classmethod
    def from_dict(cls, options: dict) -> ProgramOptions:
        """The typed options of a (validated) options dict; what it leaves out takes its default."""
        return cls(**{key: options[key] for key in _NAMES if key in options})

    @classmethod
    def of(cls, program) -> ProgramOptions:
        """The typed options of ``program``."""
        return cls.from_dict(program.options)

    @property
    def engine(self) -> str:
        """Which runner the program goes to: :data:`ENGINE_GPU`, :data:`ENGINE_SHARDED` or :data:`ENGINE_CPU`."""
        if self.device == "GPU":
            return ENGINE_GPU
        if self.shards > 1:
            return ENGINE_SHARDED
        return ENGINE_CPU

    @property
    def dtype(self):
        """The state's numpy dtype: ``np.complex64`` for single precision, else ``np.complex128``."""
        return np.complex64 if self.precision == "single" else np.complex128

    @property
    def bytes_per_amplitude(self) -> int:
        """8 (single) or 16 (double)."""
        return 8 if self.precision == "single" else 16


_FIELDS = dataclasses.fields(ProgramOptions)
_NAMES = tuple(f.name for f in _FIELDS)
#: Options a program must carry, with their types.
REQUIRED = {f.name: {"int": int, "bool": bool, "str": str}[f.type] for f in _FIELDS if f.default is dataclasses.MISSING}
#: Options a program may leave out, with their defaults.
DEFAULTS = {f.name: f.default for f in _FIELDS if f.default is not dataclasses.MISSING}


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_options(options: dict) -> None:
    """Check a program's options dict: every required key, no unknown key, each value in range.

    Raises:
        QobjValidationError: naming the option, what it was and what is allowed.
    """
    for key, typ in REQUIRED.items():
        if key not in options:
            raise QobjValidationError(f"option {key!r} is missing; a program carries {sorted(REQUIRED)}")
        value = options[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise QobjValidationError(f"option {key!r} must be {typ.__name__}, got {value!r}")
    unknown = set(options) - set(_NAMES)
    if unknown:
        raise QobjValidationError(f"unknown program options {sorted(unknown)}; allowed {sorted(_NAMES)}")
    get = {**DEFAULTS, **options}
    blocking = get["blocking_qubits"]
    if not _int(blocking) or not -1 <= blocking <= 40:
        raise QobjValidationError(f"option 'blocking_qubits' must be an int in [-1, 40], got {blocking!r}")
    if not isinstance(get["fusion_enable"], bool):
        raise QobjValidationError(f"option 'fusion_enable' must be bool, got {get['fusion_enable']!r}")
    copies = get["max_branch_copies"]
    if not _int(copies) or copies < -1:
        raise QobjValidationError(f"option 'max_branch_copies' must be an int >= -1, got {copies!r}")
    shards = get["shards"]
    if not _int(shards) or shards < 1 or shards & (shards - 1):
        raise QobjValidationError(f"option 'shards' must be a power of two >= 1, got {shards!r}")
    bond = get["matrix_product_state_max_bond_dimension"]
    if not _int(bond) or bond < 0:
        raise QobjValidationError(f"option 'matrix_product_state_max_bond_dimension' must be an int >= 0, got {bond!r}")
    cut = get["matrix_product_state_truncation_threshold"]
    if not isinstance(cut, float) or not 0 <= cut < 1:
        raise QobjValidationError(
            f"option 'matrix_product_state_truncation_threshold' must be a float in [0, 1), got {cut!r}"
        )
    for key, allowed in MPS_CHOICES.items():
        if get[key] not in allowed:
            raise QobjValidationError(f"option {key!r} must be one of {allowed}, got {get[key]!r}")
    error = get["extended_stabilizer_approximation_error"]
    if not isinstance(error, float) or not 0 < error < 1:
        raise QobjValidationError(f"option 'extended_stabilizer_approximation_error' must be in (0, 1), got {error!r}")
    for key in (
        "extended_stabilizer_metropolis_mixing_time",
        "extended_stabilizer_norm_estimation_samples",
        "extended_stabilizer_norm_estimation_repetitions",
    ):
        if not _int(get[key]) or get[key] < 1:
            raise QobjValidationError(f"option {key!r} must be an int >= 1, got {get[key]!r}")
    if not isinstance(get["mps_log_data"], bool):
        raise QobjValidationError(f"option 'mps_log_data' must be bool, got {get['mps_log_data']!r}")
    threshold = get["zero_threshold"]
    if not isinstance(threshold, float) or not 0 <= threshold < 1:
        raise QobjValidationError(f"option 'zero_threshold' must be a float in [0, 1), got {threshold!r}")
    if get["device"] not in DEVICES:
        raise QobjValidationError(f"option 'device' must be one of {DEVICES}, got {get['device']!r}")
    if get["memory_format"] not in MEMORY_FORMATS:
        raise QobjValidationError(
            f"option 'memory_format' must be one of {MEMORY_FORMATS}, got {get['memory_format']!r}"
        )
    ranges = {"shots": (1, MAX_SHOTS), "seed_simulator": (0, 2**63 - 1), "max_parallel_threads": (0, 4096)}
    for key, (low, high) in ranges.items():
        if not low <= options[key] <= high:
            raise QobjValidationError(f"option {key!r} must be in [{low}, {high}], got {options[key]!r}")
    if options["precision"] not in PRECISIONS:
        raise QobjValidationError(f"precision must be 'double' or 'single', got {options['precision']!r}")
