"""Meeting a Dask cluster: readiness, version checks, JIT warm-up, shipping the kernels.

The first time a backend submits to a ``Client``, :func:`ensure_ready` checks that
the client is connected, that workers exist (waiting up to
``AERDASK_WORKER_TIMEOUT`` seconds, default 30), that the scheduler and every
worker import the same ``aerdask_kernels``, program format, numba and numpy as
this client, and registers :class:`~aerdask_kernels.dask_worker.AerdaskWorkerPlugin`
so that current and future workers compile the kernels before their first task.
Dask's own ``get_versions(check=True)`` only warns; this raises.
"""

from __future__ import annotations

import os
import threading

import distributed

from aerdask_kernels import dask_worker
from aerdask_kernels.dask_worker import AerdaskWorkerPlugin, VersionMismatchError, versions

from ..errors import ClusterError

__all__ = ["ensure_ready", "worker_timeout", "FIX_MISSING"]

FIX_MISSING = (
    "install aerdask on the scheduler and every worker (pip install aerdask) and start workers with "
    "'--preload aerdask_kernels.dask_worker'; for a development cluster, aerdask.dask.ship_kernels(client) "
    "uploads the kernel package instead"
)
_lock = threading.Lock()


def worker_timeout() -> float:
    """Seconds to wait for a first worker (``AERDASK_WORKER_TIMEOUT``, default 30)."""
    return float(os.environ.get("AERDASK_WORKER_TIMEOUT", "30"))


def check_connected(client: distributed.Client) -> None:
    """Raise :class:`ClusterError` unless the client is connected to a scheduler."""
    if client.status not in ("running", "newly-created"):
        state = "reconnecting to" if client.status == "connecting" else "not connected to"
        raise ClusterError(
            f"the Dask client is {state} its scheduler (status {client.status!r}); "
            "connect a new Client (or wait for the reconnect) and run again"
        )


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, ImportError) or "aerdask_kernels" in str(exc)


def ensure_ready(client: distributed.Client) -> None:
    """Check the cluster once per client; raise :class:`ClusterError` naming the fix.

    Raises:
        ClusterError: closed or reconnecting client, no workers in time, kernels
            missing on the scheduler or a worker, or versions that differ.
    """
    check_connected(client)
    with _lock:
        if getattr(client, "_aerdask_ready", False):
            return
        timeout = worker_timeout()
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, distributed.TimeoutError) as exc:
            raise ClusterError(
                f"no Dask worker joined the scheduler at {client.scheduler.address} within {timeout:g} s "
                "(AERDASK_WORKER_TIMEOUT); start workers with "
                "'dask worker ADDRESS --preload aerdask_kernels.dask_worker'"
            ) from exc
        mine = versions()
        _check_scheduler(client, mine)
        try:
            client.register_plugin(AerdaskWorkerPlugin(expected=mine))
        except VersionMismatchError as exc:
            raise ClusterError(f"a worker does not match this client: {exc}; install the same versions") from exc
        except Exception as exc:
            if _missing(exc):
                raise ClusterError(f"a worker cannot import aerdask_kernels ({exc}); {FIX_MISSING}") from exc
            raise
        client._aerdask_ready = True


def _check_scheduler(client: distributed.Client, mine: dict) -> None:
    try:
        theirs = client.run_on_scheduler(dask_worker.versions)
    except Exception as exc:
        if _missing(exc):
            raise ClusterError(
                f"the scheduler cannot import aerdask_kernels ({exc}); it unpickles task graphs, so {FIX_MISSING}"
            ) from exc
        raise
    diff = {k: (mine[k], theirs.get(k)) for k in mine if k != "python" and mine[k] != theirs.get(k)}
    if diff:
        detail = ", ".join(f"{k}: client {a}, scheduler {b}" for k, (a, b) in diff.items())
        raise ClusterError(f"the scheduler does not match this client ({detail}); install the same versions")
