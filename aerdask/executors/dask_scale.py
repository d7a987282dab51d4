"""How many worker threads a Dask cluster is meant to have: the ones it has, and the ones it will grow to.

A job is cut into tasks for the threads that will run it (see :mod:`aerdask.chunking`).
On a cluster that grows with its work (adaptive, dask-gateway, dask-jobqueue,
Kubernetes), the workers present at ``run()`` are not those: cut for them alone, a
batch gives late workers nothing to do. So the plan counts, where Dask knows them:

* ``aerdask.planned-workers``, set by the user (any cluster);
* the in-process cluster object behind the client (``client.cluster``): an adaptive
  cluster's ``maximum`` (``cluster.adapt(maximum=N)``), or the workers a ``scale(N)``
  asked for (a ``SpecCluster``'s plan: ``LocalCluster``, dask-jobqueue's clusters);
* a dask-gateway scheduler's own scaling service: the workers its last ``scale`` asked
  for, or its adaptive maximum (``aerdask_worker.scheduler_scaling``).

Threads per future worker are those of the present workers, else the cluster's worker
spec, else one. The plan is asked of the scheduler at most every few seconds.
"""

from __future__ import annotations

import logging
import math
import statistics
import time

from aerdask_worker import scheduler_scaling

from .. import config
from .dask_calls import run_on_scheduler
from .registry import state

__all__ = ["planned_threads", "planned_workers"]

_ASK_EVERY_S = 5.0
logger = logging.getLogger("aerdask")


def _spec_threads(cluster) -> int | None:
    """Threads per worker in a ``SpecCluster``'s worker spec (LocalCluster, jobqueue), if it says."""
    spec = getattr(cluster, "new_spec", None) or {}
    options = spec.get("options", {}) if isinstance(spec, dict) else {}
    for key in ("nthreads", "threads_per_worker"):
        if isinstance(options.get(key), int) and options[key] > 0:
            return options[key]
    cores, processes = options.get("cores"), options.get("processes")  # dask-jobqueue's job spec
    if isinstance(cores, int) and isinstance(processes, int) and processes > 0:
        return max(cores // processes, 1)
    return None


def _from_cluster(cluster) -> int | None:
    """Workers an in-process cluster object is set to grow to, if it says."""
    if cluster is None:
        return None
    counts = []
    adaptive = getattr(cluster, "_adaptive", None)  # set by Cluster.adapt()
    maximum = getattr(adaptive, "maximum", None)
    if isinstance(maximum, int | float) and math.isfinite(maximum) and maximum > 0:
        counts.append(int(maximum))
    plan = getattr(cluster, "plan", None)  # a SpecCluster's requested workers, started or not
    if isinstance(plan, set | frozenset):
        counts.append(len(plan))
    return max(counts) if counts else None


def _from_scheduler(client) -> int | None:
    entry = state(client)
    now = time.monotonic()
    if entry.scaling_checked and now - entry.scaling_checked < _ASK_EVERY_S:
        return entry.scaling
    try:
        found = run_on_scheduler(client, scheduler_scaling) or {}
    except Exception as exc:  # noqa: BLE001 (no plan from the scheduler: the present workers count)
        logger.debug("could not ask the scheduler how far it scales: %s", exc)
        found = {}
    counts = [int(v) for v in (found.get("requested"), found.get("maximum")) if isinstance(v, int | float) and v > 0]
    counts = [c for c in counts if math.isfinite(c)]
    entry.scaling, entry.scaling_checked = (max(counts) if counts else None), now
    return entry.scaling


def planned_workers(client) -> int | None:
    """The workers the cluster is meant to grow to (see the module docs), or ``None`` if nothing says."""
    configured = config.get("planned-workers")
    if configured:
        return int(configured)
    counts = [c for c in (_from_cluster(getattr(client, "cluster", None)), _from_scheduler(client)) if c]
    return max(counts) if counts else None


def planned_threads(client, workers: dict) -> int:
    """Threads a job's tasks are cut for: the present ones, or the planned workers' if more.

    Args:
        client: The Dask client.
        workers: The scheduler's workers now (``scheduler_info()["workers"]``).
    """
    present = sum(w.get("nthreads") or 0 for w in workers.values())
    planned = planned_workers(client)
    if not planned:
        return present or 1
    per_worker = None
    if workers:
        per_worker = int(statistics.median(w.get("nthreads") or 1 for w in workers.values()))
    per_worker = per_worker or _spec_threads(getattr(client, "cluster", None)) or 1
    return max(present, planned * per_worker, 1)
