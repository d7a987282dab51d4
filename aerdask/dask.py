"""Dask helpers for users: check a cluster, ship the kernels to a development cluster.

``import aerdask.dask`` imports distributed (``import aerdask`` does not).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cloudpickle
import distributed

import aerdask_kernels
import aerdask_worker
from aerdask_worker import AerdaskWorkerPlugin

from . import _ship
from .executors.cluster import check_connected, ensure_ready
from .executors.registry import state

__all__ = ["AerdaskWorkerPlugin", "check_cluster", "ship_kernels"]


def check_cluster(client: distributed.Client) -> None:
    """Check versions, register the worker plugin and warm the JIT now rather than at the first ``run()``.

    Raises:
        aerdask.errors.ClusterError: naming what is wrong and how to fix it.
    """
    ensure_ready(client)


def _zip_kernels() -> bytes:
    """``aerdask_kernels`` and ``aerdask_worker`` (what a worker imports), zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in (aerdask_kernels, aerdask_worker):
            root = Path(package.__file__).parent
            for path in sorted(root.rglob("*.py")):
                archive.write(path, Path(package.__name__) / path.relative_to(root))
    return buf.getvalue()


def ship_kernels(client: distributed.Client) -> None:
    """Upload ``aerdask_kernels`` and ``aerdask_worker`` to the scheduler and every worker (opt-in, for development).

    For clusters whose environments lack aerdask: the package (pure Python over numpy
    and numba, which the workers must have) is unpacked on each process and appended
    to ``sys.path``; workers that join later get it too. Production clusters should
    install aerdask in their image instead (see ``deploy/``).
    """
    check_connected(client)
    cloudpickle.register_pickle_by_value(_ship)  # the receivers have no aerdask to import it from
    data = _zip_kernels()
    client.run_on_scheduler(_ship.install_package, data)
    client.register_plugin(_ship.ShipKernelsPlugin(data))
    state(client).ready = False  # check (and warm) again with the kernels in place
