"""A worker preload whose compile takes 10 s longer: a fresh worker of a cluster without a warm cache."""

import time

import aerdask_worker
from aerdask_kernels import readiness

# Dask imports a preload file more than once: patch the original build once.
_build = getattr(readiness, "_unpatched_build", readiness._build)
readiness._unpatched_build = _build


def _slow_build(unit):
    time.sleep(5)
    _build(unit)


readiness._build = _slow_build


def dask_setup(worker):
    aerdask_worker.dask_setup(worker)
