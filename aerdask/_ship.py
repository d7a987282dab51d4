"""Install a zipped package on a Dask process; pickled by value, so the receiver needs no aerdask."""

from __future__ import annotations

import importlib
import io
import os
import sys
import tempfile
import zipfile

from distributed.diagnostics.plugin import WorkerPlugin


def install_package(data: bytes, target: str | None = None) -> str:
    """Unzip ``data`` into ``target`` (default: a temp dir) and append it to ``sys.path``.

    Appended, not prepended: an installed aerdask_kernels on the receiver wins.
    """
    # A private directory (mode 0700, unpredictable name): a fixed path under /tmp could be
    # prepared by another user with code that this process would then import.
    target = target or tempfile.mkdtemp(prefix="aerdask-shipped-")
    os.makedirs(target, mode=0o700, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)
    if target not in sys.path:
        sys.path.append(target)
    importlib.invalidate_caches()
    return target


class ShipKernelsPlugin(WorkerPlugin):
    """Installs the shipped kernel package on every worker, current and future."""

    name = "aerdask-ship-kernels"
    idempotent = True

    def __init__(self, data: bytes):
        self.data = data

    def setup(self, worker):
        """Unpack into the worker's local directory."""
        install_package(self.data, os.path.join(worker.local_directory, "aerdask-shipped"))
