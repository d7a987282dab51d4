"""The one place the kernels read their settings: Dask's ``aerdask.*`` config keys.

The kernels import no dask (a worker's environment may lack it, and ``import
aerdask_kernels`` must stay light), so a setting is looked up in this order:

1. ``dask.config`` when this process has already imported dask (every Dask worker
   has): that covers Dask's YAML files (``~/.config/dask/*.yaml``, ``/etc/dask``,
   ``$DASK_CONFIG``) and its ``DASK_AERDASK__...`` environment variables;
2. the ``DASK_AERDASK__...`` environment variable itself, parsed as Dask parses it
   (``DASK_AERDASK__KERNELS__BLOCK_QUBITS=16`` is ``aerdask.kernels.block-qubits``);
3. :data:`DEFAULTS`, which ``aerdask/aerdask.yaml`` repeats (a test keeps them equal).

Settings are read once, when the kernel modules are imported; Numba compiles them
into the machine code as constants.
"""

from __future__ import annotations

import ast
import os
import sys

__all__ = ["DEFAULTS", "COMPILED", "get", "get_bool", "get_int"]

#: Every kernel-side key under ``aerdask.`` and its default.
DEFAULTS: dict = {
    # On-disk cache of compiled kernels; off compiles in memory in every process.
    "numba.cache": True,
    # Where the cache lives (None: NUMBA_CACHE_DIR, else $XDG_CACHE_HOME/aerdask or ~/.cache/aerdask).
    "numba.cache-dir": None,
    # States of at least 2**n amplitudes use threads.
    "kernels.parallel-min-qubits": 14,
    # Local qubits of a cache block (2**15 amplitudes: 512 KiB of complex128 buffers).
    "kernels.block-qubits": 15,
    # States of fewer qubits are not cache-blocked (0 switches blocking off).
    "kernels.block-min-qubits": 19,
    # Noisy trajectories: CHANNEL rows between two checkpoints of the fused copy (0: no fused copy).
    "kernels.checkpoint-stride": 4,
    # Jobs up to this many amplitude updates run as Python while their compiled kernels are not
    # ready in the process (0: always compiled); see aerdask_kernels.readiness.
    "kernels.interpret-max-work": 1 << 19,
    # Build the compiled kernels in a background thread: auto (IPython sessions and Dask workers at
    # once, scripts after 3 s of Python kernels), true (at the first small job), false.
    "kernels.background-compile": "auto",
}

#: The settings kernels compile in as constants: the compiled cache is keyed by their values.
COMPILED = ("kernels.parallel-min-qubits", "kernels.block-qubits", "kernels.block-min-qubits")

_MISSING = object()


def _parse(text: str):
    # Dask parses environment values with ast.literal_eval, falling back to the string.
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        lowered = text.strip().lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
        if lowered in {"none", "null"}:
            return None
        return text


def _env_name(key: str) -> str:
    return "DASK_AERDASK__" + "__".join(part.replace("-", "_").upper() for part in key.split("."))


def get(key: str):
    """The value of ``aerdask.<key>`` (see the module docstring for where it is looked up).

    Args:
        key: A key of :data:`DEFAULTS`, e.g. ``"kernels.block-qubits"``.

    Raises:
        KeyError: ``key`` is not a kernel setting.
    """
    default = DEFAULTS[key]
    config = sys.modules.get("dask.config")
    if config is not None and hasattr(config, "get"):
        value = config.get(f"aerdask.{key}", _MISSING)
        if value is not _MISSING:
            return value
    text = os.environ.get(_env_name(key))
    return default if text is None else _parse(text)


def get_int(key: str) -> int:
    """:func:`get` as an ``int``, with an error that names the setting.

    Raises:
        ValueError: the value is not an integer.
    """
    value = get(key)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"aerdask.{key} ({_env_name(key)}) must be an integer, got {value!r}") from None


def get_bool(key: str) -> bool:
    """:func:`get` as a ``bool``; strings such as ``"0"``, ``"off"`` and ``"false"`` are false."""
    value = get(key)
    if isinstance(value, str):
        return value.strip().lower() not in {"0", "false", "no", "off", ""}
    return bool(value)
