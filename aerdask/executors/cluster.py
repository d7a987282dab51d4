"""Meeting a Dask cluster: readiness, version checks, JIT warm-up, shipping the kernels.

The first time a backend submits to a ``Client``, :func:`ensure_ready` checks that
the client is connected and that the scheduler runs the same program format and
kernel sources and a numpy of the same major version as this client, and registers
:class:`~aerdask_worker.AerdaskWorkerPlugin` (every worker, present or future, is
checked and compiles the kernels before its first large task) and
:class:`~aerdask_worker.AerdaskSchedulerPlugin`. It never waits for a worker: on an
adaptive, gateway or batch-queue cluster workers start *because* work was submitted.
A worker that joins later with other versions refuses each task with a clear error
on the job (``aerdask_worker.run_task`` compares the versions every task carries).
Other differences (numba, numpy minor, python) are logged as a warning: the two sides
only exchange plain data. Dask's own ``get_versions(check=True)`` only warns; this raises.
"""

from __future__ import annotations

import logging
import threading

import distributed

import aerdask_worker as dask_worker
from aerdask_worker import (
    AerdaskSchedulerPlugin,
    AerdaskWorkerPlugin,
    VersionMismatchError,
    compare,
    describe,
    versions,
)

from .. import config
from ..errors import ClusterError
from .dask_calls import call_timeout, in_thread, run, run_on_scheduler
from .registry import state

__all__ = ["ensure_ready", "worker_timeout", "FIX_MISSING"]

FIX_MISSING = (
    "install aerdask on the scheduler and every worker (the image of deploy/, or pip install of an aerdask "
    "checkout: it is not on PyPI) and start workers with "
    "'--preload aerdask_worker'; for a development cluster, aerdask.dask.ship_kernels(client) "
    "uploads the two packages instead"
)
FIX_VERSIONS = (
    "install the client from the image's constraints (pip install -c constraints.txt aerdask; see deploy/README.md)"
)
logger = logging.getLogger("aerdask")
_lock = threading.Lock()


def worker_timeout() -> float:
    """Seconds a job waits on a cluster with no worker (``aerdask.worker-timeout``, default 10 minutes).

    The default of the ``no_worker_timeout`` option, counted from the last moment the
    cluster had a worker: long enough for pods to pull an image or a batch queue to start jobs.
    """
    return config.get_seconds("worker-timeout")


def check_connected(client: distributed.Client) -> None:
    """Raise :class:`ClusterError` unless the client is connected to a scheduler."""
    if client.status not in ("running", "newly-created"):
        state = "reconnecting to" if client.status == "connecting" else "not connected to"
        raise ClusterError(
            f"the Dask client is {state} its scheduler (status {client.status!r}); "
            "connect a new Client (or wait for the reconnect) and run again"
        )


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, ImportError) or "aerdask_kernels" in str(exc) or "aerdask_worker" in str(exc)


def ensure_ready(client: distributed.Client) -> None:
    """Check the cluster once per client (without waiting for workers); raise :class:`ClusterError` naming the fix.

    Raises:
        ClusterError: closed or reconnecting client, kernels missing on the scheduler or a
            present worker, or versions that differ.
    """
    check_connected(client)
    with _lock:
        if state(client).ready:
            return
        mine = versions()
        _check_scheduler(client, mine)
        bound = max(call_timeout(), 30.0)  # a plugin's setup runs on every present worker
        try:
            # Which tasks a removed worker held (the monitor tells deaths while running from the rest).
            register = client.register_plugin
            in_thread(client, "registering the scheduler plugin", register, AerdaskSchedulerPlugin(), timeout=bound)
            in_thread(client, "registering the worker plugin", register, AerdaskWorkerPlugin(mine), timeout=bound)
        except VersionMismatchError as exc:
            raise ClusterError(f"a worker does not match this client: {exc}") from exc
        except Exception as exc:
            if _missing(exc):
                missing = f"a worker cannot import aerdask_kernels and aerdask_worker ({exc})"
                raise ClusterError(f"{missing}; {FIX_MISSING}") from exc
            raise
        _warn_differences(client, mine)
        state(client).ready = True


def _warn_differences(client: distributed.Client, mine: dict) -> None:
    """Log the harmless differences between this client and its workers, once per kind."""
    try:
        theirs = run(client, dask_worker.versions)  # the workers present now: none is fine
    except Exception:  # a worker going away: its plugin checks the next one
        return
    seen = set()
    for address, worker in theirs.items():
        _, other = compare(mine, worker)
        text = describe(other, "worker")
        if other and text not in seen:
            seen.add(text)
            logger.warning("worker %s differs from this client in %s; fine: they exchange plain data", address, text)


def _check_scheduler(client: distributed.Client, mine: dict) -> None:
    try:
        theirs = run_on_scheduler(client, dask_worker.versions)
    except Exception as exc:
        if _missing(exc):
            raise ClusterError(
                f"the scheduler cannot import aerdask_kernels and aerdask_worker ({exc}); it unpickles task graphs, "
                f"so {FIX_MISSING}"
            ) from exc
        raise
    required, _ = compare(mine, theirs)
    if required:
        raise ClusterError(
            f"the scheduler does not match this client ({describe(required, 'scheduler')}); {FIX_VERSIONS}"
        )
