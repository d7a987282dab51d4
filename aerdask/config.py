"""aerdask's settings in ``dask.config``: ``aerdask.*`` keys, defaults from ``aerdask.yaml``.

Dask's conventions apply: YAML files in ``~/.config/dask/`` or ``/etc/dask/``,
``DASK_AERDASK__...`` environment variables, ``dask.config.set(...)``. ``import
aerdask`` does not import dask; the defaults are registered the first time a
setting is read, which only the Dask paths do. The kernel settings
(``aerdask.numba.*``, ``aerdask.kernels.*``) are read by
:mod:`aerdask_kernels.settings` in every process, workers included.
"""

from __future__ import annotations

import pathlib
import threading

__all__ = ["get", "get_seconds", "get_bytes", "DEFAULTS_FILE"]

#: The YAML file of defaults shipped in the package.
DEFAULTS_FILE = pathlib.Path(__file__).with_name("aerdask.yaml")
_lock = threading.Lock()
_defaults: dict | None = None


def _register():
    global _defaults
    import dask.config
    import yaml

    with _lock:
        if _defaults is None:
            _defaults = yaml.safe_load(DEFAULTS_FILE.read_text())
            dask.config.update_defaults(_defaults)
    return dask.config


def _restore() -> None:
    """Put the defaults back where a ``dask.config.set`` took them away.

    A ``set({"aerdask.x": ...})`` entered before the defaults were registered removes the
    whole ``aerdask`` section on leaving (it was not there when it began).
    """
    import dask.config

    with _lock:
        dask.config.update(dask.config.config, _defaults, priority="old")


def get(key: str):
    """The value of ``aerdask.<key>`` in ``dask.config``.

    Raises:
        KeyError: no such setting.
    """
    config = _register()
    try:
        return config.get(f"aerdask.{key}")
    except KeyError:
        _restore()
        return config.get(f"aerdask.{key}")


def get_seconds(key: str) -> float:
    """A duration setting (``30s``, ``5 minutes`` or a number of seconds) in seconds."""
    from dask.utils import parse_timedelta

    return float(parse_timedelta(get(key), default="seconds"))


def get_bytes(key: str) -> int:
    """A size setting (``64 MiB``, ``1GB`` or a number of bytes) in bytes."""
    from dask.utils import parse_bytes

    value = get(key)
    return int(value) if isinstance(value, int | float) else int(parse_bytes(value))
