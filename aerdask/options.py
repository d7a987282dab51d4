"""Run options: Aer's names, validated before anything runs.

Three groups:

* options aerdask honours (:data:`DEFAULTS`), each with its own check;
* Aer's engine knobs (:data:`ENGINE_KNOBS`: thread, fusion and GPU tuning, and the
  knobs of methods aerdask does not run). They are accepted so Aer code runs
  unchanged, and any knob set to a value other than Aer's default is reported in
  the result (``result.metadata["ignored_options"]``), never silently dropped;
* anything else raises, listing the supported names.
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings
from collections.abc import Callable

from aerdask_kernels.format.options import MPS_CHOICES
from aerdask_kernels.format.validation import MAX_SHOTS

from .errors import AerdaskInputError
from .executors import check_executor
from .methods import METHODS

__all__ = [
    "DEFAULTS",
    "ENGINE_KNOBS",
    "METHODS",
    "DEVICES",
    "ignored_options",
    "validate_options",
    "validate_option",
]

#: Option name -> default value, for every option aerdask honours.
DEFAULTS: dict[str, object] = {
    "shots": 1024,
    "seed_simulator": None,
    "memory": False,
    "method": "automatic",
    "device": "CPU",
    "precision": "double",
    "executor": None,
    "max_job_size": None,
    "max_shot_size": None,
    "max_parallel_threads": 0,
    "max_memory_mb": None,
    "enable_truncation": True,
    "zero_threshold": 1e-10,
    "fusion_enable": True,
    "blocking_enable": True,
    "blocking_qubits": None,
    "noise_model": None,
    # aerdask always binds parameters on the workers and always branches shots at
    # mid-circuit measurements, which is what these two ask Aer for.
    "runtime_parameter_bind_enable": False,
    "shot_branching_enable": False,
    # aerdask's own: keep a finished Dask job findable by AerSimulator.retrieve_job (True), for so many
    # seconds after submission (a number), or not once its result was read (False).
    "keep": False,
    # aerdask's own, Dask only: worker deaths one task may cause before its job fails, and
    # seconds a job waits on a cluster without workers (counted from the last one it had) before its
    # tasks count as lost; None: the setting aerdask.worker-timeout (10 minutes).
    "max_worker_deaths": 1,
    "no_worker_timeout": None,
    # aerdask's own: split one statevector into this many shards across workers (a power of two);
    # None: only a state that fits no single worker but fits the cluster is split (see aerdask.admission).
    "shards": None,
    # The matrix_product_state method's (Aer's names and defaults; see aerdask_kernels.cpu.mps).
    "matrix_product_state_max_bond_dimension": None,
    "matrix_product_state_truncation_threshold": 1e-16,
    "mps_sample_measure_algorithm": "mps_heuristic",
    "mps_swap_direction": "mps_swap_left",
    "mps_log_data": False,
    # Aer's choice between its own SVD and LAPACK's: aerdask's SVD is always LAPACK's (numpy), which
    # the result's metadata["matrix_product_state_lapack"] says; either value is accepted.
    "mps_lapack": False,
    # The extended_stabilizer method's (Aer's names and defaults; see aerdask_kernels.cpu.extended).
    "extended_stabilizer_approximation_error": 0.05,
    "extended_stabilizer_sampling_method": "resampled_metropolis",
    "extended_stabilizer_metropolis_mixing_time": 5000,
    "extended_stabilizer_norm_estimation_samples": 100,
    "extended_stabilizer_norm_estimation_repetitions": 3,
}

#: Aer's engine knobs and Aer's defaults: accepted, not acted on (see the module docs).
ENGINE_KNOBS: dict[str, object] = {
    "validation_threshold": None,
    "max_parallel_experiments": None,
    "max_parallel_shots": None,
    "fusion_verbose": False,
    "fusion_max_qubit": None,
    "fusion_threshold": None,
    "accept_distributed_results": None,
    "cuStateVec_enable": False,
    "chunk_swap_buffer_qubits": None,
    "batched_shots_gpu": False,
    "batched_shots_gpu_max_qubits": 16,
    "num_threads_per_device": 1,
    "shot_branching_sampling_enable": False,
    "statevector_parallel_threshold": 14,
    "statevector_sample_measure_opt": 10,
    "stabilizer_max_snapshot_probabilities": 32,
    "extended_stabilizer_parallel_threshold": 100,
    "extended_stabilizer_probabilities_snapshot_samples": 3000,
    "chop_threshold": 1e-8,
    "mps_parallel_threshold": 14,
    "mps_omp_threads": 1,
    "tensor_network_num_sampling_qubits": 10,
    "use_cuTensorNet_autotuning": False,
}

#: Aer's other methods: named in the error, so a user knows what is missing.
OTHER_AER_METHODS = ("tensor_network",)
#: Devices an option may name; ``run()`` refuses one this machine has not got.
DEVICES = ("CPU", "GPU")
PRECISIONS = ("double", "single")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _integral(name: str, value):
    """An integral float or a numeric string as an int, with Aer's deprecation warning; else ``value``."""
    try:
        number = float(value) if isinstance(value, numbers.Real | str) else None
    except ValueError:
        return value
    if number is None or not math.isfinite(number) or not number.is_integer():
        return value
    warnings.warn(
        f"{name}={value!r}: pass an int; a {type(value).__name__} is accepted, as Aer does, but deprecated",
        DeprecationWarning,
        stacklevel=5,
    )
    return int(number)


