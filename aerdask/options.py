"""Run options: Aer's names, validated before anything runs.

Every option here is honoured; any other name raises, listing these.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

from aerdask_kernels.validation import MAX_SHOTS

from .errors import AerdaskInputError
from .executors import check_executor

__all__ = ["DEFAULTS", "validate_options", "validate_option"]

#: Option name -> default value.
DEFAULTS: dict[str, object] = {
    "shots": 1024,
    "seed_simulator": None,
    "memory": False,
    "method": "automatic",
    "precision": "double",
    "executor": None,
    "max_job_size": None,
    "max_shot_size": None,
    "max_parallel_threads": 0,
    "fusion_enable": True,
    "blocking_enable": True,
    "blocking_qubits": None,
}

METHODS = ("automatic", "statevector")
PRECISIONS = ("double", "single")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_in(name: str, low: int, high: int, none_ok: bool = False) -> Callable:
    def check(value):
        if value is None and none_ok:
            return None
        if not _is_int(value) or not low <= value <= high:
            allowed = f"an int in [{low}, {high}]" + (" or None" if none_ok else "")
            raise AerdaskInputError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
        return int(value)

    return check


def _choice(name: str, allowed: tuple) -> Callable:
    def check(value):
        if value not in allowed:
            raise AerdaskInputError(f"{name} must be one of {allowed}, got {value!r}")
        return value

    return check


def _bool(name: str) -> Callable:
    def check(value):
        if not isinstance(value, bool):
            raise AerdaskInputError(f"{name} must be True or False, got {value!r}")
        return value

    return check


def _executor(value):
    check_executor(value)
    return value


_VALIDATORS: dict[str, Callable] = {
    "shots": _int_in("shots", 1, MAX_SHOTS),
    "seed_simulator": _int_in("seed_simulator", 0, 2**63 - 1, none_ok=True),
    "memory": _bool("memory"),
    "method": _choice("method", METHODS),
    "precision": _choice("precision", PRECISIONS),
    "executor": _executor,
    "max_job_size": _int_in("max_job_size", 1, 2**31, none_ok=True),
    "max_shot_size": _int_in("max_shot_size", 1, MAX_SHOTS, none_ok=True),
    "max_parallel_threads": _int_in("max_parallel_threads", 0, 4096),
    "fusion_enable": _bool("fusion_enable"),
    "blocking_enable": _bool("blocking_enable"),
    "blocking_qubits": _int_in("blocking_qubits", 2, 40, none_ok=True),
}


def validate_option(name: str, value):
    """The validated value of one option.

    Raises:
        AerdaskInputError: for an unknown name (listing the known ones) or a bad value.

    """
    if name not in _VALIDATORS:
        raise AerdaskInputError(
            f"option {name!r} is not supported by aerdask.AerSimulator; supported options: {sorted(_VALIDATORS)}"
        )
    return _VALIDATORS[name](value)


def validate_options(options: dict) -> dict:
    """Validate every option in ``options``; returns the normalised dict."""
    return {name: validate_option(name, value) for name, value in options.items()}
