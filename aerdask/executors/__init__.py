"""Executors: the leaf that runs tasks, on a thread pool or on Dask.

:func:`adapt` turns what the user passed as ``executor`` into an
:class:`~aerdask.executors.base.ExecutorAdapter`. Dask support is imported only
when a Dask ``Client`` is passed, so ``import aerdask`` never imports distributed.
"""

from __future__ import annotations

import concurrent.futures

from ..errors import AerdaskInputError
from .base import ExecutorAdapter, TaskHandle
from .local import LocalAdapter, default_executor

__all__ = [
    "ExecutorAdapter",
    "TaskHandle",
    "LocalAdapter",
    "adapt",
    "check_executor",
    "default_executor",
    "is_dask_client",
]


def is_dask_client(obj) -> bool:
    """True for a ``distributed.Client`` (checked by class, without importing distributed)."""
    return any(cls.__name__ == "Client" and cls.__module__.startswith("distributed") for cls in type(obj).__mro__)


def check_executor(executor) -> None:
    """Raise unless ``executor`` is ``None``, a ``concurrent.futures.Executor`` or a Dask ``Client``.

    Raises:
        AerdaskInputError: naming the type that was given and the ones allowed.

    """
    if executor is None or isinstance(executor, concurrent.futures.Executor) or is_dask_client(executor):
        return
    raise AerdaskInputError(
        f"executor must be a concurrent.futures.Executor (e.g. ThreadPoolExecutor) or a dask.distributed.Client, "
        f"got {type(executor).__module__}.{type(executor).__qualname__}"
    )


def adapt(executor) -> ExecutorAdapter:
    """The adapter for ``executor`` (``None`` means the shared local thread pool)."""
    check_executor(executor)
    if executor is None:
        return LocalAdapter(default_executor())
    if is_dask_client(executor):
        from .dask import DaskAdapter  # lazy: only Dask users import distributed

        return DaskAdapter(executor)
    return LocalAdapter(executor)