def _int_in(name: str, low: int, high: int, none_ok: bool = False, integral_float: bool = False) -> Callable:
    def check(value):
        if value is None and none_ok:
            return None
        if integral_float and not _is_int(value) and not isinstance(value, bool):
            value = _integral(name, value)
        if not _is_int(value) or not low <= value <= high:
            allowed = f"an int in [{low}, {high}]" + (" or None" if none_ok else "")
            raise AerdaskInputError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
        return int(value)

    return check


def _choice(name: str, allowed: tuple, others: tuple = ()) -> Callable:
    def check(value):
        if value not in allowed:
            extra = f" ({value!r} is an Aer method aerdask does not run)" if value in others else ""
            raise AerdaskInputError(f"{name} must be one of {allowed}, got {value!r}{extra}")
        return value

    return check


def _bool(name: str, none_is: bool | None = None) -> Callable:
    def check(value):
        if value is None and none_is is not None:
            return none_is
        if not isinstance(value, bool):
            raise AerdaskInputError(f"{name} must be True or False, got {value!r}")
        return value

    return check


def _threshold(name: str) -> Callable:
    def check(value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
            raise AerdaskInputError(f"{name} must be a float in [0, 1), got {value!r}")
        return float(value)

    return check


_zero_threshold = _threshold("zero_threshold")


def _open_unit(name: str) -> Callable:
    def check(value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 < value < 1:
            raise AerdaskInputError(f"{name} must be a float in (0, 1), got {value!r}")
        return float(value)

    return check


def _max_memory(value):
    """MiB a state may use; Aer's -1 ("no check") is no cap of the user's: the workers' memory still bounds it."""
    if value == -1 and not isinstance(value, bool):
        return None
    return _int_in("max_memory_mb", 0, 2**40, none_ok=True)(value)


def _max_threads(value):
    return 0 if value is None else _int_in("max_parallel_threads", 0, 4096)(value)


def _noise_model(value):
    from .noise import as_noise_model

    return as_noise_model(value)


#: Names in Aer's statevector basis that Qiskit circuits do not carry (Aer's own
#: spellings of controlled gates): accepted in ``basis_gates``, never advertised.
AER_ONLY_BASIS = frozenset(
    ["cu2", "mcp", "mcr", "mcrx", "mcry", "mcrz", "mcswap", "mcsx", "mcu", "mcu2", "mcu3", "mcx_gray", "mcy", "mcz"]
)


def _basis_gates(value):
    from .instructions import INSTRUCTIONS  # the table imports Qiskit's library: only when asked

    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise AerdaskInputError(f"basis_gates must be a list of gate names, got {value!r}")
    unknown = sorted(set(value) - set(INSTRUCTIONS) - AER_ONLY_BASIS)
    if unknown:
        raise AerdaskInputError(
            f"basis_gates names instructions aerdask does not know: {unknown}; known: {sorted(INSTRUCTIONS)}"
        )
    return tuple(value)


def _positive_seconds(name: str) -> Callable:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
            raise AerdaskInputError(f"{name} must be a positive number of seconds, got {value!r}")
        return float(value)

    return check


def _or_none(check: Callable) -> Callable:
    return lambda value: None if value is None else check(value)


def _keep(value):
    if isinstance(value, bool) or (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        return value
    raise AerdaskInputError(f"keep must be True, False or a positive number of seconds, got {value!r}")


def _shards(value):
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= 1 << 20 or value & (value - 1):
        raise AerdaskInputError(f"shards must be None (automatic) or a power of two in [1, 2**20], got {value!r}")
    return int(value)


def _executor(value):
    check_executor(value)
    return value


def _any(value):
    return value


_VALIDATORS: dict[str, Callable] = {
    "shots": _int_in("shots", 1, MAX_SHOTS, integral_float=True),
    "seed_simulator": _int_in("seed_simulator", 0, 2**63 - 1, none_ok=True),
    "memory": _bool("memory", none_is=False),
    "method": _choice("method", METHODS, OTHER_AER_METHODS),
    "device": _choice("device", DEVICES),
    "precision": _choice("precision", PRECISIONS),
    "executor": _executor,
    "max_job_size": _int_in("max_job_size", 1, 2**31, none_ok=True),
    "max_shot_size": _int_in("max_shot_size", 1, MAX_SHOTS, none_ok=True),
    "max_parallel_threads": _max_threads,
    "max_memory_mb": _max_memory,
    "enable_truncation": _bool("enable_truncation"),
    "zero_threshold": _zero_threshold,
    "fusion_enable": _bool("fusion_enable"),
    "blocking_enable": _bool("blocking_enable"),
    "blocking_qubits": _int_in("blocking_qubits", 2, 40, none_ok=True),
    "noise_model": _noise_model,
    "basis_gates": _basis_gates,
    "runtime_parameter_bind_enable": _bool("runtime_parameter_bind_enable"),
    "shot_branching_enable": _bool("shot_branching_enable"),
    "keep": _keep,
    "max_worker_deaths": _int_in("max_worker_deaths", 0, 1000),
    "no_worker_timeout": _or_none(_positive_seconds("no_worker_timeout")),
    "shards": _shards,
    "matrix_product_state_max_bond_dimension": _int_in(
        "matrix_product_state_max_bond_dimension", 1, 2**31, none_ok=True
    ),
    "matrix_product_state_truncation_threshold": _threshold("matrix_product_state_truncation_threshold"),
    "mps_sample_measure_algorithm": _choice(
        "mps_sample_measure_algorithm", MPS_CHOICES["mps_sample_measure_algorithm"]
    ),
    "mps_swap_direction": _choice("mps_swap_direction", MPS_CHOICES["mps_swap_direction"]),
    "mps_log_data": _bool("mps_log_data"),
    "mps_lapack": _bool("mps_lapack"),
    "extended_stabilizer_approximation_error": _open_unit("extended_stabilizer_approximation_error"),
    "extended_stabilizer_sampling_method": _choice(
        "extended_stabilizer_sampling_method", MPS_CHOICES["extended_stabilizer_sampling_method"]
    ),
    "extended_stabilizer_metropolis_mixing_time": _int_in("extended_stabilizer_metropolis_mixing_time", 1, 10**9),
    "extended_stabilizer_norm_estimation_samples": _int_in("extended_stabilizer_norm_estimation_samples", 1, 10**9),
    "extended_stabilizer_norm_estimation_repetitions": _int_in(
        "extended_stabilizer_norm_estimation_repetitions", 1, 10**6
    ),
    **{name: _any for name in ENGINE_KNOBS},
}


def validate_option(name: str, value):
    """The validated value of one option.

    Raises:
        AerdaskInputError: for an unknown name (listing the known ones) or a bad value.

    """
    if name not in _VALIDATORS:
        close = difflib.get_close_matches(str(name), _VALIDATORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise AerdaskInputError(
            f"option {name!r} is not supported by aerdask.AerSimulator{hint}; supported options: {sorted(_VALIDATORS)}"
        )
    return _VALIDATORS[name](value)


def validate_options(options: dict) -> dict:
    """Validate every option in ``options``; returns the normalised dict."""
    return {name: validate_option(name, value) for name, value in options.items()}


def ignored_options(options: dict) -> dict:
    """The engine knobs in ``options`` set to something other than Aer's default: ``{name: value}``."""
    out = {}
    for name, default in ENGINE_KNOBS.items():
        if name in options and not _same(options[name], default):
            out[name] = options[name]
    return out


def _same(value, default) -> bool:
    try:
        return bool(value == default) and type(value) is type(default)
    except Exception:  # an array or an odd object compares badly: it differs
        return False
